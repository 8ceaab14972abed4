/**
 * The `hotswap` command (SPEC 12 and 13): make signing keys, keep trust
 * lists, pack generations into signed `.hsgen` artifacts, verify and inspect
 * them; publish them to a fleet's store and roll them out to its hosts.
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
import { abort } from "../fleet/cli/abort.ts";
import { promote } from "../fleet/cli/promote.ts";
import { publish } from "../fleet/cli/publish.ts";
import { rollout } from "../fleet/cli/rollout.ts";
import { status } from "../fleet/cli/status.ts";
import { inspect } from "./inspect.ts";
import { keygen } from "./keygen.ts";
import { pack } from "./pack.ts";
import { trust } from "./trust.ts";
import { verify } from "./verify.ts";
import { escapeControls } from "../_escape_controls.ts";

export type { Io } from "./_common.ts";

/** Signed generations (SPEC 12). */
const SIGNING: Readonly<Record<string, Command>> = { keygen, trust, pack, verify, inspect };
/** Fleet rollout (SPEC 13); each runs the same under this dispatcher or on its own. */
const FLEET: Readonly<Record<string, Command>> = { publish, rollout, promote, abort, status };
const COMMANDS: Readonly<Record<string, Command>> = { ...SIGNING, ...FLEET };

function list(commands: Readonly<Record<string, Command>>): string {
  return Object.entries(commands).map(([name, command]) => `  ${name.padEnd(8)} ${command.summary}`).join(
    "\n",
  );
}

const USAGE = `Usage: hotswap <command> [options]

Signed generations: a build packs and signs a generation once; hosts started
with a trust list load only artifacts signed by a key it trusts.

${list(SIGNING)}

Fleet rollout: the artifact goes to a store (sqlite:<file> or
nats://host:port) once; hosts follow a channel of it, and a rollout moves
the channel to a candidate in steps, back to stable when the gate trips.

${list(FLEET)}

A walk through:
  hotswap keygen release
  hotswap trust add release.pub.json --trust trust.json --scope HttpApp
  hotswap pack so/app.ts --contract types/mod.ts#httpApp --key release.key --label v1 --out v1.hsgen
  hotswap verify v1.hsgen --trust trust.json
  hotswap publish v1.hsgen --store sqlite:fleet.db --channel app/prod
  # hosts: demo/server.ts --store sqlite:fleet.db --channel app/prod --host <id> --trust trust.json
  # edit so/app_logic.ts, pack it again with --label v2 --out v2.hsgen, publish it
  hotswap rollout app/prod --store sqlite:fleet.db --to v2 --steps 10,50,100 --bake 30s
  hotswap status app/prod --store sqlite:fleet.db

Run hotswap <command> --help for a command's options.
Exit codes: 0 done, 1 failed or refused, 2 usage error.`;

/** Writes results to standard output and diagnostics to standard error. */
const CONSOLE: Io = {
  // Texts from artifacts, the store and generations among them: they must not drive the terminal.
  out: (line) => console.log(escapeControls(line)),
  err: (line) => console.error(escapeControls(line)),
};

/**
 * Runs one `hotswap` command line.
 *
 * @param args The arguments after the program name.
 * @param io Where to write (default: the console).
 * @returns The exit code: 0 done, 1 failed or refused, 2 usage error.
 *
 * @example Run a command line, capturing what it prints
 * ```ts
 * import { main } from "@hotswap/runtime/cli";
 * import { ok, strictEqual } from "node:assert/strict";
 *
 * const out: string[] = [], err: string[] = [];
 * strictEqual(await main(["--help"], { out: (line) => out.push(line), err: (line) => err.push(line) }), 0);
 * ok(out[0]?.startsWith("Usage: hotswap <command>"));
 * strictEqual(await main(["frobnicate"], { out: (line) => out.push(line), err: (line) => err.push(line) }), 2);
 * ok(err[0]?.includes('unknown command "frobnicate"'));
 * ```
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
