/**
 * When the graph watcher (`watch.ts`) swaps: which file events it takes in,
 * and how long it waits after them.
 *
 * Editors save in several steps (truncate, write, write, close; or write a
 * temporary file and rename it over), and a swap that read a file halfway
 * would run half a program. On Linux, `Deno.watchFs` reports a file closed
 * after writing as an "access" event (inotify's `IN_CLOSE_WRITE`; reads,
 * ours or anyone's, report nothing, as `IN_CLOSE_NOWRITE` and `IN_OPEN` are
 * not watched), and a file moved into place as a "rename" whose last path is
 * the destination. Either means the file is complete, and the watcher swaps
 * after only `settle` ms of quiet, so files saved together (save all, a git
 * checkout) still make one swap. A "modify", "create" or "remove" with no
 * such event after it may be a file still open for writing, or gone for a
 * moment: the watcher then waits `debounce` ms of quiet instead. That is the
 * fallback for platforms that report no close (macOS, Windows) and for
 * changes that close nothing (`chmod`, a link).
 *
 * @module
 */

import { dirname, extname } from "node:path";

/** One watched file's change, as the watcher's `onChange` reports it. */
export interface FileChange {
  /** The changed file. */
  readonly path: string;
  /** The event's kind as `Deno.watchFs` reported it. */
  readonly kind: Deno.FsEvent["kind"];
  /** Whether the file is complete (closed after writing, or moved into place). */
  readonly complete: boolean;
}

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
 * The changes an event makes to the files that matter.
 *
 * @param event What `Deno.watchFs` reported.
 * @param files The watched files.
 * @param failing Whether the last swap failed: then any module file matters,
 *   as a new one may be the missing import the failure complained about.
 */
export function changesOf(event: Deno.FsEvent, files: ReadonlySet<string>, failing: boolean): FileChange[] {
  // The kernel dropped events (inotify's queue overflowed): any file may have changed.
  const paths = event.flag === "rescan" ? [...event.paths, ...files] : event.paths;
  const last = paths.length - 1;
  const changes: FileChange[] = [];
  for (const [index, path] of paths.entries()) {
    if (event.kind === "remove" && !files.has(path)) {
      // A watched directory removed (the only event Deno gives when a whole directory goes,
      // as a checkout or a clean build does): every watched file in it changed.
      for (const file of files) {
        if (dirname(file) === path) changes.push({ path: file, kind: "remove", complete: false });
      }
    }
    if (!files.has(path) && !(failing && MODULE_EXTENSIONS.has(extname(path)))) continue;
    // Closed after writing, or moved into place. Deno reports a move as
    // "remove" of the source, "rename" of the destination, then "rename" of
    // both; the last path of a "rename" is where the file is now.
    const complete = event.flag !== "rescan" &&
      (event.kind === "access" || (event.kind === "rename" && index === last));
    changes.push({ path, kind: event.kind, complete });
  }
  return changes;
}

/**
 * The files changed since the last swap started, and the quiet period
 * before the next: `settle` ms once every changed file is complete, else
 * `debounce` ms, as a file seen modified but not closed may be half written.
 * Any later change starts the period over.
 */
export class ChangeBatch {
  readonly #settle: number;
  readonly #debounce: number;
  readonly #onQuiet: () => void;
  /** Each changed file, and whether it was last seen complete. */
  readonly #changed = new Map<string, boolean>();
  #timer: ReturnType<typeof setTimeout> | undefined;

  /**
   * @param settle Quiet, in ms, once every changed file is complete.
   * @param debounce Quiet, in ms, otherwise; never shorter than `settle`.
   * @param onQuiet Called when a quiet period runs out.
   */
  constructor(settle: number, debounce: number, onQuiet: () => void) {
    this.#settle = settle;
    this.#debounce = Math.max(debounce, settle);
    this.#onQuiet = onQuiet;
  }

  /** Whether a quiet period is running. */
  get waiting(): boolean {
    return this.#timer !== undefined;
  }

  /** Takes changes in and (re)starts the quiet period; nothing when `changes` is empty. */
  add(changes: readonly FileChange[]): void {
    if (changes.length === 0) return;
    for (const change of changes) this.#changed.set(change.path, change.complete);
    clearTimeout(this.#timer);
    let complete = true;
    for (const done of this.#changed.values()) complete &&= done;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#onQuiet();
    }, complete ? this.#settle : this.#debounce);
  }

  /** The changed files, sorted; the batch starts empty again (a running quiet period goes on). */
  take(): string[] {
    const changed = [...this.#changed.keys()].sort();
    this.#changed.clear();
    return changed;
  }

  /** Stops the quiet period. */
  cancel(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
