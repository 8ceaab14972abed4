/**
 * Signing fixtures: keys, trust lists, and generations packed into signed
 * artifacts inside a {@linkcode Fixture}.
 *
 * @module
 */

import {
  type ContractIdentity,
  generateSigningKey,
  packArtifact,
  type PackOptions,
  type SigningKey,
  type TrustedKey,
  type TrustList,
} from "../mod.ts";
import { echo, type Fixture } from "./_fixtures.ts";

/** A trust-list entry for `key`, with optional scopes or expiry. */
export function entryOf(key: SigningKey, extra: Partial<TrustedKey> = {}): TrustedKey {
  return { keyid: key.keyid, publicKey: key.publicKey, ...extra };
}

/** A trust list of `keys`. */
export function listOf(keys: readonly TrustedKey[], extra: Partial<TrustList> = {}): TrustList {
  return { version: 1, keys, revoked: [], ...extra };
}

/** A key, and a list trusting it for every contract. */
export async function keyAndList(): Promise<{ key: SigningKey; trust: TrustList }> {
  const key = await generateSigningKey();
  return { key, trust: listOf([entryOf(key)]) };
}

/**
 * Writes an Echo generation of two files, `<dir>/entry.ts` importing
 * `<dir>/lib.ts`, whose handle's label is `label`.
 *
 * @returns The entry's path.
 */
export async function writeEchoGeneration(fixture: Fixture, dir: string, label: string): Promise<string> {
  return await fixture.write({
    [`${dir}/entry.ts`]: `import { label } from "./lib.ts";
export const hs_echo = { label, run: (input: unknown) => [label, input] };
`,
    [`${dir}/lib.ts`]: `export const label: string = ${JSON.stringify(label)};\n`,
  });
}

/** Options of {@linkcode packEcho}: any of `packArtifact`'s, the contract defaulting to Echo. */
export type PackEchoOptions = Partial<Omit<PackOptions, "key">> & { contract?: ContractIdentity };

/**
 * Writes the Echo generation `label` and packs it into `<label>.hsgen`.
 *
 * @returns The artifact's path.
 */
export async function packEcho(
  fixture: Fixture,
  label: string,
  key: SigningKey,
  options: PackEchoOptions = {},
): Promise<string> {
  const entry = await writeEchoGeneration(fixture, `src-${label}`, label);
  const packed = await packArtifact(entry, { contract: echo, label, sequence: 1, ...options, key });
  const path = fixture.path(`${label}.hsgen`);
  await Deno.writeFile(path, packed.bytes);
  return path;
}

/** The artifact at `path`, parsed, changed by `edit`, and written to `out`. */
export async function rewriteArtifact(
  path: string,
  out: string,
  edit: (document: { envelope: { signatures: unknown[] }; files: { bytes: string }[] }) => void,
): Promise<string> {
  const document = JSON.parse(await Deno.readTextFile(path));
  edit(document);
  await Deno.writeTextFile(out, JSON.stringify(document));
  return out;
}

/** Where in an artifact's text the first occurrence of `needle` begins. */
export async function offsetOf(path: string, needle: string): Promise<number> {
  const index = (await Deno.readTextFile(path)).indexOf(needle);
  if (index < 0) throw new Error(`"${needle}" is not in ${path}`);
  return index;
}
