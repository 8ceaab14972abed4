/**
 * The working directory of each generation process: a fresh empty
 * directory under the system's temporary directory, removed once the
 * process ends, at the host's exit, or, when the host could not remove it
 * (killed, ended by Ctrl-C or by an uncaught error), by the next host that
 * starts a process and may list the temporary directory.
 *
 * A host holds an exclusive lock on a file of its own beside them
 * (`hotswap_host_<id>.lock`) while it has any, and names them after it
 * (`hotswap_generation_<id>_…`). The lock ends with the process that holds
 * it, however that process ends; a host that can take the lock of another
 * knows that host is gone, and removes what it left. Where the file system
 * has no locks, a host's directories carry no id, and are never swept: a
 * name anyone could give a lock file must not lead to a live host's.
 *
 * @module
 */

import { join } from "node:path";

const HOST_PREFIX = "hotswap_host_";
const LOCK_SUFFIX = ".lock";
const DIRECTORY_PREFIX = "hotswap_generation_";
/**
 * A lock file younger than this is left alone: its host may have made it
 * and not yet locked it.
 */
const LOCK_SETTLE_MS = 10_000;
/** A host's id, as {@linkcode hostLock} makes it. */
const HOST_ID = /^[0-9a-f]{8}$/;

/** What a generation process runs in, and how to remove it. */
export interface PrivateDirectory {
  readonly path: string;
  /** Removes it (never rejects); a directory that is not private is left. */
  readonly remove: () => Promise<void>;
}

/** The lock this host holds while it has private directories; `undefined` between them. */
let held: { readonly id: string; readonly path: string; readonly file: Deno.FsFile } | undefined;
/** Private directories whose process has not ended yet, removed if the host exits first. */
const live = new Set<string>();
let exitHook = false;
let swept = false;

/**
 * A fresh empty directory under the system's temporary directory. Making it
 * needs write permission there; a host without it runs the process in the
 * temporary directory itself, never in the host's own working directory.
 */
export function privateDirectory(): PrivateDirectory {
  const root = temporaryRoot();
  if (Deno.permissions.querySync({ name: "write", path: root }).state === "granted") {
    try {
      if (!swept) {
        swept = true;
        try {
          sweep(root);
        } catch {
          // A directory the system will not list (written to, not read): nothing to sweep.
        }
      }
      // Without a lock (no locks on this file system), no id: such directories are never swept.
      const lock = hostLock(root);
      const prefix = lock === undefined ? DIRECTORY_PREFIX : `${DIRECTORY_PREFIX}${lock.id}_`;
      const path = Deno.makeTempDirSync({ dir: root, prefix });
      removeAtExit(path);
      return {
        path,
        remove: () => {
          forget(path);
          return Deno.remove(path, { recursive: true }).catch(() => {});
        },
      };
    } catch {
      // Full, or gone: fall back as if the host could not write there.
    }
  }
  return { path: root, remove: () => Promise.resolve() };
}

/** This host's lock, taken with its first private directory; `undefined` when it cannot be. */
function hostLock(root: string): typeof held {
  if (held !== undefined) return held;
  const id = crypto.randomUUID().slice(0, 8);
  const path = join(root, `${HOST_PREFIX}${id}${LOCK_SUFFIX}`);
  let file: Deno.FsFile;
  try {
    // Written, not read: a host may write the temporary directory without reading it.
    file = Deno.openSync(path, { write: true, createNew: true });
  } catch {
    return undefined;
  }
  try {
    if (file.tryLockSync(true)) return held = { id, path, file };
  } catch {
    // No locks on this file system: the directories are removed at the exit only.
  }
  file.close();
  Deno.removeSync(path);
  return undefined;
}

/** Drops `path` from the live set; the last one lets the lock go, so that no file stays open between. */
function forget(path: string): void {
  live.delete(path);
  if (live.size > 0 || held === undefined) return;
  const { path: lockPath, file } = held;
  held = undefined;
  try {
    Deno.removeSync(lockPath);
  } catch { /* removed by hand: nothing to do */ }
  file.close();
}

/**
 * Removes the private directories of hosts that are gone: those whose lock
 * this host can take. Needs read permission on the temporary directory
 * (to list it); without it, nothing is swept.
 */
function sweep(root: string): void {
  if (Deno.permissions.querySync({ name: "read", path: root }).state !== "granted") return;
  const entries = [...Deno.readDirSync(root)];
  const now = Date.now();
  for (const entry of entries) {
    if (!entry.isFile || !entry.name.startsWith(HOST_PREFIX) || !entry.name.endsWith(LOCK_SUFFIX)) continue;
    const id = entry.name.slice(HOST_PREFIX.length, -LOCK_SUFFIX.length);
    if (!HOST_ID.test(id)) continue; // not a name this module makes
    const lockPath = join(root, entry.name);
    let file: Deno.FsFile | undefined;
    try {
      if (now - (Deno.statSync(lockPath).mtime?.getTime() ?? now) < LOCK_SETTLE_MS) continue;
      file = Deno.openSync(lockPath, { write: true });
      if (!file.tryLockSync(true)) continue; // its host runs
      const prefix = `${DIRECTORY_PREFIX}${id}_`;
      for (const other of entries) {
        if (other.isDirectory && other.name.startsWith(prefix)) {
          Deno.removeSync(join(root, other.name), { recursive: true });
        }
      }
      Deno.removeSync(lockPath);
    } catch {
      // Another host sweeps it too, or it is not ours to remove: left as it is.
    } finally {
      file?.close();
    }
  }
}

/**
 * A host that exits without closing its references (`Deno.exit()`, as a
 * benchmark ends) never runs a process's cleanup: its directories would be
 * left in the temporary directory. Removed synchronously at the `unload`
 * event, which Deno fires then (not at an uncaught error or a signal: the
 * next host removes those, see {@linkcode sweep}).
 */
function removeAtExit(path: string): void {
  live.add(path);
  if (exitHook) return;
  exitHook = true;
  globalThis.addEventListener("unload", () => {
    for (const directory of [...live]) {
      try {
        Deno.removeSync(directory, { recursive: true });
      } catch {
        // Gone already, or no longer ours to remove: nothing to do at exit.
      }
      forget(directory);
    }
  });
}

function temporaryRoot(): string {
  const windows = Deno.build.os === "windows";
  const variable = windows ? "TEMP" : "TMPDIR";
  if (Deno.permissions.querySync({ name: "env", variable }).state === "granted") {
    const value = Deno.env.get(variable);
    if (value !== undefined && value !== "") return value;
  }
  return windows ? "C:\\Windows\\Temp" : "/tmp";
}
