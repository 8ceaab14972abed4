/**
 * Parsing a module again after an edit: only the top-level statements the
 * edit touched are parsed; the statements before them are kept as they
 * were, and those after them are kept with their positions moved. A swap
 * parses the files that changed, and an edit is mostly a few lines in one
 * function: the parser is JavaScript and runs cold between swaps (0.55-0.84
 * ms for the sample app's 3 KiB entry, measured with the caches flushed,
 * against 0.17 ms for one statement), and its time grows with the file where
 * an edit's does not. The rest of the scan (the transform's walk) still
 * reads the whole tree.
 *
 * The tree must be the one a parse of the whole text gives, or nothing:
 * `undefined` sends the caller to the whole parse. So the statements parsed
 * again reach from the end of a statement that nothing after it can
 * continue (one ending in `;`, or a function, class, interface, enum or
 * namespace declaration) to the start of a statement after the edit, and
 * the new last one must be such a statement too (else the run grows by a
 * statement, a few times at most). A run that ends in a line comment, that
 * holds a directive or a `#!` line where the whole parse would not, or that
 * the parser recovers from an error in, is refused. The parser's checks
 * across statements (a name declared twice, an export of an undeclared name)
 * see the same names when the run declares and exports the same names,
 * with the same kinds, before and after the edit; any other run is refused
 * (and so is one with imports, re-exports, `export { … }` lists, enums,
 * namespaces, or a `var` inside a block, which declares at the top).
 * `tests/incremental_parse_test.ts` compares the result with the whole parse
 * over random edits.
 *
 * @module
 */

import {
  parseProgram,
  type SourceSyntax,
  type SyntaxNode as Node,
  type TextStart,
} from "./_source_parser.ts";
import { assignedNames } from "./_script_transform.ts";

/** A module's text and the syntax tree `parseProgram` gave for it. */
export interface ParsedText {
  readonly source: string;
  readonly syntax: SourceSyntax;
  readonly program: Node;
}

/** How many times the re-parsed run may grow by a statement at its end. */
const GROWTHS = 3;

/**
 * The tree of `source`, parsed from its edit of `previous.source`, or
 * `undefined` when it cannot be told that way (parse the whole then).
 * The result takes over `previous.program`'s unchanged statements, moving
 * the positions of those after the edit: `previous` must not be read again.
 * Never throws for the text: a run that does not parse gives `undefined`,
 * and the whole parse then reports the error.
 */
export function reparse(previous: ParsedText, source: string): Node | undefined {
  const { source: old, syntax, program } = previous;
  const body = program.body as readonly Node[];
  if ((program.errors as readonly unknown[]).length > 0 || body.length === 0) return undefined;
  if (old === source) return program;
  const { prefix, suffix } = commonEnds(old, source);
  const editEnd = old.length - suffix;
  const delta = source.length - old.length;
  // Kept before: statements that end before the edit, and that nothing the edit wrote can continue.
  let first = 0;
  while (first < body.length && body[first]!.end < prefix) first++;
  while (first > 0 && !closed(body[first - 1]!, old)) first--;
  // Kept after: statements that start at or after the edit's end.
  let after = body.length;
  while (after > first && body[after - 1]!.start >= editEnd) after--;
  const from = first === 0 ? 0 : body[first - 1]!.end;
  const at: TextStart = first === 0 ? { index: 0, line: 1, column: 0 } : endOf(body[first - 1]!);
  for (let growth = 0; growth <= GROWTHS; growth++) {
    const oldTo = after === body.length ? old.length : body[after]!.start;
    const to = oldTo + delta;
    let run: Node;
    try {
      run = parseProgram(source.slice(from, to), syntax, at);
    } catch {
      return undefined; // the whole parse gives the error its message
    }
    if ((run.errors as readonly unknown[]).length > 0) return undefined;
    const directives = run.directives as readonly Node[];
    if (from > 0 && (directives.length > 0 || run.interpreter != null)) return undefined;
    const statements = run.body as readonly Node[];
    if (after < body.length) {
      const last = statements.at(-1);
      const comments = run.comments as readonly Node[];
      // A line comment ending the run would swallow the next statement's first line.
      const swallows = comments.at(-1)?.type === "CommentLine" && comments.at(-1)!.end === to;
      // With no statement left before it, a kept string statement may become a directive.
      const directiveMayMove = first === 0 && statements.length === 0;
      if (directiveMayMove) return undefined;
      if ((last !== undefined && !closed(last, source)) || swallows) {
        after++;
        continue;
      }
    }
    const before = declarations(body.slice(first, after), old);
    if (before === undefined || before !== declarations(statements, source)) return undefined;
    return splice(previous, source, { first, after, from, oldTo, run }, at);
  }
  return undefined;
}

