/**
 * Generation (core/generation.ts) on its own, with a runtime stub standing
 * for a loader: the drain barrier, retirement in its order (drain, abort,
 * dispose, unload), its deadlines, and the counters `with()` feeds.
 *
 * @module
 */

import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { Generation, type GenerationRuntime } from "../core/generation.ts";
import type { Snapshot } from "../core/snapshot.ts";
import { flushMicrotasks } from "./_fixtures.ts";

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
    unload: () => log.push("unload"),
  };
}

Deno.test("Generation.drained() resolves at once without calls, and when the last call is released", async () => {
  const generation = new Generation(1, SNAPSHOT, runtime([]), new AbortController());
  let settled = false;
  await generation.drained();
  generation.inflight += 2;
  const barrier = generation.drained().then(() => settled = true);
  generation.release();
  await flushMicrotasks();
  strictEqual(settled, false, "one call still runs");
  generation.release();
  await barrier;
  strictEqual(settled, true);
});

Deno.test("Generation.retire() drains, aborts the signal, disposes, then unloads", async () => {
  const log: string[] = [];
  const controller = new AbortController();
  controller.signal.addEventListener("abort", () => log.push("abort"));
  const generation = new Generation(2, SNAPSHOT, runtime(log), controller);
  generation.inflight++;
  const retiring = generation.retire(60_000, () => log.push("drain-timeout"));
  await flushMicrotasks();
  deepStrictEqual(log, [], "nothing happens while a call runs");
  strictEqual(generation.state, "draining");
  generation.release();
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
  generation.inflight++;
  const report = await generation.retire(10, () => log.push("drain-timeout"));
  deepStrictEqual(log, ["drain-timeout", "dispose", "unload"]);
  strictEqual(report.drained, false);
  ok(report.disposeError instanceof Error);
  strictEqual(generation.state, "retired");
});

Deno.test("Generation.fail() releases the call and counts it as an error", async () => {
  const generation = new Generation(4, SNAPSHOT, runtime([]), new AbortController());
  generation.inflight = 2;
  generation.release();
  generation.fail(new Error("boom"));
  strictEqual(generation.inflight, 0);
  strictEqual(generation.errors, 1);
  await generation.drained();
  strictEqual(await generation.handoff(), "state");
});
