/**
 * Where the slow requests after an edit start: reads the samples that
 * `deno task bench:load --json <file>` wrote (its last round) and, per
 * runner, buckets the `GET /` requests that started within 50 ms after a
 * write by how long after it they started, with how many took over 1.5x
 * the steady p99 (the after-edit target of `load.ts`), against that share
 * in the steady state.
 *
 * Run: deno run --allow-read tests/bench/after_edit_tail.ts <samples.json>
 *
 * @module
 */

import type { RunnerResult } from "./_load_report.ts";

const WINDOW_MS = 50;
const BUCKETS = [0, 1, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30, 40, 50];

const file = Deno.args[0];
if (file === undefined) {
  console.error("Usage: after_edit_tail.ts <samples.json written by bench:load --json>");
  Deno.exit(2);
}
const { results } = JSON.parse(await Deno.readTextFile(file)) as { results: RunnerResult[] };

for (const { name, samples, edits } of results) {
  const root = samples.filter((sample) => sample.route === "/" && sample.ok);
  const near: { after: number; latency: number }[] = [];
  const steady: number[] = [];
  for (const sample of root) {
    const edit = edits.find((edit) => sample.at >= edit.at && sample.at < edit.at + WINDOW_MS);
    const latency = sample.end - sample.at;
    if (edit === undefined) steady.push(latency);
    else near.push({ after: sample.at - edit.at, latency });
  }
  if (steady.length === 0 || near.length === 0) continue;
  steady.sort((a, b) => a - b);
  const p99 = steady[Math.min(steady.length - 1, Math.floor(steady.length * 0.99))]!;
  const slow = (latency: number) => latency > 1.5 * p99;
  const share = (part: number, whole: number) => `${(100 * part / whole).toFixed(2)}%`;
  const slowNear = near.filter((request) => slow(request.latency)).length;
  console.log(
    `${name}: steady p99 ${p99.toFixed(2)} ms, over 1.5x of it: ${
      share(steady.filter(slow).length, steady.length)
    } of ${steady.length} steady requests, ${share(slowNear, near.length)} of ${near.length} after edits`,
  );
  for (let i = 0; i + 1 < BUCKETS.length; i++) {
    const [from, to] = [BUCKETS[i]!, BUCKETS[i + 1]!];
    const inside = near.filter((request) => request.after >= from && request.after < to);
    const over = inside.filter((request) => slow(request.latency)).length;
    console.log(
      `  ${from}-${to} ms after a write: ${inside.length} requests, ${over} slow (${
        share(over, Math.max(1, inside.length))
      }; ${share(over, Math.max(1, slowNear))} of the slow ones)`,
    );
  }
}