/**
 * How many characters `old` and `source` share at their start (`prefix`)
 * and, after it, at their end (`suffix`): the edit between them is the rest.
 */
export function commonEnds(old: string, source: string): { prefix: number; suffix: number } {
  const shorter = Math.min(old.length, source.length);
  let prefix = 0;
  while (prefix < shorter && old.charCodeAt(prefix) === source.charCodeAt(prefix)) prefix++;
  let suffix = 0;
  while (
    suffix < shorter - prefix &&
    old.charCodeAt(old.length - 1 - suffix) === source.charCodeAt(source.length - 1 - suffix)
  ) suffix++;
  return { prefix, suffix };
}

/** The statements parsed again, and where they were. */
interface Run {
  readonly first: number;
  readonly after: number;
  readonly from: number;
  readonly oldTo: number;
  readonly run: Node;
}

/** The whole tree: the kept statements around the run's, those after it moved. */
function splice(
  previous: ParsedText,
  source: string,
  { first, after, from, oldTo, run }: Run,
  at: TextStart,
): Node {
  const { source: old, program } = previous;
  const body = program.body as readonly Node[];
  const comments = program.comments as readonly Node[];
  const keptComments = comments.filter((comment) => comment.start >= oldTo);
  // The old tree is given up: its location object is reused.
  const loc = program.loc as { end: Position };
  const oldEnd = loc.end;
  let end = run.end;
  loc.end = endOf(run);
  if (after < body.length) {
    // The text after the run is the same: its positions move by the
    // difference in length, and in lines and columns from where it begins.
    const to = oldTo + source.length - old.length;
    const oldStart = startOf(body[after]!);
    const newStart = advance(at, source, from, to);
    const move: Move = {
      index: to - oldTo,
      line: newStart.line - oldStart.line,
      column: newStart.column - oldStart.column,
      onLine: oldStart.line,
    };
    // The program's end is the last token's: the same position object as a kept node's, moved once.
    const programEnd = oldEnd;
    if (move.index !== 0 || move.line !== 0 || move.column !== 0) {
      shift([...body.slice(after), ...keptComments], programEnd, move);
    }
    end = program.end + move.index;
    loc.end = programEnd;
  }
  const atStart = from === 0;
  return {
    ...program,
    end,
    loc,
    body: [...body.slice(0, first), ...run.body as readonly Node[], ...body.slice(after)],
    directives: atStart ? run.directives : program.directives,
    interpreter: atStart ? run.interpreter : program.interpreter,
    comments: [
      ...comments.filter((comment) => comment.end <= from),
      ...run.comments as readonly Node[],
      ...keptComments,
    ],
    errors: [],
  };
}

/** A position in the text, as the parser's `loc` has it. */
export interface Position {
  line: number;
  column: number;
  index: number;
}

function endOf(node: Node): Position {
  return (node.loc as { end: Position }).end;
}

function startOf(node: Node): Position {
  return (node.loc as { start: Position }).start;
}

/** The position of `to` in `source`, counting line breaks as the parser does from `start` at `from`. */
function advance(start: TextStart, source: string, from: number, to: number): TextStart {
  let line = start.line;
  let lineStart = from - start.column;
  for (let i = from; i < to; i++) {
    const code = source.charCodeAt(i);
    if (code === 13 && source.charCodeAt(i + 1) === 10) i++;
    if (code === 10 || code === 13 || code === 0x2028 || code === 0x2029) {
      line++;
      lineStart = i + 1;
    }
  }
  return { index: to, line, column: to - lineStart };
}

