/**
 * The names a snapshot's entry exports, read from its modules' script
 * forms (see `_script_transform.ts`) without running any of it: what
 * `packArtifact` checks the contract's symbol against, so an artifact no
 * host could load is not signed. `undefined` when a module on the way has no
 * script form (a decorator, an enum, …): the load decides then.
 *
 * @module
 */

import type { Snapshot, SnapshotModule } from "./snapshot.ts";

/**
 * The entry's export names, or `undefined` when they cannot be known without running it.
 *
 * @param snapshot A snapshot read from disk (its modules in post-order: the entry last).
 */
export function declaredExports(snapshot: Snapshot): ReadonlySet<string> | undefined {
  return exportsOf(snapshot.modules, snapshot.modules.length - 1, new Set());
}

function exportsOf(
  modules: readonly SnapshotModule[],
  index: number,
  visiting: Set<number>,
): Set<string> | undefined {
  const module = modules[index];
  const script = module?.script;
  if (module === undefined || script === undefined || visiting.has(index)) return undefined;
  visiting.add(index);
  const names = new Set([...script.exports, ...script.reexports.map((reexport) => reexport.name)]);
  for (const specifier of script.stars) {
    const starred = module.imports.find((local) => local.specifier === specifier)?.module;
    const their = starred === undefined ? undefined : exportsOf(modules, starred, visiting);
    if (their === undefined) return undefined;
    // `export *` passes every name but `default`.
    for (const name of their) if (name !== "default") names.add(name);
  }
  visiting.delete(index);
  return names;
}
