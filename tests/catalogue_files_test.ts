/**
 * Catalogue: the file a swap names. What the path is (a directory, a FIFO,
 * a symlink loop, a file of another type) and what the file holds (nothing,
 * bytes that are not UTF-8, control characters, 50 MB, a syntax error, a
 * top-level `throw null`, a byte order mark): each is refused with the code
 * and fix it calls for, or, for unicode paths and a byte order mark, served.
 * The frame and its rules are in tests/_catalogue.ts.
 *
 * @module
 */

import { deepStrictEqual, strictEqual } from "node:assert/strict";
import { type Case, catalogue } from "./_catalogue.ts";
import { runToEnd } from "./_child.ts";
import { echoModule, type Fixture } from "./_fixtures.ts";

const MiB = 1024 * 1024;

/** Writes raw bytes into the fixture; returns the path. */
async function writeBytes(fixture: Fixture, name: string, bytes: Uint8Array): Promise<string> {
  await Deno.writeFile(fixture.path(name), bytes);
  return fixture.path(name);
}

const CASES: readonly Case[] = [
  {
    name: "an empty file",
    write: (f) => f.write({ "empty.ts": "" }),
    expect: { code: "E_SYMBOL", message: /exports found: none; export the handle/ },
  },
  {
    name: "binary garbage (not UTF-8)",
    write: (f) =>
      writeBytes(f, "garbage.ts", Uint8Array.from({ length: 4096 }, (_, i) => (i * 7919 + 13) % 256)),
    expect: { code: "E_IMPORT", message: /is not UTF-8 text.*save it as a UTF-8 source file/ },
  },
  {
    name: "valid UTF-8 that is not code (control characters and NULs)",
    write: (f) => f.write({ "controls.ts": "\u0000\u0001\u0002 }{ \u0007\u001b[31m\u0000 export" }),
    expect: { code: "E_IMPORT", message: /Cannot parse .*fix the syntax error/ },
  },
  {
    name: "a 50 MB file, over the default 16 MiB limit",
    write: async (f) => {
      const path = await f.write({ "huge.ts": echoModule("huge") });
      await Deno.truncate(path, 50 * MiB);
      return path;
    },
    expect: {
      code: "E_IMPORT",
      message: /is 50\.0 MiB, and the generation would exceed its 16\.0 MiB limit; .*maxSnapshotBytes/,
    },
  },
  {
    name: "a path that is a directory",
    write: async (f) => {
      await Deno.mkdir(f.path("adir"));
      await Deno.writeTextFile(f.path("adir/main.ts"), "export {};\n");
      return f.path("adir");
    },
    expect: {
      code: "E_NOT_FOUND",
      message: /is a directory, not a module file; name one of its module files, such as ".*adir\/main\.ts"/,
    },
  },
  {
    name: "a path that is a symlink loop",
    posix: true,
    write: async (f) => {
      await Deno.symlink(f.path("loop_b.ts"), f.path("loop_a.ts"));
      await Deno.symlink(f.path("loop_a.ts"), f.path("loop_b.ts"));
      return f.path("loop_a.ts");
    },
    expect: { code: "E_NOT_FOUND", message: /loop_a\.ts": it is a symlink loop/ },
  },
  {
    name: "a path that is a FIFO (reading it would block forever)",
    posix: true,
    write: async (f) => {
      const { code, stderr } = await runToEnd([f.path("fifo.ts")], { program: "mkfifo" });
      strictEqual(code, 0, `mkfifo: ${stderr}`);
      return f.path("fifo.ts");
    },
    expect: { code: "E_NOT_FOUND", message: /fifo\.ts": it is not a regular file/ },
  },
  {
    name: "a path with unicode and spaces, importing another",
    write: (f) =>
      f.write({
        "dir with spaces/ünïcødé 🚀 gen.ts":
          `import { label } from "./lib ✓/ça va.ts";\nexport const hs_echo = { label, run: (i: unknown) => [label, i] };`,
        "dir with spaces/lib ✓/ça va.ts": `export const label = "ça va 🚀";`,
      }),
    expect: { result: ["ça va 🚀", 1] },
    after: ({ hot, fixture }) => {
      deepStrictEqual(hot.info().files, [
        fixture.path("dir with spaces/lib ✓/ça va.ts"),
        fixture.path("dir with spaces/ünïcødé 🚀 gen.ts"),
      ]);
    },
  },
  {
    name: "a file that is not a module type (.txt)",
    write: (f) => f.write({ "notes.txt": echoModule("x") }),
    expect: { code: "E_IMPORT", message: /"\.txt" is not a module type/ },
  },
  {
    name: "a syntax error",
    write: (f) => f.write({ "syntax.ts": `export const hs_echo = { label: "x", run: (i) => i ];` }),
    expect: {
      code: "E_IMPORT",
      message: /Cannot parse ".*syntax\.ts": SyntaxError: .*syntax\.ts:1:\d+; fix the syntax error/,
    },
  },
  {
    name: "a top-level throw of null",
    write: (f) => f.write({ "throws_null.ts": `throw null;\n${echoModule("x")}` }),
    expect: { code: "E_IMPORT", message: /object null; fix the error its top-level code throws/ },
  },
  {
    name: "a top-level call into a dependency's function that throws: blamed on the caller",
    write: (f) =>
      f.write({
        "caller.ts": `import { fail } from "./helper.ts";\nfail("boom");\n${echoModule("x")}`,
        "helper.ts": `export function fail(why: string): never { throw new RangeError(why); }`,
      }),
    expect: {
      code: "E_IMPORT",
      message:
        /^Cannot import "[^"]*caller\.ts": RangeError: boom at [^ ]*helper\.ts:1:\d+ \(called from its top-level code at [^ ]*caller\.ts:2:1\); fix the error its top-level code throws/,
    },
  },
  {
    name: "a dependency whose own top-level code throws: blamed on the dependency",
    write: (f) =>
      f.write({
        "importer.ts": `import { label } from "./broken.ts";\n${echoModule("x")}\nexport const l = label;`,
        "broken.ts": `export const label = "b";\nthrow new TypeError("broken at load");`,
      }),
    expect: {
      code: "E_IMPORT",
      message:
        /^Cannot import "[^"]*broken\.ts" \(a dependency of "[^"]*importer\.ts"\): TypeError: broken at load at [^ ]*broken\.ts:2:\d+; fix the error/,
    },
  },
  {
    name: "a handle export that is undefined once the module has run",
    write: (f) =>
      f.write({ "undefined_export.ts": `export const hs_echo = undefined;\nexport const other = 1;` }),
    expect: {
      code: "E_SYMBOL",
      message: /export "hs_echo" of .*: it is undefined once the module has run; assign it/,
    },
  },
  {
    name: "a UTF-8 byte order mark before the code",
    write: (f) => f.write({ "bom.ts": `\uFEFF${echoModule("bom")}` }),
    expect: { result: ["bom", 1] },
  },
];

catalogue(CASES);
