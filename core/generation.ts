/**
 * A generation: one loaded, verified instance of a module graph, the calls
 * running on it, and the Promise-based drain barrier that tells when the
 * last of them has finished.
 *
 * The generation knows nothing of files or workers: what it runs on comes in
 * as a {@linkcode GenerationRuntime} (inline import or worker proxy).
 *
 * @module
 */

import { within } from "./deadline.ts";
import { renameFrames } from "./errors.ts";
import type { Snapshot } from "./snapshot.ts";
import type { GenerationStats } from "./stats.ts";
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
  /**
   * Calls the module's `handoff()` export: its state, or a promise of it
   * (`undefined` without one). May throw what the export throws.
   */
  handoff(): unknown;
  /** Calls the module's `dispose()` export, if any. */
  dispose(): Promise<void>;
  /**
   * Frees what the generation holds. Idempotent. A promise settles once it
   * is all gone (a process: exited, its directory removed).
   */
  unload(): void | Promise<void>;
  /** Told once the generation no longer serves and starts to drain (a process is then not restarted). */
  retiring?(): void;
  /**
   * Told that the generation's code kept the host waiting past a deadline
   * other than `callTimeout` (its `handoff()` did not settle within
   * `loadTimeout`): a sandbox stuck in synchronous code is treated as hung,
   * as after a call past `callTimeout` (a process is killed and, while it
   * serves, restarted from its snapshot). Absent where nothing can be done
   * (inline).
   *
   * @param why What kept the host waiting, as "its handoff() did not settle within …".
   * @returns What became of the sandbox, for the message that reports it; `undefined` if nothing.
   */
  hung?(why: string): Promise<string | undefined>;
  /**
   * Resolves once no call the handle made is pending (a worker's or a
   * process's: remote calls their caller did not await included); the drain
   * waits for it too.
   */
  idle?(): Promise<void>;
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

/**
 * One loaded generation. It owns its counters: calls enter through
 * {@linkcode Generation.call} and leave through the closures it hands to the
 * promise they return, so nothing outside can unbalance `inflight` (which
 * would leave the drain barrier waiting forever, or resolve it early).
 */
