/**
 * Soak: thousands of swaps under continuous calls (issue 6). Not part of the
 * test task; run it by hand:
 *
 * ```sh
 * deno run --unstable-worker-options --v8-flags=--expose-gc --allow-read --allow-write --allow-run tests/soak.ts
 * deno run ... tests/soak.ts --inline 5000 --worker 1000 --callers 8 --sample 500 --json
 * ```
 *
 * `--allow-run` lets the runtime confirm `--unstable-worker-options` by
 * asking a `deno eval` child; `--worker 0` soaks inline mode alone.
 *
 * Each mode registers a two-file generation and swaps between two variants of
 * it (`a` and `b`, each a different graph), `--inline` / `--worker` times,
 * while `--callers` loops keep calling it: three in four calls answer at once,
 * one in four holds its generation in flight across a timer, so every swap
 * drains calls. It prints the process RSS and V8 heap every `--sample` swaps,
 * then a summary:
 *
 * - failed calls: a call that threw or rejected, returned a wrong answer, or
 *   saw an older generation than the same caller saw before (must be 0);
 * - leaked resources after close() (must be 0): generations still live,
 *   retired generations that did not drain, `blob:` URLs minted and not
 *   revoked, timers pending, and in worker mode generation workers alive.
 *
 * Exits 1 when a call failed or anything leaked.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { setImmediate } from "node:timers";
import { defineContract, type Isolation, registerHotswap, type RetireReport } from "../mod.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    inline: { type: "string", default: "5000" },
    worker: { type: "string", default: "1000" },
    callers: { type: "string", default: "8" },
    sample: { type: "string" },
    json: { type: "boolean", default: false },
  },
});

interface Soak {
  label: string;
  generation: number;
  now(i: number): unknown;
  later(i: number): Promise<unknown>;
}

const soak = defineContract<Soak>({
  name: "Soak",
  version: "1.0.0",
  symbol: "hs_soak",
  shape: { label: "string", generation: "number", now: "function", later: "function" },
});

/** A generation: entry plus a dependency, the handoff carrying the generation number. */
function variant(label: string, factor: number): Record<string, string> {
  return {
    [`gen_${label}.ts`]: `import { scale } from "./lib_${label}.ts";
let number = 0;
export function hs_soak(ctx: { generation: number; previous: unknown }) {
  number = ctx.generation;
  if (ctx.generation > 1 && ctx.previous !== ctx.generation - 1) throw new Error("handoff lost: " + ctx.previous);
  const answer = (i: number) => [${JSON.stringify(label)}, ctx.generation, scale(i)];
  return {
    label: ${JSON.stringify(label)},
    generation: ctx.generation,
    now: answer,
    later: (i: number) => new Promise((resolve) => setTimeout(() => resolve(answer(i)), 0)),
  };
}
export function handoff() { return number; }
`,
    [`lib_${label}.ts`]: `export function scale(i: number): number { return i * ${factor}; }\n`,
  };
}

const FACTORS: Record<string, number> = { a: 2, b: 3 };

// Counting what the runtime mints and schedules, to find leaks after close().
// Wrapped before any generation loads: the built-ins guard compares each load
// with the state just before it, so these host-made changes are not blamed on one.
let liveBlobs = 0;
const createObjectURL = URL.createObjectURL;
const revokeObjectURL = URL.revokeObjectURL;
const minted = new Set<string>();
URL.createObjectURL = (object: Blob) => {
  const url = createObjectURL(object);
  minted.add(url);
  liveBlobs++;
  return url;
};
URL.revokeObjectURL = (url: string) => {
  if (minted.delete(url)) liveBlobs--;
  revokeObjectURL(url);
};
type TimerId = ReturnType<typeof setTimeout>;
interface Timers {
  setTimeout(callback: (...args: unknown[]) => void, delay?: number, ...args: unknown[]): TimerId;
  clearTimeout(id?: TimerId): void;
}
const timers = globalThis as unknown as Timers;
const pendingTimers = new Set<TimerId>();
const realSetTimeout = timers.setTimeout;
const realClearTimeout = timers.clearTimeout;
timers.setTimeout = (callback, delay, ...args) => {
  const id = realSetTimeout(() => {
    pendingTimers.delete(id);
    callback(...args);
  }, delay);
  pendingTimers.add(id);
  return id;
};
timers.clearTimeout = (id) => {
  if (id !== undefined) pendingTimers.delete(id);
  realClearTimeout(id);
};

