/**
 * Finds the module specifiers of a source that Deno resolves, with the exact
 * position of each, and which of them it evaluates, so a snapshot can follow
 * them and rewrite them to minted URLs (SPEC 4, 6.3). A real TypeScript + JSX
 * parser (`@babel/parser`, pure JavaScript: it needs no permission and reads
 * no file) reads the source; a walk of its syntax tree then tells what Deno
 * 2.9.6 does with each import (measured):
 *
 * - `import type`, `export type … from` and `typeof import()` are never resolved.
 * - Every other import is resolved when the module loads, even one the
 *   transpiler drops afterwards.
 * - Under TypeScript's default import elision (Deno's default, for `.ts .mts
 *   .tsx .jsx`), the transpiler drops an import with bindings unless one of
 *   them is used as a value: `import { type A }` and an unused `import { v }`
 *   vanish, `import {} from` and `import "x"` stay; so does an `export { … }
 *   from` unless all its specifiers are `type`. The host's
 *   `verbatimModuleSyntax` keeps them all; the caller says which applies.
 * - `.js` and `.mjs` are not transpiled: every import stays.
 * - `import("literal")` (a string or a template without substitutions) is
 *   followed wherever it appears; a computed specifier is left alone.
 *
 * The scan also says where each `import.meta` is, so that minting
 * (`_mint.ts`) can rewrite them where no parser runs: in a generation's process.
 *
 * The use analysis goes by name, not by scope: a binding shadowed by a local
 * of the same name counts as used. It can only keep an import Deno drops,
 * never drop one Deno keeps; the cost is a read and a blob never evaluated.
 *
 * A file read again is parsed from its edit (`_incremental_parse.ts`), and an
 * edit inside one literal or comment is scanned from the last scan with no
 * parse at all (`_token_edit.ts`): the result is the whole scan's either way.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { jsxPragmas, type SourceSyntax, type SyntaxNode as Node } from "./_source_parser.ts";
import { RecentTrees } from "./_incremental_parse.ts";
import type { MetaRange } from "./_mint.ts";
import { walk } from "./_syntax_walk.ts";
import { type ScriptText, scriptText, SKIPPED_KEYS, spliceScript } from "./_script_transform.ts";
import { applyTokenEdit, findTokenEdit } from "./_token_edit.ts";

// Parsing (`_source_parser.ts`) and the walk of the tree for uses and
// `import()` calls (`_syntax_walk.ts`) live apart; this file decides, from
// their results, which imports Deno resolves and evaluates.
export { ScanError, SCANNER_NAME, type SourceSyntax } from "./_source_parser.ts";

/** A specifier Deno resolves, and the text to replace to redirect it. */
export interface ImportRecord {
  /** The specifier's value. */
  readonly specifier: string;
  /** Start of the text to replace (UTF-16 offset). */
  readonly start: number;
  /** End of the text to replace, exclusive. */
  readonly end: number;
  /**
   * `true` when the range holds the whole literal, quotes included (an
   * `import()` argument, maybe a template); `false` when it holds only the
   * text between the quotes (a static import or re-export).
   */
  readonly quoted: boolean;
  /**
   * `false` for an import the transpiler drops: Deno still resolves its
   * specifier, but never loads the module for evaluation.
   */
  readonly evaluated: boolean;
  /**
   * The bindings a static import or `export { … } from` takes from the
   * module, by the names the module exports them under (`default` for a
   * default import); left out for a namespace, star, side-effect or dynamic
   * import, which name no binding.
   */
  readonly names?: readonly string[];
}

