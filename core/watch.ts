/**
 * Watching a generation's graph: swap when any file of the current
 * generation changes (the demo's and the server's `--watch`).
 *
 * The watcher follows the graph, not a fixed list: after every swap (its own
 * or anyone's) it re-reads `hot.info().files`, because a new generation may
 * import files the old one did not.
 *
 * Its parts: `_dir_watch.ts` follows the directories holding those files
 * (and says why directories), `_change_batch.ts` decides which events count
 * and how long to wait after them, and this file runs the swaps, one at a
 * time.
 *
 * @module
 */

import { ChangeBatch, changesOf } from "./_change_batch.ts";
import { DirectoryWatch } from "./_dir_watch.ts";
import { callBack, report } from "./_watch_report.ts";
import { describeThrown, HotswapError } from "./errors.ts";
import type { Hotswap } from "./hotswap.ts";
import { dirname } from "node:path";
import { quietPeriods, type WatchOptions, type WatchOutcome } from "./watch_options.ts";
import { refuseUnknownOptions } from "./_known_options.ts";

/**
 * The file a refused swap's import named and did not find, from the
 * refusal's message (`_file_access.ts` words it; it also crosses from the
 * reader's thread, as text).
 */
function missingImportOf(failure: HotswapError): string | undefined {
  return /resolves to "([^"]+)", (?:no such file|it is a symlink loop)/.exec(failure.message)?.[1];
}

function isSymlink(path: string): boolean {
  try {
    return Deno.lstatSync(path).isSymlink;
  } catch {
    return false;
  }
}

/** Why the watcher aborts a swap whose files changed while it ran. */
const SUPERSEDED = new Error("a file of the graph changed while the swap read it: swapping again");

export type { WatchOptions, WatchOutcome } from "./watch_options.ts";

/**
 * Swaps a {@linkcode Hotswap} to its current entry again whenever a file of
 * the current generation's graph changes. Create it with {@linkcode watchGraph}.
 *
 * @typeParam T The handle type of the contract.
 */
