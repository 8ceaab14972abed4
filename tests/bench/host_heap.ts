/**
 * What a host's heap keeps per swap (`deno task bench:heap`). A child
 * process registers a two-field generation and swaps it again and again,
 * each swap awaited until the old generation retired; it writes a heap
 * snapshot (`node:v8`, after a forced GC) after a warm-up and after each of
 * two more rounds, and exits. This process then compares the snapshots: for
 * each round, the heap's growth per swap and the kinds of V8 object that
 * grew most. A runtime that keeps something per swap shows the same objects
 * growing round after round; V8's own warm-up (optimised code, lazily loaded
 * internals) grows in the first round and levels off.
 *
 * Usage: deno task bench:heap [--isolation inline|worker|process] [--swaps 400] [--warm-up 130]
 */

import { parseArgs } from "node:util";
import v8 from "node:v8";
import { defineContract, type Isolation, registerHotswap } from "../../mod.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    isolation: { type: "string", default: "process" },
    swaps: { type: "string", default: "400" },
    "warm-up": { type: "string", default: "130" },
    child: { type: "string" },
  },
});
const ISOLATION = values.isolation as Isolation;
const SWAPS = Number(values.swaps);
const WARM_UP = Number(values["warm-up"]);
const SNAPSHOTS = ["start", "round 1", "round 2"];

/** Kinds whose name is their content (each string its own), counted by type alone. */
const UNNAMED = new Set(["string", "concatenated string", "sliced string", "number", "hidden", "array"]);

/** The host: swaps, and writes a snapshot into `dir` after the warm-up and after each round. */
async function host(dir: string): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc!;
  const contract = defineContract<{ n: number; get(): number }>({
    name: "N",
    version: "1.0.0",
    symbol: "hs_n",
    shape: { n: "number", get: "function" },
  });
  const entry = `${dir}/n.ts`;
  await Deno.writeTextFile(entry, `export const hs_n = { n: 0, get: () => 0 };\n`);
  await using hot = await registerHotswap(contract, entry, { isolation: ISOLATION });
  await hot.warm();
  let version = 0;
  const swaps = async (count: number) => {
    for (let i = 0; i < count; i++) {
      version++;
      await Deno.writeTextFile(entry, `export const hs_n = { n: ${version}, get: () => ${version} };\n`);
      const { retired } = await hot.swap(entry);
      await hot.with((handle) => handle.get());
      await retired;
    }
  };
  for (const [index, label] of SNAPSHOTS.entries()) {
    await swaps(index === 0 ? WARM_UP : SWAPS);
    gc();
    v8.writeHeapSnapshot(`${dir}/${index}.heapsnapshot`);
    console.error(`  snapshot: ${label}`);
  }
}

/** Total self size and count of each kind of heap object in a snapshot file. */
async function census(file: string): Promise<Map<string, { size: number; count: number }>> {
  const snapshot = JSON.parse(await Deno.readTextFile(file));
  const { node_fields: fields, node_types: [types] } = snapshot.snapshot.meta;
  const [type, name, size] = ["type", "name", "self_size"].map((field) => fields.indexOf(field));
  const kinds = new Map<string, { size: number; count: number }>();
  const nodes: number[] = snapshot.nodes;
  for (let i = 0; i < nodes.length; i += fields.length) {
    const kind = types[nodes[i + type]!] as string;
    const key = UNNAMED.has(kind)
      ? kind
      : `${kind} ${String(snapshot.strings[nodes[i + name]!]).slice(0, 48)}`;
    const tally = kinds.get(key) ?? { size: 0, count: 0 };
    tally.size += nodes[i + size]!;
    tally.count++;
    kinds.set(key, tally);
  }
  return kinds;
}

if (values.child !== undefined) {
  await host(values.child);
} else {
  const dir = await Deno.makeTempDir({ prefix: "hotswap_heap_" });
  try {
    console.log(
      `Host heap, ${ISOLATION} isolation (Deno ${Deno.version.deno}): ${WARM_UP} swaps of warm-up, then rounds of ${SWAPS}`,
    );
    const { success } = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        `--lock=${new URL("../deno.lock", import.meta.url).pathname}`,
        "--unstable-worker-options",
        "-A",
        "--v8-flags=--expose-gc",
        import.meta.filename!,
        "--isolation",
        ISOLATION,
        "--swaps",
        String(SWAPS),
        "--warm-up",
        String(WARM_UP),
        "--child",
        dir,
      ],
      stdout: "inherit",
      stderr: "inherit",
    }).output();
    if (!success) throw new Error("the host process failed");
    let before = await census(`${dir}/0.heapsnapshot`);
    for (const round of [1, 2]) {
      const after = await census(`${dir}/${round}.heapsnapshot`);
      const grown = [...new Set([...before.keys(), ...after.keys()])].map((key) => ({
        key,
        size: (after.get(key)?.size ?? 0) - (before.get(key)?.size ?? 0),
        count: (after.get(key)?.count ?? 0) - (before.get(key)?.count ?? 0),
      }));
      const total = grown.reduce((sum, kind) => sum + kind.size, 0);
      console.log(
        `round ${round}: ${(total / 1024).toFixed(0)} KiB in all, ${
          (total / SWAPS).toFixed(0)
        } B per swap; grew most:`,
      );
      for (const { key, size, count } of grown.sort((a, b) => b.size - a.size).slice(0, 5)) {
        console.log(`  ${(size / 1024).toFixed(1)} KiB, ${count} objects: ${key}`);
      }
      before = after;
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
