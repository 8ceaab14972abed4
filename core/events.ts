/**
 * The events a {@linkcode Hotswap} dispatches, with their details.
 *
 * @module
 */

import type { HotswapError } from "./errors.ts";
import type { RetireReport } from "./generation.ts";
import type { Hotswap } from "./hotswap.ts";

/** Detail of a `swap` event: a new generation was committed. */
export interface SwapEventDetail {
  /** The generation that served until now. */
  readonly from: number;
  /** The generation that serves from now on. */
  readonly to: number;
  /** The new generation's digest. */
  readonly digest: string;
  /** The new generation's entry file. */
  readonly path: string;
  /** Whether it came from `swap()` or `rollback()`. */
  readonly via: "swap" | "rollback";
}

/** Detail of a `reject` event: a swap failed and nothing changed. */
export interface RejectEventDetail {
  /** The entry file of the refused generation. */
  readonly path: string;
  /** Why it was refused. */
  readonly error: HotswapError;
}

/** Detail of a `drain-timeout` event: calls still ran on an old generation at `drainTimeout`. */
export interface DrainTimeoutEventDetail {
  /** The generation that did not drain. */
  readonly generation: number;
  /** Calls still in flight on it. */
  readonly inflight: number;
  /** The timeout that passed, in milliseconds. */
  readonly drainTimeout: number;
}

/**
 * Detail of a `restart` event: in process isolation, the process of a
 * serving generation ended (crash, exit, `memoryLimit`, `callTimeout`) and
 * was started again from the same snapshot.
 */
export interface RestartEventDetail {
  /** The generation whose process was restarted. */
  readonly generation: number;
  /** Why the old process ended. */
  readonly reason: string;
  /** Restarts of this generation within the last minute, this one included. */
  readonly restarts: number;
}

/** Event names of a {@linkcode Hotswap} and the events they carry. */
export interface HotswapEventMap {
  /** A generation was committed. */
  swap: CustomEvent<SwapEventDetail>;
  /** An old generation was drained (or timed out), disposed and unloaded. */
  retire: CustomEvent<RetireReport>;
  /** A swap failed; the current generation is unchanged. */
  reject: CustomEvent<RejectEventDetail>;
  /** An old generation still had calls running at `drainTimeout`. */
  "drain-timeout": CustomEvent<DrainTimeoutEventDetail>;
  /** Process isolation: a serving generation's process was restarted from its snapshot. */
  restart: CustomEvent<RestartEventDetail>;
}

/**
 * What `addEventListener(type, …)` of a `Hotswap<T>` takes: a listener typed
 * with the event's detail for the names of {@linkcode HotswapEventMap},
 * anything `EventTarget` takes for other names.
 *
 * @typeParam T The reference's handle type.
 * @typeParam K The event's name.
 */
export type HotswapListener<T, K extends string> = K extends keyof HotswapEventMap
  ? ((this: Hotswap<T>, event: HotswapEventMap[K]) => void) | EventListenerObject | null
  : EventListenerOrEventListenerObject | null;
