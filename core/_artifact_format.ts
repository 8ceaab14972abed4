/**
 * The `.hsgen` file format, version `hsgen/1`: one JSON document holding a
 * DSSE envelope (the manifest, signed) and the graph's files (relative paths,
 * module digests, bytes in base64), dependencies first, the entry last.
 *
 * Decoding is strict on purpose: exactly the known fields, canonical base64,
 * safe relative paths. Then no byte of the file can change without the
 * decoder, the signature or the digest noticing.
 *
 * @module
 */

import { isInstant } from "./trust.ts";
import {
  decodeBase64,
  type Envelope,
  type EnvelopeSignature,
  parseSignatures,
  SignatureError,
} from "./signature.ts";

/** The format this runtime writes and reads. */
export const ARTIFACT_FORMAT = "hsgen/1";
/** What an artifact's signatures sign, so they cannot be taken for a trust list's. */
export const MANIFEST_PAYLOAD_TYPE = "application/vnd.hotswap.manifest+json";

/** The contract an artifact was packed for. */
export interface ContractIdentity {
  /** The contract's name, which a signing key must be scoped to. */
  readonly name: string;
  /** Its semver version. */
  readonly version: string;
  /** The export the generation provides. */
  readonly symbol: string;
}

/** What an artifact's signature covers. */
export interface ArtifactManifest {
  /** The graph's Merkle digest, as `Snapshot.digest` computes it from the same files on disk. */
  readonly digest: string;
  /** The entry file, relative to the artifact's root. */
  readonly entry: string;
  /** The contract it was packed for. */
  readonly contract: ContractIdentity;
  /** A name for people and rollouts, such as `v42`. */
  readonly label: string;
  /** Hosts refuse a sequence lower than the highest they accepted for the contract. */
  readonly sequence: number;
  /** When it was packed (ISO 8601). */
  readonly issuedAt: string;
  /** After this instant (ISO 8601) hosts refuse it. */
  readonly expiresAt?: string;
}

/** One file of an artifact. */
export interface ArtifactFile {
  /** Relative to the artifact's root, `/`-separated. */
  readonly path: string;
  /** Its module digest (bytes and local imports), as in the snapshot. */
  readonly digest: string;
  /** Its bytes. */
  readonly bytes: Uint8Array;
}

/** A decoded artifact, not yet verified. */
export interface ArtifactDocument {
  /** The envelope as written. */
  readonly envelope: Envelope;
  /** The signed bytes, decoded from the envelope. */
  readonly payload: Uint8Array;
  /** The files, dependencies first. */
  readonly files: readonly ArtifactFile[];
}

const SRI = /^sha256-[A-Za-z0-9+/]{43}=$/;

/** Writes an artifact: indented JSON, one line per file. */
export function encodeArtifact(envelope: Envelope, files: readonly ArtifactFile[]): Uint8Array {
  const lines = files.map((file) =>
    `    ${JSON.stringify({ path: file.path, digest: file.digest, bytes: file.bytes.toBase64() })}`
  );
  const text = `{
  "format": ${JSON.stringify(ARTIFACT_FORMAT)},
  "envelope": ${JSON.stringify(envelope, null, 2).replaceAll("\n", "\n  ")},
  "files": [
${lines.join(",\n")}
  ]
}
`;
  return new TextEncoder().encode(text);
}

/**
 * Reads an artifact's structure, refusing anything but the exact format.
 *
 * @param bytes The file's bytes.
 * @param subject The start of a refusal, such as `Cannot load "app.hsgen"`.
 * @throws {SignatureError} `tampered`, naming what is malformed.
 */
export function decodeArtifact(bytes: Uint8Array, subject: string): ArtifactDocument {
  const refuse = (problem: string) => tampered(subject, problem);
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (error) {
    // No trace of an artifact at all (a module, say): nothing was signed, rather than something altered.
    const text = new TextDecoder().decode(bytes);
    if (!text.includes("hsgen/") && !text.includes('"envelope"')) {
      throw new SignatureError(
        "unsigned",
        `${subject}: unsigned: it is no .hsgen artifact (not even a JSON document); pack it with \`hotswap pack <entry> --contract <module>#<export> --key <name>.key --out <file>.hsgen\``,
        { cause: error },
      );
    }
    throw refuse(`it is not a JSON document (${error instanceof Error ? error.message : String(error)})`);
  }
  // A JSON document with no trace of an artifact (a trust list, a package.json): nothing was signed.
  if (
    typeof value !== "object" || value === null || Array.isArray(value) ||
    (!("format" in value) && !("envelope" in value))
  ) {
    throw new SignatureError(
      "unsigned",
      `${subject}: unsigned: it is no .hsgen artifact (a JSON document with no "format" or "envelope"); pack one with \`hotswap pack <entry> --contract <module>#<export> --key <name>.key --out <file>.hsgen\``,
    );
  }
  const document = exactObject(value, ["format", "envelope", "files"], "the document", refuse);
  if (document.format !== ARTIFACT_FORMAT) {
    throw refuse(
      typeof document.format === "string" && /^hsgen\/\d+$/.test(document.format)
        ? `it is format "${document.format}", and this runtime reads "${ARTIFACT_FORMAT}" (pack it with this runtime's CLI, or upgrade the runtime)`
        : `"format" is not "${ARTIFACT_FORMAT}"`,
    );
  }
  const envelope = exactObject(
    document.envelope,
    ["payloadType", "payload", "signatures"],
    "envelope",
    refuse,
  );
  if (envelope.payloadType !== MANIFEST_PAYLOAD_TYPE) {
    throw refuse(`envelope.payloadType is not "${MANIFEST_PAYLOAD_TYPE}"`);
  }
  const payload = decodeBase64(envelope.payload);
  if (payload === undefined) throw refuse("envelope.payload is not canonical base64");
  const signatures = parseSignatures(envelope.signatures);
  if (typeof signatures === "string") throw refuse(`envelope.${signatures}`);
  if (!Array.isArray(document.files) || document.files.length === 0) {
    throw refuse('"files" is not a list of files');
  }
  const seen = new Set<string>();
  const files = document.files.map((item, index): ArtifactFile => {
    const where = `files[${index}]`;
    const file = exactObject(item, ["path", "digest", "bytes"], where, refuse);
    if (!isSafeRelativePath(file.path)) {
      throw refuse(`${where}.path is not a relative path inside the artifact`);
    }
    if (seen.has(file.path)) throw refuse(`${where}.path "${file.path}" appears twice`);
    seen.add(file.path);
    if (typeof file.digest !== "string" || !SRI.test(file.digest)) {
      throw refuse(`${where}.digest is not sha256-<base64>`);
    }
    const fileBytes = decodeBase64(file.bytes);
    if (fileBytes === undefined) throw refuse(`${where}.bytes is not canonical base64`);
    return { path: file.path, digest: file.digest, bytes: fileBytes };
  });
  return {
    envelope: { payloadType: MANIFEST_PAYLOAD_TYPE, payload: envelope.payload as string, signatures },
    payload,
    files,
  };
}

