/**
 * The options of {@linkcode runRollout} and {@linkcode beginRollout},
 * checked once and resolved to their defaults before anything is written to
 * the store, so a mistake leaves the channel as it was.
 *
 * @module
 */

import type { RolloutState } from "../store/store.ts";
import type { GateDecision } from "./gate.ts";
import type { HotswapError } from "../errors.ts";
import { withinTimerLimit } from "../_timer_limit.ts";

/** Options of {@linkcode runRollout}. */
export interface RolloutOptions {
  /**
   * Percentages of hosts on the candidate, step by step; the last must be 100.
   *
   * @default {[10, 50, 100]}
   */
  steps?: readonly number[];
  /**
   * Milliseconds each step runs before the gate judges it.
   *
   * @default {30000}
   */
  bakeMs?: number;
  /**
   * The canary's highest acceptable error rate.
   *
   * @default {0.01}
   */
  maxErrorRate?: number;
  /** The canary's highest acceptable p99 in ms; not gated on latency when left out. */
  maxP99Ms?: number;
  /**
   * Milliseconds a step's canary hosts have to load the candidate.
   *
   * @default {60000}
   */
  progressDeadlineMs?: number;
  /**
   * Milliseconds between two looks at the reports.
   *
   * @default {100}
   */
  pollMs?: number;
  /** Stops the controller (the rollout stays as it is in the store, to resume). */
  signal?: AbortSignal;
  /** Told of each transition and each change of the gate's verdict. */
  onProgress?: (event: RolloutEvent) => void;
}

/** What {@linkcode RolloutOptions.onProgress} hears. */
export type RolloutEvent =
  | { readonly type: "start" | "resume"; readonly rollout: RolloutState }
  | { readonly type: "step"; readonly rollout: RolloutState }
  | { readonly type: "gate"; readonly rollout: RolloutState; readonly decision: GateDecision }
  /**
   * The store failed (`error`), and the controller asks again until it
   * answers; then once more, without `error`. Hosts get their reporting
   * window again from then on, as they could not report meanwhile.
   */
  | { readonly type: "store"; readonly rollout: RolloutState; readonly error: HotswapError | undefined };

/** The settings a new rollout is stored with: {@linkcode RolloutOptions} resolved. */
export interface Settings {
  /** Percentages of hosts on the candidate, rising to 100. */
  readonly steps: readonly number[];
  /** Milliseconds each step runs before the gate judges it. */
  readonly bakeMs: number;
  /** The canary's highest acceptable error rate. */
  readonly maxErrorRate: number;
  /** The canary's highest acceptable p99 in ms, if gated on latency. */
  readonly maxP99Ms: number | undefined;
  /** Milliseconds a step's canary hosts have to load the candidate. */
  readonly progressDeadlineMs: number;
}

const DEFAULT_STEPS: readonly number[] = [10, 50, 100];
const DEFAULT_BAKE_MS = 30_000;
const DEFAULT_MAX_ERROR_RATE = 0.01;
const DEFAULT_PROGRESS_DEADLINE_MS = 60_000;
const DEFAULT_POLL_MS = 100;

/**
 * The settings of `options`, defaulted.
 *
 * @throws {RangeError} Steps that do not rise to exactly 100, or a limit out of range.
 */
export function resolveSettings(options: RolloutOptions): Settings {
  const steps = options.steps ?? DEFAULT_STEPS;
  if (
    !Array.isArray(steps) || steps.length === 0 || steps.length > 100 ||
    !steps.every((step, i) =>
      Number.isFinite(step) && step > 0 && step <= 100 && (i === 0 || step > steps[i - 1]!)
    ) ||
    steps.at(-1) !== 100
  ) {
    throw new RangeError(
      `Cannot roll out: steps must rise from above 0 to exactly 100, as in 10,50,100; got ${String(steps)}`,
    );
  }
  const bakeMs = options.bakeMs ?? DEFAULT_BAKE_MS;
  const maxErrorRate = options.maxErrorRate ?? DEFAULT_MAX_ERROR_RATE;
  const progressDeadlineMs = options.progressDeadlineMs ?? DEFAULT_PROGRESS_DEADLINE_MS;
  if (!(bakeMs >= 0 && Number.isFinite(bakeMs))) {
    throw new RangeError(`Cannot roll out: bake must be at least 0 ms, got ${bakeMs}`);
  }
  if (!(maxErrorRate >= 0 && maxErrorRate <= 1)) {
    throw new RangeError(`Cannot roll out: the maximum error rate must be within 0-1, got ${maxErrorRate}`);
  }
  if (options.maxP99Ms !== undefined && !(options.maxP99Ms > 0 && Number.isFinite(options.maxP99Ms))) {
    throw new RangeError(`Cannot roll out: the maximum p99 must be above 0 ms, got ${options.maxP99Ms}`);
  }
  if (!(progressDeadlineMs > 0 && Number.isFinite(progressDeadlineMs))) {
    throw new RangeError(
      `Cannot roll out: the progress deadline must be above 0 ms, got ${progressDeadlineMs}`,
    );
  }
  withinTimerLimit("Cannot roll out: bake", bakeMs);
  withinTimerLimit("Cannot roll out: the progress deadline", progressDeadlineMs);
  return { steps, bakeMs, maxErrorRate, maxP99Ms: options.maxP99Ms, progressDeadlineMs };
}

/** Milliseconds between two looks of the controller at the reports. */
export function pollMsOf(options: RolloutOptions): number {
  return options.pollMs ?? DEFAULT_POLL_MS;
}
