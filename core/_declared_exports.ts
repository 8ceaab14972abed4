/**
 * The names a snapshot's entry exports, read from its modules' script
 * forms (see `_script_transform.ts`) without running any of it: what
 * `packArtifact` checks the contract's symbol against, so an artifact no
 * host could load is not signed. `undefined` when a module on the way has no
 * script form (a decorator, an enum, …): the load decides then.
 *
 * As ESM resolves them: a module's own and named re-exports first; then
 * each `export *` adds the names it does not shadow, but `default`; a name
 * two stars bring from different bindings is ambiguous, and not exported.
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
  const exports = exportsOf(snapshot.modules, snapshot.modules.length - 1, new Set());
  return exports === undefined ? undefined : new Set(exports.keys());
}

/** Marks a binding of a module read no further, known only by the name it was imported by. */
const OPAQUE = "?";

/** A module's export names, each with the binding it resolves to (`<module index>:<local name>`). */
function exportsOf(
  modules: readonly SnapshotModule[],
  index: number,
  visiting: Set<number>,
): Map<string, string> | undefined {
  const module = modules[index];
  if (module === undefined || visiting.has(index)) return undefined;
  if (module.mediaType === "application/json") return new Map([["default", `${index}:default`]]);
  const script = module.script;
  if (script === undefined) return undefined;
  visiting.add(index);
  try {
    const moduleOf = (specifier: string) =>
      module.imports.find((local) => local.specifier === specifier)?.module;
    const names = new Map<string, string>();
    for (const name of script.exports) names.set(name, `${index}:${name}`);
    const external = (specifier: string) =>
      module.externals?.some((one) => one.specifier === specifier) === true;
    for (const { name, from, imported } of script.reexports) {
      const source = moduleOf(from);
      if (source === undefined && external(from)) {
        // From outside the snapshot (`node:`, `npm:`, …): Deno refuses the module if it lacks the name.
        // Never one of the snapshot's own bindings, so not opaque: two stars may well make it ambiguous.
        names.set(name, `${from}:${imported ?? "*"}`);
        continue;
      }
      if (source === undefined) return undefined;
      if (imported === undefined) {
        names.set(name, `${source}:*`); // export * as name: a namespace of its own
        continue;
      }
      const theirs = exportsOf(modules, source, visiting);
      if (theirs === undefined) {
        // A source read no further (no script form: JSX, a decorator; a cycle): the name is
        // exported all the same, or Deno refuses the module. Its binding, as far as can be told.
        names.set(name, `${OPAQUE}${source}:${imported}`);
        continue;
      }
      const binding = theirs.get(imported);
      // A name the source does not export: Deno refuses the module, so it exports nothing here.
      if (binding !== undefined) names.set(name, binding);
    }
    const starred = new Map<string, string>();
    const ambiguous = new Set<string>();
    for (const specifier of script.stars) {
      const source = moduleOf(specifier);
      const theirs = source === undefined ? undefined : exportsOf(modules, source, visiting);
      if (theirs === undefined) return undefined;
      for (const [name, binding] of theirs) {
        if (name === "default" || names.has(name)) continue;
        const seen = starred.get(name);
        if (seen === undefined) starred.set(name, binding);
        // Two bindings, one of them only as far as could be told: maybe one, maybe two.
        else if (seen !== binding && (seen.startsWith(OPAQUE) || binding.startsWith(OPAQUE))) {
          return undefined;
        } else if (seen !== binding) ambiguous.add(name);
      }
    }
    for (const [name, binding] of starred) if (!ambiguous.has(name)) names.set(name, binding);
    return names;
  } finally {
    visiting.delete(index);
  }
}
