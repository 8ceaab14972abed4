/**
 * The artifacts a follower has fetched, kept in memory so going back to the
 * stable generation (an aborted rollout) fetches nothing.
 *
 * @module
 */

import { HotswapError } from "../errors.ts";
import type { Store } from "../store/store.ts";
import { checkDigest } from "../store/schema.ts";

/** Artifacts kept in memory. */
const CACHED_ARTIFACTS = 4;

/** Artifacts by digest, from memory or the store; the few most recent kept. */
export class ArtifactCache {
  readonly #store: Store;
  readonly #onError: (error: unknown) => void;
  readonly #bytes = new Map<string, Uint8Array>();

  /**
   * @param store Where artifacts are fetched from.
   * @param onError Told when the store fails.
   */
  constructor(store: Store, onError: (error: unknown) => void) {
    this.#store = store;
    this.#onError = onError;
  }

  /**
   * The artifact's bytes.
   *
   * @param digest The artifact.
   * @param keep A digest never evicted to make room: the one serving.
   * @returns The bytes, or `undefined` (try later) when the store failed; `onError` was told.
   * @throws {HotswapError} `E_NOT_FOUND` when the store has no such artifact, or `digest` is none.
   */
  async get(digest: string, keep: string): Promise<Uint8Array | undefined> {
    const cached = this.#bytes.get(digest);
    if (cached !== undefined) return cached;
    // A channel naming no digest at all is refused, not taken for a store that failed (and asked again at every tick).
    try {
      checkDigest(digest);
    } catch (error) {
      throw new HotswapError(
        "E_NOT_FOUND",
        `Cannot load ${JSON.stringify(digest)}: ${
          (error as Error).message
        }; publish an artifact and roll out its digest`,
        { cause: error },
      );
    }
    let bytes: Uint8Array | undefined;
    try {
      bytes = await this.#store.getArtifact(digest);
    } catch (error) {
      this.#onError(error);
      return undefined;
    }
    if (bytes === undefined) {
      throw new HotswapError(
        "E_NOT_FOUND",
        `Cannot load ${digest}: the store has no such artifact; publish it`,
      );
    }
    this.#bytes.set(digest, bytes);
    for (const key of this.#bytes.keys()) {
      if (this.#bytes.size <= CACHED_ARTIFACTS) break;
      if (key !== keep && key !== digest) this.#bytes.delete(key);
    }
    return bytes;
  }

  /** Whether the bytes of `digest` are kept here: a get() would not ask the store. */
  has(digest: string): boolean {
    return this.#bytes.has(digest);
  }

  /**
   * Drops the bytes kept of `digest`: they were refused, and the artifact may
   * be published again under the same digest (the same files, signed anew).
   */
  forget(digest: string): void {
    this.#bytes.delete(digest);
  }
}
