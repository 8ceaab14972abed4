/**
 * Ed25519 signatures in DSSE style (secure-systems-lab/dsse): what is signed
 * is the pre-authentication encoding `PAE(payloadType, payload)`, so a
 * signature over a manifest can never be replayed as one over a trust list,
 * and the bytes verified are the bytes parsed. Keys are WebCrypto Ed25519
 * keys; a key id is the SHA-256 of the raw 32-byte public key, in hex.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { HotswapError, type HotswapErrorOptions } from "./errors.ts";

/**
 * Why a signed artifact, or a trust list update, was refused:
 *
 * - `"unsigned"`: no signature (a plain module path, or an artifact without one);
 * - `"tampered"`: bytes that do not hash to the signed digest, a signature
 *   that does not verify, or a file that is not in the format;
 * - `"unknown key"`: signed by a key the trust list does not name;
 * - `"revoked"`: signed by a key the trust list revoked;
 * - `"expired"`: the key, the trust list or the artifact is past its date;
 * - `"scope"`: the key may not sign for the contract, or the artifact is for another one;
 * - `"replayed sequence"`: older than what this reference already accepted.
 */
export type SignatureReason =
  | "unsigned"
  | "tampered"
  | "unknown key"
  | "revoked"
  | "expired"
  | "scope"
  | "replayed sequence";

/**
 * A refused artifact or trust list: `code` is `E_SIGNATURE`, `reason` says why.
 *
 * @example Branch on the reason
 * ```ts
 * import { SignatureError } from "@hotswap/runtime";
 * import { strictEqual } from "node:assert/strict";
 *
 * const error = new SignatureError("revoked", 'Cannot load "app.hsgen": revoked: …');
 * strictEqual(error.code, "E_SIGNATURE");
 * strictEqual(error.reason, "revoked");
 * ```
 */
export class SignatureError extends HotswapError {
  /** Why it was refused. */
  readonly reason: SignatureReason;

  /**
   * Creates a refusal; the message names the reason, then what to do.
   *
   * @param reason Why it was refused.
   * @param message What failed, the reason, and the fix.
   * @param options `cause`, `path` and `activeGeneration`.
   */
  constructor(reason: SignatureReason, message: string, options?: HotswapErrorOptions) {
    super("E_SIGNATURE", message, options);
    this.name = "SignatureError";
    this.reason = reason;
  }
}

/** One signature of an envelope. */
export interface EnvelopeSignature {
  /** The signing key's id: hex SHA-256 of its raw public key. */
  readonly keyid: string;
  /** The Ed25519 signature of the PAE, base64. */
  readonly sig: string;
}

/** A DSSE envelope: the signed bytes (base64), their type, and the signatures over both. */
export interface Envelope {
  /** What the payload is, signed with it. */
  readonly payloadType: string;
  /** The signed bytes, base64. */
  readonly payload: string;
  /** Signatures over `PAE(payloadType, payload)`. */
  readonly signatures: readonly EnvelopeSignature[];
}

/** An Ed25519 key pair, as `hotswap keygen` writes it; keep `privateKey` secret. */
export interface SigningKey {
  /** Hex SHA-256 of the raw public key. */
  readonly keyid: string;
  /** The raw 32-byte public key, base64. */
  readonly publicKey: string;
  /** The private key as PKCS #8, base64. */
  readonly privateKey: string;
}

const ED25519 = { name: "Ed25519" } as const;

/**
 * Creates a new Ed25519 key pair.
 *
 * @returns The key id, public key and private key.
 *
 * @example Make a key and check its id
 * ```ts
 * import { generateSigningKey, keyIdOf } from "@hotswap/runtime";
 * import { strictEqual } from "node:assert/strict";
 *
 * const key = await generateSigningKey();
 * strictEqual(key.keyid, keyIdOf(key.publicKey));
 * ```
 */
export async function generateSigningKey(): Promise<SigningKey> {
  const pair = await crypto.subtle.generateKey(ED25519, true, ["sign", "verify"]) as CryptoKeyPair;
  const raw = new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey));
  const pkcs8 = new Uint8Array(await crypto.subtle.exportKey("pkcs8", pair.privateKey));
  const publicKey = raw.toBase64();
  return { keyid: keyIdOf(publicKey), publicKey, privateKey: pkcs8.toBase64() };
}

/**
 * The id of a public key: hex SHA-256 of its raw bytes.
 *
 * @param publicKey The raw 32-byte Ed25519 public key, base64.
 * @returns 64 hex digits.
 * @throws {TypeError} When `publicKey` is not base64 of 32 bytes.
 *
 * @example Ids are stable
 * ```ts
 * import { keyIdOf } from "@hotswap/runtime";
 * import { strictEqual } from "node:assert/strict";
 *
 * const id = keyIdOf(new Uint8Array(32).toBase64());
 * strictEqual(id, keyIdOf("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="));
 * strictEqual(id.length, 64);
 * ```
 */
