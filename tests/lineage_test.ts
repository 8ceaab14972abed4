/**
 * `Lineage` (core/_lineage.ts), the books of a reference: commits and the
 * `swap` events they announce, the snapshots rollback steps back through,
 * the bounded history, retirement (`drain-timeout`, `retire`) and the
 * counters. Real generations over stub runtimes; calls are held in flight
 * by gates the test releases.
 *
 * @module
 */

import { deepStrictEqual, strictEqual } from "node:assert/strict";
import { Generation } from "../core/generation.ts";
import type { Snapshot } from "../core/snapshot.ts";
import { Lineage, type LineageOptions } from "../core/_lineage.ts";
import type { Emit } from "../core/_listeners.ts";
import { flushMicrotasks } from "./_fixtures.ts";

type Handle = { n: number };

function snapshot(name: string, provenance?: unknown): Snapshot {
  const entry = `/app/${name}.ts`;
  return {
    entry,
    files: [entry, "/app/dep.ts"],
    digest: `sha256-${name}`,
    provenance,
  } as unknown as Snapshot;
}

function generation(number: number, from: Snapshot): Generation<Handle> {
  const runtime = {
    handle: { n: number },
    handoff: () => Promise.resolve(undefined),
    dispose: () => Promise.resolve(),
    unload: () => {},
  };
  return new Generation(number, from, runtime, new AbortController());
}

/** A lineage whose events are recorded as [type, detail]. */
function books(options: Partial<LineageOptions> = {}) {
  const events: [string, unknown][] = [];
  const emit: Emit = (type, detail) => void events.push([type, detail]);
  const lineage = new Lineage<Handle>({
    isolation: "worker",
    rollbackDepth: 3,
    drainTimeout: 60_000,
    ...options,
  }, emit);
  return { lineage, events };
}

/** Commits generations 1..count, on snapshots s1..s<count>. */
function commitMany(lineage: Lineage<Handle>, count: number): Generation<Handle>[] {
  const committed = [];
  for (let n = 1; n <= count; n++) {
    const next = generation(n, snapshot(`s${n}`));
    lineage.commit(next, n === 1 ? "register" : "swap");
    committed.push(next);
  }
  return committed;
}

Deno.test("Lineage.commit() records the first generation without announcing a swap", () => {
  const { lineage, events } = books();
  const [first] = commitMany(lineage, 1);
  strictEqual(lineage.current, first);
  strictEqual(lineage.kept, 1);
  strictEqual(lineage.previous, undefined, "nothing to roll back to");
  deepStrictEqual(events, []);
  deepStrictEqual(lineage.info(), {
    generation: 1,
    digest: "sha256-s1",
    path: "/app/s1.ts",
    files: ["/app/s1.ts", "/app/dep.ts"],
    isolation: "worker",
    via: "register",
    committedAt: first!.loadedAt,
  });
  deepStrictEqual(lineage.counts(), { calls: 0, swaps: 0, rollbacks: 0, generations: [first!.stats()] });
});

Deno.test("Lineage.commit() of a later generation announces the swap and keeps the earlier snapshot", () => {
  const { lineage, events } = books();
  const [first, second] = commitMany(lineage, 2);
  deepStrictEqual(events, [["swap", {
    from: 1,
    to: 2,
    digest: "sha256-s2",
    path: "/app/s2.ts",
    via: "swap",
  }]]);
  strictEqual(lineage.previous, first!.snapshot);
  strictEqual(lineage.current, second);
  deepStrictEqual(lineage.history().map((info) => [info.generation, info.via]), [[1, "register"], [
    2,
    "swap",
  ]]);
  strictEqual(lineage.counts().swaps, 1);
});

Deno.test("Lineage.commit() keeps at most rollbackDepth snapshots, the current one's included", () => {
  const { lineage } = books({ rollbackDepth: 3 });
  const committed = commitMany(lineage, 5);
  strictEqual(lineage.kept, 3);
  strictEqual(lineage.previous, committed[3]!.snapshot);
});

