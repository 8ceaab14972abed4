/**
 * Inline swaps of a generation whose dependency holds what TypeScript
 * compiles to code: a class with parameter properties and an enum. Since
 * the script path compiles both as Deno does, such a graph runs as scripts
 * (freed with its generation, frames naming files); before, it fell back to
 * `blob:` modules, which Deno keeps for good. Per checkout it reports the
 * median time of a swap in the first and the last tenth of `--swaps`, the
 * resident memory each swap added (after a forced GC), and whether frames
 * name the file (`script`) or a `blob:` URL (`fallback`).
 *
 * Each checkout runs in a child process of its own (`--no-code-cache`,
 * `DENO_EMIT_CACHE_MODE=disable`, as `deno task serve` runs), one after
 * the other; compare this one with a `git worktree` of an older commit.
 *
 * Usage: deno run -A tests/bench/class_enum_swaps.ts [--swaps 500] [<checkout>...]
 *
 * @module
 */

import { parseArgs } from "node:util";
import { join, resolve } from "node:path";
import { measureInChild } from "./_checkout_child.ts";

const { values, positionals } = parseArgs({
  args: Deno.args,
  allowPositionals: true,
  options: { swaps: { type: "string", default: "500" }, child: { type: "boolean", default: false } },
});
const SWAPS = Number(values.swaps);

/** The dependency, version `v`: an enum and a class with parameter properties. */
const service = (v: number) =>
  `export enum Level {
  Low,
  High = "high",
}
export class Store {
  constructor(private readonly prefix: string, public level = Level.Low) {}
  key(id: number): string {
    if (id < 0) throw new Error("negative id");
    return this.prefix + id + ":v${v}";
  }
}
`;

/** One run against the checkout at `repo`, in this process. */
async function measure(repo: string): Promise<Record<string, string>> {
  const { defineContract, registerHotswap } = await import(join(repo, "mod.ts"));
  const dir = await Deno.makeTempDir({ prefix: "hotswap_classes_" });
  try {
    await Deno.writeTextFile(join(dir, "service.ts"), service(0));
    const entry = join(dir, "gen.ts");
    await Deno.writeTextFile(
      entry,
      `import { Store } from "./service.ts";\nconst store = new Store("k");\nexport const hs_t = { key: (x: number) => store.key(x) };\n`,
    );
    type Handle = { key(x: number): string };
    const contract = defineContract({
      name: "T",
      version: "1.0.0",
      symbol: "hs_t",
      shape: { key: "function" },
    });
    await using hot = await registerHotswap(contract, entry);
    const swap = async (version: number) => {
      await Deno.writeTextFile(join(dir, "service.ts"), service(version));
      const started = performance.now();
      const { retired } = await hot.swap(entry);
      const took = performance.now() - started;
      await retired;
      return took;
    };
    for (let version = 1; version <= 20; version++) await swap(version);
    const gc = (globalThis as { gc?: () => void }).gc!;
    gc();
    const before = Deno.memoryUsage().rss;
    const times: number[] = [];
    for (let version = 100; version < 100 + SWAPS; version++) times.push(await swap(version));
    gc();
    const after = Deno.memoryUsage().rss;
    const stack = String(
      hot.with((handle: Handle) => {
        try {
          return handle.key(-1);
        } catch (error) {
          return (error as Error).stack;
        }
      }),
    );
    const tenth = Math.max(1, Math.floor(SWAPS / 10));
    const median = (samples: number[]) => samples.toSorted((a, b) => a - b)[Math.floor(samples.length / 2)]!;
    return {
      first: median(times.slice(0, tenth)).toFixed(2),
      last: median(times.slice(-tenth)).toFixed(2),
      kibPerSwap: ((after - before) / 1024 / SWAPS).toFixed(1),
      path: stack.includes("blob:") ? "fallback" : "script",
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

if (values.child) {
  console.log(JSON.stringify(await measure(resolve(positionals[0]!))));
} else {
  const checkouts = positionals.length > 0 ? positionals.map((path) => resolve(path)) : [Deno.cwd()];
  console.log(
    `${SWAPS} inline swaps of a class with parameter properties and an enum (Deno ${Deno.version.deno})`,
  );
  for (const checkout of checkouts) {
    const run = await measureInChild<Record<string, string>>(
      import.meta.filename!,
      checkout,
      ["--swaps", String(SWAPS)],
      ["--v8-flags=--expose-gc"],
    );
    console.log(
      `${checkout}: ${run.path}; swap ${run.first} ms at first, ${run.last} ms in the last tenth; RSS +${run.kibPerSwap} KiB a swap`,
    );
  }
}
