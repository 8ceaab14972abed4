/**
 * Reading generations on a thread of the runtime's own. A swap's read (each
 * file located, read, hashed, and the changed ones parsed for their imports;
 * an artifact's signature checked first) is synchronous work: on the serving
 * thread it held every request for its whole length, 1.2 ms of the 2.3-2.8
 * ms a swap of the sample app held it under `deno task bench:load`, and 13
 * ms for a 200-module graph. Here it runs in a worker while the serving
 * thread answers requests, and only the finished snapshot crosses back: its
 * texts are the very texts that were hashed, so what is hashed is still what
 * runs. The trust list in force and the highest sequence committed stay with
 * the reference, on the serving thread, and are sent with each artifact.
 *
 * The worker runs only the runtime's code (`_reader_main.ts`), with the
 * host's permissions, so it reads exactly what the host could. Starting it
 * blocks the calling thread 10-20 ms (Deno creates the worker's runtime
 * before `new Worker` returns), which is why only `Hotswap.warm()` starts
 * it, before a server listens.
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import { HotswapError } from "./errors.ts";
import type { SignalReads } from "./loader.ts";
import type { OpenArtifactOptions, Provenance } from "./artifact.ts";
import { ANY_CODE, rebuildError, type SerializedError } from "./_protocol.ts";
import { SignatureError, type SignatureReason } from "./signature.ts";
import { Snapshot, type SnapshotModule } from "./snapshot.ts";

/** The program the reader runs; resolved when needed (see `processMain` in `_process_command.ts`). */
const readerMain = (): URL => new URL("./_reader_main.ts", import.meta.url);

/** What the host asks the reader. */
export type ReaderRequest =
  | (ModuleRead & { readonly t: "read"; readonly id: number })
  | ({ readonly t: "artifact"; readonly id: number; readonly path: string } & ArtifactRead)
  | {
    readonly t: "warm";
    readonly id: number;
    readonly modules: readonly SnapshotModule[];
    /** A read to make first, its result thrown away (see `OffThreadReader.warm`). */
    readonly read: ModuleRead | undefined;
  }
  | (ModuleRead & { readonly t: "listen"; readonly id: number; readonly signal: Deno.Signal })
  | { readonly t: "unlisten"; readonly id: number };

/** A module graph's read: the entry and the reference's limits. */
export interface ModuleRead {
  readonly entry: string;
  /** Absolute roots, or `undefined` for the entry's directory. */
  readonly roots: readonly string[] | undefined;
  readonly maxBytes: number | undefined;
}

/** The checks an artifact's read makes (see `OpenArtifactOptions`), as data that crosses to the reader. */
export interface ArtifactRead extends Omit<OpenArtifactOptions, "roots" | "now"> {
  /** Absolute roots the artifact file must be inside, or `undefined` when the host gave none. */
  readonly roots: readonly string[] | undefined;
  /** The instant expiry is judged at, in milliseconds since the epoch. */
  readonly now: number;
}

/** What the reader answers: a snapshot's parts, an error, or (neither) that a warm-up is over. */
export interface ReaderReply {
  readonly id: number;
  /** The snapshot's entry, when it is not the path asked for (an artifact's, inside it). */
  readonly entry?: string;
  readonly modules?: readonly SnapshotModule[];
  readonly bytes?: number;
  readonly provenance?: Provenance | undefined;
  readonly error?: SerializedError;
  /** The reason of a `SignatureError`, which `error` does not carry. */
  readonly signatureReason?: SignatureReason | undefined;
  /** The graph overflowed the reader's stack. */
  readonly tooDeep?: true;
  /** A `listen` request's signal listener is in place. */
  readonly listening?: true;
  /** A `listen` request's listener took a signal and started a read; its answer follows. */
  readonly taken?: true;
}

/** The reader ended (it crashed, or was closed) before it answered: read on this thread instead. */
export class ReaderGone extends Error {
  override name = "ReaderGone";
}

/** The graph overflowed the reader's stack: read on this thread instead, where it may not (see `_reader_main.ts`). */
export class ReaderStackTooSmall extends Error {
  override name = "ReaderStackTooSmall";
}

