/**
 * Snapshots of generations as people write them (SPEC 4, 6.3): TypeScript,
 * JSX with the classic pragma and the automatic runtime, JSON, npm imports,
 * type-only imports, Unicode and string export names, stack traces that
 * name the generation's files, and the digest and minted URLs themselves.
 *
 * @module
 */

import { deepStrictEqual, match, notStrictEqual, ok, rejects, strictEqual, throws } from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { defineContract, type HotswapError, registerHotswap } from "../mod.ts";
import { readSnapshot, type Snapshot } from "../core/snapshot.ts";
import { Roots } from "../core/roots.ts";
import { scanImports } from "../core/_import_scanner.ts";
import { OffThreadReader } from "../core/_off_thread_reader.ts";
import { REPO, runToEnd } from "./_child.ts";
import { echo, Fixture } from "./_fixtures.ts";
const ISOLATIONS = ["inline", "worker"] as const;

function read(entry: string): Promise<Snapshot> {
  return readSnapshot(entry, { roots: Roots.resolve(undefined, entry) });
}

function names(snapshot: Snapshot, fixture: Fixture): string[] {
  return snapshot.files.map((file) => file.slice(fixture.dir.length + 1));
}

/** A classic JSX factory that renders to plain, cloneable data. */
const FACTORY =
  `export function h(tag: unknown, props: Record<string, unknown> | null, ...children: unknown[]): unknown {
  return typeof tag === "function" ? tag({ ...props, children }) : { tag, props, children };
}
export function Fragment(props: { children: unknown[] }): unknown {
  return props.children;
}
`;

for (const isolation of ISOLATIONS) {
  Deno.test(`registerHotswap() loads a .jsx generation with the classic pragma and a local factory (${isolation})`, async () => {
    await using fixture = await Fixture.create();
    const entry = await fixture.write({
      "gen.jsx": `/** @jsx h */
import { h } from "./h.js";
export const hs_echo = { label: "jsx", run: (name) => <p class="greeting">hello {name}</p> };
`,
      "h.js": "export function h(tag, props, ...children) { return { tag, props, children }; }\n",
    });
    await using hot = await registerHotswap(echo, entry, { isolation });
    deepStrictEqual(await hot.with((h) => h.run("ada")), {
      tag: "p",
      props: { class: "greeting" },
      children: ["hello ", "ada"],
    });
    deepStrictEqual(hot.info().files, [fixture.path("h.js"), entry]);
  });

  Deno.test(`registerHotswap() loads a .tsx generation that imports a .tsx component (${isolation})`, async () => {
    await using fixture = await Fixture.create();
    const entry = await fixture.write({
      "app.tsx": `/** @jsx h */
/** @jsxFrag Fragment */
import { Fragment, h } from "./h.ts";
import { Badge } from "./badge.tsx";
export const hs_echo = { label: "tsx", run: (n: unknown) => <><Badge text={String(n)} /></> };
`,
      "badge.tsx": `/** @jsx h */
import { h } from "./h.ts";
export function Badge(props: { text: string }) {
  return <b>{props.text}</b>;
}
`,
      "h.ts": FACTORY,
    });
    await using hot = await registerHotswap(echo, entry, { isolation });
    deepStrictEqual(await hot.with((h) => h.run(7)), [{ tag: "b", props: null, children: ["7"] }]);
    deepStrictEqual(hot.info().files, [fixture.path("h.ts"), fixture.path("badge.tsx"), entry]);
  });

  Deno.test(`registerHotswap() loads a generation that imports JSON with { type: "json" } (${isolation})`, async () => {
    await using fixture = await Fixture.create();
    const entry = await fixture.write({
      "gen.ts": `import data from "./data.json" with { type: "json" };
export const hs_echo = { label: data.label, run: (key: string) => (data.values as Record<string, number>)[key] };
`,
      "data.json": `{ "label": "from json", "values": { "a": 1, "b": [2, 3] } }`,
    });
    await using hot = await registerHotswap(echo, entry, { isolation });
    strictEqual(hot.with((h) => h.label), "from json");
    deepStrictEqual(await hot.with((h) => h.run("b")), [2, 3]);
  });

  for (
    const [what, symbol, exported] of [
      ["a Unicode identifier", "hs_Händles_π", "export const hs_Händles_π = handle;"],
      ["a string export name", "hs handles v2", 'export { handle as "hs handles v2" };'],
    ] as const
  ) {
    Deno.test(`registerHotswap() finds a handle exported under ${what} (${isolation})`, async () => {
      const contract = defineContract<{ label: string; run(input: unknown): unknown }>({
        name: "Named",
        version: "1.0.0",
        symbol,
        shape: { label: "string", run: "function" },
      });
      await using fixture = await Fixture.create();
      const entry = await fixture.write({
        "gen.ts": `const handle = { label: ${
          JSON.stringify(symbol)
        }, run: (n: number) => n + 1 };\n${exported}\n`,
      });
      await using hot = await registerHotswap(contract, entry, { isolation });
      strictEqual(hot.with((h) => h.label), symbol);
      strictEqual(await hot.with((h) => h.run(1)), 2);
    });
  }

  Deno.test(`registerHotswap() compares export names exactly and names a lookalike in E_SYMBOL (${isolation})`, async () => {
    const nfc = "hs_Händles";
    const contract = defineContract<{ label: string }>({
      name: "Named",
      version: "1.0.0",
      symbol: nfc,
      shape: { label: "string" },
    });
    await using fixture = await Fixture.create();
    const nfd = nfc.normalize("NFD");
    notStrictEqual(nfd, nfc);
    const entry = await fixture.write({ "gen.ts": `export const ${nfd} = { label: "nfd" };\n` });
    await rejects(registerHotswap(contract, entry, { isolation }), (error: HotswapError) => {
      strictEqual(error.code, "E_SYMBOL");
      ok(error.message.includes(`exports found: "${nfd}"`), error.message);
      ok(
        error.message.includes(
          `"hs_Ha\\u0308ndles" differs from "hs_H\\u00e4ndles" only in Unicode normalisation`,
        ),
      );
      return true;
    });
  });
}

