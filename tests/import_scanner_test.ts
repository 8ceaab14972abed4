/**
 * Unit tests of the import scanner's `exportsThen`: which entries need the
 * wrapper module that keeps `import()` from adopting a thenable namespace;
 * and of its `importMeta`, where a minted module's `import.meta` is.
 * The end-to-end cases (a `then` export that resolves, one that never calls
 * back) are in catalogue_then_test.ts.
 */

import { deepStrictEqual, notStrictEqual, ok, strictEqual } from "node:assert/strict";
import { createHash } from "node:crypto";
import { scanFresh, scanImports } from "../core/_import_scanner.ts";
import { reparse } from "../core/_incremental_parse.ts";
import type { MetaRange } from "../core/_mint.ts";
import { parseProgram } from "../core/_source_parser.ts";

const exportsThen = (source: string) => scanImports(source, "ts", { elideUnused: true }).exportsThen;

Deno.test("scanImports() says a module may export then for every form that binds it", () => {
  for (
    const source of [
      "export function then() {}",
      "export async function then() {}",
      "export class then {}",
      "export const then = 1;",
      "export let a = 1, then = 2;",
      "export const { a: { b: [then] } } = x;",
      "export const [, ...then] = x;",
      "export const { then = 1 } = x;",
      "export const { ...then } = x;",
      "const f = 1; export { f as then };",
      'const f = 1; export { f as "then" };',
      'export { then } from "./a.ts";',
      'export * as then from "./a.ts";',
      'export * from "./a.ts";',
      "export enum then { A }",
      "export namespace then { export const a = 1; }",
    ]
  ) {
    strictEqual(exportsThen(source), true, source);
  }
});

Deno.test("scanImports() says a module does not export then when no export can be named so", () => {
  for (
    const source of [
      "export const hs_app = { run: () => Promise.resolve(1).then((n) => n) };",
      "const then = 1; export const a = then;",
      "export default function then() {}",
      "export function other(then: number) { return then; }",
      'export type { then } from "./a.ts";',
      'export type * from "./a.ts";',
      "export { type then } from './a.ts';",
      "export interface then {}",
      "export type then = number;",
      "export declare function then(): void; // erased: no binding at run time",
      "",
    ]
  ) {
    strictEqual(exportsThen(source), false, source);
  }
});

Deno.test("scanImports() keeps one result per file: a file's previous text is dropped when it changes, unless another file has it", () => {
  const options = (path: string) => ({ elideUnused: true, path: `/virtual/cache_${path}.ts` });
  const [a, b] = ["export const v = 'a';\n", "export const v = 'b';\n"];
  const first = scanImports(a, "ts", options("one"));
  strictEqual(scanImports(a, "ts", options("one")), first, "the same text is scanned once");
  scanImports(b, "ts", options("one"));
  const again = scanImports(a, "ts", options("one"));
  notStrictEqual(again, first, "the file's previous text was dropped when it changed");
  deepStrictEqual(again, first);
  // Another file with the same text keeps it.
  scanImports(a, "ts", options("two"));
  scanImports(b, "ts", options("one"));
  strictEqual(scanImports(a, "ts", options("two")), again);
});

Deno.test("scanImports() keys a result by the digest of the bytes read, never confused with a text's own", () => {
  // A file saved with a BOM: its bytes hash as the text with U+FEFF, which decoding strips.
  const text = `import "./a.ts";\n`;
  const withBom = `\uFEFF${text}`;
  const bytesDigest = createHash("sha256").update(new TextEncoder().encode(withBom)).digest("base64");
  const fromFile = scanImports(text, "ts", { elideUnused: true, bytesDigest });
  const fromText = scanImports(withBom, "ts", { elideUnused: true });
  notStrictEqual(fromText, fromFile);
  strictEqual(
    fromText.imports[0]!.start,
    fromFile.imports[0]!.start + 1,
    "each result has its own text's positions",
  );
  strictEqual(
    scanImports(text, "ts", { elideUnused: true, bytesDigest }),
    fromFile,
    "the same bytes are scanned once",
  );
});

/**
 * A source whose `import.meta` occurrences are its substitutions (written
 * as they appear: `import.meta`, `import . meta`, ...), with their ranges;
 * any `import.meta` in the literal parts is text, not syntax.
 */
