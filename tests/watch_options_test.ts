/** quietPeriods(): the watcher's settle and debounce, defaulted and checked. */

import { deepStrictEqual, throws } from "node:assert/strict";
import { quietPeriods } from "../core/watch_options.ts";

Deno.test("quietPeriods() defaults settle to 5 ms and debounce to 100 ms", () => {
  deepStrictEqual(quietPeriods({}), { settle: 5, debounce: 100 });
  deepStrictEqual(quietPeriods({ settle: 0, debounce: 20 }), { settle: 0, debounce: 20 });
});

Deno.test("quietPeriods() refuses a negative, infinite or non-number period", () => {
  throws(() => quietPeriods({ settle: -1 }), RangeError);
  throws(() => quietPeriods({ debounce: Infinity }), RangeError);
  throws(() => quietPeriods({ settle: 2 ** 31 }), /Cannot watch: settle must be at most 2147483647 ms/);
  // @ts-expect-error: a string is not a number of milliseconds
  throws(() => quietPeriods({ debounce: "5" }), /debounce must be a finite number/);
});
