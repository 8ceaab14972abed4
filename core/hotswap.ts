/**
 * The hot-swap reference: a versioned pointer to the current generation,
 * swapped in one step after the new generation is loaded and verified, with
 * old generations drained before they are disposed (SPEC section 5).
 *
 * @module
 */

import type { Provenance } from "./artifact.ts";
import type { Contract } from "./contract.ts";
import { within } from "./deadline.ts";
import { describeThrown, HotswapError, noteActiveGeneration } from "./errors.ts";
import type {
  DrainTimeoutEventDetail,
  HotswapEventMap,
  RejectEventDetail,
  RestartEventDetail,
  SwapEventDetail,
} from "./events.ts";
import { Generation, type GenerationState, type RetireReport } from "./generation.ts";
import { type Loader, loadWithin, type SnapshotSource } from "./loader.ts";
import { type PathLike, toAbsolutePath } from "./roots.ts";
import type { Snapshot } from "./snapshot.ts";
import type { Isolation } from "./isolation.ts";
import type { ResolvedOptions } from "./options.ts";
import { guardListener, listenerKey } from "./_listeners.ts";

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

const HISTORY_LIMIT = 100;

/** What a load of a generation is asked to do; `undefined` fields keep their defaults. */
interface LoadPlan {
  readonly integrity: string | undefined;
  /** An explicit rollback: the source may go below the highest sequence. */
  readonly rollback?: boolean;
  readonly signal: AbortSignal | undefined;
  readonly handoff: boolean;
  readonly via: GenerationInfo["via"];
}

/** The strategies a reference is built with: where snapshots come from, and how they run. */
export interface Strategies {
  /** Reads (and verifies) a generation by path. */
  readonly source: SnapshotSource;
  /** Runs a snapshot in the isolation mode. */
  readonly loader: Loader;
}

/**
 * Gives a reference something to dispose when it closes, before it drains
 * (a channel follower, which must stop swapping first). Internal.
 */
export let adoptResource: <T>(hot: Hotswap<T>, resource: AsyncDisposable) => void;

/**
 * Creates a reference on `strategies`, and commits its first generation from
 * `path`. Internal: `registerHotswap` is the public way in. Assigned in
 * `Hotswap`'s static block, so the constructor stays private.
 */
export let openHotswap: <T>(
  contract: Contract<unknown>,
  options: ResolvedOptions,
  strategies: Strategies,
  path: string,
  integrity: string | undefined,
) => Promise<Hotswap<T>>;

/**
 * A versioned reference to the current generation of a module graph.
 * Create it with {@linkcode registerHotswap}.
 *
 * @typeParam T The handle type `with()` passes to its callback: the
 *   contract's type inline, {@linkcode Remote} of it in a worker.
 */
export class Hotswap<T> extends EventTarget {
  static {
    adoptResource = (hot, resource) => {
      hot.#resources.push(resource);
    };
    openHotswap = async <T>(
      contract: Contract<unknown>,
      options: ResolvedOptions,
      strategies: Strategies,
      path: string,
      integrity: string | undefined,
    ) => {
      const hot = new Hotswap<T>(contract, options, strategies);
      try {
        await hot.#load(path, { integrity, signal: undefined, handoff: true, via: "register" });
      } catch (error) {
        // Nobody will ever close a reference that was never returned: free its standby now.
        await hot.#loader[Symbol.asyncDispose]();
        throw error;
      }
      return hot;
    };
  }

  readonly #contract: Contract<unknown>;
  readonly #options: ResolvedOptions;
  readonly #loader: Loader;
  readonly #source: SnapshotSource;
  /** Serves `with()`; `undefined` once closed. Kept apart from `#current` so `with()` checks one field. */
  #serving: Generation<T> | undefined;
  /** The last committed generation, also after close. */
  #current: Generation<T> | undefined;
  /** Generations committed and not yet retired (the current one and any draining). */
  readonly #live = new Set<Generation<T>>();
  readonly #retiring = new Set<Promise<RetireReport>>();
  /** Snapshots to roll back through; the current generation's is last. */
  readonly #snapshots: Snapshot[] = [];
  readonly #history: GenerationInfo[] = [];
  #queue: Promise<unknown> = Promise.resolve();
  #closing: Promise<void> | undefined;
  #retiredCalls = 0;
  #swaps = 0;
  #rejects = 0;
  #rollbacks = 0;
  /** The wrapper registered for each listener, so a listener's throw stays inside it. */
  readonly #guarded = new WeakMap<object, Map<string, EventListener>>();
  /** Disposed first when the reference closes (see {@linkcode adoptResource}). */
  readonly #resources: AsyncDisposable[] = [];

