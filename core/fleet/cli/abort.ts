/**
 * `hotswap abort <channel> --store <url> [--reason <text>]`: ends the
 * running rollout; every host goes back to the stable generation.
 *
 * @module
 */

import { abort as abortRollout } from "../rollout.ts";
import { EXIT_OK } from "../../cli/_common.ts";
import { channelCommand, type FleetCommand, short, STORE_HELP } from "./_args.ts";

const USAGE = `Usage: hotswap abort <channel> --store <url> [--reason <text>]

Aborts the rollout running on <channel>: every host returns to the stable
generation, and the rollout command following it exits 1 with the reason.
Exit 1 when no rollout is running.

${STORE_HELP}
  --reason <text>       why, shown by status and the rollout command (default: aborted by an operator)`;

/** The `abort` command. */
export const abort: FleetCommand = channelCommand({
  name: "abort",
  summary: "abort the running rollout: every host back on stable",
  usage: USAGE,
  options: { reason: { type: "string" } },
  read: (values) => typeof values.reason === "string" ? values.reason : undefined,
}, async ({ channel, store, flags: reason, io }) => {
  const rollout = await abortRollout(store, channel, reason);
  io.out(
    `${channel}: aborted the rollout to ${short(rollout.to)}; every host returns to ${short(rollout.from)}`,
  );
  return EXIT_OK;
});

/**
 * Runs `hotswap abort`.
 *
 * @param args The arguments after `abort`.
 * @returns The exit code.
 */
export function run(args: string[]): Promise<number> {
  return abort.run(args);
}
