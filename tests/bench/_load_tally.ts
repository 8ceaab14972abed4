/**
 * The load harness over several rounds (`deno task bench:load --rounds N`):
 * one run says little on a machine whose steady p99 moves 1-5 ms from one
 * minute to the next, so each round runs every runner again, in turn, and
 * this tallies how often each target of the harness held, round by round,
 * against the runner beside it in the same round.
 *
 * The targets are those of BENCHMARKS.md: the p99 of requests starting in
 * the 50 ms after a write within 1.5x the steady p99; and, for each runner
 * of ours beside `bun --hot`, write → new code (median) at most bun's + 1 ms
 * and quiet memory per change at most bun's + 10 KiB.
 *
 * @module
 */

import { quietPerChangeKiB, type RunnerResult, type Summary } from "./_load_report.ts";

/** One round: each runner that completed in it, with its summary (same order). */
export interface Round {
  readonly results: readonly RunnerResult[];
  readonly summaries: readonly Summary[];
}

/** The most the after-edit p99 may be, as a multiple of the steady p99. */
const AFTER_EDIT_RATIO = 1.5;
/** How much later than bun's our median write → new code may be, in ms. */
const LATENCY_MARGIN_MS = 1;
/** How much more than bun's our quiet memory per change may be, in KiB. */
const MEMORY_MARGIN_KIB = 10;
/** The peer the margins are measured against. */
const PEER = "bun-hot";

/** One runner in one round: the figures the targets read. */
interface Figures {
  readonly ratio: number;
  readonly writeToNewCode: number;
  readonly quietKiB: number | undefined;
  readonly failed: number;
  readonly slowOld: number;
  readonly slowTotal: number;
}

function figuresOf(summary: Summary, result: RunnerResult): Figures {
  return {
    ratio: summary.afterEdit.p99 / summary.steady.p99,
    writeToNewCode: summary.writeToNewCode.p50,
    quietKiB: quietPerChangeKiB(result.memory),
    failed: summary.failed,
    slowOld: summary.slowInFlight.old,
    slowTotal: summary.slowInFlight.total,
  };
}

function median(values: readonly number[]): number {
  const sorted = values.toSorted((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

function range(values: readonly number[], digits: number): string {
  if (values.length === 0) return "-";
  return `${Math.min(...values).toFixed(digits)} to ${Math.max(...values).toFixed(digits)}`;
}

function signed(value: number, digits: number): string {
  return `${value >= 0 ? "+" : ""}${value.toFixed(digits)}`;
}

/**
 * The tally of several rounds, as lines: per runner, how often its after-edit
 * p99 held within 1.5x the steady p99, and the spread of its figures; then,
 * for each runner of ours, how often it held the margins against `bun --hot`
 * of the same round.
 *
 * @param rounds Each round's records and summaries.
 */
export function tally(rounds: readonly Round[]): string[] {
  const byRunner = new Map<string, (Figures | undefined)[]>();
  rounds.forEach(({ results, summaries }, round) => {
    results.forEach((result, i) => {
      const row = byRunner.get(result.name) ?? Array.from({ length: rounds.length }, () => undefined);
      row[round] = figuresOf(summaries[i]!, result);
      byRunner.set(result.name, row);
    });
  });
  const lines = [`Over ${rounds.length} rounds (a round runs every runner once, in turn):`];
  for (const [name, row] of byRunner) {
    const ran = row.filter((figures) => figures !== undefined);
    const ratios = ran.map((f) => f.ratio);
    const quiet = ran.map((f) => f.quietKiB).filter((kib) => kib !== undefined);
    const failed = ran.reduce((sum, f) => sum + f.failed, 0);
    const slowOld = ran.reduce((sum, f) => sum + f.slowOld, 0);
    const slowTotal = ran.reduce((sum, f) => sum + f.slowTotal, 0);
    lines.push(
      `- ${name} (${ran.length} rounds): after-edit p99 within ${AFTER_EDIT_RATIO}x the steady p99 in ${
        ratios.filter((r) => r <= AFTER_EDIT_RATIO).length
      } of ${ran.length}, median ${median(ratios).toFixed(2)}x (${
        range(ratios, 2)
      }); write → new code median ${median(ran.map((f) => f.writeToNewCode)).toFixed(1)} ms (${
        range(ran.map((f) => f.writeToNewCode), 1)
      }); quiet memory per change ${
        quiet.length === 0 ? "-" : `median ${signed(median(quiet), 0)} KiB (${range(quiet, 0)})`
      }; ${failed} failed requests; in-flight /slow on old code ${slowOld}/${slowTotal}`,
    );
  }
  const peer = byRunner.get(PEER);
  if (peer === undefined) return lines;
  for (const [name, row] of byRunner) {
    if (name === PEER) continue;
    const gaps: number[] = [];
    const memoryGaps: number[] = [];
    let fast = 0, small = 0, both = 0, paired = 0;
    row.forEach((ours, round) => {
      const theirs = peer[round];
      if (ours === undefined || theirs === undefined) return;
      paired++;
      const gap = ours.writeToNewCode - theirs.writeToNewCode;
      gaps.push(gap);
      const memoryGap = ours.quietKiB === undefined || theirs.quietKiB === undefined
        ? undefined
        : ours.quietKiB - theirs.quietKiB;
      if (memoryGap !== undefined) memoryGaps.push(memoryGap);
      const inTime = gap <= LATENCY_MARGIN_MS;
      const inMemory = memoryGap !== undefined && memoryGap <= MEMORY_MARGIN_KIB;
      if (inTime) fast++;
      if (inMemory) small++;
      if (inTime && inMemory) both++;
    });
    if (paired === 0) continue;
    lines.push(
      `- ${name} against ${PEER}, ${paired} rounds with both: write → new code within ${PEER}'s + ${LATENCY_MARGIN_MS} ms in ${fast} of ${paired} (gap median ${
        signed(median(gaps), 2)
      } ms, ${
        range(gaps, 2)
      }); quiet memory per change within ${PEER}'s + ${MEMORY_MARGIN_KIB} KiB in ${small} of ${paired}${
        memoryGaps.length === 0
          ? ""
          : ` (gap median ${signed(median(memoryGaps), 0)} KiB, ${range(memoryGaps, 0)})`
      }; both in the same round ${both} of ${paired}`,
    );
  }
  return lines;
}
