/**
 * Permissioned loading, checked in real subprocesses whose only permission
 * is `--allow-read` of some directories.
 */

import { deepStrictEqual, match, ok, strictEqual } from "node:assert/strict";
import { runSteps, STEPS_HOST } from "./_child.ts";
import { echoModule, Fixture } from "./_fixtures.ts";

/** One line tests/fixtures/host.ts prints: a load or swap, and what then serves. */
interface Step {
  path: string;
  code?: string;
  message?: string;
  generation: number;
  digest?: string;
  result?: unknown;
}

Deno.test("A host with --allow-read of some directories loads and swaps inside them and gets E_PERMISSION outside, never a prompt", async () => {
  await using allowed = await Fixture.create();
  await using other = await Fixture.create();
  const first = await allowed.write({ "gens/one.ts": echoModule("one") });
  const second = await allowed.write({
    "gens/two.ts":
      `import { label } from "./lib/label.ts";\nexport const hs_echo = { label, run: (i: unknown) => [label, i] };`,
    "gens/lib/label.ts": `export const label = "two";`,
  });
  const outside = await other.write({ "gen.ts": echoModule("outside") });
  const { steps, code, stderr } = await runSteps<Step>(STEPS_HOST, [`--allow-read=${allowed.path("gens")}`], [
    first,
    second,
    outside,
  ]);
  strictEqual(code, 0, stderr);
  deepStrictEqual(steps.map((s) => [s.generation, s.code ?? "ok", s.result]), [
    [1, "ok", ["one", 1]],
    [2, "ok", ["two", 1]],
    [2, "E_PERMISSION", ["two", 1]],
  ]);
  match(steps[2]!.message!, new RegExp(`--allow-read=${other.dir}`));
  strictEqual(steps[2]!.digest, steps[1]!.digest, "the previous generation still serves, same digest");
  ok(!/Requires read access|prompt/i.test(stderr), stderr);
});

Deno.test("Inline loading needs no write, net, env or run permission", async () => {
  await using fixture = await Fixture.create();
  const entry = await fixture.write({
    "gen.ts": `import { helper } from "./helper.ts";\nexport const hs_echo = { label: "x", run: helper };`,
    "helper.ts": `export const helper = (i: unknown) => ["x", i];`,
  });
  const { steps, code, stderr } = await runSteps<Step>(STEPS_HOST, [
    `--allow-read=${fixture.dir}`,
    "--deny-write",
    "--deny-net",
    "--deny-env",
    "--deny-run",
  ], [
    entry,
    entry,
  ]);
  strictEqual(code, 0, stderr);
  deepStrictEqual(steps.map((s) => [s.generation, s.code ?? "ok"]), [[1, "ok"], [2, "ok"]]);
});

Deno.test("E_TIMEOUT: a generation stuck in top-level await is reported, and the host goes on", async () => {
  await using fixture = await Fixture.create();
  const good = await fixture.write({ "good.ts": echoModule("good") });
  const stuck = await fixture.write({ "stuck.ts": `await new Promise(() => {});\n${echoModule("stuck")}` });
  const { steps, code, stderr } = await runSteps<Step>(STEPS_HOST, [`--allow-read=${fixture.dir}`], [
    "--load-timeout",
    "100",
    good,
    stuck,
  ]);
  strictEqual(code, 0, stderr);
  strictEqual(steps[1]!.code, "E_TIMEOUT");
  match(steps[1]!.message!, new RegExp(`${stuck}.*loadTimeout \\(100 ms\\).*top-level await`));
  deepStrictEqual([steps[1]!.generation, steps[1]!.digest, steps[1]!.result], [1, steps[0]!.digest, [
    "good",
    1,
  ]]);
});
