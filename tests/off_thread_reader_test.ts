/**
 * The off-thread reader (core/_off_thread_reader.ts, core/_disk_reader.ts):
 * once `Hotswap.warm()` started it, a swap reads its graph on the reader's
 * thread, with the same result and the same errors as a read on the
 * serving thread, and closing the reference ends the reader (Deno's test
 * sanitizers fail a test that leaves a worker running).
 *
 * @module
 */

import { deepStrictEqual, ok, rejects, strictEqual } from "node:assert/strict";
import { HotswapError, registerHotswap, SignatureError } from "../mod.ts";
import { DiskReader } from "../core/_disk_reader.ts";
import { OffThreadReader, ReaderGone } from "../core/_off_thread_reader.ts";
import { Roots } from "../core/roots.ts";
import { readSnapshot } from "../core/snapshot.ts";
import { echo, Fixture } from "./_fixtures.ts";
import { keyAndList, packEcho } from "./_signing.ts";

const GEN =
  `import { label } from "./label.ts";\nexport const hs_echo = { label, run: (input: unknown) => [label, input] };\n`;

/** Counts the host's own `Deno.readFileSync` calls while `body` runs (the reader's thread has its own `Deno`). */
async function countReads<T>(body: () => Promise<T>): Promise<{ result: T; reads: number }> {
  const original = Deno.readFileSync;
  let reads = 0;
  Deno.readFileSync = (...args: Parameters<typeof Deno.readFileSync>) => {
    reads++;
    return original(...args);
  };
  try {
    return { result: await body(), reads };
  } finally {
    Deno.readFileSync = original;
  }
}

/** The parts of an error a caller reads. */
function described(error: unknown): Record<string, unknown> {
  ok(error instanceof HotswapError, `a HotswapError: ${error}`);
  return { name: error.name, code: error.code, path: error.path, message: error.message };
}

Deno.test("after warm(), a swap reads its files off the serving thread and hashes what an inline read hashes", async () => {
  await using fixture = await Fixture.create();
  const entry = await fixture.write({ "gen.ts": GEN, "label.ts": `export const label: string = "one";\n` });
  await using hot = await registerHotswap(echo, entry);
  const before = await countReads(() => hot.swap(entry));
  ok(before.reads >= 2, `without a reader the host reads both files itself (${before.reads} reads)`);

  await hot.warm();
  await Deno.writeTextFile(fixture.path("label.ts"), `export const label: string = "two";\n`);
  const after = await countReads(() => hot.swap(entry));
  strictEqual(after.reads, 0, "the reader read the files");
  strictEqual(hot.with((handle) => handle.label), "two");
  const inline = await readSnapshot(entry, { roots: Roots.resolve(undefined, entry) });
  strictEqual(after.result.digest, inline.digest);
});

Deno.test("after warm(), a swap's read fails as an inline read fails: code, path, message and cause", async () => {
  await using fixture = await Fixture.create();
  const entry = await fixture.write({ "gen.ts": GEN, "label.ts": `export const label: string = "one";\n` });
  await using hot = await registerHotswap(echo, entry, { roots: [fixture.dir] });
  await hot.warm();
  await using cold = await registerHotswap(echo, entry, { roots: [fixture.dir] });
  const cases: Record<string, string> = {
    "missing.ts": "",
    "broken.ts": `export const hs_echo = {\n  label: "x",,\n};\n`,
    "imports_missing.ts": `import "./nowhere.ts";\nexport const hs_echo = { label: "x", run: () => 0 };\n`,
  };
  for (const [name, source] of Object.entries(cases)) {
    if (source !== "") await fixture.write({ [name]: source });
    const path = fixture.path(name);
    const inline = await cold.swap(path).then(() => undefined, (error: unknown) => error);
    ok(inline !== undefined, `${name} is unreadable`);
    const swapped = await hot.swap(path).then(() => undefined, (error: unknown) => error);
    deepStrictEqual(described(swapped), described(inline), name);
    const cause = (error: unknown) => {
      const { cause } = error as Error;
      return cause instanceof Error ? { name: cause.name, message: cause.message } : cause;
    };
    deepStrictEqual(cause(swapped), cause(inline), `${name}: the cause keeps its name and message`);
    // Deno's own errors keep their class across the thread too.
    if (name === "missing.ts") ok((swapped as Error).cause instanceof Deno.errors.NotFound);
  }
  const outside = await Deno.makeTempFile({ suffix: ".ts" });
  try {
    await rejects(hot.swap(outside), (error: unknown) => (error as HotswapError).code === "E_OUTSIDE_ROOTS");
  } finally {
    await Deno.remove(outside);
  }
  strictEqual(hot.with((handle) => handle.label), "one", "the first generation still serves");
});