/** Whether the host may read the runtime's own files, which the reader loads (a remote runtime is imported, not read). */
function runtimeReadable(): boolean {
  const main = readerMain();
  if (main.protocol !== "file:") return true;
  return Deno.permissions.querySync({ name: "read", path: fileURLToPath(new URL(".", main)) })
    .state === "granted";
}

/** The process's reader, shared by every reference that warmed up, and how many hold it. */
let shared: { readonly reader: OffThreadReader; users: number } | undefined;

/**
 * The process's reader, started if none is running: one thread and one
 * warmed-up parser serve every reference. Each call is matched by one
 * {@linkcode releaseReader}; the last release ends it.
 *
 * @returns `undefined` when no reader can start (see {@linkcode OffThreadReader.start}).
 */
export function acquireReader(): OffThreadReader | undefined {
  if (shared === undefined || shared.reader.gone) {
    const reader = OffThreadReader.start();
    if (reader === undefined) return undefined;
    shared = { reader, users: 0 };
  }
  shared.users++;
  return shared.reader;
}

/** Gives back a reader from {@linkcode acquireReader}; the last user's release ends it. */
export function releaseReader(reader: OffThreadReader): void {
  // A reader that ended was already replaced (or will be): nothing to count.
  if (shared?.reader !== reader) return;
  shared.users--;
  if (shared.users > 0) return;
  shared = undefined;
  reader.close();
}

/** The host's end of one reader worker. */
export class OffThreadReader {
  readonly #worker: Worker;
  readonly #waiting = new Map<number, PromiseWithResolvers<ReaderReply>>();
  /** What each `listen` request does with its reads, and when the reader ends. */
  readonly #listeners = new Map<number, SignalReads & { readonly entry: string }>();
  #nextId = 0;
  #gone: ReaderGone | undefined;

  private constructor(worker: Worker) {
    this.#worker = worker;
    worker.onmessage = ({ data }: MessageEvent<ReaderReply>) => {
      const listener = this.#listeners.get(data.id);
      if (listener !== undefined) {
        if (data.listening === true) listener.listening();
        else if (data.taken === true) listener.taken();
        else listener.read(new Promise((resolve) => resolve(snapshotOf(listener.entry, data))));
        return;
      }
      const waiting = this.#waiting.get(data.id);
      this.#waiting.delete(data.id);
      waiting?.resolve(data);
    };
    worker.onerror = (event) => {
      // Without preventDefault Deno rethrows a worker's uncaught error in the host and ends it.
      event.preventDefault();
      this.close(`the reader worker failed: ${event.message}`);
    };
    worker.onmessageerror = () => this.close("the reader worker sent a message the host cannot read");
  }

  /**
   * Starts a reader, or returns `undefined` when this host cannot start one
   * (no read permission on the runtime's own files, say): reads then stay on
   * the calling thread, as they are without a reader.
   */
  static start(): OffThreadReader | undefined {
    // A worker whose code the host cannot read dies as it starts, and Deno prints why on stderr.
    if (!runtimeReadable()) return undefined;
    try {
      return new OffThreadReader(new Worker(readerMain(), { type: "module", name: "hotswap reader" }));
    } catch {
      return undefined;
    }
  }

  /** Whether it ended; every later request rejects with {@linkcode ReaderGone}. */
  get gone(): boolean {
    return this.#gone !== undefined;
  }

