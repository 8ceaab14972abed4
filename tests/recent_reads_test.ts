/**
 * Reads kept between swaps (core/_recent_reads.ts): a file whose bytes are
 * the last read's is not decoded, hashed or resolved again, and any change
 * of its bytes, whatever its times say, is read as new. Real files in a
 * temporary directory, each read checked against a read of the same bytes
 * that keeps nothing (under paths no read used before).
 *
 * @module
 */

import { deepStrictEqual, notStrictEqual, ok, strictEqual } from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { HotswapError } from "../core/errors.ts";
import { MemoryFiles } from "../core/_file_access.ts";
import { type KeptFile, RecentReads } from "../core/_recent_reads.ts";
import { Roots } from "../core/roots.ts";
import { readGraph, readSnapshot, type Snapshot } from "../core/snapshot.ts";

const FILES = ["main.ts", "word.ts", "data.json"] as const;

async function withApp(body: (dir: string, entry: string) => Promise<void>): Promise<void> {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "recent_reads_test_" }));
  try {
    await Deno.writeTextFile(
      join(dir, "main.ts"),
      `import { word } from "./word.ts";\nexport const hs_app = () => word;\n`,
    );
    await Deno.writeTextFile(
      join(dir, "word.ts"),
      `import data from "./data.json" with { type: "json" };\nexport const word = data.word;\n`,
    );
    await Deno.writeTextFile(join(dir, "data.json"), `{ "word": "one" }\n`);
    await body(dir, join(dir, "main.ts"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const read = (dir: string, entry: string) => readSnapshot(entry, { roots: Roots.resolve([dir], entry) });

let fresh = 0;
/** The same files' bytes, now, read from memory under paths never read before: nothing kept applies. */
async function readAnew(dir: string): Promise<Snapshot> {
  const root = `/fresh-${++fresh}`;
  const files = new Map<string, Uint8Array>();
  for (const name of FILES) files.set(`${root}/${name}`, await Deno.readFile(join(dir, name)));
  return readGraph(`${root}/main.ts`, new MemoryFiles(files, `${root}.hsgen`));
}

/** What a snapshot says of each file, by its name. */
const summary = (snapshot: Snapshot) =>
  snapshot.modules.map(({ path, source, digest }) => ({ name: path.split("/").at(-1), source, digest }));

Deno.test("every read gives what a read that keeps nothing gives, through edits of any size and none", async () => {
  await withApp(async (dir, entry) => {
    const edits: [name: typeof FILES[number], from: RegExp, to: string][] = [
      ["data.json", /one/, "two"], // same size
      ["data.json", /two/, "three, longer"],
      ["word.ts", /data\.word/, "data.WORD"], // same size, within the same millisecond as the read before
      ["main.ts", /=> word/, "=> `${word}!`"],
      ["word.ts", /data\.WORD/, "data.word"], // back to bytes read before
    ];
    deepStrictEqual(summary(await read(dir, entry)), summary(await readAnew(dir)));
    for (const [name, from, to] of edits) {
      const path = join(dir, name);
      await Deno.writeTextFile(path, (await Deno.readTextFile(path)).replace(from, to));
      const snapshot = await read(dir, entry);
      deepStrictEqual(summary(snapshot), summary(await readAnew(dir)), `after the edit of ${name} to ${to}`);
      strictEqual(
        snapshot.modules.find((module) => module.path === path)?.source,
        await Deno.readTextFile(path),
      );
      deepStrictEqual(summary(await read(dir, entry)), summary(snapshot), "read again, unchanged");
    }
  });
});

Deno.test("a same-size rewrite that puts the old times back is read as new", async () => {
  await withApp(async (dir, entry) => {
    const word = join(dir, "word.ts");
    const before = await read(dir, entry);
    const { mtime, atime } = await Deno.stat(word);
    await Deno.writeTextFile(word, (await Deno.readTextFile(word)).replace("data.word", "data.WORD"));
    await Deno.utime(word, atime!, mtime!);
    const after = await read(dir, entry);
    ok(after.modules.some((module) => module.source.includes("data.WORD")));
    notStrictEqual(after.digest, before.digest);
  });
});

Deno.test("a kept file whose import is gone is refused; one whose import failed is read right later", async () => {
  await withApp(async (dir, entry) => {
    await read(dir, entry);
    await Deno.remove(join(dir, "data.json"));
    let refused: unknown;
    await read(dir, entry).catch((error) => refused = error);
    ok(refused instanceof HotswapError && refused.code === "E_IMPORT", String(refused));
    await Deno.writeTextFile(join(dir, "data.json"), `{ "word": "back" }\n`);
    deepStrictEqual(summary(await read(dir, entry)), summary(await readAnew(dir)));
  });
});

Deno.test("an edit that changes a file's imports is resolved anew, its earlier specifiers kept", async () => {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "recent_reads_test_" }));
  try {
    await Deno.mkdir(join(dir, "sub"));
    await Deno.writeTextFile(join(dir, "b.ts"), "export const x = 'b';\n");
    await Deno.writeTextFile(join(dir, "sub/b.ts"), "export const x = 'sub';\n");
    const entry = join(dir, "main.ts");
    const imports = async (specifier: string) => {
      await Deno.writeTextFile(entry, `import { x } from "${specifier}";\nexport const hs_app = () => x;\n`);
      const snapshot = await read(dir, entry);
      return snapshot.modules.map((module) => module.path.slice(dir.length + 1));
    };
    deepStrictEqual(await imports("./b.ts"), ["b.ts", "main.ts"]);
    deepStrictEqual(await imports("./sub/b.ts"), ["sub/b.ts", "main.ts"]);
    deepStrictEqual(await imports("./sub/../b.ts"), ["b.ts", "main.ts"]);
    deepStrictEqual(await imports("./sub/b.ts"), ["sub/b.ts", "main.ts"], "a specifier resolved before");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

function kept(bytes: number, fill = 0): KeptFile {
  return {
    bytes: new Uint8Array(bytes).fill(fill),
    source: "",
    bytesHash: createHash("sha256"),
    bytesDigest: "",
    resolved: new Map(),
  };
}

Deno.test("RecentReads gives a file back only for the same bytes, and keeps at most 32 MiB", () => {
  const reads = new RecentReads();
  const a = kept(10, 1);
  reads.keep("/a.ts", a);
  strictEqual(reads.take("/a.ts", new Uint8Array(10).fill(1)), a, "equal bytes, another array");
  strictEqual(reads.take("/a.ts", new Uint8Array(10).fill(2)), undefined, "other bytes, same size");
  strictEqual(reads.take("/a.ts", new Uint8Array(10).fill(1)), undefined, "dropped at the mismatch");
  strictEqual(reads.bytes, 0);
  reads.keep("/a.ts", a);
  reads.keep("/big.ts", kept(32 * 1024 * 1024 + 1));
  strictEqual(reads.size, 1, "a file larger than the bound is not kept");
  reads.keep("/b.ts", kept(20 * 1024 * 1024));
  strictEqual(reads.take("/a.ts", a.bytes), a, "a.ts used after b.ts was kept");
  reads.keep("/c.ts", kept(20 * 1024 * 1024));
  strictEqual(
    reads.take("/b.ts", new Uint8Array(20 * 1024 * 1024)),
    undefined,
    "the least recently used went",
  );
  strictEqual(reads.size, 2);
  strictEqual(reads.bytes, 20 * 1024 * 1024 + 10);
  reads.keep("/a.ts", kept(5));
  strictEqual(reads.bytes, 20 * 1024 * 1024 + 5, "a file kept again replaces its earlier read");
});

Deno.test("RecentReads carries a file's resolved specifiers to its next version, up to 1,024", () => {
  const reads = new RecentReads();
  const a = kept(1);
  a.resolved.set("./b.ts", "/b.ts");
  reads.keep("/a.ts", a);
  strictEqual(reads.take("/a.ts", new Uint8Array([9])), undefined, "other bytes");
  strictEqual(reads.resolvedOf("/a.ts"), undefined, "dropped with the mismatch");
  reads.keep("/a.ts", a);
  strictEqual(reads.resolvedOf("/a.ts"), a.resolved, "asked before the bytes are compared");
  for (let i = 0; i < 1024; i++) a.resolved.set(`./m${i}.ts`, `/m${i}.ts`);
  strictEqual(reads.resolvedOf("/a.ts"), undefined, "too many: resolved afresh");
  strictEqual(reads.resolvedOf("/none.ts"), undefined);
});

Deno.test("RecentReads keeps at most 4,096 files", () => {
  const reads = new RecentReads();
  for (let i = 0; i < 5000; i++) reads.keep(`/m${i}.ts`, kept(1));
  strictEqual(reads.size, 4096);
  strictEqual(reads.bytes, 4096);
  strictEqual(reads.take("/m0.ts", new Uint8Array(1)), undefined);
  ok(reads.take("/m4999.ts", new Uint8Array(1)) !== undefined);
});
