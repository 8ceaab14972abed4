/**
 * Publishing artifacts to a fleet's store: stored by digest (the same files
 * published again, signed anew, replace the stored artifact), stable at
 * once on a channel that has none yet (the first publish of a channel
 * deploys it; the next ones are rolled out, see `rollout.ts`), and found
 * again by digest or label.
 *
 * @module
 */

import { HotswapError } from "../errors.ts";
import { type ArtifactInfo, checkName, type Store } from "../store/store.ts";
import { readChannel, updateChannel } from "./_channel_update.ts";

/** What {@linkcode publish} did. */
export interface PublishResult {
  /** The artifact as the store lists it. */
  readonly artifact: ArtifactInfo;
  /** Whether it became the channel's stable generation (the channel had none). */
  readonly madeStable: boolean;
}

/**
 * Stores an artifact by digest and, on a channel with no stable generation,
 * makes it stable.
 *
 * @param store The fleet's store.
 * @param channel The channel.
 * @param bytes The artifact.
 * @param meta Its digest and label, from its manifest.
 * @returns The stored artifact and whether it became stable.
 * @throws {HotswapError} `E_STORE` when the store fails, or when the
 *   channel's state cannot be read (then nothing is stored).
 *
 * @example The first artifact of a channel becomes stable
 * ```ts
 * import { publish } from "@hotswap/runtime/fleet";
 * import { openStore } from "@hotswap/runtime/store";
 * import { strictEqual } from "node:assert/strict";
 *
 * const dir = await Deno.makeTempDir();
 * {
 *   await using store = await openStore(`sqlite:${dir}/fleet.db`);
 *   const v1 = "sha256-" + "A".repeat(43) + "=", v2 = "sha256-" + "B".repeat(43) + "=";
 *   strictEqual((await publish(store, "app", new Uint8Array([1]), { digest: v1 })).madeStable, true);
 *   strictEqual((await publish(store, "app", new Uint8Array([2]), { digest: v2 })).madeStable, false);
 *   strictEqual((await store.getChannel("app"))?.state.stable, v1);
 * }
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function publish(
  store: Store,
  channel: string,
  bytes: Uint8Array,
  meta: { digest: string; label?: string | undefined },
): Promise<PublishResult> {
  checkName("channel", channel);
  // Read the channel before storing anything: one that cannot be read (a
  // malformed state) fails the publish here, with nothing changed.
  const { unreadable } = await readChannel(store, channel);
  if (unreadable !== undefined) {
    throw new HotswapError(
      "E_STORE",
      `Cannot publish ${meta.digest} to channel "${channel}" in store "${store.url}": the channel's state (revision ${unreadable.revision}) is malformed (${unreadable.reason}), so nothing was stored; reset the channel to an artifact already published with hotswap abort ${channel} --store ${store.url} --stable <digest|label> (hotswap status ${channel} --store ${store.url} lists them), then publish again`,
    );
  }
  const artifact = await store.putArtifact(bytes, meta);
  const entry = await updateChannel(
    store,
    channel,
    (current) => current?.state.stable === undefined ? { ...current?.state, stable: meta.digest } : undefined,
  );
  return { artifact, madeStable: entry !== undefined };
}

/**
 * Finds an artifact by digest or label; a label two artifacts carry is refused as ambiguous.
 *
 * @param store The fleet's store.
 * @param target A digest or a label.
 * @returns The artifact as the store lists it.
 * @throws {HotswapError} `E_NOT_FOUND` when none matches.
 *
 * @example Find an artifact by its label
 * ```ts
 * import { publish, resolveArtifact } from "@hotswap/runtime/fleet";
 * import { openStore } from "@hotswap/runtime/store";
 * import { strictEqual } from "node:assert/strict";
 *
 * const dir = await Deno.makeTempDir();
 * {
 *   await using store = await openStore(`sqlite:${dir}/fleet.db`);
 *   const v1 = "sha256-" + "A".repeat(43) + "=";
 *   await publish(store, "app", new Uint8Array([1]), { digest: v1, label: "v1" });
 *   strictEqual((await resolveArtifact(store, "v1")).digest, v1);
 * }
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function resolveArtifact(store: Store, target: string): Promise<ArtifactInfo> {
  const artifacts = await store.listArtifacts();
  const byDigest = artifacts.find((artifact) => artifact.digest === target);
  if (byDigest !== undefined) return byDigest;
  const byLabel = artifacts.filter((artifact) => artifact.label === target);
  // Two artifacts under one label (a label published again for other code): which one is
  // meant is the operator's to say, not the store's order.
  if (byLabel.length > 1) {
    throw new HotswapError(
      "E_NOT_FOUND",
      `Cannot tell which artifact "${target}" is in store "${store.url}": ${byLabel.length} artifacts carry that label (${
        byLabel.map((artifact) => artifact.digest).reverse().join(", ")
      }, the latest first); name it by its digest`,
    );
  }
  if (byLabel.length === 1) return byLabel[0]!;
  throw new HotswapError(
    "E_NOT_FOUND",
    `Cannot find artifact "${target}" in store "${store.url}": no digest or label matches; publish it first, or list them with "hotswap status"`,
  );
}
