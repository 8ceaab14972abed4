/**
 * The watches of a store, as both adapters run them: level-triggered (read
 * the channel, yield when its revision changed, wait to be woken), woken by
 * whatever the adapter listens to, which runs only while a watch does.
 *
 * @module
 */

import { closedError } from "./_records.ts";
import type { ChannelEntry } from "./schema.ts";
import type { WatchChannelOptions } from "./store.ts";

/**
 * What wakes an adapter's watches (a KV watcher, a file watcher and a poll):
 * started by the first watch running, stopped after the last.
 */
export interface WakeSource {
  /**
   * Starts notifying. Resolves once notifications flow: a watch reads its
   * first state only then (waiting `recheckMs` at most), as a change written
   * before would reach it only at the next recheck.
   */
  start(): Promise<void>;
  /** Stops notifying; resolves once it has. Called again when stopped, it does nothing. */
  stop(): Promise<void>;
}

/** A store's watches: `Store.watch` for either adapter. */
export class ChannelWatches {
  /** Notify it whenever any channel may have changed. */
  readonly pulse: Pulse = new Pulse();
  readonly #url: string;
  readonly #source: WakeSource;
  readonly #recheckMs: number;
  readonly #closed: AbortSignal;
  /** Watches running now. */
  #count = 0;
  #ready: Promise<void> = Promise.resolve();

  /**
   * @param url The store's URL, for errors.
   * @param source What wakes the watches.
   * @param recheckMs The longest a watch goes without reading: the catch-up for a lost notification.
   * @param closed Aborted when the store closes; every watch then ends.
   */
  constructor(url: string, source: WakeSource, recheckMs: number, closed: AbortSignal) {
    this.#url = url;
    this.#source = source;
    this.#recheckMs = recheckMs;
    this.#closed = closed;
  }

  /**
   * Follows a channel (see `Store.watch`).
   *
   * @param read Reads the channel's current entry.
   * @throws {HotswapError} `E_CLOSED` once the store is closed.
   */
  watch(
    read: () => Promise<ChannelEntry | undefined>,
    options: WatchChannelOptions,
  ): AsyncIterableIterator<ChannelEntry | undefined> {
    if (this.#closed.aborted) throw closedError(this.#url, "watch a channel");
    const signal = options.signal === undefined
      ? this.#closed
      : AbortSignal.any([options.signal, this.#closed]);
    return this.#watch(read, signal);
  }

  /** Ends every watch and stops the source; call once the store's `closed` signal is aborted. */
  async close(): Promise<void> {
    this.pulse.notify();
    await this.#source.stop();
  }

  async *#watch(
    read: () => Promise<ChannelEntry | undefined>,
    signal: AbortSignal,
  ): AsyncGenerator<ChannelEntry | undefined, void, undefined> {
    if (this.#count++ === 0 && !this.#closed.aborted) this.#ready = this.#source.start();
    try {
      // Bounded: a source that never gets ready (a server that does not
      // answer) must not keep the watch from reading, nor from ending.
      await sleep(this.#recheckMs, signal, this.#ready);
      yield* watchLoop(read, this.pulse, this.#recheckMs, signal);
    } finally {
      if (--this.#count === 0) await this.#source.stop();
    }
  }
}

/**
 * A level-triggered "something may have changed" signal: a counter and a
 * wake-up, no queue, so a burst of notifications costs one wake-up and
 * nothing piles up. A waiter names the count it last saw, so a notification
 * that came while it was busy is not missed.
 */
export class Pulse {
  #count = 0;
  #waiting: PromiseWithResolvers<void> | undefined;

  /** Notifications so far. */
  get count(): number {
    return this.#count;
  }

  /** Wakes every waiter. */
  notify(): void {
    this.#count++;
    const waiting = this.#waiting;
    this.#waiting = undefined;
    waiting?.resolve();
  }

  /**
   * Resolves at once if a notification came since `seen`, else on the next
   * one, after `ms` milliseconds at the latest, or when `signal` aborts.
   * Never rejects.
   */
  async next(seen: number, ms: number, signal: AbortSignal | undefined): Promise<void> {
    if (signal?.aborted || this.#count !== seen) return;
    this.#waiting ??= Promise.withResolvers<void>();
    const done = Promise.withResolvers<void>();
    const onAbort = () => done.resolve();
    signal?.addEventListener("abort", onAbort, { once: true });
    const timer = setTimeout(done.resolve, ms);
    try {
      await Promise.race([this.#waiting.promise, done.promise]);
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
    }
  }
}

/**
 * The watch loop: read, yield when the revision
 * changed, wait for a pulse (or `recheckMs` at most: the catch-up for a
 * notification that never came), until `signal` aborts. A failed read yields
 * nothing and is tried again at the next pulse.
 */
async function* watchLoop(
  read: () => Promise<ChannelEntry | undefined>,
  pulse: Pulse,
  recheckMs: number,
  signal: AbortSignal,
): AsyncGenerator<ChannelEntry | undefined, void, undefined> {
  let last: number | undefined = -1;
  while (!signal.aborted) {
    const seen = pulse.count;
    let entry: ChannelEntry | undefined;
    let ok = true;
    try {
      entry = await read();
    } catch {
      ok = false;
    }
    if (signal.aborted) return;
    if (ok && entry?.revision !== last) {
      last = entry?.revision;
      yield entry;
    }
    await pulse.next(seen, recheckMs, signal);
  }
}

/** Resolves after `ms`, or at once when `signal` aborts or `until` settles. Never rejects. */
export function sleep(ms: number, signal: AbortSignal, until?: Promise<void>): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  const { promise, resolve } = Promise.withResolvers<void>();
  const timer = setTimeout(done, ms);
  signal.addEventListener("abort", done, { once: true });
  until?.then(done, done);
  function done() {
    clearTimeout(timer);
    signal.removeEventListener("abort", done);
    resolve();
  }
  return promise;
}
