/**
 * What `hotswap status` shows: a channel's desired state, its rollout, the
 * gate's verdict now, and every host's last report with what the channel
 * wants it to run.
 *
 * @module
 */

import {
  type ArtifactInfo,
  checkName,
  type HostReport,
  type RolloutState,
  type Store,
} from "../store/store.ts";
import { desiredDigest, inCanary } from "./canary.ts";
import { type GateDecision, isLive, judge } from "./gate.ts";
import { readChannel } from "./_channel_update.ts";

/** A host as {@linkcode channelStatus} describes it. */
export interface HostStatus extends HostReport {
  /** Whether its last report is recent. */
  readonly live: boolean;
  /** Whether it is in the running rollout's canary. */
  readonly canary: boolean;
  /** What the channel wants it to run now. */
  readonly wants: string | undefined;
}

/** A channel's state, its hosts and the gate's view, for `hotswap status`. */
export interface ChannelStatus {
  /** The channel. */
  readonly channel: string;
  /** Its revision in the store (0: never written). */
  readonly revision: number;
  /**
   * Why its state cannot be read, when the store holds a malformed one
   * (`stable`, `rollout` and `gate` are then unknown); reset it with
   * `hotswap abort <channel> --store <url> --stable <digest|label>`.
   */
  readonly unreadable: string | undefined;
  /** Its stable digest. */
  readonly stable: string | undefined;
  /** The running or last rollout. */
  readonly rollout: RolloutState | undefined;
  /** The gate's verdict now, while a rollout runs. */
  readonly gate: GateDecision | undefined;
  /** Every host that reported. */
  readonly hosts: readonly HostStatus[];
  /** The store's artifacts. */
  readonly artifacts: readonly ArtifactInfo[];
}

/**
 * Reads a channel's state, hosts and the gate's verdict.
 *
 * @param store The fleet's store.
 * @param channel The channel.
 * @returns The status; a channel never written has revision 0, one whose
 *   state cannot be read has `unreadable` set, its hosts and the artifacts.
 * @throws {TypeError} A malformed channel name.
 * @throws {HotswapError} `E_STORE` when the store fails.
 *
 * @example The status of a channel just published to
 * ```ts
 * import { channelStatus, publish } from "@hotswap/runtime/fleet";
 * import { openStore } from "@hotswap/runtime/store";
 * import { strictEqual } from "node:assert/strict";
 *
 * const dir = await Deno.makeTempDir();
 * {
 *   await using store = await openStore(`sqlite:${dir}/fleet.db`);
 *   strictEqual((await channelStatus(store, "app")).revision, 0);
 *   const digest = "sha256-" + "A".repeat(43) + "=";
 *   await publish(store, "app", new Uint8Array([1]), { digest, label: "v1" });
 *   const status = await channelStatus(store, "app");
 *   strictEqual(status.stable, digest);
 *   strictEqual(status.artifacts[0]?.label, "v1");
 *   strictEqual(status.hosts.length, 0);
 * }
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function channelStatus(store: Store, channel: string): Promise<ChannelStatus> {
  checkName("channel", channel);
  const [read, reports, artifacts] = await Promise.all([
    readChannel(store, channel),
    store.listReports(channel),
    store.listArtifacts(),
  ]);
  const { entry, unreadable } = read;
  const now = Date.now();
  const rollout = entry?.state.rollout;
  const hosts = reports.map((report): HostStatus => ({
    ...report,
    live: isLive(report, now),
    canary: rollout?.status === "running" && inCanary(report.host, rollout.id, rollout.percent),
    wants: desiredDigest(entry?.state, report.host),
  }));
  return {
    channel,
    revision: entry?.revision ?? unreadable?.revision ?? 0,
    unreadable: unreadable?.reason,
    stable: entry?.state.stable,
    rollout,
    gate: rollout?.status === "running" ? judge(rollout, reports, now) : undefined,
    hosts,
    artifacts,
  };
}
