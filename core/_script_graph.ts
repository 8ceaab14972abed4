/**
 * A snapshot's module graph evaluated as scripts instead of ES modules: the
 * technique of Vite's module runner, for the same reason. V8 never frees an
 * imported module, and Deno's module map only grows, so every inline swap
 * through `import()` of fresh `blob:` URLs keeps its module records for
 * good and makes the next import slower (measured on 2.9.6: 2.4 ms for the
 * sample app's two modules at first, 8.6 ms after 1,500 swaps, about 40 KiB
 * kept per swap). A script is a plain function: once a generation is
 * retired and unreferenced, its code and state are garbage like any other.
 *
 * Each module's text (the bytes that were hashed) was rewritten by the
 * import scanner into a function body with every line and column in place
 * (`_script_transform.ts`); `node:vm` compiles it under the file's URL, so
 * stack frames read `file:///…/f.ts:LINE:COL` as a module's would. Every
 * call of that function is a fresh instance of the module: the whole graph
 * is fresh.
 *
 * As an ES module graph is linked before any of it runs, every binding
 * imported by name is first checked against what its module exports (known
 * from the rewrite, so before any module runs); then the modules are
 * evaluated in the snapshot's order, dependencies first, the entry's
 * top-level `await` awaited. Only graphs this reproduces
 * faithfully are taken: TypeScript, JavaScript and JSON modules whose text
 * the rewrite accepts, no `import()`, and no import outside the snapshot but
 * of `node:` built-ins. For any other, {@linkcode ScriptGraph.compile}
 * returns `undefined` and the caller imports minted modules, as Deno would.
 *
 * @module
 */

import { pathToFileURL } from "node:url";
import { runInThisContext } from "node:vm";
import type { SnapshotModule } from "./snapshot.ts";
import { sourceSyntaxOf } from "./_graph_reader.ts";
import { parseProgram, type SyntaxNode as Node } from "./_source_parser.ts";
import { DEFAULT_LOCAL, IMPORT_PARAMETER, type ScriptText } from "./_script_transform.ts";
import { importMeta, META_LOCAL, metaArguments } from "./_mint.ts";

/** A module's exports, as a module namespace holds them: on a null prototype. */
type Namespace = Record<string, unknown>;

/**
 * A module's compiled body: returns its local exports' getters (in a
 * promise with top-level `await`). `meta` is its `import.meta`.
 */
type ModuleBody = (load: (specifier: string) => Namespace, meta: ImportMeta | undefined) => unknown;

/** Where a specifier of one module leads. */
type Link =
  | { readonly kind: "module"; readonly index: number; readonly names: readonly string[] | undefined }
  | { readonly kind: "dropped" }
  | { readonly kind: "builtin"; readonly value: Namespace; readonly names: readonly string[] | undefined };

/**
 * Where a name a module exports comes from: the module's own binding (`from`
 * left out), another module's binding `imported`, or that module's whole
 * namespace (`imported` left out). `origin` names the binding itself
 * (`<module>:<name>`), to tell a diamond from a conflict between stars.
 */
interface Export {
  readonly origin: string;
  readonly from?: string;
  readonly imported?: string;
}

/** One module, ready to run. */
interface CompiledModule {
  readonly path: string;
  /** The module's text as hashed, to locate an import a link error is about. */
  readonly source: string;
  readonly links: ReadonlyMap<string, Link>;
  /** Each name it exports, and where from; ambiguous star exports left out. */
  readonly exports: ReadonlyMap<string, Export>;
  /** Names two of its `export *` bring from different bindings. */
  readonly ambiguous: ReadonlySet<string>;
  /** The body, or the JSON text of a JSON module. */
  readonly body: { readonly run: ModuleBody; readonly text: ScriptText } | string;
}

/** Deno's namespaces of the `node:` built-ins graphs imported, by specifier; `undefined` for one Deno refused. */
const builtins = new Map<string, Namespace | undefined>();
/**
 * The last body compiled for each file, so a swap compiles only the modules
 * that changed (each call of a body is still a fresh instance of its module).
 * One per file: a file's older versions are not kept for a swap back.
 */