/** How the positions after an edit move: by `index`, by `line`, and by `column` on the line the move begins. */
interface Move {
  readonly index: number;
  readonly line: number;
  readonly column: number;
  readonly onLine: number;
}

/**
 * Moves every position in the trees (iteratively: a deep tree must not
 * overflow the stack). The parser shares some `loc` and `extra` objects
 * between nodes (a shorthand property's key and value): each is moved once.
 */
function shift(roots: readonly Node[], alsoAt: Position, move: Move): void {
  const moved = new Set<object>();
  const movePosition = (position: Position | undefined) => {
    if (position === undefined || moved.has(position)) return;
    moved.add(position);
    if (position.line === move.onLine) position.column += move.column;
    position.line += move.line;
    position.index += move.index;
  };
  movePosition(alsoAt);
  const stack: unknown[] = [...roots];
  while (stack.length > 0) {
    const value = stack.pop();
    if (typeof value !== "object" || value === null || moved.has(value)) continue;
    moved.add(value);
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) stack.push(value[i]);
      continue;
    }
    const node = value as Record<string, unknown>;
    for (const key in node) {
      const field = node[key];
      if (key === "start" || key === "end") {
        if (typeof field === "number") node[key] = field + move.index;
      } else if (key === "loc") {
        const loc = field as { start?: Position; end?: Position } | undefined;
        movePosition(loc?.start);
        movePosition(loc?.end);
      } else if (key === "extra") {
        moveExtra(field as Record<string, unknown> | undefined, 0, move.index, moved, movePosition);
      } else if (typeof field === "object" && field !== null) {
        stack.push(field);
      }
    }
  }
}

/**
 * The parser's `extra` holds offsets too: `parenStart`, `trailingComma`,
 * `trailingCommaLoc`. Moves by `by` those at `from` or after (the position
 * through `movePosition`), each `extra` once.
 */
export function moveExtra(
  extra: Record<string, unknown> | undefined,
  from: number,
  by: number,
  moved: Set<object>,
  movePosition: (position: Position | undefined) => void,
): void {
  if (extra === undefined || extra === null || moved.has(extra)) return;
  moved.add(extra);
  if (typeof extra.parenStart === "number" && extra.parenStart >= from) extra.parenStart += by;
  if (typeof extra.trailingComma === "number" && extra.trailingComma >= from) extra.trailingComma += by;
  movePosition(extra.trailingCommaLoc as Position | undefined);
}

/** Declarations no later token can continue (besides a statement ending in `;`). */
const CLOSED: ReadonlySet<string> = new Set([
  "FunctionDeclaration",
  "ClassDeclaration",
  "TSInterfaceDeclaration",
  "TSEnumDeclaration",
  "TSModuleDeclaration",
]);

/** Whether no text after `statement` can be read as part of it. */
function closed(statement: Node, text: string): boolean {
  if (text.charCodeAt(statement.end - 1) === 59 /* ; */) return true;
  const declaration =
    statement.type === "ExportNamedDeclaration" || statement.type === "ExportDefaultDeclaration"
      ? statement.declaration as Node | null | undefined
      : statement;
  return declaration != null && declaration.end === statement.end && CLOSED.has(declaration.type);
}

/** Statements that declare nothing at the top, unless a `var` inside them does. */
const DECLARING_NOTHING: ReadonlySet<string> = new Set([
  "ExpressionStatement",
  "IfStatement",
  "ForStatement",
  "ForInStatement",
  "ForOfStatement",
  "WhileStatement",
  "DoWhileStatement",
  "BlockStatement",
  "TryStatement",
  "SwitchStatement",
  "ThrowStatement",
  "LabeledStatement",
  "EmptyStatement",
  "DebuggerStatement",
]);

/**
 * What the statements declare and export at the top level, as text, in
 * order; `undefined` for a statement whose declarations this does not read.
 */
