/**
 * Parsing from an edit (`core/_incremental_parse.ts`) must give the tree a
 * parse of the whole text gives, or nothing: compared node for node, over
 * chosen edits that trip a naive splice and over random ones.
 */

import { deepStrictEqual, equal, ok } from "node:assert/strict";
import fc from "npm:fast-check@4.10.2";
import { type ParsedText, reparse } from "../core/_incremental_parse.ts";
import { parseProgram, type SourceSyntax, type SyntaxNode } from "../core/_source_parser.ts";

const SAMPLE_APP = await Deno.readTextFile(new URL("../so/app.ts", import.meta.url));
const SAMPLE_LOGIC = await Deno.readTextFile(new URL("../so/app_logic.ts", import.meta.url));

/** Syntax a splice must not get wrong, one construct a statement or so. */
const CORPUS = `// A leading comment.
import { a, type B } from "./a.ts";
export interface Shape { readonly name: string; size?: number }
type Pair<T> = [T, T];
const ENTRY_VERSION = "v1";
let counter = 0, { x, y: [z = 1, ...rest] } = { x: 1, y: [2] };
export const table = { a, counter, "key": 1, [z]: 2, ...rest, };
/* a block
   comment */ function helper(value: number): number {
  label: for (const item of [1, 2, 3]) { if (item > value) break label; }
  return value * 2 + (counter as number)!;
}
export class Counter<T> implements Shape {
  name = "counter";
  #hidden = 1;
  static from(value: T): Counter<T> { return new Counter<T>(); }
  get size(): number { return this.#hidden; }
}
const pattern = /a[/]b/giu, template = \`sum \${helper(1)} and \${\`nested \${z}\`}\`;
if (counter) { counter++; } else { counter--; }
try { helper(2); } catch { /* ignored */ } finally { counter = 0; }
export default function main(request: Request): Response {
  return new Response(template + pattern.source);
}
const arrow = async <T,>(value: T) => await Promise.resolve(value)
;(arrow)(1)
export function last(): void {}
`;

/** JSX, whose text and tags the tokenizer reads in contexts of their own. */
const JSX_CORPUS = `/** @jsxImportSource npm:preact */
const Title = ({ text }: { text: string }) => <h1 class="t">{text}</h1>;
export function App(props: { n: number }) {
  const items = [1, 2, 3].map((i) => <li key={i}>{i * props.n} &amp; more</li>);
  return <div>
    <Title text={"hello"} />
    {props.n > 1 ? <ul>{items}</ul> : <>none</>}
    text with / slash and <b>bold</b>
  </div>;
}
const generic = <T,>(x: T) => x;
export const view = <section data-x="1">{generic(2)}</section>;
let y = 1 < 2 && 3 > 2;
`;

const SYNTAX_OF: Record<string, SourceSyntax> = {
  app: "ts",
  logic: "ts",
  corpus: "ts",
  crlf: "ts",
  jsx: "tsx",
};
const SOURCES: Record<string, string> = {
  app: SAMPLE_APP,
  logic: SAMPLE_LOGIC,
  corpus: CORPUS,
  crlf: CORPUS.replaceAll("\n", "\r\n"),
  jsx: JSX_CORPUS,
};

function parsed(source: string, syntax: SourceSyntax): ParsedText {
  return { source, syntax, program: parseProgram(source, syntax) };
}

/**
 * Re-parses `after` from `before` and, when that gives a tree, checks it is
 * the whole parse's. Returns whether it gave one.
 */
function agrees(before: string, after: string, syntax: SourceSyntax = "ts"): boolean {
  let previous: ParsedText;
  try {
    previous = parsed(before, syntax);
  } catch {
    return false;
  }
  const tree = reparse(previous, after);
  if (tree === undefined) return false;
  let whole: SyntaxNode;
  try {
    whole = parseProgram(after, syntax);
  } catch (error) {
    throw new Error(`a tree from the edit, where the whole parse throws ${error}:\n${after}`);
  }
  deepStrictEqual(tree, whole, `the tree from the edit differs from the whole parse of:\n${after}`);
  return true;
}

Deno.test("an edit inside one statement is parsed alone, and the tree is the whole parse's", () => {
  const before = SAMPLE_APP +
    '\nconst ENTRY_VERSION = "v1";\nexport function tail(): string {\n  return ENTRY_VERSION;\n}\n';
  ok(agrees(before, before.replace('"v1"', '"v2"')));
  ok(agrees(before, before.replace('"v1"', '"v10"')), "a longer edit moves the statements after it");
  ok(agrees(SAMPLE_LOGIC, SAMPLE_LOGIC.replace('"v1"', '"v2"')));
  ok(agrees(CORPUS, CORPUS.replace("value * 2", "value *\n\n 3")), "lines added");
  ok(agrees(SOURCES.crlf!, SOURCES.crlf!.replace("value * 2", "value *\r\n 3")), "CRLF line breaks");
  ok(agrees(CORPUS, CORPUS.replace("counter++;", "counter += 2; counter--;")));
  ok(agrees(CORPUS, CORPUS.replace("// A leading comment.\n", "// A leading comment.\nhelper(3);\n")));
});