  /** Use {@linkcode registerHotswap}, which also loads the first generation. */
  private constructor(contract: Contract<unknown>, options: ResolvedOptions, strategies: Strategies) {
    super();
    this.#contract = contract;
    this.#options = options;
    this.#loader = strategies.loader;
    this.#source = strategies.source;
  }

  /**
   * Runs `fn` with the current handle. The generation is captured before `fn`
   * runs and counts the call as in flight until `fn` returns or, if it returns
   * a promise, until that settles. A synchronous result stays synchronous.
   *
   * @typeParam R What `fn` returns.
   * @param fn Receives the handle.
   * @returns What `fn` returns, unchanged.
   * @throws {HotswapError} `E_CLOSED` after `close()`; otherwise whatever `fn` throws.
   *
   * @example Call the current handle
   * ```ts
   * import { defineContract, registerHotswap } from "@hotswap/runtime";
   * import { strictEqual } from "node:assert/strict";
   *
   * const contract = defineContract<{ double(n: number): number }>({
   *   name: "Doubler", version: "1.0.0", symbol: "hs_doubler", shape: { double: "function" },
   * });
   * const dir = await Deno.makeTempDir();
   * await Deno.writeTextFile(`${dir}/v1.ts`, "export const hs_doubler = { double: (n: number) => n * 2 };");
   * await using hot = await registerHotswap(contract, `${dir}/v1.ts`);
   * strictEqual(hot.with((h) => h.double(21)), 42);
   * await Deno.remove(dir, { recursive: true });
   * ```
   */
  with<R>(fn: (handle: T) => R): R {
    const generation = this.#serving;
    if (generation === undefined) throw this.#closedError("call with()");
    generation.inflight++;
    // One comparison on the fast path: the histogram decides which calls are timed.
    if (++generation.calls >= generation.nextSample) return this.#timed(generation, fn);
    let result: R;
    try {
      result = fn(generation.handle);
    } catch (error) {
      generation.fail(error);
      throw error;
    }
    try {
      if (result instanceof Promise) {
        // Observe settlement beside the caller: the caller awaits the very same
        // promise (no extra hop), and this branch swallows nothing it returns.
        // The intrinsic `then`, not `result.then`: an own `then` on the promise
        // could throw or never call back, and the call would never be released.
        Promise.prototype.then.call(result, generation.release, generation.fail);
        return result;
      }
      if (isThenable(result)) {
        // A foreign thenable: adopt it once so its `then` is not called twice.
        const adopted = Promise.resolve(result);
        adopted.then(generation.release, generation.fail);
        return adopted as R;
      }
    } catch {
      // Inspecting the result threw (a Proxy trap, a `then` getter, a hostile
      // species): it cannot be observed, so it is handed back as a plain value.
    }
    generation.release();
    return result;
  }

