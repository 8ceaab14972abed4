/**
 * `Hotswap.swapOnSignal()` (core/signal_swap.ts): a real signal, sent to
 * this very process with `Deno.kill`, swaps to the file's latest text; after
 * `warm()` the reader takes the signal and reads the files itself, so the
 * serving thread asks for no read; signals during a swap fold into one more;
 * a signal sent before the reader listens is not lost; a signed artifact is
 * read in the order of swaps, against the highest sequence committed.
 *
 * Every test keeps a listener for SIGHUP while it signals: SIGHUP with no
 * listener ends the process. So every signal is awaited until Deno has
 * dispatched it (`sighup()`): one still in flight when a test closes its
 * listeners would end the process, as it once ended a CI run (exit 129).
 * Deno's op sanitizer fails a test that leaves a signal listener behind.
 *
 * @module
 */

import { deepStrictEqual, ok, rejects, strictEqual } from "node:assert/strict";
import {
  type Hotswap,
  HotswapError,
  registerHotswap,
  type SignalSwapOutcome,
  type SignalSwaps,
  SignatureError,
} from "../mod.ts";
import { acquireReader, releaseReader } from "../core/_off_thread_reader.ts";
import type { SignalReads, SnapshotSource } from "../core/loader.ts";
import { SignalSwapper } from "../core/signal_swap.ts";
import type { Snapshot } from "../core/snapshot.ts";
import { type Echo, echo, Fixture } from "./_fixtures.ts";
import { keyAndList, packEcho } from "./_signing.ts";
import { replaceFile } from "./_child.ts";

const gen = (label: string, topLevel = "") =>
  `${topLevel}import { label } from "./label.ts";\nexport const hs_echo = { label: label + ${
    JSON.stringify(label)
  }, run: (input: unknown) => input };\n`;

/** Outcomes of the swaps a signal starts, awaited one at a time. */
class Outcomes {
  readonly #seen: SignalSwapOutcome[] = [];
  #waiting: PromiseWithResolvers<void> | undefined;

  readonly onSwap = (outcome: SignalSwapOutcome): void => {
    this.#seen.push(outcome);
    this.#waiting?.resolve();
  };

  get count(): number {
    return this.#seen.length;
  }

  /**
   * Waits through the outcomes after the `seen` first until `hot` serves
   * `label`, each a committed swap. One signal may make two swaps of the
   * same files: in the moment the reader starts listening, both threads may
   * take it.
   *
   * @returns How many outcomes there were by then.
   */
  async until(hot: Hotswap<Echo>, label: string, seen = 0): Promise<number> {
    for (let n = seen + 1;; n++) {
      const outcome = await this.nth(n);
      ok(outcome.ok, `swap ${n}: ${!outcome.ok && outcome.error}`);
      if (labelOf(hot) === label) return n;
      ok(n < seen + 8, `${n - seen} swaps and still not serving ${label}`);
    }
  }

  /** The `n`th outcome (1-based), once it came. */
  async nth(n: number): Promise<SignalSwapOutcome> {
    // A signal listener does not keep Deno's event loop alive (a server's listener would): this timer does.
    const alive = setInterval(() => {}, 60_000);
    try {
      while (this.#seen.length < n) {
        this.#waiting = Promise.withResolvers();
        await this.#waiting.promise;
      }
      return this.#seen[n - 1]!;
    } finally {
      clearInterval(alive);
    }
  }
}

/** Counts the reads the serving thread asks of the reader (`{ t: "read" }` messages) while `body` runs. */
async function countReadRequests(body: () => Promise<void>): Promise<number> {
  const original = Worker.prototype.postMessage;
  let requests = 0;
  Worker.prototype.postMessage = function (this: Worker, message: unknown, ...rest: unknown[]) {
    if ((message as { t?: string } | null)?.t === "read") requests++;
    return (original as (...args: unknown[]) => void).call(this, message, ...rest);
  } as typeof Worker.prototype.postMessage;
  try {
    await body();
    return requests;
  } finally {
    Worker.prototype.postMessage = original;
  }
}

/**
 * Sends SIGHUP to this process, at once, and settles once Deno has
 * dispatched it to this thread's listeners. Deno's signal thread takes a
 * signal some time after `Deno.kill` returns, and ends the process if by then
 * no listener is left: awaiting this before a test closes its listeners
 * leaves none in flight.
 */
async function sighup(): Promise<void> {
  const dispatched = Promise.withResolvers<void>();
  const listener = () => dispatched.resolve();
  Deno.addSignalListener("SIGHUP", listener);
  // A signal listener does not keep Deno's event loop alive: this timer does.
  const alive = setInterval(() => {}, 60_000);
  try {
    Deno.kill(Deno.pid, "SIGHUP");
    await dispatched.promise;
  } finally {
    clearInterval(alive);
    Deno.removeSignalListener("SIGHUP", listener);
  }
}

const labelOf = (hot: Hotswap<Echo>) => hot.with((handle) => handle.label);

