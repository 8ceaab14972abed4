/**
 * `hotswap trust add|revoke|sign`: edit a trust list file. An edit raises
 * the list's version and drops its signatures (they covered the old
 * content); hosts already running take the new version only once `sign`
 * has signed it with a key their list in force trusts for every contract.
 *
 * @module
 */

import { decodeBase64, KEY_ID, keyIdOf, SignatureError } from "../signature.ts";
import {
  acceptTrustUpdate,
  emptyTrustList,
  parseTrustList,
  signTrustList,
  type TrustedKey,
  type TrustList,
  withRevokedKey,
  withTrustedKey,
} from "../trust.ts";
import {
  type Command,
  CommandError,
  EXIT_OK,
  type Flags,
  instantFlag,
  type Io,
  parseFlags,
  positionalsOf,
  readJson,
  readKeyFile,
  required,
  UsageError,
  writeJson,
} from "./_common.ts";

const USAGE = `Usage: hotswap trust <add|revoke|sign> … --trust <trust.json>

  hotswap trust add <name>.pub.json --trust <trust.json> [--scope <contract>]… [--not-after <ISO date>]
      trust a key (creates the list when missing); without --scope, for every
      contract and for signing trust list updates
  hotswap trust revoke <keyid> --trust <trust.json>
      refuse a key from now on, whatever else the list says
  hotswap trust sign --trust <trust.json> --key <name>.key [--in-force <trust.json>]
      sign the list, so hosts running an earlier version accept it (the key
      must be trusted for every contract by the version they run); with
      --in-force, the list those hosts run, check the update as they will

Each add or revoke raises the list's version and removes its signatures.`;

const TRUST_FLAG = { trust: { type: "string" } } as const;

/** The `trust` command and its subcommands. */
export const trust: Command = {
  summary: "edit a trust list: add or revoke a key, sign the list",
  usage: USAGE,
  async run(args, io) {
    const [action, ...rest] = args;
    if (action === "--help" || action === "-h") {
      io.out(USAGE);
      return EXIT_OK;
    }
    if (action === undefined) throw new UsageError("Missing the action: add, revoke or sign");
    switch (action) {
      case "add":
        return await add(rest, io);
      case "revoke":
        return await revoke(rest, io);
      case "sign":
        return await sign(rest, io);
      default:
        throw new UsageError(`Unknown trust action "${action}": use add, revoke or sign`);
    }
  },
};

async function add(args: string[], io: Io): Promise<number> {
  const parsed = parseFlags(args, {
    ...TRUST_FLAG,
    scope: { type: "string", multiple: true },
    "not-after": { type: "string" },
  });
  if (parsed === undefined) return help(io);
  const [publicPath] = positionalsOf(parsed.positionals, ["name.pub.json"]);
  const listPath = trustPath(parsed.values);
  const scopes = (parsed.values.scope as string[] | undefined) ?? [];
  if (scopes.some((scope) => scope.trim() === "")) throw new UsageError("--scope needs a contract name");
  const notAfter = instantFlag(parsed.values, "not-after");
  const key = await readPublicKey(publicPath!);
  const list = await readList(listPath, true);
  if (list.revoked.includes(key.keyid)) {
    throw new CommandError(
      `Cannot trust key ${key.keyid} in "${listPath}": the list revoked it, and a revoked key stays revoked; make a new key with \`hotswap keygen\``,
    );
  }
  const entry: TrustedKey = {
    keyid: key.keyid,
    publicKey: key.publicKey,
    ...(scopes.length === 0 ? {} : { scopes: [...new Set(scopes)] }),
    ...(notAfter === undefined ? {} : { notAfter: notAfter.toISOString() }),
  };
  const next = withTrustedKey(list, entry);
  await writeJson(listPath, next);
  const what = scopes.length === 0 ? "every contract" : `contract ${scopes.map((s) => `"${s}"`).join(", ")}`;
  const until = notAfter === undefined ? "" : `, until ${notAfter.toISOString()}`;
  io.out(`Trusted key ${key.keyid} for ${what}${until} in ${listPath} (version ${next.version})`);
  if (notAfter !== undefined && notAfter.getTime() <= Date.now()) {
    io.err(
      `hotswap trust: --not-after ${notAfter.toISOString()} has passed: hosts refuse what this key signs (expired); add it again with a later --not-after`,
    );
  }
  signNote(io, next, listPath);
  return EXIT_OK;
}

