/**
 * The swaps of one reference, from request to retirement: queue them in
 * arrival order, load the next generation, commit it, retire the one it
 * replaces; and close, which ends all of that. `Hotswap` is the public face;
 * it keeps only the pointer `with()` reads, which this file sets through
 * `serve` at each commit and at close.
 *
 * @module
 */

import type { Contract } from "./contract.ts";
import { describeThrown, HotswapError, noteActiveGeneration } from "./errors.ts";
import type { Generation } from "./generation.ts";
import type { ResolvedOptions } from "./options.ts";
import { type PathLike, toAbsolutePath } from "./roots.ts";
import type { Snapshot } from "./snapshot.ts";
import type { HotswapStats } from "./stats.ts";
import { checkSwapOptions, type SwapOptions, type SwapResult } from "./swap.ts";
import { Lineage } from "./_lineage.ts";
import type { Emit } from "./_listeners.ts";
import {
  checkIntegrityPin,
  type LoadContext,
  loadGeneration,
  type LoadPlan,
  type Strategies,
} from "./_load_generation.ts";
import { SwapQueue } from "./_swap_queue.ts";
import { type SignalSwapOptions, SignalSwapper, type SignalSwaps } from "./signal_swap.ts";

/** What a reference is created with; see `registerHotswap`. */
export interface OpenRequest {
  /** The contract every generation must meet. */
  readonly contract: Contract<unknown>;
  readonly options: ResolvedOptions;
  readonly strategies: Strategies;
  /** The first generation's entry file, absolute. */
  readonly path: string;
  /** Pin of the first generation's digest. */
  readonly integrity: string | undefined;
}

/**
 * Points `with()` at a newly committed generation, or nowhere once closing.
 * A method, not a function-typed field: method parameters are bivariant, so
 * a `Hotswap<Sub>` stays assignable to a `Hotswap<Super>` as users expect.
 */
export interface WithPointer<T> {
  serve(generation: Generation<T> | undefined): void;
}

/** Runs the swaps of one reference; see the module doc. */
export class Swapper<T> {
  /** The books: current and draining generations, rollback snapshots, history, counters. */
  readonly lineage: Lineage<T>;
  readonly #loading: LoadContext<T>;
  readonly #options: ResolvedOptions;
  readonly #emit: Emit;
  readonly #pointer: WithPointer<T>;
  readonly #queue = new SwapQueue();
  /** Disposed first at close (a channel follower, which must stop swapping before the drain). */
  readonly #resources: AsyncDisposable[] = [];
  /** Listeners of `swapOnSignal` still open, closed with the reference. */
  readonly #signalSwaps = new Set<SignalSwapper>();
  #closing: Promise<void> | undefined;
  /** Aborted by `close()`: a load in progress lets go at once instead of running out its loadTimeout. */
  readonly #shutdown = new AbortController();
  #rejects = 0;

