/**
 * Trust lists (SPEC 12): the public keys a host accepts artifacts from, what
 * each may sign for, until when, and the keys revoked. A list is replaced
 * only by a newer one signed by a key the list in force trusts for every
 * contract (as TUF rotates its root): whoever can write the file cannot
 * widen a running host's trust by that alone.
 *
 * @module
 */

import { HotswapError, messageOf } from "./errors.ts";
import { assertReadable, type PathLike, toAbsolutePath } from "./roots.ts";
import {
  canonicalJson,
  decodeBase64,
  type EnvelopeSignature,
  KEY_ID,
  keyIdOf,
  parseSignatures,
  SignatureError,
  type SigningKey,
  signPayload,
  verifyPayload,
} from "./signature.ts";

/** One key of a {@linkcode TrustList}. */
export interface TrustedKey {
  /** Hex SHA-256 of the raw public key. */
  readonly keyid: string;
  /** The raw 32-byte Ed25519 public key, base64. */
  readonly publicKey: string;
  /** Contract names the key may sign for; left out, every contract (and trust list updates). */
  readonly scopes?: readonly string[];
  /** After this instant (ISO 8601) the key signs nothing. */
  readonly notAfter?: string;
}

/** The keys a host trusts: the content of `trust.json`. */
export interface TrustList {
  /** Grows with every change; an update must carry a higher one. */
  readonly version: number;
  /** After this instant (ISO 8601) the list trusts nothing until replaced. */
  readonly expiresAt?: string;
  /** The trusted keys. */
  readonly keys: readonly TrustedKey[];
  /** Key ids refused whatever `keys` says. */
  readonly revoked: readonly string[];
  /** Signatures over the list without this field, by keys of the list it replaces. */
  readonly signatures?: readonly EnvelopeSignature[];
}

/** Options of {@linkcode acceptTrustUpdate}. */
export interface TrustUpdateOptions {
  /** The instant expiry is judged at (default: now). */
  now?: Date;
}

/** What a trust list's signatures sign, so they cannot be taken for an artifact's. */
export const TRUST_PAYLOAD_TYPE = "application/vnd.hotswap.trust+json";

/**
 * Reads and checks a trust list file.
 *
 * @param path The file, such as `trust.json`.
 * @returns The list.
 * @throws {HotswapError} `E_PERMISSION` without read permission, `E_NOT_FOUND` when missing.
 * @throws {SignatureError} `tampered` when it is not a well-formed trust list.
 *
 * @example Read the list a host trusts
 * ```ts
 * import { readTrustList } from "@hotswap/runtime";
 * import { strictEqual } from "node:assert/strict";
 *
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/trust.json`, JSON.stringify({ version: 1, keys: [], revoked: [] }));
 * strictEqual((await readTrustList(`${dir}/trust.json`)).version, 1);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function readTrustList(path: PathLike): Promise<TrustList> {
  const file = toAbsolutePath(path);
  assertReadable(file, [file], file);
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (error) {
    throw new HotswapError(
      "E_NOT_FOUND",
      `Cannot read trust list "${file}": ${
        messageOf(error)
      }; create it with \`hotswap trust add <name>.pub.json --trust ${file}\``,
      { path: file, cause: error },
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw malformed(file, `it is not JSON (${messageOf(error)})`);
  }
  return parseTrustList(value, file);
}

/**
 * Checks that `value` is a well-formed trust list, every key id matching its key.
 *
 * @param input Parsed JSON.
 * @param source Where it came from, for messages.
 * @returns A frozen copy of the list.
 * @throws {SignatureError} `tampered`, naming the field.
 */