  /**
   * Reads the graph of `entry` on the reader's thread.
   *
   * @throws {HotswapError} What reading it on this thread would throw.
   * @throws {ReaderGone} When the reader ended before it answered.
   * @throws {ReaderStackTooSmall} When the graph overflowed the reader's stack.
   */
  async read(
    entry: string,
    roots: readonly string[] | undefined,
    maxBytes: number | undefined,
  ): Promise<Snapshot> {
    return snapshotOf(entry, await this.#ask((id) => ({ t: "read", id, entry, roots, maxBytes })));
  }

  /**
   * Opens and verifies the `.hsgen` artifact at `path` on the reader's thread.
   *
   * @throws {SignatureError} Any refusal, with its reason, as `openArtifact` throws it.
   * @throws {HotswapError} What opening it on this thread would throw.
   * @throws {ReaderGone} When the reader ended before it answered.
   * @throws {ReaderStackTooSmall} When the graph overflowed the reader's stack.
   */
  async openArtifact(path: string, checks: ArtifactRead): Promise<Snapshot> {
    return snapshotOf(path, await this.#ask((id) => ({ t: "artifact", id, path, ...checks })));
  }

  /**
   * Warms the reader up: reads the graph of `read` once, when given, as a
   * swap would (its result is thrown away, and so is any error), then warms
   * its import scanner on `modules` (see `_scanner_warmup.ts`). A swap's
   * first read on a fresh reader costs several times a later one (its file,
   * hashing and reading code all run for the first time: 9.4 ms against 1-2
   * ms, measured after `warm()` for the sample app), and it leaves the
   * scanner the last text of each file, which the next edit is read from.
   */
  async warm(modules: readonly SnapshotModule[], read?: ModuleRead): Promise<void> {
    await this.#ask((id) => ({ t: "warm", id, modules, read }));
  }

  /**
   * Reads the graph of `entry` on the reader's thread at each delivery of
   * `signal` (the reader takes the signal itself, so the read starts while
   * this thread may still be busy), and hands each finished read to
   * `reads.read`, rejecting as {@linkcode read} does; see `_signal_reads.ts`.
   * Until `reads.listening` is told, a signal goes to this thread's
   * listeners only: the caller listens too (see `signal_swap.ts`).
   *
   * @returns Stops listening. Idempotent.
   */
  listen(signal: Deno.Signal, read: ModuleRead, reads: SignalReads): () => void {
    if (this.#gone !== undefined) {
      reads.gone();
      return () => {};
    }
    const id = this.#nextId++;
    this.#listeners.set(id, { ...reads, entry: read.entry });
    this.#worker.postMessage({ t: "listen", id, signal, ...read } satisfies ReaderRequest);
    return () => {
      if (!this.#listeners.delete(id) || this.#gone !== undefined) return;
      this.#worker.postMessage({ t: "unlisten", id } satisfies ReaderRequest);
    };
  }

  /**
   * Ends the reader; requests still waiting reject with {@linkcode ReaderGone},
   * and listeners are told. Idempotent.
   */
  close(why = "the reader was closed"): void {
    if (this.#gone !== undefined) return;
    this.#gone = new ReaderGone(why);
    this.#worker.terminate();
    for (const waiting of this.#waiting.values()) waiting.reject(this.#gone);
    this.#waiting.clear();
    const listeners = [...this.#listeners.values()];
    this.#listeners.clear();
    for (const listener of listeners) listener.gone();
  }

  #ask(build: (id: number) => ReaderRequest): Promise<ReaderReply> {
    if (this.#gone !== undefined) return Promise.reject(this.#gone);
    const id = this.#nextId++;
    const waiting = Promise.withResolvers<ReaderReply>();
    this.#waiting.set(id, waiting);
    this.#worker.postMessage(build(id));
    return waiting.promise;
  }
}

/**
 * The snapshot a reply carries, or what the read threw, thrown here.
 *
 * @throws {ReaderStackTooSmall} When the graph overflowed the reader's stack.
 */
function snapshotOf(path: string, reply: ReaderReply): Snapshot {
  if (reply.error !== undefined) {
    const error = rebuildError(reply.error, ANY_CODE);
    if (reply.signatureReason === undefined) throw error;
    throw new SignatureError(reply.signatureReason, error.message, {
      path: reply.error.path,
      cause: error.cause,
    });
  }
  if (reply.tooDeep === true) {
    throw new ReaderStackTooSmall(`The graph of "${path}" is too deep for the reader`);
  }
  if (reply.modules === undefined || reply.bytes === undefined) {
    throw new HotswapError("E_IMPORT", `The reader answered no graph for "${path}"`, { path });
  }
  return new Snapshot(reply.entry ?? path, reply.modules, reply.bytes, reply.provenance);
}
