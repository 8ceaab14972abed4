/**
 * Command-line plumbing shared by demo/main.ts and demo/server.ts: flag
 * values, stdin lines, pauses, and a reload that coalesces bursts.
 *
 * @module
 */

import { parseArgs } from "node:util";
import type { Isolation } from "../mod.ts";
import { defaultHostId } from "../core/fleet/_default_host.ts";

/** The `--isolation` lines of both programs' `--help`. */
export const ISOLATION_HELP: string = `  --isolation <mode>   inline (default), worker or process: each
                       generation in its own Worker, or its own child deno
                       process, with no permissions. worker needs Deno's
                       worker-options (deno.json "unstable") and read access
                       to the runtime's core/; process needs run permission
                       for the deno executable (the tasks grant both)`;

/** Exit code for a bad command line, as most Unix tools use. */
export const EXIT_USAGE = 2;

/**
 * Prints a command-line mistake and where to find the flags, then exits
 * with code 2.
 *
 * @param message What is wrong with the command line.
 * @param program How to ask for help, such as `demo/main.ts --help`.
 */
export function usageError(message: string, program: string): never {
  console.error(`${message}\nRun ${program} --help to see every flag.`);
  Deno.exit(EXIT_USAGE);
}

/** The flags both programs take, read from the command line. */
export interface ProgramArgs {
  /** The module paths given. */
  readonly positionals: readonly string[];
  /** The value of the program's own number flag (`--interval` or `--port`), checked. */
  readonly number: number;
  /** `--isolation`, checked. */
  readonly isolation: Isolation;
  /** `--root`, repeatable. */
  readonly roots: readonly string[] | undefined;
  /** `--watch`. */
  readonly watch: boolean;
  /** `--trust`: the trust list file; with it only signed `.hsgen` artifacts load. */
  readonly trust: string | undefined;
  /** `--store` and the flags that go with it, when the program follows a channel. */
  readonly fleet: FleetArgs | undefined;
}

/** A program's own number flag: its name, its default and the values it accepts. */
export interface NumberFlag {
  readonly name: "interval" | "port";
  readonly fallback: number;
  readonly min: number;
  readonly max: number;
}

/** The flags of a program that follows a channel of a fleet's store instead of a module path. */
export interface FleetArgs {
  /** `--store`: `sqlite:<file>` or `nats://host:port`. */
  readonly store: string;
  /** `--channel`: the channel to follow. */
  readonly channel: string;
  /** `--host`: this host's id, unique in the fleet (default: `defaultHostId()`). */
  readonly host: string;
  /** `--cache`: where fetched artifacts are written (default: a temporary directory, removed on exit). */
  readonly cache: string | undefined;
  /** `--report-interval`: milliseconds between two reports to the store (default: the follower's). */
  readonly reportInterval: number | undefined;
}

/** The flags only a program following a channel takes. */
const FLEET_FLAGS = ["store", "channel", "host", "cache", "report-interval"] as const;

/**
 * Parses the flags demo/main.ts and demo/server.ts share, plus the program's
 * own number flag, and with `fleet` the flags of following a channel
 * (`--store`, `--channel`, `--host`, `--cache`, `--report-interval`);
 * `--help` prints `usage` and exits 0, a mistake exits 2.
 *
 * @param args The command line.
 * @param program The program's path, for messages.
 * @param usage The help text.
 * @param numberFlag The program's own number flag.
 * @param fleet Whether the program can follow a channel.
 * @returns The flags.
 */
export function parseProgramArgs(
  args: string[],
  program: string,
  usage: string,
  numberFlag: NumberFlag,
  fleet = false,
): ProgramArgs {
  try {
    const { values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      strict: true,
      options: {
        [numberFlag.name]: { type: "string" },
        isolation: { type: "string" },
        root: { type: "string", multiple: true },
        watch: { type: "boolean", default: false },
        trust: { type: "string" },
        help: { type: "boolean", short: "h", default: false },
        ...(fleet ? Object.fromEntries(FLEET_FLAGS.map((flag) => [flag, { type: "string" as const }])) : {}),
      },
    });
    if (values.help === true) {
      console.log(usage);
      Deno.exit(0);
    }
    const parsed = {
      positionals,
      number: parseInteger(
        numberFlag.name,
        values[numberFlag.name] as string | undefined,
        numberFlag.fallback,
        numberFlag.min,
        numberFlag.max,
      ),
      isolation: parseIsolation(values.isolation as string | undefined),
      roots: values.root as string[] | undefined,
      watch: values.watch === true,
      trust: values.trust as string | undefined,
    };
    return { ...parsed, fleet: parseFleet(values as Record<string, unknown>, parsed) };
  } catch (error) {
    usageError(error instanceof Error ? error.message : String(error), program);
  }
}

