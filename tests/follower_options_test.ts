/** reportIntervalOf(): a follower's report interval, defaulted and checked. */

import { strictEqual, throws } from "node:assert/strict";
import { type FollowerOptions, reportIntervalOf } from "../core/fleet/follower_options.ts";
import type { Store } from "../core/store/store.ts";

const OPTIONS: FollowerOptions = {
  store: {} as Store,
  channel: "app",
  host: "h1",
  load: () => Promise.resolve(),
};

Deno.test("reportIntervalOf() defaults to one second", () => {
  strictEqual(reportIntervalOf(OPTIONS), 1_000);
  strictEqual(reportIntervalOf({ ...OPTIONS, reportInterval: 50 }), 50);
});

Deno.test("reportIntervalOf() refuses an interval that is not above 0", () => {
  throws(() => reportIntervalOf({ ...OPTIONS, reportInterval: 0 }), /Cannot follow "app": reportInterval/);
  throws(() => reportIntervalOf({ ...OPTIONS, reportInterval: NaN }), RangeError);
  throws(
    () => reportIntervalOf({ ...OPTIONS, reportInterval: 2 ** 31 }),
    /reportInterval must be at most 2147483647 ms/,
  );
});
