/**
 * Generation artifacts (`.hsgen`, SPEC 12): a snapshot made portable. Packing
 * reads a graph from disk as a swap would, and writes its files (relative to
 * their common directory), their Merkle digest and a signed manifest into one
 * file. Opening one reads that file only: the graph is walked from its files
 * in memory, with the same scanner, elision rules and digest as from disk,
 * so the digest a host computes equals the one the packer signed.
 *
 * Checks, in order: the file's format; with a trust list, the list's expiry,
 * then each signature's key (revoked, unknown, expired) and the signature
 * itself; the manifest; the contract and the key's scopes; the artifact's
 * expiry; the sequence; and last the files against the signed digest.
 *
 * @module
 */

import { dirname, relative, sep } from "node:path";
import {
  type ArtifactFile,
  type ArtifactManifest,
  type ContractIdentity,
  decodeArtifact,
  encodeArtifact,
  MANIFEST_PAYLOAD_TYPE,
  parseManifest,
} from "./_artifact_format.ts";
import { AGAIN, readArtifactFile, refusal, walkFiles, withPath, withPathAsync } from "./_artifact_reader.ts";
import { declaredExports } from "./_declared_exports.ts";
import { HotswapError } from "./errors.ts";
import { isInside, type PathLike, Roots, toAbsolutePath } from "./roots.ts";
import { SignatureError, type SigningKey, signPayload } from "./signature.ts";
import { DEFAULT_MAX_SNAPSHOT_BYTES, readSnapshot, Snapshot } from "./snapshot.ts";
import { readTrustList, type TrustList, verifiedSigners } from "./trust.ts";

export type { ArtifactManifest, ContractIdentity } from "./_artifact_format.ts";
export { type ArtifactDescription, describeArtifact } from "./_artifact_format.ts";

/** Where a generation loaded from an artifact came from. */
export interface Provenance {
  /** The artifact file. */
  readonly artifact: string;
  /** Its manifest: verified when `keyid` is set, as written otherwise. */
  readonly manifest: ArtifactManifest;
  /** The trusted key whose signature verified; `undefined` when loaded without a trust list. */
  readonly keyid: string | undefined;
}

/** Options of {@linkcode packArtifact}. */
export interface PackOptions {
  /** The contract the generation meets (a `defineContract` value will do). */
  contract: ContractIdentity;
  /** The key to sign with. */
  key: SigningKey;
  /** A name for people and rollouts (default: the entry's path in the artifact). */
  label?: string;
  /**
   * Hosts refuse a lower sequence than they accepted (default: milliseconds
   * since the epoch, so that two artifacts packed in the same second differ).
   */
  sequence?: number;
  /** When hosts start refusing it. */
  expiresAt?: Date;
  /** Directories the graph must resolve into, as for a swap (default: the entry's directory). */
  roots?: readonly PathLike[];
  /** Cap on the graph's bytes (default 16 MiB). */
  maxSnapshotBytes?: number;
  /** The issue time (default: now). */
  now?: Date;
}

/** What {@linkcode packArtifact} made. */
export interface PackedArtifact {
  /** The `.hsgen` file's bytes. */
  readonly bytes: Uint8Array;
  /** The signed manifest. */
  readonly manifest: ArtifactManifest;
  /** The files it holds, relative, dependencies first. */
  readonly files: readonly string[];
}

/** Options of {@linkcode verifyArtifact}. */
export interface VerifyArtifactOptions {
  /** The trust list, as a file path or already read. */
  trust: PathLike | TrustList;
  /** The contract name a host would load it for (default: the one in the manifest). */
  contract?: string;
  /** The instant expiry is judged at (default: now). */
  now?: Date;
}

/** Everything {@linkcode openArtifact} checks against. */
export interface OpenArtifactOptions {
  /** The trust list and its name for messages; `undefined` loads it unverified (digest still checked). */
  readonly trust: { readonly list: TrustList; readonly name: string } | undefined;
  /** The host's contract name; `undefined` accepts the manifest's. */
  readonly contract: string | undefined;
  /** The highest sequence already accepted for the contract. */
  readonly minSequence: number | undefined;
  /** Cap on the graph's bytes. */
  readonly maxBytes: number;
  /** Roots the artifact file must be inside, when the host gave roots. */
  readonly roots: Roots | undefined;
  /** The instant expiry is judged at. */
  readonly now: Date;
}

