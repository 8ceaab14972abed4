/** callBack() and report(): what the watcher's callbacks throw is printed, never passed on. */

import { deepStrictEqual, strictEqual } from "node:assert/strict";
import { callBack, report } from "../core/_watch_report.ts";

/** Runs `fn` with `console.error` captured. */
async function printed(fn: () => void | Promise<void>): Promise<unknown[][]> {
  const lines: unknown[][] = [];
  const original = console.error;
  console.error = (...args: unknown[]) => void lines.push(args);
  try {
    await fn();
  } finally {
    console.error = original;
  }
  return lines;
}

Deno.test("callBack() passes the argument, and prints what the callback throws", async () => {
  const error = new Error("boom");
  let seen: number | undefined;
  const lines = await printed(() => {
    callBack("onSwap", (value: number) => void (seen = value), 1);
    callBack("onSwap", () => {
      throw error;
    }, 2);
  });
  strictEqual(seen, 1);
  deepStrictEqual(lines, [["hotswap watch: the onSwap callback threw; the watcher carries on:", error]]);
});

Deno.test("callBack() prints a promise the callback returns that rejects", async () => {
  const error = new Error("later");
  const rejected = Promise.withResolvers<void>();
  const lines = await printed(async () => {
    callBack("onError", () => rejected.promise, undefined);
    rejected.reject(error);
    await rejected.promise.catch(() => {});
    // The handler runs a turn after the rejection: let it.
    await Promise.resolve();
  });
  deepStrictEqual(lines, [["hotswap watch: the onError callback threw; the watcher carries on:", error]]);
});

Deno.test("callBack() does nothing without a callback", async () => {
  deepStrictEqual(await printed(() => callBack("onChange", undefined, 1)), []);
});

Deno.test("report() prefixes the watcher's name", async () => {
  deepStrictEqual(await printed(() => report("", "plain")), [["hotswap watch:", "plain"]]);
  deepStrictEqual(await printed(() => report("closing failed:", "why")), [[
    "hotswap watch: closing failed:",
    "why",
  ]]);
});
