/**
 * Generation (core/generation.ts) on its own, with a runtime stub standing
 * for a loader: calls and the counters they feed, the drain barrier,
 * retirement in its order (drain, abort, dispose, unload), and its deadlines.
 * Calls are held in flight by promises the test settles.
 *
 * @module
 */

import { deepStrictEqual, match, ok, rejects, strictEqual, throws } from "node:assert/strict";
import { Generation, type GenerationRuntime } from "../core/generation.ts";
import type { Snapshot } from "../core/snapshot.ts";
import { defineContract, type HotswapError, registerHotswap } from "../mod.ts";
import { Fixture, flushMicrotasks } from "./_fixtures.ts";

const SNAPSHOT = { digest: "sha256-test", entry: "/gen.ts" } as unknown as Snapshot;

function runtime(
  log: string[],
  dispose: () => Promise<void> = () => Promise.resolve(),
): GenerationRuntime<{ n: 1 }> {
  return {
    handle: { n: 1 },
    handoff: () => Promise.resolve("state"),
    dispose: async () => {
      log.push("dispose");
      await dispose();
    },
    unload: () => void log.push("unload"),
  };
}

/** Starts a call on `generation` that stays in flight until the returned gate settles. */
function hold(generation: Generation<{ n: 1 }>): PromiseWithResolvers<void> & { call: Promise<void> } {
  const gate = Promise.withResolvers<void>();
  const call = generation.call(() => gate.promise);
  return { ...gate, call };
}

Deno.test("Generation.drained() resolves at once without calls, and when the last call is released", async () => {
  const generation = new Generation(1, SNAPSHOT, runtime([]), new AbortController());
  let settled = false;
  await generation.drained();
  const [first, second] = [hold(generation), hold(generation)];
  const barrier = generation.drained().then(() => settled = true);
  first.resolve();
  await flushMicrotasks();
  strictEqual(settled, false, "one call still runs");
  second.resolve();
  await barrier;
  strictEqual(settled, true);
});

Deno.test("Generation.retire() drains, aborts the signal, disposes, then unloads", async () => {
  const log: string[] = [];
  const controller = new AbortController();
  controller.signal.addEventListener("abort", () => log.push("abort"));
  const generation = new Generation(2, SNAPSHOT, runtime(log), controller);
  const held = hold(generation);
  const retiring = generation.retire(60_000, () => log.push("drain-timeout"));
  await flushMicrotasks();
  deepStrictEqual(log, [], "nothing happens while a call runs");
  strictEqual(generation.state, "draining");
  held.resolve();
  const report = await retiring;
  deepStrictEqual(log, ["abort", "dispose", "unload"]);
  strictEqual(report.generation, 2);
  strictEqual(report.drained, true);
  strictEqual(report.disposeError, undefined);
  strictEqual(generation.state, "retired");
});

Deno.test("Generation.retire() past drainTimeout reports drained false, and a dispose that never settles", async () => {
  const log: string[] = [];
  const generation = new Generation(
    3,
    SNAPSHOT,
    runtime(log, () => new Promise(() => {})),
    new AbortController(),
  );
  const held = hold(generation);
  const report = await generation.retire(10, () => log.push("drain-timeout"));
  deepStrictEqual(log, ["drain-timeout", "dispose", "unload"]);
  strictEqual(report.drained, false);
  ok(report.disposeError instanceof Error);
  strictEqual(generation.state, "retired");
  held.resolve(); // the abandoned call settles, so the test leaves nothing pending
});

Deno.test("Generation.call() counts a call in flight until its promise settles, and keeps a sync result sync", async () => {
  const generation = new Generation(4, SNAPSHOT, runtime([]), new AbortController());
  strictEqual(generation.call((handle) => handle.n), 1);
  const held = hold(generation);
  deepStrictEqual([generation.calls, generation.inflight], [2, 1]);
  held.resolve();
  await held.call;
  deepStrictEqual([generation.calls, generation.inflight, generation.errors], [2, 0, 0]);
});

Deno.test("Generation.call() releases a call that throws or rejects, and counts it as an error", async () => {
  const generation = new Generation(5, SNAPSHOT, runtime([]), new AbortController());
  throws(() =>
    generation.call(() => {
      throw new Error("sync");
    }), /sync/);
  await rejects(generation.call(() => Promise.reject(new Error("async"))), /async/);
  const { inflight, calls, errors, p99 } = generation.stats();
  deepStrictEqual([inflight, calls, errors], [0, 2, 2]);
  ok(p99 > 0, "the first call is always timed");
  await generation.drained();
  strictEqual(await generation.handoff(), "state");
});

Deno.test("Generation counters are read-only outside it", () => {
  const generation = new Generation(6, SNAPSHOT, runtime([]), new AbortController());
  throws(() => {
    // @ts-expect-error inflight has no setter: only call() and its release change it
    generation.inflight = 1;
  }, TypeError);
  strictEqual(generation.inflight, 0);
});

