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

import { parse } from "npm:@babel/parser@8.1.3";
import { createHash } from "node:crypto";

/** How a module's text is parsed: which syntax extensions it may hold. */
export type SourceSyntax = "ts" | "tsx" | "jsx" | "js";

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
}

/** A source the parser cannot read at all: the parser's reason and where (1-based). */
export class ScanError extends Error {
  /** The reason, without position. */
  readonly reason: string;
  /** 1-based line. */
  readonly line: number;
  /** 1-based column (UTF-16 code units). */
  readonly column: number;

  constructor(reason: string, line: number, column: number, options?: ErrorOptions) {
    super(`${reason} (${line}:${column})`, options);
    this.name = "ScanError";
    this.reason = reason;
    this.line = line;
    this.column = column;
  }
}

/** The parser's name and version, for messages that blame it. */
export const SCANNER_NAME = "@babel/parser 8.1.3";

// A syntax tree node, read generically.
interface Node {
  readonly type: string;
  readonly start: number;
  readonly end: number;
  readonly [key: string]: unknown;
}

// Decorators (TC39; TypeScript's experimental parameter decorators are
// recoverable errors), and the import phases Deno may accept.
const PROPOSALS = ["decorators", "decoratorAutoAccessors", "sourcePhaseImports", "deferredImportEvaluation"];
const PLUGINS: Readonly<Record<SourceSyntax, readonly string[]>> = {
  ts: ["typescript", ...PROPOSALS],
  tsx: ["typescript", "jsx", ...PROPOSALS],
  jsx: ["jsx", ...PROPOSALS],
  js: PROPOSALS,
};

/** Keys that hold only types, on nodes that are not themselves TypeScript nodes. */
const TYPE_KEYS =
  "typeAnnotation typeParameters typeArguments superTypeParameters superTypeArguments returnType";
const SKIPPED_KEYS: ReadonlySet<string> = new Set(
  `type start end loc range extra leadingComments trailingComments innerComments implements predicate ${TYPE_KEYS}`
    .split(" "),
);
/** TypeScript nodes that hold a value expression, and the keys that hold it. */
const TS_VALUE_KEYS: Readonly<Record<string, readonly string[]>> = {
  TSAsExpression: ["expression"],
  TSSatisfiesExpression: ["expression"],
  TSTypeAssertion: ["expression"],
  TSNonNullExpression: ["expression"],
  TSInstantiationExpression: ["expression"],
  TSEnumDeclaration: ["members", "body"],
  TSEnumBody: ["members"],
  TSEnumMember: ["initializer"],
  TSModuleDeclaration: ["body"],
  TSModuleBlock: ["body"],
  TSExportAssignment: ["expression"],
  TSImportEqualsDeclaration: ["moduleReference"],
  TSQualifiedName: ["left"],
  TSParameterProperty: ["parameter"],
};
/** Nodes whose non-computed `key` is a name, not a reference. */
const KEYED: ReadonlySet<string> = new Set(
  "ObjectProperty ObjectMethod ClassProperty ClassMethod ClassPrivateProperty ClassPrivateMethod ClassAccessorProperty"
    .split(" "),
);

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
  for (const node of body) {
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
  });
}

function parseProgram(source: string, syntax: SourceSyntax): Node {
  try {
    return run(source, PLUGINS[syntax]);
  } catch (error) {
    if (!isParseError(error)) throw error;
    throw new ScanError(error.message.replace(/\s*\(\d+:\d+\)$/, ""), error.loc.line, error.loc.column + 1, {
      cause: error,
    });
  }
}

function run(source: string, plugins: readonly string[]): Node {
  const file = parse(source, {
    sourceType: "module",
    plugins: plugins as never,
    // Early errors (a duplicate `let`, an abstract method in a plain class)
    // are left to Deno, which reports them at import with their position:
    // babel rejects some TypeScript that Deno strips and runs.
    errorRecovery: true,
    createImportExpressions: true,
    // Comments stay in `file.comments`; attaching them to nodes costs time.
    attachComment: false,
  });
  const program = file.program as unknown as Node;
  return { ...program, comments: file.comments ?? [] };
}

interface ParseError {
  readonly message: string;
  readonly loc: { readonly line: number; readonly column: number };
}

function isParseError(error: unknown): error is ParseError {
  return error instanceof SyntaxError &&
    typeof (error as { loc?: { line?: unknown } }).loc?.line === "number";
}

interface Pragmas {
  readonly factory: string | undefined;
  readonly fragment: string | undefined;
  readonly importSource: string | undefined;
  readonly runtime: "classic" | "automatic" | undefined;
}

