/**
 * Roots (core/roots.ts): paths as users give them, what lies inside a root,
 * symlinks resolved, and the read-permission check that never prompts.
 *
 * @module
 */

import { ok, strictEqual, throws } from "node:assert/strict";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { HotswapError } from "../core/errors.ts";
import { isInside, Roots, toAbsolutePath } from "../core/roots.ts";
import { Fixture } from "./_fixtures.ts";

Deno.test("toAbsolutePath() takes relative paths, absolute paths, file: URLs and file: strings", () => {
  strictEqual(toAbsolutePath("so/Handles.ts"), resolve("so/Handles.ts"));
  strictEqual(toAbsolutePath("/a/../b/c.ts"), "/b/c.ts");
  strictEqual(toAbsolutePath(pathToFileURL("/x/y.ts")), "/x/y.ts");
  strictEqual(toAbsolutePath("file:///x/y.ts"), "/x/y.ts");
  throws(() => toAbsolutePath(new URL("https://example.com/gen.ts")), TypeError);
  throws(() => toAbsolutePath(""), TypeError);
});

Deno.test("isInside() holds for the directory itself and below it, not for a sibling with a common prefix", () => {
  ok(isInside("/a/b", "/a/b"));
  ok(isInside("/a/b/c/d.ts", "/a/b"));
  ok(!isInside("/a/bc/d.ts", "/a/b"));
  ok(!isInside("/a", "/a/b"));
  ok(!isInside("/a/b/../c", "/a/b/x/.."));
});

Deno.test("Roots.resolve() defaults to the entry's directory and resolves symlinked roots", async () => {
  await using fixture = await Fixture.create();
  await fixture.write({ "real/gen.ts": "" });
  await Deno.symlink(fixture.path("real"), fixture.path("link"));
  const byDefault = Roots.resolve(undefined, fixture.path("real/gen.ts"));
  strictEqual(byDefault.lexicalRootOf(fixture.path("real/gen.ts")), fixture.path("real"));
  const linked = Roots.resolve([fixture.path("link")], fixture.path("link/gen.ts"));
  ok(linked.holdsReal(fixture.path("real/gen.ts")), "the real path behind the link is inside");
  ok(!linked.holdsReal(fixture.path("gen.ts")));
  strictEqual(linked.describe(), `"${fixture.path("link")}"`);
});

Deno.test("Roots.resolve() refuses a root that does not exist with E_NOT_FOUND", async () => {
  await using fixture = await Fixture.create();
  throws(
    () => Roots.resolve([fixture.path("missing")], fixture.path("missing/gen.ts")),
    (error) =>
      error instanceof HotswapError && error.code === "E_NOT_FOUND" && /create it/.test(error.message),
  );
  // No roots given: the entry's directory is the root, and it is the path that is wrong.
  const entry = fixture.path("nope/Handles.ts");
  throws(() => Roots.resolve(undefined, entry), (error) => {
    ok(error instanceof HotswapError && error.code === "E_NOT_FOUND");
    ok(
      error.message.startsWith(
        `Cannot load "${entry}": its directory "${fixture.path("nope")}" does not exist`,
      ),
    );
    ok(error.message.endsWith(`; check the path (relative paths start at ${Deno.cwd()})`), error.message);
    strictEqual(error.path, entry);
    return true;
  });
});
