/**
 * The table of requests a host waits on (core/_pending_calls.ts), shared by
 * worker and process isolation: every answer must match a waiting request
 * of the right kind, a call past `callTimeout` is given up oldest first and
 * its late answer dropped, and the generation's end rejects everything.
 *
 * @module
 */

import { deepStrictEqual, ok, rejects, strictEqual, throws } from "node:assert/strict";
import { HotswapError } from "../core/errors.ts";
import { PendingCalls, type RequestKind } from "../core/_pending_calls.ts";
import type { SerializedError } from "../core/_protocol.ts";
import { ProtocolViolation } from "../core/_worker_messages.ts";

const ended = new HotswapError("E_WORKER", "The worker ended");

function noTimeout(): never {
  throw new Error("no call should time out here");
}

/** A request of `kind` opened in `calls`, with the promise its answer settles. */
function open(calls: PendingCalls, kind: RequestKind): { id: number; promise: Promise<unknown> } {
  const request = Promise.withResolvers<unknown>();
  return { id: calls.open(kind, request), promise: request.promise };
}

/** Settles a request's promise into what it rejected with, or "resolved: value". */
function outcome(request: { promise: Promise<unknown> }): Promise<unknown> {
  return request.promise.then((value) => `resolved: ${String(value)}`, (error: unknown) => error);
}

Deno.test("PendingCalls.open() gives each request a fresh id, and take() hands it back once", async () => {
  const calls = new PendingCalls(undefined, noTimeout);
  const requests = [open(calls, "call"), open(calls, "load"), open(calls, "control")];
  strictEqual(new Set(requests.map((request) => request.id)).size, 3);
  strictEqual(calls.size, 3);
  const first = requests[0]!;
  strictEqual(calls.take(first.id, "result", "a result")?.id, first.id);
  strictEqual(calls.size, 2);
  throws(
    () => calls.take(first.id, "result", "a result"),
    (error: Error) =>
      error instanceof ProtocolViolation &&
      error.message === `a result for request ${first.id}, which nobody is waiting for`,
  );
  throws(() => calls.take(0xffffffff, "error", "an error"), ProtocolViolation);
  calls.rejectAll(ended);
  for (const request of requests.slice(1)) strictEqual(await outcome(request), ended);
});

Deno.test("PendingCalls.take() refuses an answer of a kind the request did not ask for", () => {
  const calls = new PendingCalls(undefined, noTimeout);
  const call = open(calls, "call");
  const load = open(calls, "load");
  const control = open(calls, "control");
  throws(() => calls.take(call.id, "loaded", "a loaded reply"), /which asked for something else/);
  throws(() => calls.take(load.id, "result", "a result"), /which asked for something else/);
  strictEqual(calls.size, 3, "a refused answer takes nothing");
  strictEqual(calls.take(load.id, "loaded", "a loaded reply")?.kind, "load");
  strictEqual(calls.take(control.id, "result", "a result")?.kind, "control");
  strictEqual(calls.take(call.id, "error", "an error")?.kind, "call", "an error answers any request");
  strictEqual(calls.size, 0);
});

Deno.test("PendingCalls.resolve() and reject() settle a request, the error rebuilt with its code", async () => {
  const calls = new PendingCalls(undefined, noTimeout);
  const good = open(calls, "call");
  const bad = open(calls, "load");
  calls.resolve(good.id, 42, "a result");
  strictEqual(await good.promise, 42);
  calls.reject(bad.id, {
    name: "HotswapError",
    message: "Cannot do it",
    stack: undefined,
    code: "E_INIT",
    path: "./a.ts",
    problems: undefined,
  });
  const error = await outcome(bad);
  ok(error instanceof HotswapError);
  strictEqual(error.code, "E_INIT");
  strictEqual(error.path, "./a.ts");
});

