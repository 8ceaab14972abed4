/**
 * `hotswap promote <channel> --store <url>`: makes the running rollout's
 * candidate stable now, skipping the steps left.
 *
 * @module
 */

import { promote as promoteRollout } from "../rollout.ts";
import { EXIT_OK } from "../../cli/_common.ts";
import { channelCommand, type FleetCommand, short, STORE_HELP } from "./_args.ts";

const USAGE = `Usage: hotswap promote <channel> --store <url>

Makes the candidate of the rollout running on <channel> its stable
generation now: every host loads it, the steps left are skipped, and the
rollout command following it exits 0. Exit 1 when no rollout is running.

${STORE_HELP}`;

/** The `promote` command. */
export const promote: FleetCommand = channelCommand({
  name: "promote",
  summary: "make the running rollout's candidate stable now",
  usage: USAGE,
  read: () => undefined,
}, async ({ channel, store, io }) => {
  const rollout = await promoteRollout(store, channel);
  io.out(`${channel}: promoted ${short(rollout.to)} (rollout ${rollout.id}, was at ${rollout.percent} %)`);
  return EXIT_OK;
});

/**
 * Runs `hotswap promote`.
 *
 * @param args The arguments after `promote`.
 * @returns The exit code.
 */
export function run(args: string[]): Promise<number> {
  return promote.run(args);
}