export function parseTrustList(input: unknown, source = "the trust list"): TrustList {
  // A copy: the list in force is frozen, and the caller's objects are not ours to freeze.
  let value: unknown;
  try {
    value = structuredClone(input);
  } catch (error) {
    throw malformed(
      source,
      error instanceof RangeError
        ? "it is nested too deeply to be a trust list"
        : "it holds values JSON cannot (functions, symbols)",
    );
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw malformed(source, "it is not a JSON object");
  }
  const record = value as Record<string, unknown>;
  // The files next to a trust list, given in its place: said as what they are (and never printed).
  if ("privateKey" in record) {
    throw malformed(
      source,
      "it is a signing key (the .key file hotswap keygen writes), not a trust list; give the trust list hotswap trust add writes",
    );
  }
  if ("keyid" in record && "publicKey" in record && !("keys" in record)) {
    throw malformed(
      source,
      "it is one key's public entry (a .pub.json file), not a trust list; add it to one with hotswap trust add <name>.pub.json --trust <trust.json>",
    );
  }
  const { version, expiresAt, keys, revoked, signatures } = record;
  if (!Number.isSafeInteger(version) || (version as number) < 0) {
    throw malformed(source, "version is not a whole number");
  }
  if (expiresAt !== undefined && !isInstant(expiresAt)) {
    throw malformed(source, "expiresAt is not an ISO date");
  }
  if (!Array.isArray(keys)) throw malformed(source, "keys is not an array");
  if (!Array.isArray(revoked) || revoked.some((id) => typeof id !== "string" || !KEY_ID.test(id))) {
    throw malformed(source, "revoked is not an array of key ids (64 hex digits)");
  }
  const parsedKeys = keys.map((key, index) => parseKey(key, `keys[${index}]`, source));
  const parsedSignatures = signatures === undefined ? undefined : parseSignatures(signatures);
  if (typeof parsedSignatures === "string") throw malformed(source, parsedSignatures);
  return deepFreeze({
    ...(value as Record<string, unknown>),
    version: version as number,
    keys: parsedKeys,
    revoked: revoked as string[],
    ...(parsedSignatures === undefined ? {} : { signatures: parsedSignatures }),
  } as TrustList);
}

/**
 * Signs a trust list with `key`, for hosts whose list in force trusts `key`.
 * A signature already made by the same key is replaced.
 *
 * @param list The new list.
 * @param key A key the list in force trusts for every contract.
 * @returns The list with the signature added.
 *
 * @example Sign the next version of a list
 * ```ts
 * import { acceptTrustUpdate, generateSigningKey, signTrustList } from "@hotswap/runtime";
 * import { strictEqual } from "node:assert/strict";
 *
 * const admin = await generateSigningKey();
 * const current = { version: 1, keys: [{ keyid: admin.keyid, publicKey: admin.publicKey }], revoked: [] };
 * const next = await signTrustList({ ...current, version: 2 }, admin);
 * strictEqual((await acceptTrustUpdate(current, next)).version, 2);
 * ```
 */
export async function signTrustList(list: TrustList, key: SigningKey): Promise<TrustList> {
  const signature = await signPayload(TRUST_PAYLOAD_TYPE, signedBytes(list), key);
  const others = (list.signatures ?? []).filter((existing) => existing.keyid !== key.keyid);
  return { ...list, signatures: [...others, signature] };
}

/**
 * Replaces the trust list in force by `update` when `update` is newer and
 * signed by a key `current` trusts for every contract (unscoped, unrevoked,
 * unexpired). An expired `current` may still be replaced: that is the way out.
 *
 * @param current The list in force.
 * @param update The proposed list, signed.
 * @param options The instant expiry is judged at.
 * @returns `update`, checked and frozen (or `current` when they say the same).
 * @throws {SignatureError} `unsigned`, `tampered`, `unknown key`, `revoked`,
 *   `expired`, `scope` or `replayed sequence` (a version not above the current one).
 *
 * @example Refuse a list no trusted key signed
 * ```ts
 * import { acceptTrustUpdate, generateSigningKey, SignatureError, signTrustList } from "@hotswap/runtime";
 * import { rejects } from "node:assert/strict";
 *
 * const admin = await generateSigningKey();
 * const stranger = await generateSigningKey();
 * const current = { version: 1, keys: [{ keyid: admin.keyid, publicKey: admin.publicKey }], revoked: [] };
 * const forged = await signTrustList({ version: 2, keys: [{ keyid: stranger.keyid, publicKey: stranger.publicKey }], revoked: [] }, stranger);
 * await rejects(acceptTrustUpdate(current, forged), (e) => e instanceof SignatureError && e.reason === "unknown key");
 * ```
 */