export class Generation<T> {
  /** Generation number, from 1, one more per commit. */
  readonly number: number;
  /** The snapshot it was loaded from. */
  readonly snapshot: Snapshot;
  /** The verified handle. */
  readonly handle: T;
  /** When the load finished (epoch ms). */
  readonly loadedAt: number = Date.now();
  #inflight = 0;
  #calls = 0;
  #errors = 0;
  /** The call number timed next (see `LatencyHistogram.sampled`). */
  #nextSample = 1;
  #state: GenerationState = "active";
  readonly #latency = new LatencyHistogram();
  /** Releases one call; made once, so a call allocates no closure. */
  readonly #release: () => void;
  /**
   * Releases one call that failed, after making the error's stack name the
   * generation's files rather than minted URLs.
   */
  readonly #fail: (error: unknown) => void;
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
      if (--this.#inflight === 0 && this.#drained !== undefined) {
        this.#drained.resolve();
        this.#drained = undefined;
      }
    };
    this.#release = release;
    const unblob = runtime.unblob;
    // Chosen once here rather than tested on every failed call.
    this.#fail = unblob === undefined
      ? (_error: unknown) => {
        this.#errors++;
        release();
      }
      : (error: unknown) => {
        this.#errors++;
        renameFrames(error, unblob);
        release();
      };
  }

  /** The snapshot digest. */
  get digest(): string {
    return this.snapshot.digest;
  }

  /** Calls running on this generation now. */
  get inflight(): number {
    return this.#inflight;
  }

  /** Calls ever started on this generation. */
  get calls(): number {
    return this.#calls;
  }

  /** Calls that threw or rejected. */
  get errors(): number {
    return this.#errors;
  }

  /** Serving, draining or retired. */
  get state(): GenerationState {
    return this.#state;
  }

  /**
   * Runs `fn` with the handle as one call: in flight until `fn` returns or,
   * if it returns a promise, until that settles. A synchronous result stays
   * synchronous. This is `Hotswap.with()`'s hot path: one counter up, one
   * comparison, no allocation (the sampler decides which calls are timed).
   *
   * @param fn Receives the handle.
   * @returns What `fn` returns; a foreign thenable comes back adopted as a promise.
   */
  call<R>(fn: (handle: T) => R): R {
    this.#inflight++;
    if (++this.#calls >= this.#nextSample) return this.#timed(fn);
    let result: R;
    try {
      result = fn(this.handle);
    } catch (error) {
      this.#fail(error);
      throw error;
    }
    try {
      if (result instanceof Promise) {
        // Observe settlement beside the caller: the caller awaits the very same
        // promise (no extra hop), and this branch swallows nothing it returns.
        // The intrinsic `then`, not `result.then`: an own `then` on the promise
        // could throw or never call back, and the call would never be released.
        Promise.prototype.then.call(result, this.#release, this.#fail);
        return result;
      }
      if (isThenable(result)) {
        // A foreign thenable: adopt it once so its `then` is not called twice.
        const adopted = Promise.resolve(result);
        adopted.then(this.#release, this.#fail);
        return adopted as R;
      }
    } catch {
      // Inspecting the result threw (a Proxy trap, a `then` getter, a hostile
      // species): it cannot be observed, so it is handed back as a plain value.
    }
    this.#release();
    return result;
  }

  /**
   * `call()` for a call the latency sampler picked: the same, timed. Kept
   * apart so the common path allocates no closure and reads no clock.
   */
  #timed<R>(fn: (handle: T) => R): R {
    const started = performance.now();
    const latency = this.#latency;
    this.#nextSample = latency.sampled(this.#calls, started);
    const done = () => {
      latency.record(performance.now() - started);
      this.#release();
    };
    const failed = (error: unknown) => {
      latency.record(performance.now() - started);
      this.#fail(error);
    };
    let result: R;
    try {
      result = fn(this.handle);
    } catch (error) {
      failed(error);
      throw error;
    }
    try {
      if (result instanceof Promise) {
        Promise.prototype.then.call(result, done, failed);
        return result;
      }
      if (isThenable(result)) {
        const adopted = Promise.resolve(result);
        adopted.then(done, failed);
        return adopted as R;
      }
    } catch {
      // As in call(): a result that cannot be inspected is a plain value.
    }
    done();
    return result;
  }

  /** A snapshot of the counters, with latency percentiles of the timed calls. */
  stats(): GenerationStats {
    return {
      generation: this.number,
      state: this.#state,
      inflight: this.#inflight,
      calls: this.#calls,
      errors: this.#errors,
      p50: this.#latency.quantile(0.5),
      p99: this.#latency.quantile(0.99),
    };
  }

  /** Asks the runtime for the state to hand to the next generation: the state, or a promise of it. */
  handoff(): unknown {
    return this.#runtime.handoff();
  }

  /**
   * Treats the generation's sandbox as hung (see `GenerationRuntime.hung`).
   *
   * @returns What became of it, for the message that reports it; `undefined` if nothing was done.
   */
  async hung(why: string): Promise<string | undefined> {
    return await this.#runtime.hung?.(why);
  }

  /**
   * The drain barrier: resolves when no call is in flight. Any number of
   * waiters share one promise.
   */
  drained(): Promise<void> {
    if (this.#inflight === 0) return Promise.resolve();
    this.#drained ??= Promise.withResolvers<void>();
    return this.#drained.promise;
  }

  /** The drain, then the runtime's calls nobody awaited (see `GenerationRuntime.idle`). */
  async #settled(): Promise<void> {
    await this.drained();
    await this.#runtime.idle?.();
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
    this.#state = "draining";
    this.#runtime.retiring?.();
    const started = performance.now();
    const drained = (await within(this.#settled(), drainTimeout)).status !== "timeout";
    const waitedMs = performance.now() - started;
    if (!drained) onDrainTimeout();
    this.#controller.abort(new DOMException(`Generation ${this.number} retired`, "AbortError"));
    const disposal = await within(this.#runtime.dispose(), drainTimeout);
    // Unloaded means gone: a process has exited when `retired` resolves, not only been told to.
    await within(Promise.resolve().then(() => this.#runtime.unload()), UNLOAD_WAIT);
    this.#state = "retired";
    const report: RetireReport = { generation: this.number, digest: this.digest, drained, waitedMs };
    if (disposal.status === "fulfilled") return report;
    const disposeError = disposal.status === "rejected"
      ? disposal.reason
      : new Error(`dispose() of generation ${this.number} did not settle within ${drainTimeout} ms`);
    return { ...report, disposeError };
  }
}

/** Milliseconds `retire()` waits for an unload to finish (a SIGKILLed process ends within a few). */
const UNLOAD_WAIT = 5_000;

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return value !== null && (typeof value === "object" || typeof value === "function") &&
    typeof (value as { then?: unknown }).then === "function";
}
