/**
 * Load harness (`deno task bench:load`): serves the sample HTTP app under a
 * bounded load while its logic is edited every 100 ms, four ways:
 *
 * - `hotswap`: demo/server.ts, swapping on SIGHUP after each edit;
 * - `hotswap-watch`: demo/server.ts with `--watch`, swapping when it sees the edit;
 * - `watch`: a plain server importing the app, under `deno run --watch` (restart);
 * - `watch-hmr`: the same plain server under `deno run --watch-hmr`.
 *
 * Every request's start time, latency, outcome and answering version is
 * recorded. It prints, per runner, total and failed requests, latency
 * p50/p99/max in steady state and in the 50 ms after each edit, edits
 * applied, and the time from a file write to the first response from the new
 * code (p50/p90/p99). That time runs from just before the write call (the new
 * text is prepared beforehand) to the moment the client has read a response
 * body naming the new version (or a later one). With `--json <file>` it also writes the raw samples, and with
 * `--chart <file.svg>` a chart of latency over time with the edits marked.
 *
 * Bounded: each runner lasts `--duration` ms (default 8,000), every process
 * started is stopped, and the temporary copy of the app is removed.
 *
 * Usage: deno task bench:load [--duration ms] [--concurrency n] [--edit-every ms] [--only name]
 *        [--json file] [--chart file.svg]
 */

import { parseArgs } from "node:util";
import { join } from "node:path";
import { latencyChart } from "./_chart.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    duration: { type: "string", default: "8000" },
    concurrency: { type: "string", default: "4" },
    "edit-every": { type: "string", default: "100" },
    only: { type: "string", multiple: true },
    json: { type: "string" },
    chart: { type: "string" },
  },
});
const DURATION = Number(values.duration);
const CONCURRENCY = Number(values.concurrency);
const EDIT_EVERY = Number(values["edit-every"]);
const AFTER_EDIT_WINDOW = 50;
const REPO = new URL("../../", import.meta.url).pathname;

type RunnerName = "hotswap" | "hotswap-watch" | "watch" | "watch-hmr";

/** One request as the client saw it. */
interface Sample {
  /** Start, in ms since the runner's load began. */
  at: number;
  latency: number;
  ok: boolean;
  /** Version number in the body, when it answered. */
  version: number | undefined;
}

/** One edit: when the file was written, and its version. */
interface Edit {
  /** Just before the write call, in ms since the runner's load began. */
  at: number;
  version: number;
}

interface RunnerResult {
  name: RunnerName;
  samples: Sample[];
  edits: Edit[];
}

const BASELINE_SERVER = `import { hs_httpApp } from "./so/app.ts";
const app = hs_httpApp({ generation: 1, digest: "", previous: undefined, signal: new AbortController().signal });
const port = Number(Deno.args[0]);
Deno.serve({ hostname: "127.0.0.1", port, onListen: () => {} }, async (request) => {
  // Converts the request as demo/server.ts does, so both servers do the same work.
  const headers = Object.fromEntries(request.headers);
  const answer = await app.handle({ method: request.method, url: request.url, headers, body: await request.text() });
  return new Response(answer.body, { status: answer.status ?? 200, headers: answer.headers });
});
`;

/** Copies the app (and what its type-only imports name) into a fresh directory. */
async function prepareApp(): Promise<string> {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "hotswap_load_" }));
  for (const sub of ["so", "types", "core"]) {
    await Deno.mkdir(join(dir, sub));
    for await (const entry of Deno.readDir(join(REPO, sub))) {
      if (entry.isFile && entry.name.endsWith(".ts")) {
        await Deno.copyFile(join(REPO, sub, entry.name), join(dir, sub, entry.name));
      }
    }
  }
  await Deno.writeTextFile(join(dir, "baseline_server.ts"), BASELINE_SERVER);
  await Deno.writeTextFile(logicPath(dir), await versionSource(dir, 1));
  return dir;
}

function logicPath(dir: string): string {
  return join(dir, "so", "app_logic.ts");
}

/** The app's logic with `VERSION` set to `v<version>`, prepared before the timed write. */
async function versionSource(dir: string, version: number): Promise<string> {
  const source = await Deno.readTextFile(logicPath(dir));
  return source.replace(/VERSION = "v\d+"/, `VERSION = "v${version}"`);
}

function serverCommand(name: RunnerName, dir: string, port: number): Deno.Command {
  const read = `--allow-read=${REPO},${dir}`;
  const net = "--allow-net=127.0.0.1";
  const args = name === "hotswap" || name === "hotswap-watch"
    ? [
      "run",
      read,
      net,
      join(REPO, "demo/server.ts"),
      "--port",
      String(port),
      ...(name === "hotswap-watch" ? ["--watch"] : []),
      join(dir, "so/app.ts"),
    ]
    : [
      "run",
      name === "watch" ? "--watch" : "--watch-hmr",
      read,
      net,
      join(dir, "baseline_server.ts"),
      String(port),
    ];
  return new Deno.Command(Deno.execPath(), {
    args,
    cwd: dir,
    stdin: "null",
    stdout: "null",
    stderr: "null",
    env: { NO_COLOR: "1" },
  });
}

/** Waits until the server answers, for at most 15 s. */
async function waitUntilServing(url: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    try {
      const response = await fetch(url);
      await response.body?.cancel();
      if (response.ok) return;
    } catch { /* not listening yet */ }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`Server at ${url} did not answer within 15 s`);
}

