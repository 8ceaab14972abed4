/**
 * Sticky canary membership: a host runs the candidate when a hash of its id
 * and the rollout's id falls under the step's percentage. Every host and the
 * controller compute the same answer without asking anyone, and a host in
 * the canary at 10 % stays in at 50 % (its hash does not move, the bar
 * rises), as Cloudflare's version affinity keeps a key on one version. A
 * new rollout id draws a new canary, so one host is not always first.
 *
 * @module
 */

import type { ChannelState } from "../store/store.ts";

const encoder = new TextEncoder();

/**
 * Where a host falls for a rollout, in [0, 10000): FNV-1a over
 * `<rollout id>\n<host id>`, then murmur3's finaliser so that ids differing
 * in one character land far apart.
 *
 * @param host The host's id.
 * @param rolloutId The rollout's id.
 * @returns The host's bucket, in hundredths of a percent.
 *
 * @example Every host and the controller compute the same bucket
 * ```ts
 * import { canaryBucket, inCanary } from "@hotswap/runtime/fleet";
 * import { ok, strictEqual } from "node:assert/strict";
 *
 * const bucket = canaryBucket("web-1", "r1");
 * ok(bucket >= 0 && bucket < 10_000);
 * strictEqual(canaryBucket("web-1", "r1"), bucket);
 * strictEqual(inCanary("web-1", "r1", (bucket + 1) / 100), true);
 * ```
 */
export function canaryBucket(host: string, rolloutId: string): number {
  let hash = 0x811c9dc5;
  for (const byte of encoder.encode(`${rolloutId}\n${host}`)) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193);
  }
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  hash = Math.imul(hash, 0xc2b2ae35);
  hash ^= hash >>> 16;
  return (hash >>> 0) % 10_000;
}

/**
 * Whether `host` is in the canary of rollout `rolloutId` at `percent`.
 *
 * @param host The host's id.
 * @param rolloutId The rollout's id.
 * @param percent Share of hosts in the canary, 0-100.
 * @returns `true` when the host should run the candidate.
 *
 * @example Hosts stay in as the canary grows
 * ```ts
 * import { inCanary } from "@hotswap/runtime/fleet";
 * import { ok } from "node:assert/strict";
 *
 * const hosts = Array.from({ length: 100 }, (_, i) => `host-${i}`);
 * const at10 = hosts.filter((h) => inCanary(h, "r1", 10));
 * ok(at10.every((h) => inCanary(h, "r1", 50)));
 * ok(hosts.every((h) => inCanary(h, "r1", 100)));
 * ```
 */
export function inCanary(host: string, rolloutId: string, percent: number): boolean {
  return canaryBucket(host, rolloutId) < Math.round(percent * 100);
}

/**
 * The digest a host should run: the candidate while a rollout runs and the
 * host is in its canary, else the stable one.
 *
 * @param state The channel's desired state (`undefined`: never written).
 * @param host The host's id.
 * @returns The digest, or `undefined` when the channel has no generation yet.
 *
 * @example Canary hosts get the candidate while the rollout runs
 * ```ts
 * import { desiredDigest } from "@hotswap/runtime/fleet";
 * import { strictEqual } from "node:assert/strict";
 *
 * const from = "sha256-" + "A".repeat(43) + "=", to = "sha256-" + "B".repeat(43) + "=";
 * const rollout = {
 *   id: "r1", to, from, steps: [100], step: 0, percent: 100, status: "running" as const, bakeMs: 0,
 *   maxErrorRate: 0.01, progressDeadlineMs: 60_000, startedAt: 0, stepStartedAt: 0,
 * };
 * strictEqual(desiredDigest({ stable: from, rollout }, "web-1"), to);
 * strictEqual(desiredDigest({ stable: from }, "web-1"), from);
 * strictEqual(desiredDigest(undefined, "web-1"), undefined);
 * ```
 */
export function desiredDigest(state: ChannelState | undefined, host: string): string | undefined {
  const rollout = state?.rollout;
  if (rollout !== undefined && rollout.status === "running" && inCanary(host, rollout.id, rollout.percent)) {
    return rollout.to;
  }
  return state?.stable;
}