Deno.test("warm() reads the graph once on the reader, and ignores what it finds wrong: the swap says it", async () => {
  await using fixture = await Fixture.create();
  const entry = await fixture.write({ "gen.ts": GEN, "label.ts": `export const label: string = "one";\n` });
  await using hot = await registerHotswap(echo, entry);
  // The files are broken before warm() reads them: warm() still settles, and the swap reports the error.
  await Deno.writeTextFile(fixture.path("label.ts"), `export const label: string = "one",,;\n`);
  await hot.warm();
  await rejects(hot.swap(entry), (error: unknown) => (error as HotswapError).code === "E_IMPORT");
  // Fixed by an edit inside one token of what warm() read: the reader reads it from its last scan, right.
  await Deno.writeTextFile(fixture.path("label.ts"), `export const label: string = "one";\n`);
  await hot.swap(entry);
  await Deno.writeTextFile(fixture.path("label.ts"), `export const label: string = "three";\n`);
  const after = await countReads(() => hot.swap(entry));
  strictEqual(after.reads, 0, "the reader read the files");
  strictEqual(hot.with((handle) => handle.label), "three");
  const inline = await readSnapshot(entry, { roots: Roots.resolve(undefined, entry) });
  strictEqual(after.result.digest, inline.digest);
});

Deno.test("after warm(), a signed artifact is opened and verified on the reader; a refusal keeps its reason", async () => {
  await using fixture = await Fixture.create();
  const { key, trust } = await keyAndList();
  await using hot = await registerHotswap(echo, await packEcho(fixture, "v1", key, { sequence: 2 }), {
    trust,
  });
  await hot.warm();
  const v2 = await packEcho(fixture, "v2", key, { sequence: 3 });
  const swapped = await countReads(() => hot.swap(v2));
  strictEqual(swapped.reads, 0, "the reader read the artifact");
  strictEqual(hot.with((handle) => handle.label), "v2");
  strictEqual(hot.info().provenance?.keyid, key.keyid);
  strictEqual(hot.info().provenance?.manifest.sequence, 3);
  const older = await packEcho(fixture, "v0", key, { sequence: 1 });
  const refused = await hot.swap(older).then(() => undefined, (error: unknown) => error);
  ok(refused instanceof SignatureError, `a SignatureError: ${refused}`);
  strictEqual(refused.reason, "replayed sequence");
  strictEqual(refused.path, older);
  strictEqual(hot.generation, 2);
});

Deno.test("a reader that ends leaves reads on the calling thread, and rejects what it was asked", async () => {
  await using fixture = await Fixture.create();
  const entry = await fixture.write({ "gen.ts": GEN, "label.ts": `export const label: string = "one";\n` });
  const reader = OffThreadReader.start();
  ok(reader !== undefined, "a host with read permission starts a reader");
  const pending = reader.read(entry, undefined, undefined);
  reader.close("stopped by the test");
  await rejects(pending, ReaderGone);
  await rejects(reader.read(entry, undefined, undefined), ReaderGone);
  ok(reader.gone);

  const disk = new DiskReader(undefined, undefined);
  const first = await disk.read(entry);
  await disk.warm(first);
  const warmed = await countReads(() => disk.read(entry));
  strictEqual(warmed.reads, 0, "read by the reader once warm() started it");
  disk.close();
  const closed = await countReads(() => disk.read(entry));
  ok(closed.reads >= 2, "read on this thread once closed");
  strictEqual(closed.result.digest, first.digest);
  strictEqual(warmed.result.digest, first.digest);
});

Deno.test("the reader keeps maxSnapshotBytes", async () => {
  await using fixture = await Fixture.create();
  const entry = await fixture.write({
    "gen.ts": GEN,
    "label.ts": `export const label: string = "${"x".repeat(400)}";\n`,
  });
  const disk = new DiskReader(undefined, 300);
  try {
    await disk.warm(await readSnapshot(entry, { roots: Roots.resolve(undefined, entry) }));
    await rejects(disk.read(entry), (error: unknown) => /300 B|maxSnapshotBytes/.test(String(error)));
  } finally {
    disk.close();
  }
});
