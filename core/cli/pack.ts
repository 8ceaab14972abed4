/**
 * `hotswap pack <entry> …`: read a generation's graph as a swap would, and
 * write it, hashed and signed, into one `.hsgen` artifact.
 *
 * @module
 */

import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { type ContractIdentity, packArtifact } from "../artifact.ts";
import { HotswapError } from "../errors.ts";
import {
  type Command,
  CommandError,
  describe,
  EXIT_OK,
  formatSize,
  instantFlag,
  parseFlags,
  positionalsOf,
  readKeyFile,
  required,
  UsageError,
  writeFailure,
} from "./_common.ts";

const USAGE = `Usage: hotswap pack <entry> --contract <module>#<export> --key <name>.key --out <file>.hsgen
                    [--label <label>] [--sequence <n>] [--expires <ISO date>] [--root <dir>]…

Reads the generation at <entry> (every local file it imports), and writes it
into one signed artifact: the files relative to their common directory,
their digest (the one a host computes from the same files) and a manifest
{ digest, entry, contract, label, sequence, issuedAt, expiresAt }.

  --contract <module>#<export>  the file exporting the defineContract value,
                                and the export's name (types/mod.ts#soHandles)
  --key <name>.key              the private key to sign with (hotswap keygen)
  --out <file>.hsgen            where to write the artifact
  --label <label>               a name for people and rollouts (default: the entry's file)
  --sequence <n>                hosts refuse a lower sequence than they accepted
                                (default: the current time in milliseconds since 1970)
  --expires <ISO date>          hosts refuse it after this instant
  --root <dir>                  a directory the graph may load from; repeatable
                                (default: the entry's directory)`;

/** The `pack` command. */
export const pack: Command = {
  summary: "sign a generation into a .hsgen artifact",
  usage: USAGE,
  async run(args, io) {
    const parsed = parseFlags(args, {
      contract: { type: "string" },
      key: { type: "string" },
      out: { type: "string" },
      label: { type: "string" },
      sequence: { type: "string" },
      expires: { type: "string" },
      root: { type: "string", multiple: true },
    });
    if (parsed === undefined) {
      io.out(USAGE);
      return EXIT_OK;
    }
    const { values } = parsed;
    const [entry] = positionalsOf(parsed.positionals, ["entry"]);
    const contractRef = required(values, "contract", "<module>#<export>: the contract the generation meets");
    const keyPath = required(values, "key", "<name>.key: the private key to sign with (hotswap keygen)");
    const out = required(values, "out", "<file>.hsgen: where to write the artifact");
    if (!out.endsWith(".hsgen")) {
      throw new UsageError(`--out must name a .hsgen file (hosts recognise artifacts by it), got "${out}"`);
    }
    const sequence = sequenceFlag(values.sequence);
    const expiresAt = instantFlag(values, "expires");
    const label = values.label as string | undefined;
    const roots = values.root as string[] | undefined;
    const reference = parseContractReference(contractRef);
    // The key first: importing the contract module runs its code, reading a file does not.
    const key = await readKeyFile(keyPath, io);
    const contract = await importContract(reference);
    let packed;
    try {
      packed = await packArtifact(entry!, {
        contract,
        key,
        ...(label === undefined ? {} : { label }),
        ...(sequence === undefined ? {} : { sequence }),
        ...(expiresAt === undefined ? {} : { expiresAt }),
        ...(roots === undefined ? {} : { roots }),
      });
    } catch (error) {
      if (error instanceof RangeError) throw new UsageError(error.message);
      if (error instanceof HotswapError) throw new CommandError(describe(error), { cause: error });
      throw error;
    }
    try {
      await Deno.writeFile(out, packed.bytes);
    } catch (error) {
      throw writeFailure(out, error);
    }
    const { manifest } = packed;
    const files = packed.files.length === 1 ? "1 file" : `${packed.files.length} files`;
    io.out(`Packed ${files} into ${out} (${formatSize(packed.bytes.byteLength)})`);
    io.out(`  digest    ${manifest.digest}`);
    io.out(
      `  contract  ${manifest.contract.name}@${manifest.contract.version} (${manifest.contract.symbol})`,
    );
    io.out(`  label     ${manifest.label}, sequence ${manifest.sequence}`);
    io.out(
      `  signed by ${key.keyid}${manifest.expiresAt === undefined ? "" : `, expires ${manifest.expiresAt}`}`,
    );
    return EXIT_OK;
  },
};

function sequenceFlag(value: unknown): number | undefined {
  if (value === undefined) return undefined;
  const number = typeof value === "string" && /^\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(number)) {
    throw new UsageError(`--sequence must be a whole number, got "${value}"`);
  }
  return number;
}

/** `<module>#<export>`, the module resolved to an absolute path. */
interface ContractReference {
  readonly module: string;
  readonly name: string;
  readonly reference: string;
}

function parseContractReference(reference: string): ContractReference {
  const hash = reference.lastIndexOf("#");
  if (hash <= 0 || hash === reference.length - 1) {
    throw new UsageError(
      `--contract must be <module>#<export>, such as types/mod.ts#soHandles, got "${reference}"`,
    );
  }
  return { module: resolve(reference.slice(0, hash)), name: reference.slice(hash + 1), reference };
}

/** Imports the contract module and checks the export is a contract. */
async function importContract({ module, name, reference }: ContractReference): Promise<ContractIdentity> {
  let namespace: Record<string, unknown>;
  try {
    namespace = await import(pathToFileURL(module).href);
  } catch (error) {
    throw new CommandError(
      `Cannot import contract module "${module}": ${
        describe(error)
      }; name the file that calls defineContract`,
      { cause: error },
    );
  }
  if (!Object.hasOwn(namespace, name)) {
    throw new CommandError(
      `Cannot use contract "${reference}": "${module}" has no export "${name}"; it exports ${
        Object.keys(namespace).map((key) => `"${key}"`).join(", ") || "nothing"
      }`,
    );
  }
  const value = namespace[name] as Partial<ContractIdentity> | null;
  if (
    typeof value !== "object" || value === null ||
    !(["name", "version", "symbol"] as const).every((field) => typeof value[field] === "string")
  ) {
    throw new CommandError(
      `Cannot use contract "${reference}": export "${name}" is not a contract (a defineContract value with name, version and symbol)`,
    );
  }
  return value as ContractIdentity;
}
