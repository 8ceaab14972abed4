/**
 * What a generation stuck in a synchronous loop costs (issue #4): on Deno
 * 2.9 `Worker.terminate()` cannot interrupt a loop that never yields, so a
 * generation that loops at load is reported `E_TIMEOUT` and abandoned, but
 * its thread keeps a core busy and keeps its memory until the process
 * exits. This script measures that while the current generation serves.
 *
 * Run:
 *   deno run --unstable-worker-options --allow-read --allow-write --allow-run tests/worker_stuck.ts
 *
 * A process holding such a thread does not exit when its event loop
 * empties, so the script ends with `Deno.exit()`.
 *
 * @module
 */

import process from "node:process";
import { defineContract, HotswapError, registerHotswap } from "../mod.ts";

interface Adder {
  add(n: number): Promise<number>;
}

const adder = defineContract<Adder>({
  name: "Adder",
  version: "1.0.0",
  symbol: "hs_adder",
  shape: { add: "function" },
});
const dir = await Deno.makeTempDir({ prefix: "hotswap_stuck_" });
const good = `${dir}/good.ts`;
const stuck = `${dir}/stuck.ts`;
await Deno.writeTextFile(good, "export const hs_adder = { add: (n: number) => n + 1 };\n");
await Deno.writeTextFile(
  stuck,
  "const ballast = new Uint8Array(16 * 1024 * 1024).fill(1);\nwhile (ballast[0] === 1) {}\nexport const hs_adder = { add: (n: number) => n };\n",
);

const hot = await registerHotswap(adder, good, { isolation: "worker", loadTimeout: 200 });

/** Median µs of sequential calls on the serving generation. */
async function roundTrip(): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < 5_000; i++) {
    const start = performance.now();
    await hot.with((h) => h.add(i));
    times.push((performance.now() - start) * 1000);
  }
  return times.sort((a, b) => a - b)[times.length >> 1]!;
}

/** Milliseconds of CPU the whole process uses during one idle second. */
async function idleCpu(): Promise<number> {
  const before = process.cpuUsage();
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const used = process.cpuUsage(before);
  return (used.user + used.system) / 1000;
}

const rows: string[][] = [];
async function sample(label: string): Promise<void> {
  rows.push([
    label,
    `${(await idleCpu()).toFixed(0)} ms`,
    `${(Deno.memoryUsage().rss / 1024 / 1024).toFixed(0)} MB`,
    `${(await roundTrip()).toFixed(1)} µs`,
  ]);
}

await sample("serving, nothing stuck");
for (let stuckCount = 1; stuckCount <= 2; stuckCount++) {
  try {
    await hot.swap(stuck);
    throw new Error("the looping generation loaded");
  } catch (error) {
    if (!(error instanceof HotswapError) || error.code !== "E_TIMEOUT") throw error;
  }
  await sample(`after ${stuckCount} E_TIMEOUT load${stuckCount > 1 ? "s" : ""}`);
}
console.log(`${navigator.hardwareConcurrency} cores; generation ${hot.generation} serving throughout`);
console.log("state                    | CPU per idle second | host RSS | call round trip (median)");
for (const row of rows) {
  console.log(`${row[0]!.padEnd(24)} | ${row[1]!.padStart(19)} | ${row[2]!.padStart(8)} | ${row[3]}`);
}
await hot.close();
await Deno.remove(dir, { recursive: true });
Deno.exit(0);
