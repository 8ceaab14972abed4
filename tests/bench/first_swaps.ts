/**
 * The first swaps of a fresh server (`deno task bench:first`): a host that
 * registers the sample app and calls `warm()`, as demo/server.ts does, then
 * swaps after an edit of the app's version string, a swap every 100 ms.
 * Each process starts cold, so each of `--processes` runs it in a process of
 * its own; printed: the duration of `hot.swap()` by its rank after `warm()`,
 * median and max over the processes. An operator's first change after a
 * deploy is a first swap.
 *
 * Usage: deno task bench:first [--processes n] [--swaps n]
 *
 * @module
 */

import { parseArgs } from "node:util";
import { join } from "node:path";
import { registerHotswap } from "../../mod.ts";
import { httpApp } from "../../types/mod.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    processes: { type: "string", default: "10" },
    swaps: { type: "string", default: "8" },
    child: { type: "boolean", default: false },
  },
});
const PROCESSES = Number(values.processes);
const SWAPS = Number(values.swaps);
for (const [flag, value] of [["processes", PROCESSES], ["swaps", SWAPS]] as const) {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new RangeError(`--${flag} must be a whole number of at least 1`);
  }
}
const REPO = new URL("../../", import.meta.url);

/** One fresh host: its swaps' durations in ms, in order, printed as JSON. */
async function child(): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "hotswap_first_" });
  try {
    for (const sub of ["so", "types"]) {
      await Deno.mkdir(join(dir, sub));
      for await (const entry of Deno.readDir(new URL(sub, REPO))) {
        if (entry.isFile) {
          await Deno.copyFile(new URL(`${sub}/${entry.name}`, REPO), join(dir, sub, entry.name));
        }
      }
    }
    const logic = join(dir, "so", "app_logic.ts");
    const text = await Deno.readTextFile(logic);
    const entry = join(dir, "so", "app.ts");
    await using hot = await registerHotswap(httpApp, entry);
    await hot.warm();
    const times: number[] = [];
    for (let version = 2; version < SWAPS + 2; version++) {
      await Deno.writeTextFile(logic, text.replace(/VERSION = "v\d+"/, `VERSION = "v${version}"`));
      await new Promise((resolve) => setTimeout(resolve, 100));
      const start = performance.now();
      await hot.swap(entry);
      times.push(performance.now() - start);
    }
    console.log(JSON.stringify(times));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

if (values.child) {
  await child();
} else {
  const runs: number[][] = [];
  for (let i = 0; i < PROCESSES; i++) {
    const { success, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--no-code-cache",
        "--allow-read",
        "--allow-write",
        import.meta.filename!,
        "--child",
        "--swaps",
        String(SWAPS),
      ],
      env: { DENO_EMIT_CACHE_MODE: "disable" },
      stdin: "null",
    }).output();
    if (!success) throw new Error(`a host failed: ${new TextDecoder().decode(stderr)}`);
    runs.push(JSON.parse(new TextDecoder().decode(stdout).trim().split("\n").at(-1)!));
  }
  console.log(`First swaps after warm(), ${PROCESSES} fresh hosts, a swap every 100 ms (ms, median / max):`);
  const ranks = runs[0]!.map((_, rank) => {
    const sorted = runs.map((times) => times[rank]!).sort((a, b) => a - b);
    return `${sorted[Math.floor(sorted.length / 2)]!.toFixed(1)} / ${sorted.at(-1)!.toFixed(1)}`;
  });
  console.log(ranks.map((figure, rank) => `swap ${rank + 1}: ${figure}`).join("; "));
}
