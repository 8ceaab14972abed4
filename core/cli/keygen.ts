/**
 * `hotswap keygen <name>`: a new Ed25519 key pair, `<name>.key` (the secret,
 * mode 0600, never printed) and `<name>.pub.json` (the trust-list entry).
 *
 * @module
 */

import { basename, dirname, join } from "node:path";
import { generateSigningKey } from "../signature.ts";
import {
  type Command,
  CommandError,
  describe,
  EXIT_OK,
  KEY_FORMAT,
  type KeyFile,
  parseFlags,
  positionalsOf,
  UsageError,
  writeFailure,
} from "./_common.ts";

const USAGE = `Usage: hotswap keygen <name>

Makes an Ed25519 key pair for signing generation artifacts:
  <name>.key       the private key (mode 0600; never printed, keep it secret)
  <name>.pub.json  its trust-list entry: key id and public key

Existing files are never overwritten. Next, trust the key on your hosts:
  hotswap trust add <name>.pub.json --trust trust.json [--scope <contract>]`;

/** The `keygen` command. */
export const keygen: Command = {
  summary: "make a signing key: <name>.key (secret) and <name>.pub.json",
  usage: USAGE,
  async run(args, io) {
    const parsed = parseFlags(args, {});
    if (parsed === undefined) {
      io.out(USAGE);
      return EXIT_OK;
    }
    const [name] = positionalsOf(parsed.positionals, ["name"]);
    // "keys/" would write the hidden files keys/.key and keys/.pub.json.
    if (/[\\/]$/.test(name!) || basename(name!) === "." || basename(name!) === "..") {
      throw new UsageError(
        `<name> must name the key, as in ${
          join(name!, "release")
        }: keygen writes <name>.key and <name>.pub.json, got "${name}"`,
      );
    }
    const base = name!.replace(/\.key$|\.pub\.json$/, "");
    // "keys/.key" too: it names no key, only its extension.
    if (basename(base) === "" || /[\\/]$/.test(base)) {
      throw new UsageError(
        `<name> must name the key, as in ${
          join(dirname(name!), "release")
        }: keygen writes <name>.key and <name>.pub.json, got "${name}"`,
      );
    }
    const keyPath = `${base}.key`;
    const publicPath = `${base}.pub.json`;
    for (const path of [keyPath, publicPath]) {
      if (await exists(path)) {
        throw new CommandError(
          `Cannot write "${path}": it exists, and keygen never overwrites a key; choose another name, or remove the old files first`,
        );
      }
    }
    const key = await generateSigningKey();
    const file: KeyFile = {
      format: KEY_FORMAT,
      algorithm: "Ed25519",
      keyid: key.keyid,
      publicKey: key.publicKey,
      privateKey: key.privateKey,
    };
    try {
      // Created with mode 0600, so the secret is never readable by others, not even for a moment.
      await Deno.writeTextFile(keyPath, `${JSON.stringify(file, null, 2)}\n`, {
        mode: 0o600,
        createNew: true,
      });
      if (Deno.build.os !== "windows") await Deno.chmod(keyPath, 0o600);
      await Deno.writeTextFile(
        publicPath,
        `${JSON.stringify({ keyid: key.keyid, publicKey: key.publicKey }, null, 2)}\n`,
        { createNew: true },
      );
    } catch (error) {
      throw writeFailure(keyPath, error, `the key files "${keyPath}" and "${publicPath}"`);
    }
    io.out(`Wrote ${keyPath} (private key, mode 0600: keep it secret) and ${publicPath}`);
    io.out(`Key id ${key.keyid}`);
    io.out(`Next: hotswap trust add ${publicPath} --trust trust.json [--scope <contract name>]`);
    return EXIT_OK;
  },
};

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw new CommandError(`Cannot check "${path}": ${describe(error)}`, { cause: error });
  }
}