  /**
   * @param request The contract, options and strategies; not yet its first generation (see `open()`).
   * @param emit Dispatches the reference's events.
   * @param serve Points `with()` at a newly committed generation, or nowhere once closing.
   */
  constructor(request: OpenRequest, emit: Emit, serve: WithPointer<T>) {
    const { options, strategies } = request;
    this.#options = options;
    this.#emit = emit;
    this.#pointer = serve;
    this.lineage = new Lineage(options, emit);
    // The loader hands back the handle as `with()` sees it: the contract's
    // own type inline, its Remote in a worker (which is what T is).
    const contract = request.contract as Contract<T>;
    this.#loading = {
      ...strategies,
      contract,
      loadTimeout: options.loadTimeout,
      emit,
      closing: this.#shutdown.signal,
    };
  }

  /** Whether `close()` was called. */
  get closed(): boolean {
    return this.#closing !== undefined;
  }

  /** Commits the first generation; on failure frees the loader, as nobody will ever close this reference. */
  async open(path: string, integrity: string | undefined): Promise<void> {
    try {
      await this.#load(path, { integrity, signal: undefined, handoff: true, via: "register" });
    } catch (error) {
      await this.#loading.loader[Symbol.asyncDispose]();
      throw error;
    }
  }

  /** See {@linkcode Hotswap.swap}. */
  swap(path: PathLike, options: SwapOptions): Promise<SwapResult> {
    let target: string;
    let integrity: string | undefined;
    try {
      // A malformed call is the caller's mistake, thrown as it is: no generation was refused.
      checkSwapOptions(options);
      target = toAbsolutePath(path);
      integrity = checkIntegrityPin(options.integrity);
    } catch (error) {
      return Promise.reject(error);
    }
    const { signal } = options;
    if (signal?.aborted) return Promise.reject(signal.reason);
    const plan: LoadPlan = {
      integrity,
      signal,
      handoff: options.handoff !== false,
      via: "swap",
      rollback: options.rollback === true,
    };
    return this.#enqueue(() => this.#load(target, plan), path, signal, () => target);
  }

  /** See {@linkcode Hotswap.swapOnSignal}. */
  async swapOnSignal(signal: Deno.Signal, path: PathLike, options: SignalSwapOptions): Promise<SignalSwaps> {
    if (this.closed) throw this.closedError(`swap on ${signal}`);
    const target = toAbsolutePath(path);
    const plan: LoadPlan = { integrity: undefined, signal: undefined, handoff: true, via: "swap" };
    const swaps: SignalSwapper = new SignalSwapper(signal, target, {
      source: this.#loading.source,
      swap: (take) =>
        this.#enqueue(async () => this.#load(await take(), plan), target, undefined, () => target),
      closed: () => this.#signalSwaps.delete(swaps),
    }, options);
    this.#signalSwaps.add(swaps);
    await swaps.listening;
    return swaps;
  }

  /** See {@linkcode Hotswap.rollback}. */
  rollback(handoff: boolean): Promise<SwapResult> {
    let entry: string | undefined;
    const task = () => {
      const target = this.lineage.previous;
      entry = target?.entry;
      const active = this.lineage.current?.number ?? 0;
      if (target === undefined) {
        throw nothingToRollBackTo(
          new HotswapError(
            "E_NOT_FOUND",
            `Cannot roll back: generation ${active} has no earlier snapshot to return to (${this.lineage.kept} kept, rollbackDepth ${
              this.#options.rollbackDepth - 1
            }); swap to a module instead`,
            { activeGeneration: active },
          ),
        );
      }
      return this.#load(target, { integrity: undefined, signal: undefined, handoff, via: "rollback" });
    };
    return this.#enqueue(task, undefined, undefined, () => entry);
  }

  /** See {@linkcode Hotswap.close}; idempotent. */
  close(): Promise<void> {
    this.#closing ??= this.#shutDown();
    return this.#closing;
  }

  /** Gives the reference something to dispose first when it closes. */
  adopt(resource: AsyncDisposable): void {
    this.#resources.push(resource);
  }

  /** See {@linkcode Hotswap.stats}. */
  stats(): HotswapStats {
    const { calls, swaps, rollbacks, generations } = this.lineage.counts();
    const sandboxes = this.#loading.loader.live;
    return { calls, swaps, rejects: this.#rejects, rollbacks, sandboxes, generations };
  }

  /** Resolves once the loader's standby is ready for the next swap, and the source warmed up. */
  async warm(): Promise<void> {
    const current = this.lineage.current;
    await Promise.all([
      this.#loading.loader.ready(),
      current === undefined ? undefined : this.#loading.source.warm?.(current.snapshot),
    ]);
  }

  /**
   * The error of anything asked of a closed reference.
   *
   * @param entry The entry it was asked to load, if any.
   */
  closedError(action: string, entry?: string): HotswapError {
    return new HotswapError(
      "E_CLOSED",
      `Cannot ${action}: this hot-swap reference for ${this.#loading.contract.name} is closed; register a new one with registerHotswap()`,
      { activeGeneration: undefined, ...(entry === undefined ? {} : { path: entry }) },
    );
  }

  /**
   * @param path The path as the caller gave it, for messages.
   * @param entryOf The entry file it comes to, once known: what a refusal announces (a rollback's is its snapshot's).
   */
  #enqueue(
    task: () => Promise<SwapResult>,
    path: PathLike | undefined,
    signal: AbortSignal | undefined,
    entryOf: () => string | undefined,
  ): Promise<SwapResult> {
    return this.#queue.run(async () => {
      if (this.closed) {
        throw this.closedError(path === undefined ? "roll back" : `swap to "${path}"`, entryOf());
      }
      signal?.throwIfAborted();
      try {
        return await task();
      } catch (error) {
        // The caller cancelled: that is no refusal of the generation.
        if (signal?.aborted && error === signal.reason) throw error;
        throw this.#reject(error, path, entryOf());
      }
    }, signal);
  }

  /** Loads a generation from a path (read from disk) or a kept snapshot, then commits it. */
  async #load(from: string | Snapshot, plan: LoadPlan): Promise<SwapResult> {
    const outgoing = this.lineage.current;
    const incoming = await loadGeneration(this.#loading, from, outgoing, plan);
    if (this.closed || plan.signal?.aborted) {
      // close() or the caller's abort came while this generation loaded: it must never serve.
      await incoming.retire(this.#options.drainTimeout, () => {});
      if (this.closed) throw this.closedError(`commit "${incoming.snapshot.entry}"`);
      throw plan.signal!.reason;
    }
    // A rollback's snapshot was not read through the source this time, so the source is not told.
    if (plan.via !== "rollback") this.#loading.source.committed(incoming.snapshot);
    // Serving first: a "swap" listener that calls with() must reach the new generation.
    this.#pointer.serve(incoming);
    this.lineage.commit(incoming, plan.via);
    // Only the first load (registration) has no outgoing generation, and it returns no result.
    const retired = outgoing === undefined ? undefined! : this.lineage.retire(outgoing);
    return { generation: incoming.number, digest: incoming.digest, retired };
  }

  async #shutDown(): Promise<void> {
    this.#pointer.serve(undefined);
    // A load in progress will never serve: it lets go now (its swap rejects E_CLOSED).
    this.#shutdown.abort(this.closedError("finish loading a generation"));
    for (const swaps of this.#signalSwaps) swaps.close();
    // A follower first: it must not queue swaps while the reference closes.
    for (const resource of this.#resources.splice(0)) {
      try {
        await resource[Symbol.asyncDispose]();
      } catch (error) {
        console.error("A resource of a hot-swap reference failed to close:", error);
      }
    }
    await this.#queue.idle();
    await this.lineage.retireAll();
    this.#loading.source.close?.();
    await this.#loading.loader[Symbol.asyncDispose]();
  }

  /**
   * Counts and announces a refused swap, and says which generation stays.
   * The event names the refused entry, not the file at fault (a dependency,
   * or the outgoing generation whose handoff() threw): that is the error's `path`.
   */
  #reject(error: unknown, path: PathLike | undefined, entry: string | undefined): HotswapError {
    const failure = annotate(error, this.lineage.current?.number);
    if (failure.code !== "E_CLOSED" && !NOTHING_TO_ROLL_BACK_TO.has(failure)) {
      this.#rejects++;
      this.#emit("reject", { path: entry ?? failure.path ?? String(path ?? ""), error: failure });
    }
    return failure;
  }
}

/**
 * Rollbacks refused because no earlier snapshot is kept: no generation was
 * refused, so they are neither counted in `stats().rejects` nor announced.
 */
const NOTHING_TO_ROLL_BACK_TO = new WeakSet<HotswapError>();

function nothingToRollBackTo(error: HotswapError): HotswapError {
  NOTHING_TO_ROLL_BACK_TO.add(error);
  return error;
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
