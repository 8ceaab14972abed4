/**
 * `Hotswap.warm()` warms the import scanner up (core/_scanner_warmup.ts):
 * once per isolate (the process's off-thread reader, see
 * off_thread_reader_test.ts, or this one), in slices that let the event loop
 * run, and without changing what any swap reads. Its effect on swap latency
 * is a benchmark's business (`deno task bench:load`), not a test's.
 *
 * @module
 */

import { ok, strictEqual } from "node:assert/strict";
import { registerHotswap } from "../mod.ts";
import { WARM_UP_BUDGET_MS, WARM_UP_SLICE_MS, warmScanner } from "../core/_scanner_warmup.ts";
import { echo, echoModule, Fixture } from "./_fixtures.ts";

Deno.test("warm() parses in slices: the event loop keeps running, and the swap after it reads the new file", async () => {
  await using fixture = await Fixture.create();
  const entry = await fixture.write({
    "gen.ts":
      `import { label } from "./label.ts";\nexport const hs_echo = { label, run: (input: unknown) => [label, input] };\n`,
    "label.ts": `export const label: string = "one";\n`,
  });
  await using hot = await registerHotswap(echo, entry);
  let turns = 0;
  const timer = setInterval(() => turns++, 0);
  const started = performance.now();
  try {
    await hot.warm();
  } finally {
    clearInterval(timer);
  }
  const took = performance.now() - started;
  // About budget / slice turns; a few are enough to show that it yields.
  ok(turns >= 5, `${turns} timer turns ran during a ${took.toFixed(0)} ms warm-up`);
  ok(took >= WARM_UP_BUDGET_MS, `the first warm-up parses for its budget; it took ${took.toFixed(0)} ms`);
  await Deno.writeTextFile(fixture.path("label.ts"), `export const label: string = "two";\n`);
  strictEqual((await hot.swap(entry)).generation, 2);
  strictEqual(hot.with((handle) => handle.label), "two");
});

Deno.test("warm() runs once per reader: references alive together share it, and it is bounded by its budget", async () => {
  ok(WARM_UP_SLICE_MS < WARM_UP_BUDGET_MS);
  await using fixture = await Fixture.create();
  const entry = await fixture.write({ "gen.ts": echoModule("again") });
  await using first = await registerHotswap(echo, entry);
  await using second = await registerHotswap(echo, entry);
  let started = performance.now();
  await first.warm();
  const took = performance.now() - started;
  ok(
    took >= WARM_UP_BUDGET_MS,
    `the reader's first warm-up parses for its budget; it took ${took.toFixed(0)} ms`,
  );
  started = performance.now();
  await second.warm();
  // The reader is the process's, already warm: nothing left to do but a message's round trip.
  ok(performance.now() - started < WARM_UP_BUDGET_MS, "a second warm-up parses nothing");
  const modules = [{ path: entry, source: echoModule("x") }] as never;
  // This isolate's own warm-up (for artifacts, read on this thread), shared the same way.
  const warming = warmScanner(modules);
  strictEqual(warmScanner(modules), warming);
  await warming;
});

Deno.test("warm() with nothing to parse (a JSON-only snapshot) resolves without parsing", async () => {
  strictEqual(await warmScanner([{ path: "/x/data.json", source: "{}" }] as never), undefined);
});
