/**
 * Load harness (`deno task bench:load`): serves the sample HTTP app under a
 * bounded load while it is edited, and compares, on the same load and the
 * same edits, our runners with Deno's watchers and `bun --hot`:
 *
 * - `hotswap`: demo/server.ts, swapping on SIGHUP after each edit (inline isolation);
 * - `hotswap-worker`, `hotswap-process`: the same with `--isolation worker` / `process`;
 * - `hotswap-watch`: demo/server.ts with `--watch`, swapping when it sees the edit;
 * - `watch`: a plain server importing the app, under `deno run --watch` (restart);
 * - `watch-hmr`: the same plain server under `deno run --watch-hmr`;
 * - `bun-hot`: the same plain server on `Bun.serve`, under `bun --hot` (Bun
 *   {@linkcode BUN_VERSION} from npm, installed by the harness into
 *   ~/.cache/hotswap-bench; skipped, saying why, when that fails).
 *
 * Our runners' deno runs with `--no-code-cache` and (but for process
 * isolation, see `_load_runners.ts`) `DENO_EMIT_CACHE_MODE=disable`: otherwise Deno writes each generation's
 * emitted JS and V8 code cache into DENO_DIR (two files, ~116 KiB per
 * change), which also doubles the swap time. `--deno-defaults` runs them
 * without, for comparison.
 *
 * Load: `--concurrency` loops (default 4) request `GET /` and
 * `--slow-concurrency` loops (default 2) `GET /slow?ms=300`, back to back.
 * Every request's start, end, outcome and answering version is recorded.
 *
 * Edits: after a second of warm-up, one every `--edit-every` ms (default
 * 100): first the logic (so/app_logic.ts, the handler's dependency: its
 * `VERSION`), then the entry (so/app.ts itself: a version string the copy
 * sends as a header), then 20 more, alternating logic and entry. Each bumps
 * the version, so a response names the newest file it saw. The last second
 * of a run has no edits; a short `--duration` writes fewer. With `--edit
 * string` (the default) an edit changes the version string only, inside one
 * token, as a change of a threshold or a message does; with `--edit code`
 * each edit of a file switches its version between a string and a template
 * with a substitution (`` `v${7}` ``), so that each edit changes the code.
 * `--edit none` is the control: the same writes, at the same moments, to a
 * file beside the app that no runner loads, and no signal, so that no code
 * changes; what the window after an "edit" shows then is the harness's own
 * (`tests/bench/after_edit_tail.ts` reads its samples).
 *
 * Per runner it prints: requests and failures; `GET /` latency p50/p99 in
 * steady state and p99 in the 50 ms after each edit; edits served / written;
 * write → first response from the new code (p50/p90/p99), from just before
 * the write call to the moment the client has read a response naming that
 * version or a later one; how many `/slow` requests in flight at an edit
 * (started before the write, ended after its new code first answered)
 * answered on the old code; and the server's resident memory per change.
 * With `--json <file>` it also writes the raw samples and summaries, and
 * with `--chart <file.svg>` a chart of `GET /` latency over time with the
 * edits marked.
 *
 * With `--rounds n` (default 1) it runs every runner n times, in turn, prints
 * each round's table, then tallies how often each target held, round by
 * round: the after-edit p99 within 1.5x the steady p99, and against
 * `bun --hot` of the same round, write → new code within bun's + 1 ms and
 * quiet memory per change within bun's + 10 KiB (see `_load_tally.ts`).
 * `--json` and `--chart` then hold the last round.
 *
 * Bounded: each runner lasts `--duration` ms (default 8,000) plus its start
 * and stop, in each round; every process started is stopped, and every
 * temporary directory removed.
 *
 * Usage: deno task bench:load [--duration ms] [--concurrency n] [--slow-concurrency n] [--edit-every ms]
 *        [--only name]... [--rounds n] [--edit string|code|none] [--deno-defaults] [--json file] [--chart file.svg]
 *
 * @module
 */

