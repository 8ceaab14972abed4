/**
 * `mintModules()` (core/_mint.ts): a graph of modules minted as fresh
 * `blob:` URLs, local imports pointing at each other's URLs, computed
 * imports sent through a guard, JavaScript given a source map naming its
 * file, and `revoke()` freeing the blobs. Modules here are real: minted,
 * fetched back as text, and imported.
 *
 * @module
 */

import { deepStrictEqual, notStrictEqual, ok, rejects, strictEqual } from "node:assert/strict";
import { META_LOCAL, metaText, mintModules, type MintSource } from "../core/_mint.ts";
import { scanImports } from "../core/_import_scanner.ts";
import type { SourceSyntax } from "../core/_source_parser.ts";
import type { MintedSnapshot } from "../core/snapshot.ts";

/** A module with no imports. */
function leaf(path: string, source: string, extra: Partial<MintSource> = {}): MintSource {
  const mediaType = path.endsWith(".ts") ? "application/typescript" : "text/javascript";
  return { path, source, mediaType, imports: [], ...extra };
}

/** A module whose `specifier` (each occurrence, unquoted) imports module `module`. */
function importing(path: string, source: string, specifier: string, module: number | undefined): MintSource {
  const imports = [];
  for (let at = source.indexOf(specifier); at !== -1; at = source.indexOf(specifier, at + 1)) {
    imports.push({ start: at, end: at + specifier.length, quoted: false, module });
  }
  return { ...leaf(path, source), imports };
}

/** Mints `modules`, runs `body`, and revokes the URLs whatever happens. */
async function withMinted(
  modules: MintSource[],
  body: (minted: MintedSnapshot) => Promise<void>,
  guard?: string,
): Promise<void> {
  const minted = mintModules(modules, guard);
  try {
    await body(minted);
  } finally {
    minted.revoke();
  }
}

async function textOf(url: string): Promise<string> {
  return await (await fetch(url)).text();
}

const DEP = leaf("/virtual/dep.js", "export const shared = {};\nexport const n = 41;\n");
const ENTRY = importing(
  "/virtual/entry.js",
  'import { n, shared } from "./dep.js";\nexport const value = n + 1;\nexport { shared };\nexport const own = {};\n',
  "./dep.js",
  0,
);

Deno.test("mintModules() points local imports at the dependency's URL, and returns the entry's", async () => {
  await withMinted([DEP, ENTRY], async (minted) => {
    const [depUrl, entryUrl] = [...minted.files.keys()].filter((url) => url.startsWith("blob:"));
    strictEqual(minted.url, entryUrl, "the entry is minted last");
    ok((await textOf(minted.url)).startsWith(`import { n, shared } from "${depUrl}";\n`));
    strictEqual((await import(minted.url)).value, 42);
  });
});

Deno.test("mintModules() yields a fresh instance of every module on each call", async () => {
  await withMinted([DEP, ENTRY], async (first) => {
    await withMinted([DEP, ENTRY], async (second) => {
      notStrictEqual(second.url, first.url);
      const [a, b] = [await import(first.url), await import(second.url)];
      notStrictEqual(a.own, b.own, "the entry is evaluated again");
      notStrictEqual(a.shared, b.shared, "so is its dependency");
    });
  });
});

Deno.test("mintModules() maps each URL to its file, and a JavaScript file's URL as Deno prints it", async () => {
  const ts = leaf("/virtual/my dir/types.ts", "export const t: number = 1;\n");
  const js = importing("/virtual/my dir/main.js", 'import "./types.ts";\n', "./types.ts", 0);
  await withMinted([ts, js], async (minted) => {
    const files = [...minted.files];
    strictEqual(files.length, 3, "TypeScript keeps Deno's own map: no file URL for it");
    ok(files[0]![0].startsWith("blob:") && files[0]![1] === "/virtual/my dir/types.ts");
    ok(files[1]![0] === minted.url && files[1]![1] === "/virtual/my dir/main.js");
    deepStrictEqual(files[2], ["file:///virtual/my dir/main.js", "/virtual/my dir/main.js"]);
    await import(minted.url);
  });
});

