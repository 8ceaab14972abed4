/**
 * Writing a channel's state as every fleet writer must: compare-and-set on
 * the revision read, so of two writers only one wins, and the other reads
 * again.
 *
 * @module
 */

import { HotswapError } from "../errors.ts";
import { type ChannelEntry, type ChannelState, checkDigest, checkName, type Store } from "../store/store.ts";
// Internal to the store adapters, on purpose: only an operator's read and reset look past a malformed state.
import { type UnreadableChannel, unreadableChannel } from "../store/_records.ts";

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

/** A channel as {@linkcode readChannel} reads it. */
export interface ChannelRead {
  /** Its entry (`undefined`: never written, or `unreadable`). */
  readonly entry: ChannelEntry | undefined;
  /** Set when the store holds a state for it that cannot be read (malformed). */
  readonly unreadable: UnreadableChannel | undefined;
}

/**
 * Reads a channel for an operator: a malformed state is an answer here, not
 * a failure, as the operator's way out starts by seeing it.
 *
 * @throws {HotswapError} `E_STORE` when the store fails.
 */
export async function readChannel(store: Store, channel: string): Promise<ChannelRead> {
  try {
    return { entry: await store.getChannel(channel), unreadable: undefined };
  } catch (error) {
    const unreadable = unreadableChannel(error);
    if (unreadable === undefined) throw error;
    return { entry: undefined, unreadable };
  }
}

/** What {@linkcode resetUnreadable} did. */
export type ResetOutcome =
  /** It wrote `{ stable }` over the state at `from`, which could not be read. */
  | { readonly reset: true; readonly from: number; readonly entry: ChannelEntry }
  /** It wrote nothing: the channel's state reads (`undefined`: never written). */
  | { readonly reset: false; readonly entry: ChannelEntry | undefined };

/**
 * Overwrites a channel state that cannot be read (malformed) with
 * `{ stable }`, by compare-and-set at the revision read, so a writer that
 * came first (and perhaps repaired it) is never overwritten. A readable
 * channel is left alone: it changes only through publish and rollouts.
 *
 * @param stable The digest of an artifact in the store (the caller checks it is there).
 * @throws {HotswapError} `E_STORE` when the store fails, or another writer
 *   won every attempt.
 */
export async function resetUnreadable(store: Store, channel: string, stable: string): Promise<ResetOutcome> {
  checkName("channel", channel);
  checkDigest(stable);
  for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
    const { entry, unreadable } = await readChannel(store, channel);
    if (unreadable === undefined) return { reset: false, entry };
    const state: ChannelState = { stable };
    const revision = await store.setChannel(channel, state, unreadable.revision);
    if (revision !== undefined) return { reset: true, from: unreadable.revision, entry: { state, revision } };
  }
  throw new HotswapError(
    "E_STORE",
    `Cannot reset channel "${channel}" in store "${store.url}": another writer changed it ${MAX_CAS_ATTEMPTS} times in a row; try again`,
  );
}