import { parseArgs } from "node:util";
import { latencyChart } from "./_chart.ts";
import {
  type Edit,
  type Memory,
  printTable,
  type RunnerResult,
  type Sample,
  summarise,
} from "./_load_report.ts";
import {
  answeringVersion,
  BUN_VERSION,
  type BunInstall,
  type CommandOptions,
  ensureBun,
  prepareApp,
  RESTARTS,
  type RunnerName,
  RUNNERS,
  serverCommand,
  SIGNALLED,
} from "./_load_runners.ts";
import { type Round, tally } from "./_load_tally.ts";
import { StderrTail, stopServer, type TreeMemory, treeMemory } from "./_load_procs.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    duration: { type: "string", default: "8000" },
    concurrency: { type: "string", default: "4" },
    "slow-concurrency": { type: "string", default: "2" },
    "edit-every": { type: "string", default: "100" },
    only: { type: "string", multiple: true },
    "deno-defaults": { type: "boolean", default: false },
    edit: { type: "string", default: "string" },
    "memory-edits": { type: "string", default: "100" },
    rounds: { type: "string", default: "1" },
    json: { type: "string" },
    chart: { type: "string" },
  },
});
const DURATION = Number(values.duration);
const CONCURRENCY = Number(values.concurrency);
const SLOW_CONCURRENCY = Number(values["slow-concurrency"]);
const EDIT_EVERY = Number(values["edit-every"]);
const DENO_DEFAULTS = values["deno-defaults"] === true;
if (values.edit !== "string" && values.edit !== "code" && values.edit !== "none") {
  throw new RangeError("--edit must be string, code or none");
}
const EDIT_KIND: "string" | "code" | "none" = values.edit;
const ROUNDS = Number(values.rounds);
/** Changes of the quiet memory phase, after the load: retention per change needs many. */
const MEMORY_EDITS = Number(values["memory-edits"]);
/** Logic, entry, then 20 more alternating. */
const EDITS = 22;
const WARM_UP = 1_000;
/** No edit in the last second of a run: its steady state, and the "after" memory samples. */
const QUIET_END = 1_000;
const AFTER_EDIT_WINDOW = 50;
const SLOW_MS = 300;
/** Memory samples, this far apart, just before the first edit and at the end of the run. */
const MEMORY_SAMPLES = [300, 200, 100];
const IDLE_BEFORE_SAMPLE = 500;

for (const [flag, value] of [["duration", DURATION], ["edit-every", EDIT_EVERY]] as const) {
  if (!Number.isFinite(value) || value <= 0) throw new RangeError(`--${flag} must be a positive number`);
}
for (
  const [flag, value] of [
    ["concurrency", CONCURRENCY],
    ["slow-concurrency", SLOW_CONCURRENCY],
    ["memory-edits", MEMORY_EDITS],
  ] as const
) {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`--${flag} must be a whole number`);
}
if (!Number.isSafeInteger(ROUNDS) || ROUNDS < 1) {
  throw new RangeError("--rounds must be a whole number of at least 1");
}

/** Waits until `performance.now()` reaches `time` (timers may fire a little early). */
async function until(time: number): Promise<void> {
  do {
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, Math.ceil(time - performance.now()))));
  } while (performance.now() < time);
}

/** Waits until the server answers, for at most 15 s or until it exits. */
async function waitUntilServing(url: string, server: Deno.ChildProcess): Promise<void> {
  let exited = false;
  server.status.then(() => exited = true);
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline && !exited) {
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(2_000) });
      await response.body?.cancel();
      if (response.ok) return;
    } catch { /* not listening yet */ }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(exited ? "the server exited before it answered" : `no answer from ${url} within 15 s`);
}