Deno.test("mintModules() gives JavaScript a source map, so unblob() names the file, line and column", async () => {
  const thrower = leaf("/virtual/my dir/thrower.js", 'const a = 1;\n  throw new Error("top level");\n');
  await withMinted([thrower], async (minted) => {
    const error = await import(minted.url).then(() => undefined, (error: Error) => error);
    ok(error instanceof Error);
    const stack = minted.unblob(String(error.stack));
    ok(stack.includes("at file:///virtual/my dir/thrower.js:2:9"), stack);
    ok(!stack.includes("blob:"), stack);
  });
});

Deno.test("mintModules() keeps the source map of a JavaScript module that has one", async () => {
  const compiled = leaf("/virtual/out.js", "export {};\n//# sourceMappingURL=out.js.map\n");
  await withMinted([compiled], async (minted) => {
    strictEqual(await textOf(minted.url), compiled.source);
    deepStrictEqual([...minted.files.values()], ["/virtual/out.js"]);
  });
});

Deno.test("mintModules() sends an import the transpiler drops to an empty module", async () => {
  const entry = importing(
    "/virtual/typed.ts",
    'import { type Missing } from "./missing.ts";\nexport const ok: Missing | number = 1;\n',
    "./missing.ts",
    undefined,
  );
  await withMinted([entry], async (minted) => {
    ok((await textOf(minted.url)).includes('from "data:text/javascript,"'));
    strictEqual((await import(minted.url)).ok, 1);
  });
});

Deno.test("mintModules() with a guard sends computed imports through it, in source order with the others", async () => {
  const source =
    'export const load = (name) => import(name);\nimport { n } from "./dep.js";\nexport { n };\n';
  const entry = {
    ...importing("/virtual/guarded.js", source, "./dep.js", 0),
    computedImports: [source.indexOf("import(")],
  };
  const global = globalThis as { __mintTestGuard?: (name: string) => Promise<unknown> };
  global.__mintTestGuard = (name) => Promise.resolve({ guarded: name });
  try {
    await withMinted([DEP, entry], async (minted) => {
      const namespace = await import(minted.url);
      strictEqual(namespace.n, 41);
      deepStrictEqual(await namespace.load("anything"), { guarded: "anything" });
    }, "__mintTestGuard");
    await withMinted([DEP, entry], async (minted) => {
      ok(
        (await textOf(minted.url)).startsWith("export const load = (name) => import(name);"),
        "no guard, no change",
      );
    });
  } finally {
    delete global.__mintTestGuard;
  }
});

Deno.test("mintModules() says the entry is thenable unless it is known not to export then", () => {
  for (const [exportsThen, thenable] of [[undefined, true], [true, true], [false, false]] as const) {
    const minted = mintModules([leaf("/virtual/x.js", "export {};", { exportsThen })]);
    minted.revoke();
    strictEqual(minted.thenable, thenable, `exportsThen ${exportsThen}`);
  }
  const minted = mintModules([
    leaf("/virtual/a.js", "", { exportsThen: true }),
    leaf("/virtual/b.js", "", { exportsThen: false }),
  ]);
  minted.revoke();
  strictEqual(minted.thenable, false, "only the entry counts");
});

Deno.test("MintedSnapshot.revoke() frees every blob, once", async () => {
  const minted = mintModules([DEP, ENTRY]);
  const revoked: string[] = [];
  const original = URL.revokeObjectURL;
  URL.revokeObjectURL = (url: string) => {
    revoked.push(url);
    original(url);
  };
  try {
    minted.revoke();
    minted.revoke();
  } finally {
    URL.revokeObjectURL = original;
  }
  deepStrictEqual(revoked, [...minted.files.keys()].filter((url) => url.startsWith("blob:")));
  await rejects(import(minted.url), /Module not found/);
});

/** A module with no imports whose `import.meta` ranges are the import scanner's, as a snapshot's are. */
function scanned(path: string, source: string): MintSource {
  const syntax: SourceSyntax = path.endsWith(".tsx") ? "tsx" : path.endsWith(".ts") ? "ts" : "js";
  const importMeta = scanImports(source, syntax, { elideUnused: true }).importMeta;
  return { ...leaf(path, source), ...(syntax === "tsx" ? { mediaType: "text/tsx" } : {}), importMeta };
}

