import { deepStrictEqual, match, ok, rejects, strictEqual, throws } from "node:assert/strict";
import {
  defineContract,
  Hotswap,
  type HotswapError,
  registerHotswap,
  type RetireReport,
  watchGraph,
} from "../mod.ts";
import { echo, echoModule, Fixture, flushMicrotasks } from "./_fixtures.ts";

/** A generation whose `run` blocks on a gate the test holds, to keep calls in flight. */
const GATED = (label: string) =>
  `export const gates: Array<() => void> = [];
export const hs_echo = {
  label: ${JSON.stringify(label)},
  run: (input: unknown) => new Promise((resolve) => gates.push(() => resolve([${
    JSON.stringify(label)
  }, input]))),
};
(globalThis as Record<string, unknown>).__gates_${label} = gates;`;

function gates(label: string): Array<() => void> {
  return (globalThis as unknown as Record<string, Array<() => void>>)[`__gates_${label}`]!;
}

Deno.test("Hotswap.with() keeps a synchronous result synchronous", async () => {
  await using fixture = await Fixture.create();
  await using hot = await registerHotswap(echo, await fixture.write({ "gen.ts": echoModule("v1") }));
  const result = hot.with((handle) => handle.run(7));
  ok(!(result instanceof Promise));
  deepStrictEqual(result, ["v1", 7]);
  strictEqual(hot.stats().generations[0]!.inflight, 0);
});

Deno.test("Hotswap.with() releases the call when fn throws or its promise rejects", async () => {
  await using fixture = await Fixture.create();
  await using hot = await registerHotswap(echo, await fixture.write({ "gen.ts": echoModule("v1") }));
  throws(() =>
    hot.with(() => {
      throw new Error("sync");
    }), /sync/);
  await rejects(hot.with(() => Promise.reject(new Error("async"))), /async/);
  strictEqual(hot.stats().generations[0]!.inflight, 0);
  strictEqual(hot.stats().calls, 2);
});

Deno.test("Hotswap.swap() lets a call in flight finish on the old handle while new calls get the new one", async () => {
  await using fixture = await Fixture.create();
  const entry = await fixture.write({ "gen.ts": GATED("old1") });
  await using hot = await registerHotswap(echo, entry);
  const inFlight = hot.with((handle) => handle.run("a"));
  await fixture.write({ "gen.ts": echoModule("new1") });
  const { generation, retired } = await hot.swap(entry);
  strictEqual(generation, 2);
  deepStrictEqual(hot.with((handle) => handle.run("b")), ["new1", "b"]);

  let retiredYet = false;
  retired.then(() => retiredYet = true);
  await flushMicrotasks();
  strictEqual(retiredYet, false, "retired must wait for the old call");
  deepStrictEqual(hot.stats().generations.map((g) => [g.generation, g.state, g.inflight]), [
    [1, "draining", 1],
    [2, "active", 0],
  ]);

  gates("old1")[0]!();
  deepStrictEqual(await inFlight, ["old1", "a"]);
  const report = await retired;
  strictEqual(report.generation, 1);
  strictEqual(report.drained, true);
});

Deno.test("Hotswap retired resolves with drained false after drainTimeout when a call never finishes", async () => {
  await using fixture = await Fixture.create();
  const entry = await fixture.write({ "gen.ts": GATED("stuck1") });
  await using hot = await registerHotswap(echo, entry, { drainTimeout: 50 });
  const timeouts: unknown[] = [];
  hot.addEventListener("drain-timeout", (event) => timeouts.push(event.detail));
  const never = hot.with((handle) => handle.run("x"));
  await fixture.write({ "gen.ts": echoModule("v2") });
  const { retired } = await hot.swap(entry);
  const report = await retired;
  strictEqual(report.drained, false);
  ok(report.waitedMs >= 45, `waited ${report.waitedMs} ms`);
  deepStrictEqual(timeouts, [{ generation: 1, inflight: 1, drainTimeout: 50 }]);
  gates("stuck1")[0]!(); // let the abandoned call settle so the test leaves nothing pending
  await never;
});

