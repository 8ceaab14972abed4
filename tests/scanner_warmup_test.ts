/**
 * `Hotswap.warm()` warms the import scanner up (core/_scanner_warmup.ts):
 * once per isolate, in slices that let the event loop run, and without
 * changing what any swap reads. Its effect on swap latency is a benchmark's
 * business (`deno task bench:load`), not a test's.
 *
 * Deno runs each test file in an isolate of its own: the first test here is
 * the isolate's first warm-up.
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

Deno.test("warm() runs once per isolate: later calls share it, and it is bounded by its budget", async () => {
  ok(WARM_UP_SLICE_MS < WARM_UP_BUDGET_MS);
  await using fixture = await Fixture.create();
  const entry = await fixture.write({ "gen.ts": echoModule("again") });
  await using hot = await registerHotswap(echo, entry);
  const started = performance.now();
  await hot.warm();
  // The first test spent the budget; this one has nothing left to do but a resolved promise's turn.
  ok(performance.now() - started < WARM_UP_BUDGET_MS, "a second warm-up parses nothing");
  const modules = [{ path: entry, source: echoModule("x") }] as never;
  strictEqual(warmScanner(modules), warmScanner(modules));
});

Deno.test("warm() with nothing to parse (a JSON-only snapshot) resolves without parsing", async () => {
  strictEqual(await warmScanner([{ path: "/x/data.json", source: "{}" }] as never), undefined);
});
