/**
 * Whether a candidate can serve a channel at all: an artifact is packed for
 * one contract, and a channel's hosts load one contract. A candidate packed
 * for another (a different name, or a breaking version) is refused by every
 * host, so a rollout to it is refused before it starts: with no host in the
 * canary yet, the gate would have nothing to judge, promote it, and leave the
 * channel with a stable generation no host can load.
 *
 * @module
 */

import { HotswapError } from "../errors.ts";
import { type ContractIdentity, describeArtifact } from "../_artifact_format.ts";
import type { Store } from "../store/store.ts";

/** The contract an artifact was packed for; `undefined` for bytes that are no artifact (a bare store's). */
export function packedFor(bytes: Uint8Array | undefined): ContractIdentity | undefined {
  if (bytes === undefined) return undefined;
  try {
    return describeArtifact(bytes, "").manifest.contract;
  } catch {
    return undefined;
  }
}

/**
 * Whether hosts that load an artifact packed for `serving` can load one
 * packed for `candidate`: the same contract name (a host with a trust list
 * refuses another, as out of its key's scope) and the same symbol (the
 * export every host looks for). The version is the contract module's
 * business: hosts check the handle's shape and brand, not the manifest's
 * version.
 */
export function sameContract(serving: ContractIdentity, candidate: ContractIdentity): boolean {
  return serving.name === candidate.name && serving.symbol === candidate.symbol;
}

/**
 * Refuses to roll out `candidate` on a channel whose hosts serve a stable
 * artifact packed for another contract: the rollout would take them from a
 * generation that works to one they refuse. With no live host serving the
 * stable artifact (none up, or all refusing it, and a host whose first
 * generation is refused exits), there is nothing to protect, and a rollout
 * may be the way out of a wrong stable. Bytes that are no artifact are not
 * judged.
 *
 * @param servingStable Whether a live host reports serving the stable artifact.
 * @throws {HotswapError} `E_CONTRACT` naming both contracts.
 */
export async function checkRolloutContract(
  store: Store,
  channel: string,
  stable: string,
  candidate: string,
  servingStable: boolean,
): Promise<void> {
  if (stable === candidate || !servingStable) return;
  const [serving, packed] = await Promise.all([
    store.getArtifact(stable).then(packedFor),
    store.getArtifact(candidate).then(packedFor),
  ]);
  if (serving === undefined || packed === undefined || sameContract(serving, packed)) return;
  throw new HotswapError(
    "E_CONTRACT",
    `Cannot roll out ${candidate} on "${channel}": it was packed for contract ${packed.name} (${packed.symbol}), and the channel serves ${serving.name} (${serving.symbol}) (stable ${stable}), so its hosts would refuse it; roll it out on a channel of its own, or pack the generation for ${serving.name}`,
  );
}
