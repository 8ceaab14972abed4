/**
 * Which awaits let Deno hand waiting requests to a server's handler: the
 * question behind `core/_yield_to_io.ts`. A `Deno.serve` server in this
 * process is kept busy in blocks of five 1 ms pieces, one await between
 * pieces, while another process keeps 4 request loops on it; it counts the
 * requests handled at those awaits. Then the cost of one await: back to back,
 * and after 20 ms idle.
 *
 * Usage: deno run --allow-net=127.0.0.1 --allow-run tests/bench/io_yield.ts [--blocks 60]
 */

import { parseArgs } from "node:util";
import { yieldToIo } from "../../core/_yield_to_io.ts";

const { values } = parseArgs({ args: Deno.args, options: { blocks: { type: "string", default: "60" } } });
const BLOCKS = Number(values.blocks);
if (!Number.isInteger(BLOCKS) || BLOCKS < 1 || BLOCKS > 1_000) {
  console.error(`--blocks must be an integer from 1 to 1000, got ${values.blocks}`);
  Deno.exit(2);
}
const PIECES = 5;

const channel = new MessageChannel();
const queued: (() => void)[] = [];
channel.port1.onmessage = () => queued.shift()?.();

const AWAITS: readonly [string, () => Promise<unknown>][] = [
  ["a resolved promise", () => Promise.resolve()],
  ["setImmediate", () => new Promise((resolve) => setImmediate(resolve))],
  ["a MessageChannel message", () =>
    new Promise<void>((resolve) => {
      queued.push(resolve);
      channel.port2.postMessage(0);
    })],
  ["setTimeout(0)", () => new Promise((resolve) => setTimeout(resolve, 0))],
  ["yieldToIo()", yieldToIo],
];

const busy = (ms: number) => {
  const start = performance.now();
  while (performance.now() - start < ms) { /* as a swap's compile holds the thread */ }
};

/** Requests handled at the awaits between pieces, over all blocks. */
async function handledBetweenPieces(pause: () => Promise<unknown>): Promise<number> {
  let between = false;
  let handled = 0;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, () => {
    if (between) handled++;
    return new Response("ok");
  });
  const url = `http://127.0.0.1:${server.addr.port}/`;
  const seconds = BLOCKS * 0.04 + 2;
  const client = new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      `const end = performance.now() + ${seconds * 1000};
       await Promise.all(Array.from({ length: 4 }, async () => {
         while (performance.now() < end) { try { await (await fetch(${
        JSON.stringify(url)
      })).text(); } catch { /* the server stopped */ } }
       }));`,
    ],
    stdout: "null",
    stderr: "inherit",
  }).spawn();
  try {
    await new Promise((resolve) => setTimeout(resolve, 500));
    for (let block = 0; block < BLOCKS; block++) {
      await new Promise((resolve) => setTimeout(resolve, 30));
      for (let piece = 0; piece < PIECES; piece++) {
        busy(1);
        between = true;
        await pause();
        between = false;
      }
    }
  } finally {
    await server.shutdown();
    await client.status;
  }
  return handled;
}

/** Median cost of one await in microseconds, `idle` ms after the last. */
async function cost(pause: () => Promise<unknown>, idle: number): Promise<number> {
  const costs: number[] = [];
  for (let i = 0; i < 101; i++) {
    if (idle > 0) await new Promise((resolve) => setTimeout(resolve, idle));
    const start = performance.now();
    await pause();
    costs.push((performance.now() - start) * 1_000);
  }
  return costs.sort((a, b) => a - b)[50]!;
}

console.log(
  `| await between 1 ms pieces | requests handled at ${
    BLOCKS * PIECES
  } awaits | µs back to back | µs after 20 ms idle |`,
);
console.log("|---|---|---|---|");
for (const [name, pause] of AWAITS) {
  const handled = await handledBetweenPieces(pause);
  console.log(
    `| ${name} | ${handled} | ${(await cost(pause, 0)).toFixed(0)} | ${(await cost(pause, 20)).toFixed(0)} |`,
  );
}
channel.port1.close();