Deno.test("Hotswap.swap() fired five times without awaiting commits in order, one generation number each", async () => {
  await using fixture = await Fixture.create();
  const entries: string[] = [];
  for (let i = 2; i <= 6; i++) entries.push(await fixture.write({ [`gen${i}.ts`]: echoModule(`v${i}`) }));
  await using hot = await registerHotswap(echo, await fixture.write({ "gen1.ts": echoModule("v1") }));
  const order: number[] = [];
  hot.addEventListener("swap", (event) => order.push(event.detail.to));
  const results = await Promise.all(entries.map((entry) => hot.swap(entry)));
  deepStrictEqual(results.map((r) => r.generation), [2, 3, 4, 5, 6]);
  deepStrictEqual(order, [2, 3, 4, 5, 6]);
  deepStrictEqual(hot.with((handle) => handle.run(0)), ["v6", 0]);
  deepStrictEqual(hot.history.map((h) => [h.generation, h.path]), [
    [1, fixture.path("gen1.ts")],
    ...entries.map((e, i) => [i + 2, e]),
  ]);
  await Promise.all(results.map((r) => r.retired));
});

Deno.test("handoff() state reaches the next factory and dispose() runs after the drain", async () => {
  await using fixture = await Fixture.create();
  const log: string[] = [];
  // The slow call waits on this gate, opened once generation b serves: the order is fixed, not timed.
  const gate = Promise.withResolvers<void>();
  Object.assign(globalThis, { __handoffLog: log, __handoffGate: gate.promise });
  const source = (label: string) =>
    `const log = (globalThis as any).__handoffLog as string[];
const gate = (globalThis as any).__handoffGate as Promise<void>;
let count = 0;
export function hs_echo(ctx: { generation: number; previous: unknown }) {
  count = typeof ctx.previous === "number" ? ctx.previous : 0;
  log.push("factory ${label} gen " + ctx.generation + " previous " + String(ctx.previous));
  return { label: "${label}", run: (input: unknown) => {
    count++;
    return input === "slow" ? gate.then(() => { log.push("slow call done ${label}"); return count; }) : count;
  } };
}
export function handoff() { log.push("handoff ${label}"); return count; }
export async function dispose() { log.push("dispose ${label}"); }`;
  const entry = await fixture.write({ "gen.ts": source("a") });
  await using hot = await registerHotswap(echo, entry);
  hot.with((h) => h.run(1));
  hot.with((h) => h.run(1));
  const slow = hot.with((h) => h.run("slow"));
  await fixture.write({ "gen.ts": source("b") });
  const { retired } = await hot.swap(entry);
  strictEqual(hot.with((h) => h.run(1)), 4);
  gate.resolve();
  await retired;
  strictEqual(await slow, 3);
  deepStrictEqual(log, [
    "factory a gen 1 previous undefined",
    "handoff a",
    "factory b gen 2 previous 3",
    "slow call done a",
    "dispose a",
  ]);
  delete (globalThis as Record<string, unknown>).__handoffLog;
  delete (globalThis as Record<string, unknown>).__handoffGate;
});

Deno.test("Hotswap.swap() of the same entry runs an edited dependency (the module cache is bypassed)", async () => {
  await using fixture = await Fixture.create();
  const entry = await fixture.write({
    "Handles.ts":
      `import { myFunction } from "./MyCode.ts";\nexport const hs_echo = { label: "h", run: myFunction };`,
    "MyCode.ts": `export function myFunction(i: number) { return "Adding to 10: " + (10 + i); }`,
  });
  await using hot = await registerHotswap(echo, entry);
  strictEqual(hot.with((h) => h.run(7)), "Adding to 10: 17");
  const before = hot.digest;
  await fixture.write({
    "MyCode.ts": `export function myFunction(i: number) { return "Adding to 20: " + (20 + i); }`,
  });
  const { digest } = await hot.swap(entry);
  strictEqual(hot.with((h) => h.run(7)), "Adding to 20: 27");
  ok(digest !== before, "an edit of a dependency changes the digest");
});

