/**
 * `hotswap inspect <file>.hsgen [--json]`: the manifest, files and
 * signatures of an artifact, as written (nothing is verified: use verify).
 *
 * @module
 */

import { describeArtifact } from "../_artifact_format.ts";
import { SignatureError } from "../signature.ts";
import {
  type Command,
  CommandError,
  describe,
  EXIT_OK,
  formatSize,
  parseFlags,
  positionalsOf,
} from "./_common.ts";

const USAGE = `Usage: hotswap inspect <file>.hsgen [--json]

Shows an artifact's manifest (digest, entry, contract, label, sequence,
dates), its signatures (key ids) and its files (path, size, digest), as
written: nothing is verified here; hotswap verify does that.

  --json   print it as one JSON object`;

/** The `inspect` command. */
export const inspect: Command = {
  summary: "show an artifact's manifest, files and signatures",
  usage: USAGE,
  async run(args, io) {
    const parsed = parseFlags(args, { json: { type: "boolean" } });
    if (parsed === undefined) {
      io.out(USAGE);
      return EXIT_OK;
    }
    const [file] = positionalsOf(parsed.positionals, ["file.hsgen"]);
    let bytes: Uint8Array;
    try {
      bytes = await Deno.readFile(file!);
    } catch (error) {
      throw new CommandError(`Cannot read "${file}": ${describe(error)}`, { cause: error });
    }
    let description;
    try {
      description = describeArtifact(bytes, `Cannot inspect "${file}"`);
    } catch (error) {
      if (error instanceof SignatureError) throw new CommandError(error.message, { cause: error });
      throw error;
    }
    if (parsed.values.json === true) {
      io.out(JSON.stringify(description, null, 2));
      return EXIT_OK;
    }
    const { manifest } = description;
    io.out(`${file}  (${description.format}, not verified: run hotswap verify)`);
    io.out("manifest");
    io.out(`  digest     ${manifest.digest}`);
    io.out(`  entry      ${manifest.entry}`);
    io.out(
      `  contract   ${manifest.contract.name}@${manifest.contract.version} (${manifest.contract.symbol})`,
    );
    io.out(`  label      ${manifest.label}`);
    io.out(`  sequence   ${manifest.sequence}`);
    io.out(`  issuedAt   ${manifest.issuedAt}`);
    if (manifest.expiresAt !== undefined) io.out(`  expiresAt  ${manifest.expiresAt}`);
    io.out(`signatures (${description.signatures.length})`);
    for (const signature of description.signatures) io.out(`  ${signature.keyid}`);
    io.out(`files (${description.files.length})`);
    const width = Math.max(...description.files.map((f) => formatSize(f.size).length));
    for (const f of description.files) {
      io.out(`  ${formatSize(f.size).padStart(width)}  ${f.digest}  ${f.path}`);
    }
    return EXIT_OK;
  },
};