Deno.test("PendingCalls.reject() takes a runtime code only where the generation's side raises one", async () => {
  // A generation sharing the guest's realm can reach HotswapError and throw one: the code it
  // gives is taken only where the guest's runtime raises that code, and stays a plain
  // property elsewhere, as on any error a generation throws.
  const calls = new PendingCalls(undefined, noTimeout);
  const record = (code: SerializedError["code"], cause?: SerializedError): SerializedError => ({
    name: "HotswapError",
    message: "forged or not",
    stack: undefined,
    code,
    path: undefined,
    problems: undefined,
    cause,
  });
  const cases: [RequestKind, SerializedError["code"], boolean][] = [
    ["call", "E_WORKER", true],
    ["call", "E_CLOSED", false],
    ["call", "E_TIMEOUT", false],
    ["call", "E_CONTRACT", false],
    ["control", "E_WORKER", true],
    ["control", "E_INTEGRITY", false],
    ["load", "E_CONTRACT", true],
    ["load", "E_INIT", true],
    ["load", "E_CLOSED", false],
    ["load", "E_SIGNATURE", false],
  ];
  for (const [kind, code, taken] of cases) {
    const request = open(calls, kind);
    calls.reject(request.id, record(code, record("E_CLOSED")));
    const error = await outcome(request) as Error & { code?: string; cause?: Error & { code?: string } };
    strictEqual(error instanceof HotswapError, taken, `${kind} ${code}`);
    strictEqual(error.code, code, "the code stays readable either way");
    ok(!(error.cause instanceof HotswapError), `${kind}: a cause claiming E_CLOSED is the generation's`);
    strictEqual(error.cause?.code, "E_CLOSED");
  }
});

Deno.test("PendingCalls.reject() leaves the request waiting when the error cannot be rebuilt", async () => {
  const calls = new PendingCalls(undefined, noTimeout);
  const request = open(calls, "call");
  const unreadable = {
    get message(): string {
      throw new Error("unreadable");
    },
  } as unknown as SerializedError;
  throws(() => calls.reject(request.id, unreadable), /an error record the host cannot rebuild/);
  strictEqual(calls.size, 1, "the generation's end rejects it");
  calls.rejectAll(ended);
  strictEqual(await outcome(request), ended);
});

Deno.test("PendingCalls.cancel() forgets a request that could not be sent", () => {
  const calls = new PendingCalls(60_000, noTimeout);
  const call = open(calls, "call");
  const control = open(calls, "control");
  calls.cancel(call.id);
  calls.cancel(control.id);
  strictEqual(calls.size, 0);
  throws(() => calls.take(call.id, "result", "a result"), /nobody is waiting for/);
  // The callTimeout timer outlives the calls; the generation's end clears it (the sanitizer checks).
  calls.rejectAll(ended);
});

Deno.test("PendingCalls times calls out oldest first, then drops their late answers once", async () => {
  const expired: number[] = [];
  const bothExpired = Promise.withResolvers<void>();
  const calls = new PendingCalls(1, (call) => {
    expired.push(call.id);
    call.reject(new HotswapError("E_TIMEOUT", "Too slow"));
    if (expired.length === 2) bothExpired.resolve();
  });
  const first = open(calls, "call");
  const second = open(calls, "call");
  const hook = open(calls, "control");
  // Deterministic: only calls expire, and the timer reports them in the order they started.
  await bothExpired.promise;
  deepStrictEqual(expired, [first.id, second.id]);
  await rejects(first.promise, (error: HotswapError) => error.code === "E_TIMEOUT");
  await rejects(second.promise, (error: HotswapError) => error.code === "E_TIMEOUT");
  strictEqual(calls.size, 1, "the control request has no deadline");
  strictEqual(calls.take(first.id, "result", "a result"), undefined, "a late answer is dropped");
  throws(() => calls.take(first.id, "result", "a result"), /nobody is waiting for/, "but only once");
  calls.resolve(hook.id, "done", "a result");
  strictEqual(await hook.promise, "done");
  calls.rejectAll(ended);
});

Deno.test("PendingCalls: a timeout that ends the generation leaves the other calls to rejectAll()", async () => {
  const expired: number[] = [];
  const calls: PendingCalls = new PendingCalls(1, (call) => {
    expired.push(call.id);
    call.reject(new HotswapError("E_TIMEOUT", "Too slow"));
    // As a process host does: the process is killed for the first call that times out.
    calls.rejectAll(ended);
  });
  const first = open(calls, "call");
  const second = open(calls, "call");
  const firstOutcome = await outcome(first);
  ok(firstOutcome instanceof HotswapError && firstOutcome.code === "E_TIMEOUT");
  strictEqual(await outcome(second), ended);
  deepStrictEqual(expired, [first.id]);
  strictEqual(calls.size, 0);
});

Deno.test("PendingCalls.rejectAll() rejects every request and forgets the late ids", async () => {
  const calls = new PendingCalls(60_000, noTimeout);
  const requests = [open(calls, "load"), open(calls, "call"), open(calls, "control")];
  calls.rejectAll(ended);
  strictEqual(calls.size, 0);
  for (const request of requests) strictEqual(await outcome(request), ended);
  throws(() => calls.take(requests[1]!.id, "result", "a result"), ProtocolViolation);
});