Deno.test("A loaded generation is not changed by later edits on disk", async () => {
  await using fixture = await Fixture.create();
  const entry = await fixture.write({
    "Handles.ts":
      `export const hs_echo = { label: "h", run: () => import("./lazy.ts").then((m) => m.value) };`,
    "lazy.ts": `export const value = "as loaded";`,
  });
  await using hot = await registerHotswap(echo, entry);
  await fixture.write({ "lazy.ts": `export const value = "edited later";` });
  strictEqual(await hot.with((h) => h.run(0)), "as loaded");
});

Deno.test("Hotswap.rollback() recommits the previous snapshot from memory as the next generation", async () => {
  await using fixture = await Fixture.create();
  const first = await fixture.write({ "a.ts": echoModule("A") });
  const second = await fixture.write({ "b.ts": echoModule("B") });
  await using hot = await registerHotswap(echo, first);
  const digestA = hot.digest;
  let rejectEvents = 0;
  hot.addEventListener("reject", () => rejectEvents++);
  await rejects(hot.rollback(), (error: HotswapError) => error.code === "E_NOT_FOUND");
  strictEqual(hot.generation, 1);
  // Nothing to go back to changes nothing: no generation was refused.
  strictEqual(hot.stats().rejects, 0);
  strictEqual(rejectEvents, 0);
  await hot.swap(second);
  await Deno.remove(first); // rollback must not re-read the file
  const result = await hot.rollback();
  strictEqual(result.generation, 3);
  strictEqual(result.digest, digestA);
  strictEqual(hot.digest, digestA);
  deepStrictEqual(hot.with((h) => h.run(1)), ["A", 1]);
  strictEqual(hot.info().via, "rollback");
  strictEqual(hot.stats().rollbacks, 1);
  await rejects(hot.rollback(), (error: HotswapError) => error.code === "E_NOT_FOUND");
  strictEqual(hot.generation, 3);
});

Deno.test("Hotswap.rollback({ handoff: false }) steps back from a generation whose handoff() throws", async () => {
  await using fixture = await Fixture.create();
  const good = await fixture.write({ "good.ts": echoModule("good") });
  const bad = await fixture.write({
    "bad.ts": `${echoModule("bad")}\nexport function handoff() { throw new Error("handoff boom"); }`,
  });
  await using hot = await registerHotswap(echo, good);
  await hot.swap(bad);
  await rejects(hot.rollback(), (error: HotswapError) => {
    strictEqual(error.code, "E_INIT");
    match(
      error.message,
      /handoff\(\) of .*bad\.ts" threw Error: handoff boom; .*roll back with \{ handoff: false \}/,
    );
    return true;
  });
  strictEqual(hot.generation, 2);
  const { generation } = await hot.rollback({ handoff: false });
  strictEqual(generation, 3);
  deepStrictEqual(hot.with((h) => h.run(1)), ["good", 1]);
});

Deno.test("A failed load's cause names files in its frames, also for a module Deno imports from a blob: URL", async () => {
  await using fixture = await Fixture.create();
  const first = await fixture.write({ "good.ts": echoModule("good") });
  await using hot = await registerHotswap(echo, first);
  // An enum member computed from another is compiled by Deno: the module goes through Deno's own import, from a blob: URL.
  const cases = {
    "top.ts": `enum Level { Low = 1 << 0 }\nthrow new Error("top-level " + Level.Low);\n${echoModule("x")}`,
    "factory.ts":
      `enum Level { Low = 1 << 0 }\nexport function hs_echo() {\n  throw new Error("factory " + Level.Low);\n}`,
  };
  for (const [name, source] of Object.entries(cases)) {
    const path = await fixture.write({ [name]: source });
    const refusal = await hot.swap(path).then(() => undefined, (error: HotswapError) => error);
    const stack = String((refusal?.cause as Error | undefined)?.stack);
    ok(stack.includes(`${path}:${name === "top.ts" ? 2 : 3}:`), stack);
    ok(!stack.includes("blob:"), stack);
  }
});

