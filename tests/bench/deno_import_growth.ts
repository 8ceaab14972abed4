/**
 * Deno alone, no hot-swap runtime: a loop of dynamic imports of fresh
 * modules, as inline swaps make them. It prints the time per import and the
 * process's RSS and V8 heap every `--step` imports, to show how Deno's own
 * cost per import grows with the number of modules it has loaded (it never
 * frees one). Compare with `tests/soak.ts`, which swaps through the runtime.
 *
 * `--kind vm-script` compiles the same two modules as functions with
 * `node:vm`, as inline swaps now do (`core/_script_graph.ts`), to show what
 * V8 keeps of code it compiled from text: its compilation cache holds each
 * text it compiled. Add `--v8-flags=--expose-gc` to read the heap after a
 * full collection, and `--no-compilation-cache` to compare.
 *
 * Usage: deno task bench:growth [--imports n] [--step n] [--kind blob-ts|blob-js|data-js|vm-script]
 * (run it with `--no-code-cache` and `DENO_EMIT_CACHE_MODE=disable` to leave
 * Deno's disk caches out, as the task does).
 */

import { parseArgs } from "node:util";
import { runInThisContext } from "node:vm";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    imports: { type: "string", default: "5000" },
    step: { type: "string", default: "500" },
    kind: { type: "string", default: "blob-ts" },
  },
});
const IMPORTS = Number(values.imports);
const STEP = Number(values.step);
const KIND = values.kind!;
if (!["blob-ts", "blob-js", "data-js", "vm-script"].includes(KIND)) {
  throw new TypeError(`Unknown --kind ${KIND}`);
}

/** A two-module graph (an entry importing a dependency), new text each time so V8 evaluates it anew. */
async function importFresh(i: number): Promise<void> {
  const typed = KIND === "blob-ts";
  const dependency = typed
    ? `export const VERSION: string = "v${i}";\nexport function greet(n: number): string { return VERSION + n; }\n`
    : `export const VERSION = "v${i}";\nexport function greet(n) { return VERSION + n; }\n`;
  const entry = (url: string) =>
    `import { greet } from ${JSON.stringify(url)};\nexport const hs = { f: greet };\n`;
  if (KIND === "vm-script") {
    const compile = (body: string, name: string) =>
      runInThisContext(`(function (load) {${body}\n})`, { filename: `file:///growth/${name}.js` }) as (
        load: unknown,
      ) => Record<string, (n: number) => unknown>;
    const dep = compile(
      `const VERSION = "v${i}";\nfunction greet(n) { return VERSION + n; }\nreturn { greet };`,
      "dep",
    )(
      undefined,
    );
    const main = compile(`const { greet } = load();\nreturn { f: greet };`, "entry")(() => dep);
    main.f!(i);
    return;
  }
  if (KIND === "data-js") {
    const dep = `data:text/javascript,${encodeURIComponent(dependency)}`;
    const namespace = await import(`data:text/javascript,${encodeURIComponent(entry(dep))}`);
    namespace.hs.f(i);
    return;
  }
  const type = typed ? "application/typescript" : "text/javascript";
  const dep = URL.createObjectURL(new Blob([dependency], { type }));
  const main = URL.createObjectURL(new Blob([entry(dep)], { type }));
  try {
    const namespace = await import(main);
    namespace.hs.f(i);
  } finally {
    URL.revokeObjectURL(main);
    URL.revokeObjectURL(dep);
  }
}

console.log(`Deno ${Deno.version.deno}: ${IMPORTS} imports of a fresh two-module graph (${KIND})`);
console.log("imports  ms/import  RSS MiB  heap MiB");
let started = performance.now();
for (let i = 1; i <= IMPORTS; i++) {
  await importFresh(i);
  if (i % STEP === 0) {
    // With --v8-flags=--expose-gc, what stays rather than what is yet to be collected.
    (globalThis as { gc?: () => void }).gc?.();
    const { rss, heapUsed } = Deno.memoryUsage();
    const perImport = (performance.now() - started) / STEP;
    console.log(
      `${String(i).padStart(7)}  ${perImport.toFixed(2).padStart(9)}  ${
        (rss / 2 ** 20).toFixed(1).padStart(7)
      }  ${(heapUsed / 2 ** 20).toFixed(1).padStart(8)}`,
    );
    started = performance.now();
  }
}
