/**
 * `hotswap publish <file>.hsgen --store <url> --channel <c>`: stores the
 * artifact by digest; on a channel with no stable generation yet, makes it
 * stable (the first publish of a channel deploys it).
 *
 * @module
 */

import { describeArtifact, openArtifactBytes } from "../../artifact.ts";
import { DEFAULT_MAX_SNAPSHOT_BYTES } from "../../snapshot.ts";
import { publish as publishArtifact } from "../publish.ts";
import { packedFor, sameContract } from "../_contract_match.ts";
import { EXIT_FAILURE, EXIT_OK, positionalsOf, required } from "../../cli/_common.ts";
import { command, type FleetCommand, short, STORE_HELP, storeFrom } from "./_args.ts";

const USAGE = `Usage: hotswap publish <file>.hsgen --store <url> --channel <channel>

Stores a signed artifact in the fleet's store, under its digest. On a channel
that has no stable generation yet, it becomes the stable one and every host
following the channel loads it; otherwise roll it out with
hotswap rollout <channel> --to <digest|label>. Hosts verify its signature
against their own trust list before loading it.

${STORE_HELP}
  --channel <channel>   the channel, such as so/prod`;

/** The `publish` command. */
export const publish: FleetCommand = command(
  "publish",
  "store an artifact for a channel (stable if the channel has none)",
  USAGE,
  { store: { type: "string" }, channel: { type: "string" } },
  async (values, positionals, io) => {
    const [file] = positionalsOf(positionals, ["file.hsgen"]);
    const channel = required(values, "channel", "<channel>: the channel hosts follow");
    required(values, "store", "<url>: sqlite:<file> or nats://host:port");
    let bytes: Uint8Array;
    try {
      bytes = await Deno.readFile(file!);
    } catch (error) {
      io.err(
        `hotswap publish: Cannot read "${file}": ${error instanceof Error ? error.message : String(error)}`,
      );
      return EXIT_FAILURE;
    }
    const subject = `Cannot publish "${file}"`;
    const { manifest, signatures } = describeArtifact(bytes, subject);
    // The store keeps one artifact per digest, and a later publish of the same digest replaces it
    // (the same files, signed anew): bytes that would break every host loading it never get there.
    if (signatures.length === 0) {
      io.err(
        `hotswap publish: ${subject}: unsigned: hosts following a channel load only signed artifacts; pack it with --key`,
      );
      return EXIT_FAILURE;
    }
    await openArtifactBytes(bytes, file!, {
      trust: undefined,
      contract: undefined,
      minSequence: undefined,
      maxBytes: DEFAULT_MAX_SNAPSHOT_BYTES,
      now: new Date(),
    });
    await using store = await storeFrom(values);
    const { artifact, madeStable } = await publishArtifact(store, channel, bytes, {
      digest: manifest.digest,
      label: manifest.label,
    });
    io.out(`Published ${file} (${manifest.contract.name}, label ${manifest.label}) as ${artifact.digest}`);
    const namesakes = (await store.listArtifacts()).filter((other) =>
      other.label === manifest.label && other.digest !== artifact.digest
    );
    if (namesakes.length > 0) {
      io.err(
        `hotswap publish: label ${manifest.label} also names ${
          namesakes.map((other) => other.digest).join(", ")
        }: name these artifacts by digest from now on (a label two artifacts carry is refused as ambiguous)`,
      );
    }
    const target = namesakes.length > 0 ? artifact.digest : manifest.label;
    const stable = madeStable ? artifact.digest : (await store.getChannel(channel))?.state.stable;
    const serving = stable === undefined || stable === artifact.digest
      ? undefined
      : packedFor(await store.getArtifact(stable));
    if (serving !== undefined && !sameContract(serving, manifest.contract)) {
      // Stored all the same (another channel may roll it out), but said now rather than at the rollout.
      io.err(
        `hotswap publish: ${file} was packed for contract ${manifest.contract.name}@${manifest.contract.version}, and channel ${channel} serves ${serving.name}@${serving.version}: its hosts would refuse it, and a rollout to it there is refused while they serve the stable one; roll it out on a channel of its own`,
      );
      return EXIT_OK;
    }
    io.out(
      madeStable
        ? `  ${channel}: stable is now ${short(artifact.digest)}`
        : stable === artifact.digest
        ? `  ${channel}: it is the stable generation already; nothing to roll out`
        : `  ${channel}: roll it out with hotswap rollout ${channel} --store ${store.url} --to ${target}`,
    );
    return EXIT_OK;
  },
);

/**
 * Runs `hotswap publish`.
 *
 * @param args The arguments after `publish`.
 * @returns The exit code.
 */
export function run(args: string[]): Promise<number> {
  return publish.run(args);
}