Deno.test("Hotswap.close() drains, disposes, then refuses with() and swap() with E_CLOSED", async () => {
  await using fixture = await Fixture.create();
  const entry = await fixture.write({ "gen.ts": GATED("closing1") });
  const hot = await registerHotswap(echo, entry);
  const retires: RetireReport[] = [];
  hot.addEventListener("retire", (event) => retires.push(event.detail));
  const inFlight = hot.with((h) => h.run(1));
  const closed = hot.close();
  throws(() => hot.with((h) => h.run(2)), (error: HotswapError) => error.code === "E_CLOSED");
  await rejects(hot.swap(entry), (error: HotswapError) => error.code === "E_CLOSED");
  await flushMicrotasks();
  strictEqual(retires.length, 0, "close waits for the call in flight");
  gates("closing1")[0]!();
  await inFlight;
  await closed;
  strictEqual(retires[0]!.drained, true);
  strictEqual(hot.close(), closed, "close() is idempotent");
});

Deno.test("await using closes the reference", async () => {
  await using fixture = await Fixture.create();
  const entry = await fixture.write({ "gen.ts": echoModule("v1") });
  let escaped;
  {
    await using hot = await registerHotswap(echo, entry);
    escaped = hot;
  }
  strictEqual(escaped.closed, true);
  throws(() => escaped.with((h) => h.label), (error: HotswapError) => error.code === "E_CLOSED");
});

Deno.test("Hotswap.stats() and events count calls, swaps and rejects", async () => {
  await using fixture = await Fixture.create();
  const entry = await fixture.write({ "gen.ts": echoModule("v1") });
  await using hot = await registerHotswap(echo, entry);
  const seen: string[] = [];
  for (const type of ["swap", "retire", "reject"] as const) hot.addEventListener(type, () => seen.push(type));
  hot.with((h) => h.run(1));
  const { retired } = await hot.swap(entry);
  await retired;
  await rejects(hot.swap(fixture.path("missing.ts")));
  hot.with((h) => h.run(1));
  const stats = hot.stats();
  strictEqual(stats.calls, 2);
  strictEqual(stats.swaps, 1);
  strictEqual(stats.rejects, 1);
  deepStrictEqual(seen, ["swap", "retire", "reject"]);
});

Deno.test("a reject event names the refused entry; the error's path names the file at fault", async () => {
  await using fixture = await Fixture.create();
  const running = await fixture.write({
    "running.ts": echoModule("v1", 'export function handoff() { throw new Error("no"); }'),
  });
  const next = await fixture.write({ "next.ts": echoModule("v2") });
  const broken = await fixture.write({
    "broken.ts": `import "./dep.ts";\n${echoModule("v3")}`,
    "dep.ts": "export const = ;",
  });
  const hot = await registerHotswap(echo, running);
  const announced: { path: string; at: string | undefined }[] = [];
  hot.addEventListener(
    "reject",
    (event) => announced.push({ path: event.detail.path, at: event.detail.error.path }),
  );
  // The outgoing generation's handoff() throws: its file is at fault, the swap to next.ts is refused.
  await rejects(hot.swap(next), (error: HotswapError) => error.code === "E_INIT");
  // A dependency does not parse: dep.ts is at fault, broken.ts refused.
  await rejects(hot.swap(broken, { handoff: false }), (error: HotswapError) => error.code === "E_IMPORT");
  deepStrictEqual(announced, [{ path: next, at: running }, { path: broken, at: fixture.path("dep.ts") }]);
  await hot.close();
  // After close, the refusal still names the entry it was asked to load.
  await rejects(hot.swap(next), (error: HotswapError) => error.code === "E_CLOSED" && error.path === next);
});