/** Whether a path names an artifact rather than a module. */
export function isArtifactPath(path: string): boolean {
  return path.toLowerCase().endsWith(".hsgen");
}

/**
 * Packs the generation at `entry` into a signed `.hsgen` artifact. The graph
 * is read as a swap reads it (roots, permissions, size cap), then its bytes
 * are walked again in memory: what is signed is what a host will hash.
 *
 * @param entry The generation's entry file.
 * @param options Contract, key, label, sequence, expiry.
 * @returns The artifact's bytes and manifest.
 * @throws {HotswapError} As `registerHotswap` would for the path.
 * @throws {RangeError} An expiry not after the issue time, or a negative sequence.
 * @throws {HotswapError} `E_SYMBOL` when the entry does not export the contract's symbol (as far as its
 *   modules can be read without running them).
 *
 * @example Pack, verify, load
 * ```ts
 * import { defineContract, generateSigningKey, packArtifact, registerHotswap, verifyArtifact } from "@hotswap/runtime";
 * import { strictEqual } from "node:assert/strict";
 *
 * const greeter = defineContract<{ hi: string }>({ name: "Greeter", version: "1.0.0", symbol: "hs_g", shape: { hi: "string" } });
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/g.ts`, 'export const hs_g = { hi: "hello" };');
 * const key = await generateSigningKey();
 * const packed = await packArtifact(`${dir}/g.ts`, { contract: greeter, key, label: "v1", sequence: 1 });
 * await Deno.writeFile(`${dir}/g.hsgen`, packed.bytes);
 * const trust = { version: 1, keys: [{ keyid: key.keyid, publicKey: key.publicKey }], revoked: [] };
 * strictEqual((await verifyArtifact(`${dir}/g.hsgen`, { trust })).keyid, key.keyid);
 * await using hot = await registerHotswap(greeter, `${dir}/g.hsgen`, { trust });
 * strictEqual(hot.digest, packed.manifest.digest);
 * strictEqual(hot.info().provenance?.manifest.label, "v1");
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function packArtifact(entry: PathLike, options: PackOptions): Promise<PackedArtifact> {
  const path = toAbsolutePath(entry);
  const now = options.now ?? new Date();
  const sequence = options.sequence ?? now.getTime();
  if (!Number.isSafeInteger(sequence) || sequence < 0) {
    throw new RangeError(`Cannot pack "${path}": sequence must be a whole number, got ${sequence}`);
  }
  if (options.expiresAt !== undefined && !(options.expiresAt.getTime() > now.getTime())) {
    throw new RangeError(
      `Cannot pack "${path}": expiresAt must be after the issue time ${now.toISOString()}`,
    );
  }
  const maxBytes = options.maxSnapshotBytes ?? DEFAULT_MAX_SNAPSHOT_BYTES;
  const snapshot = await readSnapshot(path, { roots: Roots.resolve(options.roots, path), maxBytes });
  const { contract } = options;
  const exported = declaredExports(snapshot);
  if (exported !== undefined && !exported.has(contract.symbol)) {
    throw new HotswapError(
      "E_SYMBOL",
      `Cannot pack "${path}" for contract ${contract.name}@${contract.version}: it does not export "${contract.symbol}" (exports found: ${
        [...exported].map((name) => JSON.stringify(name)).join(", ") || "none"
      }), so every host would refuse it; export the handle, or a factory returning it, as "${contract.symbol}", or pack it with the contract it serves`,
      { path },
    );
  }
  const root = commonDirectory(snapshot.files);
  // The snapshot keeps decoded text; the bytes (a BOM included) are what was hashed, so read them.
  const files: ArtifactFile[] = snapshot.modules.map((module) => ({
    path: relative(root, module.path).split(sep).join("/"),
    digest: module.digest,
    bytes: Deno.readFileSync(module.path),
  }));
  const manifest: ArtifactManifest = {
    digest: snapshot.digest,
    entry: files.at(-1)!.path,
    contract: { name: contract.name, version: contract.version, symbol: contract.symbol },
    label: options.label ?? files.at(-1)!.path,
    sequence,
    issuedAt: now.toISOString(),
    ...(options.expiresAt === undefined ? {} : { expiresAt: options.expiresAt.toISOString() }),
  };
  const payload = new TextEncoder().encode(JSON.stringify(manifest));
  const signature = await signPayload(MANIFEST_PAYLOAD_TYPE, payload, options.key);
  const envelope = {
    payloadType: MANIFEST_PAYLOAD_TYPE,
    payload: payload.toBase64(),
    signatures: [signature],
  };
  let repacked: Snapshot;
  try {
    repacked = await walkFiles(`${path}.hsgen`, manifest.entry, files, maxBytes, `Cannot pack "${path}"`);
  } catch (error) {
    // The artifact keeps each file once, under its own path: an import that reaches a file by
    // another (a symlink) finds nothing in it. Said as the packer's problem, not as tampering.
    if (!(error instanceof SignatureError) || error.reason !== "tampered") throw error;
    throw new HotswapError(
      "E_IMPORT",
      `Cannot pack "${path}": its graph cannot be read back from the artifact (${
        /graph that was signed \((.*)\); /s.exec(error.message)?.[1] ?? error.message
      }): an artifact holds each file once, under the file's own path, so an import that reaches a file through a symlink (or any other path) finds nothing in it; import each file by its own path, or replace the link with the file`,
      { path, cause: error },
    );
  }
  if (repacked.digest !== snapshot.digest) {
    throw new HotswapError(
      "E_INTEGRITY",
      `Cannot pack "${path}": a file of the graph changed while it was packed; pack it again once the files are saved`,
      { path },
    );
  }
  return { bytes: encodeArtifact(envelope, files), manifest, files: files.map((file) => file.path) };
}

/**
 * Checks an artifact as a host with `trust` would: format, signature, key,
 * scope, expiry, and its files against the signed digest. The sequence is
 * not checked (that needs the host's history).
 *
 * @param path The `.hsgen` file.
 * @param options The trust list; the contract name and instant to judge by.
 * @returns The verified manifest and the key that signed it.
 * @throws {SignatureError} `E_SIGNATURE`, with the reason.
 * @throws {HotswapError} `E_NOT_FOUND` or `E_PERMISSION` for the artifact or the trust list.
 *
 * @example Refuse an artifact nobody trusted signed
 * ```ts
 * import { defineContract, generateSigningKey, packArtifact, SignatureError, verifyArtifact } from "@hotswap/runtime";
 * import { rejects } from "node:assert/strict";
 *
 * const contract = defineContract<{ n: number }>({ name: "N", version: "1.0.0", symbol: "hs_n", shape: { n: "number" } });
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/n.ts`, "export const hs_n = { n: 1 };");
 * const packed = await packArtifact(`${dir}/n.ts`, { contract, key: await generateSigningKey() });
 * await Deno.writeFile(`${dir}/n.hsgen`, packed.bytes);
 * const trust = { version: 1, keys: [], revoked: [] };
 * await rejects(verifyArtifact(`${dir}/n.hsgen`, { trust }), (e) => e instanceof SignatureError && e.reason === "unknown key");
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function verifyArtifact(path: PathLike, options: VerifyArtifactOptions): Promise<Provenance> {
  return (await openVerifiedArtifact(path, options)).provenance!;
}

/**
 * {@linkcode verifyArtifact}'s checks, returning the snapshot they opened
 * (the CLI's `verify` also reads the entry's exports from it).
 *
 * @throws {SignatureError} `E_SIGNATURE`, with the reason.
 * @throws {HotswapError} `E_NOT_FOUND` or `E_PERMISSION` for the artifact or the trust list.
 */
