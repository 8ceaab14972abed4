/**
 * Generations read from disk for one reference, module paths and `.hsgen`
 * artifacts alike: on the calling thread, or, once `Hotswap.warm()` has run,
 * on the process's {@linkcode OffThreadReader} (shared by the references
 * that warmed up), so that a swap's read no longer holds the thread that
 * serves requests.
 * Either way the snapshot is the same, and so is every error. A reader that
 * ends (crashed, or could not start) leaves reads on the calling thread, and
 * a graph too deep for the reader's stack is read there again.
 *
 * @module
 */

import { openArtifact } from "./artifact.ts";
import {
  acquireReader,
  type ArtifactRead,
  type OffThreadReader,
  ReaderGone,
  ReaderStackTooSmall,
  releaseReader,
} from "./_off_thread_reader.ts";
import type { SignalReads } from "./loader.ts";
import { type PathLike, Roots, toAbsolutePath } from "./roots.ts";
import { warmScanner } from "./_scanner_warmup.ts";
import { DEFAULT_MAX_SNAPSHOT_BYTES, readSnapshot, type Snapshot } from "./snapshot.ts";

/** Reads generations from disk, inside the reference's roots. */
export class DiskReader {
  /** The `roots` option made absolute (against the current directory, now), or `undefined` for each entry's directory. */
  readonly #roots: readonly string[] | undefined;
  readonly #maxBytes: number | undefined;
  #thread: OffThreadReader | undefined;
  #closed = false;

  /**
   * @param roots The `roots` option as given.
   * @param maxBytes Cap on a generation's bytes (the default when `undefined`).
   */
  constructor(roots: readonly PathLike[] | undefined, maxBytes: number | undefined) {
    this.#roots = roots === undefined || roots.length === 0 ? undefined : roots.map(toAbsolutePath);
    this.#maxBytes = maxBytes;
  }

  /**
   * Reads the graph of the module at `path`.
   *
   * @throws {HotswapError} `E_NOT_FOUND`, `E_OUTSIDE_ROOTS`, `E_PERMISSION` or `E_IMPORT`.
   */
  read(path: string): Promise<Snapshot> {
    return this.#onReaderElseHere(
      (thread) => thread.read(path, this.#roots, this.#maxBytes),
      () => readModuleGraph(path, this.#roots, this.#maxBytes),
    );
  }

  /**
   * Opens the `.hsgen` artifact at `path` and makes the checks of `checks`
   * (see `openArtifact`); the artifact file must be inside the roots, when
   * the host gave any.
   *
   * @throws {SignatureError} Any refusal, with its reason.
   * @throws {HotswapError} `E_NOT_FOUND`, `E_OUTSIDE_ROOTS`, `E_PERMISSION` or `E_IMPORT`.
   */
  openArtifact(
    path: string,
    checks: Pick<ArtifactRead, "trust" | "contract" | "minSequence">,
  ): Promise<Snapshot> {
    const read: ArtifactRead = {
      ...checks,
      maxBytes: this.#maxBytes ?? DEFAULT_MAX_SNAPSHOT_BYTES,
      roots: this.#roots,
      now: Date.now(),
    };
    return this.#onReaderElseHere(
      (thread) => thread.openArtifact(path, read),
      () => openArtifactFile(path, read),
    );
  }

  /**
   * Reads the graph of the module at `path` at each delivery of `signal`,
   * on the reader, which takes the signal itself; see
   * `OffThreadReader.listen`. A graph too deep for the reader is read again
   * here.
   *
   * @returns Stops it; `undefined` without a reader (no `warm()` yet).
   */
  readOnSignal(signal: Deno.Signal, path: string, reads: SignalReads): (() => void) | undefined {
    const thread = this.#thread;
    if (thread === undefined || thread.gone) return undefined;
    return thread.listen(signal, { entry: path, roots: this.#roots, maxBytes: this.#maxBytes }, {
      ...reads,
      read: (read) =>
        reads.read(read.catch((error) => {
          if (error instanceof ReaderStackTooSmall) return readModuleGraph(path, this.#roots, this.#maxBytes);
          throw error;
        })),
    });
  }

  /** `onReader` while a reader runs; `here` without one, or when it ended or the graph is too deep for it. */
  async #onReaderElseHere(
    onReader: (thread: OffThreadReader) => Promise<Snapshot>,
    here: () => Promise<Snapshot>,
  ): Promise<Snapshot> {
    const thread = this.#thread;
    if (thread !== undefined && !thread.gone) {
      try {
        return await onReader(thread);
      } catch (error) {
        if (!(error instanceof ReaderGone || error instanceof ReaderStackTooSmall)) throw error;
      }
    }
    return await here();
  }

  /**
   * Starts the reader, if none is running, and warms its import scanner up
   * on `snapshot`'s files; on this thread when no reader can start.
   */
  async warm(snapshot: Snapshot): Promise<void> {
    if (!this.#closed && (this.#thread === undefined || this.#thread.gone)) {
      if (this.#thread !== undefined) releaseReader(this.#thread);
      this.#thread = acquireReader();
    }
    const thread = this.#thread;
    if (thread !== undefined) {
      // A generation read from module paths is read again at once; an artifact's entry is no file to read.
      const read = snapshot.provenance === undefined
        ? { entry: snapshot.entry, roots: this.#roots, maxBytes: this.#maxBytes }
        : undefined;
      try {
        return await thread.warm(snapshot.modules, read);
      } catch (error) {
        if (!(error instanceof ReaderGone)) throw error;
      }
    }
    await warmScanner(snapshot.modules);
  }

  /** Gives the reader back (the last reference to do so ends it); later reads run on the calling thread. Idempotent. */
  close(): void {
    this.#closed = true;
    if (this.#thread !== undefined) releaseReader(this.#thread);
    this.#thread = undefined;
  }
}

/**
 * Reads the graph of the module at `path` on the calling thread: what a
 * {@linkcode DiskReader} does without a reader, and what the reader does.
 *
 * @param roots Absolute roots, or `undefined` for the entry's directory.
 */
export function readModuleGraph(
  path: string,
  roots: readonly string[] | undefined,
  maxBytes: number | undefined,
): Promise<Snapshot> {
  return readSnapshot(path, {
    roots: Roots.resolve(roots, path),
    ...(maxBytes === undefined ? {} : { maxBytes }),
  });
}

/** Opens the artifact at `path` on the calling thread, with the checks of `read` (see `openArtifact`). */
export function openArtifactFile(path: string, read: ArtifactRead): Promise<Snapshot> {
  const { trust, contract, minSequence, maxBytes, roots, now } = read;
  return openArtifact(path, {
    trust,
    contract,
    minSequence,
    maxBytes,
    // Only roots the host named: the default (the entry's directory) would
    // ask for read permission on a directory, where the artifact needs its file alone.
    roots: roots === undefined ? undefined : Roots.resolve(roots, path),
    now: new Date(now),
  });
}