const compiled = new Map<string, { readonly text: ScriptText; readonly run: ModuleBody }>();
const COMPILED_ENTRIES = 512;

/** File URLs by path, as `fileUrlOf` made them. */
const fileUrls = new Map<string, string>();

/**
 * The file URL of `path`, as `pathToFileURL` makes it. Remembered: it
 * costs 40-50 µs a call on a swap's path (Deno's `node:url` resolves the
 * path, reading the working directory), twice a swap, where the map costs
 * none. Bounded as the compiled bodies are.
 */
function fileUrlOf(path: string): string {
  let url = fileUrls.get(path);
  if (url === undefined) {
    if (fileUrls.size >= COMPILED_ENTRIES) fileUrls.clear();
    url = pathToFileURL(path).href;
    fileUrls.set(path, url);
  }
  return url;
}

/** A snapshot's modules compiled as scripts; {@linkcode ScriptGraph.run} evaluates a fresh instance. */
export class ScriptGraph {
  readonly #modules: readonly CompiledModule[];
  /** File URLs as stack frames print them, to the files they name. */
  readonly files: ReadonlyMap<string, string>;

  private constructor(modules: readonly CompiledModule[]) {
    this.#modules = modules;
    const files = new Map<string, string>();
    for (const { path } of modules) {
      const url = fileUrlOf(path);
      files.set(url, path);
      files.set(decodeURIComponent(url), path);
    }
    this.files = files;
  }

  /**
   * Compiles every module of the graph, running none of them.
   *
   * @param modules The snapshot's modules, dependencies first.
   * @returns The graph, or `undefined` when it cannot be evaluated faithfully as scripts.
   */
  static compile(modules: readonly SnapshotModule[]): ScriptGraph | undefined {
    const compiled: CompiledModule[] = [];
    for (const [index, module] of modules.entries()) {
      const script = module.script;
      // A module awaiting at its top level lets the modules after it that
      // do not import it run meanwhile; in order, the entry alone can await.
      if (script?.awaits === true && index !== modules.length - 1) return undefined;
      if (script !== undefined && !jsonAgrees(module, script, modules)) return undefined;
      const one = compileModule(module, index, compiled);
      if (one === undefined) return undefined;
      compiled.push(one);
    }
    return new ScriptGraph(compiled);
  }

