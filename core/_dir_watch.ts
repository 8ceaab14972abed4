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
  /** Their identities (device and inode) when watched: a directory removed and made again is another. */
  #identities = "";
  /** A watched directory was removed: the running watch cannot see its successor. */
  #stale = false;
  /** The running watcher's pump, which ends once Deno has let go of its watches. */
  #current: Promise<void> | undefined;
  /** The old watcher is closing after a removal; the new one is made once it has. */
  #rewatching = false;
  readonly #pumps = new Set<Promise<void>>();
  #closed = false;
  /** The files last followed, and a timer looking for their directories that were missing. */
  #files: readonly string[] = [];
  /** Files followed whose directory may well be missing (a missing import's). */
  #optional: readonly string[] = [];
  /** The missing directories last reported, so that each loss is reported once. */
  #reported = "";
  /** Directories of those files that did not exist when last followed. */
  #missing: readonly string[] = [];
  #retry: ReturnType<typeof setTimeout> | undefined;
  readonly #onRestored: (dirs: readonly string[]) => void;

  /**
   * @param onEvent Called for each event of a watched directory.
   * @param onError Called when a watcher fails after it started, or a new set of directories cannot be watched.
   * @param onRestored Called with the directories that were missing, once they exist again and
   *   are watched: files may have been written there before their watch began.
   */
  constructor(
    onEvent: (event: Deno.FsEvent) => void,
    onError: (error: HotswapError) => void,
    onRestored: (dirs: readonly string[]) => void = () => {},
  ) {
    this.#onEvent = onEvent;
    this.#onError = onError;
    this.#onRestored = onRestored;
  }

  /**
   * Watches the directories holding `files` from now on. Keeps the running
   * watcher when they are the same, so no event is missed. A directory that
   * does not exist (yet, or any more) is looked for until it does: then it is
   * watched, and `onRestored` told.
   *
   * @param files The files whose directories to watch; one of them missing is reported to `onError`.
   * @param optional Files whose directories may be missing, silently (the import a failed swap missed).
   * @returns The failure when nothing is watched yet and the first watcher
   *   cannot start. Later failures go to `onError`, and the old directories
   *   stay watched.
   */
  follow(files: Iterable<string>, optional: Iterable<string> = []): HotswapError | undefined {
    if (this.#closed) return undefined;
    this.#files = [...files];
    this.#optional = [...optional];
    // A watch made anew after a removal is on its way (below): it follows these files.
    if (this.#rewatching) return undefined;
    const required = [...new Set(this.#files.map((file) => dirname(file)))];
    const wanted = [...new Set([...required, ...this.#optional.map((file) => dirname(file))])];
    const dirs = wanted.filter(exists).sort();
    this.#missing = wanted.filter((dir) => !dirs.includes(dir));
    this.#lookAgain();
    const lost = required.filter((dir) => !dirs.includes(dir));
    if (lost.length > 0 && lost.join("\0") !== this.#reported) {
      this.#reported = lost.join("\0");
      if (this.#watcher === undefined && dirs.length === 0) {
        // Nothing watched yet, nor anything to watch: the caller's to refuse, and nothing to look for.
        this.#missing = [];
        this.#lookAgain();
        return watchError(lost, new Deno.errors.NotFound("no such directory"));
      }
      this.#onError(watchError(lost, new Deno.errors.NotFound("no such directory"), true));
    } else if (lost.length === 0) {
      this.#reported = "";
    }
    // The same names may be other directories now (a checkout or a clean build made them again):
    // the old watch follows the removed ones, and would never see another event. Their inodes
    // tell, unless the filesystem reused them: then the removal seen by `#pump` does.
    const identities = identify(dirs);
    const sameNames = dirs.join("\0") === this.#dirs.join("\0");
    if (sameNames && identities !== this.#identities) this.#stale = true;
    if (sameNames && !this.#stale) return undefined;
    if (this.#stale) {
      // Deno 2.9 shares one watch per path among its watchers (runtime/ops/fs_events.rs), and
      // frees it only once no watcher holds it, its pending read included: a new watcher of a
      // path the old one holds would reuse the dead watch. So the old one is closed, and the
      // new one made once its read has ended; changes in between are reported as a restore.
      const old = this.#watcher;
      this.#watcher = undefined;
      this.#dirs = [];
      this.#stale = false;
      closeQuietly(old);
      const ended = this.#current;
      this.#current = undefined;
      this.#rewatching = true;
      (ended ?? Promise.resolve()).then(() => {
        this.#rewatching = false;
        if (this.#closed) return;
        const failure = this.follow(this.#files, this.#optional);
        if (failure !== undefined) this.#onError(failure);
        else this.#onRestored(dirs);
      });
      return undefined;
    }
    if (dirs.length === 0) {
      // Nothing left to watch: only the timer, until a directory is back.
      closeQuietly(this.#watcher);
      this.#watcher = undefined;
      this.#dirs = [];
      this.#identities = "";
      return undefined;
    }
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
    this.#identities = identities;
    const pump = this.#pump(watcher);
    this.#current = pump;
    this.#pumps.add(pump);
    pump.finally(() => this.#pumps.delete(pump));
    closeQuietly(old);
    return undefined;
  }

  /** While a directory is missing, looks for it every {@linkcode LOOK_AGAIN_MS}; stops once none is. */
  #lookAgain(): void {
    clearTimeout(this.#retry);
    this.#retry = undefined;
    if (this.#missing.length === 0 || this.#closed) return;
    this.#retry = setTimeout(() => {
      this.#retry = undefined;
      const back = this.#missing.filter(exists);
      if (back.length === 0) return this.#lookAgain();
      const failure = this.follow(this.#files, this.#optional);
      if (failure !== undefined) this.#onError(failure);
      else this.#onRestored(back);
    }, LOOK_AGAIN_MS);
  }

  /** Stops watching; resolves once no event will be handed on. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#retry);
    const watcher = this.#watcher;
    this.#watcher = undefined;
    closeQuietly(watcher);
    await Promise.all(this.#pumps);
  }

  /** Feeds one watcher's events in. Never rejects. */
  async #pump(watcher: Deno.FsWatcher): Promise<void> {
    try {
      for await (const event of watcher) {
        // A watched directory removed: its watch is over, even if one of the same name (and,
        // filesystems reuse them, of the same inode) is made again. The next follow starts another.
        if (event.kind === "remove" && event.paths.some((path) => this.#dirs.includes(path))) {
          this.#stale = true;
        }
        if (!this.#closed) this.#onEvent(event);
      }
    } catch (error) {
      // A watcher closed under its iterator may throw instead of ending;
      // only a live watcher's failure is worth reporting.
      if (watcher === this.#watcher && !this.#closed) this.#onError(watchError(this.#dirs, error));
    }
  }
}

/** How often a missing directory is looked for, in ms. */
const LOOK_AGAIN_MS = 200;

function exists(dir: string): boolean {
  try {
    return Deno.statSync(dir).isDirectory;
  } catch {
    return false;
  }
}

/** The device and inode of each directory, as one text; a missing one counts as none. */
function identify(dirs: readonly string[]): string {
  return dirs.map((dir) => {
    try {
      const { dev, ino } = Deno.statSync(dir);
      return `${dev}:${ino}`;
    } catch {
      return "-";
    }
  }).join(",");
}

function closeQuietly(watcher: Deno.FsWatcher | undefined): void {
  try {
    watcher?.close();
  } catch {
    // Already closed (its iterator ended on its own): nothing left to free.
  }
}

/**
 * Why `dirs` cannot be watched: `E_PERMISSION` without read permission, else `E_NOT_FOUND`.
 *
 * @param lookingFor Whether the watch looks for them until they exist again.
 */
export function watchError(dirs: readonly string[], error: unknown, lookingFor = false): HotswapError {
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
    `Cannot watch ${list}: ${describeThrown(error)}; ${
      lookingFor
        ? "the watcher looks for it until it exists again, and swaps then"
        : "check that the generation's directories still exist"
    }`,
    { path: dirs[0], cause: error },
  );
}