/** What {@linkcode scanImports} found. */
export interface ScanResult {
  /** Specifiers Deno resolves, local or not, in source order. */
  readonly imports: readonly ImportRecord[];
  /** The `@jsxImportSource` pragma's value, when the module has one. */
  readonly jsxImportSource: string | undefined;
  /**
   * Where each `import(…)` whose specifier is computed at run time starts
   * (its `import` keyword): such an import may name anything, so worker
   * isolation sends it through a guard.
   */
  readonly computed: readonly number[];
  /**
   * Whether the module's namespace may have a `then` export: one of that
   * name, or an `export * from` (whose names this module does not list).
   * `import()` adopts a namespace with `then` as a thenable, so only such an
   * entry needs importing through a wrapper module (one more module a swap).
   */
  readonly exportsThen: boolean;
  /**
   * Where each `import.meta` is, from `import` to the end of `meta` (a
   * `MetaProperty` of the syntax tree: never text in a string, a comment, a
   * template's text or JSX text), in source order.
   */
  readonly importMeta: readonly MetaRange[];
  /** The module as a function body, for evaluation as a script; `undefined` when it cannot be one faithfully. */
  readonly script: ScriptText | undefined;
}

/** Scan results by syntax, elision and the source's SHA-256: a swap re-reads mostly unchanged files. */
const cache = new Map<string, ScanResult>();
const CACHE_ENTRIES = 4096;
/**
 * The key each file was last scanned under. A file's older versions are not
 * read again by a swap (a rollback reuses its snapshot), so when a file
 * changes, its previous result is dropped, unless another file has the same
 * text: what a change keeps is the scan of the new text only.
 */
const keyOfPath = new Map<string, string>();
const pathsOfKey = new Map<string, number>();
/** The trees of the files scanned last, so that a changed file is parsed from its edit. */
const trees = new RecentTrees();
/** The scan of each kept tree, so that an edit inside one token is scanned from it (see {@linkcode rescanToken}). */
const scans = new WeakMap<Node, { readonly elideUnused: boolean; readonly result: ScanResult }>();

/** What {@linkcode scanImports} knows of the file it scans. */
export interface ScanOptions {
  /**
   * Whether Deno drops imports none of whose bindings is used as a value
   * (TypeScript's default elision) rather than keeping every import not
   * marked `type` (`verbatimModuleSyntax`).
   */
  readonly elideUnused: boolean;
  /** The file's path, so that its previous version's result can be dropped (see above). */
  readonly path?: string;
  /**
   * The base64 SHA-256 of the bytes `source` was decoded from, when the
   * caller has it: the cache key, instead of a hash of the text (a swap
   * hashes each file once, not twice).
   */
  readonly bytesDigest?: string;
}

/**
 * Lists the specifiers of `source` that Deno resolves, and which it evaluates.
 * Results are cached by content and shared: they are frozen.
 *
 * @param source The module's text.
 * @param syntax Which extensions it may use, from its file extension.
 * @param options What Deno's transpiler does with unused imports, and the file's path.
 * @throws {ScanError} When the source is not syntax the parser can recover from.
 * @throws {RangeError} When the source nests too deeply for the parser.
 */
export function scanImports(source: string, syntax: SourceSyntax, options: ScanOptions): ScanResult {
  const content = options.bytesDigest === undefined
    ? `text ${createHash("sha256").update(source).digest("base64")}`
    : `bytes ${options.bytesDigest}`;
  const key = `${syntax} ${options.elideUnused} ${content}`;
  let result = cache.get(key);
  if (result !== undefined) {
    cache.delete(key); // most recently used last, so the oldest is evicted first
  } else {
    result = scan(source, syntax, options);
    if (cache.size >= CACHE_ENTRIES) cache.delete(cache.keys().next().value!);
  }
  cache.set(key, result);
  if (options.path !== undefined) remember(options.path, key);
  return result;
}

/**
 * Scans `source` as {@linkcode scanImports} does, without the cache: for a
 * warm-up (`_scanner_warmup.ts`), whose results nobody reads.
 *
 * @throws {ScanError} When the source is not syntax the parser can recover from.
 */
export function scanFresh(source: string, syntax: SourceSyntax): ScanResult {
  return scan(source, syntax, { elideUnused: true });
}

