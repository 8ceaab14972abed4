/**
 * Edits that change the text inside one token and nothing else: the
 * characters of a string literal or of a template's text, a number, a
 * comment. The commonest change to business logic (a threshold, a message,
 * a version string) is such an edit, and it changes no statement, binding,
 * import or export: the tree of the new text is the last one with the
 * token's value replaced and the positions after it moved, so the parser
 * need not run at all, nor the scan's walks. Babel runs cold between swaps,
 * and on a reader that shares two cores with the load: under `deno task
 * bench:load` (6 alternating rounds, whose edits change a string), write →
 * new code went from 4.8 to 4.3 ms median, and its gap to `bun --hot`'s
 * from +1.2 to +0.5 ms.
 *
 * Only an edit whose new text is the same kind of token, on one line, with
 * no quote, backslash, template substitution or comment end in it, is
 * taken, inside a token the scan gives no meaning to: no import, export or
 * attribute specifier, no `import()` argument, nothing of a type, no class
 * member's name (`"constructor"` makes a constructor), and no
 * text that the scan reads from the whole source (`import`, a pragma, a
 * source map comment, the transform's reserved names). Any other gives
 * `undefined`, and the caller parses. `tests/token_edit_test.ts` compares
 * the result with the whole parse and scan over random edits of tokens.
 *
 * @module
 */

import { commonEnds, moveExtra, type ParsedText, type Position } from "./_incremental_parse.ts";
import { SKIPPED_KEYS } from "./_script_transform.ts";
import type { SyntaxNode as Node } from "./_source_parser.ts";

/** An edit inside one token, and the token's text before and after it. */
export interface TokenEdit {
  /** The token's node: a literal, a template's text, or a comment. */
  readonly node: Node;
  /** Where the token starts, in both texts. */
  readonly start: number;
  /** Where it ended before the edit. */
  readonly oldEnd: number;
  /** The token's text before the edit. */
  readonly oldText: string;
  /** The token's text after it. */
  readonly newText: string;
}

/** Tokens whose text may change this way, with the offsets their content keeps from the token's ends. */
const TOKENS: Readonly<Record<string, { readonly open: number; readonly close: number }>> = {
  StringLiteral: { open: 1, close: 1 },
  NumericLiteral: { open: 0, close: 0 },
  TemplateElement: { open: 0, close: 0 },
  CommentBlock: { open: 2, close: 2 },
  CommentLine: { open: 2, close: 0 },
};

/** Parents that give a string literal a meaning the scan reads: a specifier, an attribute, a name bound. */
const MEANINGFUL_PARENTS: ReadonlySet<string> = new Set([
  "ImportDeclaration",
  "ExportNamedDeclaration",
  "ExportAllDeclaration",
  "ImportExpression",
  "ImportAttribute",
  "ImportSpecifier",
  "ExportSpecifier",
  "ImportDefaultSpecifier",
  "ImportNamespaceSpecifier",
  "ExportNamespaceSpecifier",
  "JSXAttribute",
]);

/** TypeScript nodes whose `expression` is a value, kept by the transform. */
const TS_VALUES: ReadonlySet<string> = new Set([
  "TSAsExpression",
  "TSSatisfiesExpression",
  "TSNonNullExpression",
  "TSInstantiationExpression",
]);

/** A plain decimal number: what the new text of a number must be (no separator, exponent or prefix). */
const PLAIN_NUMBER = /^(?:0|[1-9][0-9]*)(?:\.[0-9]+)?$/;
const LINE_BREAK = /[\n\r\u2028\u2029]/;
/**
 * Text the scan reads from the whole source rather than from the tree
 * (`import(` and `import/*`, `@jsx` pragmas, a source map comment, the
 * transform's reserved names): a token holding it is not edited here.
 */
const READ_FROM_SOURCE = /import|@jsx|sourceMappingURL|sourceURL|__hs_/;

