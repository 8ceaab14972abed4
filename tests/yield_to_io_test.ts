/**
 * `yieldToIo()` (core/_yield_to_io.ts) as the inline load relies on it: it
 * settles with no permission granted, and a generation that replaces
 * `crypto` cannot reach it. How often it lets waiting requests in is a
 * matter of timing, measured by `tests/bench/io_yield.ts`, not asserted here.
 *
 * @module
 */

import { strictEqual } from "node:assert/strict";
import { join } from "node:path";
import { yieldToIo } from "../core/_yield_to_io.ts";

Deno.test("yieldToIo() settles in a process granted no permission at all", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hotswap_yield_" });
  try {
    const main = join(dir, "main.ts");
    const module = new URL("../core/_yield_to_io.ts", import.meta.url).href;
    await Deno.writeTextFile(
      main,
      `import { yieldToIo } from ${
        JSON.stringify(module)
      };\nfor (let i = 0; i < 3; i++) await yieldToIo();\nconsole.log("settled");\n`,
    );
    const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-prompt", "--no-config", main],
      stdout: "piped",
      stderr: "piped",
    }).output();
    strictEqual(new TextDecoder().decode(stdout), "settled\n", new TextDecoder().decode(stderr));
    strictEqual(code, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("yieldToIo() keeps the digest it captured when the runtime loaded, whatever replaces crypto later", async () => {
  const subtle = crypto.subtle;
  const original = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(subtle), "digest")!;
  const crypto0 = Object.getOwnPropertyDescriptor(globalThis, "crypto")!;
  let calls = 0;
  Object.defineProperty(Object.getPrototypeOf(subtle), "digest", {
    ...original,
    value: () => {
      calls++;
      throw new Error("a generation's digest");
    },
  });
  Object.defineProperty(globalThis, "crypto", { configurable: true, writable: true, value: undefined });
  try {
    await yieldToIo();
    strictEqual(calls, 0);
  } finally {
    Object.defineProperty(globalThis, "crypto", crypto0);
    Object.defineProperty(Object.getPrototypeOf(subtle), "digest", original);
  }
});