async function revoke(args: string[], io: Io): Promise<number> {
  const parsed = parseFlags(args, TRUST_FLAG);
  if (parsed === undefined) return help(io);
  const [keyid] = positionalsOf(parsed.positionals, ["keyid"]);
  if (!KEY_ID.test(keyid!)) {
    throw new UsageError(`<keyid> must be 64 hex digits (as keygen and inspect print it), got "${keyid}"`);
  }
  const listPath = trustPath(parsed.values);
  const list = await readList(listPath, false);
  if (!list.keys.some((key) => key.keyid === keyid)) {
    io.err(`note: key ${keyid} is not among the keys of ${listPath}; revoking it anyway`);
  }
  const next = withRevokedKey(list, keyid!);
  await writeJson(listPath, next);
  io.out(`Revoked key ${keyid} in ${listPath} (version ${next.version}): artifacts it signed are refused`);
  signNote(io, next, listPath);
  return EXIT_OK;
}

async function sign(args: string[], io: Io): Promise<number> {
  const parsed = parseFlags(args, { ...TRUST_FLAG, key: { type: "string" }, "in-force": { type: "string" } });
  if (parsed === undefined) return help(io);
  positionalsOf(parsed.positionals, []);
  const listPath = trustPath(parsed.values);
  const key = await readKeyFile(required(parsed.values, "key", "<name>.key: the key to sign with"), io);
  const list = await readList(listPath, false);
  if (list.revoked.includes(key.keyid)) {
    throw new CommandError(
      `Cannot sign ${listPath} with key ${key.keyid}: the list itself revokes it, and hosts refuse what a revoked key signs; sign with another key trusted for every contract`,
    );
  }
  const entry = list.keys.find((trusted) => trusted.keyid === key.keyid);
  if (entry?.scopes !== undefined) {
    // Hosts would refuse the update (reason "scope"), and keep the list in force: say so now.
    throw new CommandError(
      `Cannot sign ${listPath} with key ${key.keyid}: the list trusts it only for ${
        entry.scopes.join(", ")
      }, and hosts accept a trust list update only when signed by a key trusted for every contract; sign with such a key (one added without --scope)`,
    );
  }
  const signed = await signTrustList(list, key);
  const inForcePath = parsed.values["in-force"];
  if (typeof inForcePath === "string") {
    // The hosts judge the signer by the list they run, not by this one (which may have just rescoped it).
    try {
      await acceptTrustUpdate(await readList(inForcePath, false), signed);
    } catch (error) {
      if (!(error instanceof SignatureError)) throw error;
      throw new CommandError(
        `Cannot sign ${listPath} with key ${key.keyid}: hosts running ${inForcePath} would refuse it: ${error.message}`,
      );
    }
  }
  await writeJson(listPath, signed);
  io.out(`Signed ${listPath} (version ${signed.version}) with key ${key.keyid}`);
  return EXIT_OK;
}

function help(io: Io): number {
  io.out(USAGE);
  return EXIT_OK;
}

function trustPath(values: Flags): string {
  return required(values, "trust", "<trust.json>: the trust list file to edit");
}

function signNote(io: Io, list: TrustList, path: string): void {
  if (list.version <= 1) return;
  io.out(
    `Hosts already running with an earlier version take this one once signed: hotswap trust sign --trust ${path} --key <name>.key`,
  );
}

/** The list at `path`; a missing file is an empty list when `create` is set. */
async function readList(path: string, create: boolean): Promise<TrustList> {
  try {
    await Deno.lstat(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound && create) return emptyTrustList();
  }
  const value = await readJson(
    path,
    "trust list",
    "create it with `hotswap trust add <name>.pub.json --trust <file>`",
  );
  try {
    return parseTrustList(value, path);
  } catch (error) {
    if (error instanceof SignatureError) throw new CommandError(error.message);
    throw error;
  }
}

async function readPublicKey(path: string): Promise<{ keyid: string; publicKey: string }> {
  const value = await readJson(path, "public key", "make one with `hotswap keygen <name>`");
  const { keyid, publicKey, privateKey } = (value ?? {}) as Record<string, unknown>;
  if (privateKey !== undefined) {
    throw new CommandError(
      `Cannot trust "${path}": it is a private key; pass the .pub.json beside it, and keep the .key file where it is`,
    );
  }
  if (
    typeof publicKey !== "string" || decodeBase64(publicKey)?.byteLength !== 32 ||
    keyid !== keyIdOf(publicKey)
  ) {
    throw new CommandError(
      `Cannot trust "${path}": it is not a public key written by \`hotswap keygen\` ({ keyid, publicKey }, the id matching the key)`,
    );
  }
  return { keyid, publicKey };
}