Deno.test("Hotswap.swap() rejects a malformed call with a TypeError, before the queue: no generation is refused", async () => {
  await using fixture = await Fixture.create();
  const entry = await fixture.write({ "gen.ts": echoModule("v1") });
  await using hot = await registerHotswap(echo, entry);
  let rejectEvents = 0;
  hot.addEventListener("reject", () => rejectEvents++);
  const calls: [string, () => Promise<unknown>][] = [
    ["a remote URL", () => hot.swap(new URL("https://example.com/gen.ts"))],
    ["an empty path", () => hot.swap("")],
    ["a pin that is not a string", () => hot.swap(entry, { integrity: 123 as unknown as string })],
  ];
  for (const [what, call] of calls) {
    await rejects(
      call(),
      (error: Error) => error instanceof TypeError && /Cannot (load|check integrity)/.test(error.message),
      what,
    );
  }
  strictEqual(hot.stats().rejects, 0);
  strictEqual(rejectEvents, 0);
  strictEqual(hot.generation, 1);
  await rejects(
    registerHotswap(echo, entry, { integrity: 1 as unknown as string }),
    (error: Error) => error instanceof TypeError && /must be a "sha256-<base64>" string/.test(error.message),
  );
  // A string no digest can equal is a mismatch, which says what a pin looks like.
  await rejects(hot.swap(entry, { integrity: "sha512-xyz" }), (error: HotswapError) => {
    strictEqual(error.code, "E_INTEGRITY");
    match(error.message, /no SHA-256 digest in SRI form.*hot\.digest/);
    return true;
  });
});

Deno.test("Hotswap.swap() refuses a mistyped option or a signal that is no AbortSignal, before the queue", async () => {
  await using fixture = await Fixture.create();
  const entry = await fixture.write({ "gen.ts": echoModule("v1") });
  await using hot = await registerHotswap(echo, entry);
  const calls: [unknown, RegExp][] = [
    [{ integirty: hot.digest }, /unknown option "integirty" \(did you mean "integrity"\?\)/],
    [{ signal: null }, /signal must be an AbortSignal .*got null/],
    [{ signal: "x" }, /signal must be an AbortSignal .*got string/],
    [{ signal: {} }, /signal must be an AbortSignal .*got object/],
    [{ handoff: "no" }, /handoff must be true or false, got "no"/],
    [{ rollback: 1 }, /rollback must be true or false, got 1/],
    [null, /the options must be an object, got null/],
  ];
  for (const [options, message] of calls) {
    // Before the fix, a bad signal threw inside the queue: an unhandled rejection ended the host.
    await rejects(hot.swap(entry, options as never), (error: Error) => {
      ok(error instanceof TypeError, String(error));
      match(error.message, message);
      return true;
    });
  }
  strictEqual(hot.generation, 1);
  strictEqual(hot.stats().rejects, 0);
  // The same for the other calls that take options; an option set to undefined asks for nothing.
  await rejects(
    hot.rollback({ hanoff: false } as never),
    /Cannot roll back: unknown option "hanoff" \(did you mean "handoff"\?\)/,
  );
  await rejects(hot.swapOnSignal("SIGUSR2", entry, { onswap: () => {} } as never), /unknown option "onswap"/);
  throws(
    () => watchGraph(hot, { debounse: 50 } as never),
    /Cannot watch: unknown option "debounse" \(did you mean "debounce"\?\)/,
  );
  strictEqual((await hot.swap(entry, { signal: undefined, note: undefined } as never)).generation, 2);
});