export function keyIdOf(publicKey: string): string {
  const raw = decodeBase64(publicKey);
  if (raw === undefined || raw.byteLength !== 32) {
    throw new TypeError("Cannot compute a key id: the public key must be 32 bytes in canonical base64");
  }
  return createHash("sha256").update(raw).digest("hex");
}

/**
 * DSSE's pre-authentication encoding:
 * `"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body`, lengths in bytes, decimal.
 */
export function pae(payloadType: string, payload: Uint8Array): Uint8Array<ArrayBuffer> {
  const type = new TextEncoder().encode(payloadType);
  const head = new TextEncoder().encode(`DSSEv1 ${type.byteLength} ${payloadType} ${payload.byteLength} `);
  const out = new Uint8Array(head.byteLength + payload.byteLength);
  out.set(head);
  out.set(payload, head.byteLength);
  return out;
}

/**
 * Signs `PAE(payloadType, payload)` with `key`.
 *
 * @throws {TypeError} When the private key cannot be imported.
 */
export async function signPayload(
  payloadType: string,
  payload: Uint8Array,
  key: SigningKey,
): Promise<EnvelopeSignature> {
  const pkcs8 = decodeBase64(key.privateKey);
  let privateKey: CryptoKey;
  try {
    if (pkcs8 === undefined) throw new TypeError("not canonical base64");
    privateKey = await crypto.subtle.importKey("pkcs8", pkcs8, ED25519, false, ["sign"]);
  } catch (error) {
    throw new TypeError(
      `Cannot sign with key ${key.keyid}: its private key is not an Ed25519 PKCS #8 key in base64; generate a new key`,
      { cause: error },
    );
  }
  const signature = new Uint8Array(await crypto.subtle.sign(ED25519, privateKey, pae(payloadType, payload)));
  return { keyid: key.keyid, sig: signature.toBase64() };
}

/**
 * Whether `signature` is `publicKey`'s Ed25519 signature of `PAE(payloadType, payload)`.
 * Malformed keys and signatures are simply not valid.
 */
export async function verifyPayload(
  payloadType: string,
  payload: Uint8Array,
  signature: string,
  publicKey: string,
): Promise<boolean> {
  const raw = decodeBase64(publicKey);
  const sig = decodeBase64(signature);
  if (raw === undefined || raw.byteLength !== 32 || sig === undefined || sig.byteLength !== 64) return false;
  try {
    const key = await crypto.subtle.importKey("raw", raw, ED25519, false, ["verify"]);
    return await crypto.subtle.verify(ED25519, key, sig, pae(payloadType, payload));
  } catch {
    return false;
  }
}

/**
 * Decodes base64 only in its one canonical spelling: padded, no whitespace,
 * no stray bits in the last character. Any other spelling of the same bytes
 * is refused, so a flipped character can never decode to the signed bytes.
 *
 * @returns The bytes, or `undefined` when `text` is not canonical base64.
 */
export function decodeBase64(text: unknown): Uint8Array<ArrayBuffer> | undefined {
  if (typeof text !== "string") return undefined;
  try {
    const bytes = Uint8Array.fromBase64(text, { lastChunkHandling: "strict" });
    return bytes.toBase64() === text ? bytes : undefined;
  } catch {
    return undefined;
  }
}

/**
 * JSON with object keys sorted at every level and no whitespace, as RFC 8785
 * spells the integers and strings a trust list holds: what a trust list's
 * signatures cover, however the file is indented.
 */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.keys(value).sort().map((key) =>
      `${JSON.stringify(key)}:${canonicalJson((value as Record<string, unknown>)[key])}`
    );
    return `{${entries.join(",")}}`;
  }
  return JSON.stringify(value);
}

/**
 * Reads the signatures of an envelope or a trust list.
 *
 * @returns The signatures, or a description of what is malformed.
 */
export function parseSignatures(value: unknown): EnvelopeSignature[] | string {
  if (!Array.isArray(value)) return "signatures is not an array";
  const signatures: EnvelopeSignature[] = [];
  for (const [index, item] of value.entries()) {
    const { keyid, sig } = (item ?? {}) as Record<string, unknown>;
    if (
      typeof item !== "object" || item === null || Object.keys(item).some((k) => k !== "keyid" && k !== "sig")
    ) {
      return `signatures[${index}] is not { keyid, sig }`;
    }
    if (typeof keyid !== "string" || !KEY_ID.test(keyid)) {
      return `signatures[${index}].keyid is not 64 hex digits`;
    }
    if (decodeBase64(sig) === undefined) return `signatures[${index}].sig is not canonical base64`;
    signatures.push({ keyid, sig: sig as string });
  }
  return signatures;
}

/** A key id as written: 64 lowercase hex digits. */
export const KEY_ID: RegExp = /^[0-9a-f]{64}$/;
