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
 * The use analysis goes by name, not by scope: a binding shadowed by a local
 * of the same name counts as used. It can only keep an import Deno drops,
 * never drop one Deno keeps; the cost is a read and a blob never evaluated.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { jsxPragmas, parseProgram, type SourceSyntax, type SyntaxNode as Node } from "./_source_parser.ts";
import { walk } from "./_syntax_walk.ts";

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
}

/** What {@linkcode scanImports} needs to know about the host. */
export interface ScanOptions {
  /**
   * Whether Deno drops imports none of whose bindings is used as a value
   * (TypeScript's default elision) rather than keeping every import not
   * marked `type` (`verbatimModuleSyntax`).
   */
  readonly elideUnused: boolean;
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
}

/** Scan results by syntax, elision and the source's SHA-256: a swap re-reads mostly unchanged files. */
const cache = new Map<string, ScanResult>();
const CACHE_ENTRIES = 4096;

/**
 * Lists the specifiers of `source` that Deno resolves, and which it evaluates.
 * Results are cached by content and shared: they are frozen.
 *
 * @param source The module's text.
 * @param syntax Which extensions it may use, from its file extension.
 * @param options What Deno's transpiler does with unused imports.
 * @throws {ScanError} When the source is not syntax the parser can recover from.
 * @throws {RangeError} When the source nests too deeply for the parser.
 */
export function scanImports(source: string, syntax: SourceSyntax, options: ScanOptions): ScanResult {
  const key = `${syntax} ${options.elideUnused} ${createHash("sha256").update(source).digest("base64")}`;
  let result = cache.get(key);
  if (result !== undefined) {
    cache.delete(key); // most recently used last, so the oldest is evicted first
  } else {
    result = scan(source, syntax, options);
    if (cache.size >= CACHE_ENTRIES) cache.delete(cache.keys().next().value!);
  }
  cache.set(key, result);
  return result;
}

function scan(source: string, syntax: SourceSyntax, options: ScanOptions): ScanResult {
  const program = parseProgram(source, syntax);
  const body = program.body as readonly Node[];
  const transpiled = syntax !== "js";
  const pragmas = jsxPragmas(program.comments as readonly { value: string }[]);
  const found: ImportRecord[] = [];
  // Static imports whose fate depends on whether one of their bindings is used.
  const pending: { record: ImportRecord; names: string[] }[] = [];
  let exportsThen = false;
  for (const node of body) {
    exportsThen ||= mayExportThen(node);
    const source = node.source as Node | null | undefined;
    if (source?.type !== "StringLiteral") continue;
    const record = (evaluated: boolean): ImportRecord => ({
      specifier: source.value as string,
      start: source.start + 1,
      end: source.end - 1,
      quoted: false,
      evaluated,
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
      const names = specifiers
        .filter((specifier) => specifier.importKind !== "type" && specifier.importKind !== "typeof")
        .map((specifier) => (specifier.local as Node).name as string);
      if (names.length > 0) pending.push({ record: record(true), names });
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
    for (const { record, names } of pending) {
      found.push(names.some((name) => used.has(name)) ? record : { ...record, evaluated: false });
    }
  }
  found.sort((a, b) => a.start - b.start);
  computed.sort((a, b) => a - b);
  return Object.freeze({
    imports: Object.freeze(found),
    jsxImportSource: pragmas.importSource,
    computed: Object.freeze(computed),
    exportsThen,
  });
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