for (const isolation of ["worker", "process"] as const) {
  Deno.test(`${isolation} isolation: a call nobody awaited is drained like any other, and never an unhandled rejection`, async () => {
    await using fixture = await Fixture.create();
    const tracked = defineContract<{ track(ms: number): void; fail(): void; ok(): number }>({
      name: "Tracked",
      version: "1.0.0",
      symbol: "hs_tracked",
      shape: { track: "function", fail: "function", ok: "function" },
    });
    const marker = fixture.path("tracked");
    // track() leaves a file once it has run to its end.
    const module = `export const hs_tracked = {
  track: async (ms: number) => {
    await new Promise((resolve) => setTimeout(resolve, ms));
    Deno.writeTextFileSync(${JSON.stringify(marker)}, "done");
  },
  fail: () => { throw new Error("nobody listens"); },
  ok: () => 1,
};
`;
    const hot = await registerHotswap(tracked, await fixture.write({ "a.ts": module }), {
      isolation,
      permissions: { write: [fixture.dir] },
    });
    const unhandled: unknown[] = [];
    const onUnhandled = (event: PromiseRejectionEvent) => {
      unhandled.push(event.reason);
      event.preventDefault();
    };
    globalThis.addEventListener("unhandledrejection", onUnhandled);
    try {
      // Fire and forget, as a void method often is called.
      await hot.with((h) => {
        void h.track(200);
        void h.fail();
        return h.ok();
      });
      const { retired } = await hot.swap(await fixture.write({ "b.ts": module }));
      strictEqual((await retired).drained, true);
      // The drain waited for track() to run to its end on generation 1, rather than end it.
      strictEqual(await Deno.readTextFile(marker), "done");
      await flushMicrotasks();
      deepStrictEqual(unhandled, []);
    } finally {
      globalThis.removeEventListener("unhandledrejection", onUnhandled);
      await hot.close();
    }
  });
  Deno.test(`${isolation} isolation: a result no then() accepts rejects that call alone; later calls are served`, async () => {
    await using fixture = await Fixture.create();
    const odd = defineContract<{ fake(): unknown; trap(): unknown; ok(): number }>({
      name: "Odd",
      version: "1.0.0",
      symbol: "hs_odd",
      shape: { fake: "function", trap: "function", ok: "function" },
    });
    const entry = await fixture.write({
      "odd.ts": `export const hs_odd = {
  fake: () => Object.create(Promise.prototype),
  trap: () => new Proxy({}, { getPrototypeOf() { throw new RangeError("no prototype"); } }),
  ok: () => 1,
};`,
    });
    const restarts: unknown[] = [];
    await using hot = await registerHotswap(odd, entry, { isolation });
    hot.addEventListener("restart", (event) => restarts.push(event));
    await rejects(hot.with((h) => h.fake()), /incompatible receiver/);
    await rejects(hot.with((h) => h.trap()), /no prototype/);
    strictEqual(await hot.with((h) => h.ok()), 1);
    deepStrictEqual(restarts, [], "the process was not restarted");
  });
  Deno.test(`${isolation} isolation: values sharing objects along many paths load, cross and throw in bounded time`, async () => {
    await using fixture = await Fixture.create();
    const shared = defineContract<{ data: object; thrown(): void; ok(): number }>({
      name: "Shared",
      version: "1.0.0",
      symbol: "hs_shared",
      shape: { data: "object", thrown: "function", ok: "function" },
    });
    // Each level references the one below 50 times (data) or twice (thrown): written out path by
    // path, as JSON writes it, 50^20 and 2^40 values.
    const entry = await fixture.write({
      "shared.ts": `function wide(levels: number, fanout: number, leaf: object): object {
  let level: Record<string, unknown> = { ...leaf };
  for (let i = 0; i < levels; i++) {
    const next: Record<string, unknown> = {};
    for (let k = 0; k < fanout; k++) next["k" + k] = level;
    level = next;
  }
  return level;
}
export const hs_shared = {
  data: wide(20, 50, { x: 1 }),
  thrown() { throw wide(40, 2, { x: 1 }); },
  ok: () => 1,
};`,
      // Functions 8 levels down, each level 50 times over: described path by path, 50^8 members.
      "handles.ts": `let level: Record<string, unknown> = { f: () => 1 };
for (let i = 0; i < 8; i++) {
  const next: Record<string, unknown> = {};
  for (let k = 0; k < 50; k++) next["k" + k] = level;
  level = next;
}
export const hs_shared = { data: level, thrown() {}, ok: () => 1 };`,
    });
    await using hot = await registerHotswap(shared, entry, { isolation });
    strictEqual(hot.with((h) => Object.keys(h.data).length), 50);
    await rejects(hot.with((h) => h.thrown()), /an object was thrown: \[object Object\], too large to print/);
    strictEqual(await hot.with((h) => h.ok()), 1);
    await rejects(hot.swap(fixture.path("handles.ts")), (error: HotswapError) => {
      strictEqual(error.code, "E_CONTRACT");
      match(error.message, /more than 100000 members to describe/);
      return true;
    });
    strictEqual(await hot.with((h) => h.ok()), 1);
  });
}
