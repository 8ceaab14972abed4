/**
 * What {@linkcode Hotswap.swap} takes and gives back.
 *
 * @module
 */

import type { RetireReport } from "./generation.ts";

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
