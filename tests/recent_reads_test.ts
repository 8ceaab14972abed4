/**
 * Reads kept between swaps (core/_recent_reads.ts): a file whose stamp has
 * not changed since a read that began well after its last change is not
 * read, decoded or hashed again; any other is. Real files in a temporary
 * directory, read through the graph walk with a clock the test sets.
 *
 * @module
 */

import { deepStrictEqual, notStrictEqual, ok, strictEqual } from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { DiskFiles } from "../core/_file_access.ts";
import {
  type KeptFile,
  RecentReads,
  SETTLED_MS,
  settledStamp,
  type StampedInfo,
} from "../core/_recent_reads.ts";
import { Roots } from "../core/roots.ts";
import { readGraph, type Snapshot } from "../core/snapshot.ts";

/** Disk files that count their reads, on a clock `ahead` ms from the real one. */
class CountingFiles extends DiskFiles {
  readonly reads: string[] = [];
  constructor(roots: Roots, now: () => number) {
    super(roots, now);
  }
  override read(realPath: string): Uint8Array {
    this.reads.push(realPath);
    return super.read(realPath);
  }
}

async function withApp(body: (dir: string, entry: string) => Promise<void>): Promise<void> {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "recent_reads_test_" }));
  try {
    const entry = join(dir, "main.ts");
    await Deno.writeTextFile(entry, `import { word } from "./word.ts";\nexport const hs_app = () => word;\n`);
    await Deno.writeTextFile(
      join(dir, "word.ts"),
      `import data from "./data.json" with { type: "json" };\nexport const word = data.word;\n`,
    );
    await Deno.writeTextFile(join(dir, "data.json"), `{ "word": "one" }\n`);
    await body(dir, entry);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Reads the graph at `entry`, with a clock `ahead` ms from the real one: the files it read, and the snapshot. */
async function read(
  entry: string,
  dir: string,
  ahead: number,
): Promise<{ reads: string[]; snapshot: Snapshot }> {
  const files = new CountingFiles(Roots.resolve([dir], entry), () => Date.now() + ahead);
  const snapshot = await readGraph(entry, files);
  return { reads: files.reads, snapshot };
}

const summary = (snapshot: Snapshot) =>
  snapshot.modules.map(({ path, source, digest }) => ({ path, source, digest }));

Deno.test("an unchanged file read long after its last change is not read again; a changed one is", async () => {
  await withApp(async (dir, entry) => {
    const later = 10_000; // every file looks settled
    const first = await read(entry, dir, later);
    strictEqual(first.reads.length, 3);
    const again = await read(entry, dir, later);
    deepStrictEqual(again.reads, [], "nothing was read again");
    deepStrictEqual(summary(again.snapshot), summary(first.snapshot));
    strictEqual(again.snapshot.bytes, first.snapshot.bytes);

    await Deno.writeTextFile(join(dir, "data.json"), `{ "word": "two, longer" }\n`);
    const edited = await read(entry, dir, later);
    deepStrictEqual(edited.reads, [join(dir, "data.json")]);
    // What a walk that keeps nothing finds: a clock at 0 never finds a file settled.
    const fresh = await read(entry, dir, -Date.now());
    strictEqual(fresh.reads.length, 3);
    deepStrictEqual(summary(edited.snapshot), summary(fresh.snapshot));
    const digests = (snapshot: Snapshot) => snapshot.modules.map((module) => module.digest);
    const [before, after] = [digests(first.snapshot), digests(edited.snapshot)];
    for (let i = 0; i < 3; i++) notStrictEqual(after[i], before[i], "the file and every importer of it");
  });
});

Deno.test("a file rewritten within its second, at the same size, is read anew on the real clock", async () => {
  await withApp(async (dir, entry) => {
    const word = join(dir, "word.ts");
    const first = await read(entry, dir, 0);
    ok(first.snapshot.modules.some((module) => module.source.includes("data.word")));
    const text = await Deno.readTextFile(word);
    await Deno.writeTextFile(word, text.replace("data.word", "data.WORD"));
    const again = await read(entry, dir, 0);
    ok(again.reads.includes(word), "the rewritten file was read");
    ok(again.snapshot.modules.some((module) => module.source.includes("data.WORD")));
  });
});

Deno.test("a file whose imports could not be read is read again", async () => {
  await withApp(async (dir, entry) => {
    const word = join(dir, "word.ts");
    await Deno.writeTextFile(word, `import { gone } from "./gone.ts";\nexport const word = gone;\n`);
    let failed = false;
    await read(entry, dir, 10_000).catch(() => failed = true);
    ok(failed, "the missing import fails the read");
    await Deno.writeTextFile(join(dir, "gone.ts"), `export const gone = "back";\n`);
    const after = await read(entry, dir, 10_000);
    ok(after.reads.includes(word), "word.ts was not kept from the failed read");
    deepStrictEqual((await read(entry, dir, 10_000)).reads, []);
  });
});

function info(overrides: Partial<StampedInfo> = {}): StampedInfo {
  return { dev: 1, ino: 2, size: 3, mtime: new Date(5_000), ctime: new Date(6_000), ...overrides };
}

Deno.test("settledStamp: only a read begun more than SETTLED_MS after the status change, with every time known", () => {
  strictEqual(settledStamp(info(), 6_000 + SETTLED_MS), undefined);
  const stamp = settledStamp(info(), 6_001 + SETTLED_MS);
  ok(stamp !== undefined);
  for (
    const changed of [{ dev: 9 }, { ino: 9 }, { size: 9 }, { mtime: new Date(5_001) }, {
      ctime: new Date(5_000),
    }]
  ) {
    notStrictEqual(settledStamp(info(changed), 60_000), stamp, JSON.stringify(changed));
  }
  for (const unknown of [{ dev: null }, { ino: null }, { mtime: null }, { ctime: null }]) {
    strictEqual(settledStamp(info(unknown), 60_000), undefined, JSON.stringify(unknown));
  }
});

function kept(stamp: string, chars: number): KeptFile {
  const bytesHash = createHash("sha256");
  return { stamp, size: chars, source: "x".repeat(chars), bytesHash, bytesDigest: "", resolved: new Map() };
}

Deno.test("RecentReads gives a file back only under its stamp, and keeps at most 32 MiB of text", () => {
  const reads = new RecentReads();
  reads.keep("/a.ts", kept("s1", 10));
  strictEqual(reads.take("/a.ts", "s2"), undefined, "another stamp");
  strictEqual(reads.take("/a.ts", "s1"), undefined, "dropped at the mismatch");
  const a = kept("s1", 10);
  reads.keep("/a.ts", a);
  strictEqual(reads.take("/a.ts", "s1"), a);
  reads.keep("/big.ts", kept("s", 32 * 1024 * 1024 + 1));
  strictEqual(reads.size, 1, "a file larger than the bound is not kept");
  reads.keep("/b.ts", kept("s", 20 * 1024 * 1024));
  strictEqual(reads.take("/a.ts", "s1"), a, "a.ts used after b.ts was kept");
  reads.keep("/c.ts", kept("s", 20 * 1024 * 1024));
  strictEqual(reads.take("/b.ts", "s"), undefined, "the least recently used went first");
  ok(reads.take("/c.ts", "s") !== undefined);
  ok(reads.take("/a.ts", "s1") === a);
  reads.forget("/a.ts");
  strictEqual(reads.take("/a.ts", "s1"), undefined);
});
