/**
 * `rewrite()` (core/_source_map.ts): replacements applied in place, and an
 * inline source map that sends every token of the result back to its line
 * and column in the original. The map is decoded here and looked up as a
 * stack frame would be (the segment at or before a column), and once
 * evaluated by V8 from a real `blob:` module.
 *
 * @module
 */

import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { columnShifts, originalColumn, rewrite } from "../core/_source_map.ts";

const COMMENT = /\n\/\/# sourceMappingURL=data:application\/json;base64,([A-Za-z0-9+/=]+)\n$/;
const DIGITS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

interface SourceMap {
  version: number;
  sources: string[];
  names: string[];
  mappings: string;
}

/** The map appended to `text`, decoded from its UTF-8 base64. */
function mapOf(text: string): SourceMap {
  const base64 = COMMENT.exec(text)?.[1];
  ok(base64 !== undefined, "a sourceMappingURL comment ends the text");
  return JSON.parse(new TextDecoder().decode(Uint8Array.from(atob(base64), (c) => c.charCodeAt(0))));
}

/** Segments as [generated line, generated column, source line, source column]. */
function segmentsOf(mappings: string): number[][] {
  const segments: number[][] = [];
  let srcLine = 0, srcCol = 0;
  mappings.split(";").forEach((line, genLine) => {
    let genCol = 0;
    for (const segment of line === "" ? [] : line.split(",")) {
      const values: number[] = [];
      let value = 0, shift = 0;
      for (const char of segment) {
        const digit = DIGITS.indexOf(char);
        value += (digit & 31) << shift;
        if (digit & 32) {
          shift += 5;
        } else {
          values.push(value & 1 ? -(value >>> 1) : value >>> 1);
          value = shift = 0;
        }
      }
      strictEqual(values.length, 4, `segment "${segment}"`);
      genCol += values[0]!;
      srcLine += values[2]!;
      srcCol += values[3]!;
      segments.push([genLine, genCol, srcLine, srcCol]);
    }
  });
  return segments;
}

/** Where a stack frame at generated `line`:`column` points in the source. */
function lookup(text: string, line: number, column: number): [number, number] | undefined {
  const found = segmentsOf(mapOf(text).mappings).filter(([l, c]) => l === line && c! <= column).at(-1);
  return found && [found[2]!, found[3]!];
}

/** Line and column of the first `needle` in `text` (lines split at \n only). */
function find(text: string, needle: string): [number, number] {
  const offset = text.indexOf(needle);
  ok(offset !== -1, `${needle} is in the text`);
  const before = text.slice(0, offset).split("\n");
  return [before.length - 1, before.at(-1)!.length];
}

const SOURCE = 'import { a } from "./a.js";\nconst first = a;\n  export const second = "x" + first;\n';
const SPEC = SOURCE.indexOf("./a.js");
const LONG = "blob:null/00000000-1111-2222-3333-444444444444";

Deno.test("rewrite() without a source URL applies replacements in order and appends nothing", () => {
  strictEqual(rewrite(SOURCE, [], undefined), SOURCE);
  const text = rewrite("abcdef", [{ start: 0, end: 1, text: "X" }, { start: 3, end: 5, text: "" }, {
    start: 6,
    end: 6,
    text: "!",
  }], undefined);
  strictEqual(text, "Xbcf!");
});

Deno.test("rewrite() with a source URL appends a version 3 map naming it", () => {
  const text = rewrite(SOURCE, [{ start: SPEC, end: SPEC + 6, text: LONG }], "file:///app/main.js");
  ok(
    text.startsWith(SOURCE.replace("./a.js", LONG)),
    "the code comes first, unchanged but for the replacement",
  );
  const map = mapOf(text);
  deepStrictEqual({ ...map, mappings: typeof map.mappings }, {
    version: 3,
    sources: ["file:///app/main.js"],
    names: [],
    mappings: "string",
  });
});

Deno.test("rewrite() maps tokens after a replacement on its line back to their original columns", () => {
  const text = rewrite(SOURCE, [{ start: SPEC, end: SPEC + 6, text: LONG }], "file:///app/main.js");
  const [line, column] = find(text, '";\nconst');
  ok(column > find(SOURCE, '";\nconst')[1], "the closing quote moved right");
  deepStrictEqual(lookup(text, line, column), find(SOURCE, '";\nconst'));
  deepStrictEqual(
    lookup(text, ...find(text, LONG)),
    find(SOURCE, "./a.js"),
    "the replacement maps to its start",
  );
  // Inside the replaced text, a frame still lands on the replacement's start.
  deepStrictEqual(lookup(text, line, find(text, LONG)[1] + 20), find(SOURCE, "./a.js"));
});

