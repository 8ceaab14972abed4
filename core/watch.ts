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
 * When to swap: editors save in several steps (truncate, write, write,
 * close; or write a temporary file and rename it over), and a swap that read
 * a file halfway would run half a program. On Linux, `Deno.watchFs` reports
 * a file closed after writing as an "access" event (inotify's
 * `IN_CLOSE_WRITE`; reads, ours or anyone's, report nothing, as
 * `IN_CLOSE_NOWRITE` and `IN_OPEN` are not watched), and a file moved into
 * place as a "rename" whose last path is the destination. Either means the
 * file is complete, and the watcher swaps after only `settle` ms of quiet, so
 * files saved together (save all, a git checkout) still make one swap. A
 * "modify", "create" or "remove" with no such event after it may be a file
 * still open for writing, or gone for a moment: the watcher then waits
 * `debounce` ms of quiet instead. That is the fallback for platforms that
 * report no close (macOS, Windows) and for changes that close nothing
 * (`chmod`, a link).
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
  /**
   * Milliseconds of quiet to wait, once every changed file is complete
   * (closed after writing, or renamed into place), before swapping: files
   * saved within it of each other make one swap.
   *
   * @default {5}
   */
  settle?: number;
  /**
   * Milliseconds of quiet after the last change before swapping when a
   * changed file was not seen complete: on platforms that report no close
   * (macOS, Windows), after a change that closes nothing (`chmod`, a
   * removal), or when a writer pauses this long with the file still open.
   * Never shorter than `settle`.
   *
   * @default {100}
   */
  debounce?: number;
  /**
   * Called for each change of a watched file, once the watcher has taken it
   * in. `kind` is the event's kind as `Deno.watchFs` reported it ("access" is
   * a file closed after writing); `complete` is whether the file is complete
   * (swap after `settle`) or may still be written (wait for more, or for
   * `debounce` of quiet).
   */
  onChange?: (change: {
    readonly path: string;
    readonly kind: Deno.FsEvent["kind"];
    readonly complete: boolean;
  }) => void;
  /** Called after each swap the watcher started, committed or refused. */
  onSwap?: (outcome: WatchOutcome) => void;
  /**
   * Called when the watcher cannot watch a new graph's directories (it keeps
   * watching the old ones). Without it the error is printed with `console.error`.
   */
  onError?: (error: HotswapError) => void;
  /** Closes the watcher when aborted. */
  signal?: AbortSignal;
}

