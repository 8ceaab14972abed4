/**
 * Worker isolation: each generation runs in its own Deno Worker with only
 * the permissions it is granted (SPEC 6.4).
 *
 * @module
 */

import { HotswapError } from "./errors.ts";
import type { GenerationRuntime } from "./generation.ts";
import type { LoadRequest } from "./inline_loader.ts";

/** Deno permissions a worker generation runs with. */
export type WorkerPermissions = Deno.PermissionOptionsObject;

/**
 * Loads a generation in a dedicated Worker.
 *
 * @throws {HotswapError} `E_UNSUPPORTED` until worker isolation lands.
 */
export function loadInWorker<T>(
  request: LoadRequest<T>,
  _permissions: WorkerPermissions | undefined,
): Promise<GenerationRuntime<T>> {
  return Promise.reject(
    new HotswapError(
      "E_UNSUPPORTED",
      `Cannot load "${request.snapshot.entry}" in a worker: worker isolation is not implemented yet; use isolation "inline"`,
      { path: request.snapshot.entry },
    ),
  );
}
