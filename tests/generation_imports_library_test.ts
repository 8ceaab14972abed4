/**
 * A generation that imports this library by path, as one that brands its
 * handle with `implement()` does (SPEC 3): the library's own graph is then
 * part of the generation's snapshot, so it must hold no import cycle, and
 * no module of it may resolve a URL against `import.meta.url` when it loads
 * (a generation's modules run from `blob:` URLs).
 *
 * @module
 */

import { strictEqual } from "node:assert/strict";
import { join } from "node:path";
import { REPO } from "./_child.ts";
import { Fixture } from "./_fixtures.ts";
import { type Contract, registerHotswap } from "../mod.ts";

const MOD = JSON.stringify(join(REPO, "mod.ts"));

for (const isolation of ["inline", "worker"] as const) {
  Deno.test(`[${isolation}] a generation imports mod.ts by path and brands its handle with implement()`, async () => {
    await using fixture = await Fixture.create();
    const contractPath = await fixture.write({
      "contract.ts": `import { defineContract } from ${MOD};
export const counter = defineContract<{ count: number }>({
  name: "Counter", version: "1.2.0", symbol: "hs_counter", shape: { count: "number" },
});`,
      "gen/v1.ts": `import { implement } from ${MOD};
import { counter } from "../contract.ts";
export const hs_counter = implement(counter, { count: 1 });`,
      "gen/v2.ts": `import { defineContract, implement } from ${MOD};
// Built for an older minor version than the host's: refused by the brand alone.
const older = defineContract<{ count: number }>({
  name: "Counter", version: "1.1.0", symbol: "hs_counter", shape: { count: "number" },
});
export const hs_counter = implement(older, { count: 2 });`,
    });
    const { counter }: { counter: Contract<{ count: number }> } = await import(contractPath);
    await using hot = await registerHotswap(counter, fixture.path("gen/v1.ts"), {
      roots: [fixture.dir, REPO],
      isolation,
    });
    strictEqual(await hot.with((h) => h.count), 1);
    const refused = await hot.swap(fixture.path("gen/v2.ts")).then(() => undefined, (error) => error);
    strictEqual(refused?.code, "E_CONTRACT", String(refused));
    strictEqual(hot.generation, 1);
  });
}
