/**
 * Users import the library from their own program, elsewhere on disk, with
 * no deno.json of this repository in sight: these tests write such a program
 * into a temporary directory and run `deno check` and `deno run` on it there.
 *
 * @module
 */

import { deepStrictEqual, match, strictEqual } from "node:assert/strict";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { REPO, runToEnd } from "./_child.ts";
import { Fixture } from "./_fixtures.ts";

/** A host program that registers, swaps (to an edited generation) and closes. */
function hostProgram(modSpecifier: string): string {
  return `import { defineContract, registerHotswap } from ${JSON.stringify(modSpecifier)};

interface Greeter { greet(name: string): string }
const greeter = defineContract<Greeter>({
  name: "Greeter", version: "1.0.0", symbol: "hs_greeter", shape: { greet: "function" },
});
const hot = await registerHotswap(greeter, new URL("./gen/v1.ts", import.meta.url));
const first: string = hot.with((h) => h.greet("ada"));
console.log("gen", hot.generation, first);
const { generation, retired } = await hot.swap(new URL("./gen/v2.ts", import.meta.url));
console.log("gen", generation, hot.with((h) => h.greet("ada")));
await retired;
await hot.close();
console.log("closed", hot.closed);
`;
}

for (
  const [how, specifier] of [
    ["an absolute path", join(REPO, "mod.ts")],
    ["a file URL", pathToFileURL(join(REPO, "mod.ts")).href],
  ] as const
) {
  Deno.test(`a program outside the repository imports mod.ts by ${how}: it type-checks, registers, swaps and closes`, async () => {
    await using fixture = await Fixture.create();
    await fixture.write({
      "host.ts": hostProgram(specifier),
      "gen/v1.ts": 'export const hs_greeter = { greet: (n: string) => "hello " + n };',
      "gen/v2.ts": 'export const hs_greeter = { greet: (n: string) => "hi " + n };',
    });
    // No config of ours applies there: neither in the directory nor above it.
    for (let dir = fixture.dir; dir !== "/"; dir = join(dir, "..")) {
      strictEqual(await exists(join(dir, "deno.json")), false, `${dir}/deno.json must not exist`);
    }

    const checked = await runToEnd(["check", "host.ts"], { cwd: fixture.dir, env: { NO_COLOR: "1" } });
    strictEqual(checked.code, 0, checked.stdout + checked.stderr);

    const ran = await runToEnd(["run", "--no-prompt", `--allow-read=${fixture.dir},${REPO}`, "host.ts"], {
      cwd: fixture.dir,
      env: { NO_COLOR: "1" },
    });
    strictEqual(ran.code, 0, ran.stdout + ran.stderr);
    match(ran.stdout, /^gen 1 hello ada\ngen 2 hi ada\nclosed true\n/m);
  });
}

Deno.test("a program outside the repository: its first inline generation in the process may import an npm: package", async () => {
  await using fixture = await Fixture.create();
  await fixture.write({
    // Deno sets up its Node compatibility layer (which replaces MessageChannel and MessagePort)
    // at the process's first npm: module: that must not be blamed on the generation loading it.
    "host.ts": `import { defineContract, registerHotswap } from ${JSON.stringify(join(REPO, "mod.ts"))};
const c = defineContract<{ h: string }>({ name: "H", version: "1.0.0", symbol: "hs_h", shape: { h: "string" } });
const hot = await registerHotswap(c, new URL("./gen/npm.ts", import.meta.url));
console.log("serving", hot.with((x) => x.h));
await hot.close();
`,
    // A CommonJS package: Deno's require() is what sets the layer up.
    "gen/npm.ts": 'import isOdd from "npm:is-odd@3.0.1";\nexport const hs_h = { h: typeof isOdd };\n',
  });
  const ran = await runToEnd(["run", "--no-prompt", `--allow-read=${fixture.dir},${REPO}`, "host.ts"], {
    cwd: fixture.dir,
    env: { NO_COLOR: "1" },
  });
  strictEqual(ran.code, 0, ran.stdout + ran.stderr);
  match(ran.stdout, /^serving function$/m);
});

Deno.test("a program outside the repository loads a TypeScript generation inline and leaves no file in DENO_DIR", async () => {
  await using fixture = await Fixture.create();
  await fixture.write({
    "host.ts": hostProgram(join(REPO, "mod.ts")),
    "gen/v1.ts": 'export const hs_greeter = { greet: (n: string): string => "hello " + n };',
    "gen/v2.ts": 'export const hs_greeter = { greet: (n: string): string => "hi " + n };',
  });
  // A DENO_DIR of its own, so that other tests running at the same time write elsewhere; its npm
  // packages are the shared ones, so nothing is downloaded.
  const info = await runToEnd(["info", "--json"], { cwd: fixture.dir });
  const denoDir = join(fixture.dir, "deno_dir");
  await Deno.mkdir(denoDir);
  await Deno.symlink(join(JSON.parse(info.stdout).denoDir, "npm"), join(denoDir, "npm"));
  const blobs = join(denoDir, "gen", "blob");
  const count = async () => (await exists(blobs)) ? (await Array.fromAsync(Deno.readDir(blobs))).length : 0;
  const run = () =>
    runToEnd(["run", "--no-prompt", `--allow-read=${fixture.dir},${REPO}`, "host.ts"], {
      cwd: fixture.dir,
      env: { NO_COLOR: "1", DENO_DIR: denoDir },
    });
  // The first run may cache what any process of this library caches once; the next ones add nothing.
  strictEqual((await run()).code, 0);
  const before = await count();
  for (let i = 0; i < 2; i++) strictEqual((await run()).code, 0);
  strictEqual(await count(), before);
});

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

Deno.test("the demo on an empty DENO_DIR downloads only the library's own npm packages", async () => {
  const denoDir = await Deno.makeTempDir({ prefix: "hotswap_deno_dir_" });
  try {
    const { code, stderr } = await runToEnd(["run", "--allow-read=so", "demo/main.ts", "--help"], {
      env: { NO_COLOR: "1", DENO_DIR: denoDir },
    });
    strictEqual(code, 0, stderr);
    const registry = join(denoDir, "npm", "registry.npmjs.org");
    const downloaded: string[] = [];
    for await (const entry of Deno.readDir(registry)) {
      if (!entry.name.startsWith("@")) downloaded.push(entry.name);
      else {for await (const scoped of Deno.readDir(join(registry, entry.name))) {
          downloaded.push(`${entry.name}/${scoped.name}`);
        }}
    }
    // No root lockfile (deno.json "lock": false): the library's package is
    // @babel/parser, with the three it depends on, as tests/deno.lock pins them.
    const lock = JSON.parse(await Deno.readTextFile(join(REPO, "tests", "deno.lock")));
    const locked = Object.keys(lock.npm)
      .filter((key) => key.startsWith("@babel/"))
      .map((key) => key.slice(0, key.lastIndexOf("@")));
    strictEqual(locked.length, 4, String(locked));
    deepStrictEqual(downloaded.sort(), locked.sort());
  } finally {
    await Deno.remove(denoDir, { recursive: true });
  }
});
