/**
 * Watching a generation's graph: swap when any file of the current
 * generation changes (the demo's and the server's `--watch`).
 *
 * The watcher follows the graph, not a fixed list: after every swap (its own
 * or anyone's) it re-reads `hot.info().files`, because a new generation may
 * import files the old one did not. It watches the directories holding those
 * files rather than the files themselves: editors often save by writing a
 * temporary file and renaming it over the original, which replaces the inode
 * a per-file watch would follow.
 *
 * @module
 */

import { dirname, extname } from "node:path";
import { describeThrown, HotswapError } from "./errors.ts";
import type { Hotswap, SwapResult } from "./hotswap.ts";

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
  /** Milliseconds of quiet after the last change before swapping (default 100). */
  debounce?: number;
  /** Called after each swap the watcher started, committed or refused. */
  onSwap?: (outcome: WatchOutcome) => void;
  /**
   * Called when the watcher cannot watch a new graph's directories (it keeps
   * watching the old ones). Without it the error goes to `reportError`.
   */
  onError?: (error: HotswapError) => void;
  /** Closes the watcher when aborted. */
  signal?: AbortSignal;
}

const DEFAULT_DEBOUNCE = 100;

/** Extensions a module can have: while a swap is failing, a new such file may be the missing import. */
const MODULE_EXTENSIONS: ReadonlySet<string> = new Set([
  ".ts",
  ".mts",
  ".tsx",
  ".js",
  ".mjs",
  ".jsx",
  ".json",
]);

/**
 * Swaps a {@linkcode Hotswap} to its current entry again whenever a file of
 * the current generation's graph changes. Create it with {@linkcode watchGraph}.
 *
 * @typeParam T The handle type of the contract.
 */
