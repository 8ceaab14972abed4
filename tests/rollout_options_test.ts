/** resolveSettings() and pollMsOf(): a rollout's options, defaulted and checked before anything is written. */

import { deepStrictEqual, strictEqual, throws } from "node:assert/strict";
import { pollMsOf, resolveSettings } from "../core/fleet/rollout_options.ts";

Deno.test("resolveSettings() fills in the defaults", () => {
  deepStrictEqual(resolveSettings({}), {
    steps: [10, 50, 100],
    bakeMs: 30_000,
    maxErrorRate: 0.01,
    maxP99Ms: undefined,
    progressDeadlineMs: 60_000,
  });
  strictEqual(pollMsOf({}), 100);
  strictEqual(pollMsOf({ pollMs: 5 }), 5);
});

Deno.test("resolveSettings() wants steps rising to exactly 100", () => {
  deepStrictEqual(resolveSettings({ steps: [100] }).steps, [100]);
  for (const steps of [[], [50], [50, 10, 100], [0, 100], [10, 100, 100]]) {
    throws(() => resolveSettings({ steps }), RangeError, String(steps));
  }
});

Deno.test("resolveSettings() refuses limits out of range", () => {
  throws(() => resolveSettings({ bakeMs: -1 }), /bake must be at least 0 ms/);
  throws(() => resolveSettings({ maxErrorRate: 1.5 }), /within 0-1/);
  throws(() => resolveSettings({ maxP99Ms: 0 }), /p99 must be above 0 ms/);
  throws(() => resolveSettings({ progressDeadlineMs: Infinity }), /progress deadline/);
  // A timer cannot wait longer: the bake would end after 1 ms.
  throws(() => resolveSettings({ bakeMs: 2 ** 31 }), /bake must be at most 2147483647 ms/);
  strictEqual(resolveSettings({ bakeMs: 2 ** 31 - 1 }).bakeMs, 2 ** 31 - 1);
});
