/**
 * How long a swap holds the thread that serves, with and without the
 * off-thread reader that `hot.warm()` starts (`deno task bench:hold`). For a
 * graph of `--modules` files, it swaps `--swaps` times, one module edited
 * before each, and while each swap runs it measures the longest stretch
 * between two turns of a `setTimeout(0)` chain: the longest time a request
 * arriving then would have waited. Each mode runs in a process of its own.
 *
 * Usage: deno task bench:hold [--modules 2,200] [--swaps 20]
 */

import { parseArgs } from "node:util";
import { defineContract, registerHotswap } from "../../mod.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    modules: { type: "string", default: "2,200" },
    swaps: { type: "string", default: "20" },
    child: { type: "string" },
  },
});
const SWAPS = Number(values.swaps);

const contract = defineContract<{ run(x: number): number }>({
  name: "Sum",
  version: "1.0.0",
  symbol: "hs_sum",
  shape: { run: "function" },
});

function leaf(i: number, value: number): string {
  return `export const v${i}: number = ${value};\nexport function f${i}(x: number): number { return x + v${i}; }\n`;
}

async function child(modules: number, warm: boolean): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "hotswap_hold_" });
  try {
    for (let i = 0; i < modules; i++) await Deno.writeTextFile(`${dir}/m${i}.ts`, leaf(i, i));
    const imports = Array.from({ length: modules }, (_, i) => `import { f${i} } from "./m${i}.ts";\n`).join(
      "",
    );
    const sum = Array.from({ length: modules }, (_, i) => `f${i}(x)`).join(" + ");
    await Deno.writeTextFile(
      `${dir}/entry.ts`,
      `${imports}export const hs_sum = { run: (x: number) => ${sum} };\n`,
    );
    await using hot = await registerHotswap(contract, `${dir}/entry.ts`);
    if (warm) await hot.warm();
    const swaps: number[] = [];
    const holds: number[] = [];
    for (let k = 0; k < SWAPS; k++) {
      await Deno.writeTextFile(`${dir}/m${k % modules}.ts`, leaf(k % modules, 1000 + k));
      let longest = 0;
      let last = performance.now();
      let swapping = true;
      const turn = () => {
        const now = performance.now();
        longest = Math.max(longest, now - last);
        last = now;
        if (swapping) setTimeout(turn, 0);
      };
      setTimeout(turn, 0);
      const started = performance.now();
      await hot.swap(`${dir}/entry.ts`);
      swaps.push(performance.now() - started);
      swapping = false;
      // Let the last turn run, so no timer outlives the measurement.
      await new Promise((resolve) => setTimeout(resolve, 1));
      holds.push(longest);
    }
    console.log(JSON.stringify({ swap: median(swaps), hold: median(holds) }));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function median(values: number[]): number {
  return values.toSorted((a, b) => a - b)[values.length >> 1]!;
}

if (values.child !== undefined) {
  const [modules, mode] = values.child.split(":");
  await child(Number(modules), mode === "warm");
} else {
  console.log(`Swap hold, ${SWAPS} swaps per row (Deno ${Deno.version.deno}); ms median`);
  console.log("| modules | reads on | swap | longest event-loop block during the swap |");
  console.log("|---------|----------|------|------------------------------------------|");
  for (const modules of values.modules.split(",").map(Number)) {
    for (const warm of [false, true]) {
      const { stdout, success } = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          import.meta.filename!,
          "--swaps",
          String(SWAPS),
          "--child",
          `${modules}:${warm ? "warm" : "cold"}`,
        ],
        stderr: "inherit",
      }).output();
      if (!success) throw new Error(`the child for ${modules} modules failed`);
      const { swap, hold } = JSON.parse(new TextDecoder().decode(stdout));
      const where = warm ? "reader (after warm())" : "serving thread";
      console.log(`| ${modules} | ${where} | ${swap.toFixed(2)} | ${hold.toFixed(2)} |`);
    }
  }
}
