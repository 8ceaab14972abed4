/**
 * How the graph watcher (`watch.ts`) tells of trouble without a caller to
 * throw to: its problems, and what the caller's callbacks throw, are printed
 * with `console.error`. Thrown out of a timer or an event pump, or handed to
 * `reportError`, they would reach Deno's global error handling, which ends
 * the host process.
 *
 * @module
 */

import { describeThrown } from "./errors.ts";

const PREFIX = "hotswap watch:";

/**
 * Calls one of the caller's callbacks in isolation: what it throws, or a
 * promise it returns that rejects, is printed, never passed on.
 *
 * @param name The callback's option name, for the message.
 */
export function callBack<A>(name: string, callback: ((arg: A) => void) | undefined, arg: A): void {
  if (callback === undefined) return;
  const fail = (error: unknown) => report(`the ${name} callback threw; the watcher carries on:`, error);
  try {
    const result: unknown = callback(arg);
    if (result instanceof Promise) Promise.prototype.then.call(result, undefined, fail);
  } catch (error) {
    fail(error);
  }
}

/** Prints a problem of the watcher; never throws, even for a value that cannot be printed. */
export function report(what: string, error: unknown): void {
  const prefix = what === "" ? PREFIX : `${PREFIX} ${what}`;
  try {
    console.error(prefix, error);
  } catch {
    console.error(prefix, describeThrown(error));
  }
}
