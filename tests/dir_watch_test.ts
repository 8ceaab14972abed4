/**
 * DirectoryWatch: one `Deno.watchFs` on the directories of a set of files,
 * replaced only when the directories change. Events are awaited, not slept on.
 */

import { deepStrictEqual, match, ok, strictEqual } from "node:assert/strict";
import { DirectoryWatch, watchError } from "../core/_dir_watch.ts";
import type { HotswapError } from "../core/errors.ts";

async function tempDir(): Promise<string> {
  return await Deno.realPath(await Deno.makeTempDir({ prefix: "hotswap_dir_watch_" }));
}

/** Resolves with the first event naming `path`. */
function eventFor(path: string): { onEvent: (event: Deno.FsEvent) => void; seen: Promise<Deno.FsEvent> } {
  const seen = Promise.withResolvers<Deno.FsEvent>();
  return { onEvent: (event) => event.paths.includes(path) && seen.resolve(event), seen: seen.promise };
}

Deno.test("DirectoryWatch hands on the events of the directories of the files it follows", async () => {
  const dir = await tempDir();
  try {
    const { onEvent, seen } = eventFor(`${dir}/a.ts`);
    const watch = new DirectoryWatch(onEvent, (error) => {
      throw error;
    });
    strictEqual(watch.follow([`${dir}/a.ts`]), undefined);
    await Deno.writeTextFile(`${dir}/a.ts`, "export {};");
    ok((await seen).paths.includes(`${dir}/a.ts`));
    await watch.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("DirectoryWatch moves to the directories of a new set of files", async () => {
  const first = await tempDir();
  const second = await tempDir();
  try {
    const { onEvent, seen } = eventFor(`${second}/b.ts`);
    const watch = new DirectoryWatch(onEvent, (error) => {
      throw error;
    });
    watch.follow([`${first}/a.ts`]);
    watch.follow([`${first}/a.ts`]); // the same directories: the watcher stays
    watch.follow([`${second}/b.ts`]);
    await Deno.writeTextFile(`${second}/b.ts`, "export {};");
    await seen;
    await watch.close();
  } finally {
    await Deno.remove(first, { recursive: true });
    await Deno.remove(second, { recursive: true });
  }
});

Deno.test("DirectoryWatch returns the failure of a first watch, reports a later one, and looks for it until it is back", async () => {
  const dir = await tempDir();
  try {
    const failures: HotswapError[] = [];
    const restored = Promise.withResolvers<readonly string[]>();
    const watch = new DirectoryWatch(() => {}, (error) => void failures.push(error), restored.resolve);
    strictEqual(watch.follow([`${dir}/gone/a.ts`])?.code, "E_NOT_FOUND");
    strictEqual(watch.follow([`${dir}/a.ts`]), undefined);
    strictEqual(watch.follow([`${dir}/a.ts`, `${dir}/gone/a.ts`]), undefined);
    strictEqual(failures.length, 1);
    strictEqual(failures[0]?.code, "E_NOT_FOUND");
    strictEqual(failures[0]?.path, `${dir}/gone`);
    match(failures[0]!.message, /the watcher looks for it until it exists again/);
    // Reported once, however often it is followed.
    strictEqual(watch.follow([`${dir}/a.ts`, `${dir}/gone/a.ts`]), undefined);
    strictEqual(failures.length, 1);
    await Deno.mkdir(`${dir}/gone`);
    deepStrictEqual(await restored.promise, [`${dir}/gone`]);
    // A missing import's directory may be missing: no report for it.
    strictEqual(watch.follow([`${dir}/a.ts`], [`${dir}/later/b.ts`]), undefined);
    strictEqual(failures.length, 1);
    await watch.close();
    await watch.close();
    strictEqual(watch.follow([`${dir}/a.ts`]), undefined, "a closed watch follows nothing");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("watchError() tells a missing permission from a missing directory", () => {
  const denied = watchError(["/srv/app"], new Deno.errors.NotCapable("no read"));
  strictEqual(denied.code, "E_PERMISSION");
  ok(denied.message.includes("--allow-read=/srv/app"));
  strictEqual(watchError(["/srv/app"], new Deno.errors.NotFound("gone")).code, "E_NOT_FOUND");
});
