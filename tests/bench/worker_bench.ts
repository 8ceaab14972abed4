/**
 * Worker isolation costs, each against plain `postMessage` measured in the
 * same run:
 *
 * - a sequential call round trip (`await hot.with((h) => h.add(1))`), back
 *   to back and after the worker went idle;
 * - 1,000 calls pipelined (issued at once, then awaited together);
 * - swap commit latency with the standby worker warm, against inline.
 *
 * Targets (issue #4): sequential round trip under 25 µs, more than 300,000
 * pipelined calls per second, a worker swap committing in under 15 ms median.
 *
 * Run: deno task bench (needs --unstable-worker-options and, for the flag
 * check, --allow-run)
 */

import { defineContract, registerHotswap } from "../../mod.ts";

interface Adder {
  label: string;
  add(n: number): number | Promise<number>;
}

const adder = defineContract<Adder>({
  name: "Adder",
  version: "1.0.0",
  symbol: "hs_adder",
  shape: { label: "string", add: "function" },
});

const dir = await Deno.makeTempDir({ prefix: "hotswap_worker_bench_" });
const entry = `${dir}/adder.ts`;
await Deno.writeTextFile(`${dir}/logic.ts`, "export function add(n: number): number {\n  return n + 1;\n}\n");
await Deno.writeTextFile(
  entry,
  'import { add } from "./logic.ts";\nexport const hs_adder = { label: "v", add };\n',
);

const worker = await registerHotswap(adder, entry, { isolation: "worker" });
const inline = await registerHotswap(adder, entry);

// The baseline: a bare worker answering every message with a message.
const echoUrl = URL.createObjectURL(
  new Blob(["self.onmessage = (event) => self.postMessage(event.data + 1);"], { type: "text/javascript" }),
);
const echo = new Worker(echoUrl, { type: "module" });
let answer: ((value: number) => void) | undefined;
let expected = 0;
let received = 0;
echo.onmessage = () => {
  if (++received === expected) answer?.(received);
};

/** Posts `count` messages and resolves when as many answers arrived. */
function postMessages(count: number): Promise<number> {
  const { promise, resolve } = Promise.withResolvers<number>();
  received = 0;
  expected = count;
  answer = resolve;
  for (let i = 0; i < count; i++) echo.postMessage(i);
  return promise;
}

const PIPELINED = 1_000;

Deno.bench("postMessage round trip", { group: "sequential round trip", baseline: true }, async () => {
  await postMessages(1);
});

Deno.bench("worker call round trip", { group: "sequential round trip" }, async () => {
  await worker.with((h) => h.add(1));
});

Deno.bench("inline call (for scale)", { group: "sequential round trip" }, () => {
  inline.with((h) => h.add(1));
});

// A server's calls arrive apart: after a pause the worker sleeps, and the
// call pays for waking its thread (and the host's, for the answer).
Deno.bench(
  "postMessage round trip, after 2 ms idle",
  { group: "idle round trip", baseline: true },
  async (b) => {
    await new Promise((resolve) => setTimeout(resolve, 2));
    b.start();
    await postMessages(1);
    b.end();
  },
);

Deno.bench("worker call round trip, after 2 ms idle", { group: "idle round trip" }, async (b) => {
  await new Promise((resolve) => setTimeout(resolve, 2));
  b.start();
  await worker.with((h) => h.add(1));
  b.end();
});

Deno.bench(`postMessage × ${PIPELINED} pipelined`, { group: "pipelined", baseline: true }, async () => {
  await postMessages(PIPELINED);
});

Deno.bench(`worker call × ${PIPELINED} pipelined`, { group: "pipelined" }, async () => {
  const calls: (number | Promise<number>)[] = [];
  for (let i = 0; i < PIPELINED; i++) calls.push(worker.with((h) => h.add(i)));
  await Promise.all(calls);
});

Deno.bench("inline swap", { group: "swap commit", baseline: true }, async (b) => {
  b.start();
  await inline.swap(entry);
  b.end();
});

Deno.bench("worker swap, standby warm", { group: "swap commit" }, async (b) => {
  // A server swaps far less often than a worker starts (~30 ms): time the
  // swap with the standby ready, as it would be.
  await worker.warm();
  b.start();
  await worker.swap(entry);
  b.end();
});

Deno.bench("worker swap, no standby yet", { group: "swap commit" }, async (b) => {
  // Back-to-back swaps: each one waits for the standby the previous one started.
  b.start();
  await worker.swap(entry);
  b.end();
});

globalThis.addEventListener("unload", () => {
  echo.terminate();
  URL.revokeObjectURL(echoUrl);
  Deno.removeSync(dir, { recursive: true });
});
