/**
 * What the fleet commands share: the command shape of `hotswap` (summary,
 * usage, `run(args, io)` resolving to the exit code), flag parsing where a
 * mistake is exit 2 with a pointer to `--help`, the `--store` flag, the
 * commands on one channel, and durations such as `30s`.
 *
 * Each command handles its own failures (exit 1, the reason on standard
 * error), so it runs the same under any dispatcher.
 *
 * @module
 */

import type { ParseArgsConfig } from "node:util";
import {
  CommandError,
  describe,
  EXIT_FAILURE,
  EXIT_OK,
  EXIT_USAGE,
  type Flags,
  type Io,
  parseFlags,
  positionalsOf,
  required,
  UsageError,
} from "../../cli/_common.ts";
import { openStore, type Store } from "../../store/store.ts";
import { escapeControls } from "../../_escape_controls.ts";

/** A `hotswap` command. */
export interface FleetCommand {
  /** One line for `hotswap --help`. */
  readonly summary: string;
  /** The full `--help` text. */
  readonly usage: string;
  /** Runs the command; resolves to the exit code, never rejects. */
  run(args: string[], io?: Io): Promise<number>;
}

/** Writes to the console. */
export const CONSOLE: Io = {
  // Texts from artifacts, the store and generations among them: they must not drive the terminal.
  out: (line) => console.log(escapeControls(line)),
  err: (line) => console.error(escapeControls(line)),
};

/**
 * Builds a command from its flags and body: `--help` prints the usage, a
 * usage mistake exits 2, any other failure exits 1 with its message.
 */
export function command(
  name: string,
  summary: string,
  usage: string,
  options: NonNullable<ParseArgsConfig["options"]>,
  body: (values: Flags, positionals: string[], io: Io) => Promise<number>,
): FleetCommand {
  return {
    summary,
    usage,
    async run(args: string[], io: Io = CONSOLE): Promise<number> {
      try {
        const parsed = parseFlags(args, options);
        if (parsed === undefined) {
          io.out(usage);
          return EXIT_OK;
        }
        return await body(parsed.values, parsed.positionals, io);
      } catch (error) {
        if (error instanceof UsageError) {
          io.err(`hotswap ${name}: ${error.message}`);
          io.err(`Run hotswap ${name} --help for usage.`);
          return EXIT_USAGE;
        }
        io.err(`hotswap ${name}: ${describe(error)}`);
        return EXIT_FAILURE;
      }
    },
  };
}

/** What a command on one channel is, beyond its body. */
export interface ChannelCommandSpec<F> {
  /** The command's name. */
  readonly name: string;
  /** One line for `hotswap --help`. */
  readonly summary: string;
  /** The full `--help` text. */
  readonly usage: string;
  /** Its flags besides `--store`. */
  readonly options?: NonNullable<ParseArgsConfig["options"]>;
  /** Reads the flags; runs before the store opens, so a usage mistake opens (and creates) no store. */
  readonly read: (values: Flags) => F;
}

/** What the body of a command on one channel works with. */
export interface ChannelContext<F> {
  /** The channel, its one positional argument. */
  readonly channel: string;
  /** The store `--store` names, closed once the body ends. */
  readonly store: Store;
  /** What `read` made of the flags. */
  readonly flags: F;
  /** Where to write. */
  readonly io: Io;
}

/** Builds a command of the form `hotswap <name> <channel> --store <url> [flags]`. */
export function channelCommand<F>(
  spec: ChannelCommandSpec<F>,
  body: (context: ChannelContext<F>) => Promise<number>,
): FleetCommand {
  const options = { store: { type: "string" as const }, ...spec.options };
  return command(spec.name, spec.summary, spec.usage, options, async (values, positionals, io) => {
    const [channel] = positionalsOf(positionals, ["channel"]);
    const flags = spec.read(values);
    // Only publish creates a store: here a missing sqlite file is a mistyped --store.
    await using store = await storeFrom(values, { existing: true });
    return await body({ channel: channel!, store, flags, io });
  });
}

/** The `--store` flag's help line. */
export const STORE_HELP =
  `  --store <url>         sqlite:<file> (embedded) or nats://host:port (NATS JetStream)`;

/**
 * Opens the store `--store` names; a malformed URL is a usage error.
 *
 * @param options `existing`: a `sqlite:` file must exist already (else it is created).
 */
export async function storeFrom(values: Flags, options: { existing?: boolean } = {}): Promise<Store> {
  const url = required(values, "store", "<url>: sqlite:<file> or nats://host:port");
  if (options.existing && url.startsWith("sqlite:") && !await isFile(url.slice("sqlite:".length))) {
    throw new CommandError(
      `Cannot open store "${url}": there is no such file; fix --store, or create the store by publishing to it (hotswap publish <file>.hsgen --store ${url} --channel <name>)`,
    );
  }
  try {
    return await openStore(url, { connectTimeout: 5_000 });
  } catch (error) {
    if (error instanceof TypeError) throw new UsageError(error.message);
    throw error;
  }
}

/**
 * A duration flag: `500ms`, `30s`, `2m`, or a bare number of seconds.
 *
 * @returns Milliseconds, or `undefined` when the flag is absent.
 */
export function durationFlag(values: Flags, flag: string): number | undefined {
  const value = values[flag];
  if (value === undefined) return undefined;
  const match = typeof value === "string" ? /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(value) : null;
  if (match === null) {
    throw new UsageError(`--${flag} must be a duration such as 500ms, 30s or 2m, got "${value}"`);
  }
  const scale = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 }[match[2] as "ms" | "s" | "m" | "h" ?? "s"];
  return Number(match[1]) * scale;
}

/** A number flag within [min, max]. */
export function numberFlag(values: Flags, flag: string, min: number, max: number): number | undefined {
  const value = values[flag];
  if (value === undefined) return undefined;
  const number = typeof value === "string" && value.trim() !== "" ? Number(value) : NaN;
  if (!Number.isFinite(number) || number < min || number > max) {
    throw new UsageError(`--${flag} must be a number from ${min} to ${max}, got "${value}"`);
  }
  return number;
}

/** `sha256-AbCd…` shortened for people. */
export function short(digest: string | undefined): string {
  return digest === undefined || digest === "" ? "-" : `${digest.slice(0, 19)}…`;
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    // Unreadable or the like: opening it says what is wrong.
    return true;
  }
}
