/**
 * `hotswap abort <channel> --store <url> [--reason <text>]`: ends the
 * running rollout; every host goes back to the stable generation.
 *
 * `hotswap abort <channel> --store <url> --stable <digest|label>`: resets a
 * channel whose state in the store cannot be read to that stable
 * generation, the one way out when every other command on it fails.
 *
 * @module
 */

import { abort as abortRollout } from "../rollout.ts";
import { resolveArtifact } from "../publish.ts";
import { readChannel, resetUnreadable } from "../_channel_update.ts";
import { HotswapError } from "../../errors.ts";
import { EXIT_OK, type Io, UsageError } from "../../cli/_common.ts";
import type { ChannelEntry, Store } from "../../store/store.ts";
import { channelCommand, type FleetCommand, short, STORE_HELP } from "./_args.ts";

const USAGE = `Usage: hotswap abort <channel> --store <url> [--reason <text>]
       hotswap abort <channel> --store <url> --stable <digest|label>

Aborts the rollout running on <channel>: every host returns to the stable
generation, and the rollout command following it exits 1 with the reason.
Exit 1 when no rollout is running.

With --stable, resets a channel whose state in the store cannot be read (a
broken tool, or someone with write access to the store, wrote a malformed
one; every other command on the channel then fails, and hosts keep serving
what they have): the state becomes that artifact as stable, with no rollout,
written only over the malformed revision. The artifact must be in the store
(hotswap status lists them). Hosts load it as any new stable generation,
checked against their trust list, so name the one they serve or a newer one:
an older sequence is refused as replayed. On a channel whose state reads,
--stable is refused (exit 2): change it with hotswap rollout.

${STORE_HELP}
  --reason <text>       why, shown by status and the rollout command (default: aborted by an operator)
  --stable <digest|label>
                        reset a malformed channel state to this artifact as stable`;

/** The `abort` command. */
export const abort: FleetCommand = channelCommand({
  name: "abort",
  summary: "abort the running rollout: every host back on stable; or reset a malformed channel",
  usage: USAGE,
  options: { reason: { type: "string" }, stable: { type: "string" } },
  read: (values) => {
    const reason = typeof values.reason === "string" ? values.reason : undefined;
    const stable = typeof values.stable === "string" ? values.stable : undefined;
    if (stable !== undefined && reason !== undefined) {
      throw new UsageError(
        "--reason goes with aborting a rollout, --stable with resetting a malformed channel: give one",
      );
    }
    if (stable === "") throw new UsageError("--stable needs a digest or a label");
    return { reason, stable };
  },
}, async ({ channel, store, flags: { reason, stable }, io }) => {
  if (stable !== undefined) return await reset(store, channel, stable, io);
  const rollout = await abortRollout(store, channel, reason);
  io.out(
    `${channel}: aborted the rollout to ${short(rollout.to)}; every host returns to ${short(rollout.from)}`,
  );
  return EXIT_OK;
});

/** `--stable`: writes `{ stable }` over a channel state that cannot be read, and only over such a one. */
async function reset(store: Store, channel: string, target: string, io: Io): Promise<number> {
  // A readable channel first: that mistake matters more than a mistyped artifact.
  const before = await readChannel(store, channel);
  if (before.unreadable === undefined) throw readable(store, channel, before.entry);
  const artifact = await resolveArtifact(store, target).catch((error) => {
    if (!(error instanceof HotswapError) || error.code !== "E_NOT_FOUND") throw error;
    // "Publish it first" would not do: publish reads the channel, and fails on it.
    throw new HotswapError(
      "E_NOT_FOUND",
      `Cannot reset channel "${channel}" to "${target}": the store has no artifact with that digest or label; name one it has (hotswap status ${channel} --store ${store.url} lists them), then publish and roll out the one you meant`,
      { cause: error },
    );
  });
  const outcome = await resetUnreadable(store, channel, artifact.digest);
  // Another writer repaired the channel between the two reads: leave its state.
  if (!outcome.reset) throw readable(store, channel, outcome.entry);
  const label = artifact.label === undefined ? "" : ` (${artifact.label})`;
  io.out(
    `${channel}: reset its malformed state (revision ${outcome.from}) to stable ${
      short(artifact.digest)
    }${label}, now revision ${outcome.entry.revision}; hosts following ${channel} load it`,
  );
  return EXIT_OK;
}

function readable(store: Store, channel: string, entry: ChannelEntry | undefined): UsageError {
  if (entry === undefined) {
    return new UsageError(
      `--stable resets a channel whose state cannot be read, and "${channel}" has no state yet: publish to it with hotswap publish <file>.hsgen --store ${store.url} --channel ${channel}`,
    );
  }
  return new UsageError(
    `--stable resets a channel whose state cannot be read, and the state of "${channel}" reads (revision ${entry.revision}, stable ${
      short(entry.state.stable)
    }): move it to another artifact with hotswap rollout ${channel} --store ${store.url} --to <digest|label>, or end its rollout with hotswap abort ${channel} --store ${store.url}`,
  );
}

/**
 * Runs `hotswap abort`.
 *
 * @param args The arguments after `abort`.
 * @returns The exit code.
 */
export function run(args: string[]): Promise<number> {
  return abort.run(args);
}
