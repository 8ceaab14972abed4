/**
 * Inline loading: the generation's snapshot is imported into the host's own
 * isolate. Fast, but the code shares the host's permissions and V8 never
 * frees an imported module; see the worker loader for isolation.
 *
 * @module
 */

import type { Contract } from "./contract.ts";
import { within } from "./deadline.ts";
import { HotswapError } from "./errors.ts";
import type { GenerationContext, GenerationRuntime } from "./generation.ts";
import { callHook, importError, resolveHandle } from "./handle.ts";
import type { Snapshot } from "./snapshot.ts";

/** Everything a loader needs to bring one generation up. */
export interface LoadRequest<T> {
  /** The host's contract. */
  readonly contract: Contract<T>;
  /** The graph to load. */
  readonly snapshot: Snapshot;
  /** What the factory receives; its signal is aborted if the load fails. */
  readonly context: GenerationContext;
  /** Milliseconds the import, factory and verification may take together. */
  readonly loadTimeout: number;
}

/** A strategy that turns a snapshot into a running generation. */
export type Loader = <T>(request: LoadRequest<T>) => Promise<GenerationRuntime<T>>;

/**
 * Imports a fresh instance of the snapshot in this isolate and resolves its handle.
 *
 * @throws {HotswapError} `E_IMPORT`, `E_SYMBOL`, `E_INIT`, `E_CONTRACT` or `E_TIMEOUT`.
 */
export async function loadInline<T>(request: LoadRequest<T>): Promise<GenerationRuntime<T>> {
  const { contract, snapshot, context } = request;
  const minted = snapshot.mint();
  // A module namespace that exports `then` is a thenable, and import() adopts
  // it: the import hangs or resolves to whatever `then` passes on. Importing
  // the entry through a module that re-exports its namespace as one binding
  // hands the namespace over untouched.
  const wrapper = URL.createObjectURL(
    new Blob([`import * as namespace from ${JSON.stringify(minted.url)};\nexport { namespace };`], {
      type: "text/javascript",
    }),
  );
  const revoke = () => {
    minted.revoke();
    URL.revokeObjectURL(wrapper);
  };
  let abandoned = false;
  const load = async () => {
    let namespace: Record<string, unknown>;
    try {
      ({ namespace } = await import(wrapper));
    } catch (error) {
      throw importError(error, minted.files, snapshot.entry);
    }
    // The deadline passed while the top level ran: the swap is already
    // refused, so the factory of this generation must not run at all.
    if (abandoned) throw new Error("abandoned after loadTimeout");
    return await resolveHandle(namespace, contract, context, snapshot.entry);
  };
  const outcome = await within(load(), request.loadTimeout);
  if (outcome.status !== "fulfilled") {
    abandoned = true;
    revoke();
    if (outcome.status === "rejected") throw outcome.reason;
    throw new HotswapError(
      "E_TIMEOUT",
      `Cannot load "${snapshot.entry}": import, factory and verification took longer than loadTimeout (${request.loadTimeout} ms); look for a top-level await or a factory that never settles`,
      { path: snapshot.entry },
    );
  }
  const { handle, hooks } = outcome.value;
  return {
    handle,
    handoff: () => callHook(hooks.handoff),
    dispose: async () => {
      await callHook(hooks.dispose);
    },
    unload: revoke,
  };
}
