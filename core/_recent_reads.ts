/**
 * What the last read of each file found, so that a swap decodes, hashes,
 * resolves and digests again only the files whose bytes changed: most of a
 * generation's files do not change from one swap to the next. Every file
 * is still read at every swap, and its bytes compared with the kept ones
 * (natively: about 1.2 µs for a 2.6 KiB module and 2 ms for 15 MiB, where
 * hashing them took 3-5 µs and 9 ms, measured): what runs is what is on disk at the
 * read, and the same bytes give the same text, hash and digest.
 *
 * A file's stamp (times, inode, size) would spare the read too, but it does
 * not always move with the bytes: writes through a shared `mmap` to a page
 * already dirty change no time, and a file system image mounted over
 * another (`mkfs -d`, squashfs, erofs) can carry the same inode numbers,
 * sizes and times for other bytes. Measured here, both served a stale file.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import type { Hash } from "node:crypto";

/** What a read found of a file, kept while the file's bytes stay the same. */
export interface KeptFile {
  /** The file's bytes. */
  readonly bytes: Uint8Array;
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

/** Files kept: as many as a scan cache holds, and at most this many bytes. */
const MAX_FILES = 4096;
const MAX_BYTES = 32 * 1024 * 1024;
/** Resolved specifiers carried from one version of a file to the next, at most. */
const MAX_RESOLVED = 1024;

/** The reads kept on this thread, by path, least recently used first. */
export class RecentReads {
  readonly #files = new Map<string, KeptFile>();
  #bytes = 0;

  /** What the last read of `path` found, if it read these very `bytes`. */
  take(path: string, bytes: Uint8Array): KeptFile | undefined {
    const kept = this.#files.get(path);
    if (kept === undefined) return undefined;
    this.#files.delete(path);
    if (!sameBytes(kept.bytes, bytes)) {
      this.#bytes -= kept.bytes.byteLength;
      return undefined;
    }
    this.#files.set(path, kept); // most recently used last
    return kept;
  }

  /**
   * The specifiers the last read of `path` resolved, whatever its bytes: a
   * resolution depends on the path alone, so a changed file keeps them
   * (new URL objects for each import cost 0.07 ms a changed file on a
   * cold reader, measured under `--cpu-prof`). Started afresh past
   * {@linkcode MAX_RESOLVED}, so that specifiers edited away do not pile up.
   */
  resolvedOf(path: string): Map<string, string> | undefined {
    const resolved = this.#files.get(path)?.resolved;
    return resolved !== undefined && resolved.size < MAX_RESOLVED ? resolved : undefined;
  }

  /** Keeps `file` as the last read of `path`, in place of any earlier one. */
  keep(path: string, file: KeptFile): void {
    const earlier = this.#files.get(path);
    if (earlier !== undefined) {
      this.#files.delete(path);
      this.#bytes -= earlier.bytes.byteLength;
    }
    if (file.bytes.byteLength > MAX_BYTES) return;
    this.#files.set(path, file);
    this.#bytes += file.bytes.byteLength;
    for (const [oldest, kept] of this.#files) {
      if (this.#files.size <= MAX_FILES && this.#bytes <= MAX_BYTES) break;
      this.#files.delete(oldest);
      this.#bytes -= kept.bytes.byteLength;
    }
  }

  /** How many files are kept. */
  get size(): number {
    return this.#files.size;
  }

  /** How many bytes they hold. */
  get bytes(): number {
    return this.#bytes;
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength &&
    Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(
      Buffer.from(b.buffer, b.byteOffset, b.byteLength),
    );
}
