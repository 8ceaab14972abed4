/**
 * Watching the directories that hold a changing set of files, for the graph
 * watcher (`watch.ts`): one `Deno.watchFs` at a time, replaced when the set
 * of directories changes.
 *
 * It watches directories rather than the files themselves: editors often
 * save by writing a temporary file and renaming it over the original, which
 * replaces the inode a per-file watch would follow. Deciding which events
 * matter is the caller's (see `_change_batch.ts`).
 *
 * @module
 */

import { dirname } from "node:path";
import { describeThrown, HotswapError } from "./errors.ts";

/** Follows the directories of a set of files, handing every event of them to `onEvent`. */
export class DirectoryWatch {
  readonly #onEvent: (event: Deno.FsEvent) => void;
  readonly #onError: (error: HotswapError) => void;
  #watcher: Deno.FsWatcher | undefined;
  /** The watched directories, sorted. */
  #dirs: readonly string[] = [];
  readonly #pumps = new Set<Promise<void>>();
  #closed = false;

  /**
   * @param onEvent Called for each event of a watched directory.
   * @param onError Called when a watcher fails after it started, or a new set of directories cannot be watched.
   */
  constructor(onEvent: (event: Deno.FsEvent) => void, onError: (error: HotswapError) => void) {
    this.#onEvent = onEvent;
    this.#onError = onError;
  }

  /**
   * Watches the directories holding `files` from now on. Keeps the running
   * watcher when they are the same, so no event is missed.
   *
   * @returns The failure when nothing is watched yet and the first watcher
   *   cannot start. Later failures go to `onError`, and the old directories
   *   stay watched.
   */
  follow(files: Iterable<string>): HotswapError | undefined {
    if (this.#closed) return undefined;
    const dirs = [...new Set([...files].map((file) => dirname(file)))].sort();
    if (dirs.join("\0") === this.#dirs.join("\0")) return undefined;
    let watcher: Deno.FsWatcher;
    try {
      watcher = Deno.watchFs(dirs, { recursive: false });
    } catch (error) {
      const failure = watchError(dirs, error);
      if (this.#watcher === undefined) return failure;
      this.#onError(failure);
      return undefined;
    }
    // Open the new watcher before closing the old one, so a change in a
    // directory both watch cannot fall between them.
    const old = this.#watcher;
    this.#watcher = watcher;
    this.#dirs = dirs;
    const pump = this.#pump(watcher);
    this.#pumps.add(pump);
    pump.finally(() => this.#pumps.delete(pump));
    closeQuietly(old);
    return undefined;
  }

  /** Stops watching; resolves once no event will be handed on. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    const watcher = this.#watcher;
    this.#watcher = undefined;
    closeQuietly(watcher);
    await Promise.all(this.#pumps);
  }

  /** Feeds one watcher's events in. Never rejects. */
  async #pump(watcher: Deno.FsWatcher): Promise<void> {
    try {
      for await (const event of watcher) {
        if (!this.#closed) this.#onEvent(event);
      }
    } catch (error) {
      // A watcher closed under its iterator may throw instead of ending;
      // only a live watcher's failure is worth reporting.
      if (watcher === this.#watcher && !this.#closed) this.#onError(watchError(this.#dirs, error));
    }
  }
}

function closeQuietly(watcher: Deno.FsWatcher | undefined): void {
  try {
    watcher?.close();
  } catch {
    // Already closed (its iterator ended on its own): nothing left to free.
  }
}

/** Why `dirs` cannot be watched: `E_PERMISSION` without read permission, else `E_NOT_FOUND`. */
export function watchError(dirs: readonly string[], error: unknown): HotswapError {
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