/** Records that `path` now reads as `key`, dropping the result of its previous text if no file reads as it. */
function remember(path: string, key: string): void {
  const previous = keyOfPath.get(path);
  if (previous === key) return;
  keyOfPath.delete(path); // most recently scanned last, for the bound below
  keyOfPath.set(path, key);
  pathsOfKey.set(key, (pathsOfKey.get(key) ?? 0) + 1);
  if (previous !== undefined) release(previous);
  if (keyOfPath.size > CACHE_ENTRIES) {
    const [oldest, oldestKey] = keyOfPath.entries().next().value!;
    keyOfPath.delete(oldest);
    release(oldestKey);
  }
}

function release(key: string): void {
  const count = (pathsOfKey.get(key) ?? 1) - 1;
  if (count > 0) {
    pathsOfKey.set(key, count);
  } else {
    pathsOfKey.delete(key);
    cache.delete(key);
  }
}

function scan(source: string, syntax: SourceSyntax, options: ScanOptions): ScanResult {
  if (options.path !== undefined) {
    const rescanned = rescanToken(options.path, source, syntax, options.elideUnused);
    if (rescanned !== undefined) return rescanned;
  }
  const program = trees.parse(options.path, source, syntax);
  const body = program.body as readonly Node[];
  const transpiled = syntax !== "js";
  const pragmas = jsxPragmas(program.comments as readonly { value: string }[]);
  const found: ImportRecord[] = [];
  // Static imports whose fate depends on whether one of their bindings is used.
  const pending: { record: ImportRecord; bindings: readonly Binding[] }[] = [];
  let exportsThen = false;
  for (const node of body) {
    exportsThen ||= mayExportThen(node);
    const source = node.source as Node | null | undefined;
    if (source?.type !== "StringLiteral") continue;
    const bindings = importedBindings(node);
    const record = (evaluated: boolean): ImportRecord => ({
      specifier: source.value as string,
      start: source.start + 1,
      end: source.end - 1,
      quoted: false,
      evaluated,
      ...namesOf(bindings),
    });
    if (node.type === "ImportDeclaration") {
      if (node.importKind === "type" || node.importKind === "typeof") continue;
      const specifiers = node.specifiers as readonly Node[];
      // Deno checks a dropped import's module against its attributes (a JSON
      // import must name JSON): follow those as if evaluated.
      const attributed = ((node.attributes ?? []) as unknown[]).length > 0;
      if (!transpiled || !options.elideUnused || specifiers.length === 0 || attributed) {
        found.push(record(true));
        continue;
      }
      if (bindings.length > 0) pending.push({ record: record(true), bindings });
      else found.push(record(false));
    } else if (node.type === "ExportAllDeclaration" || node.type === "ExportNamedDeclaration") {
      if (node.exportKind === "type") continue;
      const specifiers = (node.specifiers ?? []) as readonly Node[];
      found.push(record(
        !transpiled || !options.elideUnused || specifiers.length === 0 ||
          specifiers.some((specifier) => specifier.exportKind !== "type"),
      ));
    }
  }
  const mayImportDynamically = /\bimport\s*(?:\(|\/[/*])/.test(source);
  const computed: number[] = [];
  if (pending.length > 0 || mayImportDynamically) {
    const { used, dynamic, jsx } = walk(body, source, computed);
    found.push(...dynamic);
    if (jsx && pragmas.runtime !== "automatic") {
      // The classic runtime calls the factory: its root binding is a use.
      used.add(rootName(pragmas.factory ?? "React"));
      used.add(rootName(pragmas.fragment ?? "React"));
    }
    for (const { record, bindings } of pending) {
      // The transpiler drops the bindings not used as values (an interface
      // imported beside a function), and the whole import when none is.
      const taken = bindings.filter((binding) => used.has(binding.local));
      const { names: _all, ...rest } = record;
      found.push(taken.length > 0 ? { ...rest, ...namesOf(taken) } : { ...record, evaluated: false });
    }
  }
  found.sort((a, b) => a.start - b.start);
  computed.sort((a, b) => a - b);
  const result: ScanResult = Object.freeze({
    imports: Object.freeze(found),
    jsxImportSource: pragmas.importSource,
    computed: Object.freeze(computed),
    exportsThen,
    importMeta: Object.freeze(MAY_HOLD_META.test(source) ? metaRanges(body) : []),
    // JSX compiles to calls: Deno's import runs it.
    script: syntax === "ts" || syntax === "js" ? scriptText(source, program) : undefined,
  });
  if (options.path !== undefined) scans.set(program, { elideUnused: options.elideUnused, result });
  return result;
}

/**
 * The scan of `source` made from the last scan of `path` when the edit
 * between them changed only the text inside one token (`_token_edit.ts`):
 * the same imports and exports, positions after the token moved, and the
 * token's new text in the script body. `undefined` when it cannot be.
 */
function rescanToken(
  path: string,
  source: string,
  syntax: SourceSyntax,
  elideUnused: boolean,
): ScanResult | undefined {
  const last = trees.last(path);
  if (last === undefined || last.syntax !== syntax) return undefined;
  const known = scans.get(last.program);
  if (known === undefined || known.elideUnused !== elideUnused) return undefined;
  const edit = findTokenEdit(last, source);
  if (edit === undefined) return undefined;
  const { imports, computed, importMeta, script } = known.result;
  const spliced = script === undefined
    ? undefined
    : spliceScript(script, edit.start, edit.oldText, edit.newText);
  if (script !== undefined && spliced === undefined) return undefined;
  const delta = edit.newText.length - edit.oldText.length;
  // No import or `import.meta` stands inside the token (no specifier is
  // edited here, and no token holding `import`): each is before it or after it.
  const after = (at: number) => at >= edit.oldEnd;
  const result: ScanResult = Object.freeze({
    ...known.result,
    imports: Object.freeze(
      imports.map((record) =>
        after(record.start) ? { ...record, start: record.start + delta, end: record.end + delta } : record
      ),
    ),
    computed: Object.freeze(computed.map((at) => after(at) ? at + delta : at)),
    importMeta: Object.freeze(
      importMeta.map((range) =>
        after(range.start) ? Object.freeze({ start: range.start + delta, end: range.end + delta }) : range
      ),
    ),
    script: spliced,
  });
  applyTokenEdit(last.program, edit);
  trees.keep(path, { source, syntax, program: last.program });
  scans.set(last.program, { elideUnused, result });
  return result;
}

/**
 * Whether a text may hold `import.meta`: `import`, then a dot, maybe after
 * spaces or a comment. Most modules do not, and skip the walk of their tree.
 */
const MAY_HOLD_META = /\bimport\s*(?:\.|\/[/*])/;

/**
 * Where each `import.meta` of the tree is, in source order (see
 * {@linkcode ScanResult.importMeta}). The walk is iterative, as a deeply
 * nested expression must not overflow the stack here, and takes every node
 * whatever it holds: one in a type is erased by the transpiler with it.
 */
function metaRanges(body: readonly Node[]): MetaRange[] {
  const ranges: MetaRange[] = [];
  const stack: unknown[] = [...body];
  while (stack.length > 0) {
    const value = stack.pop();
    if (typeof value !== "object" || value === null) continue;
    if (Array.isArray(value)) {
      for (let i = value.length - 1; i >= 0; i--) stack.push(value[i]);
      continue;
    }
    const node = value as Node;
    if (node.type === "MetaProperty") {
      // `new.target`, `import.source`, ... are no `import.meta`; their two names hold nothing.
      if ((node.meta as Node).name === "import" && (node.property as Node).name === "meta") {
        ranges.push(Object.freeze({ start: node.start, end: node.end }));
      }
      continue;
    }
    for (const key in node) {
      const child = node[key];
      if (typeof child === "object" && child !== null && !SKIPPED_KEYS.has(key)) stack.push(child);
    }
  }
  return ranges.sort((a, b) => a.start - b.start);
}

/**
 * A binding an import or re-export takes: its name in the module
 * (`undefined` for a namespace, which takes none by name) and here.
 */
interface Binding {
  readonly imported: string | undefined;
  readonly local: string;
}

/**
 * The bindings an import or re-export declaration takes from its module by
 * name (see {@linkcode ImportRecord.names}), types left out.
 */
function importedBindings(node: Node): readonly Binding[] {
  const bindings: Binding[] = [];
  for (const specifier of (node.specifiers ?? []) as readonly Node[]) {
    if (specifier.importKind === "type" || specifier.importKind === "typeof") continue;
    if (specifier.exportKind === "type") continue;
    const local = nameOf((specifier.local ?? specifier.exported) as Node);
    const imported = specifier.type === "ImportDefaultSpecifier"
      ? "default"
      : specifier.type === "ImportSpecifier"
      ? nameOf(specifier.imported as Node)
      : specifier.type === "ExportSpecifier"
      ? local
      : undefined;
    bindings.push({ imported, local });
  }
  return bindings;
}

/** `{ names }` of the bindings taken by name, or nothing when none is. */
function namesOf(bindings: readonly Binding[]): { names?: readonly string[] } {
  const names = bindings.map((binding) => binding.imported).filter((name): name is string =>
    name !== undefined
  );
  return names.length === 0 ? {} : { names: Object.freeze(names) };
}

/** An identifier's name, or a string literal's value (`import { "a-b" as ab }`). */
function nameOf(node: Node): string {
  return (node.type === "StringLiteral" ? node.value : node.name) as string;
}

/** Whether a top-level statement may export a binding named `then` (see {@linkcode ScanResult.exportsThen}). */
function mayExportThen(node: Node): boolean {
  if (node.type === "ExportAllDeclaration") return node.exportKind !== "type";
  if (node.type === "TSImportEqualsDeclaration") return node.isExport === true && isThen(node.id as Node);
  if (node.type !== "ExportNamedDeclaration" || node.exportKind === "type") return false;
  const specifiers = (node.specifiers ?? []) as readonly Node[];
  if (specifiers.some((specifier) => specifier.exportKind !== "type" && isThen(specifier.exported as Node))) {
    return true;
  }
  const declaration = node.declaration as Node | null | undefined;
  if (declaration === null || declaration === undefined) return false;
  if (declaration.type === "VariableDeclaration") {
    return (declaration.declarations as readonly Node[]).some((declarator) =>
      bindsThen(declarator.id as Node)
    );
  }
  // Functions, classes, enums and namespaces bind their own name.
  return declaration.id !== null && declaration.id !== undefined && isThen(declaration.id as Node);
}

/** An export name, `then` or `"then"`. */
function isThen(name: Node): boolean {
  return (name.type === "Identifier" ? name.name : name.value) === "then";
}

/** Whether a binding pattern (`x`, `{ a: [x] }`, `...x`, `x = 1`) binds `then`. */
function bindsThen(pattern: Node | null): boolean {
  if (pattern === null) return false;
  switch (pattern.type) {
    case "Identifier":
      return pattern.name === "then";
    case "ObjectPattern":
      return (pattern.properties as readonly Node[]).some((property) =>
        bindsThen((property.type === "RestElement" ? property.argument : property.value) as Node)
      );
    case "ArrayPattern":
      return (pattern.elements as readonly (Node | null)[]).some(bindsThen);
    case "AssignmentPattern":
      return bindsThen(pattern.left as Node);
    case "RestElement":
      return bindsThen(pattern.argument as Node);
    default:
      return true; // a pattern this walk does not know: assume the worst
  }
}

function rootName(expression: string): string {
  return expression.split(".", 1)[0]!;
}
