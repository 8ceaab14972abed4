/**
 * Fleet rollout (SPEC section 13): hosts follow a channel of a store and
 * report back; a controller moves the channel from its stable generation to
 * a candidate in steps, gated on the reports, with an automatic way back.
 *
 * ```ts
 * import { publish, runRollout } from "@hotswap/runtime/fleet";
 * import { openStore } from "@hotswap/runtime/store";
 * import { strictEqual } from "node:assert/strict";
 *
 * const dir = await Deno.makeTempDir();
 * {
 *   await using store = await openStore(`sqlite:${dir}/fleet.db`);
 *   const v1 = "sha256-" + "A".repeat(43) + "=", v2 = "sha256-" + "B".repeat(43) + "=";
 *   await publish(store, "app", new Uint8Array([1]), { digest: v1 });
 *   await publish(store, "app", new Uint8Array([2]), { digest: v2 });
 *   // No host reports: every step passes at once.
 *   const outcome = await runRollout(store, "app", v2, { steps: [50, 100], bakeMs: 0 });
 *   strictEqual(outcome.status, "promoted");
 *   strictEqual((await store.getChannel("app"))?.state.stable, v2);
 * }
 * await Deno.remove(dir, { recursive: true });
 * ```
 *
 * @module
 */

export { canaryBucket, desiredDigest, inCanary } from "./canary.ts";
export { Follower } from "./follower.ts";
export type { FollowerOptions, LoadStep, ServingMetrics } from "./follower_options.ts";
export { type CohortSummary, type GateDecision, isLive, judge } from "./gate.ts";
export { type FleetHost, type FleetHostOptions, followChannel } from "./host.ts";
export { abort, beginRollout, promote, type RolloutOutcome, runRollout } from "./rollout.ts";
export { publish, type PublishResult, resolveArtifact } from "./publish.ts";
export type { RolloutEvent, RolloutOptions } from "./rollout_options.ts";
export { type ChannelStatus, channelStatus, type HostStatus } from "./status.ts";