function withMetas(parts: TemplateStringsArray, ...metas: string[]): { source: string; ranges: MetaRange[] } {
  let source = parts[0]!;
  const ranges: MetaRange[] = [];
  for (const [index, meta] of metas.entries()) {
    ranges.push({ start: source.length, end: source.length + meta.length });
    source += meta + parts[index + 1]!;
  }
  return { source, ranges };
}

const M = "import.meta";

/** TypeScript: `import.meta` in comments, strings, templates, a regular expression and a property path; nested functions. */
const META_TS = withMetas`// import.meta in a line comment
/* import.meta in a block comment */
const a = "import.meta", b = 'import.meta';
const c = \`import.meta \${${M}.url} import.meta\`, tagged = String.raw\`import.meta\`;
const d = /import.meta/u, e = { import: { meta: 1 } }.import.meta;
export function outer(): unknown {
  function inner() {
    return () => ${M}.resolve("./x.ts");
  }
  return [inner, ${"import . meta"}, ${"import\n    /* between */ .meta"}.main, new.target];
}
class K { static own = ${M}; method(): string { return (${M}).url; } }
export const typed: string = (${M}.url as string) satisfies string;
export { a, b, c, d, e, K, tagged };
`;

/** TSX: `import.meta` in JSX text, attribute strings and comments, and in expressions among them. */
const META_TSX = withMetas`/** @jsx h */
declare const h: (...args: unknown[]) => unknown;
const id = <T,>(x: T): T => x;
export const view = (
  <div title="import.meta" data-url={${M}.url}>
    Don't read import.meta here, it's text {"import.meta"} {/* import.meta */}
    <p>{id(${M}).filename}</p>
    <>it's import.meta</>
  </div>
);
export const later = \`import.meta\${(() => ${M}.dirname)()}\`;
`;

Deno.test("scanImports() gives where each import.meta is, in source order, and none in text", () => {
  for (const [sample, syntax] of [[META_TS, "ts"], [META_TSX, "tsx"]] as const) {
    deepStrictEqual(scanImports(sample.source, syntax, { elideUnused: true }).importMeta, sample.ranges);
  }
  strictEqual(META_TS.ranges.length, 7);
  strictEqual(META_TSX.ranges.length, 3);
  const js = META_TS.source.replace(/: (unknown|string)| as string| satisfies string/g, "");
  deepStrictEqual(
    scanImports(js, "js", { elideUnused: true }).importMeta.map(({ start, end }) => js.slice(start, end)),
    [
      "import.meta",
      "import.meta",
      "import . meta",
      "import\n    /* between */ .meta",
      "import.meta",
      "import.meta",
      "import.meta",
    ],
  );
  deepStrictEqual(
    scanImports(`export const text = "import.meta";\n`, "ts", { elideUnused: true }).importMeta,
    [],
  );
});

Deno.test("scanImports() gives the whole scan's import.meta ranges for a file parsed again from its edit", () => {
  const path = "/virtual/meta_incremental.ts";
  let text = META_TS.source;
  scanImports(text, "ts", { elideUnused: true, path });
  const edits = [
    (source: string) =>
      source.replace("function inner() {", "function inner() {\n    const longer = [1, 2, 3];"),
    (source: string) => source.replace("const d = /import.meta/u", "const d = /import.meta.but.longer/u"),
    (source: string) => source.replace('const a = "import.meta"', 'const a = "x"'),
    (source: string) => source.replace("class K {", "class K {\n  static first = 1;"),
  ];
  for (const edit of edits) {
    const next = edit(text);
    notStrictEqual(next, text);
    // The edit is one the incremental parser takes: only the touched statements are parsed again.
    const previous = { source: text, syntax: "ts" as const, program: parseProgram(text, "ts") };
    ok(reparse(previous, next) !== undefined, `parsed whole:\n${next}`);
    const result = scanImports(next, "ts", { elideUnused: true, path });
    deepStrictEqual(result, scanFresh(next, "ts"));
    strictEqual(result.importMeta.length, 7);
    ok(result.importMeta.every(({ start }) => /^import\s*[./]/.test(next.slice(start))));
    text = next;
  }
});
