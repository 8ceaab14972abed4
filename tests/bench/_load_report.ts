/**
 * The load harness's records (one per request, one per edit) and what it
 * reports from them: per runner, the summary figures and the table.
 *
 * @module
 */

/** The routes the load requests. */
export type Route = "/" | "/slow";

/** One request as the client saw it. */
export interface Sample {
  route: Route;
  /** Start, in ms since the runner's load began. */
  at: number;
  /** End (response body read, or failure), in ms since the runner's load began. */
  end: number;
  ok: boolean;
  /** The version that answered: the larger of the body's (the logic's) and the entry's header. */
  version: number | undefined;
  /** Why it failed: the status and body, or the fetch error. */
  failure?: string;
}

/** One edit: when the file was written, which one, and the version it brings. */
export interface Edit {
  /** Just before the write call, in ms since the runner's load began. */
  at: number;
  version: number;
  /** `logic`: so/app_logic.ts (a dependency of the entry); `entry`: so/app.ts itself. */
  file: "logic" | "entry";
}

/** Resident memory of the server (and its child processes, if any), in KiB. */
export interface Memory {
  /** Median of samples taken under load just before the first edit. */
  before: number;
  /** Median of samples taken under load at the end of the run, a second or more after the last edit. */
  after: number;
  /** One sample once the load has stopped and the server has idled 500 ms. */
  afterIdle: number | undefined;
  /** Processes summed before and after (the server plus children: process isolation's generations). */
  processes: [before: number, after: number];
  /** The server restarts its program on changes (deno --watch), so growth is not per change. */
  restarts: boolean;
  /** The quiet phase after the load: `changes` more, each served before the next; RSS idle before and after. */
  quiet: { changes: number; before: number; after: number } | undefined;
}

/** Everything recorded while one runner served the load. */
export interface RunnerResult {
  name: string;
  samples: Sample[];
  edits: Edit[];
  memory: Memory | undefined;
}

interface Latencies {
  p50: number;
  p99: number;
  max: number;
}

