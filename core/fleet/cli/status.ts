/**
 * `hotswap status <channel> --store <url> [--json]`: the channel's stable
 * generation, its rollout, the gate's verdict now, and every host.
 *
 * @module
 */

import { channelStatus } from "../status.ts";
import { EXIT_FAILURE, EXIT_OK } from "../../cli/_common.ts";
import { channelCommand, type FleetCommand, short, STORE_HELP } from "./_args.ts";

const USAGE = `Usage: hotswap status <channel> --store <url> [--json]

Shows <channel>'s stable generation, its rollout (running, promoted or
aborted, and why), what the gate would decide now, and each host's last
report: what it serves, what the channel wants it to run, its calls, errors
and latency. --json prints the same as one JSON object.

When the channel's state in the store cannot be read (malformed: written by
a broken tool or by hand), it shows the hosts and the artifacts, says how to
reset the state with hotswap abort <channel> --stable <digest|label>, and
exits 1.

${STORE_HELP}
  --json                machine-readable output`;

/** The `status` command. */
export const status: FleetCommand = channelCommand({
  name: "status",
  summary: "show a channel, its rollout and its hosts",
  usage: USAGE,
  options: { json: { type: "boolean" } },
  read: (values) => values.json === true,
}, async ({ channel, store, flags: json, io }) => {
  const s = await channelStatus(store, channel);
  const done = () => {
    if (s.unreadable === undefined) return EXIT_OK;
    io.err(
      `hotswap status: Cannot read the state of channel "${channel}": it is malformed (${s.unreadable}); reset it to one of the artifacts with hotswap abort ${channel} --store ${store.url} --stable <digest|label>`,
    );
    return EXIT_FAILURE;
  };
  if (json) {
    io.out(JSON.stringify(s, null, 2));
    return done();
  }
  const label = (digest: string | undefined) => {
    const found = s.artifacts.find((artifact) => artifact.digest === digest)?.label;
    return found === undefined ? short(digest) : `${short(digest)} (${found})`;
  };
  io.out(`channel ${channel} (revision ${s.revision})`);
  if (s.unreadable !== undefined) io.out(`  state    cannot be read: ${s.unreadable}`);
  else if (s.revision === 0 && s.hosts.length === 0) {
    io.out(`  stable   none: nothing was published to this channel and no host follows it; check its name`);
  } else io.out(`  stable   ${label(s.stable)}`);
  const r = s.rollout;
  if (r !== undefined) {
    io.out(
      `  rollout  ${r.id} ${r.status}: ${label(r.from)} -> ${label(r.to)}, step ${
        r.step + 1
      }/${r.steps.length} (${r.percent} %)`,
    );
    if (r.reason !== undefined) io.out(`           ${r.reason}`);
  }
  if (s.gate !== undefined) {
    io.out(`  gate     ${s.gate.verdict === "pass" ? "pass" : `${s.gate.verdict}: ${s.gate.reason}`}`);
  }
  io.out(`  hosts    ${s.hosts.filter((host) => host.live).length} live of ${s.hosts.length}`);
  for (const host of s.hosts) {
    const flags = [host.live ? "" : "stale", host.canary ? "canary" : ""].filter((flag) => flag !== "")
      .join(",");
    io.out(
      `    ${host.host.padEnd(16)} ${host.state.padEnd(8)} gen ${String(host.generation).padEnd(4)} ${
        label(host.digest)
      }${
        s.unreadable === undefined && host.wants !== host.digest ? ` wants ${label(host.wants)}` : ""
      }  ${host.errors}/${host.calls} errors  p50 ${host.p50.toFixed(1)} ms  p99 ${host.p99.toFixed(1)} ms${
        flags === "" ? "" : `  [${flags}]`
      }`,
    );
    if (host.refused !== undefined) {
      io.out(`      refused ${short(host.refused.digest)}: ${host.refused.code}: ${host.refused.message}`);
    }
  }
  if (s.unreadable !== undefined) {
    // What a reset can name: the artifacts in the store, newest last.
    io.out(`  artifacts ${s.artifacts.length} in the store`);
    for (const artifact of s.artifacts) {
      io.out(
        `    ${artifact.digest}  ${artifact.label ?? "-"}  published ${
          new Date(artifact.publishedAt).toISOString()
        }`,
      );
    }
  }
  return done();
});

/**
 * Runs `hotswap status`.
 *
 * @param args The arguments after `status`.
 * @returns The exit code.
 */
export function run(args: string[]): Promise<number> {
  return status.run(args);
}
