/**
 * The stacks a generation reads or logs itself, in a worker or a process,
 * name its files with the right line and column, not the `blob:` URLs its
 * modules were minted at (see core/_stack_format.ts).
 *
 * @module
 */

import { ok, strictEqual } from "node:assert/strict";
import { defineContract, registerHotswap } from "../mod.ts";
import { Fixture } from "./_fixtures.ts";

const stacks = defineContract<{ stack(): string }>({
  name: "Stacks",
  version: "1.0.0",
  symbol: "hs_stacks",
  shape: { stack: "function" },
});

for (const isolation of ["worker", "process"] as const) {
  Deno.test(`[${isolation}] a stack the generation reads itself names its file, line and column`, async () => {
    await using fixture = await Fixture.create();
    const entry = await fixture.write({
      "stacks.ts": `import { fail } from "./lib.ts";
export const hs_stacks = {
  stack(): string {
    try { fail(); } catch (error) { return (error as Error).stack ?? ""; }
    return "";
  },
};`,
      "lib.ts": `export function fail(): never {\n  const why: string = "typed";\n  throw new Error(why);\n}`,
    });
    await using hot = await registerHotswap(stacks, entry, { isolation });
    const stack = await hot.with((h) => h.stack());
    const [head, first, second] = stack.split("\n");
    strictEqual(head, "Error: typed");
    // As Deno names a file in a stack: its file: URL.
    strictEqual(first, `    at fail (file://${fixture.path("lib.ts")}:3:9)`);
    strictEqual(second, `    at Object.stack (file://${entry}:4:11)`);
    ok(!stack.includes("blob:"), stack);
  });
}

for (const isolation of ["worker", "process"] as const) {
  Deno.test(`[${isolation}] a frame on a line that imports names the column the file has there`, async () => {
    await using fixture = await Fixture.create();
    const line = `    const { fail } = await import("./lib.ts"); fail();`;
    const entry = await fixture.write({
      "stacks.ts": `export const hs_stacks = {
  async stack(): Promise<string> {
${line}
    return "";
  },
};`,
      "lib.ts": `export function fail(): never {\n  throw new Error("typed");\n}`,
    });
    await using hot = await registerHotswap(stacks, entry, { isolation });
    const error = await hot.with((h) => h.stack()).then(() => undefined, (error: Error) => error);
    ok(error instanceof Error);
    const frames = String(error.stack).split("\n");
    ok(frames.includes(`    at fail (file://${fixture.path("lib.ts")}:2:9)`), error.stack);
    // Where `fail()` is called, after a specifier the snapshot's own URL replaced.
    const column = line.indexOf("fail();") + 1;
    ok(frames.includes(`    at Object.stack (file://${entry}:3:${column})`), error.stack);
  });
}