Deno.test("registerHotswap() refuses a mistyped option, a malformed number and a contract not from defineContract", async () => {
  await using fixture = await Fixture.create();
  const entry = await fixture.write({ "gen.ts": echoModule("v1") });
  const refused: [unknown, new (...args: never[]) => Error, RegExp][] = [
    // Ignored, each would fail open: no signature check, the host's isolate, no pin.
    [{ trsut: "trust.json" }, TypeError, /unknown option "trsut" \(did you mean "trust"\?\)/],
    [{ isolaton: "process" }, TypeError, /unknown option "isolaton" \(did you mean "isolation"\?\)/],
    [{ integirty: "sha256-x" }, TypeError, /did you mean "integrity"/],
    [{ nonsense: 1 }, TypeError, /unknown option "nonsense"; the options are roots, isolation/],
    [{ rollbackDepth: "3" }, TypeError, /rollbackDepth must be a number, got the string "3"/],
    [{ rollbackDepth: 1.5 }, RangeError, /rollbackDepth .*a whole number, got 1.5/],
    [{ loadTimeout: -1 }, RangeError, /loadTimeout must be a finite number of at least 0, got -1/],
    // Longer than a timer can wait: it would fire after 1 ms, ending the calls it should wait for.
    [{ drainTimeout: 2 ** 31 }, RangeError, /drainTimeout must be at most 2147483647 ms .*got 2147483648/],
    [{ loadTimeout: 2 ** 31 }, RangeError, /loadTimeout must be at most 2147483647 ms/],
  ];
  for (const [options, kind, message] of refused) {
    await rejects(registerHotswap(echo, entry, options as never), (error: Error) => {
      ok(error instanceof kind, `${JSON.stringify(options)}: ${error}`);
      match(error.message, message);
      return true;
    });
  }
  await rejects(
    registerHotswap({ name: "Echo", symbol: "hs_echo" } as never, entry),
    /Cannot register: the first argument must be a contract made by defineContract/,
  );
  await rejects(registerHotswap(undefined as never, entry), /got undefined/);
});

Deno.test("A handle factory may be async and receives generation, digest and an abort signal", async () => {
  await using fixture = await Fixture.create();
  const contract = defineContract<{ info: string; aborted(): boolean }>({
    name: "Ctx",
    version: "1.0.0",
    symbol: "hs_ctx",
    shape: { info: "string", aborted: "function" },
  });
  const entry = await fixture.write({
    "gen.ts":
      `export async function hs_ctx(ctx: { generation: number; digest: string; signal: AbortSignal }) {
      await Promise.resolve();
      return { info: ctx.generation + " " + ctx.digest, aborted: () => ctx.signal.aborted };
    }`,
  });
  await using hot = await registerHotswap(contract, entry);
  strictEqual(hot.with((h) => h.info), `1 ${hot.digest}`);
  const first = hot.with((h) => h);
  const { retired } = await hot.swap(entry);
  await retired;
  strictEqual(first.aborted(), true, "the retired generation's signal is aborted");
  strictEqual(hot.with((h) => h.aborted()), false);
});

Deno.test("Hotswap cannot be constructed directly, from JavaScript either: registerHotswap() is the way in", () => {
  // @ts-expect-error the constructor is private
  throws(() => new Hotswap(Symbol("openHotswap"), {}), TypeError);
  throws(() => Reflect.construct(Hotswap, []), TypeError);
});

Deno.test("Hotswap.removeEventListener() of a listener never added, or of null, changes nothing", async () => {
  await using fixture = await Fixture.create();
  const entry = await fixture.write({ "gen.ts": echoModule("v1") });
  await using hot = await registerHotswap(echo, entry);
  const seen: number[] = [];
  const onSwap = (event: CustomEvent<{ to: number }>) => seen.push(event.detail.to);
  hot.addEventListener("swap", onSwap);
  hot.removeEventListener("swap", () => {});
  hot.removeEventListener("swap", null);
  hot.addEventListener("swap", null);
  await hot.swap(entry);
  deepStrictEqual(seen, [2]);
});