export async function openVerifiedArtifact(
  path: PathLike,
  options: VerifyArtifactOptions,
): Promise<Snapshot> {
  const file = toAbsolutePath(path);
  const trust = typeof options.trust === "string" || options.trust instanceof URL
    ? { list: await readTrustList(options.trust), name: `trust list "${toAbsolutePath(options.trust)}"` }
    : { list: options.trust, name: "the trust list" };
  const snapshot = await openArtifact(file, {
    trust,
    contract: options.contract,
    minSequence: undefined,
    maxBytes: DEFAULT_MAX_SNAPSHOT_BYTES,
    roots: undefined,
    now: options.now ?? new Date(),
  });
  return snapshot;
}

/**
 * Reads, checks and walks an artifact into a snapshot whose files are placed
 * under the artifact's own path (`/srv/app.hsgen/Handles.ts`), so messages and
 * stack frames name both the artifact and the file.
 *
 * @throws {SignatureError} Any refusal, with its reason.
 * @throws {HotswapError} `E_NOT_FOUND`, `E_PERMISSION`, `E_OUTSIDE_ROOTS`, or `E_IMPORT` past the size cap.
 */
export async function openArtifact(path: string, options: OpenArtifactOptions): Promise<Snapshot> {
  return await openArtifactBytes(readArtifactFile(path, options), path, options);
}