/**
 * Reads the manifest from the envelope's payload (signed bytes, once verified).
 *
 * @throws {SignatureError} `tampered`, naming the field.
 */
export function parseManifest(payload: Uint8Array, subject: string): ArtifactManifest {
  const refuse = (problem: string) => tampered(subject, `the manifest ${problem}`);
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(payload));
  } catch {
    throw refuse("is not JSON");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw refuse("is not an object");
  const { digest, entry, contract, label, sequence, issuedAt, expiresAt } = value as Record<string, unknown>;
  if (typeof digest !== "string" || !SRI.test(digest)) throw refuse("digest is not sha256-<base64>");
  if (!isSafeRelativePath(entry)) throw refuse("entry is not a relative path");
  const identity = (contract ?? {}) as Record<string, unknown>;
  if (
    typeof contract !== "object" || contract === null ||
    !["name", "version", "symbol"].every((field) =>
      typeof identity[field] === "string" && identity[field] !== ""
    )
  ) {
    throw refuse("contract is not { name, version, symbol }");
  }
  if (typeof label !== "string") throw refuse("label is not a string");
  if (!Number.isSafeInteger(sequence) || (sequence as number) < 0) {
    throw refuse("sequence is not a whole number");
  }
  if (!isInstant(issuedAt)) throw refuse("issuedAt is not an ISO date");
  if (expiresAt !== undefined && !isInstant(expiresAt)) throw refuse("expiresAt is not an ISO date");
  return Object.freeze({
    digest,
    entry: entry as string,
    contract: Object.freeze({
      name: identity.name as string,
      version: identity.version as string,
      symbol: identity.symbol as string,
    }),
    label,
    sequence: sequence as number,
    issuedAt,
    ...(expiresAt === undefined ? {} : { expiresAt }),
  });
}

/** What `hotswap inspect` shows: an artifact as written, not verified. */
export interface ArtifactDescription {
  /** The format version. */
  readonly format: string;
  /** The manifest, as written in the payload. */
  readonly manifest: ArtifactManifest;
  /** Who claims to have signed it. */
  readonly signatures: readonly EnvelopeSignature[];
  /** Each file's path, size and module digest, dependencies first. */
  readonly files: readonly { readonly path: string; readonly size: number; readonly digest: string }[];
}

/**
 * Reads an artifact for display, checking its structure only.
 *
 * @throws {SignatureError} `tampered` when it is not in the format.
 */
export function describeArtifact(bytes: Uint8Array, subject: string): ArtifactDescription {
  const document = decodeArtifact(bytes, subject);
  return {
    format: ARTIFACT_FORMAT,
    manifest: parseManifest(document.payload, subject),
    signatures: document.envelope.signatures,
    files: document.files.map((file) => ({
      path: file.path,
      size: file.bytes.byteLength,
      digest: file.digest,
    })),
  };
}

/** The refusal of a malformed or altered artifact. */
export function tampered(subject: string, problem: string, cause?: unknown): SignatureError {
  return new SignatureError(
    "tampered",
    `${subject}: tampered: ${problem}; get the artifact again from its publisher, or pack it again`,
    cause === undefined ? undefined : { cause },
  );
}

/** A `/`-separated path that stays inside the artifact: no `..`, no root, no empty or `.` part. */
function isSafeRelativePath(value: unknown): value is string {
  if (typeof value !== "string" || value === "" || value.includes("\\") || value.includes("\0")) return false;
  return value.split("/").every((part) => part !== "" && part !== "." && part !== "..");
}

/** An object with exactly `fields`: an added or renamed field is a change too. */
function exactObject(
  value: unknown,
  fields: readonly string[],
  what: string,
  refuse: (problem: string) => SignatureError,
): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw refuse(`${what} is not an object`);
  }
  const keys = Object.keys(value);
  const extra = keys.find((key) => !fields.includes(key));
  const missing = fields.find((field) => !keys.includes(field));
  if (extra !== undefined) throw refuse(`${what} has an unknown field "${extra}"`);
  if (missing !== undefined) throw refuse(`${what} lacks "${missing}"`);
  return value as Record<string, unknown>;
}
