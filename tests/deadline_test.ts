/**
 * `within()` (core/deadline.ts): the outcome of a promise bounded by a
 * deadline, which never rejects and leaves no timer behind (the op sanitizer
 * fails a test whose timer outlives it) and no unhandled rejection (Deno
 * fails a test on one).
 *
 * @module
 */

import { deepStrictEqual, strictEqual } from "node:assert/strict";
import { within } from "../core/deadline.ts";
import { macrotask } from "./_fixtures.ts";

Deno.test("within() reports a fulfilled promise with its value, and clears its timer", async () => {
  const value = { answer: 42 };
  const outcome = await within(Promise.resolve(value), 60_000);
  strictEqual(outcome.status, "fulfilled");
  strictEqual(outcome.status === "fulfilled" && outcome.value, value);
});

Deno.test("within() reports a rejection with its reason instead of rejecting, and clears its timer", async () => {
  const reason = new Error("refused");
  const outcome = await within(Promise.reject(reason), 60_000);
  strictEqual(outcome.status, "rejected");
  strictEqual(outcome.status === "rejected" && outcome.reason, reason);
});

Deno.test("within() reports a non-Error rejection reason unchanged", async () => {
  const outcome = await within(Promise.reject(undefined), 60_000);
  deepStrictEqual(outcome, { status: "rejected", reason: undefined });
});

Deno.test("within() reports timeout for a promise that does not settle by the deadline", async () => {
  const never = Promise.withResolvers<string>();
  const outcome = await within(never.promise, 1);
  deepStrictEqual(outcome, { status: "timeout" });
});

Deno.test("within() observes a rejection that arrives after the deadline", async () => {
  const late = Promise.withResolvers<never>();
  deepStrictEqual(await within(late.promise, 1), { status: "timeout" });
  late.reject(new Error("too late"));
  // One event-loop turn: an unobserved rejection would now be reported and fail this test.
  await macrotask();
});

Deno.test("within() with a zero deadline still reports a promise that is already settled", async () => {
  // The settled promise resolves in a microtask, before the timer's macrotask can run.
  deepStrictEqual(await within(Promise.resolve("now"), 0), { status: "fulfilled", value: "now" });
});

Deno.test("within() reports the promise's outcome when it settles after a microtask hop", async () => {
  const gate = Promise.withResolvers<number>();
  const outcome = within(gate.promise.then((n) => n * 2), 60_000);
  gate.resolve(21);
  deepStrictEqual(await outcome, { status: "fulfilled", value: 42 });
});
