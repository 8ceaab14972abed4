/**
 * Every error code that applies to inline mode, each triggered by a real bad
 * generation. Each test checks the code, that the message names the file and
 * says what to do, and that the previous generation still serves with the
 * same number and digest.
 */

import { deepStrictEqual, match, ok, rejects, strictEqual } from "node:assert/strict";
import { ContractError, type Hotswap, HotswapError, type HotswapErrorCode } from "../mod.ts";
import { registerHotswap } from "../mod.ts";
import { describeThrown } from "../core/errors.ts";
import { type Echo, echo, echoModule, Fixture } from "./_fixtures.ts";
import { keyAndList, packEcho } from "./_signing.ts";

/** Swaps to a bad generation and checks the failure and that nothing changed. */
async function expectRefused(
  hot: Hotswap<Echo>,
  path: string,
  code: HotswapErrorCode,
  { names = path, fix }: { names?: string; fix: RegExp },
  options: { integrity?: string } = {},
): Promise<HotswapError> {
  const generation = hot.generation;
  const digest = hot.digest;
  const rejected: unknown[] = [];
  hot.addEventListener("reject", (event) => rejected.push(event.detail.error), { once: true });
  let caught: unknown;
  await rejects(hot.swap(path, options), (error) => {
    caught = error;
    return true;
  });
  ok(caught instanceof HotswapError, `expected a HotswapError, got ${caught}`);
  strictEqual(caught.code, code, caught.message);
  ok(caught.message.includes(names), `message names "${names}": ${caught.message}`);
  match(caught.message, fix);
  strictEqual(caught.activeGeneration, generation);
  strictEqual(hot.generation, generation);
  strictEqual(hot.digest, digest);
  deepStrictEqual(hot.with((h) => h.run(1)), ["good", 1], "the previous generation still serves");
  strictEqual(rejected[0], caught);
  return caught;
}

async function setup(fixture: Fixture, options = {}, name = "good.ts"): Promise<Hotswap<Echo>> {
  return await registerHotswap(echo, await fixture.write({ [name]: echoModule("good") }), options);
}

Deno.test("E_NOT_FOUND: a missing entry file, and a directory given as entry", async () => {
  await using fixture = await Fixture.create();
  await using hot = await setup(fixture);
  await expectRefused(hot, fixture.path("nope.ts"), "E_NOT_FOUND", { fix: /no such file; check the path/ });
  await Deno.mkdir(fixture.path("adir"));
  await expectRefused(hot, fixture.path("adir"), "E_NOT_FOUND", {
    fix: /is a directory, not a module file; name a module file in it/,
  });
});

Deno.test("E_OUTSIDE_ROOTS: a ../ import and a symlink that leave roots", async () => {
  await using fixture = await Fixture.create();
  await using hot = await setup(fixture, { roots: [fixture.path("gens")] }, "gens/good.ts");
  await fixture.write({ "secret.ts": `export const secret = 1;`, "outside.ts": echoModule("outside") });
  const escaping = await fixture.write({
    "gens/escape.ts": `import { secret } from "../secret.ts";\n${echoModule("bad")}export { secret };`,
  });
  const error = await expectRefused(hot, escaping, "E_OUTSIDE_ROOTS", {
    names: fixture.path("secret.ts"),
    fix: /outside the roots .*add its directory to roots/,
  });
  ok(error.message.includes(escaping), "names the importing file too");
  await Deno.symlink(fixture.path("secret.ts"), fixture.path("gens/link.ts"));
  const linking = await fixture.write({ "gens/linking.ts": `import "./link.ts";\n${echoModule("bad")}` });
  await expectRefused(hot, linking, "E_OUTSIDE_ROOTS", {
    names: fixture.path("secret.ts"),
    fix: /is a symlink to/,
  });
  await expectRefused(hot, fixture.path("outside.ts"), "E_OUTSIDE_ROOTS", { fix: /outside the roots/ });
  // A signed artifact linked into a root from outside it is outside too, as a module is.
  const { key } = await keyAndList();
  const artifact = await packEcho(fixture, "linked", key);
  await Deno.symlink(artifact, fixture.path("gens/linked.hsgen"));
  await expectRefused(hot, fixture.path("gens/linked.hsgen"), "E_OUTSIDE_ROOTS", {
    names: artifact,
    fix: /is a symlink to .*outside the roots/,
  });
});

Deno.test("E_INTEGRITY: a pin that does not match the digest", async () => {
  await using fixture = await Fixture.create();
  await using hot = await setup(fixture);
  const next = await fixture.write({ "next.ts": echoModule("next") });
  const wrong = `sha256-${btoa(String.fromCharCode(...new Uint8Array(32)))}`;
  await expectRefused(hot, next, "E_INTEGRITY", { fix: /pin the new digest/ }, { integrity: wrong });
  const bytes = new Uint8Array(await crypto.subtle.digest("SHA-256", await Deno.readFile(next)));
  const pin = `sha256-${btoa(String.fromCharCode(...bytes))}`;
  const { digest } = await hot.swap(next, { integrity: pin });
  strictEqual(digest, pin, "a single-file generation's digest is the SRI hash of its bytes");
});