  /** `with()` for a call the latency sampler picked: the same, timed. */
  #timed<R>(generation: Generation<T>, fn: (handle: T) => R): R {
    const started = performance.now();
    const latency = generation.latency;
    generation.nextSample = latency.sampled(generation.calls, started);
    const done = () => {
      latency.record(performance.now() - started);
      generation.release();
    };
    const failed = (error: unknown) => {
      latency.record(performance.now() - started);
      generation.fail(error);
    };
    let result: R;
    try {
      result = fn(generation.handle);
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
      // As in with(): a result that cannot be inspected is a plain value.
    }
    done();
    return result;
  }

  /**
   * Loads, verifies and initialises the generation at `path` while the
   * current one keeps serving, then makes it current in one step. Swaps run
   * one at a time, in call order.
   *
   * @param path The new generation's entry file.
   * @param options `integrity` pin, abort `signal`, and whether to call `handoff()`.
   * @returns The new generation's number and digest, and `retired`.
   * @throws {HotswapError} With the failure's code; the current generation stays as it was.
   *   An aborted swap rejects with the signal's reason instead.
   *
   * @example Swap to an edited generation
   * ```ts
   * import { defineContract, registerHotswap } from "@hotswap/runtime";
   * import { strictEqual } from "node:assert/strict";
   *
   * const contract = defineContract<{ version: string }>({
   *   name: "Versioned", version: "1.0.0", symbol: "hs_v", shape: { version: "string" },
   * });
   * const dir = await Deno.makeTempDir();
   * const entry = `${dir}/entry.ts`;
   * await Deno.writeTextFile(entry, 'export const hs_v = { version: "v1" };');
   * await using hot = await registerHotswap(contract, entry);
   * await Deno.writeTextFile(entry, 'export const hs_v = { version: "v2" };');
   * const { generation, retired } = await hot.swap(entry, { handoff: false });
   * strictEqual(generation, 2);
   * strictEqual(hot.with((h) => h.version), "v2");
   * strictEqual((await retired).generation, 1);
   * await Deno.remove(dir, { recursive: true });
   * ```
   */
  swap(path: PathLike, options: SwapOptions = {}): Promise<SwapResult> {
    const { signal } = options;
    if (signal?.aborted) return Promise.reject(signal.reason);
    const plan: LoadPlan = {
      integrity: options.integrity,
      signal,
      handoff: options.handoff !== false,
      via: "swap",
      rollback: options.rollback === true,
    };
    return this.#enqueue(() => this.#load(toAbsolutePath(path), plan), path, signal);
  }

  /**
   * Commits the previous generation's snapshot again, as a new generation
   * (next number, the previous digest), from memory: nothing is re-read.
   *
   * @returns The new generation's number and digest, and `retired`.
   * @throws {HotswapError} `E_NOT_FOUND` when there is nothing to go back to.
   *
   * @example Step back to the previous generation
   * ```ts
   * import { defineContract, registerHotswap } from "@hotswap/runtime";
   * import { strictEqual } from "node:assert/strict";
   *
   * const contract = defineContract<{ version: string }>({
   *   name: "Versioned", version: "1.0.0", symbol: "hs_v", shape: { version: "string" },
   * });
   * const dir = await Deno.makeTempDir();
   * const entry = `${dir}/entry.ts`;
   * await Deno.writeTextFile(entry, 'export const hs_v = { version: "v1" };');
   * await using hot = await registerHotswap(contract, entry);
   * await Deno.writeTextFile(entry, 'export const hs_v = { version: "v2" };');
   * await hot.swap(entry);
   * const { generation } = await hot.rollback(); // from memory: the file now says v2
   * strictEqual(generation, 3);
   * strictEqual(hot.with((h) => h.version), "v1");
   * await Deno.remove(dir, { recursive: true });
   * ```
   */
  rollback(): Promise<SwapResult> {
    return this.#enqueue(
      () => {
        const target = this.#snapshots.at(-2);
        if (target === undefined) {
          throw new HotswapError(
            "E_NOT_FOUND",
            `Cannot roll back: generation ${this.generation} has no earlier snapshot to return to (${this.#snapshots.length} kept, rollbackDepth ${this.#options.rollbackDepth}); swap to a module instead`,
            { activeGeneration: this.generation },
          );
        }
        return this.#load(target, {
          integrity: undefined,
          signal: undefined,
          handoff: true,
          via: "rollback",
        });
      },
      undefined,
      undefined,
    );
  }

  /**
   * Refuses new calls and swaps, waits for queued swaps, drains the current
   * generation (up to `drainTimeout`), disposes and unloads it. Idempotent.
   *
   * @returns Resolves once every generation is retired.
   */
  close(): Promise<void> {
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  /** Closes, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** The current generation's number (the last one, after close). */
  get generation(): number {
    return this.#current?.number ?? 0;
  }

  /** The current generation's digest. */
  get digest(): string {
    return this.#current?.digest ?? "";
  }

  /**
   * Waits until the next swap can start at full speed: in worker and process
   * isolation, until the warm standby (worker or process) has started (a swap
   * right after another would otherwise wait for one). Inline it resolves at once.
   *
   * @returns Resolves once the standby is ready, or failed to start (the next swap reports why).
   *
   * @example Time a swap as a long-running server sees it
   * ```ts
   * import { defineContract, registerHotswap } from "@hotswap/runtime";
   * import { strictEqual } from "node:assert/strict";
   *
   * const contract = defineContract<{ n: number }>({ name: "N", version: "1.0.0", symbol: "hs_n", shape: { n: "number" } });
   * const dir = await Deno.makeTempDir();
   * await Deno.writeTextFile(`${dir}/n.ts`, "export const hs_n = { n: 1 };");
   * await using hot = await registerHotswap(contract, `${dir}/n.ts`);
   * await hot.warm();
   * strictEqual((await hot.swap(`${dir}/n.ts`)).generation, 2);
   * await Deno.remove(dir, { recursive: true });
   * ```
   */
  warm(): Promise<void> {
    return this.#loader.ready();
  }

  /** Whether `close()` was called. */
  get closed(): boolean {
    return this.#closing !== undefined;
  }

  /** Committed generations, oldest first (the last 100). */
  get history(): readonly GenerationInfo[] {
    return this.#history.map((entry) => ({ ...entry }));
  }

  /**
   * Describes the current generation.
   *
   * @returns Its number, digest, files, isolation and when it was committed.
   */
  info(): GenerationInfo {
    return { ...this.#history.at(-1)! };
  }

  /**
   * Counts calls, swaps, rejects and per-generation in-flight calls.
   *
   * @returns A snapshot of the counters.
   */
  stats(): HotswapStats {
    let calls = this.#retiredCalls;
    const generations: GenerationStats[] = [];
    for (const generation of this.#live) {
      calls += generation.calls;
      generations.push({
        generation: generation.number,
        state: generation.state,
        inflight: generation.inflight,
        calls: generation.calls,
        errors: generation.errors,
        p50: generation.latency.quantile(0.5),
        p99: generation.latency.quantile(0.99),
      });
    }
    return {
      calls,
      swaps: this.#swaps,
      rejects: this.#rejects,
      rollbacks: this.#rollbacks,
      sandboxes: this.#loader.live,
      generations,
    };
  }

  /** Typed `addEventListener`; see {@linkcode HotswapEventMap}. */
  override addEventListener<K extends keyof HotswapEventMap>(
    type: K,
    listener: (this: Hotswap<T>, event: HotswapEventMap[K]) => void,
    options?: boolean | AddEventListenerOptions,
  ): void;
  /** Untyped fallback of `addEventListener`. */
  override addEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | AddEventListenerOptions,
  ): void;
  override addEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | AddEventListenerOptions,
  ): void {
    if (listener === null) return;
    const key = listenerKey(type, options);
    let wrappers = this.#guarded.get(listener);
    if (wrappers === undefined) this.#guarded.set(listener, wrappers = new Map());
    let guarded = wrappers.get(key);
    if (guarded === undefined) wrappers.set(key, guarded = guardListener(this, type, listener));
    super.addEventListener(type, guarded, options);
  }

  /** Typed `removeEventListener`; see {@linkcode HotswapEventMap}. */
  override removeEventListener<K extends keyof HotswapEventMap>(
    type: K,
    listener: (this: Hotswap<T>, event: HotswapEventMap[K]) => void,
    options?: boolean | EventListenerOptions,
  ): void;
  /** Untyped fallback of `removeEventListener`. */
  override removeEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | EventListenerOptions,
  ): void;
  override removeEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | EventListenerOptions,
  ): void {
    if (listener === null) return;
    const guarded = this.#guarded.get(listener)?.get(listenerKey(type, options));
    if (guarded !== undefined) super.removeEventListener(type, guarded, options);
  }

  #enqueue(
    task: () => Promise<SwapResult>,
    path: PathLike | undefined,
    signal: AbortSignal | undefined,
  ): Promise<SwapResult> {
    const run = this.#queue.then(async () => {
      if (this.closed) throw this.#closedError(path === undefined ? "roll back" : `swap to "${path}"`);
      signal?.throwIfAborted();
      try {
        return await task();
      } catch (error) {
        // The caller cancelled: that is no refusal of the generation.
        if (signal?.aborted && error === signal.reason) throw error;
        throw this.#reject(error, path);
      }
    });
    // The queue waits for the task itself, even when its caller stopped
    // waiting: a load cannot be cut short, and the next swap must not overlap it.
    this.#queue = run.catch(() => {});
    return signal === undefined ? run : abortable(run, signal);
  }

  /** Loads a generation from a path (read from disk) or a kept snapshot, then commits it. */
  async #load(source: string | Snapshot, plan: LoadPlan): Promise<SwapResult> {
    const { signal } = plan;
    const snapshot = typeof source === "string"
      ? await this.#source.read(source, { rollback: plan.rollback === true })
      : source;
    checkIntegrity(snapshot, plan.integrity);
    signal?.throwIfAborted();
    const outgoing = this.#current;
    const number = (outgoing?.number ?? 0) + 1;
    const previous = outgoing === undefined || !plan.handoff
      ? undefined
      : await this.#handoff(outgoing, snapshot);
    signal?.throwIfAborted();
    const controller = new AbortController();
    // An abort during the load reaches the factory through its context's signal.
    const forward = () => controller.abort(signal!.reason);
    signal?.addEventListener("abort", forward, { once: true });
    let runtime;
    try {
      // The loader hands back the handle as `with()` sees it: the contract's
      // own type inline, its Remote in a worker (which is what T is).
      runtime = await loadWithin<T>(this.#loader, {
        contract: this.#contract as Contract<T>,
        snapshot,
        context: { generation: number, digest: snapshot.digest, previous, signal: controller.signal },
        onRestart: (reason, restarts) => {
          this.#emit<RestartEventDetail>("restart", { generation: number, reason, restarts });
        },
      }, this.#options.loadTimeout);
    } catch (error) {
      controller.abort(error);
      // A factory that gave up because the swap was aborted: report the abort, not E_INIT.
      if (signal?.aborted) throw signal.reason;
      throw error;
    } finally {
      signal?.removeEventListener("abort", forward);
    }
    const incoming = new Generation(number, snapshot, runtime, controller);
    if (this.closed || signal?.aborted) {
      // close() or the caller's abort came while this generation loaded: it must never serve.
      await incoming.retire(this.#options.drainTimeout, () => {});
      if (this.closed) throw this.#closedError(`commit "${snapshot.entry}"`);
      throw signal!.reason;
    }
    this.#commit(incoming, plan.via);
    // Only the first load (registration) has no outgoing generation, and it returns no result.
    const retired = outgoing === undefined ? undefined! : this.#retire(outgoing);
    return { generation: number, digest: snapshot.digest, retired };
  }

  #commit(incoming: Generation<T>, via: GenerationInfo["via"]): void {
    const outgoing = this.#current;
    this.#current = incoming;
    this.#serving = incoming;
    this.#live.add(incoming);
    if (via === "rollback") {
      this.#snapshots.pop();
      this.#rollbacks++;
    } else {
      this.#snapshots.push(incoming.snapshot);
      if (this.#snapshots.length > this.#options.rollbackDepth) this.#snapshots.shift();
      this.#source.committed(incoming.snapshot);
    }
    this.#history.push({
      generation: incoming.number,
      digest: incoming.digest,
      path: incoming.snapshot.entry,
      files: incoming.snapshot.files,
      isolation: this.#options.isolation,
      via,
      committedAt: incoming.loadedAt,
      ...(incoming.snapshot.provenance === undefined ? {} : { provenance: incoming.snapshot.provenance }),
    });
    if (this.#history.length > HISTORY_LIMIT) this.#history.shift();
    if (outgoing === undefined) return;
    this.#swaps++;
    this.#emit<SwapEventDetail>("swap", {
      from: outgoing.number,
      to: incoming.number,
      digest: incoming.digest,
      path: incoming.snapshot.entry,
      via: via === "rollback" ? "rollback" : "swap",
    });
  }

  #retire(generation: Generation<T>): Promise<RetireReport> {
    const retired = generation.retire(this.#options.drainTimeout, () => {
      this.#emit<DrainTimeoutEventDetail>("drain-timeout", {
        generation: generation.number,
        inflight: generation.inflight,
        drainTimeout: this.#options.drainTimeout,
      });
    }).then((report) => {
      this.#live.delete(generation);
      this.#retiredCalls += generation.calls;
      const entry = this.#history.find((info) => info.generation === generation.number);
      if (entry !== undefined) {
        Object.assign(entry, { retiredAt: Date.now(), drained: report.drained });
      }
      this.#emit("retire", report);
      return report;
    });
    this.#retiring.add(retired);
    const forget = () => this.#retiring.delete(retired);
    retired.then(forget, forget);
    return retired;
  }

  /** Asks the outgoing generation for its state, bounded by `loadTimeout` so a stuck handoff() cannot block the swap queue. */
  async #handoff(outgoing: Generation<T>, snapshot: Snapshot): Promise<unknown> {
    const loadTimeout = this.#options.loadTimeout;
    const outcome = await within((async () => await outgoing.handoff())(), loadTimeout);
    if (outcome.status === "fulfilled") return outcome.value;
    if (outcome.status === "timeout") {
      throw new HotswapError(
        "E_TIMEOUT",
        `Cannot hand state from generation ${outgoing.number} to "${snapshot.entry}": handoff() of "${outgoing.snapshot.entry}" did not settle within loadTimeout (${loadTimeout} ms); make handoff() return its state promptly`,
        { path: outgoing.snapshot.entry },
      );
    }
    throw new HotswapError(
      "E_INIT",
      `Cannot hand state from generation ${outgoing.number} to "${snapshot.entry}": handoff() of "${outgoing.snapshot.entry}" threw ${
        describeThrown(outcome.reason)
      }; fix handoff() in the running generation's module`,
      { path: outgoing.snapshot.entry, cause: outcome.reason },
    );
  }

  async #shutdown(): Promise<void> {
    this.#serving = undefined;
    // A follower first: it must not queue swaps while the reference closes.
    for (const resource of this.#resources.splice(0)) {
      try {
        await resource[Symbol.asyncDispose]();
      } catch (error) {
        console.error("A resource of a hot-swap reference failed to close:", error);
      }
    }
    await this.#queue;
    const current = this.#current;
    if (current !== undefined && this.#live.has(current)) await this.#retire(current);
    await Promise.all(this.#retiring);
    await this.#loader[Symbol.asyncDispose]();
  }

  /** Counts and announces a refused swap, and says which generation stays. */
  #reject(error: unknown, path: PathLike | undefined): HotswapError {
    const active = this.#current?.number;
    const failure = annotate(error, active);
    if (failure.code !== "E_CLOSED") {
      this.#rejects++;
      this.#emit<RejectEventDetail>("reject", { path: failure.path ?? String(path ?? ""), error: failure });
    }
    return failure;
  }

  #closedError(action: string): HotswapError {
    return new HotswapError(
      "E_CLOSED",
      `Cannot ${action}: this hot-swap reference for ${this.#contract.name} is closed; register a new one with registerHotswap()`,
      { activeGeneration: undefined },
    );
  }

  /** Listeners run guarded (see {@linkcode guardListener}): nothing they do reaches the swap that fired them. */
  #emit<D>(type: keyof HotswapEventMap, detail: D): void {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}

