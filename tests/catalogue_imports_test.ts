/**
 * Catalogue: the import graph of a generation. Imports of a directory, of a
 * symlink loop and of a missing file, cycles, a chain 3,000 modules deep and
 * a graph over `maxSnapshotBytes` are refused with `E_IMPORT`, naming the
 * import at fault. The frame and its rules are in tests/_catalogue.ts.
 *
 * @module
 */

import { type Case, catalogue } from "./_catalogue.ts";
import { echoModule } from "./_fixtures.ts";

const CASES: readonly Case[] = [
  {
    name: "a graph whose files together exceed maxSnapshotBytes",
    options: { maxSnapshotBytes: 64 * 1024 },
    write: (f) =>
      f.write({
        "sum.ts": `import "./part_a.ts";\nimport "./part_b.ts";\n${echoModule("sum")}`,
        "part_a.ts": `// ${"a".repeat(40 * 1024)}\nexport {};`,
        "part_b.ts": `// ${"b".repeat(40 * 1024)}\nexport {};`,
      }),
    expect: { code: "E_IMPORT", message: /part_b\.ts.*exceed its 64\.0 KiB limit/ },
  },
  {
    name: "an import of a directory",
    write: async (f) => {
      await Deno.mkdir(f.path("lib"));
      return await f.write({ "imports_dir.ts": `import "./lib";\n${echoModule("x")}` });
    },
    expect: { code: "E_IMPORT", message: /lib.*is a directory/ },
  },
  {
    name: "an import of a symlink loop",
    posix: true,
    write: async (f) => {
      await Deno.symlink(f.path("self_loop.ts"), f.path("self_loop.ts"));
      return await f.write({ "imports_loop.ts": `import "./self_loop.ts";\n${echoModule("x")}` });
    },
    expect: { code: "E_IMPORT", message: /"\.\/self_loop\.ts" resolves to .*it is a symlink loop/ },
  },
  {
    name: "a missing import under a unicode name, named in the message",
    write: (f) => f.write({ "naïve.ts": `import "./fichier manquant é.ts";\n${echoModule("x")}` }),
    expect: { code: "E_IMPORT", message: /fichier manquant é\.ts", no such file; fix the import/ },
  },
  {
    name: "an import of a missing file",
    write: (f) => f.write({ "missing_dep.ts": `import { x } from "./nowhere.ts";\n${echoModule("x")}` }),
    expect: { code: "E_IMPORT", message: /nowhere\.ts", no such file; fix the import or add the file/ },
  },
  {
    name: "an import of a name the module does not export, blamed on the importer",
    write: (f) =>
      f.write({
        "importer.ts": `import { nope } from "./exporter.ts";\nconsole.log(nope);\n${echoModule("x")}`,
        "exporter.ts": "export const here = 1;",
      }),
    expect: {
      code: "E_IMPORT",
      // Not "exporter.ts (a dependency of …)", which a worker's message names first.
      message:
        /^Cannot import "[^"]*importer\.ts": .*export named 'nope'.*; import only names that module exports/,
    },
  },
  {
    name: "circular imports",
    write: (f) =>
      f.write({
        "ring_a.ts": `import "./ring_b.ts";\n${echoModule("x")}`,
        "ring_b.ts": `import "./ring_c.ts";\nexport {};`,
        "ring_c.ts": `import "./ring_a.ts";\nexport {};`,
      }),
    expect: {
      code: "E_IMPORT",
      message: /circular import .*ring_a\.ts.*ring_b\.ts.*ring_c\.ts.*break the cycle/,
    },
  },
  {
    name: "a module that imports itself",
    write: (f) => f.write({ "narcissus.ts": `import "./narcissus.ts";\n${echoModule("x")}` }),
    expect: { code: "E_IMPORT", message: /circular import/ },
  },
  {
    name: "an import chain 3,000 modules deep",
    write: (f) => {
      for (let i = 0; i < 3000; i++) {
        Deno.writeTextFileSync(
          f.path(`deep_${i}.ts`),
          i < 2999 ? `import "./deep_${i + 1}.ts";\nexport {};` : "export {};",
        );
      }
      return f.write({ "deep.ts": `import "./deep_0.ts";\n${echoModule("deep")}` });
    },
    expect: { code: "E_IMPORT", message: /import graph is too deep/ },
  },
];

catalogue(CASES);