/**
 * The edit from `previous.source` to `source`, when it falls inside one
 * token that may take it (see the module doc); else `undefined`.
 */
export function findTokenEdit(previous: ParsedText, source: string): TokenEdit | undefined {
  const { source: old, program } = previous;
  if (old === source || (program.errors as readonly unknown[]).length > 0) return undefined;
  const { prefix, suffix } = commonEnds(old, source);
  const editEnd = old.length - suffix;
  const found = commentAround(program.comments as readonly Node[], prefix, editEnd) ??
    literalAround(program, prefix, editEnd);
  if (found === undefined) return undefined;
  const { node, parent } = found;
  const bounds = TOKENS[node.type]!;
  // The edit must leave the token's delimiters (quotes, `/*`, `*/`) alone.
  if (prefix < node.start + bounds.open || editEnd > node.end - bounds.close) return undefined;
  const oldText = old.slice(node.start, node.end);
  const newText = source.slice(node.start, node.end + source.length - old.length);
  if (!acceptable(node, parent, oldText, newText)) return undefined;
  return { node, start: node.start, oldEnd: node.end, oldText, newText };
}

/** Whether `newText` can replace `oldText` as the same token, with nothing else read differently. */
function acceptable(node: Node, parent: Node | undefined, oldText: string, newText: string): boolean {
  if (LINE_BREAK.test(oldText) || LINE_BREAK.test(newText)) return false;
  if (READ_FROM_SOURCE.test(oldText) || READ_FROM_SOURCE.test(newText)) return false;
  switch (node.type) {
    case "StringLiteral": {
      if (!plainContext(parent, node)) return false;
      const quote = oldText[0]!;
      const content = newText.slice(1, -1);
      return !oldText.includes("\\") && !content.includes("\\") && !content.includes(quote);
    }
    case "NumericLiteral":
      return plainContext(parent, node) && PLAIN_NUMBER.test(oldText) && PLAIN_NUMBER.test(newText);
    case "TemplateElement":
      // The template itself must be a plain one: its parent's parent says where it stands.
      return !/[`\\]|\$\{/.test(oldText) && !/[`\\]|\$\{/.test(newText);
    case "CommentBlock":
      return newText.indexOf("*/", 2) === newText.length - 2;
    default:
      return true; // a line comment, on one line
  }
}

/** Whether a literal under `parent` is a plain value: not a specifier, an attribute or a type. */
function plainContext(parent: Node | undefined, node: Node): boolean {
  if (parent === undefined || MEANINGFUL_PARENTS.has(parent.type)) return false;
  if (parent.type === "CallExpression" && (parent.callee as Node).type === "Import") return false;
  if (parent.type.startsWith("TS")) return TS_VALUES.has(parent.type) && parent.expression === node;
  // A class member's name: `"constructor"` makes a constructor, which the transform rewrites.
  if (CLASS_MEMBERS.has(parent.type) && parent.key === node) return false;
  return true;
}

/** Class members, whose literal key says what the member is. */
const CLASS_MEMBERS: ReadonlySet<string> = new Set([
  "ClassMethod",
  "ClassPrivateMethod",
  "ClassProperty",
  "ClassAccessorProperty",
  "TSDeclareMethod",
]);

/** The comment that holds the range `[from, to]`, found by its start. */
function commentAround(
  comments: readonly Node[],
  from: number,
  to: number,
): { node: Node; parent: undefined } | undefined {
  let low = 0;
  let high = comments.length - 1;
  while (low <= high) {
    const middle = (low + high) >> 1;
    const comment = comments[middle]!;
    if (comment.end < to) low = middle + 1;
    else if (comment.start > from) high = middle - 1;
    else return { node: comment, parent: undefined };
  }
  return undefined;
}

/**
 * The innermost node holding the range `[from, to]`, when it is a literal or
 * a template's text, with its parent; a template's text is taken only in a
 * template that is a plain value itself.
 */
function literalAround(program: Node, from: number, to: number): { node: Node; parent: Node } | undefined {
  const path: Node[] = [program];
  let node: Node = program;
  descend: for (;;) {
    for (const key in node) {
      if (SKIPPED_KEYS.has(key)) continue;
      const value = node[key];
      const children = Array.isArray(value) ? value : [value];
      for (const child of children) {
        if (!isNode(child) || child.start > from || child.end < to) continue;
        node = child;
        path.push(node);
        continue descend;
      }
    }
    break;
  }
  const parent = path.at(-2);
  if (parent === undefined) return undefined;
  if (node.type === "TemplateElement") {
    // A template literal (not a template type), and its own parent decides: no `import(`…`)`, no type.
    if (parent.type !== "TemplateLiteral") return undefined;
    return plainContext(path.at(-3), parent) ? { node, parent } : undefined;
  }
  return node.type === "StringLiteral" || node.type === "NumericLiteral" ? { node, parent } : undefined;
}

function isNode(value: unknown): value is Node {
  return typeof value === "object" && value !== null && typeof (value as Node).type === "string" &&
    typeof (value as Node).start === "number";
}

/**
 * Makes `program` the tree of the edited text: the token takes its new
 * value, and every position from its old end on moves by the difference in
 * length (the columns only on the token's line: the edit holds no line
 * break). Changes `program` in place.
 */
export function applyTokenEdit(program: Node, edit: TokenEdit): void {
  const { node, oldEnd, newText } = edit;
  const delta = newText.length - edit.oldText.length;
  if (delta === 0) {
    // Nothing moves (a digit or a letter replaced): no walk of the tree, about 0.1 ms of a cold swap.
    setValue(node, newText);
    return;
  }
  const line = (node.loc as { start: Position }).start.line;
  const moved = new Set<object>();
  const movePosition = (position: Position | undefined) => {
    if (position === undefined || moved.has(position) || position.index < oldEnd) return;
    moved.add(position);
    if (position.line === line) position.column += delta;
    position.index += delta;
  };
  const stack: unknown[] = [program];
  while (stack.length > 0) {
    const value = stack.pop();
    if (typeof value !== "object" || value === null || moved.has(value)) continue;
    if (Array.isArray(value)) {
      moved.add(value);
      for (let i = 0; i < value.length; i++) stack.push(value[i]);
      continue;
    }
    const object = value as Record<string, unknown>;
    // Nothing before the token moves: a node that ends before it is left whole.
    if (typeof object.end === "number" && object.end < oldEnd) continue;
    moved.add(object);
    for (const key in object) {
      const field = object[key];
      if (key === "start" || key === "end") {
        if (typeof field === "number" && field >= oldEnd) object[key] = field + delta;
      } else if (key === "loc") {
        const loc = field as { start?: Position; end?: Position } | undefined;
        movePosition(loc?.start);
        movePosition(loc?.end);
      } else if (key === "extra") {
        moveExtra(field as Record<string, unknown> | undefined, oldEnd, delta, moved, movePosition);
      } else if (typeof field === "object" && field !== null) {
        stack.push(field);
      }
    }
  }
  setValue(node, newText);
}

/** The token's value as the parser gives it for `text` (which holds no escape). */
function setValue(token: Node, text: string): void {
  const node = token as Record<string, unknown>;
  switch (node.type) {
    case "StringLiteral": {
      const value = text.slice(1, -1);
      node.value = value;
      node.extra = { ...node.extra as object, rawValue: value, raw: text };
      return;
    }
    case "NumericLiteral": {
      const value = Number(text);
      node.value = value;
      node.extra = { ...node.extra as object, rawValue: value, raw: text };
      return;
    }
    case "TemplateElement":
      node.value = { raw: text, cooked: text };
      return;
    case "CommentBlock":
      node.value = text.slice(2, -2);
      return;
    default:
      node.value = text.slice(2);
  }
}
