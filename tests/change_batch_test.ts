/**
 * changesOf() and ChangeBatch: which file events the graph watcher takes
 * in, and the quiet period it waits before swapping. The timers are real but
 * awaited through `onQuiet`, never slept on.
 */

import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { ChangeBatch, changesOf } from "../core/_change_batch.ts";

const FILES: ReadonlySet<string> = new Set(["/app/entry.ts", "/app/value.ts"]);

function event(kind: Deno.FsEvent["kind"], paths: string[], flag?: Deno.FsEvent["flag"]): Deno.FsEvent {
  return flag === undefined ? { kind, paths } : { kind, paths, flag };
}

Deno.test("changesOf() keeps only watched files, complete when closed after writing", () => {
  deepStrictEqual(changesOf(event("access", ["/app/value.ts", "/app/other.ts"]), FILES, false), [
    { path: "/app/value.ts", kind: "access", complete: true },
  ]);
  deepStrictEqual(changesOf(event("modify", ["/app/value.ts"]), FILES, false), [
    { path: "/app/value.ts", kind: "modify", complete: false },
  ]);
});

Deno.test("changesOf() takes a rename's last path as the file moved into place", () => {
  deepStrictEqual(changesOf(event("rename", ["/app/entry.ts", "/app/value.ts"]), FILES, false), [
    { path: "/app/entry.ts", kind: "rename", complete: false },
    { path: "/app/value.ts", kind: "rename", complete: true },
  ]);
});

Deno.test("changesOf() takes any module file in while the last swap is failing", () => {
  deepStrictEqual(changesOf(event("create", ["/app/missing.ts", "/app/notes.txt"]), FILES, true), [
    { path: "/app/missing.ts", kind: "create", complete: false },
  ]);
  deepStrictEqual(changesOf(event("create", ["/app/missing.ts"]), FILES, false), []);
});

Deno.test("changesOf() counts every watched file as changed, not complete, on a rescan", () => {
  const changes = changesOf(event("other", [], "rescan"), FILES, false);
  deepStrictEqual(changes.map((change) => [change.path, change.complete]), [
    ["/app/entry.ts", false],
    ["/app/value.ts", false],
  ]);
});

Deno.test("ChangeBatch waits settle ms once every change is complete, and hands the files over sorted", async () => {
  const quiet = Promise.withResolvers<void>();
  const batch = new ChangeBatch(0, 60_000, quiet.resolve);
  batch.add([{ path: "/b.ts", kind: "access", complete: true }, {
    path: "/a.ts",
    kind: "access",
    complete: true,
  }]);
  ok(batch.waiting);
  // A 60 s debounce would outlive the test: the 0 ms settle ran out.
  await quiet.promise;
  strictEqual(batch.waiting, false);
  deepStrictEqual(batch.take(), ["/a.ts", "/b.ts"]);
  deepStrictEqual(batch.take(), []);
});

Deno.test("ChangeBatch waits debounce ms while a changed file may still be written", async () => {
  let fired = 0;
  const batch = new ChangeBatch(0, 60_000, () => fired++);
  batch.add([{ path: "/a.ts", kind: "modify", complete: false }]);
  batch.add([{ path: "/b.ts", kind: "access", complete: true }]);
  // A timer of 0 ms would have run by the time one of 1 ms has.
  await new Promise((resolve) => setTimeout(resolve, 1));
  strictEqual(fired, 0);
  ok(batch.waiting);
  batch.cancel();
  strictEqual(batch.waiting, false);
});

Deno.test("ChangeBatch ignores an empty list of changes", () => {
  const batch = new ChangeBatch(0, 0, () => {});
  batch.add([]);
  strictEqual(batch.waiting, false);
});
