/**
 * `loadWithin()` (core/loader.ts), the one place that bounds a load by
 * `loadTimeout`: a load that settles in time passes through unchanged; one
 * that does not is abandoned (its signal aborts with the `E_TIMEOUT` error),
 * and if it still succeeds later its runtime is unloaded at once. Loads are
 * held by gates the test settles; the timeouts are small real ones, as the
 * behaviour under test is the timeout.
 *
 * @module
 */

import { deepStrictEqual, ok, rejects, strictEqual } from "node:assert/strict";
import { defineContract } from "../core/contract.ts";
import { HotswapError } from "../core/errors.ts";
import type { GenerationRuntime } from "../core/generation.ts";
import { type Loader, type LoadRequest, loadWithin } from "../core/loader.ts";
import type { Snapshot } from "../core/snapshot.ts";
import { macrotask } from "./_fixtures.ts";

type Handle = { n: number };

/** A loader whose every load waits on a gate the test settles, recording its request and signal. */
class GatedLoader implements Loader {
  readonly live = 0;
  readonly endsOnAbort = false;
  readonly abandoned = "the test loader lets it run";
  readonly gate = Promise.withResolvers<GenerationRuntime<Handle>>();
  readonly calls: { request: LoadRequest<unknown>; signal: AbortSignal }[] = [];

  load<T>(request: LoadRequest<T>, signal: AbortSignal): Promise<GenerationRuntime<T>> {
    this.calls.push({ request, signal });
    return this.gate.promise as Promise<unknown> as Promise<GenerationRuntime<T>>;
  }
  ready(): Promise<void> {
    return Promise.resolve();
  }
  [Symbol.asyncDispose](): Promise<void> {
    return Promise.resolve();
  }
}

const REQUEST: LoadRequest<Handle> = {
  contract: defineContract<Handle>({ name: "N", version: "1.0.0", symbol: "hs_n", shape: { n: "number" } }),
  snapshot: { entry: "/app/slow.ts", digest: "sha256-x" } as unknown as Snapshot,
  context: { generation: 1, digest: "sha256-x", previous: undefined, signal: new AbortController().signal },
  onRestart: () => {},
};

/** A runtime that records its unloads. */
function runtime(unloads: string[]): GenerationRuntime<Handle> {
  return {
    handle: { n: 1 },
    handoff: () => Promise.resolve(undefined),
    dispose: () => Promise.resolve(),
    unload: () => void unloads.push("unload"),
  };
}

Deno.test("loadWithin() returns the runtime of a load that settles in time, passing the request through", async () => {
  const loader = new GatedLoader();
  const unloads: string[] = [];
  const loaded = runtime(unloads);
  const loading = loadWithin(loader, REQUEST, 60_000);
  loader.gate.resolve(loaded);
  strictEqual(await loading, loaded);
  await macrotask();
  deepStrictEqual(unloads, [], "a runtime loaded in time stays loaded");
  strictEqual(loader.calls.length, 1);
  strictEqual(loader.calls[0]!.request, REQUEST);
  strictEqual(loader.calls[0]!.signal.aborted, false, "a load in time is not abandoned");
});

Deno.test("loadWithin() rejects with the loader's own error when the load fails in time", async () => {
  const loader = new GatedLoader();
  const failure = new HotswapError("E_SYMBOL", "Cannot find export", { path: "/app/slow.ts" });
  const loading = loadWithin(loader, REQUEST, 60_000);
  loader.gate.reject(failure);
  await rejects(loading, (error) => error === failure);
  strictEqual(loader.calls[0]!.signal.aborted, false);
});

Deno.test("loadWithin() past loadTimeout rejects with E_TIMEOUT, and aborts the load's signal with it", async () => {
  const loader = new GatedLoader();
  let timeout: unknown;
  await rejects(loadWithin(loader, REQUEST, 5), (error) => {
    timeout = error;
    ok(error instanceof HotswapError);
    strictEqual(error.code, "E_TIMEOUT");
    strictEqual(error.path, "/app/slow.ts");
    strictEqual(
      error.message,
      'Cannot load "/app/slow.ts": import, factory and verification took longer than loadTimeout (5 ms); the test loader lets it run; look for a top-level await, a loop, or a factory that never settles',
    );
    return true;
  });
  const { signal } = loader.calls[0]!;
  strictEqual(signal.aborted, true);
  strictEqual(signal.reason, timeout);
  loader.gate.reject(new Error("settle the abandoned load"));
});

Deno.test("loadWithin() arms the deadline after the loader's boot: starting a sandbox is not the generation's time", async () => {
  const loader = new GatedLoader();
  const booted = Promise.withResolvers<void>();
  const events: string[] = [];
  Object.assign(loader, {
    boot: async () => {
      events.push("boot");
      await booted.promise;
      events.push("booted");
    },
  });
  const unloads: string[] = [];
  const loaded = runtime(unloads);
  const loading = loadWithin(loader, REQUEST, 20);
  // The boot takes five times the deadline (a worker's first start under deno test takes seconds).
  await new Promise((resolve) => setTimeout(resolve, 100));
  strictEqual(loader.calls.length, 0, "no load before the boot is done");
  booted.resolve();
  loader.gate.resolve(loaded);
  strictEqual(await loading, loaded);
  deepStrictEqual(events, ["boot", "booted"]);
  strictEqual(loader.calls[0]!.signal.aborted, false);
});

Deno.test("loadWithin() of a loader that ends its loads rejects with the closing reason when closed during the boot", async () => {
  const loader = new GatedLoader();
  const booted = Promise.withResolvers<void>();
  Object.assign(loader, { endsOnAbort: true, boot: () => booted.promise });
  const closing = new AbortController();
  const loading = loadWithin(loader, REQUEST, 20, closing.signal);
  const reason = new HotswapError("E_CLOSED", "closed");
  closing.abort(reason);
  booted.resolve();
  await rejects(loading, (error) => error === reason);
  strictEqual(loader.calls.length, 0, "nothing was loaded");
});

Deno.test("loadWithin() unloads a load that succeeds after its deadline, so it never serves", async () => {
  const loader = new GatedLoader();
  const unloads: string[] = [];
  await rejects(loadWithin(loader, REQUEST, 1), { code: "E_TIMEOUT" });
  deepStrictEqual(unloads, [], "nothing to unload yet");
  loader.gate.resolve(runtime(unloads));
  // One event-loop turn: every microtask, the one that unloads included, has run.
  await macrotask();
  deepStrictEqual(unloads, ["unload"]);
});

Deno.test("loadWithin() observes an unload that fails, for a load that succeeded after its deadline", async () => {
  const loader = new GatedLoader();
  await rejects(loadWithin(loader, REQUEST, 1), { code: "E_TIMEOUT" });
  let unloaded = false;
  loader.gate.resolve({
    ...runtime([]),
    unload: () => {
      unloaded = true;
      return Promise.reject(new Error("unload failed"));
    },
  } as unknown as GenerationRuntime<Handle>);
  // One event-loop turn: an unobserved rejection would now be reported and fail this test.
  await macrotask();
  ok(unloaded);
});

Deno.test("loadWithin() observes a load that fails after its deadline", async () => {
  const loader = new GatedLoader();
  await rejects(loadWithin(loader, REQUEST, 1), { code: "E_TIMEOUT" });
  loader.gate.reject(new Error("failed late"));
  // One event-loop turn: an unobserved rejection would now be reported and fail this test.
  await macrotask();
});
