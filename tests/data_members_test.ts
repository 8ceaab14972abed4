/**
 * What crosses the worker and process boundary as data (SPEC 5): a handle's
 * data members, copied once at load (built-in data objects such as a `Date`,
 * a `Map`, a `Set` or a typed array arrive as such, not as proxies of their
 * methods; a subclass with methods of its own stays an object whose
 * functions the host calls), and thrown values that are no Error, which
 * cross as text keeping their fields.
 *
 * @module
 */

import { deepStrictEqual, match, ok, strictEqual } from "node:assert/strict";
import { defineContract, HotswapError, registerHotswap } from "../mod.ts";
import { Fixture } from "./_fixtures.ts";

interface Rich {
  created: Date;
  tags: Set<string>;
  index: Map<string, number>;
  bytes: Uint8Array;
  pattern: RegExp;
  counter: { count(): number };
}

const rich = defineContract<Rich>({
  name: "Rich",
  version: "1.0.0",
  symbol: "hs_rich",
  shape: {
    created: "object",
    tags: "object",
    index: "object",
    bytes: "object",
    pattern: "object",
    counter: "object",
  },
});

for (const isolation of ["worker", "process"] as const) {
  Deno.test(`[${isolation}] built-in data members are copied as themselves; a class with methods stays remote`, async () => {
    await using fixture = await Fixture.create();
    const entry = await fixture.write({
      "rich.ts": `class Counter extends Map<string, number> { count() { return 7; } }
export const hs_rich = {
  created: new Date(86_400_000),
  tags: new Set(["a", "b"]),
  index: new Map([["one", 1]]),
  bytes: new Uint8Array([1, 2, 3]),
  pattern: /h(i)+/g,
  counter: new Counter(),
};`,
    });
    await using hot = await registerHotswap(rich, entry, { isolation });
    const copied = await hot.with((h) => ({
      created: h.created,
      tags: h.tags,
      index: h.index,
      bytes: h.bytes,
      pattern: h.pattern,
    }));
    ok(copied.created instanceof Date);
    strictEqual(copied.created.getTime(), 86_400_000);
    deepStrictEqual(copied.tags, new Set(["a", "b"]));
    deepStrictEqual(copied.index, new Map([["one", 1]]));
    deepStrictEqual(copied.bytes, new Uint8Array([1, 2, 3]));
    ok(copied.pattern instanceof RegExp);
    strictEqual(copied.pattern.source, "h(i)+");
    strictEqual(await hot.with((h) => h.counter.count()), 7);
  });
}

interface Thrower {
  fail(kind: string): Promise<never>;
}

const thrower = defineContract<Thrower>({
  name: "Thrower",
  version: "1.0.0",
  symbol: "hs_thrower",
  shape: { fail: "function" },
});

for (const isolation of ["worker", "process"] as const) {
  Deno.test(`[${isolation}] a thrown value that is no Error, and such a cause, cross as the value when JSON carries it, else as text; an error's own properties cross with it`, async () => {
    await using fixture = await Fixture.create();
    const entry = await fixture.write({
      "thrower.ts": `export const hs_thrower = {
  fail(kind: string) {
    if (kind === "object") throw { status: 418, reason: "teapot" };
    if (kind === "custom") {
      class DbError extends Error { override name = "DbError"; code = "E42"; retryable = true; status = 503; }
      throw new DbError("query failed");
    }
    if (kind === "runtime code") throw Object.assign(new Error("looks like the runtime's"), { code: "E_TIMEOUT" });
    if (kind === "string") throw "busy";
    if (kind === "number") throw 42;
    if (kind === "instance") throw new (class Failure { reason = "why" })();
    if (kind === "nested date") throw { at: new Date(0) };
    throw new Error("request failed", { cause: { status: 503, retryAfter: 30 } });
  },
};`,
    });
    await using hot = await registerHotswap(thrower, entry, { isolation });
    // What JSON carries whole crosses as the value, as native code would catch it.
    deepStrictEqual(await hot.with((h) => h.fail("object")).catch((error: unknown) => error), {
      status: 418,
      reason: "teapot",
    });
    strictEqual(await hot.with((h) => h.fail("string")).catch((error: unknown) => error), "busy");
    strictEqual(await hot.with((h) => h.fail("number")).catch((error: unknown) => error), 42);
    const caused = await hot.with((h) => h.fail("cause")).catch((error: Error) => error);
    ok(caused instanceof Error);
    strictEqual(caused.message, "request failed");
    deepStrictEqual(caused.cause, { status: 503, retryAfter: 30 });
    // A class instance JSON would strip of its class crosses as text.
    const instance = await hot.with((h) => h.fail("instance")).catch((error: Error) => error);
    ok(instance instanceof Error);
    strictEqual(instance.message, 'an object was thrown: {"reason":"why"}');
    // So does an object JSON would change inside (a Date becomes a string).
    const dated = await hot.with((h) => h.fail("nested date")).catch((error: Error) => error);
    ok(dated instanceof Error, String(dated));
    match(dated.message, /^an object was thrown: \{"at":"1970-01-01T00:00:00.000Z"\}$/);
    // An error's own properties that are primitives cross with it.
    const custom = await hot.with((h) => h.fail("custom")).catch((error: Error) => error) as
      & Error
      & Record<string, unknown>;
    strictEqual(custom.name, "DbError");
    strictEqual(custom.message, "query failed");
    strictEqual(custom.code, "E42");
    strictEqual(custom.retryable, true);
    strictEqual(custom.status, 503);
    // A generation's error whose code reads like the runtime's stays the generation's error.
    const spoof = await hot.with((h) => h.fail("runtime code")).catch((error: Error) => error) as
      & Error
      & Record<string, unknown>;
    ok(!(spoof instanceof HotswapError), String(spoof));
    strictEqual(spoof.constructor, Error);
    strictEqual(spoof.code, "E_TIMEOUT");
  });
}

const counted = defineContract<{ reads: number; run(): number }>({
  name: "Counted",
  version: "1.0.0",
  symbol: "hs_counted",
  shape: { reads: "number", run: "function" },
});

for (const isolation of ["worker", "process"] as const) {
  Deno.test(`[${isolation}] a getter is read at load (the copy reads it once), and one that throws is left out unless the contract needs it`, async () => {
    await using fixture = await Fixture.create();
    const entry = await fixture.write({
      "counted.ts": `let reads = 0;
class Counted {
  get reads(): number { return ++reads; }
  get broken(): number { throw new Error("getter throws"); }
  run(): number { return reads; }
}
export const hs_counted = new Counted();
`,
    });
    await using hot = await registerHotswap(counted, entry, { isolation });
    // Copied at load: the contract's check read it, then the copy once, and calls read nothing more.
    const copied = hot.with((h) => h.reads);
    strictEqual(await hot.with((h) => h.run()), copied);
    ok(copied <= 2, `read ${copied} times at load`);
    strictEqual(hot.with((h) => (h as unknown as Record<string, unknown>).broken), undefined);
    // A member the contract needs that cannot be read is the generation's failure to initialise.
    const required = await fixture.write({
      "required.ts": `class Broken {
  get reads(): number { throw new Error("getter throws"); }
  run(): number { return 0; }
}
export const hs_counted = new Broken();
`,
    });
    const refused = await hot.swap(required).catch((error: HotswapError) => error);
    ok(refused instanceof HotswapError, String(refused));
    ok(["E_INIT", "E_CONTRACT"].includes(refused.code), refused.message);
    match(refused.message, /getter throws|reading it threw/);
  });
}
