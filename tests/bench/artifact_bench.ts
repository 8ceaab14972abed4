/**
 * What signing costs a swap (SPEC 12): verifying an artifact (read the file,
 * check the Ed25519 signature, walk and hash its files in memory) against
 * reading the same graph from disk unsigned, for the sample generation
 * (so/Handles.ts + so/MyCode.ts) and a chain of 200 modules; then whole
 * swaps, signed artifact against path. The signature itself is benched
 * alone, to show it is lost in the hashing. Scans of unchanged files are
 * cached by content on both sides, as in a swap of an edited generation.
 *
 * Run: deno task bench (or deno bench --allow-read --allow-write tests/bench/artifact_bench.ts)
 */

import { generateSigningKey, packArtifact, registerHotswap, type TrustList } from "../../mod.ts";
import { openArtifact } from "../../core/artifact.ts";
import { Roots } from "../../core/roots.ts";
import { pae, signPayload, verifyPayload } from "../../core/signature.ts";
import { readSnapshot } from "../../core/snapshot.ts";
import { soHandles } from "../../types/mod.ts";

const dir = await Deno.makeTempDir({ prefix: "hotswap_artifact_bench_" });
const key = await generateSigningKey();
const trust: TrustList = { version: 1, keys: [{ keyid: key.keyid, publicKey: key.publicKey }], revoked: [] };

const MODULES = 200;
await Deno.mkdir(`${dir}/chain`);
for (let i = 0; i < MODULES - 1; i++) {
  const next = i + 1 < MODULES - 1 ? `import { f${i + 1} } from "./m${i + 1}.ts";\n` : "";
  const call = i + 1 < MODULES - 1 ? ` + f${i + 1}(n)` : "";
  await Deno.writeTextFile(
    `${dir}/chain/m${i}.ts`,
    `${next}/** Module ${i} of a long chain. */\nexport function f${i}(n: number): number {\n  return (n * ${i}) % 7${call};\n}\n`,
  );
}
const chain = `${dir}/chain/Handles.ts`;
await Deno.writeTextFile(
  chain,
  `import { f0 } from "./m0.ts";\nexport const hs_soHandles = { someData: "200 modules", someFn: (i: number) => { f0(i); } };\n`,
);
const sample = new URL("../../so/Handles.ts", import.meta.url).pathname;

async function pack(entry: string, name: string): Promise<string> {
  const packed = await packArtifact(entry, { contract: soHandles, key, sequence: 1 });
  await Deno.writeFile(`${dir}/${name}.hsgen`, packed.bytes);
  return `${dir}/${name}.hsgen`;
}
const sampleArtifact = await pack(sample, "sample");
const chainArtifact = await pack(chain, "chain");

function verify(path: string) {
  return openArtifact(path, {
    trust: { list: trust, name: "the trust list" },
    contract: soHandles.name,
    minSequence: 1,
    maxBytes: 16 * 1024 * 1024,
    roots: undefined,
    now: new Date(),
  });
}

const payload = new TextEncoder().encode(JSON.stringify({ digest: "sha256-…", label: "v1", sequence: 1 }));
const signature = await signPayload("application/vnd.hotswap.manifest+json", payload, key);
Deno.bench("Ed25519 sign (import key + sign PAE)", { group: "signature" }, async () => {
  await signPayload("application/vnd.hotswap.manifest+json", payload, key);
});
Deno.bench("Ed25519 verify (import key + verify PAE)", { group: "signature" }, async () => {
  await verifyPayload("application/vnd.hotswap.manifest+json", payload, signature.sig, key.publicKey);
});
Deno.bench("PAE encoding alone", { group: "signature" }, () => {
  pae("application/vnd.hotswap.manifest+json", payload);
});

const sampleRoots = Roots.resolve(undefined, sample);
Deno.bench("sample: read from disk, unsigned", { group: "sample", baseline: true }, async () => {
  await readSnapshot(sample, { roots: sampleRoots });
});
Deno.bench("sample: verify artifact (read + signature + digest)", { group: "sample" }, async () => {
  await verify(sampleArtifact);
});

const chainRoots = Roots.resolve(undefined, chain);
Deno.bench("200 modules: read from disk, unsigned", { group: "200 modules", baseline: true }, async () => {
  await readSnapshot(chain, { roots: chainRoots });
});
Deno.bench("200 modules: verify artifact (read + signature + digest)", { group: "200 modules" }, async () => {
  await verify(chainArtifact);
});

const hotPath = await registerHotswap(soHandles, chain);
const hotSigned = await registerHotswap(soHandles, chainArtifact, { trust });
Deno.bench("200 modules: swap to the path", { group: "swap 200 modules", baseline: true }, async () => {
  await hotPath.swap(chain);
});
Deno.bench("200 modules: swap to the signed artifact", { group: "swap 200 modules" }, async () => {
  await hotSigned.swap(chainArtifact);
});

globalThis.addEventListener("unload", () => {
  Deno.removeSync(dir, { recursive: true });
});