  /**
   * Evaluates a fresh instance of every module, dependencies first.
   *
   * @returns The entry's namespace.
   * @throws What a module's top-level code throws, or a `SyntaxError` for a
   *   binding imported by name that its module does not export.
   */
  async run(): Promise<{ namespace: Namespace }> {
    for (const module of this.#modules) {
      for (const [specifier, link] of module.links) checkLink(module, specifier, link, this.#modules);
    }
    const namespaces: Namespace[] = [];
    for (const module of this.#modules) {
      if (typeof module.body === "string") {
        namespaces.push(seal({ default: JSON.parse(module.body) }));
        continue;
      }
      const load = (specifier: string) => resolveLink(module, specifier, namespaces);
      const { run, text } = module.body;
      // One `import.meta` an instance of the module, as Deno makes one a module it imports.
      const meta = text.meta ? metaOf(module.path) : undefined;
      let locals = run.call(undefined, load, meta);
      if (text.awaits) locals = await locals;
      if (text.renameDefault) nameDefault(locals as object);
      namespaces.push(namespaceOf(locals as object, module.exports, load));
    }
    return { namespace: namespaces[namespaces.length - 1]! };
  }
}

function compileModule(
  module: SnapshotModule,
  index: number,
  before: readonly CompiledModule[],
): CompiledModule | undefined {
  const { externals, script, computedImports, path } = module;
  if (externals === undefined || computedImports.length > 0) return undefined;
  const links = new Map<string, Link>();
  for (const local of module.imports) {
    if (local.quoted || local.specifier === undefined) return undefined;
    const link: Link = local.module === undefined
      ? { kind: "dropped" }
      : { kind: "module", index: local.module, names: local.names };
    const known = links.get(local.specifier);
    if (known !== undefined && known.kind !== link.kind) return undefined;
    links.set(local.specifier, mergeNames(known, link));
  }
  for (const external of externals) {
    if (external.dynamic) return undefined;
    const value = builtin(external.specifier);
    if (value === undefined) return undefined;
    const link: Link = { kind: "builtin", value, names: external.names };
    links.set(external.specifier, mergeNames(links.get(external.specifier), link));
  }
  if (module.mediaType === "application/json") {
    const exports = new Map([["default", { origin: `${index}:default` }]]);
    return { path, source: module.source, links, exports, ambiguous: new Set(), body: module.source };
  }
  if (script === undefined) return undefined;
  const run = compileBody(path, script);
  if (run === undefined) return undefined;
  const { exports, ambiguous } = exportsOf(index, script, links, before);
  return { path, source: module.source, links, exports, ambiguous, body: { run, text: script } };
}

/**
 * What a module exports, resolved through its re-exports and stars as
 * linking does: its own names first, then what each star brings that it
 * does not name; a name two stars bring from different bindings is left out
 * as ambiguous.
 */
function exportsOf(
  index: number,
  script: ScriptText,
  links: ReadonlyMap<string, Link>,
  before: readonly CompiledModule[],
): { exports: Map<string, Export>; ambiguous: Set<string> } {
  const exports = new Map<string, Export>();
  for (const name of script.exports) exports.set(name, { origin: `${index}:${name}` });
  /** The names the module at `from` exports: with their origins, or (a built-in) bare. */
  const exportsAt = (from: string): ReadonlyMap<string, Export> | readonly string[] => {
    const link = links.get(from);
    if (link?.kind === "module") return before[link.index]!.exports;
    return link?.kind === "builtin" ? Object.keys(link.value) : [];
  };
  const originIn = (from: string, name: string): string => {
    const known = exportsAt(from);
    return (known instanceof Map ? known.get(name)?.origin : undefined) ?? `${from}:${name}`;
  };
  /** `export * as name from`: the namespace of the module the specifier leads to, not the specifier's text. */
  const namespaceOrigin = (from: string): string => {
    const link = links.get(from);
    return link?.kind === "module" ? `${link.index}:*` : `${from}:*`;
  };
  for (const { name, from, imported } of script.reexports) {
    const origin = imported === undefined ? namespaceOrigin(from) : originIn(from, imported);
    exports.set(name, imported === undefined ? { origin, from } : { origin, from, imported });
  }
  const explicit = new Set(exports.keys());
  const ambiguous = new Set<string>();
  for (const from of script.stars) {
    const known = exportsAt(from);
    for (const name of known instanceof Map ? known.keys() : known) {
      if (name === "default" || explicit.has(name) || ambiguous.has(name)) continue;
      const origin = originIn(from, name);
      const seen = exports.get(name);
      if (seen === undefined) exports.set(name, { origin, from, imported: name });
      else if (seen.origin !== origin) {
        ambiguous.add(name);
        exports.delete(name);
      }
    }
  }
  // A name a star brings from a module where it is ambiguous cannot be
  // imported by name either (V8 still lists another star's binding of it
  // in the namespace, so the export is kept).
  for (const from of script.stars) {
    const link = links.get(from);
    if (link?.kind !== "module") continue;
    for (const name of before[link.index]!.ambiguous) if (!explicit.has(name)) ambiguous.add(name);
  }
  return { exports, ambiguous };
}

/** The module's body compiled under its file's URL; `undefined` when V8 refuses it. */
function compileBody(path: string, script: ScriptText): ModuleBody | undefined {
  const last = compiled.get(path);
  compiled.delete(path); // most recently used last, so the oldest is evicted first
  if (last !== undefined && (last.text === script || last.text.code === script.code)) {
    compiled.set(path, last);
    return last.run;
  }
  let run: ModuleBody;
  try {
    // The body's first line holds the import bindings: the module's own lines keep their numbers.
    run = runInThisContext(
      `(${script.awaits ? "async " : ""}function (${IMPORT_PARAMETER}, ${META_LOCAL}) {${script.code}\n})`,
      { filename: fileUrlOf(path), lineOffset: -1 },
    ) as ModuleBody;
  } catch {
    // Syntax the rewrite let through that V8 refuses in a function: Deno's import decides.
    return undefined;
  }
  if (compiled.size >= COMPILED_ENTRIES) compiled.delete(compiled.keys().next().value!);
  compiled.set(path, { text: script, run });
  return run;
}

/**
 * Whether the module imports JSON modules, and only those, `with { type:
 * "json" }`: Deno refuses either mismatch, and must say so itself.
 */
function jsonAgrees(module: SnapshotModule, script: ScriptText, modules: readonly SnapshotModule[]): boolean {
  for (const local of module.imports) {
    if (local.module === undefined || local.specifier === undefined) continue;
    const isJson = modules[local.module]!.mediaType === "application/json";
    if (isJson !== script.json.includes(local.specifier)) return false;
  }
  return true;
}

/** A `node:` built-in as Deno's namespace of it, once {@linkcode importBuiltins} loaded it; else `undefined`. */
function builtin(specifier: string): Namespace | undefined {
  return builtins.get(specifier);
}

/**
 * Loads Deno's own namespace of each `node:` built-in the graph imports
 * that no graph imported before, so that the names a module imports from it
 * are checked against what Deno exports (the module object's members are
 * not that: `node:process` exports `platform` and `pid`, which are getters
 * of the object, and not `binding`, which is a member). A built-in is
 * loaded once per process: the module map does not grow with swaps.
 *
 * @returns `undefined` when every one is loaded already (no await on the swap's path).
 */
export function importBuiltins(modules: readonly SnapshotModule[]): Promise<void> | undefined {
  const missing = new Set<string>();
  for (const { externals } of modules) {
    for (const { specifier, dynamic } of externals ?? []) {
      if (!dynamic && specifier.startsWith("node:") && !builtins.has(specifier)) missing.add(specifier);
    }
  }
  if (missing.size === 0) return undefined;
  return Promise.all([...missing].map(async (specifier) => {
    try {
      builtins.set(specifier, await import(specifier) as Namespace);
    } catch {
      // Not a built-in Deno has: the graph is imported as modules, and Deno says what is wrong.
      builtins.set(specifier, undefined);
    }
  })).then(() => {});
}

/** Two imports of one specifier in a module: the names of both are checked. */
function mergeNames(known: Link | undefined, link: Link): Link {
  if (known === undefined || known.kind === "dropped" || link.kind === "dropped") return link;
  return { ...link, names: [...known.names ?? [], ...link.names ?? []] } as Link;
}

/**
 * Refuses a binding imported by name that the module does not export, as
 * linking an ES module does, and says where, as Deno does: `at <file URL>:<line>:<column>`
 * of the import's specifier.
 */
function checkLink(
  module: CompiledModule,
  specifier: string,
  link: Link,
  modules: readonly CompiledModule[],
): void {
  if (link.kind === "dropped" || link.names === undefined) return;
  const target = link.kind === "module" ? modules[link.index]! : undefined;
  for (const name of link.names) {
    const found = target === undefined
      ? name in (link as { value: Namespace }).value
      : target.exports.has(name) && !target.ambiguous.has(name);
    if (found) continue;
    const problem = target?.ambiguous.has(name)
      ? `The requested module '${specifier}' contains conflicting star exports for name '${name}'`
      : `The requested module '${specifier}' does not provide an export named '${name}'`;
    throw new SyntaxError(`${problem} at ${locateImport(module, specifier, name)}`);
  }
}

/**
 * `<file URL>:<line>:<column>` (1-based) of the name a failed import asks
 * for, where V8 reports it (see {@linkcode namePosition}); of the
 * specifier when the name is not found.
 */
function locateImport(module: CompiledModule, specifier: string, name: string): string {
  const { path, source } = module;
  const at = Math.max(0, namePosition(module, specifier, name) ?? 0);
  const before = source.slice(0, at);
  const line = before.split("\n").length;
  const column = at - (before.lastIndexOf("\n") + 1) + 1;
  return `${pathToFileURL(path).href}:${line}:${column}`;
}

/**
 * Where V8 points at a missing `name` imported from `specifier`, read from
 * the module's declarations (parsed again: this is a refusal's path only):
 * the imported name in braces, the local name of a default import, the
 * source's name in a re-export; else the first such declaration's specifier.
 */
function namePosition({ path, source }: CompiledModule, specifier: string, name: string): number | undefined {
  const syntax = sourceSyntaxOf(path);
  if (syntax === undefined) return undefined;
  let body: readonly Node[];
  try {
    body = parseProgram(source, syntax).body as readonly Node[];
  } catch {
    return undefined;
  }
  let first: number | undefined;
  for (const statement of body) {
    const from = statement.source as Node | null | undefined;
    if (from?.value !== specifier || statement.importKind === "type" || statement.exportKind === "type") {
      continue;
    }
    first ??= from.start + 1;
    for (const one of (statement.specifiers ?? []) as readonly Node[]) {
      if (one.importKind === "type" || one.exportKind === "type") continue;
      if (one.type === "ImportDefaultSpecifier") {
        if (name === "default") return (one.local as Node).start;
        continue;
      }
      const asked = one.type === "ImportSpecifier"
        ? one.imported
        : one.type === "ExportSpecifier"
        ? one.local
        : null;
      const named = asked as Node | null;
      if (named !== null && (named.type === "StringLiteral" ? named.value : named.name) === name) {
        return named.start;
      }
    }
  }
  return first;
}

function resolveLink(module: CompiledModule, specifier: string, namespaces: readonly Namespace[]): Namespace {
  const link = module.links.get(specifier);
  if (link === undefined) throw new TypeError(`Module not found "${specifier}" from "${module.path}"`);
  if (link.kind === "module") return namespaces[link.index]!;
  // Not evaluated by Deno either: only its (unused) bindings are asked for.
  if (link.kind === "dropped") return EMPTY;
  return link.value;
}

/**
 * A module's namespace, made once the module has run: its own names read
 * from the body's getters, the others from the namespace they come from.
 * Their values are final by then: a module that assigns an exported binding
 * after its top level, or is part of a cycle, never takes the script path.
 */
function namespaceOf(
  locals: object,
  exports: ReadonlyMap<string, Export>,
  load: (specifier: string) => Namespace,
): Namespace {
  // The body returns `{ get name() { … } }` only: every property is a getter.
  const own = Object.getOwnPropertyDescriptors(locals);
  const values = Object.create(null) as Namespace;
  for (const [name, { from, imported }] of exports) {
    if (from === undefined) values[name] = own[name]!.get!.call(locals);
    else values[name] = imported === undefined ? load(from) : load(from)[imported];
  }
  return seal(values);
}

/** `import.meta` of the module read from `path` (see `importMeta` in `_mint.ts`). */
function metaOf(path: string): ImportMeta {
  return importMeta(...metaArguments(path));
}

/** Names an anonymous `export default` function or class `default`, as the export does. */
function nameDefault(locals: object): void {
  const value = (locals as { default?: unknown }).default;
  if (typeof value !== "function") return;
  const own = Object.getOwnPropertyDescriptor(value, "name");
  if (own !== undefined && own.value === DEFAULT_LOCAL) {
    Object.defineProperty(value, "name", { value: "default", configurable: true });
  }
}

const EMPTY: Namespace = seal({});

/**
 * A namespace as code uses one, and as `console.log` shows one: names
 * sorted, values as data properties, a null prototype, tagged `Module`, not
 * writable or extensible. Reflection still tells it apart: a module
 * namespace's properties read as writable (and refuse writes all the same).
 */
function seal(values: Namespace): Namespace {
  const namespace = Object.create(null) as Namespace;
  for (const name of Object.keys(values).sort()) {
    Object.defineProperty(namespace, name, { value: values[name], enumerable: true });
  }
  Object.defineProperty(namespace, Symbol.toStringTag, { value: "Module" });
  return Object.preventExtensions(namespace);
}
