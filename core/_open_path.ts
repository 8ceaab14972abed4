/**
 * A reference opened on a module path: options resolved, the snapshot
 * source and the loader of the isolation mode chosen, the first generation
 * committed. Shared by `registerHotswap` and the fleet host, in a module of
 * its own so that neither imports the other: a generation that imports this
 * library by path reads its graph, and a snapshot refuses import cycles.
 *
 * @module
 */

import type { Contract } from "./contract.ts";
import { ArtifactSource } from "./_artifact_source.ts";
import { type Hotswap, openHotswap } from "./hotswap.ts";
import { InlineLoader } from "./inline_loader.ts";
import type { HandleOf, Isolation } from "./isolation.ts";
import type { Loader, SnapshotSource } from "./loader.ts";
import { type HotswapOptions, type ResolvedOptions, resolveOptions } from "./options.ts";
import { ProcessLoader } from "./process_loader.ts";
import { type PathLike, toAbsolutePath } from "./roots.ts";
import { DiskReader } from "./_disk_reader.ts";
import { checkIntegrityPin } from "./_load_generation.ts";
import { WorkerLoader } from "./worker_loader.ts";

/**
 * Loads the first generation of `path`; what `registerHotswap(contract, path, options)` does.
 *
 * @throws {HotswapError} When the first generation cannot be loaded.
 * @throws {TypeError} When an option is malformed.
 */
export async function openPath<T, I extends Isolation = "inline">(
  contract: Contract<T>,
  path: PathLike,
  options: HotswapOptions & { readonly isolation?: I } = {},
): Promise<Hotswap<HandleOf<T, I>>> {
  if (typeof (contract as { check?: unknown } | undefined)?.check !== "function") {
    throw new TypeError(
      `Cannot register: the first argument must be a contract made by defineContract({ name, version, symbol, shape }), got ${
        contract === null ? "null" : typeof contract
      }`,
    );
  }
  const resolved = resolveOptions(options);
  const entry = toAbsolutePath(path);
  return await openHotswap<HandleOf<T, I>>({
    contract: contract as Contract<unknown>,
    options: resolved,
    strategies: { source: sourceFor(resolved, contract as Contract<unknown>), loader: loaderFor(resolved) },
    path: entry,
    integrity: checkIntegrityPin(options.integrity),
  });
}

/**
 * Where snapshots come from: module paths from disk, inside the roots, and
 * `.hsgen` artifacts from their one file, verified against `trust` if given.
 */
function sourceFor(options: ResolvedOptions, contract: Contract<unknown>): SnapshotSource {
  return new ArtifactSource({
    trust: options.trust,
    contract: contract.name,
    modules: new DiskReader(options.roots, options.maxSnapshotBytes),
  });
}

/** The loader of an isolation mode, configured from the options. */
function loaderFor(options: ResolvedOptions): Loader {
  switch (options.isolation) {
    case "inline":
      return new InlineLoader();
    case "worker":
      return new WorkerLoader(options.permissions, options.callTimeout);
    case "process":
      return new ProcessLoader({
        permissions: options.permissions,
        memoryLimit: options.memoryLimit,
        callTimeout: options.callTimeout,
        maxRestarts: options.maxRestarts,
        loadTimeout: options.loadTimeout,
      });
  }
}
