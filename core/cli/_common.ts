/**
 * What every `hotswap` command shares: flag parsing that turns mistakes into
 * usage errors (exit 2), failures that name the file and the fix (exit 1),
 * and the key and trust list files.
 *
 * @module
 */

import { dirname } from "node:path";
import { shellQuoted } from "../_shell_quote.ts";
import { parseArgs, type ParseArgsConfig } from "node:util";
import { HotswapError, messageOf } from "../errors.ts";
import { decodeBase64, keyIdOf, type SigningKey } from "../signature.ts";

/** Exit code of a command that did its job. */
export const EXIT_OK = 0;
/** Exit code of a failure: a refused artifact, a missing file. */
export const EXIT_FAILURE = 1;
/** Exit code of a command line that cannot be run as written. */
export const EXIT_USAGE = 2;

/** A mistake in the command line: printed with a pointer to `--help`, exit 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** A failure the command explains itself: printed as is, exit 1. */
export class CommandError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "CommandError";
  }
}

/** Where a command writes: standard output for results, standard error for everything else. */
export interface Io {
  /**
   * A line of the command's result.
   *
   * @param line The line, without its newline.
   * @example Keep the result, print the diagnostics
   * ```ts
   * import { main } from "@hotswap/runtime/cli";
   * import { ok } from "node:assert/strict";
   * const out: string[] = [];
   * await main(["--help"], { out: (line) => out.push(line), err: console.error });
   * ok(out.join("\n").includes("keygen"));
   * ```
   */
  out(line: string): void;
  /**
   * A line of diagnostics: usage errors, refusals, progress.
   *
   * @param line The line, without its newline.
   * @example Capture why a command line was refused
   * ```ts
   * import { main } from "@hotswap/runtime/cli";
   * import { ok, strictEqual } from "node:assert/strict";
   * const err: string[] = [];
   * strictEqual(await main(["verify"], { out: console.log, err: (line) => err.push(line) }), 2);
   * ok(err.some((line) => line.includes("hotswap verify")));
   * ```
   */
  err(line: string): void;
}

/** A command: its help text and what it does with its arguments. */
export interface Command {
  /** One line for `hotswap --help`. */
  readonly summary: string;
  /** The full `--help` text. */
  readonly usage: string;
  /** Runs the command; resolves to the exit code. */
  run(args: string[], io: Io): Promise<number>;
}

/** The flag values `parseArgs` returns for a set of options. */
export type Flags = Record<string, string | boolean | (string | boolean)[] | undefined>;

/**
 * Parses a command's flags; an unknown flag or a missing value is a usage error.
 *
 * @returns `undefined` when `--help` was asked (the caller prints the usage).
 */
export function parseFlags(
  args: string[],
  options: NonNullable<ParseArgsConfig["options"]>,
): { values: Flags; positionals: string[] } | undefined {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      strict: true,
      options: { ...options, help: { type: "boolean", short: "h" } },
    });
  } catch (error) {
    throw new UsageError(messageOf(error));
  }
  if (parsed.values.help === true) return undefined;
  return { values: parsed.values as Flags, positionals: parsed.positionals };
}

/** A string flag that must be given. */
export function required(values: Flags, flag: string, hint: string): string {
  const value = values[flag];
  if (typeof value !== "string" || value === "") throw new UsageError(`Missing --${flag} ${hint}`);
  return value;
}

/** Exactly `count` positionals, named for the message. */
export function positionalsOf(positionals: string[], names: readonly string[]): string[] {
  if (positionals.length < names.length) {
    throw new UsageError(`Missing ${names.slice(positionals.length).map((name) => `<${name}>`).join(" ")}`);
  }
  if (positionals.length > names.length) {
    throw new UsageError(`Unexpected argument "${positionals[names.length]}"`);
  }
  return positionals;
}

/** The private key file `keygen` writes. */
export interface KeyFile {
  /** Names this format, so a `.pub.json` passed by mistake is recognised. */
  readonly format: typeof KEY_FORMAT;
  /** The signature algorithm. */
  readonly algorithm: "Ed25519";
  /** Hex SHA-256 of the public key. */
  readonly keyid: string;
  /** The raw public key, base64. */
  readonly publicKey: string;
  /** PKCS #8, base64: the secret. */
  readonly privateKey: string;
}