/** Reads the JSX pragmas Deno honours from the module's comments. */
function jsxPragmas(comments: readonly { value: string }[]): Pragmas {
  let factory, fragment, importSource, runtime: string | undefined;
  for (const { value } of comments) {
    if (!value.includes("@jsx")) continue;
    for (const [, name, argument] of value.matchAll(/@(jsx|jsxFrag|jsxImportSource|jsxRuntime)\s+(\S+)/g)) {
      if (name === "jsx") factory = argument;
      else if (name === "jsxFrag") fragment = argument;
      else if (name === "jsxImportSource") importSource = argument;
      else runtime = argument;
    }
  }
  const mode = runtime === "classic" || runtime === "automatic"
    ? runtime
    : importSource !== undefined
    ? "automatic"
    : undefined;
  return { factory, fragment, importSource, runtime: mode };
}

function rootName(expression: string): string {
  return expression.split(".", 1)[0]!;
}

/**
 * Walks the program (iteratively: a deeply nested expression must not
 * overflow the stack here) collecting the names used as values, the
 * `import()` calls with a literal specifier, and whether there is JSX.
 */
function walk(
  body: readonly Node[],
  source: string,
  computed: number[],
): { used: Set<string>; dynamic: ImportRecord[]; jsx: boolean } {
  const used = new Set<string>();
  const dynamic: ImportRecord[] = [];
  let jsx = false;
  const stack: unknown[] = [...body];
  const push = (...values: unknown[]) => {
    for (const value of values) {
      if (Array.isArray(value)) stack.push(...value);
      else if (value !== null && typeof value === "object") stack.push(value);
    }
  };
  while (stack.length > 0) {
    const node = stack.pop() as Node | null;
    if (node === null || typeof node.type !== "string") continue;
    const type = node.type;
    if (type.startsWith("TS")) {
      const keys = TS_VALUE_KEYS[type];
      if (keys !== undefined && node.declare !== true && node.importKind !== "type") {
        push(...keys.map((key) => node[key]));
      }
      continue;
    }
    if (node.declare === true) continue;
    switch (type) {
      case "Identifier":
        used.add(node.name as string);
        continue;
      case "ImportDeclaration":
        continue;
      case "ImportExpression":
        if (!dynamicImport(node, dynamic) && source.startsWith("import", node.start)) {
          computed.push(node.start);
        }
        push(node.source, node.options);
        continue;
      case "ExportNamedDeclaration":
        if (node.source || node.exportKind === "type") continue;
        push(node.declaration);
        for (const specifier of node.specifiers as readonly Node[]) {
          if (specifier.exportKind !== "type") push(specifier.local);
        }
        continue;
      case "ExportAllDeclaration":
        continue;
      case "MemberExpression":
      case "OptionalMemberExpression":
        push(node.object, node.computed ? node.property : null);
        continue;
      case "LabeledStatement":
        push(node.body);
        continue;
      case "BreakStatement":
      case "ContinueStatement":
      case "MetaProperty":
        continue;
      case "JSXElement":
      case "JSXFragment":
        jsx = true;
        break;
      case "JSXOpeningElement":
        push(jsxName(node.name as Node), node.attributes);
        continue;
      case "JSXClosingElement":
        continue;
      case "JSXAttribute":
        push(node.value);
        continue;
      case "JSXIdentifier":
        used.add(node.name as string);
        continue;
    }
    if (KEYED.has(type) && node.computed !== true) {
      for (const key in node) if (key !== "key" && !SKIPPED_KEYS.has(key)) push(node[key]);
      continue;
    }
    for (const key in node) if (!SKIPPED_KEYS.has(key)) push(node[key]);
  }
  return { used, dynamic, jsx };
}

/** The binding a JSX tag refers to, or `null` for an intrinsic tag such as `div`. */
function jsxName(name: Node): Node | null {
  if (name.type === "JSXMemberExpression") {
    let root = name.object as Node;
    while (root.type === "JSXMemberExpression") root = root.object as Node;
    return root;
  }
  if (name.type !== "JSXIdentifier") return null;
  const text = name.name as string;
  return /^[a-z]/.test(text) || text.includes("-") ? null : name;
}

/** Records an `import()` of a literal specifier; `false` when the specifier is computed. */
function dynamicImport(node: Node, dynamic: ImportRecord[]): boolean {
  const argument = node.source as Node;
  let specifier: string | undefined;
  if (argument.type === "StringLiteral") specifier = argument.value as string;
  else if (argument.type === "TemplateLiteral" && (argument.expressions as unknown[]).length === 0) {
    specifier = ((argument.quasis as Node[])[0]!.value as { cooked?: string }).cooked;
  }
  if (specifier === undefined) return false;
  dynamic.push({ specifier, start: argument.start, end: argument.end, quoted: true, evaluated: true });
  return true;
}
