/**
 * The options of {@linkcode watchGraph} and what its swaps come to; the
 * quiet periods are checked once and resolved to their defaults here.
 *
 * @module
 */

import type { HotswapError } from "./errors.ts";
import type { SwapResult } from "./hotswap.ts";
import { withinTimerLimit } from "./_timer_limit.ts";

/** What one swap started by the watcher came to. */
export type WatchOutcome =
  | {
    /** The swap was committed. */
    readonly ok: true;
    /** The files whose changes led to it. */
    readonly changed: readonly string[];
    /** The swap's result. */
    readonly result: SwapResult;
  }
  | {
    /** The swap was refused; the current generation keeps serving. */
    readonly ok: false;
    /** The files whose changes led to it. */
    readonly changed: readonly string[];
    /** Why it was refused. */
    readonly error: HotswapError;
  };

/** Options of {@linkcode watchGraph}. */
export interface WatchOptions {
  /**
   * Milliseconds of quiet to wait, once every changed file is complete
   * (closed after writing, or renamed into place), before swapping: files
   * saved within it of each other make one swap.
   *
   * @default {5}
   */
  settle?: number;
  /**
   * Milliseconds of quiet after the last change before swapping when a
   * changed file was not seen complete: on platforms that report no close
   * (macOS, Windows), after a change that closes nothing (`chmod`, a
   * removal), or when a writer pauses this long with the file still open.
   * Never shorter than `settle`.
   *
   * @default {100}
   */
  debounce?: number;
  /**
   * Called for each change of a watched file, once the watcher has taken it
   * in. `kind` is the event's kind as `Deno.watchFs` reported it ("access" is
   * a file closed after writing); `complete` is whether the file is complete
   * (swap after `settle`) or may still be written (wait for more, or for
   * `debounce` of quiet).
   */
  onChange?: (change: {
    readonly path: string;
    readonly kind: Deno.FsEvent["kind"];
    readonly complete: boolean;
  }) => void;
  /** Called after each swap the watcher started, committed or refused. */
  onSwap?: (outcome: WatchOutcome) => void;
  /**
   * Called when the watcher cannot watch a new graph's directories (it keeps
   * watching the old ones). Without it the error is printed with `console.error`.
   */
  onError?: (error: HotswapError) => void;
  /** Closes the watcher when aborted. */
  signal?: AbortSignal;
}

const DEFAULT_SETTLE = 5;
const DEFAULT_DEBOUNCE = 100;

/**
 * The quiet periods of `options`, defaulted.
 *
 * @throws {RangeError} When `settle` or `debounce` is negative or not finite.
 */
export function quietPeriods(options: WatchOptions): { settle: number; debounce: number } {
  return {
    settle: milliseconds("settle", options.settle, DEFAULT_SETTLE),
    debounce: milliseconds("debounce", options.debounce, DEFAULT_DEBOUNCE),
  };
}

function milliseconds(name: string, value: unknown, fallback: number): number {
  const ms = value ?? fallback;
  if (typeof ms !== "number" || !Number.isFinite(ms) || ms < 0) {
    throw new RangeError(
      `Cannot watch: ${name} must be a finite number of milliseconds, at least 0, got ${String(ms)}`,
    );
  }
  return withinTimerLimit(`Cannot watch: ${name}`, ms);
}
