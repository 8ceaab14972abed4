/**
 * Unit tests of the import scanner's `exportsThen`: which entries need the
 * wrapper module that keeps `import()` from adopting a thenable namespace.
 * The end-to-end cases (a `then` export that resolves, one that never calls
 * back) are in catalogue_then_test.ts.
 */

import { deepStrictEqual, notStrictEqual, strictEqual } from "node:assert/strict";
import { createHash } from "node:crypto";
import { scanImports } from "../core/_import_scanner.ts";

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