Deno.test("E_INTEGRITY: registerHotswap() with a pin that does not match loads nothing", async () => {
  await using fixture = await Fixture.create();
  const entry = await fixture.write({ "gen.ts": echoModule("good") });
  await rejects(registerHotswap(echo, entry, { integrity: "sha256-AAAA" }), (error: HotswapError) => {
    strictEqual(error.code, "E_INTEGRITY");
    ok(error.message.includes(entry));
    return true;
  });
});

Deno.test("E_IMPORT: a syntax error, a top-level throw and an unresolved import", async () => {
  await using fixture = await Fixture.create();
  await using hot = await setup(fixture);
  const syntax = await fixture.write({ "syntax.ts": `export const hs_echo = { label: "x", run: ( };` });
  await expectRefused(hot, syntax, "E_IMPORT", { fix: /fix the/ });
  const thrower = await fixture.write({
    "throws.ts": `throw new Error("top-level boom");\n${echoModule("x")}`,
  });
  const error = await expectRefused(hot, thrower, "E_IMPORT", {
    fix: /top-level boom.*fix the error its top-level code throws/,
  });
  ok(error.cause instanceof Error);
  const dep = await fixture.write({
    "dep_throws.ts": `import "./boom_dep.ts";\n${echoModule("x")}`,
    "boom_dep.ts": `throw new Error("dependency boom");`,
  });
  await expectRefused(hot, dep, "E_IMPORT", { names: fixture.path("boom_dep.ts"), fix: /dependency boom/ });
  const unresolved = await fixture.write({
    "unresolved.ts": `import { x } from "./missing_dep.ts";\n${echoModule("x")}`,
  });
  await expectRefused(hot, unresolved, "E_IMPORT", {
    names: fixture.path("missing_dep.ts"),
    fix: /fix the import or add the file/,
  });
});

Deno.test("E_SYMBOL: the handle symbol is missing, and the message lists the exports found", async () => {
  await using fixture = await Fixture.create();
  await using hot = await setup(fixture);
  const path = await fixture.write({
    "nosymbol.ts": `export const hs_ecco = {};\nexport function helper() {}`,
  });
  await expectRefused(hot, path, "E_SYMBOL", {
    fix: /exports found: "helper", "hs_ecco"; export the handle.* as "hs_echo"/,
  });
});

Deno.test("E_CONTRACT: the handle does not match the shape, every problem listed", async () => {
  await using fixture = await Fixture.create();
  await using hot = await setup(fixture);
  const path = await fixture.write({ "shape.ts": `export const hs_echo = { label: 42 };` });
  const error = await expectRefused(hot, path, "E_CONTRACT", { fix: /make the handle match the contract/ });
  ok(error instanceof ContractError);
  deepStrictEqual(error.problems, [
    "label: expected string, got number",
    "run: expected function, got undefined (missing)",
  ]);
});

Deno.test("E_INIT: the factory throws or rejects", async () => {
  await using fixture = await Fixture.create();
  await using hot = await setup(fixture);
  const sync = await fixture.write({
    "init.ts": `export function hs_echo() { throw new Error("no config"); }`,
  });
  await expectRefused(hot, sync, "E_INIT", { fix: /threw Error: no config; fix the factory/ });
  const late = await fixture.write({
    "late.ts":
      `export function hs_echo() { return { then(_: unknown, reject: (e: Error) => void) { setTimeout(() => reject(new Error("late")), 5); } }; }`,
  });
  await expectRefused(hot, late, "E_INIT", { fix: /late/ });
});

Deno.test("E_TIMEOUT: a factory that never settles is abandoned after loadTimeout", async () => {
  await using fixture = await Fixture.create();
  await using hot = await setup(fixture, { loadTimeout: 50 });
  const path = await fixture.write({
    "never.ts": `export function hs_echo() { return new Promise(() => {}); }`,
  });
  await expectRefused(hot, path, "E_TIMEOUT", { fix: /longer than loadTimeout \(50 ms\)/ });
});

Deno.test("E_IMPORT: a bare specifier says how to write a package or a file, at its line, with no colour codes", async () => {
  await using fixture = await Fixture.create();
  await using hot = await setup(fixture);
  const path = await fixture.write({ "bare.ts": `import pad from "left-pad";\nexport const hs_echo = pad;` });
  const error = await expectRefused(hot, path, "E_IMPORT", {
    fix: /not a dependency.* at .*bare\.ts:1:\d+; write a package as npm:<name>@<version> or jsr:/,
  });
  const stack = String((error.cause as Error).stack);
  ok(!stack.includes("\u001b["), stack);
});

