/**
 * Writing a channel's state as every fleet writer must: compare-and-set on
 * the revision read, so of two writers only one wins, and the other reads
 * again.
 *
 * @module
 */

import { HotswapError } from "../errors.ts";
import { type ChannelEntry, type ChannelState, checkName, type Store } from "../store/store.ts";

/** Compare-and-set retries before giving up on a channel that changes under every write. */
const MAX_CAS_ATTEMPTS = 50;

/**
 * Read-modify-write of a channel with compare-and-set, retried when another
 * writer came first.
 *
 * @param change The new state from the entry read (`undefined`: a channel
 *   never written); returning `undefined` writes nothing.
 * @returns The entry written, or `undefined` when `change` wrote nothing.
 * @throws {HotswapError} `E_STORE` when another writer won every attempt.
 */
export async function updateChannel(
  store: Store,
  channel: string,
  change: (entry: ChannelEntry | undefined) => ChannelState | undefined | Promise<ChannelState | undefined>,
): Promise<ChannelEntry | undefined> {
  checkName("channel", channel);
  for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
    const entry = await store.getChannel(channel);
    const next = await change(entry);
    if (next === undefined) return undefined;
    const revision = await store.setChannel(channel, next, entry?.revision ?? 0);
    if (revision !== undefined) return { state: next, revision };
  }
  throw new HotswapError(
    "E_STORE",
    `Cannot write channel "${channel}" in store "${store.url}": another writer changed it ${MAX_CAS_ATTEMPTS} times in a row; try again`,
  );
}

/**
 * Writes `state` over `entry` once, if the channel's revision is still the
 * entry's: for a writer that re-reads and decides again when it lost.
 *
 * @returns The entry written, or `undefined` when another writer came first.
 */
export async function writeChannel(
  store: Store,
  channel: string,
  entry: ChannelEntry,
  state: ChannelState,
): Promise<ChannelEntry | undefined> {
  const revision = await store.setChannel(channel, state, entry.revision);
  return revision === undefined ? undefined : { state, revision };
}
