/**
 * How the graph watcher (`watch.ts`) and swaps on a signal
 * (`signal_swap.ts`) tell of trouble without a caller to throw to: their
 * problems, and what the caller's callbacks throw, are printed
 * with `console.error`. Thrown out of a timer or an event pump, or handed to
 * `reportError`, they would reach Deno's global error handling, which ends
 * the host process.
 *
 * @module
 */

import { describeThrown } from "./errors.ts";

const PREFIX = "hotswap watch:";

/** Who calls a callback, as its messages say. */
export interface Caller {
  /** Starts each message. */
  readonly prefix: string;
  /** What goes on after a callback threw. */
  readonly carriesOn: string;
}

const WATCHER: Caller = { prefix: PREFIX, carriesOn: "the watcher carries on" };

/**
 * Calls one of the caller's callbacks in isolation: what it throws, or a
 * promise it returns that rejects, is printed, never passed on.
 *
 * @param name The callback's option name, for the message.
 * @param caller Who calls it: the graph watcher unless given.
 */
export function callBack<A>(
  name: string,
  callback: ((arg: A) => void) | undefined,
  arg: A,
  caller: Caller = WATCHER,
): void {
  if (callback === undefined) return;
  const fail = (error: unknown) => {
    const what = `the ${name} callback threw; ${caller.carriesOn}:`;
    if (caller === WATCHER) report(what, error);
    else print(`${caller.prefix} ${what}`, error);
  };
  try {
    const result: unknown = callback(arg);
    if (result instanceof Promise) Promise.prototype.then.call(result, undefined, fail);
  } catch (error) {
    fail(error);
  }
}

/** Prints a problem of the watcher; never throws, even for a value that cannot be printed. */
export function report(what: string, error: unknown): void {
  print(what === "" ? PREFIX : `${PREFIX} ${what}`, error);
}

function print(prefix: string, error: unknown): void {
  try {
    console.error(prefix, error);
  } catch {
    console.error(prefix, describeThrown(error));
  }
}