/** `import.meta` in code and in all the text a scanner without a parser could take it from. */
const META_TSX = `/** @jsx h */
type F = <T>(x: T) => T;
const id = <T,>(x: T): T => x;
export function App(props: { name: string }) {
  const re = /<div>'/g;
  const s = \`it's \${props.name} <b> \${\`nested \${import.meta.url}\`}\`;
  return (
    <div className="x" data-a='y' {...props} title={import.meta.url}>
      Don't use import.meta here, it's text {"import.meta"}
      <p>{import.meta.resolve("./x.ts")}</p>
      <>frag {/* import.meta */} it's</>
      <Foo.Bar a={<i>{import.meta.dirname}</i>} />
      {[1, 2].map((n) => <li key={n}>{n < 2 ? import . meta.main : n > 1}</li>)}
    </div>
  );
}
let arr: Array<number> = [];
if (arr) /import.meta/.test("x");
export const div = 10 / 2 / import.meta.url.length;
export default () => <section>{import
  .meta.filename}</section>;
`;

Deno.test("mintModules() rewrites import.meta at the ranges given, and no other text", async () => {
  const module = scanned("/virtual/app.tsx", META_TSX);
  strictEqual(module.importMeta!.length, 7);
  await withMinted([module], async (minted) => {
    const text = await textOf(minted.url);
    let expected = META_TSX;
    for (const { start, end } of module.importMeta!.toReversed()) {
      const local = metaText(META_TSX.slice(start, end), META_LOCAL);
      expected = expected.slice(0, start) + local + expected.slice(end);
    }
    strictEqual(text.slice(0, expected.length), expected);
    ok(text.includes("Don't use import.meta here") && text.includes('if (arr) /import.meta/.test("x");'));
    strictEqual((await import(minted.url)).div, 5 / "file:///virtual/app.tsx".length);
  });
});

Deno.test("mintModules() leaves import.meta alone in a module given no ranges", async () => {
  const module = leaf("/virtual/plain.js", "export const url = import.meta.url;\n");
  await withMinted([module], async (minted) => {
    ok((await textOf(minted.url)).startsWith(module.source));
    strictEqual((await import(minted.url)).url, minted.url);
  });
});

Deno.test("mintModules() gives each module an import.meta describing its file, one object a minted instance", async () => {
  const source = `export const meta = import.meta;
export const seen = [import.meta === meta, (() => import.meta.url)(), "import.meta", import.meta.resolve("./x.ts"), import.meta.resolve("npm:a@1")];
export function bare() { try { return import.meta.resolve("bare"); } catch (error) { return error; } }
export const where = [import.meta.url, new Error("here").stack];`;
  const module = scanned("/virtual/dir/m.ts", source);
  await withMinted([module], async (minted) => {
    const text = await textOf(minted.url);
    deepStrictEqual(
      text.split("\n").slice(0, 4).map((line) => line.length),
      source.split("\n").map((line) => line.length),
      "no line or column moves",
    );
    const ns = await import(minted.url);
    strictEqual(ns.meta.url, "file:///virtual/dir/m.ts");
    strictEqual(ns.meta.filename, "/virtual/dir/m.ts");
    strictEqual(ns.meta.dirname, "/virtual/dir");
    strictEqual(ns.meta.main, false);
    strictEqual(Object.getPrototypeOf(ns.meta), null);
    deepStrictEqual(Object.keys(ns.meta), ["url", "main", "resolve", "filename", "dirname"]);
    deepStrictEqual(ns.seen, [
      true,
      "file:///virtual/dir/m.ts",
      "import.meta",
      "file:///virtual/dir/x.ts",
      "npm:a@1",
    ]);
    ok(ns.bare() instanceof TypeError, String(ns.bare()));
    const column = source.split("\n")[3]!.indexOf("new Error") + 1;
    ok(String(ns.where[1]).includes(`${minted.url}:4:${column}`), String(ns.where[1]));
    await withMinted([module], async (again) => {
      notStrictEqual((await import(again.url)).meta, ns.meta, "a new instance, a new object");
    });
  });
});

Deno.test("mintModules() binds import.meta under another name when the module holds the usual one", async () => {
  const module = scanned(
    "/virtual/n.js",
    "const __hs_meta__ = 1;\nexport const both = [__hs_meta__, import.meta.url];\n",
  );
  await withMinted([module], async (minted) => {
    deepStrictEqual((await import(minted.url)).both, [1, "file:///virtual/n.js"]);
  });
});
