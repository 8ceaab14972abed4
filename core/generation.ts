/**
 * A generation: one loaded, verified instance of a module graph, with its
 * in-flight call count and the Promise-based drain barrier that tells when
 * the last call on it has finished.
 *
 * The generation knows nothing of files or workers: what it runs on comes in
 * as a {@linkcode GenerationRuntime} (inline import or worker proxy).
 *
 * @module
 */

import { within } from "./deadline.ts";
import type { Snapshot } from "./snapshot.ts";
import { LatencyHistogram } from "./_latency.ts";

/**
 * What a handle factory receives.
 *
 * @example A factory that carries state over
 * ```ts
 * import type { GenerationContext } from "@hotswap/runtime";
 *
 * export function hs_counter(ctx: GenerationContext): { count: number } {
 *   const before = typeof ctx.previous === "number" ? ctx.previous : 0;
 *   return { count: before + 1 };
 * }
 * ```
 */
export interface GenerationContext {
  /** The number this generation will have once committed. */
  readonly generation: number;
  /** The snapshot digest, `sha256-<base64>`. */
  readonly digest: string;
  /** What the outgoing generation's `handoff()` returned (`undefined` for the first). */
  readonly previous: unknown;
  /** Aborted when the load fails or times out, and when the generation is retired. */
  readonly signal: AbortSignal;
}

/**
 * The strategy a generation runs on: the verified handle plus the optional
 * `handoff`/`dispose` exports and a way to unload (revoke blobs, terminate a
 * worker). Loaders produce it; {@linkcode Generation} drives it.
 */
export interface GenerationRuntime<T> {
  /** The verified handle callers see. */
  readonly handle: T;
  /** Calls the module's `handoff()` export; `undefined` without one. */
  handoff(): Promise<unknown>;
  /** Calls the module's `dispose()` export, if any. */
  dispose(): Promise<void>;
  /** Frees what the generation holds. Idempotent. */
  unload(): void;
  /**
   * Names the generation's files where a stack trace names the URLs its
   * modules were loaded from (inline TypeScript: Deno maps lines and
   * columns, but keeps the \`blob:\` URL). Absent where errors already name
   * them (errors rebuilt from a worker or process).
   */
  readonly unblob?: (text: string) => string;
}

/** Life of a generation: serving, draining after a swap, then retired. */
export type GenerationState = "active" | "draining" | "retired";

/** What `retired` resolves to once an old generation is drained, disposed and unloaded. */
export interface RetireReport {
  /** The retired generation's number. */
  readonly generation: number;
  /** Its digest. */
  readonly digest: string;
  /** `false` when calls were still running at `drainTimeout`. */
  readonly drained: boolean;
  /** How long the drain waited, in milliseconds. */
  readonly waitedMs: number;
  /** What `dispose()` threw or how it timed out, when it failed. */
  readonly disposeError?: unknown;
}

/** One loaded generation with its in-flight counter and drain barrier. */
export class Generation<T> {
  /** Generation number, from 1, one more per commit. */
  readonly number: number;
  /** The snapshot it was loaded from. */
  readonly snapshot: Snapshot;
  /** The verified handle. */
  readonly handle: T;
  /** When the load finished (epoch ms). */
  readonly loadedAt: number = Date.now();
  /** Calls running on this generation now. Read and written by `with()` directly. */
  inflight = 0;
  /** Calls ever started on this generation. */
  calls = 0;
  /** Calls that threw or rejected. */
  errors = 0;
  /** Latencies of the calls `with()` timed. */
  readonly latency: LatencyHistogram = new LatencyHistogram();
  /** The call number `with()` times next (see `LatencyHistogram.sampled`). */
  nextSample = 1;
  /** Serving, draining or retired. */
  state: GenerationState = "active";
  /** Releases one call; shared so `with()` allocates no closure per call. */
  readonly release: () => void;
  /**
   * Releases one call that failed, after making the error's stack name the
   * generation's files rather than minted URLs; the same as `release` when
   * there is nothing to rename.
   */
  readonly fail: (error: unknown) => void;
  readonly #runtime: GenerationRuntime<T>;
  readonly #controller: AbortController;
  #drained: PromiseWithResolvers<void> | undefined;

  /**
   * Wraps a loaded runtime.
   *
   * @param number The generation number.
   * @param snapshot Its snapshot.
   * @param runtime The loaded handle and hooks.
   * @param controller Aborts the factory's signal at retire.
   */
  constructor(
    number: number,
    snapshot: Snapshot,
    runtime: GenerationRuntime<T>,
    controller: AbortController,
  ) {
    this.number = number;
    this.snapshot = snapshot;
    this.handle = runtime.handle;
    this.#runtime = runtime;
    this.#controller = controller;
    const release = () => {
      if (--this.inflight === 0 && this.#drained !== undefined) {
        this.#drained.resolve();
        this.#drained = undefined;
      }
    };
    this.release = release;
    const unblob = runtime.unblob;
    this.fail = unblob === undefined
      ? (_error: unknown) => {
        this.errors++;
        release();
      }
      : (error: unknown) => {
        this.errors++;
        renameFrames(error, unblob);
        release();
      };
  }

  /** The snapshot digest. */
  get digest(): string {
    return this.snapshot.digest;
  }

  /** Asks the runtime for the state to hand to the next generation. */
  handoff(): Promise<unknown> {
    return this.#runtime.handoff();
  }

  /**
   * The drain barrier: resolves when no call is in flight. Any number of
   * waiters share one promise.
   */
  drained(): Promise<void> {
    if (this.inflight === 0) return Promise.resolve();
    this.#drained ??= Promise.withResolvers<void>();
    return this.#drained.promise;
  }

  /**
   * Waits for the drain (at most `drainTimeout` ms), then aborts the
   * generation's signal, runs `dispose()` (bounded the same way) and unloads.
   * Never rejects.
   *
   * @param drainTimeout Milliseconds to wait for running calls, and again for dispose.
   * @param onDrainTimeout Called when calls are still running at the deadline.
   */
  async retire(drainTimeout: number, onDrainTimeout: () => void): Promise<RetireReport> {
    this.state = "draining";
    const started = performance.now();
    const drained = (await within(this.drained(), drainTimeout)).status !== "timeout";
    const waitedMs = performance.now() - started;
    if (!drained) onDrainTimeout();
    this.#controller.abort(new DOMException(`Generation ${this.number} retired`, "AbortError"));
    const disposal = await within(this.#runtime.dispose(), drainTimeout);
    this.#runtime.unload();
    this.state = "retired";
    const report: RetireReport = { generation: this.number, digest: this.digest, drained, waitedMs };
    if (disposal.status === "fulfilled") return report;
    const disposeError = disposal.status === "rejected"
      ? disposal.reason
      : new Error(`dispose() of generation ${this.number} did not settle within ${drainTimeout} ms`);
    return { ...report, disposeError };
  }
}

/** Rewrites an error's stack with `unblob`; an error whose stack cannot be read or set keeps it. */
function renameFrames(error: unknown, unblob: (text: string) => string): void {
  if (!(error instanceof Error)) return;
  try {
    const stack = error.stack;
    if (typeof stack === "string" && stack.includes("blob:")) error.stack = unblob(stack);
  } catch {
    // A frozen error, or a stack getter that throws: it is the generation's to keep.
  }
}
