/**
 * Swaps on a signal (`Hotswap.swapOnSignal`), as daemons reload on `SIGHUP`.
 * Signals that arrive while a swap waits or runs fold into one more swap
 * after it, which reads every write made before them.
 *
 * Where the reference has a reader (after `warm()`), the reader takes the
 * signal itself and reads the files at once: a serving thread busy with
 * requests gets to a signal late (1.6-2.3 ms after it was sent, median,
 * under `deno task bench:load`, against 1.0-1.1 ms for the idle reader), and
 * only then would have asked for the read. Such a read is of module paths alone and depends on
 * nothing the reference commits; signed artifacts, whose checks depend on
 * the highest sequence committed, are read in the order of swaps, as any
 * swap reads them.
 *
 * @module
 */

import type { HotswapError } from "./errors.ts";
import type { SnapshotSource } from "./loader.ts";
import type { Snapshot } from "./snapshot.ts";
import type { SwapResult } from "./swap.ts";
import { callBack, type Caller } from "./_watch_report.ts";

/** What one swap started by a signal came to. */
export type SignalSwapOutcome =
  | {
    /** The swap was committed. */
    readonly ok: true;
    /** The swap's result. */
    readonly result: SwapResult;
  }
  | {
    /** The swap was refused; the current generation keeps serving. */
    readonly ok: false;
    /** Why it was refused. */
    readonly error: HotswapError;
  };

/** Options of {@linkcode Hotswap.swapOnSignal}. */
export interface SignalSwapOptions {
  /**
   * Called after each swap the signal started, committed or refused (a
   * refusal is also a `reject` event). What it throws is printed, never
   * passed on.
   */
  onSwap?: (outcome: SignalSwapOutcome) => void;
}

/** Swaps on a signal, until closed; from {@linkcode Hotswap.swapOnSignal}. */
export interface SignalSwaps extends Disposable {
  /** The signal listened for. */
  readonly signal: Deno.Signal;
  /**
   * Stops listening; a swap already started still completes. Idempotent.
   * With no other listener for the signal, Deno then takes its default
   * action on it (`SIGHUP`, `SIGINT` and `SIGTERM` end the process), also for
   * one sent just before `close()` that Deno had not dispatched yet: keep a
   * listener of your own for as long as the process may receive it.
   */
  close(): void;
}

/** What swaps on a signal need of their reference. */
export interface SignalSwapContext {
  readonly source: SnapshotSource;
  /**
   * Queues a swap to what `take()` reads, called once the swap's turn has
   * come (so the latest read is the one taken).
   */
  readonly swap: (take: () => Promise<Snapshot>) => Promise<SwapResult>;
  /** Told once, when the listener closes. */
  readonly closed: () => void;
}

const CALLER: Caller = { prefix: "hotswap swapOnSignal:", carriesOn: "swaps on the signal carry on" };

/** The listener behind {@linkcode Hotswap.swapOnSignal}. */
export class SignalSwapper implements SignalSwaps {
  readonly signal: Deno.Signal;
  readonly #context: SignalSwapContext;
  readonly #onSwap: SignalSwapOptions["onSwap"];
  /** The latest read a queued swap has not taken yet. */
  #next: (() => Promise<Snapshot>) | undefined;
  readonly #stop: () => void;
  #closed = false;
  readonly #listening = Promise.withResolvers<void>();

  /**
   * Starts listening.
   *
   * @param path The absolute path to swap to.
   * @throws {TypeError} When Deno refuses to listen for `signal`.
   */
  constructor(signal: Deno.Signal, path: string, context: SignalSwapContext, options: SignalSwapOptions) {
    this.signal = signal;
    this.#context = context;
    this.#onSwap = options.onSwap;
    const { source } = context;
    // This thread listens for as long as the swaps do, even once the reader
    // takes the signal: a signal sent before the reader listened, or after
    // it ended, is read here instead of lost (or ending the process, as
    // SIGHUP, SIGINT and SIGTERM do with no listener). In the moment the
    // reader starts listening both may take one: a reload of the same files.
    let readerTakes = false;
    /** Signals the reader took and has not answered yet. */
    let reading = 0;
    const readHere = () => this.#request(() => source.read(path));
    const listener = () => {
      if (!readerTakes) readHere();
    };
    Deno.addSignalListener(signal, listener);
    let stopReader: (() => void) | undefined;
    try {
      stopReader = source.readOnSignal?.(signal, path, {
        listening: () => {
          readerTakes = true;
          this.#listening.resolve();
        },
        taken: () => reading++,
        gone: () => {
          readerTakes = false;
          this.#listening.resolve();
          // A signal the reader took but never answered is read here: no reload is lost.
          if (reading > 0) readHere();
          reading = 0;
        },
        read: (read) => {
          reading = Math.max(0, reading - 1);
          // A read that a later one replaces before its swap starts is never awaited.
          read.catch(() => {});
          this.#request(() => read);
        },
      });
    } catch (error) {
      Deno.removeSignalListener(signal, listener);
      throw error;
    }
    this.#stop = () => {
      Deno.removeSignalListener(signal, listener);
      stopReader?.();
    };
    if (stopReader === undefined) this.#listening.resolve();
  }

  /**
   * Settles once each signal is taken where it is read: by the reader, once
   * it listens, or on this thread at once. Until then a signal may be taken
   * by both, and swap twice to the same files.
   */
  get listening(): Promise<void> {
    return this.#listening.promise;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#listening.resolve();
    this.#stop();
    this.#context.closed();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #request(read: () => Promise<Snapshot>): void {
    if (this.#closed) return;
    const queued = this.#next !== undefined;
    this.#next = read;
    // The swap already queued will take this read, the latest, when its turn comes.
    if (queued) return;
    const take = () => {
      const next = this.#next!;
      this.#next = undefined;
      return next();
    };
    this.#context.swap(take).then(
      (result) => callBack("onSwap", this.#onSwap, { ok: true, result }, CALLER),
      (error: HotswapError) => {
        if (error.code !== "E_CLOSED") callBack("onSwap", this.#onSwap, { ok: false, error }, CALLER);
      },
    );
  }
}