function declarations(statements: readonly Node[], text: string): string | undefined {
  const said: string[] = [];
  for (const statement of statements) {
    if (DECLARING_NOTHING.has(statement.type)) {
      if (/\bvar\b/.test(text.slice(statement.start, statement.end))) return undefined;
      continue;
    }
    const declared = declaration(statement);
    if (declared === undefined) return undefined;
    said.push(declared);
  }
  return said.join("\n");
}

function declaration(node: Node): string | undefined {
  const declare = node.declare === true ? "declare " : "";
  switch (node.type) {
    case "VariableDeclaration": {
      const names = new Set<string>();
      for (const declarator of node.declarations as readonly Node[]) {
        assignedNames(declarator.id as Node, names);
      }
      return `${declare}${node.kind} ${[...names].sort().join(",")}`;
    }
    case "FunctionDeclaration":
    case "TSDeclareFunction":
    case "ClassDeclaration":
    case "TSInterfaceDeclaration":
    case "TSTypeAliasDeclaration": {
      const id = node.id as Node | null | undefined;
      return `${declare}${node.type} ${id?.name ?? ""}`;
    }
    case "ExportNamedDeclaration": {
      const inner = node.declaration as Node | null | undefined;
      const specifiers = (node.specifiers ?? []) as readonly unknown[];
      if (inner == null || node.source != null || specifiers.length > 0) return undefined;
      const declared = declaration(inner);
      return declared === undefined ? undefined : `export ${node.exportKind ?? ""} ${declared}`;
    }
    case "ExportDefaultDeclaration": {
      const inner = node.declaration as Node;
      if (
        inner.type === "FunctionDeclaration" || inner.type === "ClassDeclaration" ||
        inner.type === "TSDeclareFunction"
      ) {
        return `export default ${declaration(inner)}`;
      }
      if (inner.type.startsWith("TS")) return undefined;
      return "export default";
    }
    default:
      return undefined;
  }
}

/** How many files' trees {@linkcode RecentTrees} keeps at most. */
const MAX_FILES = 32;
/**
 * How much text their trees may cover in all: a tree takes about 40 bytes
 * per character of its text (measured on the sample app), so some 10 MiB.
 */
const MAX_CHARS = 256 * 1024;

/**
 * The trees of the files parsed last, by path, so that the next version of
 * each is parsed from its edit; the least recently parsed are let go first.
 */
export class RecentTrees {
  readonly #trees = new Map<string, ParsedText>();
  #chars = 0;

  /**
   * The tree of `source`: from its edit of the last text parsed for `path`
   * when that can be done, else from the whole text.
   *
   * @throws {ScanError} When the source is not syntax the parser can recover from.
   * @throws {RangeError} When the source nests too deeply for the parser.
   */
  parse(path: string | undefined, source: string, syntax: SourceSyntax): Node {
    if (path === undefined) return parseProgram(source, syntax);
    const previous = this.#trees.get(path);
    let program: Node | undefined;
    if (previous !== undefined && previous.syntax === syntax) {
      try {
        program = reparse(previous, source);
      } catch {
        this.#drop(path); // it may have given up part of its tree
      }
    }
    // A text that does not parse leaves the last one that did, to parse the fix from.
    program ??= parseProgram(source, syntax);
    this.keep(path, { source, syntax, program });
    return program;
  }

  /** The last text parsed for `path`, with its tree, while it is kept. */
  last(path: string): ParsedText | undefined {
    return this.#trees.get(path);
  }

  /**
   * Keeps `parsed` as the last text and tree of `path` (a text too long to
   * keep just drops the last one); the caller made its tree otherwise, as
   * from a token's edit of the last tree (`_token_edit.ts`).
   */
  keep(path: string, parsed: ParsedText): void {
    this.#drop(path);
    if (parsed.source.length > MAX_CHARS) return;
    this.#trees.set(path, parsed);
    this.#chars += parsed.source.length;
    for (const [oldest] of this.#trees) {
      if (this.#trees.size <= MAX_FILES && this.#chars <= MAX_CHARS) break;
      this.#drop(oldest);
    }
  }

  #drop(path: string): void {
    const parsed = this.#trees.get(path);
    if (parsed === undefined) return;
    this.#trees.delete(path);
    this.#chars -= parsed.source.length;
  }
}