function macrotask(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

interface Sample {
  swaps: number;
  seconds: number;
  calls: number;
  rssMiB: number;
  heapMiB: number;
}

interface Result {
  isolation: Isolation;
  swaps: number;
  seconds: number;
  calls: number;
  callsInFlightAtSwaps: number;
  failedCalls: number;
  firstFailure?: string;
  leaked: {
    liveGenerations: number;
    undrained: number;
    blobUrls: number;
    timers: number;
    workers: number;
  };
  samples: Sample[];
}

function mib(bytes: number): number {
  return Math.round(bytes / 1024 / 102.4) / 10;
}

function sample(swaps: number, started: number, calls: number): Sample {
  (globalThis as { gc?: () => void }).gc?.();
  const memory = Deno.memoryUsage();
  return {
    swaps,
    seconds: Math.round((performance.now() - started) / 100) / 10,
    calls,
    rssMiB: mib(memory.rss),
    heapMiB: mib(memory.heapUsed),
  };
}

async function run(isolation: Isolation, swaps: number, callers: number, every: number): Promise<Result> {
  const dir = await Deno.makeTempDir({ prefix: "hotswap_soak_" });
  for (const [label, factor] of Object.entries(FACTORS)) {
    for (const [name, source] of Object.entries(variant(label, factor))) {
      await Deno.writeTextFile(`${dir}/${name}`, source);
    }
  }
  const entries = [`${dir}/gen_a.ts`, `${dir}/gen_b.ts`];
  const started = performance.now();
  const hot = await registerHotswap(soak, entries[0]!, { isolation });
  let calls = 0;
  let failedCalls = 0;
  let firstFailure: string | undefined;
  let stopped = false;
  const fail = (reason: string) => {
    failedCalls++;
    firstFailure ??= reason;
  };

  const caller = async (id: number) => {
    let seen = 0;
    for (let i = 1; !stopped; i++) {
      const held = (i + id) % 4 === 0;
      try {
        const answer = await hot.with((h) => held ? h.later(i) : h.now(i)) as [string, number, number];
        const [label, generation, scaled] = answer;
        if (scaled !== i * FACTORS[label]!) {
          fail(`caller ${id} call ${i}: wrong answer ${JSON.stringify(answer)}`);
        }
        if (generation < seen) fail(`caller ${id} call ${i}: saw generation ${generation} after ${seen}`);
        seen = generation;
      } catch (error) {
        fail(`caller ${id} call ${i}: ${String(error)}`);
      }
      calls++;
      // Yield a turn so that loads progress between calls.
      if (!held) await macrotask();
    }
  };
  const running = Array.from({ length: callers }, (_, id) => caller(id));

  const samples: Sample[] = [sample(0, started, 0)];
  const retirements: Promise<RetireReport>[] = [];
  let callsInFlightAtSwaps = 0;
  for (let n = 1; n <= swaps; n++) {
    const { retired } = await hot.swap(entries[n % 2]!);
    callsInFlightAtSwaps += hot.stats().generations.reduce(
      (sum, g) => sum + (g.state === "draining" ? g.inflight : 0),
      0,
    );
    retirements.push(retired);
    // An inline swap of a graph read before runs as scripts without a turn
    // of the event loop: give the callers' timers one, as a server's
    // requests get between swaps.
    await new Promise((resolve) => setTimeout(resolve, 0));
    if (n % every === 0) {
      // Let retirements finish so the sample shows what stays, not what is on its way out.
      await Promise.all(retirements.splice(0));
      samples.push(sample(n, started, calls));
      if (!values.json) printSample(isolation, samples.at(-1)!);
    }
  }
  stopped = true;
  await Promise.all(running);
  const reports = await Promise.all(retirements);
  const live = hot.stats().generations.length;
  await hot.close();
  const liveAfterClose = hot.stats().generations.length;
  await macrotask();
  await Deno.remove(dir, { recursive: true });
  return {
    isolation,
    swaps,
    seconds: Math.round((performance.now() - started) / 100) / 10,
    calls,
    callsInFlightAtSwaps,
    failedCalls,
    ...(firstFailure === undefined ? {} : { firstFailure }),
    leaked: {
      liveGenerations: liveAfterClose + Math.max(0, live - 1),
      undrained: reports.filter((report) => !report.drained).length,
      blobUrls: liveBlobs,
      timers: pendingTimers.size,
      workers: hot.stats().sandboxes,
    },
    samples,
  };
}

function printSample(isolation: Isolation, s: Sample): void {
  console.log(
    `${isolation.padEnd(6)} swaps ${String(s.swaps).padStart(5)}  ${
      s.seconds.toFixed(1).padStart(6)
    } s  calls ${String(s.calls).padStart(8)}  rss ${s.rssMiB.toFixed(1).padStart(7)} MiB  heap ${
      s.heapMiB.toFixed(1).padStart(6)
    } MiB`,
  );
}

const callers = Number(values.callers);
const results: Result[] = [];
const plan: [Isolation, number][] = [["inline", Number(values.inline)], ["worker", Number(values.worker)]];
for (const [isolation, swaps] of plan) {
  if (swaps <= 0) continue;
  const every = Number(values.sample ?? Math.max(1, Math.round(swaps / 10)));
  results.push(await run(isolation, swaps, callers, every));
}

if (values.json) {
  console.log(JSON.stringify({ deno: Deno.version.deno, os: Deno.build.os, arch: Deno.build.arch, results }));
} else {
  for (const result of results) {
    const first = result.samples[0]!;
    const last = result.samples.at(-1)!;
    const leaks = Object.entries(result.leaked).map(([what, count]) => `${what} ${count}`).join(", ");
    console.log(
      `\n${result.isolation}: ${result.swaps} swaps in ${result.seconds} s under ${callers} callers, ${result.calls} calls (${result.callsInFlightAtSwaps} in flight at a swap), failed ${result.failedCalls}`,
    );
    const warm = result.samples[1] ?? last;
    const middle = result.samples[Math.floor(result.samples.length / 2)]!;
    const slope = middle === last ? 0 : (last.rssMiB - middle.rssMiB) / (last.swaps - middle.swaps) * 1000;
    console.log(
      `  rss ${first.rssMiB} MiB at start, ${warm.rssMiB} after ${warm.swaps} swaps, ${middle.rssMiB} after ${middle.swaps}, ${last.rssMiB} after ${last.swaps} (second half: ${
        slope.toFixed(1)
      } MiB per 1,000 swaps); heap ${first.heapMiB} -> ${last.heapMiB} MiB`,
    );
    const firstTenth = warm.seconds - first.seconds;
    const lastTenth = last.seconds - result.samples.at(-2)!.seconds;
    console.log(
      `  time per swap (calls running): ${
        (firstTenth / (warm.swaps || 1) * 1000).toFixed(1)
      } ms over the first ${warm.swaps}, ${
        (lastTenth / (last.swaps - result.samples.at(-2)!.swaps || 1) * 1000).toFixed(1)
      } ms over the last ${last.swaps - result.samples.at(-2)!.swaps}`,
    );
    console.log(`  leaked after close(): ${leaks}`);
    if (result.firstFailure) console.log(`  first failure: ${result.firstFailure}`);
  }
}

const bad = results.some((result) =>
  result.failedCalls > 0 || Object.values(result.leaked).some((count) => count > 0)
);
Deno.exit(bad ? 1 : 0);
