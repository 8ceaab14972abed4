/**
 * What a {@linkcode Hotswap} reports about itself: its counters
 * (`stats()`) and the generations it committed (`info()`, `history`). Plain
 * readonly data, copied out, so a caller cannot change the reference's books.
 *
 * @module
 */

import type { Provenance } from "./artifact.ts";
import type { GenerationState } from "./generation.ts";
import type { Isolation } from "./isolation.ts";

/** A generation as {@linkcode Hotswap.info} and {@linkcode Hotswap.history} describe it. */
export interface GenerationInfo {
  /** Its number. */
  readonly generation: number;
  /** Its digest. */
  readonly digest: string;
  /** Its entry file. */
  readonly path: string;
  /** Every file of its graph. */
  readonly files: readonly string[];
  /** Where it runs. */
  readonly isolation: Isolation;
  /** How it came: first load, swap or rollback. */
  readonly via: "register" | "swap" | "rollback";
  /** When it was committed (epoch ms). */
  readonly committedAt: number;
  /** When it finished retiring (epoch ms), once it has. */
  readonly retiredAt?: number;
  /** Whether it drained before `drainTimeout`, once retired. */
  readonly drained?: boolean;
  /** For a generation loaded from a `.hsgen` artifact: its manifest and the key that signed it. */
  readonly provenance?: Provenance;
}

/** Per-generation counters in {@linkcode HotswapStats}. */
export interface GenerationStats {
  /** The generation's number. */
  readonly generation: number;
  /** Serving, draining or retired. */
  readonly state: GenerationState;
  /** Calls running on it now. */
  readonly inflight: number;
  /** Calls ever started on it. */
  readonly calls: number;
  /** Calls on it that threw or rejected. */
  readonly errors: number;
  /** Median latency of its sampled calls, in ms. */
  readonly p50: number;
  /** 99th percentile latency of its sampled calls, in ms. */
  readonly p99: number;
}

/** Counters of a {@linkcode Hotswap}. */
export interface HotswapStats {
  /** Calls started through `with()`. */
  readonly calls: number;
  /** Generations committed after the first (swaps and rollbacks). */
  readonly swaps: number;
  /** Swaps refused. */
  readonly rejects: number;
  /** Rollbacks committed. */
  readonly rollbacks: number;
  /**
   * Sandboxes (workers) running this reference's generations now, the warm
   * standby included; 0 inline, and 0 once closed.
   */
  readonly sandboxes: number;
  /** Generations still live: the current one and any draining. */
  readonly generations: readonly GenerationStats[];
}