/** The `format` of a key file. */
export const KEY_FORMAT = "hotswap-key/1";

/**
 * Reads a key file written by `keygen`. A key readable by others is used,
 * with a warning: refusing would not make it secret again.
 */
export async function readKeyFile(path: string, io: Io): Promise<SigningKey> {
  const value = await readJson(path, "key file", "make one with `hotswap keygen <name>`");
  const { format, keyid, publicKey, privateKey } = (value ?? {}) as Record<string, unknown>;
  if (format !== KEY_FORMAT) {
    throw new CommandError(
      `Cannot use key "${path}": it is not a private key written by \`hotswap keygen\` (format "${KEY_FORMAT}")${
        typeof value === "object" && value !== null && "publicKey" in value && !("privateKey" in value)
          ? "; it looks like a .pub.json, pass the .key file beside it"
          : ""
      }`,
    );
  }
  if (
    typeof publicKey !== "string" || decodeBase64(publicKey)?.byteLength !== 32 ||
    keyid !== keyIdOf(publicKey) || decodeBase64(privateKey) === undefined
  ) {
    throw new CommandError(
      `Cannot use key "${path}": it is damaged (its fields do not match); generate a new key`,
    );
  }
  if (Deno.build.os !== "windows") {
    const mode = (await Deno.stat(path)).mode;
    if (mode !== null && (mode & 0o077) !== 0) {
      io.err(
        `warning: "${path}" is readable by others (mode ${
          (mode & 0o777).toString(8)
        }); run chmod 600 "${path}"`,
      );
    }
  }
  return { keyid: keyid as string, publicKey, privateKey: privateKey as string };
}

/**
 * Reads and parses a JSON file.
 *
 * @param what What the file is, for messages.
 * @param fix What to do when it is missing.
 */
export async function readJson(path: string, what: string, fix: string): Promise<unknown> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new CommandError(`Cannot read ${what} "${path}": no such file; ${fix}`);
    }
    throw new CommandError(`Cannot read ${what} "${path}": ${describe(error)}`, { cause: error });
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new CommandError(`Cannot read ${what} "${path}": it is not JSON (${describe(error)}); ${fix}`);
  }
}

/** Writes JSON, indented, with a final newline. */
export async function writeJson(path: string, value: unknown): Promise<void> {
  try {
    await Deno.writeTextFile(path, `${JSON.stringify(value, null, 2)}\n`);
  } catch (error) {
    throw writeFailure(path, error);
  }
}

/** Why a file could not be written, and, for a directory that does not exist, what to do. */
export function writeFailure(path: string, error: unknown, what = `"${path}"`): CommandError {
  const fix = error instanceof Deno.errors.NotFound
    ? `: its directory "${dirname(path)}" does not exist; create it (mkdir -p ${
      shellQuoted(dirname(path))
    }) or write elsewhere`
    : `: ${describe(error)}`;
  return new CommandError(`Cannot write ${what}${fix}`, { cause: error });
}

/** The message of a failure, as the CLI prints it. */
export function describe(error: unknown): string {
  if (error instanceof HotswapError) return `${error.code}: ${error.message}`;
  return messageOf(error);
}

/** An ISO 8601 instant from a flag. */
export function instantFlag(values: Flags, flag: string): Date | undefined {
  const value = values[flag];
  if (value === undefined) return undefined;
  const date = typeof value === "string" && /^\d{4}-\d\d-\d\d/.test(value) ? new Date(value) : undefined;
  if (date === undefined || Number.isNaN(date.getTime())) {
    throw new UsageError(
      `--${flag} must be an ISO 8601 date such as 2027-01-31 or 2027-01-31T12:00:00Z, got "${value}"`,
    );
  }
  return date;
}

/** Bytes, for people. */
export function formatSize(bytes: number): string {
  return bytes < 1024 ? `${bytes} B` : `${(bytes / 1024).toFixed(1)} KiB`;
}