/**
 * The checks of {@linkcode openArtifact} on an artifact already in memory
 * (one fetched from a store, say); `path` names it in messages and is where
 * its files are placed.
 *
 * @throws {SignatureError} Any refusal, with its reason.
 * @throws {HotswapError} `E_IMPORT` past the size cap.
 */
export async function openArtifactBytes(
  bytes: Uint8Array,
  path: string,
  options: Omit<OpenArtifactOptions, "roots">,
): Promise<Snapshot> {
  // Its files are placed under it, and their imports resolve against them: a relative
  // path would leave every import but the entry's unresolvable.
  path = toAbsolutePath(path);
  const subject = `Cannot load "${path}"`;
  const document = withPath(path, () => decodeArtifact(bytes, subject));
  const { trust, now } = options;
  let keyid: string | undefined;
  let signers;
  if (trust !== undefined) {
    signers = await withPathAsync(
      path,
      () =>
        verifiedSigners(trust.list, document.envelope.signatures, MANIFEST_PAYLOAD_TYPE, document.payload, {
          subject,
          listName: trust.name,
          now,
          checkListExpiry: true,
        }),
    );
  }
  const manifest = withPath(path, () => parseManifest(document.payload, subject));
  if (signers !== undefined) {
    const name = manifest.contract.name;
    if (options.contract !== undefined && name !== options.contract) {
      throw refusal(
        "scope",
        path,
        `${subject}: scope: it was packed for contract "${name}", and this host loads "${options.contract}"; pack the generation with the host's contract`,
      );
    }
    const scoped = signers.find((key) => key.scopes === undefined || key.scopes.includes(name));
    if (scoped === undefined) {
      throw refusal(
        "scope",
        path,
        `${subject}: scope: key ${signers[0]!.keyid} may sign only for ${
          signers[0]!.scopes!.map((scope) => `"${scope}"`).join(", ")
        }, not contract "${name}"; sign with a key scoped to "${name}", or add the scope with \`hotswap trust add --scope ${name}\``,
      );
    }
    keyid = scoped.keyid;
    if (manifest.expiresAt !== undefined && Date.parse(manifest.expiresAt) <= now.getTime()) {
      throw refusal(
        "expired",
        path,
        `${subject}: expired: the artifact "${manifest.label}" expired at ${manifest.expiresAt}; pack and sign it again`,
      );
    }
    if (options.minSequence !== undefined && manifest.sequence < options.minSequence) {
      throw refusal(
        "replayed sequence",
        path,
        `${subject}: replayed sequence: its sequence ${manifest.sequence} is lower than ${options.minSequence}, already accepted for contract "${name}"; an older artifact cannot come back by swap: use rollback() (in a fleet, hotswap abort takes hosts back to the stable generation), or pack it again with a higher --sequence`,
      );
    }
  }
  const snapshot = await walkFiles(path, manifest.entry, document.files, options.maxBytes, subject);
  if (snapshot.digest !== manifest.digest) {
    throw refusal(
      "tampered",
      path,
      `${subject}: tampered: its files hash to ${snapshot.digest}, and the manifest says ${manifest.digest}; ${AGAIN}`,
    );
  }
  const provenance: Provenance = Object.freeze({ artifact: path, manifest, keyid });
  return new Snapshot(snapshot.entry, snapshot.modules, snapshot.bytes, provenance);
}

/** The deepest directory holding every path. */
function commonDirectory(paths: readonly string[]): string {
  let common = dirname(paths[0]!);
  for (const path of paths) {
    while (!isInside(path, common)) common = dirname(common);
  }
  return common;
}