export class GraphWatcher<T> implements AsyncDisposable {
  readonly #hot: Hotswap<T>;
  readonly #onChange: WatchOptions["onChange"];
  readonly #onSwap: WatchOptions["onSwap"];
  readonly #onError: WatchOptions["onError"];
  readonly #signal: AbortSignal | undefined;
  /** Files whose change triggers a swap: the current graph, plus the file a failed swap blamed. */
  #files: ReadonlySet<string> = new Set();
  readonly #dirs: DirectoryWatch;
  readonly #batch: ChangeBatch;
  #swapping: Promise<void> | undefined;
  /** The quiet period ran out while a swap was running: swap again once it ends. */
  #pending = false;
  /** Aborts the swap under way: a file of the graph changed while it read or loaded. */
  #inFlight: AbortController | undefined;
  /** The changes of a swap that a later change superseded, reported with the next swap's. */
  #carried: readonly string[] = [];
  /** The file the last refused swap blamed, while the watcher's last swap is failing. */
  #failure: { readonly path: string | undefined; readonly missing: string | undefined } | undefined;
  #closing: Promise<void> | undefined;
  readonly #onHotSwap = (): void => {
    // Another swap (stdin, SIGHUP, rollback) replaced the graph: whatever failed before is moot.
    this.#failure = undefined;
    this.#subscribe();
  };
  readonly #onAbort = (): void => {
    this.#closeInBackground();
  };

  /** Use {@linkcode watchGraph}. */
  constructor(hot: Hotswap<T>, options: WatchOptions = {}) {
    refuseUnknownOptions(
      options,
      ["settle", "debounce", "onChange", "onSwap", "onError", "signal"],
      "Cannot watch",
    );
    const { settle, debounce } = quietPeriods(options);
    if (hot.closed) {
      throw new HotswapError(
        "E_CLOSED",
        "Cannot watch: the hot-swap reference is closed; watch a reference before closing it",
        { activeGeneration: undefined },
      );
    }
    this.#hot = hot;
    this.#onChange = options.onChange;
    this.#onSwap = options.onSwap;
    this.#onError = options.onError;
    this.#signal = options.signal;
    this.#dirs = new DirectoryWatch(
      (event) => this.#onEvent(event),
      (failure) => this.#fail(failure),
      (dirs) => this.#onRestored(dirs),
    );
    this.#batch = new ChangeBatch(settle, debounce, () => this.#onQuiet());
    options.signal?.throwIfAborted();
    const failure = this.#subscribe();
    if (failure !== undefined) throw failure;
    hot.addEventListener("swap", this.#onHotSwap);
    options.signal?.addEventListener("abort", this.#onAbort, { once: true });
  }

  /**
   * The files a change of which triggers a swap, sorted.
   *
   * @example The files of the current generation
   * ```ts
   * import { defineContract, registerHotswap, watchGraph } from "@hotswap/runtime";
   * import { strictEqual } from "node:assert/strict";
   *
   * const contract = defineContract<{ answer: number }>({
   *   name: "Answer", version: "1.0.0", symbol: "hs_answer", shape: { answer: "number" },
   * });
   * const dir = await Deno.realPath(await Deno.makeTempDir());
   * {
   *   await Deno.writeTextFile(`${dir}/entry.ts`, "export const hs_answer = { answer: 42 };");
   *   await using hot = await registerHotswap(contract, `${dir}/entry.ts`);
   *   await using watcher = watchGraph(hot);
   *   strictEqual(watcher.files.join(), `${dir}/entry.ts`);
   * }
   * await Deno.remove(dir, { recursive: true });
   * ```
   */
  get files(): readonly string[] {
    return [...this.#files].sort();
  }

  /**
   * Whether `close()` was called.
   *
   * @example Closed once close() is called
   * ```ts
   * import { defineContract, registerHotswap, watchGraph } from "@hotswap/runtime";
   * import { strictEqual } from "node:assert/strict";
   *
   * const contract = defineContract<{ answer: number }>({
   *   name: "Answer", version: "1.0.0", symbol: "hs_answer", shape: { answer: "number" },
   * });
   * const dir = await Deno.realPath(await Deno.makeTempDir());
   * {
   *   await Deno.writeTextFile(`${dir}/entry.ts`, "export const hs_answer = { answer: 42 };");
   *   await using hot = await registerHotswap(contract, `${dir}/entry.ts`);
   *   const watcher = watchGraph(hot);
   *   strictEqual(watcher.closed, false);
   *   const closing = watcher.close();
   *   strictEqual(watcher.closed, true);
   *   await closing;
   * }
   * await Deno.remove(dir, { recursive: true });
   * ```
   */
  get closed(): boolean {
    return this.#closing !== undefined;
  }

  /**
   * Stops watching. A swap already running completes (swaps cannot be
   * cancelled halfway) but is not reported. Idempotent.
   *
   * @returns Resolves once the file watcher is closed and no swap of the watcher runs.
   *
   * @example Stop watching before closing the reference
   * ```ts
   * import { defineContract, registerHotswap, watchGraph } from "@hotswap/runtime";
   * import { strictEqual } from "node:assert/strict";
   *
   * const contract = defineContract<{ answer: number }>({
   *   name: "Answer", version: "1.0.0", symbol: "hs_answer", shape: { answer: "number" },
   * });
   * const dir = await Deno.realPath(await Deno.makeTempDir());
   * {
   *   await Deno.writeTextFile(`${dir}/entry.ts`, "export const hs_answer = { answer: 42 };");
   *   await using hot = await registerHotswap(contract, `${dir}/entry.ts`);
   *   const watcher = watchGraph(hot);
   *   await watcher.close();
   *   await watcher.close(); // a second close does nothing
   *   strictEqual(watcher.closed, true);
   * }
   * await Deno.remove(dir, { recursive: true });
   * ```
   */
  close(): Promise<void> {
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  /**
   * Closes, for `await using`.
   *
   * @example Closed at the end of the block
   * ```ts
   * import { defineContract, registerHotswap, watchGraph } from "@hotswap/runtime";
   * import { strictEqual } from "node:assert/strict";
   *
   * const contract = defineContract<{ answer: number }>({
   *   name: "Answer", version: "1.0.0", symbol: "hs_answer", shape: { answer: "number" },
   * });
   * const dir = await Deno.realPath(await Deno.makeTempDir());
   * {
   *   await Deno.writeTextFile(`${dir}/entry.ts`, "export const hs_answer = { answer: 42 };");
   *   await using hot = await registerHotswap(contract, `${dir}/entry.ts`);
   *   let watcher;
   *   {
   *     await using scoped = watchGraph(hot);
   *     watcher = scoped;
   *   }
   *   strictEqual(watcher.closed, true);
   * }
   * await Deno.remove(dir, { recursive: true });
   * ```
   */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #shutdown(): Promise<void> {
    this.#batch.cancel();
    this.#hot.removeEventListener("swap", this.#onHotSwap);
    this.#signal?.removeEventListener("abort", this.#onAbort);
    await this.#dirs.close();
    await this.#swapping;
  }

  /** Closes without a caller to await it; `#shutdown` cannot reject, yet a bug there must not end the host. */
  #closeInBackground(): void {
    this.close().catch((error: unknown) => report("closing the watcher failed:", error));
  }

  /**
   * Points the watcher at the current generation's graph.
   *
   * @returns The failure, when the first file watcher could not start.
   */
  #subscribe(): HotswapError | undefined {
    if (this.closed) return undefined;
    // A generation from an artifact is one file on disk: its files are only in memory.
    const info = this.#hot.info();
    const files = new Set(info.provenance === undefined ? info.files : [info.provenance.artifact]);
    if (this.#failure?.path !== undefined) files.add(this.#failure.path);
    // The import it could not find: its directory is watched too (looked for until it exists).
    const missing = this.#failure?.missing;
    if (missing !== undefined) files.add(missing);
    this.#files = files;
    return this.#dirs.follow(
      [...files].filter((file) => file !== missing),
      missing === undefined ? [] : [missing],
    );
  }

  /** Hands a watch failure to `onError`, or prints it. */
  #fail(failure: HotswapError): void {
    if (this.#onError === undefined) report("", failure);
    else callBack("onError", this.#onError, failure);
  }

  #onEvent(event: Deno.FsEvent): void {
    if (this.closed) return;
    // While a swap runs, or after one failed, any module file counts: the
    // graph being read may import a file the serving one does not (a new
    // module, written after the entry that imports it, or the missing import
    // appearing), and its save must not be lost, nor a half of it committed.
    const changes = changesOf(
      event,
      this.#files,
      this.#failure !== undefined || this.#inFlight !== undefined,
    );
    // The graph's files are real paths; an import may name one through a symlink in a watched
    // directory (its importer's). A link made or re-pointed there (`ln -sfn`) may change what the
    // graph holds: it counts as a change, complete, since a link is made in one step.
    for (const path of event.paths) {
      if (!this.#files.has(path) && !changes.some((change) => change.path === path) && isSymlink(path)) {
        changes.push({ path, kind: event.kind, complete: true });
      }
    }
    this.#batch.add(changes);
    // What the swap under way read may be a file caught mid-write: it must not commit. The
    // change's own quiet period swaps again (see `#run`).
    if (changes.length > 0) this.#inFlight?.abort(SUPERSEDED);
    for (const change of changes) callBack("onChange", this.#onChange, change);
  }

  /** A directory of the graph (or of the import a failed swap missed) exists again: its files may have changed meanwhile. */
  #onRestored(dirs: readonly string[]): void {
    if (this.closed) return;
    const changes = [...this.#files].filter((file) => dirs.includes(dirname(file)))
      .map((path) => ({ path, kind: "create" as const, complete: false }));
    this.#batch.add(changes);
    for (const change of changes) callBack("onChange", this.#onChange, change);
  }

  #onQuiet(): void {
    if (this.closed) return;
    if (this.#swapping !== undefined) this.#pending = true;
    else this.#swapping = this.#run();
  }

  /** Swaps to the current entry and reports the outcome. Never rejects. */
  async #run(): Promise<void> {
    const changed = [...new Set([...this.#carried, ...this.#batch.take()])].sort();
    this.#carried = [];
    let outcome: WatchOutcome | undefined;
    const inFlight = new AbortController();
    this.#inFlight = inFlight;
    try {
      const info = this.#hot.info();
      const result = await this.#hot.swap(info.provenance?.artifact ?? info.path, {
        signal: inFlight.signal,
      });
      this.#failure = undefined;
      outcome = { ok: true, changed, result };
    } catch (error) {
      if (error === SUPERSEDED) {
        // Nothing changed; the next swap reports these changes with its own.
        this.#carried = changed;
        this.#inFlight = undefined;
        this.#swapping = undefined;
        this.#swapAgainIfDue();
        return;
      }
      const failure = error instanceof HotswapError
        ? error
        : new HotswapError("E_IMPORT", `Cannot swap: ${describeThrown(error)}`, { cause: error });
      if (failure.code === "E_CLOSED") {
        // The reference was closed under the watcher: nothing left to watch for.
        this.#swapping = undefined;
        this.#closeInBackground();
        return;
      }
      this.#failure = { path: failure.path, missing: missingImportOf(failure) };
      outcome = { ok: false, changed, error: failure };
    }
    // A refused swap fires no "swap" event, yet the blamed file joins the watched set.
    this.#subscribe();
    this.#inFlight = undefined;
    this.#swapping = undefined;
    if (this.closed) return;
    this.#swapAgainIfDue();
    callBack("onSwap", this.#onSwap, outcome);
  }

  /**
   * Changes made during the swap whose quiet period already ran out: swap
   * again now. (Ones still in their quiet period have a timer armed.)
   */
  #swapAgainIfDue(): void {
    if (this.closed || !this.#pending) return;
    this.#pending = false;
    if (!this.#batch.waiting) this.#swapping = this.#run();
  }
}

/**
 * Watches every file of `hot`'s current generation and swaps to the current
 * entry again when one changes: `settle` ms after the changed files are
 * complete (closed after writing, or renamed into place), else `debounce` ms
 * after the last change. After each swap it watches the new graph. A refused
 * swap (a broken save) leaves the old generation serving; the next change
 * retries. What a callback throws, or a promise it returns that rejects, is
 * printed with `console.error` and changes nothing the watcher does.
 *
 * Needs read permission on the directories of the graph's files, which the
 * roots already grant. Close the watcher before closing `hot`.
 *
 * @typeParam T The handle type of the contract.
 * @param hot The reference to keep current.
 * @param options `settle`, `debounce`, `onChange`, `onSwap`, `onError` and `signal`.
 * @returns The watcher; close it (or `await using` it) when done.
 * @throws {HotswapError} `E_CLOSED` when `hot` is closed; `E_PERMISSION` or `E_NOT_FOUND` when a directory cannot be watched.
 * @throws {RangeError} When `settle` or `debounce` is negative or not finite.
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
 *   await using _watcher = watchGraph(hot, { onSwap: swapped.resolve });
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