/** Rejects with the signal's reason as soon as it aborts, else settles as `promise` does. */
function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  const aborted = Promise.withResolvers<never>();
  const onAbort = () => aborted.reject(signal.reason);
  signal.addEventListener("abort", onAbort, { once: true });
  return Promise.race([promise, aborted.promise]).finally(() => signal.removeEventListener("abort", onAbort));
}

function checkIntegrity(snapshot: Snapshot, integrity: string | undefined): void {
  if (integrity === undefined || integrity === snapshot.digest) return;
  if (typeof integrity !== "string") {
    throw new TypeError(
      `Cannot check integrity: pin must be a "sha256-<base64>" string, got ${typeof integrity}`,
    );
  }
  const form = /^sha256-[A-Za-z0-9+/]{43}=$/.test(integrity)
    ? ""
    : ' (and is not of the form "sha256-<base64>")';
  throw new HotswapError(
    "E_INTEGRITY",
    `Cannot accept "${snapshot.entry}": its digest is ${snapshot.digest} but the integrity pin is ${integrity}${form}; the files changed since they were pinned: review them and pin the new digest`,
    { path: snapshot.entry },
  );
}

/**
 * Names the generation still serving on the failure itself, so its stack,
 * `cause` and class survive (a rebuilt error would lose them).
 */
function annotate(error: unknown, active: number | undefined): HotswapError {
  const failure = error instanceof HotswapError
    ? error
    : new HotswapError("E_IMPORT", `Cannot load: ${describeThrown(error)}`, { cause: error });
  if (active === undefined || failure.code === "E_CLOSED" || failure.activeGeneration !== undefined) {
    return failure;
  }
  return noteActiveGeneration(failure, active);
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return value !== null && (typeof value === "object" || typeof value === "function") &&
    typeof (value as { then?: unknown }).then === "function";
}