/** `gen.ts` (importing `label.ts`, whose label is `label`) registered, warmed up, and swapped on each SIGHUP. */
class SignalledEcho implements AsyncDisposable {
  private constructor(
    readonly fixture: Fixture,
    readonly entry: string,
    readonly hot: Hotswap<Echo>,
    readonly outcomes: Outcomes,
    readonly swaps: SignalSwaps,
  ) {}

  static async start(label: string): Promise<SignalledEcho> {
    const fixture = await Fixture.create();
    const entry = await fixture.write({
      "gen.ts": gen("/a"),
      "label.ts": `export const label = "${label}";\n`,
    });
    const hot = await registerHotswap(echo, entry);
    await hot.warm();
    const outcomes = new Outcomes();
    const swaps = await hot.swapOnSignal("SIGHUP", entry, { onSwap: outcomes.onSwap });
    return new SignalledEcho(fixture, entry, hot, outcomes, swaps);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.swaps.close();
    await this.hot.close();
    await this.fixture[Symbol.asyncDispose]();
  }
}

for (const warm of [true, false]) {
  const where = warm ? "after warm(), read on the reader" : "without a reader, read on the serving thread";

  Deno.test(`swapOnSignal (${where}): each SIGHUP swaps to the files as written before it`, async () => {
    await using fixture = await Fixture.create();
    const entry = await fixture.write({ "gen.ts": gen("/a"), "label.ts": `export const label = "one";\n` });
    await using hot = await registerHotswap(echo, entry);
    if (warm) await hot.warm();
    const outcomes = new Outcomes();
    await Deno.writeTextFile(fixture.path("label.ts"), `export const label = "two";\n`);
    const listening = hot.swapOnSignal("SIGHUP", entry, { onSwap: outcomes.onSwap });
    // Sent before the reader can have started listening: it must not be lost.
    const sent = sighup();
    using _swaps = await listening;
    await sent;
    const first = await outcomes.nth(1);
    ok(first.ok, `swapped: ${!first.ok && first.error}`);
    strictEqual(first.result.generation, 2);
    strictEqual(labelOf(hot), "two/a");
    // Lets a second swap of the same signal come (see Outcomes.until), then the reader surely listens.
    await hot.swap(entry);
    const seen = outcomes.count;

    await fixture.write({ "gen.ts": gen("/b") });
    const requests = await countReadRequests(async () => {
      await sighup();
      await outcomes.until(hot, "two/b", seen);
    });
    strictEqual(labelOf(hot), "two/b");
    strictEqual(hot.info().via, "swap");
    strictEqual(requests, 0, "the serving thread asked for no read: the reader took the signal and read");
  });
}

Deno.test("swapOnSignal: once it resolved, one signal makes one swap, read by the reader alone", async () => {
  await using app = await SignalledEcho.start("one");
  const { fixture, entry, hot, outcomes } = app;
  for (const [n, label] of [[1, "two"], [2, "three"]] as const) {
    await fixture.write({ "label.ts": `export const label = "${label}";\n` });
    const requests = await countReadRequests(async () => {
      await sighup();
      const outcome = await outcomes.nth(n);
      ok(outcome.ok);
      strictEqual(outcome.result.generation, n + 1);
    });
    strictEqual(requests, 0, "the serving thread read nothing");
    strictEqual(labelOf(hot), `${label}/a`);
  }
  // A swap queued behind any second swap of the same signal: none came.
  await hot.swap(entry);
  strictEqual(outcomes.count, 2);
  strictEqual(hot.generation, 4);
});

Deno.test("swapOnSignal: a refused generation goes to onSwap and a reject event, and the old one serves on", async () => {
  await using app = await SignalledEcho.start("one");
  const { fixture, hot, outcomes } = app;
  const rejected = Promise.withResolvers<string>();
  hot.addEventListener("reject", ({ detail }) => rejected.resolve(detail.error.code));
  await fixture.write({ "label.ts": `export const label = ;\n` });
  await sighup();
  const outcome = await outcomes.nth(1);
  ok(!outcome.ok);
  ok(outcome.error instanceof HotswapError);
  strictEqual(outcome.error.code, "E_IMPORT");
  strictEqual(outcome.error.path, fixture.path("label.ts"));
  strictEqual(outcome.error.activeGeneration, 1);
  strictEqual(await rejected.promise, "E_IMPORT");
  strictEqual(labelOf(hot), "one/a");
});

