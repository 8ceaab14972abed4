/**
 * Shape checks (core/_shape_check.ts): every mismatch listed, nested members
 * named by their path, a missing member told from one set to `undefined`,
 * and nothing a hostile handle does (throwing getters, revoked Proxies,
 * throwing traps) escaping as an exception.
 *
 * @module
 */

import { deepStrictEqual, match, strictEqual } from "node:assert/strict";
import { checkMembers, describeValue } from "../core/_shape_check.ts";
import type { ShapeDefinition } from "../core/_shape.ts";

/** The problems of `value` against `shape`, from the top. */
function problemsOf(value: object, shape: ShapeDefinition): string[] {
  const problems: string[] = [];
  checkMembers(value as Record<PropertyKey, unknown>, shape, "", problems);
  return problems;
}

const SHAPE: ShapeDefinition = {
  name: "string",
  port: "number",
  run: "function",
  tags: "array",
  extra: "unknown",
  limits: { rps: "number", burst: "number?" },
};

Deno.test("checkMembers() finds nothing wrong with a value of the right shape", () => {
  const value = { name: "a", port: 1, run: () => {}, tags: [], limits: { rps: 5 }, unlisted: null };
  deepStrictEqual(problemsOf(value, SHAPE), []);
});

Deno.test("checkMembers() lists every mismatch in shape order, not just the first", () => {
  const value = { name: 1, port: "80", run: {}, tags: {}, limits: { rps: null, burst: "x" } };
  deepStrictEqual(problemsOf(value, SHAPE), [
    "name: expected string, got number",
    "port: expected number, got string",
    "run: expected function, got object",
    "tags: expected array, got object",
    "limits.rps: expected number, got null",
    "limits.burst: expected number, got string",
  ]);
});

Deno.test("checkMembers() tells a missing member from one set to undefined", () => {
  deepStrictEqual(problemsOf({ name: undefined }, { name: "string", port: "number" }), [
    "name: expected string, got undefined",
    "port: expected number, got undefined (missing)",
  ]);
});

Deno.test("checkMembers() lets an optional member be missing or undefined, but not null", () => {
  const shape: ShapeDefinition = { label: "string?" };
  deepStrictEqual(problemsOf({}, shape), []);
  deepStrictEqual(problemsOf({ label: undefined }, shape), []);
  deepStrictEqual(problemsOf({ label: null }, shape), ["label: expected string, got null"]);
});

Deno.test("checkMembers() wants a nested shape's member to be an object: not an array, null, function, or missing", () => {
  const shape: ShapeDefinition = {
    a: { x: "number" },
    b: { x: "number" },
    c: { x: "number" },
    d: { x: "number" },
  };
  deepStrictEqual(problemsOf({ a: [1], b: null, d: () => {} }, shape), [
    "a: expected object, got array",
    "b: expected object, got null",
    "c: expected object, got undefined (missing)",
    "d: expected object, got function",
  ]);
});

Deno.test("checkMembers() names members below the prefix, and appends to the problems given", () => {
  const problems = ["kept"];
  checkMembers({ inner: { deep: 1 } }, { inner: { deep: "string" } }, "handle", problems);
  deepStrictEqual(problems, ["kept", "handle.inner.deep: expected string, got number"]);
});

Deno.test("checkMembers() reports a getter that throws, and goes on with the other members", () => {
  const value = {
    get name(): string {
      throw new Error("getter exploded");
    },
    port: "x",
  };
  deepStrictEqual(problemsOf(value, { name: "string", port: "number" }), [
    "name: reading it threw Error: getter exploded",
    "port: expected number, got string",
  ]);
});

Deno.test("checkMembers() reports a revoked Proxy member, and goes on with the other members", () => {
  const { proxy, revoke } = Proxy.revocable({}, {});
  revoke();
  const problems = problemsOf({ limits: proxy, port: 1 }, { limits: { rps: "number" }, port: "string" });
  strictEqual(problems.length, 2);
  match(problems[0]!, /^limits: inspecting it threw TypeError: /);
  strictEqual(problems[1], "port: expected string, got number");
});

Deno.test("checkMembers() says plain undefined when a Proxy's has trap throws", () => {
  const value = new Proxy({}, {
    get: () => undefined,
    has: () => {
      throw new Error("has trap");
    },
  });
  deepStrictEqual(problemsOf(value, { name: "string" }), ["name: expected string, got undefined"]);
});

Deno.test("checkMembers() accepts anything, missing included, for an unknown member", () => {
  deepStrictEqual(problemsOf({ a: null, b: undefined }, { a: "unknown", b: "unknown", c: "unknown" }), []);
});

Deno.test("describeValue() puts null and arrays apart from object", () => {
  deepStrictEqual(
    [null, [], {}, () => {}, 1n, undefined, "s", 1, true, Symbol("s")].map(describeValue),
    ["null", "array", "object", "function", "bigint", "undefined", "string", "number", "boolean", "symbol"],
  );
});
