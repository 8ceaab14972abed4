/**
 * What the last read of each file on disk found, so that a swap reads
 * again, decodes and hashes only the files that changed: most of a
 * generation's files do not change from one swap to the next. Reading the
 * 200-module graph of `tests/bench/swap_bench.ts` again, unchanged, cost
 * 9.8 ms, of which the reads, decoding, hashing, resolving imports and
 * digests of the unchanged files were about half.
 *
 * A file counts as unchanged when its stamp (device, inode, size, and the
 * times of its last write and last status change) is the one it had when
 * it was read, and that read happened well after the file's last change.
 * The status change time (`ctime`) is what makes the stamp trustworthy: it
 * moves at every write, a process cannot set it, and copying a file with
 * its times (`cp -p`, `rsync -t`) or putting an old `mtime` back
 * (`touch -d`) moves it too. But Deno gives it in whole seconds, FAT
 * volumes keep times in steps of two, and the kernel stamps a write with a
 * clock that lags by up to a tick, so a file written twice within such a
 * step can keep its stamp: only a read that began more than
 * {@linkcode SETTLED_MS} after the file's `ctime` is kept (as git does with
 * an index entry written in the same second as its file, "racily clean").
 * Any write after such a read gets a later `ctime`, so it changes the stamp.
 *
 * What runs is still exactly what was hashed: a kept file's bytes were
 * hashed when they were read, and those are the ones reused.
 *
 * @module
 */

import type { Hash } from "node:crypto";

/**
 * How long after a file's last status change, as Deno gives it (in whole
 * seconds, rounded down), a read must begin for its result to be kept: the
 * two seconds of a FAT volume's steps (Deno's own rounding is one), and
 * 20 ms for the lag of the kernel's file clock.
 */
export const SETTLED_MS = 2_020;

/** What a read found of a file, kept while its stamp holds. */
export interface KeptFile {
  /** The stamp of the file when it was read. */
  readonly stamp: string;
  /** Its bytes' length. */
  readonly size: number;
  /** Its text, decoded from those bytes. */
  readonly source: string;
  /** SHA-256 of its bytes, to be copied before use. */
  readonly bytesHash: Hash;
  /** That hash, base64: the import scan's cache key. */
  readonly bytesDigest: string;
  /** Local specifiers resolved against the file's path: the same path every time. */
  readonly resolved: Map<string, string>;
  /** The module digest last made of it, and the digests of its imports it was made with. */
  digest?: { readonly children: string; readonly value: string };
}

/** The stat fields of a stamp; `Deno.FileInfo` has them all. */
export interface StampedInfo {
  readonly dev: number | null;
  readonly ino: number | null;
  readonly size: number;
  readonly mtime: Date | null;
  readonly ctime: Date | null;
}

/**
 * The stamp of a file, when a read that began at `readAt` (milliseconds
 * since the epoch, taken before the stat) may be kept; `undefined` when the
 * file changed too recently or the file system gives no times.
 */
export function settledStamp(info: StampedInfo, readAt: number): string | undefined {
  const { dev, ino, size, mtime, ctime } = info;
  if (dev === null || ino === null || mtime === null || ctime === null) return undefined;
  const changed = ctime.getTime();
  if (!(changed + SETTLED_MS < readAt)) return undefined;
  return `${dev}:${ino}:${size}:${mtime.getTime()}:${changed}`;
}

/** Files kept: as many as a scan cache holds, and at most this much text. */
const MAX_FILES = 4096;
const MAX_CHARS = 32 * 1024 * 1024;

/** The reads kept on this thread, by real path, least recently used first. */
export class RecentReads {
  readonly #files = new Map<string, KeptFile>();
  #chars = 0;

  /** The file read at `path` when its stamp was `stamp`, if kept. */
  take(path: string, stamp: string): KeptFile | undefined {
    const kept = this.#files.get(path);
    if (kept === undefined) return undefined;
    this.#files.delete(path);
    if (kept.stamp !== stamp) {
      this.#chars -= kept.source.length;
      return undefined;
    }
    this.#files.set(path, kept); // most recently used last
    return kept;
  }

  /** Keeps `file` as the last read of `path`, in place of any earlier one. */
  keep(path: string, file: KeptFile): void {
    this.forget(path);
    if (file.source.length > MAX_CHARS) return;
    this.#files.set(path, file);
    this.#chars += file.source.length;
    for (const [oldest, kept] of this.#files) {
      if (this.#files.size <= MAX_FILES && this.#chars <= MAX_CHARS) break;
      this.#files.delete(oldest);
      this.#chars -= kept.source.length;
    }
  }

  /** Drops what was kept of `path`: it changed, or its read was not one to keep. */
  forget(path: string): void {
    const kept = this.#files.get(path);
    if (kept === undefined) return;
    this.#files.delete(path);
    this.#chars -= kept.source.length;
  }

  /** How many files are kept. */
  get size(): number {
    return this.#files.size;
  }
}
