/**
 * File access for the graph walk (core/_file_access.ts): `DiskFiles` on real
 * files, links and directories in a temporary directory (roots, symlinks out
 * of them, loops, missing files, permission), and `MemoryFiles` for an
 * artifact's files. Each refusal is checked for its code, path and message.
 *
 * @module
 */

import { deepStrictEqual, ok, strictEqual, throws } from "node:assert/strict";
import { join } from "node:path";
import { HotswapError, type HotswapErrorCode } from "../core/errors.ts";
import { DiskFiles, MemoryFiles } from "../core/_file_access.ts";
import { Roots } from "../core/roots.ts";

/** Throws unless `fn` throws a HotswapError of `code` and `path` whose message has every part. */
function refuses(fn: () => unknown, code: HotswapErrorCode, path: string, ...parts: string[]): HotswapError {
  let caught: HotswapError | undefined;
  throws(fn, (error: unknown) => {
    ok(error instanceof HotswapError, String(error));
    strictEqual(error.code, code, error.message);
    strictEqual(error.path, path);
    for (const part of parts) {
      ok(error.message.includes(part), `${JSON.stringify(part)} in: ${error.message}`);
    }
    caught = error;
    return true;
  });
  return caught!;
}

/** A temp dir's `root/` (the only root, holding `main.ts` and `sub/`), and `outside.ts` beside it. */
interface Tree {
  root: string;
  main: string;
  outside: string;
  files: DiskFiles;
  /** An import by `main.ts` of "./dep.ts". */
  importer: { path: string; specifier: string };
}

