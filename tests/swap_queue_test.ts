/**
 * `SwapQueue` (core/_swap_queue.ts): tasks run one at a time in arrival
 * order, a failure does not stop the queue, and a caller that stops waiting
 * (abort) does not let the next task overlap the one still running. Tasks
 * are held in flight by gates the test releases; "not started yet" is shown
 * by flushing microtasks.
 *
 * @module
 */

import { deepStrictEqual, rejects, strictEqual } from "node:assert/strict";
import { SwapQueue } from "../core/_swap_queue.ts";
import { flushMicrotasks } from "./_fixtures.ts";

/** A task that logs its start and end, and finishes when its gate is released. */
function gated(log: string[], name: string) {
  const gate = Promise.withResolvers<string>();
  const task = async () => {
    log.push(`start ${name}`);
    try {
      return await gate.promise;
    } finally {
      log.push(`end ${name}`);
    }
  };
  return { gate, task };
}

/** Records the listener of each call to `signal[method]`, then makes the call. */
function spyOn(
  signal: AbortSignal,
  method: "addEventListener" | "removeEventListener",
  into: unknown[],
): void {
  const original = signal[method].bind(signal) as (...args: unknown[]) => void;
  Object.defineProperty(signal, method, {
    value: (...args: unknown[]) => {
      into.push(args[1]);
      original(...args);
    },
  });
}

Deno.test("SwapQueue.run() starts a task only after the one before it settles, in arrival order", async () => {
  const queue = new SwapQueue();
  const log: string[] = [];
  const [a, b, c] = [gated(log, "a"), gated(log, "b"), gated(log, "c")];
  const runs = [queue.run(a.task, undefined), queue.run(b.task, undefined), queue.run(c.task, undefined)];
  await flushMicrotasks();
  deepStrictEqual(log, ["start a"], "b and c wait for a");
  a.gate.resolve("A");
  await flushMicrotasks();
  deepStrictEqual(log, ["start a", "end a", "start b"]);
  b.gate.resolve("B");
  c.gate.resolve("C");
  deepStrictEqual(await Promise.all(runs), ["A", "B", "C"]);
  deepStrictEqual(log, ["start a", "end a", "start b", "end b", "start c", "end c"]);
});

Deno.test("SwapQueue.run() rejects with what the task threw, and the next task still runs", async () => {
  const queue = new SwapQueue();
  const failure = new Error("load failed");
  const failed = queue.run(() => Promise.reject(failure), undefined);
  const next = queue.run(() => Promise.resolve("next"), undefined);
  await rejects(failed, (error) => error === failure);
  strictEqual(await next, "next");
});

Deno.test("SwapQueue.run() turns a task's synchronous throw into a rejection", async () => {
  const queue = new SwapQueue();
  const failure = new TypeError("sync");
  const run = queue.run(() => {
    throw failure;
  }, undefined);
  await rejects(run, (error) => error === failure);
  strictEqual(await queue.run(() => Promise.resolve(1), undefined), 1);
});

Deno.test("SwapQueue.run() rejects with the signal's reason on abort, while the task runs out", async () => {
  const queue = new SwapQueue();
  const log: string[] = [];
  const [a, b] = [gated(log, "a"), gated(log, "b")];
  const controller = new AbortController();
  const first = queue.run(a.task, controller.signal);
  const second = queue.run(b.task, undefined);
  await flushMicrotasks();
  const reason = new Error("caller gave up");
  controller.abort(reason);
  await rejects(first, (error) => error === reason);
  deepStrictEqual(log, ["start a"], "the aborted task still holds the queue");
  a.gate.resolve("A");
  await flushMicrotasks();
  deepStrictEqual(log, ["start a", "end a", "start b"]);
  b.gate.resolve("B");
  strictEqual(await second, "B");
});

Deno.test("SwapQueue.run() with a signal aborted already rejects at once, with its reason", async () => {
  const queue = new SwapQueue();
  const reason = new Error("gave up before asking");
  await rejects(
    queue.run(() => Promise.resolve("ran"), AbortSignal.abort(reason)),
    (error) => error === reason,
  );
  strictEqual(await queue.run(() => Promise.resolve(2), undefined), 2, "the queue goes on");
});

Deno.test("SwapQueue.run() removes its abort listener once the task settles", async () => {
  const queue = new SwapQueue();
  const controller = new AbortController();
  const { signal } = controller;
  const added: unknown[] = [];
  const removed: unknown[] = [];
  spyOn(signal, "addEventListener", added);
  spyOn(signal, "removeEventListener", removed);
  strictEqual(await queue.run(() => Promise.resolve("done"), signal), "done");
  strictEqual(added.length, 1);
  deepStrictEqual(removed, added);
});

Deno.test("SwapQueue.idle() resolves at once when empty, and after every queued task, never rejecting", async () => {
  const queue = new SwapQueue();
  await queue.idle();
  const log: string[] = [];
  const a = gated(log, "a");
  const first = queue.run(a.task, undefined);
  const failing = queue.run(() => Promise.reject(new Error("last fails")), undefined);
  let idle = false;
  const waiting = queue.idle().then(() => idle = true);
  await flushMicrotasks();
  strictEqual(idle, false, "a task is still running");
  a.gate.reject(new Error("first fails"));
  await rejects(first, /first fails/);
  await rejects(failing, /last fails/);
  await waiting;
  strictEqual(idle, true);
});