Deno.test("an edit that a splice would get wrong gives the whole parse or nothing", () => {
  const cases: [string, string][] = [
    // The next statement's first line turned into a comment.
    ["a();\n// note\nb();\n", "a();\n// noteb();\n"],
    // A kept statement continued by the edit (no semicolon before it).
    ["const f = g\nh();\n", "const f = g\n(h)();\n"],
    ["a()\nb();\n", "a()\n[1].map(b);\n"],
    // An edit that continues an `if` with an `else`.
    ["if (a) b();\nc();\n", "if (a) b();\nelse c();\n"],
    // A string statement that becomes a directive, or stops being one.
    ['x();\n"use strict";\n', '"use strict";\n'],
    ['"a";\nx();\n"b";\n', '"a";\n"b";\n'],
    ['"use strict";\nx();\n', '"use strict";\n"x";\n'],
    // Names declared twice, or an export left without its declaration, across the edit's border.
    ["let a = 1;\nlet b = 2;\n", "let a = 1;\nlet a = 2;\n"],
    ["const a = 1;\nexport { a };\n", "const b = 1;\nexport { a };\n"],
    ["let a = 1;\nif (x) { y(); }\n", "let a = 1;\nif (x) { var a = 2; }\n"],
    ["export const a = 1;\nexport const b = 2;\n", "export const a = 1;\nexport const a2 = 2, a = 3;\n"],
    // Two identifiers glued together by the edit.
    ["a;b();\n", "a;xb();\n"],
    // An unterminated template or comment.
    ["a();\nb();\n", "a(`);\nb();\n"],
    ["a();\nb();\nc();\n", "a();\n/* b();\nc();\n"],
    // A `#!` line or a syntax error in the run.
    ["a();\nb();\n", "a();\n#!b();\n"],
    ["a();\nb();\n", "a();\nb(;\n"],
  ];
  for (const [before, after] of cases) agrees(before, after);
});

Deno.test("a run that the edit leaves unclosed grows to the next statement", () => {
  const before = "const a = 1;\nconst b = 2;\nconst c = 3;\n";
  ok(agrees(before, before.replace("const b = 2;", "const b = 2")), "statement left without its `;`");
  ok(agrees("a();\nb();\n", "a();\nb()\n"), "at the end");
});

Deno.test("the previous tree of a text with errors is not used", () => {
  const before = "let a = 1;\nlet a = 2;\nf();\n";
  const previous = parsed(before, "ts");
  ok((previous.program.errors as unknown[]).length > 0);
  equal(reparse(previous, before.replace("f()", "g()")), undefined);
});

/** Text an edit writes: pieces that open, close, join or comment out what surrounds them. */
const PIECES = [
  ";",
  "<div>",
  "</div>",
  "/>",
  "{x}",
  "}",
  "{",
  "(",
  ")",
  "\n",
  "\r\n",
  "\u2028",
  " ",
  "//",
  "/*",
  "*/",
  '"',
  "`",
  "${",
  "/",
  "x",
  "var v = 1;",
  "let counter = 2;",
  "export const q = 1;",
  "export { a };",
  'import { c } from "./c.ts";',
  "else",
  '"use strict";',
  "function f() {}",
  "class K {}",
  "interface I {}",
  "type T = string;",
  "enum E { A }",
  "helper(1);\n",
  "#!",
  "await x;",
  "<T>",
  "as const",
];

Deno.test("random edits: every tree parsed from an edit is the whole parse's", () => {
  let taken = 0;
  let runs = 0;
  fc.assert(
    fc.property(
      fc.constantFrom(...Object.keys(SOURCES)),
      fc.nat(),
      fc.nat({ max: 40 }),
      fc.array(fc.constantFrom(...PIECES), { maxLength: 3 }),
      (name, at, length, pieces) => {
        const before = SOURCES[name]!;
        const start = at % (before.length + 1);
        const after = before.slice(0, start) + pieces.join("") +
          before.slice(Math.min(before.length, start + length));
        runs++;
        if (agrees(before, after, SYNTAX_OF[name]!)) taken++;
      },
    ),
    { numRuns: 1500 },
  );
  // Not a test that passes by never splicing: most random edits break the
  // syntax (then the whole parse must tell), but 10% or so are taken (156 of 1,500 measured).
  ok(taken >= 75, `only ${taken} of ${runs} edits were parsed from the edit`);
});

Deno.test("random edits of one statement's text keep being parsed from the edit, one after another", () => {
  // Successive edits, each from the tree the last one gave, as a file edited
  // over a day is: positions moved twice must still be right.
  let text = CORPUS;
  let previous = parsed(text, "ts");
  let taken = 0;
  for (let version = 2; version < 60; version++) {
    const next = version % 3 === 0
      ? text.replace(/ENTRY_VERSION = "v\d+"/, `ENTRY_VERSION = "v${version * 7}"`)
      : version % 3 === 1
      ? text.replace(/value \* \d+/, `value * ${version}\n`)
      : text.replace(/counter = \d+;/, `counter = ${version};`);
    const tree = reparse(previous, next);
    const whole = parseProgram(next, "ts");
    if (tree !== undefined) {
      taken++;
      deepStrictEqual(tree, whole);
    }
    previous = { source: next, syntax: "ts", program: tree ?? whole };
    text = next;
  }
  ok(taken > 50, `only ${taken} of 58 successive edits were parsed from the edit`);
});
