/**
 * The loader interface: how a snapshot becomes a running generation. Inline,
 * worker and process isolation are three implementations; the hot-swap
 * reference knows only this interface, and this file is the one place that
 * bounds a load by `loadTimeout` and abandons it.
 *
 * @module
 */

import type { Contract } from "./contract.ts";
import { within } from "./deadline.ts";
import { HotswapError } from "./errors.ts";
import type { GenerationContext, GenerationRuntime } from "./generation.ts";
import type { Snapshot } from "./snapshot.ts";

/** Everything a loader needs to bring one generation up. */
export interface LoadRequest<T> {
  /** The host's contract. */
  readonly contract: Contract<T>;
  /** The graph to load. */
  readonly snapshot: Snapshot;
  /** What the factory receives; its signal is aborted if the load fails. */
  readonly context: GenerationContext;
  /**
   * Called by a loader that restarts a serving generation in place (process
   * isolation), with why the old instance ended and how many restarts the
   * last minute saw.
   */
  readonly onRestart: (reason: string, restarts: number) => void;
}

/**
 * A strategy that turns snapshots into running generations, with the
 * resources it keeps between loads (a warm standby worker or process).
 * Disposing it releases those; generations it loaded are unloaded by their
 * own runtime, before the loader is disposed.
 */
export interface Loader extends AsyncDisposable {
  /**
   * Brings one generation up: import, factory, contract check.
   *
   * @param request The snapshot, contract and context.
   * @param signal Aborted when the load is abandoned (its deadline passed):
   *   the loader then stops what it can (terminates a worker, kills a
   *   process), never runs the factory of an abandoned load, and rejects.
   * @returns The runtime whose handle callers see.
   */
  load<T>(request: LoadRequest<T>, signal: AbortSignal): Promise<GenerationRuntime<T>>;
  /** Workers or processes of generations this loader runs now, standbys included (0 inline). */
  readonly live: number;
  /** Resolves once the standby for the next load (if this loader keeps one) is ready or failed. */
  ready(): Promise<void>;
  /**
   * Starts the sandbox the next load will take, if none is starting, and
   * resolves once it is ready or failed (a failure is the load's to
   * report). Awaited before the load's deadline is armed: starting a worker
   * is the runtime's work, not the generation's, and under `deno test` Deno
   * type-checks the worker's program at its first start (1.3-2.3 s with a
   * cold cache, measured), which a short `loadTimeout` took for a hung load.
   */
  boot?(): Promise<void>;
  /** What an `E_TIMEOUT` message says became of an abandoned load in this mode. */
  readonly abandoned: string;
  /**
   * Whether an abandoned load ends entirely (its worker or process is
   * ended): then closing the reference abandons a load in progress. Inline,
   * the load runs to its end instead, and a generation that finished
   * loading is disposed as any refused one is.
   */
  readonly endsOnAbort: boolean;
}

/**
 * Where snapshots come from: files read from disk by default, or a signed
 * artifact verified against a trust list. The reference asks it for a
 * snapshot by path and tells it which ones it committed; it never reads a
 * file itself.
 */
export interface SnapshotSource {
  /**
   * Reads, checks and hashes the generation at `path`.
   *
   * @param path An absolute path.
   * @param options `rollback`: an explicit rollback, which may load a signed
   *   artifact older (by sequence) than the highest committed.
   * @throws {HotswapError} Whatever makes the generation unloadable.
   */
  read(path: string, options?: { readonly rollback?: boolean }): Promise<Snapshot>;
  /** Told when a snapshot it read became the serving generation (not by rollback). */
  committed(snapshot: Snapshot): void;
  /**
   * Gets reading ready to be fast at the next swap, given the generation
   * serving now (whose files the next ones most likely resemble).
   */
  warm?(snapshot: Snapshot): Promise<void>;
  /** Frees what `warm` started (a thread of its own, say); told once, as the reference closes. */
  close?(): void;
  /**
   * Reads `path` at each delivery of `signal`, on a thread of its own that
   * takes the signal itself (see `Hotswap.swapOnSignal`). Only for reads
   * that depend on nothing the reference commits: each is taken out of the
   * order of swaps.
   *
   * @returns Stops it; `undefined` when the source cannot (the swap then reads as any swap does).
   */
  readOnSignal?(signal: Deno.Signal, path: string, reads: SignalReads): (() => void) | undefined;
}

/** Where a source's reads on a signal go (see {@linkcode SnapshotSource.readOnSignal}). */
export interface SignalReads {
  /** The source's thread now takes the signal: each delivery from now on is read there. */
  listening(): void;
  /** That thread took a signal and reads: `read` follows, unless the thread ends first (`gone`). */
  taken(): void;
  /** A read that a delivery started, as it finishes there. */
  read(read: Promise<Snapshot>): void;
  /** The source's thread ended: no more reads come from it. */
  gone(): void;
}

/**
 * Loads through `loader`, at most `loadTimeout` milliseconds. Past it the
 * load is abandoned (its signal aborts), and a load that still succeeds
 * afterwards is unloaded at once: a refused generation never serves.
 *
 * @param loader The isolation mode's loader.
 * @param request What to load.
 * @param loadTimeout Milliseconds import, factory and verification may take together.
 * @param closing Aborted when the reference closes: a loader that ends an abandoned load entirely is told at once.
 * @returns The runtime of the loaded generation.
 * @throws {HotswapError} `E_TIMEOUT` past the deadline; otherwise what the loader rejected with.
 */
export async function loadWithin<T>(
  loader: Loader,
  request: LoadRequest<T>,
  loadTimeout: number,
  closing?: AbortSignal,
): Promise<GenerationRuntime<T>> {
  // Only a loader that boots awaits: inline, the load starts in this very turn.
  if (loader.boot !== undefined) {
    await loader.boot();
    // Closed while the sandbox started: nothing was loaded yet, so nothing is.
    if (loader.endsOnAbort && closing?.aborted) throw closing.reason;
  }
  const controller = new AbortController();
  const loading = loader.load(request, controller.signal);
  // Closing: a loader that ends an abandoned load entirely (a worker, a
  // process) is told now, and the load rejects as soon as it has ended it.
  const stop = loader.endsOnAbort ? closing : undefined;
  const abandon = () => controller.abort(stop!.reason);
  stop?.addEventListener("abort", abandon, { once: true });
  let outcome;
  try {
    outcome = await within(loading, loadTimeout);
  } finally {
    stop?.removeEventListener("abort", abandon);
  }
  if (outcome.status === "fulfilled") return outcome.value;
  if (outcome.status === "rejected") throw outcome.reason;
  const entry = request.snapshot.entry;
  const timeout = new HotswapError(
    "E_TIMEOUT",
    `Cannot load "${entry}": import, factory and verification took longer than loadTimeout (${loadTimeout} ms); ${loader.abandoned}; look for a top-level await, a loop, or a factory that never settles`,
    { path: entry },
  );
  controller.abort(timeout);
  // An unload that fails has nothing left to report to: the swap was refused.
  loading.then((runtime) => runtime.unload()).catch(() => {});
  throw timeout;
}