/** Summary figures of one runner. */
export interface Summary {
  runner: string;
  requests: number;
  failed: number;
  /** `GET /` latencies of requests starting outside the windows after edits. */
  steady: Latencies;
  /** `GET /` latencies of requests starting within `afterEditWindow` ms after an edit. */
  afterEdit: Latencies;
  editsWritten: number;
  editsServed: number;
  writeToNewCode: { p50: number; p90: number; p99: number; max: number };
  /**
   * `/slow` requests in flight at an edit (started before its write, ended
   * after the first response from its version or a later one), and how many
   * of them answered with a version older than that edit's, or failed.
   */
  slowInFlight: { total: number; old: number; failed: number };
  /** (after − before) / edits, in KiB; `undefined` without edits or samples. */
  rssPerChangeKiB: number | undefined;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

function latencies(samples: Sample[]): Latencies {
  const sorted = samples.filter((s) => s.ok).map((s) => s.end - s.at).sort((a, b) => a - b);
  return { p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted.at(-1) ?? NaN };
}

/**
 * Summarises one runner's records.
 *
 * @param result The records.
 * @param afterEditWindow Milliseconds after a write within which a request counts as "after edit".
 */
export function summarise({ name, samples, edits, memory }: RunnerResult, afterEditWindow: number): Summary {
  const editTimes = edits.map((e) => e.at);
  const nearEdit = (at: number) => editTimes.some((t) => at >= t && at < t + afterEditWindow);
  const root = samples.filter((s) => s.route === "/");
  // For each edit, the first response (by completion time) carrying its version or a later one.
  const done = samples.filter((s) => s.ok && s.version !== undefined)
    .map((s) => ({ end: s.end, version: s.version! }))
    .sort((a, b) => a.end - b.end);
  const delays: number[] = [];
  /** When each edit's code (or a later one) first answered, by edit. */
  const newCodeAt = new Map<Edit, number>();
  let served = 0;
  for (const edit of edits) {
    const first = done.find((d) => d.end >= edit.at && d.version >= edit.version);
    if (first === undefined) continue;
    newCodeAt.set(edit, first.end);
    delays.push(first.end - edit.at);
    if (done.some((d) => d.version === edit.version)) served++;
  }
  delays.sort((a, b) => a - b);
  const slowInFlight = { total: 0, old: 0, failed: 0 };
  for (const slow of samples) {
    if (slow.route !== "/slow") continue;
    // The first edit this request straddled: written after it started, its new code answering before it ended.
    const edit = edits.find((e) => {
      const newAt = newCodeAt.get(e);
      return newAt !== undefined && slow.at < e.at && slow.end > newAt;
    });
    if (edit === undefined) continue;
    slowInFlight.total++;
    if (!slow.ok) slowInFlight.failed++;
    else if (slow.version !== undefined && slow.version < edit.version) slowInFlight.old++;
  }
  return {
    runner: name,
    requests: samples.length,
    failed: samples.filter((s) => !s.ok).length,
    steady: latencies(root.filter((s) => !nearEdit(s.at))),
    afterEdit: latencies(root.filter((s) => nearEdit(s.at))),
    editsWritten: edits.length,
    editsServed: served,
    writeToNewCode: {
      p50: percentile(delays, 50),
      p90: percentile(delays, 90),
      p99: percentile(delays, 99),
      max: delays.at(-1) ?? NaN,
    },
    slowInFlight,
    rssPerChangeKiB: memory === undefined || edits.length === 0
      ? undefined
      : (memory.after - memory.before) / edits.length,
  };
}

function ms(value: number): string {
  return Number.isNaN(value) ? "-" : value.toFixed(1);
}

/** RSS growth per change of the quiet phase, in KiB; `undefined` when the runner had none. */
export function quietPerChangeKiB(memory: Memory | undefined): number | undefined {
  const quiet = memory?.quiet;
  return quiet === undefined ? undefined : (quiet.after - quiet.before) / quiet.changes;
}

function quietRss(memory: Memory | undefined): string {
  const figure = quietPerChangeKiB(memory);
  if (figure === undefined) return "-";
  return `${figure >= 0 ? "+" : ""}${figure.toFixed(0)} (${memory!.quiet!.changes})`;
}

function rss(summary: Summary, memory: Memory | undefined): string {
  if (summary.rssPerChangeKiB === undefined || memory === undefined) return "-";
  const figure = `${summary.rssPerChangeKiB >= 0 ? "+" : ""}${summary.rssPerChangeKiB.toFixed(0)}`;
  const [before, after] = memory.processes;
  const notes = [
    ...(memory.restarts ? ["restarts"] : []),
    ...(before > 1 || after > 1 ? [`${before}→${after} processes`] : []),
  ];
  return notes.length === 0 ? figure : `${figure} (${notes.join(", ")})`;
}

/**
 * Prints the table of all runners, then what its columns mean.
 *
 * @param summaries One per runner.
 * @param results The same runners' records (for their memory samples).
 * @param afterEditWindow As given to {@linkcode summarise}.
 * @param legend Whether to say what the columns mean after the table.
 */
export function printTable(
  summaries: Summary[],
  results: RunnerResult[],
  afterEditWindow: number,
  legend = true,
): void {
  const header = [
    "runner",
    "requests",
    "failed",
    "steady p50/p99 ms",
    "after-edit p99 ms",
    "edits served/written",
    "write→new code p50/p90/p99 ms",
    "in-flight /slow on old code",
    "RSS KiB/change",
    "quiet RSS KiB/change",
  ];
  const rows = summaries.map((s, i) => [
    s.runner,
    String(s.requests),
    String(s.failed),
    `${ms(s.steady.p50)} / ${ms(s.steady.p99)}`,
    ms(s.afterEdit.p99),
    `${s.editsServed} / ${s.editsWritten}`,
    `${ms(s.writeToNewCode.p50)} / ${ms(s.writeToNewCode.p90)} / ${ms(s.writeToNewCode.p99)}`,
    `${s.slowInFlight.old}/${s.slowInFlight.total}${
      s.slowInFlight.failed > 0 ? ` (${s.slowInFlight.failed} failed)` : ""
    }`,
    rss(s, results[i]?.memory),
    quietRss(results[i]?.memory),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(" | ")} |`;
  console.log(line(header));
  console.log(`|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`);
  for (const row of rows) console.log(line(row));
  if (!legend) return;
  console.log(
    [
      `requests/failed: both routes. steady and after-edit: GET / only; after-edit = started within ${afterEditWindow} ms after a write.`,
      "write→new code: from just before a write to the first response from that version or a later one.",
      "in-flight /slow on old code: of the /slow requests started before a write and ended after its new code first answered,",
      "  how many answered with the version from before that write (a restart fails them before its new code answers:",
      "  those count as failed requests, not here).",
      "RSS KiB/change: (RSS after the last edit − RSS before the first) / edits, of the server process and its children",
      "  (a→b processes: summed before → after); (restarts): the runner restarts the program instead of swapping it.",
      "quiet RSS KiB/change: after the load, (n) more changes with no load, each served before the next; RSS idle",
      "  500 ms before the first and after the last, over n.",
    ].join("\n"),
  );
}
