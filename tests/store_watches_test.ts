/**
 * ChannelWatches, the watch machinery both store adapters share: the wake
 * source runs only while a watch does, a watch reads once the source is
 * ready, and closing ends every watch. A fake source and an in-memory
 * channel stand in for a store; each step awaits the watch, never a timer.
 */

import { deepStrictEqual, rejects, strictEqual, throws } from "node:assert/strict";
import { ChannelWatches, Pulse, sleep, type WakeSource } from "../core/store/_watches.ts";
import type { ChannelEntry } from "../core/store/store.ts";

/** A wake source that counts its starts and stops, ready when told. */
class FakeSource implements WakeSource {
  starts = 0;
  stops = 0;
  ready = Promise.withResolvers<void>();
  start(): Promise<void> {
    this.starts++;
    return this.ready.promise;
  }
  stop(): Promise<void> {
    this.stops++;
    return Promise.resolve();
  }
}

function entry(revision: number): ChannelEntry {
  return { revision, state: { stable: `sha256-${"A".repeat(43)}=` } };
}

Deno.test("ChannelWatches reads a channel once its source is ready, then again on each pulse", async () => {
  const source = new FakeSource();
  const closed = new AbortController();
  const watches = new ChannelWatches("test:", source, 60_000, closed.signal);
  let current: ChannelEntry | undefined = undefined;
  let reads = 0;
  const read = () => {
    reads++;
    return Promise.resolve(current);
  };
  const stop = new AbortController();
  const watch = watches.watch(read, { signal: stop.signal });
  const first = watch.next();
  // Not ready yet: the first read waits (a 60 s bound no test outlives).
  await Promise.resolve();
  strictEqual(reads, 0);
  source.ready.resolve();
  strictEqual((await first).value, undefined);
  strictEqual(source.starts, 1);
  current = entry(1);
  watches.pulse.notify();
  deepStrictEqual((await watch.next()).value, entry(1));
  stop.abort();
  strictEqual((await watch.next()).done, true);
  strictEqual(source.stops, 1);
});

Deno.test("ChannelWatches starts its source for the first watch and stops it after the last", async () => {
  const source = new FakeSource();
  source.ready.resolve();
  const watches = new ChannelWatches("test:", source, 60_000, new AbortController().signal);
  const read = () => Promise.resolve(entry(1));
  const a = watches.watch(read, {});
  const b = watches.watch(read, {});
  await a.next();
  await b.next();
  strictEqual(source.starts, 1);
  await a.return?.();
  strictEqual(source.stops, 0);
  await b.return?.();
  strictEqual(source.stops, 1);
});

Deno.test("ChannelWatches ends every watch on close, and refuses a new one", async () => {
  const source = new FakeSource();
  source.ready.resolve();
  const closed = new AbortController();
  const watches = new ChannelWatches("test:", source, 60_000, closed.signal);
  const watch = watches.watch(() => Promise.resolve(entry(1)), {});
  await watch.next();
  const pending = watch.next();
  closed.abort();
  await watches.close();
  strictEqual((await pending).done, true);
  throws(() => watches.watch(() => Promise.resolve(undefined), {}), { code: "E_CLOSED" });
});

Deno.test("ChannelWatches yields nothing for a failed read, and reads again at the next pulse", async () => {
  const source = new FakeSource();
  source.ready.resolve();
  const watches = new ChannelWatches("test:", source, 60_000, new AbortController().signal);
  let fail = true;
  const failed = Promise.withResolvers<void>();
  const read = () => {
    if (!fail) return Promise.resolve(entry(2));
    failed.resolve();
    return Promise.reject(new Error("unreachable"));
  };
  const watch = watches.watch(read, {});
  const next = watch.next();
  await failed.promise;
  // The loop noted the pulse count before reading: this pulse wakes it whenever it waits.
  fail = false;
  watches.pulse.notify();
  deepStrictEqual((await next).value, entry(2));
  await watch.return?.();
});

Deno.test("Pulse.next() returns at once for a notification it has not seen", async () => {
  const pulse = new Pulse();
  const seen = pulse.count;
  pulse.notify();
  await pulse.next(seen, 60_000, undefined);
  strictEqual(pulse.count, seen + 1);
});

Deno.test("sleep() ends early when its signal aborts or its promise settles, and never rejects", async () => {
  const aborted = new AbortController();
  const asleep = sleep(60_000, aborted.signal);
  aborted.abort();
  await asleep;
  await sleep(60_000, new AbortController().signal, Promise.resolve());
  const failed = Promise.reject(new Error("no"));
  await sleep(60_000, new AbortController().signal, failed);
  await rejects(failed);
});
