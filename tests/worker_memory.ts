/**
 * Memory across swaps (issue #4, acceptance 3): a generation that allocates
 * 1 MB at load is swapped 300 times in worker mode, then 300 times inline,
 * and the host's resident set size is sampled along the way.
 *
 * Worker mode terminates each retired generation's worker, so its memory
 * goes back to the system and the host levels off (it must stay within
 * 40 MB of where it started, or the script exits 1; what growth remains is
 * the allocator keeping freed per-thread arenas, and it stops growing).
 * Inline mode cannot unload: V8 keeps every imported module, and its 1 MB,
 * for the life of the isolate, so the host grows by that much per swap.
 *
 * Run:
 *   deno run --unstable-worker-options --allow-read --allow-write --allow-run \
 *     --v8-flags=--expose-gc tests/worker_memory.ts [--swaps 300]
 *
 * @module
 */

import { parseArgs } from "node:util";
import { defineContract, type Isolation, registerHotswap } from "../mod.ts";

const { values } = parseArgs({ options: { swaps: { type: "string", default: "300" } } });
const SWAPS = Number(values.swaps);
const SAMPLES = 6;
const WARM_UP = 30;
const LIMIT_MB = 40;
const MB = 1024 * 1024;

interface Ballast {
  bytes: number;
  peek(index: number): number | Promise<number>;
}

const ballast = defineContract<Ballast>({
  name: "Ballast",
  version: "1.0.0",
  symbol: "hs_ballast",
  shape: { bytes: "number", peek: "function" },
});

const dir = await Deno.makeTempDir({ prefix: "hotswap_memory_" });
const entry = `${dir}/ballast.ts`;
// Filled, so the megabyte is resident, and held by the handle's closure for the generation's whole life.
await Deno.writeTextFile(
  entry,
  "const megabyte = new Uint8Array(1024 * 1024).fill(7);\n" +
    "export const hs_ballast = { bytes: megabyte.length, peek: (index: number) => megabyte[index] };\n",
);

/** Resident set size in MB, after a full collection when `--expose-gc` is given. */
function rss(): number {
  (globalThis as { gc?: () => void }).gc?.();
  return Deno.memoryUsage().rss / MB;
}

/** Swaps `SWAPS` times, waiting for each retirement, and samples RSS growth. */
async function run(isolation: Isolation): Promise<number[]> {
  const hot = await registerHotswap(ballast, entry, { isolation });
  try {
    // Warm-up: the first swaps start the standby, page in the runtime's code,
    // fill Deno's code cache and grow the allocator's per-thread arenas;
    // that one-time cost is not the per-swap growth this script measures.
    for (let i = 0; i < WARM_UP; i++) await (await hot.swap(entry)).retired;
    const start = rss();
    const growth = [0];
    for (let i = 1; i <= SWAPS; i++) {
      await (await hot.swap(entry)).retired;
      if (i % (SWAPS / SAMPLES) === 0) growth.push(rss() - start);
    }
    return growth;
  } finally {
    await hot.close();
    // Checked by the caller too: a throw here would hide the one already on its way.
    leftRunning += hot.stats().sandboxes;
  }
}

let leftRunning = 0;

try {
  const worker = await run("worker");
  if (leftRunning !== 0) throw new Error(`${leftRunning} workers still running after close`);
  const inline = await run("inline");
  const rows = worker.map((growth, i) => [
    String(i * (SWAPS / SAMPLES)).padStart(5),
    `${growth >= 0 ? "+" : ""}${growth.toFixed(1)} MB`.padStart(12),
    `${inline[i]! >= 0 ? "+" : ""}${inline[i]!.toFixed(1)} MB`.padStart(12),
  ]);
  const perSwap = (series: number[]) => `${((series.at(-1)! * 1024) / SWAPS).toFixed(0)} KB`.padStart(12);
  console.log(
    `Host RSS growth over ${SWAPS} swaps of a generation that allocates 1 MB at load (after ${WARM_UP} warm-up swaps)`,
  );
  console.log("swaps |  worker mode |  inline mode");
  console.log("----- | ------------ | ------------");
  for (const row of rows) console.log(row.join(" | "));
  console.log(`/swap | ${perSwap(worker)} | ${perSwap(inline)}`);
  const workerGrowth = worker.at(-1)!;
  if (workerGrowth > LIMIT_MB) {
    console.error(
      `FAIL: worker mode grew ${workerGrowth.toFixed(1)} MB over ${SWAPS} swaps (limit ${LIMIT_MB} MB)`,
    );
    Deno.exitCode = 1;
  } else {
    console.log(`ok: worker mode stayed within ${LIMIT_MB} MB of its start over ${SWAPS} swaps`);
  }
} finally {
  await Deno.remove(dir, { recursive: true });
}