export class GraphWatcher<T> implements AsyncDisposable {
  readonly #hot: Hotswap<T>;
  readonly #debounce: number;
  readonly #onSwap: ((outcome: WatchOutcome) => void) | undefined;
  readonly #onError: ((error: HotswapError) => void) | undefined;
  readonly #signal: AbortSignal | undefined;
  /** Files whose change triggers a swap: the current graph, plus the file a failed swap blamed. */
  #files: ReadonlySet<string> = new Set();
  /** The watched directories, joined, to tell whether a new graph needs a new watcher. */
  #dirsKey = "";
  #fsWatcher: Deno.FsWatcher | undefined;
  readonly #pumps = new Set<Promise<void>>();
  #timer: ReturnType<typeof setTimeout> | undefined;
  readonly #changed = new Set<string>();
  #swapping: Promise<void> | undefined;
  /** Changes arrived (and their debounce ran out) while a swap was running. */
  #pending = false;
  /** The file the last refused swap blamed, while the watcher's last swap is failing. */
  #failure: { readonly path: string | undefined } | undefined;
  #closing: Promise<void> | undefined;
  readonly #onHotSwap = (): void => {
    // Another swap (stdin, SIGHUP, rollback) replaced the graph: whatever failed before is moot.
    this.#failure = undefined;
    this.#subscribe();
  };
  readonly #onAbort = (): void => {
    this.close().catch(reportError);
  };

  /** Use {@linkcode watchGraph}. */
  constructor(hot: Hotswap<T>, options: WatchOptions = {}) {
    const debounce = options.debounce ?? DEFAULT_DEBOUNCE;
    if (typeof debounce !== "number" || !Number.isFinite(debounce) || debounce < 0) {
      throw new RangeError(
        `Cannot watch: debounce must be a finite number of milliseconds, at least 0, got ${String(debounce)}`,
      );
    }
    if (hot.closed) {
      throw new HotswapError(
        "E_CLOSED",
        "Cannot watch: the hot-swap reference is closed; watch a reference before closing it",
        { activeGeneration: undefined },
      );
    }
    this.#hot = hot;
    this.#debounce = debounce;
    this.#onSwap = options.onSwap;
    this.#onError = options.onError;
    this.#signal = options.signal;
    options.signal?.throwIfAborted();
    this.#subscribeOrThrow();
    hot.addEventListener("swap", this.#onHotSwap);
    options.signal?.addEventListener("abort", this.#onAbort, { once: true });
  }

  /** The files a change of which triggers a swap, sorted. */
  get files(): readonly string[] {
    return [...this.#files].sort();
  }

  /** Whether `close()` was called. */
  get closed(): boolean {
    return this.#closing !== undefined;
  }

  /**
   * Stops watching. A swap already running completes (swaps cannot be
   * cancelled halfway) but is not reported. Idempotent.
   *
   * @returns Resolves once the file watcher is closed and no swap of the watcher runs.
   */
  close(): Promise<void> {
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  /** Closes, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #shutdown(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#hot.removeEventListener("swap", this.#onHotSwap);
    this.#signal?.removeEventListener("abort", this.#onAbort);
    const watcher = this.#fsWatcher;
    this.#fsWatcher = undefined;
    closeQuietly(watcher);
    await Promise.all(this.#pumps);
    await this.#swapping;
  }

  /** Watches the current graph's directories; throws when the first watch cannot start. */
  #subscribeOrThrow(): void {
    const error = this.#subscribe();
    if (error !== undefined) throw error;
  }

  /**
   * Points the watcher at the current generation's graph. Keeps the file
   * watcher when the directories are unchanged, so no event is missed.
   *
   * @returns The failure, when a new file watcher could not start.
   */
  #subscribe(): HotswapError | undefined {
    if (this.closed) return undefined;
    const files = new Set(this.#hot.info().files);
    if (this.#failure?.path !== undefined) files.add(this.#failure.path);
    this.#files = files;
    const dirs = [...new Set([...files].map((file) => dirname(file)))].sort();
    const key = dirs.join("\0");
    if (key === this.#dirsKey) return undefined;
    let watcher: Deno.FsWatcher;
    try {
      watcher = Deno.watchFs(dirs, { recursive: false });
    } catch (error) {
      const failure = watchError(dirs, error);
      if (this.#fsWatcher === undefined) return failure;
      if (this.#onError === undefined) reportError(failure);
      else this.#onError(failure);
      return undefined;
    }
    // Open the new watcher before closing the old one, so a change in a
    // directory both watch cannot fall between them.
    const old = this.#fsWatcher;
    this.#fsWatcher = watcher;
    this.#dirsKey = key;
    const pump = this.#pump(watcher);
    this.#pumps.add(pump);
    pump.finally(() => this.#pumps.delete(pump));
    closeQuietly(old);
    return undefined;
  }

  async #pump(watcher: Deno.FsWatcher): Promise<void> {
    try {
      for await (const event of watcher) this.#onEvent(event);
    } catch (error) {
      // A watcher closed under its iterator may throw instead of ending;
      // only a live watcher's failure is worth reporting.
      if (watcher === this.#fsWatcher && !this.closed) {
        const failure = watchError([...new Set(this.files.map((file) => dirname(file)))], error);
        if (this.#onError === undefined) reportError(failure);
        else this.#onError(failure);
      }
    }
  }

  #onEvent(event: Deno.FsEvent): void {
    // "access" is a file closed after reading; this process's own loads cause those.
    if (this.closed || event.kind === "access") return;
    let hit = false;
    for (const path of event.paths) {
      // While the watcher's swap is failing, a new module file may be the
      // missing import the failure complained about: retry on it too.
      if (this.#files.has(path) || (this.#failure !== undefined && MODULE_EXTENSIONS.has(extname(path)))) {
        this.#changed.add(path);
        hit = true;
      }
    }
    if (hit) this.#arm();
  }

  /** (Re)starts the debounce: editors write a file in several steps, one swap must see them all. */
  #arm(): void {
    clearTimeout(this.#timer);
    if (this.closed) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (this.#swapping !== undefined) this.#pending = true;
      else this.#swapping = this.#run();
    }, this.#debounce);
  }

  /** Swaps to the current entry and reports the outcome. Never rejects. */
  async #run(): Promise<void> {
    const changed = [...this.#changed].sort();
    this.#changed.clear();
    let outcome: WatchOutcome | undefined;
    try {
      const result = await this.#hot.swap(this.#hot.info().path);
      this.#failure = undefined;
      outcome = { ok: true, changed, result };
    } catch (error) {
      const failure = error instanceof HotswapError
        ? error
        : new HotswapError("E_IMPORT", `Cannot swap: ${describeThrown(error)}`, { cause: error });
      if (failure.code === "E_CLOSED") {
        // The reference was closed under the watcher: nothing left to watch for.
        this.#swapping = undefined;
        this.close().catch(reportError);
        return;
      }
      this.#failure = { path: failure.path };
      outcome = { ok: false, changed, error: failure };
    }
    // A refused swap fires no "swap" event, yet the blamed file joins the watched set.
    this.#subscribe();
    this.#swapping = undefined;
    if (this.closed) return;
    if (this.#pending) {
      this.#pending = false;
      this.#arm();
    }
    try {
      this.#onSwap?.(outcome);
    } catch (error) {
      // A listener's bug must not stop the watcher; surface it like an event listener's throw.
      reportError(error);
    }
  }
}

/**
 * Watches every file of `hot`'s current generation and swaps to the current
 * entry again, debounced, whenever one changes. After each swap it watches
 * the new graph. A refused swap (a broken save) leaves the old generation
 * serving; the next change retries.
 *
 * Needs read permission on the directories of the graph's files, which the
 * roots already grant. Close the watcher before closing `hot`.
 *
 * @typeParam T The handle type of the contract.
 * @param hot The reference to keep current.
 * @param options `debounce`, `onSwap`, `onError` and `signal`.
 * @returns The watcher; close it (or `await using` it) when done.
 * @throws {HotswapError} `E_CLOSED` when `hot` is closed; `E_PERMISSION` or `E_NOT_FOUND` when a directory cannot be watched.
 * @throws {RangeError} When `debounce` is negative or not finite.
 *
 * @example Swap when a file of the graph changes
 * ```ts
 * import { defineContract, registerHotswap, watchGraph, type WatchOutcome } from "@hotswap/runtime";
 * import { strictEqual } from "node:assert/strict";
 *
 * const contract = defineContract<{ answer: number }>({
 *   name: "Answer", version: "1.0.0", symbol: "hs_answer", shape: { answer: "number" },
 * });
 * const dir = await Deno.makeTempDir();
 * try {
 *   await Deno.writeTextFile(`${dir}/value.ts`, "export const value = 41;");
 *   await Deno.writeTextFile(`${dir}/entry.ts`, 'import { value } from "./value.ts";\nexport const hs_answer = { answer: value };');
 *   await using hot = await registerHotswap(contract, `${dir}/entry.ts`);
 *   const swapped = Promise.withResolvers<WatchOutcome>();
 *   await using _watcher = watchGraph(hot, { debounce: 20, onSwap: swapped.resolve });
 *   await Deno.writeTextFile(`${dir}/value.ts`, "export const value = 42;");
 *   const outcome = await swapped.promise;
 *   strictEqual(outcome.ok, true);
 *   strictEqual(hot.with((h) => h.answer), 42);
 * } finally {
 *   await Deno.remove(dir, { recursive: true });
 * }
 * ```
 */
export function watchGraph<T>(hot: Hotswap<T>, options?: WatchOptions): GraphWatcher<T> {
  return new GraphWatcher(hot, options);
}

function closeQuietly(watcher: Deno.FsWatcher | undefined): void {
  try {
    watcher?.close();
  } catch {
    // Already closed (its iterator ended on its own): nothing left to free.
  }
}

function watchError(dirs: readonly string[], error: unknown): HotswapError {
  const list = dirs.map((dir) => `"${dir}"`).join(", ");
  if (error instanceof Deno.errors.NotCapable || error instanceof Deno.errors.PermissionDenied) {
    return new HotswapError(
      "E_PERMISSION",
      `Cannot watch ${list}: the host has no read permission for it; run the host with --allow-read=${
        dirs.join(",")
      }`,
      { path: dirs[0], cause: error },
    );
  }
  return new HotswapError(
    "E_NOT_FOUND",
    `Cannot watch ${list}: ${describeThrown(error)}; check that the generation's directories still exist`,
    { path: dirs[0], cause: error },
  );
}