Deno.test("Lineage.commit() via rollback drops the snapshot rolled back from, so the next goes further", () => {
  const { lineage, events } = books({ rollbackDepth: 5 });
  const [first, second] = commitMany(lineage, 3);
  lineage.commit(generation(4, lineage.previous!), "rollback");
  deepStrictEqual(events.at(-1), ["swap", {
    from: 3,
    to: 4,
    digest: "sha256-s2",
    path: "/app/s2.ts",
    via: "rollback",
  }]);
  strictEqual(lineage.kept, 2);
  strictEqual(lineage.previous, first!.snapshot);
  strictEqual(lineage.current!.snapshot, second!.snapshot);
  lineage.commit(generation(5, lineage.previous!), "rollback");
  strictEqual(lineage.kept, 1);
  strictEqual(lineage.previous, undefined);
  const { swaps, rollbacks } = lineage.counts();
  deepStrictEqual({ swaps, rollbacks }, { swaps: 4, rollbacks: 2 });
  strictEqual(lineage.info().via, "rollback");
});

Deno.test("Lineage.history() keeps the last 100 commits, as copies, with a signed snapshot's provenance", () => {
  const { lineage } = books();
  commitMany(lineage, 104);
  lineage.commit(generation(105, snapshot("signed", { keyId: "k1" })), "swap");
  const history = lineage.history();
  strictEqual(history.length, 100);
  deepStrictEqual([history[0]!.generation, history.at(-1)!.generation], [6, 105]);
  deepStrictEqual(history.at(-1)!.provenance, { keyId: "k1" });
  strictEqual("provenance" in history[0]!, false, "no provenance key for an unsigned one");
  (history[0] as { generation: number }).generation = -1;
  (lineage.info() as { generation: number }).generation = -1;
  deepStrictEqual([lineage.history()[0]!.generation, lineage.info().generation], [6, 105]);
});

Deno.test("Lineage.retire() waits for the drain, records the retirement and announces it", async () => {
  const { lineage, events } = books();
  const [first, second] = commitMany(lineage, 2);
  const gate = Promise.withResolvers<void>();
  const call = first!.call(() => gate.promise);
  first!.call(() => "a second, finished call");
  const retiring = lineage.retire(first!);
  await flushMicrotasks();
  deepStrictEqual(events.map(([type]) => type), ["swap"], "still draining");
  deepStrictEqual(lineage.counts().generations.map((stats) => stats.generation), [1, 2]);
  gate.resolve();
  await call;
  const report = await retiring;
  deepStrictEqual({ ...report, waitedMs: 0 }, {
    generation: 1,
    digest: "sha256-s1",
    drained: true,
    waitedMs: 0,
  });
  deepStrictEqual(events.at(-1), ["retire", report]);
  const [entry] = lineage.history();
  deepStrictEqual([entry!.drained, typeof entry!.retiredAt], [true, "number"]);
  deepStrictEqual(lineage.counts().generations, [second!.stats()]);
  strictEqual(lineage.counts().calls, 2, "a retired generation's calls still count");
});

Deno.test("Lineage.retire() past drainTimeout announces drain-timeout, then the retirement", async () => {
  const { lineage, events } = books({ drainTimeout: 1 });
  const [first] = commitMany(lineage, 2);
  const gate = Promise.withResolvers<void>();
  const call = first!.call(() => gate.promise);
  const report = await lineage.retire(first!);
  strictEqual(report.drained, false);
  deepStrictEqual(events.slice(1), [
    ["drain-timeout", { generation: 1, inflight: 1, drainTimeout: 1 }],
    ["retire", report],
  ]);
  strictEqual(lineage.history()[0]!.drained, false);
  gate.resolve();
  await call;
});

Deno.test("Lineage.retireAll() retires the current generation and waits for retirements under way, once", async () => {
  const { lineage, events } = books();
  const [first] = commitMany(lineage, 2);
  const gate = Promise.withResolvers<void>();
  const call = first!.call(() => gate.promise);
  void lineage.retire(first!);
  let done = false;
  const all = lineage.retireAll().then(() => done = true);
  await flushMicrotasks();
  strictEqual(done, false, "generation 1 still drains");
  gate.resolve();
  await Promise.all([call, all]);
  const retired = () =>
    events.filter(([type]) => type === "retire").map(([, detail]) =>
      (detail as { generation: number }).generation
    );
  deepStrictEqual(retired().sort(), [1, 2]);
  deepStrictEqual(lineage.counts().generations, []);
  await lineage.retireAll();
  deepStrictEqual(retired().sort(), [1, 2], "nothing is retired twice");
  strictEqual(lineage.current!.number, 2, "the last committed generation stays known after close");
});