Deno.test("E_IMPORT: a JSON import without its type attribute says how to write it, not to fix a throw", async () => {
  await using fixture = await Fixture.create();
  await using hot = await setup(fixture);
  const path = await fixture.write({
    "json.ts":
      'import data from "./data.json";\nexport const hs_echo = { label: data.label, run: (x: unknown) => x };',
    "data.json": '{ "label": "from json" }',
  });
  await expectRefused(hot, path, "E_IMPORT", {
    fix:
      /at .*json\.ts:1:\d+; import a JSON file with its type: import data from "\.\/data\.json" with \{ type: "json" \} \(generation 1 stays active\)$/,
  });
});

Deno.test("E_CONTRACT: a handle branded for a version this host does not accept says to build it against the host's", async () => {
  await using fixture = await Fixture.create();
  await using hot = await setup(fixture);
  const path = await fixture.write({
    "branded.ts": `${
      echoModule("old")
    }(hs_echo as Record<symbol, unknown>)[Symbol.for("@hotswap/runtime/contract")] = { name: "Echo", version: "0.9.0" };\n`,
  });
  await expectRefused(hot, path, "E_CONTRACT", { fix: /build the generation against Echo@1\.0\.0/ });
});

Deno.test("E_IMPORT: a circular import is refused with the cycle named", async () => {
  await using fixture = await Fixture.create();
  await using hot = await setup(fixture);
  const path = await fixture.write({
    "cycle_a.ts": `import "./cycle_b.ts";\n${echoModule("x")}`,
    "cycle_b.ts": `import "./cycle_a.ts";`,
  });
  await expectRefused(hot, path, "E_IMPORT", { fix: /circular import .*cycle_b\.ts.*break the cycle/ });
});

Deno.test("E_CLOSED: with() and swap() after close()", async () => {
  await using fixture = await Fixture.create();
  const hot = await setup(fixture);
  await hot.close();
  try {
    hot.with((h) => h.label);
    throw new Error("with() ran after close()");
  } catch (error) {
    ok(error instanceof HotswapError);
    strictEqual(error.code, "E_CLOSED");
    match(error.message, /closed; register a new one/);
  }
  await rejects(hot.swap(fixture.path("good.ts")), (error: HotswapError) => error.code === "E_CLOSED");
  await rejects(hot.rollback(), (error: HotswapError) => error.code === "E_CLOSED");
});

Deno.test("E_INIT inline: the refusal keeps its own stack, and its cause is the factory's own error object", async () => {
  await using fixture = await Fixture.create();
  await using hot = await setup(fixture);
  const thrown = (globalThis as { hotswapFactoryError?: Error }).hotswapFactoryError = new Error(
    "factory broke",
  );
  try {
    const failing = await fixture.write({
      "failing.ts": "export function hs_echo() { throw (globalThis as any).hotswapFactoryError; }",
    });
    const error = await expectRefused(hot, failing, "E_INIT", { fix: /fix the factory/ });
    strictEqual(error.cause, thrown);
    // The stack is the error's own, from where the runtime raised it, with the note on its first line.
    match(error.stack ?? "", /^HotswapError: Cannot initialise .* \(generation 1 stays active\)\n\s+at /);
    match(error.stack ?? "", /resolveHandle/);
  } finally {
    delete (globalThis as { hotswapFactoryError?: Error }).hotswapFactoryError;
  }
});

Deno.test("E_INIT in a worker: the cause crosses the boundary with its message and stack", async () => {
  await using fixture = await Fixture.create();
  await using hot = await setup(fixture, { isolation: "worker" });
  const failing = await fixture.write({
    "failing.ts": `export function hs_echo() {\n  throw new RangeError("factory broke in the worker");\n}`,
  });
  await rejects(hot.swap(failing), (error) => {
    ok(error instanceof HotswapError);
    strictEqual(error.code, "E_INIT");
    strictEqual(error.activeGeneration, 1);
    ok(error.cause instanceof RangeError, `cause: ${error.cause}`);
    strictEqual(error.cause.message, "factory broke in the worker");
    match(error.cause.stack ?? "", new RegExp(`failing\\.ts:2:`));
    return true;
  });
});

Deno.test("E_INIT inline: a thrown object that is no Error is described by its JSON, fields kept", async () => {
  await using fixture = await Fixture.create();
  const entry = await fixture.write({
    "teapot.ts": 'export function hs_echo() {\n  throw { status: 418, reason: "teapot" };\n}\n',
  });
  await rejects(registerHotswap(echo, entry), (error: HotswapError) => {
    strictEqual(error.code, "E_INIT");
    ok(error.message.includes('threw object {"status":418,"reason":"teapot"}'), error.message);
    return true;
  });
});

Deno.test("describeThrown() of a value JSON would write out exponentially long says it is too large, at once", () => {
  let shared: Record<string, unknown> = { x: 1 };
  for (let i = 0; i < 40; i++) shared = { a: shared, b: shared };
  strictEqual(describeThrown(shared), "object [object Object], too large to print");
  strictEqual(describeThrown({ status: 418 }), 'object {"status":418}');
  const cyclic: unknown[] = [1];
  cyclic.push(cyclic);
  strictEqual(describeThrown(cyclic), "object [object Array]");
  strictEqual(describeThrown({ toString: () => "told" }), "object told");
});