async function runOne(name: RunnerName, port: number, options: CommandOptions): Promise<RunnerResult> {
  const app = await prepareApp(EDIT_KIND === "none" ? "string" : EDIT_KIND);
  const samples: Sample[] = [];
  const edits: Edit[] = [];
  let memory: Memory | undefined;
  let server: Deno.ChildProcess | undefined;
  let stderr: StderrTail | undefined;
  const seen = new Map<number, string>();
  try {
    server = serverCommand(name, app, port, options).spawn();
    stderr = new StderrTail(server.stderr);
    const running = server;
    const base = `http://127.0.0.1:${port}/`;
    await waitUntilServing(base, running);
    const memoryNow = async () => {
      const tree = await treeMemory(running.pid);
      for (const { pid, comm } of tree?.processes ?? []) seen.set(pid, comm);
      return tree;
    };
    const first = await memoryNow();
    if (first !== undefined && name === "bun-hot" && !/^bun/.test(first.processes[0]!.comm)) {
      console.warn(`  warning: the bun-hot server process is "${first.processes[0]!.comm}", not bun`);
    }
    const start = performance.now();
    const end = start + DURATION;
    const client = (path: string, route: Sample["route"]) => async () => {
      const url = base + path;
      while (performance.now() < end) {
        const at = performance.now();
        let ok = false;
        let version: number | undefined;
        let failure: string | undefined;
        try {
          const response = await fetch(url, { signal: AbortSignal.timeout(5_000) });
          const body = await response.text();
          ok = response.ok;
          version = answeringVersion(body, response.headers);
          if (!ok) failure = `HTTP ${response.status}: ${body.trim().slice(0, 200)}`;
        } catch (error) {
          failure = error instanceof Error ? `${error.name}: ${error.message}`.slice(0, 200) : String(error);
        }
        const sample: Sample = { route, at: at - start, end: performance.now() - start, ok, version };
        if (failure !== undefined) sample.failure = failure;
        samples.push(sample);
      }
    };
    /** The sample of median RSS among some taken at `times`. */
    const memorySamples = async (times: number[]) => {
      const trees: TreeMemory[] = [];
      for (const time of times) {
        await until(time);
        const tree = await memoryNow();
        if (tree !== undefined) trees.push(tree);
      }
      return trees.sort((a, b) => a.rssKiB - b.rssKiB)[Math.floor(trees.length / 2)];
    };
    const editor = async () => {
      const firstEdit = start + WARM_UP;
      const before = await memorySamples(MEMORY_SAMPLES.map((d) => firstEdit - d));
      // Each write at least EDIT_EVERY after the last one, so that each can be measured.
      let planned = firstEdit;
      for (let k = 1; k <= EDITS; k++) {
        if (planned > end - QUIET_END) break;
        await until(planned);
        const version = k + 1;
        const file = k % 2 === 1 ? "logic" : "entry";
        const text = app.source(file, version);
        const at = performance.now();
        // Written and signalled in one synchronous step, as an operator's `kill -HUP` follows the save: an
        // awaited write would signal only once this process's own busy event loop (the load loops above)
        // came back to it, which a watcher such as bun --hot, woken by the write itself, never waits for.
        if (EDIT_KIND === "none") {
          // The control: the same write, to a file no runner loads, and no signal.
          Deno.writeTextFileSync(`${app.path(file)}.control`, text);
        } else {
          Deno.writeTextFileSync(app.path(file), text);
          if (SIGNALLED.has(name)) running.kill("SIGHUP");
        }
        edits.push({ at: at - start, version, file });
        planned = at + EDIT_EVERY;
      }
      const after = await memorySamples(MEMORY_SAMPLES.map((d) => end - d));
      return { before, after };
    };
    const [rss] = await Promise.all([
      editor(),
      ...Array.from({ length: CONCURRENCY }, client("", "/")),
      ...Array.from({ length: SLOW_CONCURRENCY }, client(`slow?ms=${SLOW_MS}`, "/slow")),
    ]);
    await until(performance.now() + IDLE_BEFORE_SAMPLE);
    const idle = await memoryNow();
    // The quiet phase: MEMORY_EDITS more changes, no load, each awaited until
    // the new code answers; RSS idle before and after. Under load, RSS moves
    // by hundreds of KiB with the requests alone, more than 22 changes leave.
    let quiet: Memory["quiet"];
    if (!RESTARTS.has(name) && EDIT_KIND !== "none" && MEMORY_EDITS > 0 && idle !== undefined) {
      let version = (edits.at(-1)?.version ?? 1) + 1;
      for (let k = 0; k < MEMORY_EDITS; k++, version++) {
        const file = k % 2 === 0 ? "logic" : "entry";
        await Deno.writeTextFile(app.path(file), app.source(file, version));
        if (SIGNALLED.has(name)) running.kill("SIGHUP");
        await servedVersion(base, version);
      }
      await until(performance.now() + IDLE_BEFORE_SAMPLE);
      const after = await memoryNow();
      if (after !== undefined) quiet = { changes: MEMORY_EDITS, before: idle.rssKiB, after: after.rssKiB };
    }
    if (rss.before !== undefined && rss.after !== undefined) {
      memory = {
        before: rss.before.rssKiB,
        after: rss.after.rssKiB,
        afterIdle: idle?.rssKiB,
        quiet,
        processes: [rss.before.processes.length, rss.after.processes.length],
        restarts: RESTARTS.has(name),
      };
    }
  } catch (error) {
    const said = stderr?.lines();
    throw new Error(
      `${name}: ${error instanceof Error ? error.message : String(error)}${said ? `\n${said}` : ""}`,
    );
  } finally {
    if (server !== undefined) {
      const children = [...seen].filter(([pid]) => pid !== server!.pid).map(([pid, comm]) => ({ pid, comm }));
      const warning = await stopServer(server, children);
      if (warning !== undefined) console.warn(`  warning: ${warning}`);
      await stderr?.done;
    }
    await Deno.remove(app.dir, { recursive: true });
  }
  return { name, samples, edits, memory };
}