Deno.test("swapOnSignal: signals during a swap fold into one more swap, of the files as last written", async () => {
  await using app = await SignalledEcho.start("v1");
  const { fixture, hot, outcomes } = app;
  const gate = "await (globalThis as { gate?: Promise<void> }).gate;\n";
  const held = Promise.withResolvers<void>();
  (globalThis as { gate?: Promise<void> }).gate = held.promise;
  try {
    // v2 waits at its top level until released; meanwhile six more writes, each signalled. Each
    // replaces its file whole, as an editor saves: the reader may be reading the last one meanwhile.
    await replaceFile(fixture.path("gen.ts"), gen("/a", gate));
    await replaceFile(fixture.path("label.ts"), `export const label = "v2";\n`);
    await sighup();
    let signals = 1;
    for (const version of ["v3", "v4", "v5", "v6", "v7", "v8"]) {
      await replaceFile(fixture.path("label.ts"), `export const label = "${version}";\n`);
      await sighup();
      signals++;
    }
    held.resolve();
    await outcomes.until(hot, "v8/a");
    ok(outcomes.count < signals, `${signals} signals made ${outcomes.count} swaps`);
  } finally {
    held.resolve();
    delete (globalThis as { gate?: Promise<void> }).gate;
  }
});

Deno.test("swapOnSignal: when the reader ends, the serving thread takes the signal and reads again", async () => {
  await using app = await SignalledEcho.start("one");
  const { fixture, hot, outcomes } = app;
  await fixture.write({ "label.ts": `export const label = "two";\n` });
  await sighup();
  await outcomes.until(hot, "two/a");
  const seen = outcomes.count;

  // The process's reader (shared: acquiring it again gives the same one) fails.
  const reader = acquireReader()!;
  reader.close("ended by the test");
  releaseReader(reader);
  await fixture.write({ "label.ts": `export const label = "three";\n` });
  await sighup();
  await outcomes.until(hot, "three/a", seen);
});

Deno.test("swapOnSignal: a signed artifact is read in the order of swaps, against the highest sequence committed", async () => {
  await using fixture = await Fixture.create();
  const { key, trust } = await keyAndList();
  const served = fixture.path("served.hsgen");
  await Deno.copyFile(await packEcho(fixture, "v2", key, { sequence: 2 }), served);
  await using hot = await registerHotswap(echo, served, { trust });
  await hot.warm();
  const outcomes = new Outcomes();
  using _swaps = await hot.swapOnSignal("SIGHUP", served, { onSwap: outcomes.onSwap });
  await Deno.copyFile(await packEcho(fixture, "v3", key, { sequence: 3 }), served);
  await sighup();
  ok((await outcomes.nth(1)).ok);
  strictEqual(labelOf(hot), "v3");
  strictEqual(hot.info().provenance?.manifest.sequence, 3);

  await Deno.copyFile(await packEcho(fixture, "v1", key, { sequence: 1 }), served);
  await sighup();
  const replayed = await outcomes.nth(2);
  ok(!replayed.ok);
  ok(replayed.error instanceof SignatureError, `a SignatureError: ${replayed.error}`);
  strictEqual(replayed.error.reason, "replayed sequence");
  strictEqual(labelOf(hot), "v3");
});

Deno.test("swapOnSignal: a signal Deno refuses is a TypeError, and a closed reference refuses with E_CLOSED", async () => {
  await using fixture = await Fixture.create();
  const entry = await fixture.write({ "gen.ts": gen("/a"), "label.ts": `export const label = "one";\n` });
  const hot = await registerHotswap(echo, entry);
  await rejects(hot.swapOnSignal("SIGKILL", entry), TypeError);
  // Closing the reference closes the listener with it (the op sanitizer sees any left).
  await hot.swapOnSignal("SIGHUP", entry);
  await hot.close();
  await rejects(hot.swapOnSignal("SIGHUP", entry), (error: unknown) => {
    ok(error instanceof HotswapError);
    strictEqual(error.code, "E_CLOSED");
    return true;
  });
});

Deno.test("swapOnSignal: a signal the reader took but never answered, as it ended, is read on the serving thread", async () => {
  // A source standing in for the reader: the test plays its messages.
  let reads: SignalReads | undefined;
  const readHere: string[] = [];
  const snapshot = {} as Snapshot;
  const source: SnapshotSource = {
    read: (path) => {
      readHere.push(path);
      return Promise.resolve(snapshot);
    },
    committed: () => {},
    readOnSignal: (_signal, _path, signalReads) => {
      reads = signalReads;
      return () => {};
    },
  };
  const swapped: Snapshot[] = [];
  const done = Promise.withResolvers<void>();
  using _swaps = new SignalSwapper("SIGHUP", "/app/gen.ts", {
    source,
    swap: async (take) => {
      swapped.push(await take());
      done.resolve();
      return { generation: 2, digest: "", retired: new Promise(() => {}) };
    },
    closed: () => {},
  }, {});
  reads!.listening();
  reads!.taken();
  reads!.gone();
  await done.promise;
  deepStrictEqual(readHere, ["/app/gen.ts"]);
  strictEqual(swapped[0], snapshot);

  // A reader that answered what it took leaves nothing to read again.
  readHere.length = 0;
  const again = new SignalSwapper("SIGHUP", "/app/gen.ts", {
    source,
    swap: () => Promise.reject(new Error("no swap expected")),
    closed: () => {},
  }, {});
  reads!.listening();
  reads!.taken();
  reads!.read(Promise.reject(new Error("a refused read")));
  again.close();
  reads!.gone();
  deepStrictEqual(readHere, []);
});
