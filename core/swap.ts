/**
 * What {@linkcode Hotswap.swap} takes and gives back.
 *
 * @module
 */

import type { RetireReport } from "./generation.ts";
import { refuseUnknownOptions } from "./_known_options.ts";

/** Options of {@linkcode Hotswap.swap}. */
export interface SwapOptions {
  /** Pin of the new generation's digest; a mismatch is `E_INTEGRITY`. */
  integrity?: string;
  /**
   * Aborts the swap while it is queued or loading: it rejects with the
   * signal's reason and nothing changes. A load already running in the host's
   * isolate finishes in the background and is discarded before the next swap.
   */
  signal?: AbortSignal;
  /**
   * An explicit rollback to an older signed artifact: with a trust list, the
   * artifact's sequence may then be lower than the highest this reference
   * accepted (SPEC 12); every other check applies.
   *
   * @default {false}
   */
  rollback?: boolean;
  /**
   * Whether to ask the outgoing generation's `handoff()` for state; `false`
   * skips it (the way out when it always throws or hangs), and the new
   * generation's factory then gets `previous: undefined`.
   *
   * @default {true}
   */
  handoff?: boolean;
}

/** What a committed swap resolves to. */
export interface SwapResult {
  /** The new generation's number. */
  readonly generation: number;
  /** The new generation's digest. */
  readonly digest: string;
  /** Settles once the old generation is drained, disposed and unloaded; never rejects. */
  readonly retired: Promise<RetireReport>;
}

/** The keys of {@linkcode SwapOptions}: any other is refused. */
const SWAP_OPTIONS: readonly (keyof SwapOptions)[] = ["integrity", "signal", "rollback", "handoff"];

/**
 * Checks the options of a swap before it is queued: a mistyped option or a
 * signal that is no `AbortSignal` is the caller's mistake, refused at once
 * rather than failing later inside the queue.
 *
 * @throws {TypeError} Naming the option and what it must be.
 */
export function checkSwapOptions(options: SwapOptions): void {
  refuseUnknownOptions(options, SWAP_OPTIONS, "Cannot swap");
  const { signal, rollback, handoff } = options;
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw new TypeError(
      `Cannot swap: signal must be an AbortSignal (such as AbortSignal.timeout(5_000)), got ${
        signal === null ? "null" : typeof signal
      }`,
    );
  }
  checkFlag("Cannot swap", "rollback", rollback);
  checkFlag("Cannot swap", "handoff", handoff);
}

/**
 * Checks the options of a rollback: `{ hanoff: false }` ignored would call
 * the `handoff()` it means to skip.
 *
 * @throws {TypeError} Naming the option and what it must be.
 */
export function checkRollbackOptions(options: Pick<SwapOptions, "handoff">): void {
  refuseUnknownOptions(options, ["handoff"], "Cannot roll back");
  checkFlag("Cannot roll back", "handoff", options.handoff);
}

function checkFlag(subject: string, name: string, value: unknown): void {
  if (value !== undefined && typeof value !== "boolean") {
    throw new TypeError(
      `${subject}: ${name} must be true or false, got ${JSON.stringify(value) ?? typeof value}`,
    );
  }
}
