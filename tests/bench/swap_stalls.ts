/**
 * How long a swap holds the host's event loop, by isolation mode (`deno task
 * bench:stalls`): a 1 ms interval timer runs while a small generation is
 * swapped `--swaps` times, 300 ms apart, and every gap of more than 3 ms
 * between its ticks is reported against the swap it follows, as
 * `start+length` in ms from the swap's call. Under load, a request that
 * arrives in such a gap waits it out.
 *
 * What it showed (Deno 2.9.6, 2 cores, idle): worker isolation stalls the
 * host 13-26 ms about 45-50 ms after each swap, when the next standby's
 * `new Worker()` runs; process isolation 3-8 ms right after the commit,
 * when the next standby's `Deno.Command.spawn()` runs. Gaps of 3-8 ms also
 * come at random, with no swap (inline isolation shows them too): only a
 * gap that recurs at the same time after every swap is the swap's.
 *
 * Usage: deno task bench:stalls [--isolation worker|process|inline] [--swaps 15]
 *
 * @module
 */

import { parseArgs } from "node:util";
import { defineContract, type Isolation, registerHotswap } from "../../mod.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { isolation: { type: "string", default: "worker" }, swaps: { type: "string", default: "15" } },
});
const isolation = values.isolation as Isolation;
const contract = defineContract<{ n: number }>({
  name: "N",
  version: "1.0.0",
  symbol: "hs_n",
  shape: { n: "number" },
});
const dir = await Deno.makeTempDir({ prefix: "hotswap_stalls_" });
try {
  const entry = `${dir}/n.ts`;
  await Deno.writeTextFile(entry, "export const hs_n = { n: 1 };");
  await using hot = await registerHotswap(contract, entry, { isolation });
  await hot.warm();
  let last = performance.now();
  const gaps: { end: number; length: number }[] = [];
  const ticker = setInterval(() => {
    const now = performance.now();
    if (now - last > 3) gaps.push({ end: now, length: now - last });
    last = now;
  }, 1);
  await new Promise((resolve) => setTimeout(resolve, 500));
  const swaps: { start: number; took: number }[] = [];
  for (let k = 0; k < Number(values.swaps); k++) {
    await Deno.writeTextFile(entry, `export const hs_n = { n: ${k + 2} };`);
    const start = performance.now();
    await hot.swap(entry);
    swaps.push({ start, took: performance.now() - start });
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
  clearInterval(ticker);
  console.log(
    `${isolation}: event-loop gaps over 3 ms after each swap (start+length, ms from the swap's call)`,
  );
  for (const { start, took } of swaps) {
    const after = gaps
      .filter(({ end, length }) => end - length >= start - 1 && end <= start + 300)
      .map(({ end, length }) => `${(end - length - start).toFixed(0)}+${length.toFixed(1)}`);
    console.log(`swap ${took.toFixed(1)} ms; gaps: ${after.join(" ") || "none"}`);
  }
} finally {
  await Deno.remove(dir, { recursive: true });
}
