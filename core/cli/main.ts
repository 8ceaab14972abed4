/**
 * The `hotswap` command (SPEC 12): make signing keys, keep trust lists, pack
 * generations into signed `.hsgen` artifacts, verify and inspect them.
 *
 *     deno run -A jsr:@hotswap/runtime/cli <command> …
 *     deno task hotswap <command> …          # in this repository
 *
 * Exit codes: 0 done, 1 failed or refused (the reason on standard error),
 * 2 a command line that cannot run as written.
 *
 * @module
 */

import {
  type Command,
  CommandError,
  describe,
  EXIT_FAILURE,
  EXIT_OK,
  EXIT_USAGE,
  type Io,
  UsageError,
} from "./_common.ts";
import { inspect } from "./inspect.ts";
import { keygen } from "./keygen.ts";
import { pack } from "./pack.ts";
import { trust } from "./trust.ts";
import { verify } from "./verify.ts";

const COMMANDS: Readonly<Record<string, Command>> = { keygen, trust, pack, verify, inspect };

const USAGE = `Usage: hotswap <command> [options]

Signed generations: a build packs and signs a generation once; hosts started
with a trust list load only artifacts signed by a key it trusts.

Commands:
${Object.entries(COMMANDS).map(([name, command]) => `  ${name.padEnd(8)} ${command.summary}`).join("\n")}

A walk through:
  hotswap keygen release
  hotswap trust add release.pub.json --trust trust.json --scope SOHandles
  hotswap pack so/Handles.ts --contract types/mod.ts#soHandles --key release.key --out handles.hsgen
  hotswap verify handles.hsgen --trust trust.json

Run hotswap <command> --help for a command's options.
Exit codes: 0 done, 1 failed or refused, 2 usage error.`;

/** Writes results to standard output and diagnostics to standard error. */
const CONSOLE: Io = {
  out: (line) => console.log(line),
  err: (line) => console.error(line),
};

/**
 * Runs one `hotswap` command line.
 *
 * @param args The arguments after the program name.
 * @param io Where to write (default: the console).
 * @returns The exit code: 0 done, 1 failed or refused, 2 usage error.
 */
export async function main(args: string[], io: Io = CONSOLE): Promise<number> {
  const [name, ...rest] = args;
  if (name === "--help" || name === "-h" || name === "help") {
    io.out(USAGE);
    return EXIT_OK;
  }
  if (name === undefined) {
    io.err(USAGE);
    return EXIT_USAGE;
  }
  const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (command === undefined) {
    io.err(`hotswap: unknown command "${name}"; the commands are ${Object.keys(COMMANDS).join(", ")}`);
    io.err("Run hotswap --help for usage.");
    return EXIT_USAGE;
  }
  try {
    return await command.run(rest, io);
  } catch (error) {
    if (error instanceof UsageError) {
      io.err(`hotswap ${name}: ${error.message}`);
      io.err(`Run hotswap ${name} --help for usage.`);
      return EXIT_USAGE;
    }
    io.err(`hotswap ${name}: ${error instanceof CommandError ? error.message : describe(error)}`);
    return EXIT_FAILURE;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
