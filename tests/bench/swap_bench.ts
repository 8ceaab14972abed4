/**
 * Swap commit latency: from `swap()` to the new generation serving, for the
 * seed's sample generation (so/Handles.ts + so/MyCode.ts) and for a
 * generation of 200 modules, inline and (200 modules) in a worker; the worker
 * bench covers the sample generation in worker mode. Every iteration reads, hashes, imports and
 * verifies the whole graph anew. The "read" group isolates reading the 200-module graph
 * (read, scan for imports, hash): with the scans of unchanged files cached, as in a swap
 * of an edited generation, and with every file's bytes new (writing them is not timed).
 *
 * Run: deno task bench
 */

import { registerHotswap } from "../../mod.ts";
import { Roots } from "../../core/roots.ts";
import { readSnapshot } from "../../core/snapshot.ts";
import { soHandles } from "../../types/mod.ts";

const sample = new URL("../../so/Handles.ts", import.meta.url);
const hot = await registerHotswap(soHandles, sample);

const dir = await Deno.makeTempDir({ prefix: "hotswap_bench_" });
const MODULES = 200;
/** Writes the chain of modules; `edition` changes every file's bytes. */
async function writeChain(edition: number): Promise<void> {
  for (let i = 0; i < MODULES - 1; i++) {
    const next = i + 1 < MODULES - 1 ? `import { f${i + 1} } from "./m${i + 1}.ts";\n` : "";
    const call = i + 1 < MODULES - 1 ? ` + f${i + 1}(n)` : "";
    await Deno.writeTextFile(
      `${dir}/m${i}.ts`,
      `${next}/** Module ${i} of a long chain${
        edition ? ` (edition ${edition})` : ""
      }. */\nexport function f${i}(n: number): number {\n  return (n * ${i}) % 7${call};\n}\n`,
    );
  }
}
await writeChain(0);
const big = `${dir}/Handles.ts`;
await Deno.writeTextFile(
  big,
  `import { f0 } from "./m0.ts";\nexport const hs_soHandles = { someData: "200 modules", someFn: (i: number) => { f0(i); } };\n`,
);
const hotBig = await registerHotswap(soHandles, big);
// Worker mode needs --unstable-worker-options, which `deno task bench` passes.
const hotBigWorker = await registerHotswap(soHandles, big, { isolation: "worker" });

Deno.bench("swap sample generation (2 modules)", { group: "swap inline" }, async () => {
  await hot.swap(sample);
});

Deno.bench("swap 200-module generation", { group: "swap inline" }, async () => {
  await hotBig.swap(big);
});

Deno.bench("swap 200-module generation, worker", { group: "swap worker" }, async () => {
  await hotBigWorker.swap(big);
});

const roots = Roots.resolve([dir], big);
Deno.bench("read 200-module graph, unchanged files", { group: "read" }, async () => {
  await readSnapshot(big, { roots });
});

let edition = 0;
Deno.bench("read 200-module graph, every file new", { group: "read" }, async (b) => {
  await writeChain(++edition);
  b.start();
  await readSnapshot(big, { roots });
  b.end();
});

globalThis.addEventListener("unload", () => {
  Deno.removeSync(dir, { recursive: true });
});