export async function acceptTrustUpdate(
  current: TrustList,
  update: TrustList,
  options: TrustUpdateOptions = {},
): Promise<TrustList> {
  const now = options.now ?? new Date();
  const inForce = parseTrustList(current, "the trust list in force");
  const next = parseTrustList(update, "the trust list update");
  if (canonicalJson(withoutSignatures(inForce)) === canonicalJson(withoutSignatures(next))) return inForce;
  const subject = `Cannot accept trust list version ${next.version} over version ${inForce.version}`;
  if (next.version <= inForce.version) {
    throw new SignatureError(
      "replayed sequence",
      `${subject}: replayed sequence: an update must carry a higher version than the list in force; raise "version" and sign it again`,
    );
  }
  if (next.expiresAt !== undefined && Date.parse(next.expiresAt) <= now.getTime()) {
    throw new SignatureError(
      "expired",
      `${subject}: expired: the update expired at ${next.expiresAt}; set a later expiresAt and sign it again`,
    );
  }
  // The list in force may be expired: a rotation is how it gets replaced.
  const signers = await verifiedSigners(
    inForce,
    next.signatures ?? [],
    TRUST_PAYLOAD_TYPE,
    signedBytes(next),
    {
      subject,
      listName: "the list in force",
      now,
      checkListExpiry: false,
    },
  );
  if (!signers.some((key) => key.scopes === undefined)) {
    throw new SignatureError(
      "scope",
      `${subject}: scope: it is signed only by keys scoped to some contracts (${
        signers.map((key) => key.keyid).join(", ")
      }), and only a key trusted for every contract may change the trust list; sign it with such a key`,
    );
  }
  return next;
}

/** How {@linkcode verifiedSigners} words its refusals. */
export interface SignerCheck {
  /** The start of every message, such as `Cannot load "app.hsgen"`. */
  readonly subject: string;
  /** The list, for messages, such as `trust list "/etc/trust.json"`. */
  readonly listName: string;
  /** The instant expiry is judged at. */
  readonly now: Date;
  /** Whether an expired list refuses (not when it is being replaced). */
  readonly checkListExpiry: boolean;
}

/**
 * The keys of `list` whose signatures over `PAE(payloadType, payload)` verify.
 * Each signature's key must be named, unrevoked and unexpired first.
 *
 * @returns At least one key.
 * @throws {SignatureError} The first signature's reason when none verifies.
 */
export async function verifiedSigners(
  list: TrustList,
  signatures: readonly EnvelopeSignature[],
  payloadType: string,
  payload: Uint8Array,
  check: SignerCheck,
): Promise<TrustedKey[]> {
  const { subject, listName, now } = check;
  if (check.checkListExpiry && list.expiresAt !== undefined && Date.parse(list.expiresAt) <= now.getTime()) {
    throw new SignatureError(
      "expired",
      `${subject}: expired: ${listName} expired at ${list.expiresAt} and trusts no key until it is replaced; install a current trust list`,
    );
  }
  if (signatures.length === 0) {
    throw new SignatureError(
      "unsigned",
      `${subject}: unsigned: it carries no signature, and ${listName} accepts only signed ones; sign it with a trusted key`,
    );
  }
  const verified: TrustedKey[] = [];
  let first: SignatureError | undefined;
  for (const { keyid, sig } of signatures) {
    const key = list.keys.find((candidate) => candidate.keyid === keyid);
    let refusal: SignatureError | undefined;
    if (list.revoked.includes(keyid)) {
      refusal = new SignatureError(
        "revoked",
        `${subject}: revoked: it is signed by key ${keyid}, which ${listName} revoked; sign it again with a trusted key`,
      );
    } else if (key === undefined) {
      refusal = new SignatureError(
        "unknown key",
        `${subject}: unknown key: it is signed by key ${keyid}, which ${listName} does not name; add the key's .pub.json with \`hotswap trust add\`, or sign with a trusted key`,
      );
    } else if (key.notAfter !== undefined && Date.parse(key.notAfter) <= now.getTime()) {
      refusal = new SignatureError(
        "expired",
        `${subject}: expired: key ${keyid} is trusted only until ${key.notAfter}; sign it again with a current key`,
      );
    } else if (!await verifyPayload(payloadType, payload, sig, key.publicKey)) {
      refusal = new SignatureError(
        "tampered",
        `${subject}: tampered: the signature of key ${keyid} does not match the signed content (changed after signing, or a corrupt copy); get the file again from its publisher`,
      );
    }
    if (refusal === undefined) verified.push(key!);
    else first ??= refusal;
  }
  if (verified.length === 0) throw first!;
  return verified;
}