Deno.test("defineContract() accepts any well-formed export name and refuses lone surrogates and the empty string", () => {
  const define = (symbol: string) =>
    defineContract<{ a: string }>({ name: "A", version: "1.0.0", symbol, shape: { a: "string" } });
  for (const symbol of ["hs_Händles_π", "hs handles v2", "default", "🔥", "a\u0308"]) {
    strictEqual(define(symbol).symbol, symbol);
  }
  for (const symbol of ["", "hs_\ud800", "\udc00x"]) {
    let thrown: unknown;
    try {
      define(symbol);
    } catch (error) {
      thrown = error;
    }
    ok(thrown instanceof TypeError, `symbol ${JSON.stringify(symbol)} must be refused`);
    match(thrown.message, /is not an export name \(a non-empty string of well-formed Unicode/);
  }
  const defineWith = (symbol: unknown) => () =>
    defineContract(
      { name: "A", version: "1.0.0", symbol, shape: {} } as unknown as Parameters<typeof defineContract>[0],
    );
  throws(defineWith(undefined), {
    name: "TypeError",
    message: /^Cannot define contract "A": symbol is missing; name the export that holds the handle/,
  });
  throws(defineWith(42), { name: "TypeError", message: /symbol \(a number\) is not an export name/ });
  throws(defineWith({}), { name: "TypeError", message: /symbol \(an object\) is not an export name/ });
});

Deno.test("readSnapshot() follows neither type-only imports nor imports Deno's transpiler drops, and Deno agrees", async () => {
  await using fixture = await Fixture.create();
  const entry = await fixture.write({
    "gen.ts": `import type { A } from "./missing_a.ts";
import { type B } from "./type_b.ts";
import { type C, value } from "./value.ts";
import { Iface } from "./types_only.ts";
import { unused } from "./unused.ts";
export type { D } from "./missing_d.ts";
export { type E } from "./type_e.ts";
export type * from "./missing_f.ts";
import "./side.ts";
const typed: A | B | C | Iface | undefined = undefined;
export const hs_echo = { label: "types", run: () => [value, typed] };
`,
    "value.ts": "export type C = 1;\nexport const value = 42;\n",
    // Were Deno to evaluate any of these modules, loading would fail.
    "type_b.ts": 'export type B = 1;\nthrow new Error("type_b.ts ran");\n',
    "type_e.ts": 'export type E = 1;\nthrow new Error("type_e.ts ran");\n',
    "types_only.ts": 'export interface Iface { x: number }\nthrow new Error("types_only.ts ran");\n',
    "unused.ts": 'export const unused = 1;\nthrow new Error("unused.ts ran");\n',
    "side.ts": "export {};\n",
  });
  const snapshot = await read(entry);
  deepStrictEqual(names(snapshot, fixture), ["value.ts", "side.ts", "gen.ts"]);
  // Deno resolves the dropped imports all the same (and, from disk, would
  // refuse a missing file): they point at an empty module.
  const minted = snapshot.mint();
  try {
    const text = await (await fetch(minted.url)).text();
    strictEqual(text.match(/"data:text\/javascript,"/g)?.length, 4);
    ok(text.includes('import type { A } from "./missing_a.ts"'));
  } finally {
    minted.revoke();
  }
  for (const isolation of ISOLATIONS) {
    await using hot = await registerHotswap(echo, entry, { isolation });
    deepStrictEqual(await hot.with((h) => h.run(0)), [42, undefined]);
  }
});

Deno.test("scanImports() gives the exact range of every specifier Deno resolves, attributes untouched", () => {
  const source = `import a from "./a.ts";
import './b.ts' with { type: "json" };
export * from "./c.ts";
export { d } from "./d.ts";
import("./e.ts"); import(\`./f.ts\`); import("./" + name);
import { g } from "npm:g@1.0.0";
import type { H } from "./h.ts";
type I = typeof import("./i.ts");
console.log(a, g);
`;
  const { imports } = scanImports(source, "ts", { elideUnused: true });
  deepStrictEqual(
    imports.map(({ specifier, start, end, quoted }) => [specifier, source.slice(start, end), quoted]),
    [
      ["./a.ts", "./a.ts", false],
      ["./b.ts", "./b.ts", false],
      ["./c.ts", "./c.ts", false],
      ["./d.ts", "./d.ts", false],
      ["./e.ts", '"./e.ts"', true],
      ["./f.ts", "`./f.ts`", true],
      ["npm:g@1.0.0", "npm:g@1.0.0", false],
    ],
  );
});

Deno.test("scanImports() tells which imports Deno evaluates: elision in TypeScript and JSX, none in JavaScript", () => {
  const source = `import { type A } from "./a.ts";
import { b } from "./b.ts";
import {} from "./c.ts";
import * as unusedNs from "./d.ts";
export { type E } from "./e.ts";
`;
  const evaluated = (syntax: "ts" | "jsx" | "js", elideUnused: boolean, text = source) =>
    scanImports(text, syntax, { elideUnused }).imports.filter((record) => record.evaluated)
      .map((record) => record.specifier);
  // Every one of them is resolved; only `import {} from` is evaluated.
  strictEqual(scanImports(source, "ts", { elideUnused: true }).imports.length, 5);
  deepStrictEqual(evaluated("ts", true), ["./c.ts"]);
  deepStrictEqual(evaluated("ts", false), ["./a.ts", "./b.ts", "./c.ts", "./d.ts", "./e.ts"]);
  const js = 'import { b } from "./b.js";\nimport * as ns from "./d.js";\n';
  deepStrictEqual(evaluated("js", true, js), ["./b.js", "./d.js"]);
  deepStrictEqual(evaluated("jsx", true, js), []);
  // A classic factory is a use; under the automatic runtime it is not.
  const jsx = 'import { h } from "./h.js";\nexport const el = <p />;\n';
  deepStrictEqual(evaluated("jsx", true, `/** @jsx h */\n${jsx}`), ["./h.js"]);
  deepStrictEqual(evaluated("jsx", true, `/** @jsxImportSource npm:preact@10.29.0 */\n${jsx}`), []);
  deepStrictEqual(evaluated("jsx", true, 'import { X } from "./x.js";\nexport const el = <X.Y />;\n'), [
    "./x.js",
  ]);
});

Deno.test("a generation in a release directory reached through a symlink loads its imports, and follows a flip of the link", async () => {
  await using fixture = await Fixture.create();
  for (const version of ["v1", "v2"]) {
    await fixture.write({
      [`releases/${version}/main.ts`]:
        `import { word } from "./lib/word.ts";\nexport const hs_echo = { label: word, run: (input: unknown) => [word, input] };\n`,
      [`releases/${version}/lib/word.ts`]: `export const word = "${version}";\n`,
    });
  }
  const current = fixture.path("current");
  const entry = join(current, "main.ts");
  // The entry's directory is the default root; given as a root, the link behaves the same.
  for (const roots of [undefined, [current]]) {
    await Deno.remove(current).catch(() => {});
    await Deno.symlink(fixture.path("releases/v1"), current);
    await using hot = await registerHotswap(echo, entry, roots === undefined ? {} : { roots });
    strictEqual(hot.with((h) => h.label), "v1");
    await Deno.remove(current);
    await Deno.symlink(fixture.path("releases/v2"), current);
    await hot.swap(entry);
    strictEqual(hot.with((h) => h.label), "v2");
  }
});

Deno.test("Snapshot.digest is the same for the same bytes and changes when a dependency changes", async () => {
  await using one = await Fixture.create();
  await using two = await Fixture.create();
  const files = {
    "gen.ts": 'import { value } from "./dep.ts";\nexport const hs_echo = { label: "d", run: () => value };\n',
    "dep.ts": "export const value = 1;\n",
  };
  const first = await read(await one.write(files));
  strictEqual((await read(first.entry)).digest, first.digest);
  strictEqual(
    (await read(await two.write(files))).digest,
    first.digest,
    "the digest covers bytes, not paths",
  );
  match(first.digest, /^sha256-[A-Za-z0-9+/]{43}=$/);
  await one.write({ "dep.ts": "export const value = 2;\n" });
  const edited = await read(first.entry);
  notStrictEqual(edited.digest, first.digest);
  // The entry's bytes did not change: only the dependency's digest did.
  strictEqual(edited.modules.at(-1)!.source, first.modules.at(-1)!.source);
  const bytes = createHash("sha256").update(await Deno.readFile(one.path("dep.ts"))).digest("base64");
  strictEqual(edited.modules[0]!.digest, `sha256-${bytes}`);
});

Deno.test("Snapshot.mint() makes fresh URLs on every call, and revoke() frees them once", async () => {
  await using fixture = await Fixture.create();
  const snapshot = await read(
    await fixture.write({
      "gen.js": 'import { n } from "./dep.js";\nexport const value = n;\n',
      "dep.js": "export const n = 5;\n",
    }),
  );
  const first = snapshot.mint();
  const second = snapshot.mint();
  notStrictEqual(first.url, second.url);
  const minted = (m: typeof first) => [...m.files.keys()].filter((url) => url.startsWith("blob:"));
  strictEqual(minted(first).length, 2);
  strictEqual(minted(first).filter((url) => minted(second).includes(url)).length, 0);
  strictEqual((await import(first.url)).value, 5);
  second.revoke();
  second.revoke();
  await rejects(import(second.url));
  first.revoke();
});

Deno.test("Snapshot.mint() lets a JavaScript frame name its file, line and column, past a rewritten import", async () => {
  await using fixture = await Fixture.create();
  const line3 = '  if (n < 0) return import("./never.js"); throw new Error("boom " + n);';
  const snapshot = await read(
    await fixture.write({
      "gen.js": 'import { fail } from "./fail.js";\nexport const run = (n) => fail(n);\n',
      "fail.js":
        `// Line 3 throws, after an import() whose specifier the mint rewrites.\nexport function fail(n) {\n${line3}\n}\n`,
      "never.js": "export {};\n",
    }),
  );
  const minted = snapshot.mint();
  try {
    const { run } = await import(minted.url);
    throws(() => run(1), (error: Error) => {
      const column = line3.indexOf("new Error") + 1;
      ok(error.stack!.includes(`file://${fixture.path("fail.js")}:3:${column}`), error.stack);
      return true;
    });
  } finally {
    minted.revoke();
  }
});

Deno.test("Snapshot.mint() keeps a TypeScript frame's line and column; unblob() names the file", async () => {
  await using fixture = await Fixture.create();
  const snapshot = await read(
    await fixture.write({
      "gen.ts": 'import { fail } from "./fail.ts";\nexport const run = (n: number) => fail(n);\n',
      "fail.ts":
        "interface Unused {\n  x: number;\n}\nexport function fail(n: number): never {\n  throw new Error(`boom ${n}`);\n}\n",
    }),
  );
  const minted = snapshot.mint();
  try {
    const { run } = await import(minted.url);
    let stack = "";
    try {
      run(1);
    } catch (error) {
      stack = (error as Error).stack!;
    }
    const url = [...minted.files].find(([, path]) => path === fixture.path("fail.ts"))![0];
    ok(stack.includes(`${url}:5:9`), stack);
    ok(minted.unblob(stack).includes(`${fixture.path("fail.ts")}:5:9`));
  } finally {
    minted.revoke();
  }
});

for (const [kind, extension] of [["JavaScript", "js"], ["TypeScript", "ts"]] as const) {
  for (const isolation of ISOLATIONS) {
    for (const timing of ["sync", "async"] as const) {
      // Inline TypeScript frames name the blob: URL until with() renames them (see the Snapshot.mint() test above).
      Deno.test(`Hotswap.with() fails with a stack naming the ${kind} file and line that threw (${isolation}, ${timing})`, async () => {
        const param = extension === "ts" ? ": unknown" : "";
        await using fixture = await Fixture.create();
        const entry = await fixture.write({
          [`gen.${extension}`]: `import { fail } from "./fail.${extension}";
export const hs_echo = { label: "stack", run: ${timing === "async" ? "async " : ""}(n${param}) => fail(n) };
`,
          [`fail.${extension}`]: `// Line 3 throws.
export function fail(n${param}) {
  throw new Error("boom " + n);
}
`,
        });
        await using hot = await registerHotswap(echo, entry, { isolation });
        await rejects(async () => await hot.with((h) => h.run(1)), (error: Error) => {
          match(error.message, /boom 1/);
          ok(error.stack!.includes(`${fixture.path(`fail.${extension}`)}:3:9`), error.stack);
          ok(!error.stack!.includes("blob:"), error.stack);
          return true;
        });
      });
    }
  }
}

Deno.test("readSnapshot() follows an unused JSON import: Deno checks its type even when it drops it", async () => {
  await using fixture = await Fixture.create();
  const entry = await fixture.write({
    "gen.ts": `import data from "./data.json" with { type: "json" };
export const hs_echo = { label: "json", run: (): typeof data | undefined => undefined };
`,
    "data.json": "[1]",
  });
  deepStrictEqual(names(await read(entry), fixture), ["data.json", "gen.ts"]);
  await using hot = await registerHotswap(echo, entry);
  strictEqual(hot.with((h) => h.run(0)), undefined);
});

Deno.test("readSnapshot() refuses a dropped import of a missing file, as Deno does from disk", async () => {
  await using fixture = await Fixture.create();
  const entry = await fixture.write({
    "gen.ts": 'import { type T } from "./nowhere.ts";\nexport const x: T | undefined = undefined;\n',
  });
  await rejects(read(entry), (error: HotswapError) => {
    strictEqual(error.code, "E_IMPORT");
    match(error.message, /its import "\.\/nowhere\.ts" resolves to ".*nowhere\.ts", no such file/);
    return true;
  });
});

Deno.test("readSnapshot() reports a syntax error with file, line and column, and what to fix", async () => {
  await using fixture = await Fixture.create();
  const entry = await fixture.write({
    "gen.ts": 'import { x } from "./dep.ts";\nexport const y = x;\n',
    "dep.ts": "export const x = 1;\nexport const broken = { a: 1 ];\n",
  });
  await rejects(read(entry), (error: HotswapError) => {
    strictEqual(error.code, "E_IMPORT");
    strictEqual(error.path, fixture.path("dep.ts"));
    match(
      error.message,
      /^Cannot parse ".*dep\.ts": SyntaxError: .* at .*dep\.ts:2:\d+; fix the syntax error$/,
    );
    return true;
  });
  await fixture.write({ "dep.ts": "export const x = 1;\n", "data.json": "{ nope }" });
  await fixture.write({
    "gen.ts": 'import data from "./data.json" with { type: "json" };\nexport { data };\n',
  });
  await rejects(read(entry), /Cannot parse ".*data\.json": .*; fix the JSON/);
});

Deno.test("readSnapshot() refuses a comment never closed, saying so, not blaming the scanner", async () => {
  await using fixture = await Fixture.create();
  // Deno would run the TypeScript file without the rest; the JavaScript one is a SyntaxError.
  for (const name of ["cut.ts", "cut.js"]) {
    const entry = await fixture.write({
      [name]: "export const x = 1;\n/* a comment cut off\nexport const y = 2;\n",
    });
    await rejects(read(entry), (error: HotswapError) => {
      strictEqual(error.code, "E_IMPORT");
      strictEqual(error.path, entry);
      match(
        error.message,
        /^Cannot parse ".*cut\.[jt]s": the comment opened at .*cut\.[jt]s:2:1 is never closed/,
      );
      match(error.message, /close the comment/);
      return true;
    });
  }
});

Deno.test("readSnapshot() refuses a local @jsxImportSource, which cannot be minted", async () => {
  await using fixture = await Fixture.create();
  const entry = await fixture.write({
    "gen.tsx": "/** @jsxImportSource ./runtime */\nexport const el = <p />;\n",
  });
  await rejects(read(entry), /its @jsxImportSource "\.\/runtime" is a local path.*npm: or jsr: package/);
});

/** A host program outside the repository: npm imports in generations, inline and in a worker. */
const NPM_HOST = `import { defineContract, registerHotswap } from ${JSON.stringify(join(REPO, "mod.ts"))};
const echo = defineContract<{ label: string; run(input: unknown): unknown }>({
  name: "Echo", version: "1.0.0", symbol: "hs_echo", shape: { label: "string", run: "function" },
});
for (const isolation of ["inline", "worker"] as const) {
  for (const entry of ["npm.ts", "preact.tsx"]) {
    try {
      await using hot = await registerHotswap(echo, new URL(entry, import.meta.url), { isolation });
      console.log(JSON.stringify([isolation, entry, await hot.with((h) => h.run("x"))]));
    } catch (error) {
      console.log(JSON.stringify([isolation, entry, (error as { code?: string }).code, String(error)]));
    }
  }
}
`;

const NPM_GENERATIONS = {
  "host.ts": NPM_HOST,
  "npm.ts": `import { h } from "npm:preact@10.29.0";
export const hs_echo = { label: "npm", run: (text: string) => h("i", null, text).type };
`,
  "preact.tsx": `/** @jsxImportSource npm:preact@10.29.0 */
export const hs_echo = { label: "preact", run: (text: string) => (<b title={text}>{text}</b>).props };
`,
};

async function runHost(fixture: Fixture, flags: string[]): Promise<unknown[]> {
  const { code, stdout, stderr } = await runToEnd([
    "run",
    ...flags,
    "--unstable-worker-options",
    // The worker's own code is read from the repository's core/.
    `--allow-read=${fixture.dir},${join(REPO, "core")}`,
    // Lets the runtime confirm --unstable-worker-options (a deno eval child reads the command line).
    `--allow-run=${Deno.execPath()}`,
    fixture.path("host.ts"),
  ], { cwd: fixture.dir, env: { NO_COLOR: "1" } });
  strictEqual(code, 0, `${stdout}${stderr}`);
  return stdout.trim().split("\n").map((line) => JSON.parse(line));
}

/** The repository's git status, and the hash of tests/deno.lock (the only lockfile it has). */
async function repoState(): Promise<string> {
  const { stdout } = await runToEnd(["-C", REPO, "status", "--porcelain"], { program: "git" });
  const bytes = await Deno.readFile(join(REPO, "tests", "deno.lock"));
  return `${stdout}${createHash("sha256").update(bytes).digest("hex")}`;
}

Deno.test("a generation's npm: import and @jsxImportSource npm: load inline and in a worker; the repository's git status stays clean", async () => {
  await using fixture = await Fixture.create();
  await fixture.write(NPM_GENERATIONS);
  const before = await repoState();
  // The host uses the repository's config, which has no lockfile ("lock":
  // false): Deno 2.9.6 writes a package a dynamic import resolves into a
  // host's lockfile (see the next test), whatever the permissions.
  const lines = await runHost(fixture, ["--config", join(REPO, "deno.json")]);
  deepStrictEqual(lines, [
    ["inline", "npm.ts", "i"],
    ["inline", "preact.tsx", { title: "x", children: "x" }],
    ["worker", "npm.ts", "i"],
    ["worker", "preact.tsx", { title: "x", children: "x" }],
  ]);
  strictEqual(await repoState(), before);
});

Deno.test("Deno 2.9.6 (measured) writes the host's lockfile when a generation imports an unlocked npm package", async () => {
  await using fixture = await Fixture.create();
  await fixture.write({ ...NPM_GENERATIONS, "deno.json": "{}\n" });
  const lines = await runHost(fixture, ["--config", fixture.path("deno.json")]);
  strictEqual(lines.length, 4);
  // Nothing in the runtime wrote it: the host has no write permission.
  match(await Deno.readTextFile(fixture.path("deno.lock")), /"npm:preact@10\.29\.0"/);
});

/** A JSX entry whose text holds "import.meta" before an `import.meta` in code, as a text scanner could misread it. */
const META_JSX = `/** @jsx h */
const h = (tag: string, _props: unknown, ...children: unknown[]): string => \`<\${tag}>\${children.join("")}</\${tag}>\`;
export const hs_echo = {
  label: "meta",
  run: (): unknown => [<p>it's import.meta, {"import.meta"}</p>, import.meta.url, import.meta.filename],
};
`;

Deno.test("readSnapshot() gives each module where its import.meta is, none for JSON, and the reader thread the same", async () => {
  await using fixture = await Fixture.create();
  const entry = await fixture.write({
    "gen.tsx": `import data from "./data.json" with { type: "json" };\n${META_JSX}export { data };\n`,
    "data.json": `{ "text": "import.meta" }\n`,
  });
  const snapshot = await read(entry);
  const [json, gen] = snapshot.modules;
  deepStrictEqual(json!.importMeta, []);
  const scanned = scanImports(gen!.source, "tsx", { elideUnused: true }).importMeta;
  deepStrictEqual(gen!.importMeta, scanned);
  deepStrictEqual(gen!.importMeta.map(({ start, end }) => gen!.source.slice(start, end)), [
    "import.meta",
    "import.meta",
  ]);
  ok(gen!.importMeta[0]!.start > gen!.source.indexOf("<p>it's import.meta"));
  const reader = OffThreadReader.start();
  ok(reader !== undefined, "a host with read permission starts a reader");
  try {
    deepStrictEqual((await reader.read(entry, undefined, undefined)).modules, snapshot.modules);
  } finally {
    reader.close();
  }
});

Deno.test("registerHotswap() in process isolation: import.meta after JSX text naming it reads the module's file", async () => {
  await using fixture = await Fixture.create();
  const entry = await fixture.write({ "gen.tsx": META_JSX });
  await using hot = await registerHotswap(echo, entry, { isolation: "process" });
  deepStrictEqual(await hot.with((h) => h.run("")), [
    "<p>it's import.meta, import.meta</p>",
    pathToFileURL(entry).href,
    entry,
  ]);
});