async function runOne(name: RunnerName, port: number): Promise<RunnerResult> {
  const dir = await prepareApp();
  const server = serverCommand(name, dir, port).spawn();
  const url = `http://127.0.0.1:${port}/`;
  const samples: Sample[] = [];
  const edits: Edit[] = [];
  try {
    await waitUntilServing(url);
    const start = performance.now();
    const end = start + DURATION;
    const client = async () => {
      while (performance.now() < end) {
        const at = performance.now();
        let ok = false;
        let version: number | undefined;
        try {
          const response = await fetch(url, { signal: AbortSignal.timeout(5_000) });
          const body = await response.text();
          ok = response.ok;
          version = Number(/from v(\d+)/.exec(body)?.[1]) || undefined;
        } catch {
          ok = false;
        }
        samples.push({ at: at - start, latency: performance.now() - at, ok, version });
      }
    };
    const editor = async () => {
      let version = 1;
      // Leave a steady-state second at each end of the run.
      while (performance.now() + EDIT_EVERY < end - 1_000) {
        await new Promise((resolve) => setTimeout(resolve, EDIT_EVERY));
        if (performance.now() - start < 1_000) continue;
        version++;
        const text = await versionSource(dir, version);
        const at = performance.now() - start;
        await Deno.writeTextFile(logicPath(dir), text);
        if (name === "hotswap") server.kill("SIGHUP");
        edits.push({ at, version });
      }
    };
    await Promise.all([editor(), ...Array.from({ length: CONCURRENCY }, client)]);
  } finally {
    try {
      server.kill("SIGTERM");
    } catch { /* already gone */ }
    await server.status;
    await Deno.remove(dir, { recursive: true });
  }
  return { name, samples, edits };
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** Summary figures of one runner. */
export interface Summary {
  runner: RunnerName;
  requests: number;
  failed: number;
  steady: { p50: number; p99: number; max: number };
  afterEdit: { p50: number; p99: number; max: number };
  editsWritten: number;
  editsServed: number;
  writeToNewCode: { p50: number; p90: number; p99: number; max: number };
}

function latencies(samples: Sample[]): { p50: number; p99: number; max: number } {
  const sorted = samples.filter((s) => s.ok).map((s) => s.latency).sort((a, b) => a - b);
  return { p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted.at(-1) ?? NaN };
}

function summarise({ name, samples, edits }: RunnerResult): Summary {
  const editTimes = edits.map((e) => e.at);
  const nearEdit = (at: number) => editTimes.some((t) => at >= t && at < t + AFTER_EDIT_WINDOW);
  const afterEdit = samples.filter((s) => nearEdit(s.at));
  const steady = samples.filter((s) => !nearEdit(s.at));
  // For each edit, the first response (by completion time) carrying its version or a later one.
  const done = samples.filter((s) => s.ok && s.version !== undefined)
    .map((s) => ({ end: s.at + s.latency, version: s.version! }))
    .sort((a, b) => a.end - b.end);
  const delays: number[] = [];
  let served = 0;
  for (const edit of edits) {
    const first = done.find((d) => d.end >= edit.at && d.version >= edit.version);
    if (first === undefined) continue;
    delays.push(first.end - edit.at);
    if (done.some((d) => d.version === edit.version)) served++;
  }
  delays.sort((a, b) => a - b);
  return {
    runner: name,
    requests: samples.length,
    failed: samples.filter((s) => !s.ok).length,
    steady: latencies(steady),
    afterEdit: latencies(afterEdit),
    editsWritten: edits.length,
    editsServed: served,
    writeToNewCode: {
      p50: percentile(delays, 50),
      p90: percentile(delays, 90),
      p99: percentile(delays, 99),
      max: delays.at(-1) ?? NaN,
    },
  };
}

function ms(value: number): string {
  return Number.isNaN(value) ? "-" : value.toFixed(1);
}

function printTable(summaries: Summary[]): void {
  const header = [
    "runner",
    "requests",
    "failed",
    "steady p50/p99/max ms",
    "after-edit p50/p99/max ms",
    "edits served/written",
    "write→new code p50/p90/p99 ms",
  ];
  const rows = summaries.map((s) => [
    s.runner,
    String(s.requests),
    String(s.failed),
    `${ms(s.steady.p50)} / ${ms(s.steady.p99)} / ${ms(s.steady.max)}`,
    `${ms(s.afterEdit.p50)} / ${ms(s.afterEdit.p99)} / ${ms(s.afterEdit.max)}`,
    `${s.editsServed} / ${s.editsWritten}`,
    `${ms(s.writeToNewCode.p50)} / ${ms(s.writeToNewCode.p90)} / ${ms(s.writeToNewCode.p99)}`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(" | ")} |`;
  console.log(line(header));
  console.log(`|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`);
  for (const row of rows) console.log(line(row));
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

if (import.meta.main) {
  const runners = (values.only ?? ["hotswap", "hotswap-watch", "watch", "watch-hmr"]) as RunnerName[];
  console.log(
    `Load: ${CONCURRENCY} clients for ${DURATION} ms per runner, an edit every ${EDIT_EVERY} ms (Deno ${Deno.version.deno})`,
  );
  const results: RunnerResult[] = [];
  for (const name of runners) {
    console.log(`running ${name}…`);
    results.push(await runOne(name, freePort()));
  }
  printTable(results.map(summarise));
  if (values.json) {
    await Deno.writeTextFile(
      values.json,
      JSON.stringify({ duration: DURATION, concurrency: CONCURRENCY, results }),
    );
    console.log(`samples written to ${values.json}`);
  }
  if (values.chart) {
    await Deno.writeTextFile(values.chart, await latencyChart(results));
    console.log(`chart written to ${values.chart}`);
  }
}