Deno.test("rewrite() keeps every token of the other lines at its own line and column", () => {
  const text = rewrite(SOURCE, [{ start: SPEC, end: SPEC + 6, text: LONG }], "file:///app/main.js");
  for (const token of ["const first", "first;", "export", "second", '"x"', "+ first"]) {
    deepStrictEqual(lookup(text, ...find(text, token)), find(SOURCE, token), token);
  }
});

Deno.test("rewrite() counts lines as ECMAScript does: CRLF, CR, LS and PS each end one", () => {
  const source = "a;\r\nb;\rc;\u2028 d;\u2029 e;";
  const text = rewrite(source, [], "file:///app/lines.js");
  deepStrictEqual(lookup(text, 1, 0), [1, 0], "b is on line 1");
  deepStrictEqual(lookup(text, 2, 0), [2, 0], "c is on line 2");
  deepStrictEqual(lookup(text, 3, 1), [3, 1], "d is on line 3");
  deepStrictEqual(lookup(text, 4, 1), [4, 1], "e is on line 4");
});

Deno.test("rewrite() starts a token after a Unicode space or line break, as after an ASCII one", () => {
  for (const separator of ["\u00a0", "\u3000", "\ufeff"]) {
    const source = `const s = 1;${separator}f();`;
    const text = rewrite(source, [], "file:///app/spaces.js");
    deepStrictEqual(lookup(text, 0, 13), [0, 13], JSON.stringify(separator));
  }
  // A line break: f() starts line 1, with no space before it.
  for (const separator of ["\u2028", "\u2029"]) {
    const text = rewrite(`const s = 1;${separator}f();`, [], "file:///app/breaks.js");
    deepStrictEqual(lookup(text, 1, 0), [1, 0], JSON.stringify(separator));
  }
});

Deno.test("rewrite() encodes a source URL outside Latin-1 as UTF-8", () => {
  const url = "file:///srv/%CF%80/%E2%82%AC.js?π=€";
  deepStrictEqual(mapOf(rewrite("export {};", [], url)).sources, [url]);
});

Deno.test("rewrite()'s map makes V8 report a throw at its original column", async () => {
  const source = 'const s = "SPEC"; throw new Error(s);\n';
  const at = source.indexOf("SPEC");
  const text = rewrite(
    source,
    [{ start: at, end: at + 4, text: "x".repeat(40) }],
    "file:///virtual/throws.js",
  );
  const url = URL.createObjectURL(new Blob([text], { type: "text/javascript" }));
  try {
    await import(url);
    ok(false, "the module throws");
  } catch (error) {
    const frame = /file:\/\/\/virtual\/throws\.js:(\d+):(\d+)/.exec(String((error as Error).stack));
    ok(frame !== null, `the stack names the source URL: ${(error as Error).stack}`);
    deepStrictEqual([Number(frame[1]), Number(frame[2])], [1, source.indexOf("new Error") + 1]);
  } finally {
    URL.revokeObjectURL(url);
  }
});

Deno.test("columnShifts() and originalColumn() move a column back past every longer specifier before it on its line", () => {
  const source = 'import a from "./a.ts"; import b from "./b.ts"; a(b);\nb();';
  const replacements = ["./a.ts", "./b.ts"].map((specifier) => {
    const start = source.indexOf(specifier);
    return { start, end: start + specifier.length, text: `blob:null/${specifier.slice(2, 3).repeat(36)}` };
  });
  const text = rewrite(source, replacements, undefined);
  const shifts = columnShifts(source, replacements);
  const [first, second] = [text.split("\n")[0]!, source.split("\n")[0]!];
  // 1-based columns, as frames give them: `a(b)`, the second `import`, and the second line.
  strictEqual(originalColumn(shifts, 1, first.indexOf("a(b)") + 1), second.indexOf("a(b)") + 1);
  strictEqual(originalColumn(shifts, 1, first.indexOf("import b") + 1), second.indexOf("import b") + 1);
  strictEqual(originalColumn(shifts, 1, 1), 1);
  strictEqual(originalColumn(shifts, 2, 1), 1);
});