/** A new, empty, unsigned list (what `hotswap trust add` starts from). */
export function emptyTrustList(): TrustList {
  return { version: 0, keys: [], revoked: [] };
}

/**
 * `list` with `key` trusted (replacing an entry of the same id), version
 * raised and signatures dropped (they covered the old content).
 */
export function withTrustedKey(list: TrustList, key: TrustedKey): TrustList {
  const keys = [...list.keys.filter((existing) => existing.keyid !== key.keyid), key];
  return unsigned({ ...list, version: list.version + 1, keys });
}

/** `list` with `keyid` revoked, version raised and signatures dropped. */
export function withRevokedKey(list: TrustList, keyid: string): TrustList {
  const revoked = list.revoked.includes(keyid) ? list.revoked : [...list.revoked, keyid];
  return unsigned({ ...list, version: list.version + 1, revoked });
}

/** Checks one key entry (as in a trust list, or a `.pub.json`). */
export function parseKey(value: unknown, field: string, source: string): TrustedKey {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw malformed(source, `${field} is not an object`);
  }
  const { keyid, publicKey, scopes, notAfter } = value as Record<string, unknown>;
  const raw = decodeBase64(publicKey);
  if (raw === undefined || raw.byteLength !== 32) {
    throw malformed(source, `${field}.publicKey is not a 32-byte Ed25519 key in base64`);
  }
  if (keyid !== keyIdOf(publicKey as string)) {
    throw malformed(source, `${field}.keyid is not the SHA-256 of its publicKey`);
  }
  if (
    scopes !== undefined &&
    (!Array.isArray(scopes) || scopes.length === 0 ||
      scopes.some((name) => typeof name !== "string" || name === ""))
  ) {
    throw malformed(source, `${field}.scopes must list contract names (leave it out for every contract)`);
  }
  if (notAfter !== undefined && !isInstant(notAfter)) {
    throw malformed(source, `${field}.notAfter is not an ISO date`);
  }
  // Fields this runtime does not know are kept: the list's signatures cover them too.
  return value as TrustedKey;
}

/** Whether a value is an ISO 8601 instant that `Date.parse` reads. */
export function isInstant(value: unknown): value is string {
  return typeof value === "string" && /^\d{4}-\d\d-\d\dT/.test(value) && !Number.isNaN(Date.parse(value));
}

/** The bytes a list's signatures cover: its canonical JSON without `signatures`. */
function signedBytes(list: TrustList): Uint8Array {
  return new TextEncoder().encode(canonicalJson(withoutSignatures(list)));
}

function withoutSignatures(list: TrustList): Omit<TrustList, "signatures"> {
  const { signatures: _, ...rest } = list;
  return rest;
}

function unsigned(list: TrustList): TrustList {
  return withoutSignatures(list);
}

function malformed(source: string, problem: string): SignatureError {
  return new SignatureError(
    "tampered",
    `Cannot use trust list ${
      source.startsWith("/") ? `"${source}"` : source
    }: tampered: ${problem}; fix the file or make it again with \`hotswap trust add\``,
    source.startsWith("/") ? { path: source } : undefined,
  );
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === "object" && !Object.isFrozen(value)) {
    for (const item of Object.values(value)) deepFreeze(item);
    Object.freeze(value);
  }
  return value;
}