/** Polls `GET /` until it answers from `version` or later; at most 10 s. */
async function servedVersion(base: string, version: number): Promise<void> {
  const deadline = performance.now() + 10_000;
  while (performance.now() < deadline) {
    try {
      const response = await fetch(base, { signal: AbortSignal.timeout(2_000) });
      const served = answeringVersion(await response.text(), response.headers);
      if (served !== undefined && served >= version) return;
    } catch { /* restarting or busy: ask again */ }
  }
  throw new Error(`version ${version} did not answer within 10 s`);
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

if (import.meta.main) {
  const runners = (values.only ?? [...RUNNERS]) as RunnerName[];
  const unknown = runners.filter((name) => !(RUNNERS as readonly string[]).includes(name));
  if (unknown.length > 0) {
    console.error(`Unknown runner(s): ${unknown.join(", ")}; choose from ${RUNNERS.join(", ")}`);
    Deno.exit(2);
  }
  let bun: BunInstall | undefined;
  if (runners.includes("bun-hot")) {
    bun = await ensureBun();
    if ("skipped" in bun) console.warn(`skipping bun-hot: ${bun.skipped}`);
  }
  const options: CommandOptions = {
    denoDefaults: DENO_DEFAULTS,
    bun: bun !== undefined && "path" in bun ? bun.path : undefined,
  };
  console.log(
    `Load: ${CONCURRENCY} loops on / and ${SLOW_CONCURRENCY} on /slow?ms=${SLOW_MS}, ${DURATION} ms per runner; ` +
      (EDIT_KIND === "none"
        ? `${EDITS} writes of a file no runner loads, no signal (the control), `
        : `${EDITS} edits of ${
          EDIT_KIND === "code" ? "code" : "a string"
        } (logic, entry, then alternating), `) +
      `one every ${EDIT_EVERY} ms after ${WARM_UP} ms ` +
      `(Deno ${Deno.version.deno}${options.bun === undefined ? "" : `, Bun ${BUN_VERSION}`}; our runners ` +
      `${
        DENO_DEFAULTS ? "with Deno's default caches" : "with --no-code-cache, DENO_EMIT_CACHE_MODE=disable"
      })`,
  );
  const fit = Math.max(0, Math.floor((DURATION - WARM_UP - QUIET_END) / EDIT_EVERY) + 1);
  if (fit < EDITS) {
    console.log(`  (--duration ${DURATION} leaves room for about ${fit} of the ${EDITS} edits)`);
  }
  const rounds: Round[] = [];
  try {
    for (let round = 1; round <= ROUNDS; round++) {
      if (ROUNDS > 1) console.log(`round ${round} of ${ROUNDS}`);
      const results: RunnerResult[] = [];
      for (const name of runners) {
        if (name === "bun-hot" && options.bun === undefined) continue;
        console.log(`running ${name}…`);
        try {
          results.push(await runOne(name, freePort(), options));
        } catch (error) {
          console.error(
            `  ${name} failed, left out: ${error instanceof Error ? error.message : String(error)}`,
          );
        }
      }
      const summaries = results.map((result) => summarise(result, AFTER_EDIT_WINDOW));
      rounds.push({ results, summaries });
      printTable(summaries, results, AFTER_EDIT_WINDOW, round === ROUNDS);
    }
  } finally {
    if (bun !== undefined && "cleanup" in bun) await bun.cleanup();
  }
  if (ROUNDS > 1) { for (const line of tally(rounds)) console.log(line); }
  const { results, summaries } = rounds.at(-1) ?? { results: [], summaries: [] };
  if (values.json) {
    await Deno.writeTextFile(
      values.json,
      JSON.stringify({
        deno: Deno.version.deno,
        bun: options.bun === undefined ? null : BUN_VERSION,
        duration: DURATION,
        concurrency: CONCURRENCY,
        slowConcurrency: SLOW_CONCURRENCY,
        editEvery: EDIT_EVERY,
        edit: EDIT_KIND,
        denoDefaults: DENO_DEFAULTS,
        summaries,
        results,
      }),
    );
    console.log(`samples written to ${values.json}`);
  }
  if (values.chart) {
    const runs = results.map(({ name, samples, edits }) => ({
      name,
      edits,
      // /slow answers after 300 ms by design: the chart shows GET / only.
      samples: samples.filter((s) => s.route === "/").map((s) => ({
        at: s.at,
        latency: s.end - s.at,
        ok: s.ok,
      })),
    }));
    await Deno.writeTextFile(values.chart, await latencyChart(runs, EDIT_EVERY));
    console.log(`chart written to ${values.chart}`);
  }
}
