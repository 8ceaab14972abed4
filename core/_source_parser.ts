/**
 * Parsing a module's text for the import scanner: `@babel/parser` (pure
 * JavaScript, TypeScript + JSX, it needs no permission and reads no file)
 * configured as Deno reads each kind of file, its syntax errors turned into
 * {@linkcode ScanError}s with a position, and the JSX pragmas read from the
 * comments. Kept apart from the scanner so the parser, its version and its
 * options change in one place.
 *
 * @module
 */

import { parse } from "npm:@babel/parser@8.1.3";

/** How a module's text is parsed: which syntax extensions it may hold. */
export type SourceSyntax = "ts" | "tsx" | "jsx" | "js";

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

/** A syntax tree node, read generically. */
export interface SyntaxNode {
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

/** Where a text begins in its module: a UTF-16 offset, a 1-based line and a 0-based column. */
export interface TextStart {
  readonly index: number;
  readonly line: number;
  readonly column: number;
}

/**
 * Parses a module, with its comments in `comments`; or, given `at`, a run
 * of its top-level statements that begins there, with every position as
 * in the whole module (see `_incremental_parse.ts`).
 *
 * @throws {ScanError} When the source is not syntax the parser can recover from.
 * @throws {RangeError} When the source nests too deeply for the parser.
 */
export function parseProgram(source: string, syntax: SourceSyntax, at?: TextStart): SyntaxNode {
  try {
    return run(source, PLUGINS[syntax], at);
  } catch (error) {
    if (!isParseError(error)) throw error;
    throw new ScanError(error.message.replace(/\s*\(\d+:\d+\)$/, ""), error.loc.line, error.loc.column + 1, {
      cause: error,
    });
  }
}

function run(source: string, plugins: readonly string[], at: TextStart | undefined): SyntaxNode {
  const file = parse(source, {
    ...(at === undefined ? {} : { startIndex: at.index, startLine: at.line, startColumn: at.column }),
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
  // `extra.topLevelAwait` is left out: nothing reads it, and a tree
  // parsed from an edit could not tell it without a walk.
  const { extra: _extra, ...program } = file.program as unknown as SyntaxNode;
  // The recoverable errors (`errorRecovery`) sit on the file: kept, so a
  // caller that rewrites the module can refuse one the parser only tolerated.
  return { ...program, comments: file.comments ?? [], errors: file.errors ?? [] };
}

interface ParseError {
  readonly message: string;
  readonly loc: { readonly line: number; readonly column: number };
}

function isParseError(error: unknown): error is ParseError {
  return error instanceof SyntaxError &&
    typeof (error as { loc?: { line?: unknown } }).loc?.line === "number";
}

/** The JSX pragmas of a module; `runtime` is `undefined` when Deno's configuration decides. */
export interface Pragmas {
  readonly factory: string | undefined;
  readonly fragment: string | undefined;
  readonly importSource: string | undefined;
  readonly runtime: "classic" | "automatic" | undefined;
}

/** Reads the JSX pragmas Deno honours from the module's comments. */
export function jsxPragmas(comments: readonly { value: string }[]): Pragmas {
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