const DEFAULT_SETTLE = 5;
const DEFAULT_DEBOUNCE = 100;
const PREFIX = "hotswap watch:";

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
  readonly #settle: number;
  readonly #debounce: number;
  readonly #onChange: WatchOptions["onChange"];
  readonly #onSwap: WatchOptions["onSwap"];
  readonly #onError: WatchOptions["onError"];
  readonly #signal: AbortSignal | undefined;
  /** Files whose change triggers a swap: the current graph, plus the file a failed swap blamed. */
  #files: ReadonlySet<string> = new Set();
  /** The watched directories, joined, to tell whether a new graph needs a new watcher. */
  #dirsKey = "";
  #fsWatcher: Deno.FsWatcher | undefined;
  readonly #pumps = new Set<Promise<void>>();
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** Files changed since the last swap started, and whether each was last seen complete. */
  readonly #changed = new Map<string, boolean>();
  #swapping: Promise<void> | undefined;
  /** The quiet period ran out while a swap was running: swap again once it ends. */
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
    this.#closeInBackground();
  };
  readonly #onQuiet = (): void => {
    this.#timer = undefined;
    if (this.closed) return;
    if (this.#swapping !== undefined) this.#pending = true;
    else this.#swapping = this.#run();
  };

  /** Use {@linkcode watchGraph}. */
  constructor(hot: Hotswap<T>, options: WatchOptions = {}) {
    const settle = milliseconds("settle", options.settle, DEFAULT_SETTLE);
    const debounce = milliseconds("debounce", options.debounce, DEFAULT_DEBOUNCE);
    if (hot.closed) {
      throw new HotswapError(
        "E_CLOSED",
        "Cannot watch: the hot-swap reference is closed; watch a reference before closing it",
        { activeGeneration: undefined },
      );
    }
    this.#hot = hot;
    this.#settle = settle;
    this.#debounce = Math.max(debounce, settle);
    this.#onChange = options.onChange;
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

  /** Closes without a caller to await it; `#shutdown` cannot reject, yet a bug there must not end the host. */
  #closeInBackground(): void {
    this.close().catch((error: unknown) => report("closing the watcher failed:", error));
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
   * @returns The failure, when the first file watcher could not start.
   */
  #subscribe(): HotswapError | undefined {
    if (this.closed) return undefined;
    // A generation from an artifact is one file on disk: its files are only in memory.
    const info = this.#hot.info();
    const files = new Set(info.provenance === undefined ? info.files : [info.provenance.artifact]);
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
      this.#fail(failure);
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

  /** Hands a watch failure to `onError`, or prints it. */
  #fail(failure: HotswapError): void {
    if (this.#onError === undefined) report("", failure);
    else callBack("onError", this.#onError, failure);
  }

  /** Feeds one file watcher's events in. Never rejects. */
  async #pump(watcher: Deno.FsWatcher): Promise<void> {
    try {
      for await (const event of watcher) this.#onEvent(event);
    } catch (error) {
      // A watcher closed under its iterator may throw instead of ending;
      // only a live watcher's failure is worth reporting.
      if (watcher === this.#fsWatcher && !this.closed) {
        this.#fail(watchError([...new Set(this.files.map((file) => dirname(file)))], error));
      }
    }
  }

  #onEvent(event: Deno.FsEvent): void {
    if (this.closed) return;
    // The kernel dropped events (inotify's queue overflowed): any file may have changed.
    const paths = event.flag === "rescan" ? [...event.paths, ...this.#files] : event.paths;
    const last = paths.length - 1;
    let hit = false;
    for (const [index, path] of paths.entries()) {
      // While the watcher's swap is failing, a new module file may be the
      // missing import the failure complained about: retry on it too.
      if (!this.#files.has(path) && !(this.#failure !== undefined && MODULE_EXTENSIONS.has(extname(path)))) {
        continue;
      }
      // Closed after writing, or moved into place. Deno reports a move as
      // "remove" of the source, "rename" of the destination, then "rename" of
      // both; the last path of a "rename" is where the file is now.
      const complete = event.flag !== "rescan" &&
        (event.kind === "access" || (event.kind === "rename" && index === last));
      this.#changed.set(path, complete);
      hit = true;
      callBack("onChange", this.#onChange, { path, kind: event.kind, complete });
    }
    if (hit) this.#arm();
  }

  /**
   * (Re)starts the quiet period: `settle` when every changed file is
   * complete, else `debounce`, as a file seen modified but not closed may be
   * half written. Any later change of a watched file starts it over.
   */
  #arm(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.closed) return;
    let complete = true;
    for (const done of this.#changed.values()) complete &&= done;
    this.#timer = setTimeout(this.#onQuiet, complete ? this.#settle : this.#debounce);
  }

  /** Swaps to the current entry and reports the outcome. Never rejects. */
  async #run(): Promise<void> {
    const changed = [...this.#changed.keys()].sort();
    this.#changed.clear();
    let outcome: WatchOutcome | undefined;
    try {
      const info = this.#hot.info();
      const result = await this.#hot.swap(info.provenance?.artifact ?? info.path);
      this.#failure = undefined;
      outcome = { ok: true, changed, result };
    } catch (error) {
      const failure = error instanceof HotswapError
        ? error
        : new HotswapError("E_IMPORT", `Cannot swap: ${describeThrown(error)}`, { cause: error });
      if (failure.code === "E_CLOSED") {
        // The reference was closed under the watcher: nothing left to watch for.
        this.#swapping = undefined;
        this.#closeInBackground();
        return;
      }
      this.#failure = { path: failure.path };
      outcome = { ok: false, changed, error: failure };
    }
    // A refused swap fires no "swap" event, yet the blamed file joins the watched set.
    this.#subscribe();
    this.#swapping = undefined;
    if (this.closed) return;
    // Changes made during the swap whose quiet period already ran out: swap
    // again now. (Ones still in their quiet period have a timer armed.)
    if (this.#pending) {
      this.#pending = false;
      if (this.#timer === undefined) this.#swapping = this.#run();
    }
    callBack("onSwap", this.#onSwap, outcome);
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

function milliseconds(name: string, value: unknown, fallback: number): number {
  const ms = value ?? fallback;
  if (typeof ms !== "number" || !Number.isFinite(ms) || ms < 0) {
    throw new RangeError(
      `Cannot watch: ${name} must be a finite number of milliseconds, at least 0, got ${String(ms)}`,
    );
  }
  return ms;
}

/**
 * Calls one of the caller's callbacks in isolation. What it throws, or a
 * promise it returns that rejects, is printed, never passed on: thrown out of
 * a timer or an event pump, or handed to `reportError`, it would reach Deno's
 * global error handling, which ends the host process.
 */
function callBack<A>(name: string, callback: ((arg: A) => void) | undefined, arg: A): void {
  if (callback === undefined) return;
  const fail = (error: unknown) => report(`the ${name} callback threw; the watcher carries on:`, error);
  try {
    const result: unknown = callback(arg);
    if (result instanceof Promise) Promise.prototype.then.call(result, undefined, fail);
  } catch (error) {
    fail(error);
  }
}

/** Prints a problem of the watcher; never throws, even for a value that cannot be printed. */
function report(what: string, error: unknown): void {
  const prefix = what === "" ? PREFIX : `${PREFIX} ${what}`;
  try {
    console.error(prefix, error);
  } catch {
    console.error(prefix, describeThrown(error));
  }
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
