/**
 * `hotswap verify <file>.hsgen --trust <trust.json>`: every check a host with
 * that trust list makes (the sequence aside, which depends on the host's
 * history); exit 0, or 1 with the reason on standard error.
 *
 * @module
 */

import { openVerifiedArtifact } from "../artifact.ts";
import { declaredExports } from "../_declared_exports.ts";
import { HotswapError } from "../errors.ts";
import { SignatureError } from "../signature.ts";
import {
  type Command,
  CommandError,
  describe,
  EXIT_FAILURE,
  EXIT_OK,
  parseFlags,
  positionalsOf,
  required,
} from "./_common.ts";

const USAGE = `Usage: hotswap verify <file>.hsgen --trust <trust.json> [--contract <name>]

Checks an artifact as a host with this trust list would: its format, a
signature by a trusted key that is neither revoked nor expired, the key's
scope, the artifact's expiry, and its files against the signed digest.
Exit 0 when it would load; exit 1 with the reason (unsigned, tampered,
unknown key, revoked, expired, scope, or an entry that does not export
the contract's symbol) on standard error.

  --trust <trust.json>  the trust list hosts use
  --contract <name>     the contract name the host loads (default: the manifest's)`;

/** The `verify` command. */
export const verify: Command = {
  summary: "check an artifact against a trust list (exit 0 or 1)",
  usage: USAGE,
  async run(args, io) {
    const parsed = parseFlags(args, { trust: { type: "string" }, contract: { type: "string" } });
    if (parsed === undefined) {
      io.out(USAGE);
      return EXIT_OK;
    }
    const [file] = positionalsOf(parsed.positionals, ["file.hsgen"]);
    const trust = required(parsed.values, "trust", "<trust.json>: the trust list to verify against");
    const contract = parsed.values.contract as string | undefined;
    try {
      const snapshot = await openVerifiedArtifact(file!, {
        trust,
        ...(contract === undefined ? {} : { contract }),
      });
      const provenance = snapshot.provenance!;
      const { manifest } = provenance;
      // As pack checks: an artifact packed before it did, or by another tool, is caught here, not by every host.
      const exported = declaredExports(snapshot);
      const { symbol } = manifest.contract;
      if (exported !== undefined && !exported.has(symbol)) {
        io.err(
          `Refused (symbol): ${file}'s manifest names "${symbol}" as the symbol of contract ${manifest.contract.name}@${manifest.contract.version}, and its entry ${manifest.entry} does not export it (exports found: ${
            [...exported].map((name) => JSON.stringify(name)).join(", ") || "none"
          }); a host whose contract uses that symbol refuses it with E_SYMBOL: pack the entry that exports it, or pack it for the contract it serves`,
        );
        return EXIT_FAILURE;
      }
      io.out(
        `Verified ${file}: ${manifest.contract.name}@${manifest.contract.version}, label ${manifest.label}, sequence ${manifest.sequence}`,
      );
      io.out(`  digest    ${manifest.digest}`);
      io.out(`  signed by ${provenance.keyid}`);
      return EXIT_OK;
    } catch (error) {
      if (error instanceof SignatureError) {
        io.err(`Refused (${error.reason}): ${error.message}`);
        return EXIT_FAILURE;
      }
      if (error instanceof HotswapError) throw new CommandError(describe(error), { cause: error });
      throw error;
    }
  },
};