/**
 * Reads the flags of following a channel: `--store` needs `--channel` and
 * `--host`, and takes the place of the module path, `--watch` and `--root`
 * (the channel decides what runs); the other fleet flags need `--store`.
 *
 * @throws {RangeError} A combination that cannot run.
 */
function parseFleet(
  values: Record<string, unknown>,
  other: Omit<ProgramArgs, "fleet" | "number">,
): FleetArgs | undefined {
  const flag = (name: (typeof FLEET_FLAGS)[number]) => {
    const value = values[name];
    if (value === "") throw new RangeError(`--${name} needs a value`);
    return value as string | undefined;
  };
  const store = flag("store");
  if (store === undefined) {
    const stray = FLEET_FLAGS.find((name) => values[name] !== undefined);
    if (stray !== undefined) throw new RangeError(`--${stray} goes with --store <url>`);
    return undefined;
  }
  const channel = flag("channel");
  // Without --host, an id unique among the live hosts, which a restart changes.
  const host = flag("host") ?? defaultHostId();
  if (channel === undefined) throw new RangeError("--store needs --channel <name>: the channel to follow");
  if (other.positionals.length > 0) {
    throw new RangeError(
      `--store serves what channel "${channel}" wants, so it takes no module; got ${
        other.positionals.join(" ")
      }`,
    );
  }
  if (other.watch) throw new RangeError("--watch cannot go with --store: the channel decides what runs");
  if (other.roots !== undefined) {
    throw new RangeError("--root cannot go with --store: artifacts from the channel load from --cache");
  }
  const interval = flag("report-interval");
  return {
    store,
    channel,
    host,
    cache: flag("cache"),
    reportInterval: interval === undefined
      ? undefined
      : parseInteger("report-interval", interval, 0, 1, 3_600_000),
  };
}

/**
 * Reads `--isolation`.
 *
 * @param value The flag's value, if given.
 * @returns The isolation mode.
 * @throws {RangeError} When it is not `inline`, `worker` or `process`.
 */
export function parseIsolation(value: string | undefined): Isolation {
  if (value === undefined) return "inline";
  if (value === "inline" || value === "worker" || value === "process") return value;
  throw new RangeError(`--isolation must be "inline", "worker" or "process", got "${value}"`);
}

/**
 * Reads an integer flag within bounds.
 *
 * @param flag The flag's name, for the message.
 * @param value The flag's value, if given.
 * @param fallback The value when the flag is absent.
 * @param min The smallest accepted value.
 * @param max The largest accepted value.
 * @returns The integer.
 * @throws {RangeError} When it is not an integer within `[min, max]`.
 */
export function parseInteger(
  flag: string,
  value: string | undefined,
  fallback: number,
  min: number,
  max: number,
): number {
  if (value === undefined) return fallback;
  const number = /^\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(number) || number < min || number > max) {
    throw new RangeError(`--${flag} must be a whole number from ${min} to ${max}, got "${value}"`);
  }
  return number;
}

/**
 * Splits a byte stream into lines (without their `\n` or `\r\n`); the last
 * line is yielded even without a final newline.
 *
 * @param stream Bytes, such as `Deno.stdin.readable`.
 * @returns The lines, as they arrive.
 */
export async function* readLines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  let buffered = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    buffered += chunk;
    let newline: number;
    while ((newline = buffered.indexOf("\n")) !== -1) {
      yield buffered.slice(0, newline).replace(/\r$/, "");
      buffered = buffered.slice(newline + 1);
    }
  }
  if (buffered !== "") yield buffered.replace(/\r$/, "");
}

/**
 * Waits `ms` milliseconds, or less if `signal` aborts first. Never rejects:
 * callers check the signal afterwards.
 *
 * @param ms How long to wait.
 * @param signal Ends the wait early.
 * @returns Resolves when the time is up or the signal aborted.
 */
export function pause(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  const { promise, resolve } = Promise.withResolvers<void>();
  const done = () => {
    clearTimeout(timer);
    signal.removeEventListener("abort", done);
    resolve();
  };
  const timer = setTimeout(done, ms);
  signal.addEventListener("abort", done, { once: true });
  return promise;
}
