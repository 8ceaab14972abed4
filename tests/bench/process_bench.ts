/**
 * Process isolation costs, each against a raw echo over the same transport
 * (a child `deno` echoing the bytes it reads on stdin to stdout, driven by
 * the same APIs the runtime uses on both ends) measured in the same run:
 *
 * - a sequential call round trip (`await hot.with((h) => h.add(1))`);
 * - 1,000 calls pipelined (issued at once, then awaited together);
 * - swap commit latency with the standby process warm, and back to back
 *   (each swap waiting for the standby the previous one started), against inline;
 * - registering (spawn, load, verify) and closing.
 *
 * Targets (SPEC 6.5 task): round trip within 1.5x of the raw echo, more
 * than 100,000 pipelined calls per second, a warm swap under 30 ms median.
 *
 * Run: deno task bench (needs --allow-read --allow-write --allow-run)
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

const dir = await Deno.makeTempDir({ prefix: "hotswap_process_bench_" });
const entry = `${dir}/adder.ts`;
await Deno.writeTextFile(`${dir}/logic.ts`, "export function add(n: number): number {\n  return n + 1;\n}\n");
await Deno.writeTextFile(
  entry,
  'import { add } from "./logic.ts";\nexport const hs_adder = { label: "v", add };\n',
);

const process = await registerHotswap(adder, entry, { isolation: "process" });
const inline = await registerHotswap(adder, entry);

// The baseline: a bare child echoing its stdin, read and written as the
// runtime's child does (asynchronous reads, synchronous writes).
await Deno.writeTextFile(
  `${dir}/echo.ts`,
  `const buffer = new Uint8Array(256 * 1024);
for (;;) {
  const count = await Deno.stdin.read(buffer);
  if (count === null) break;
  let at = 0;
  while (at < count) at += Deno.stdout.writeSync(buffer.subarray(at, count));
}
`,
);
const echo = new Deno.Command(Deno.execPath(), {
  args: ["run", "--no-prompt", "--no-config", "--no-lock", `${dir}/echo.ts`],
  stdin: "piped",
  stdout: "piped",
  stderr: "null",
}).spawn();
const echoIn = echo.stdin.getWriter();
// Read into one reused buffer, as the runtime reads a generation's stdout.
const echoOut = echo.stdout.getReader({ mode: "byob" });
let echoBuffer = new Uint8Array(64 * 1024);
/** A small call's frame: header and a short JSON payload. */
const MESSAGE = 24;

/** Writes `count` messages at once and resolves when as many bytes came back. */
async function echoMessages(count: number): Promise<void> {
  await echoIn.write(new Uint8Array(MESSAGE * count));
  let received = 0;
  while (received < MESSAGE * count) {
    const { value, done } = await echoOut.read(echoBuffer);
    if (done || value === undefined) throw new Error("The echo process ended");
    received += value.length;
    echoBuffer = new Uint8Array(value.buffer);
  }
}

const PIPELINED = 1_000;

Deno.bench("raw echo round trip", { group: "sequential round trip", baseline: true }, async () => {
  await echoMessages(1);
});

Deno.bench("process call round trip", { group: "sequential round trip" }, async () => {
  await process.with((h) => h.add(1));
});

Deno.bench(`raw echo × ${PIPELINED} pipelined`, { group: "pipelined", baseline: true }, async () => {
  await echoMessages(PIPELINED);
});

Deno.bench(`process call × ${PIPELINED} pipelined`, { group: "pipelined" }, async () => {
  const calls: (number | Promise<number>)[] = [];
  for (let i = 0; i < PIPELINED; i++) calls.push(process.with((h) => h.add(i)));
  await Promise.all(calls);
});

Deno.bench("inline swap", { group: "swap commit", baseline: true }, async (b) => {
  b.start();
  await inline.swap(entry);
  b.end();
});

Deno.bench("process swap, standby warm", { group: "swap commit" }, async (b) => {
  // A server swaps far less often than a process starts: time the swap with
  // the standby ready, as it would be.
  await process.warm();
  b.start();
  await process.swap(entry);
  b.end();
});

Deno.bench("process swap, no standby yet", { group: "swap commit" }, async (b) => {
  // Back to back: each swap waits for the standby the previous one started.
  b.start();
  await process.swap(entry);
  b.end();
});

Deno.bench("register and close, process", { group: "register", n: 20 }, async () => {
  const hot = await registerHotswap(adder, entry, { isolation: "process" });
  await hot.close();
});

globalThis.addEventListener("unload", () => {
  // Unload handlers cannot wait: kill what is left; the OS reaps it with this process.
  try {
    echo.kill("SIGKILL");
  } catch { /* gone */ }
  Deno.removeSync(dir, { recursive: true });
});
