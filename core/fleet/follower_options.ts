/**
 * The options of {@linkcode Follower.start}, and what a follower asks of
 * its host: the `load` that makes an artifact serve, and the serving
 * generation's figures for the report.
 *
 * @module
 */

import type { Store } from "../store/store.ts";
import { withinTimerLimit } from "../_timer_limit.ts";

/** What the serving generation did, for the report. */
export interface ServingMetrics {
  /** The host's generation number now serving. */
  readonly generation: number;
  /** Calls on it since it started serving. */
  readonly calls: number;
  /** Of those, calls that threw or rejected. */
  readonly errors: number;
  /** Median latency of recent calls, in ms. */
  readonly p50: number;
  /** 99th percentile latency of recent calls, in ms. */
  readonly p99: number;
}

/** What a follower's `load` is asked to do beyond loading the artifact. */
export interface LoadStep {
  /**
   * Whether this load goes back to the channel's stable generation after an
   * aborted rollout: an explicit rollback, which may load an artifact older
   * (by sequence) than the candidate it replaces.
   */
  readonly rollback: boolean;
}

/** Options of {@linkcode Follower.start}. */
export interface FollowerOptions {
  /** The fleet's store. */
  readonly store: Store;
  /** The channel to follow. */
  readonly channel: string;
  /** This host's id, unique in the fleet. */
  readonly host: string;
  /**
   * Loads an artifact and makes it serve. Rejecting refuses the artifact (a
   * `HotswapError`'s `code` goes into the report); the serving generation
   * must stay as it was.
   */
  readonly load: (bytes: Uint8Array, digest: string, step: LoadStep) => Promise<void>;
  /** What the serving generation did (defaults to zeros). */
  readonly metrics?: () => ServingMetrics;
  /**
   * Milliseconds between two reports (and two looks at the channel).
   *
   * @default {1000}
   */
  readonly reportInterval?: number;
  /**
   * Told of failures the follower survives: the store unreachable, a refused
   * artifact; and once, `E_NOT_FOUND`, that the channel has no generation yet.
   */
  readonly onError?: (error: unknown) => void;
}

const DEFAULT_REPORT_INTERVAL = 1_000;

/** Figures of a host that serves nothing yet. */
export const NO_METRICS: ServingMetrics = { generation: 0, calls: 0, errors: 0, p50: 0, p99: 0 };

/**
 * The report interval of `options`, defaulted.
 *
 * @throws {RangeError} An interval that is not above 0.
 */
export function reportIntervalOf(options: FollowerOptions): number {
  const interval = options.reportInterval ?? DEFAULT_REPORT_INTERVAL;
  if (!(interval > 0 && Number.isFinite(interval))) {
    throw new RangeError(
      `Cannot follow "${options.channel}": reportInterval must be above 0 ms, got ${interval}`,
    );
  }
  return withinTimerLimit(`Cannot follow "${options.channel}": reportInterval`, interval);
}