async function withTree(body: (tree: Tree) => Promise<void> | void): Promise<void> {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "file_access_test_" }));
  try {
    const root = join(dir, "root");
    const main = join(root, "main.ts");
    await Deno.mkdir(join(root, "sub"), { recursive: true });
    await Deno.writeTextFile(main, "export const a = 1;\n");
    await Deno.writeTextFile(join(dir, "outside.ts"), "export {};\n");
    const files = new DiskFiles(Roots.resolve([root], main));
    await body({
      root,
      main,
      outside: join(dir, "outside.ts"),
      files,
      importer: { path: main, specifier: "./dep.ts" },
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("DiskFiles.locate() returns a file's real path, through a symlink inside the roots", async () => {
  await withTree(async ({ root, main, files }) => {
    strictEqual(files.locate(main, undefined), main);
    await Deno.symlink(main, join(root, "sub", "link.ts"));
    strictEqual(files.locate(join(root, "sub", "link.ts"), undefined), main);
  });
});

Deno.test("DiskFiles.locate() takes a path inside a symlinked root's real directory, where imports resolve", async () => {
  await withTree(async ({ root, outside }) => {
    // A release layout: the root is a link to the release, imports resolve against their importer's real path.
    const current = join(root, "..", "current");
    await Deno.symlink(root, current);
    const files = new DiskFiles(Roots.resolve([current], join(current, "main.ts")));
    strictEqual(files.locate(join(current, "main.ts"), undefined), join(root, "main.ts"));
    const importer = { path: join(root, "main.ts"), specifier: "./main.ts" };
    strictEqual(files.locate(join(root, "main.ts"), importer), join(root, "main.ts"));
    refuses(
      () => files.locate(outside, importer),
      "E_OUTSIDE_ROOTS",
      outside,
      `outside the roots "${current}"`,
    );
  });
});

Deno.test("DiskFiles.locate() refuses a path outside the roots, naming the importer when there is one", async () => {
  await withTree(({ root, main, outside, files, importer }) => {
    const expected = `Cannot load "${outside}": it resolves to "${outside}", outside the roots "${root}"`;
    refuses(
      () => files.locate(outside, undefined),
      "E_OUTSIDE_ROOTS",
      outside,
      expected,
      "add its directory to roots",
    );
    const named = `Cannot load "./dep.ts" imported by "${main}": it resolves to "${outside}"`;
    refuses(() => files.locate(outside, importer), "E_OUTSIDE_ROOTS", outside, named);
  });
});

Deno.test("DiskFiles.locate() refuses a symlink inside the roots to a file outside them", async () => {
  await withTree(async ({ root, outside, files }) => {
    const link = join(root, "escape.ts");
    await Deno.symlink(outside, link);
    const expected =
      `it is a symlink to "${outside}", outside the roots "${root}"; replace the link with the file`;
    refuses(() => files.locate(link, undefined), "E_OUTSIDE_ROOTS", link, expected);
  });
});

Deno.test("DiskFiles.locate() refuses a missing entry as E_NOT_FOUND and a missing import as E_IMPORT", async () => {
  await withTree(({ root, main, files, importer }) => {
    const missing = join(root, "dep.ts");
    const hint = `check the path (relative paths start at ${Deno.cwd()})`;
    const entry = refuses(
      () => files.locate(missing, undefined),
      "E_NOT_FOUND",
      missing,
      `no such file; ${hint}`,
    );
    ok(entry.cause instanceof Deno.errors.NotFound);
    const expected =
      `Cannot load "${main}": its import "./dep.ts" resolves to "${missing}", no such file; fix the import`;
    const imported = refuses(() => files.locate(missing, importer), "E_IMPORT", main, expected);
    ok(imported.cause instanceof Deno.errors.NotFound);
  });
});

Deno.test("DiskFiles.locate() names a symlink loop as such", async () => {
  await withTree(async ({ root, files }) => {
    const [a, b] = [join(root, "a.ts"), join(root, "b.ts")];
    await Deno.symlink(b, a);
    await Deno.symlink(a, b);
    refuses(() => files.locate(a, undefined), "E_NOT_FOUND", a, `Cannot load "${a}": it is a symlink loop`);
  });
});

// Resolved while the whole run may read; the test below runs without read permission.
const HERE = import.meta.dirname!;
const HERE_FILES = new DiskFiles(Roots.resolve([HERE], join(HERE, "entry.ts")));

Deno.test({
  name: "DiskFiles without read permission refuses to locate, and skips the check of an unfollowed import",
  permissions: { read: false },
  fn() {
    const path = join(HERE, "unreadable.ts");
    refuses(() => HERE_FILES.locate(path, undefined), "E_PERMISSION", path, `--allow-read=${HERE}`);
    HERE_FILES.checkUnfollowed(path, { path: join(HERE, "entry.ts"), specifier: "./unreadable.ts" });
  },
});

Deno.test("DiskFiles.size() returns a regular file's size and refuses a directory or a device", async () => {
  await withTree(({ root, main, files, importer }) => {
    strictEqual(files.size(main, main, undefined), 20);
    const sub = join(root, "sub");
    // An empty directory: no file of it to name.
    refuses(
      () => files.size(sub, sub, undefined),
      "E_NOT_FOUND",
      sub,
      `Cannot load "${sub}": it is a directory, not a module file; name a module file in it`,
    );
    refuses(
      () => files.size(sub, sub, importer),
      "E_IMPORT",
      sub,
      `"${sub}" (imported by "${main}"): it is a dir`,
    );
    const device = "it is not a regular file (a FIFO, socket or device)";
    refuses(() => files.size("/dev/null", "/dev/null", undefined), "E_NOT_FOUND", "/dev/null", device);
  });
});

Deno.test("DiskFiles.size() refuses a file gone since it was located", async () => {
  await withTree(async ({ main, files }) => {
    const path = files.locate(main, undefined);
    await Deno.remove(path);
    refuses(() => files.size(path, path, undefined), "E_NOT_FOUND", path, "no such file");
  });
});

Deno.test("DiskFiles.read() returns the file's bytes", async () => {
  await withTree(({ main, files }) => {
    strictEqual(new TextDecoder().decode(files.read(main)), "export const a = 1;\n");
  });
});

Deno.test("DiskFiles.checkUnfollowed() refuses an unfollowed import of a missing file, only", async () => {
  await withTree(({ root, main, outside, files, importer }) => {
    files.checkUnfollowed(outside, importer);
    const missing = join(root, "types.ts");
    refuses(
      () => files.checkUnfollowed(missing, importer),
      "E_IMPORT",
      main,
      `resolves to "${missing}", no such`,
    );
  });
});

Deno.test("MemoryFiles finds only the files it holds, and records which ones were read", () => {
  const bytes = new TextEncoder().encode("export {};\n");
  const files = new MemoryFiles(new Map([["/app/main.ts", bytes], ["/app/x.ts", bytes]]), "/srv/app.hsgen");
  strictEqual(files.locate("/app/main.ts", undefined), "/app/main.ts");
  strictEqual(files.size("/app/main.ts", "/app/main.ts"), bytes.byteLength);
  deepStrictEqual([...files.visited], [], "locating and sizing read nothing");
  strictEqual(files.read("/app/main.ts"), bytes);
  deepStrictEqual([...files.visited], ["/app/main.ts"]);
  files.checkUnfollowed();
});

Deno.test("MemoryFiles.locate() refuses a file it lacks: E_NOT_FOUND for the entry, E_IMPORT for an import", () => {
  const files = new MemoryFiles(new Map(), "/srv/app.hsgen");
  const expected =
    `Cannot load "/app/main.ts": "/srv/app.hsgen" holds no such file; pack the generation again`;
  refuses(() => files.locate("/app/main.ts", undefined), "E_NOT_FOUND", "/app/main.ts", expected);
  const importer = { path: "/app/main.ts", specifier: "./dep.ts" };
  const named = `Cannot load "./dep.ts" imported by "/app/main.ts": "/srv/app.hsgen" holds no such file`;
  refuses(() => files.locate("/app/dep.ts", importer), "E_IMPORT", "/app/dep.ts", named);
});

/**
 * The command that runs `deno` as a user file modes bind, given a file of
 * mode 000: as is when this process cannot read it either; else (root,
 * whose capabilities read anything) without those capabilities, through
 * `setpriv`; `undefined` when `setpriv` cannot run.
 */
function boundByModes(unreadable: string): { command: string; prefix: string[] } | undefined {
  try {
    Deno.readFileSync(unreadable);
  } catch {
    return { command: Deno.execPath(), prefix: [] };
  }
  const caps = "-dac_override,-dac_read_search";
  try {
    const { success } = new Deno.Command("setpriv", { args: ["--version"], stdout: "null", stderr: "null" })
      .outputSync();
    if (success) {
      return { command: "setpriv", prefix: ["--inh-caps", caps, "--bounding-set", caps, Deno.execPath()] };
    }
  } catch {
    // No setpriv: nothing here can drop root's capabilities.
  }
  return undefined;
}

Deno.test({
  name: "a file or directory the operating system will not let the host read is E_PERMISSION, naming it",
  ignore: Deno.build.os === "windows",
  async fn(t) {
    await withTree(async ({ root, main }) => {
      const dep = join(root, "dep.ts");
      const sub = join(root, "sub");
      await Deno.writeTextFile(main, 'import "./dep.ts";\nimport "./sub/deep.ts";\nexport const a = 1;\n');
      await Deno.writeTextFile(dep, "export {};\n");
      await Deno.writeTextFile(join(sub, "deep.ts"), "export {};\n");
      await Deno.chmod(dep, 0o000);
      const runAs = boundByModes(dep);
      if (runAs === undefined) {
        await Deno.chmod(dep, 0o644);
        console.warn(`${t.name}: skipped, root here and no setpriv to drop its capabilities`);
        return;
      }
      const outcome = async () => {
        const program = `
          import { readSnapshot } from ${
          JSON.stringify(new URL("../core/snapshot.ts", import.meta.url).href)
        };
          import { Roots } from ${JSON.stringify(new URL("../core/roots.ts", import.meta.url).href)};
          const main = ${JSON.stringify(main)};
          try { await readSnapshot(main, { roots: Roots.resolve([${
          JSON.stringify(root)
        }], main) }); console.log("read"); }
          catch (e) { console.log(JSON.stringify({ code: e.code, path: e.path, message: e.message })); }`;
        const { stdout } = await new Deno.Command(runAs.command, {
          args: [...runAs.prefix, "eval", "--no-config", program],
          stderr: "inherit",
        }).output();
        return new TextDecoder().decode(stdout).trim();
      };
      try {
        const file = JSON.parse(await outcome());
        deepStrictEqual([file.code, file.path], ["E_PERMISSION", dep]);
        ok(file.message.includes(`Cannot read "${dep}"`) && file.message.includes("chmod"), file.message);
        await Deno.chmod(dep, 0o644);
        await Deno.chmod(sub, 0o000);
        const dir = JSON.parse(await outcome());
        deepStrictEqual([dir.code, dir.path], ["E_PERMISSION", join(sub, "deep.ts")], dir.message);
        ok(dir.message.includes(`imported by "${main}"`), dir.message);
        await Deno.chmod(sub, 0o755);
        strictEqual(await outcome(), "read");
      } finally {
        await Deno.chmod(dep, 0o644).catch(() => {});
        await Deno.chmod(sub, 0o755).catch(() => {});
      }
    });
  },
});

const BENCH_DIR = join(HERE, "bench");

/** Expects `fn` to refuse `directory` as an entry, naming `file` in it as one to give instead. */
function refusesDirectory(fn: () => unknown, directory: string, file: string): void {
  refuses(
    fn,
    "E_NOT_FOUND",
    directory,
    `Cannot load "${directory}": it is a directory, not a module file; name one of its module files, such as "${
      join(directory, file)
    }"`,
  );
}

Deno.test({
  name:
    "Roots.resolve() of a directory given as the entry says so, when the host may read only that directory",
  permissions: { read: [BENCH_DIR] },
  fn() {
    // Its parent would be the default root: before, "grant --allow-read=<parent>", which only led here.
    refusesDirectory(() => Roots.resolve(undefined, BENCH_DIR), BENCH_DIR, "_chart.ts");
  },
});

Deno.test("DiskFiles.locate() of an entry linked to a directory outside its root says it is a directory", async () => {
  const dir = await Deno.realPath(await Deno.makeTempDir());
  try {
    // `current -> ../releases/v2`: the default root is current's directory, which v2 is not inside.
    await Deno.mkdir(join(dir, "app"));
    await Deno.mkdir(join(dir, "releases/v2"), { recursive: true });
    await Deno.writeTextFile(join(dir, "releases/v2/entry.ts"), "export const x = 1;\n");
    const current = join(dir, "app/current");
    await Deno.symlink(join(dir, "releases/v2"), current);
    const files = new DiskFiles(Roots.resolve(undefined, current));
    refusesDirectory(() => files.locate(current, undefined), current, "entry.ts");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
