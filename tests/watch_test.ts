import { deepStrictEqual, ok, rejects, strictEqual, throws } from "node:assert/strict";
import { defineContract, type Hotswap, HotswapError, registerHotswap } from "../mod.ts";
import { type GraphWatcher, watchGraph, type WatchOutcome } from "../core/watch.ts";

interface Answer {
  value: string;
}

const answer = defineContract<Answer>({
  name: "Answer",
  version: "1.0.0",
  symbol: "hs_answer",
  shape: { value: "string" },
});

const ENTRY = 'import { value } from "./value.ts";\nexport const hs_answer = { value };\n';

/** A temp dir (real path, so it matches the watcher's paths) holding entry.ts -> value.ts. */
async function fixture(value = "one"): Promise<{ dir: string; entry: string; value: string }> {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "hotswap_watch_" }));
  await Deno.writeTextFile(`${dir}/value.ts`, `export const value = ${JSON.stringify(value)};\n`);
  await Deno.writeTextFile(`${dir}/entry.ts`, ENTRY);
  return { dir, entry: `${dir}/entry.ts`, value: `${dir}/value.ts` };
}

function valueModule(value: string): string {
  return `export const value = ${JSON.stringify(value)};\n`;
}

/** Outcomes reported by a watcher, awaited one by one with a bound instead of a sleep. */
class Outcomes {
  readonly #queue: WatchOutcome[] = [];
  #waiter: PromiseWithResolvers<void> | undefined;

  readonly push = (outcome: WatchOutcome): void => {
    this.#queue.push(outcome);
    this.#waiter?.resolve();
  };

  async next(ms = 5_000): Promise<WatchOutcome> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      while (this.#queue.length === 0) {
        this.#waiter = Promise.withResolvers();
        const expired = new Promise<"timeout">((resolve) => {
          timer = setTimeout(() => resolve("timeout"), ms);
        });
        if (await Promise.race([this.#waiter.promise, expired]) === "timeout") {
          throw new Error(`No watch outcome within ${ms} ms`);
        }
        clearTimeout(timer);
      }
      return this.#queue.shift()!;
    } finally {
      clearTimeout(timer);
    }
  }
}

function committed(outcome: WatchOutcome): number {
  if (!outcome.ok) {
    throw new Error(`Expected a committed swap, got ${outcome.error.code}: ${outcome.error.message}`);
  }
  return outcome.result.generation;
}

async function withWatched(
  value: string,
  body: (ctx: {
    dir: string;
    entry: string;
    value: string;
    hot: Hotswap<Answer>;
    watcher: GraphWatcher<Answer>;
    outcomes: Outcomes;
  }) => Promise<void>,
  debounce = 30,
): Promise<void> {
  const files = await fixture(value);
  try {
    await using hot = await registerHotswap(answer, files.entry);
    const outcomes = new Outcomes();
    await using watcher = watchGraph(hot, { debounce, onSwap: outcomes.push });
    await body({ ...files, hot, watcher, outcomes });
  } finally {
    await Deno.remove(files.dir, { recursive: true });
  }
}

Deno.test("watchGraph() watches every file of the current generation", async () => {
  await withWatched("one", ({ watcher, entry, value }) => {
    deepStrictEqual(watcher.files, [entry, value]);
    return Promise.resolve();
  });
});

Deno.test("watchGraph() swaps when a dependency of the entry changes", async () => {
  await withWatched("one", async ({ hot, value, outcomes }) => {
    await Deno.writeTextFile(value, valueModule("two"));
    const outcome = await outcomes.next();
    strictEqual(committed(outcome), 2);
    deepStrictEqual(outcome.changed, [value]);
    strictEqual(hot.with((h) => h.value), "two");
  });
});

Deno.test("watchGraph() debounces a burst of saves into one swap", async () => {
  await withWatched("one", async ({ hot, value, outcomes }) => {
    // Five writes back to back take far less than the 200 ms debounce.
    for (const word of ["a", "b", "c", "d", "burst"]) await Deno.writeTextFile(value, valueModule(word));
    strictEqual(committed(await outcomes.next()), 2);
    strictEqual(hot.with((h) => h.value), "burst");
    // Had the burst caused a second swap, it would be the next outcome (generation 3, "burst");
    // the next one is instead the swap for this later edit.
    await Deno.writeTextFile(value, valueModule("after"));
    strictEqual(committed(await outcomes.next()), 3);
    strictEqual(hot.with((h) => h.value), "after");
  }, 200);
});

Deno.test("watchGraph() ignores files outside the graph, even in the same directory", async () => {
  await withWatched("one", async ({ dir, value, outcomes }) => {
    await Deno.writeTextFile(`${dir}/unrelated.ts`, "export const x = 1;\n");
    await Deno.writeTextFile(value, valueModule("two"));
    const outcome = await outcomes.next();
    strictEqual(committed(outcome), 2);
    deepStrictEqual(outcome.changed, [value]);
  });
});

Deno.test("watchGraph() swaps on an atomic save (write a temp file, rename it over)", async () => {
  await withWatched("one", async ({ dir, hot, value, outcomes }) => {
    await Deno.writeTextFile(`${dir}/.value.ts.tmp`, valueModule("renamed"));
    await Deno.rename(`${dir}/.value.ts.tmp`, value);
    strictEqual(committed(await outcomes.next()), 2);
    strictEqual(hot.with((h) => h.value), "renamed");
  });
});

Deno.test("watchGraph() keeps the old generation on a broken save and swaps once it is fixed", async () => {
  await withWatched("one", async ({ hot, value, outcomes }) => {
    await Deno.writeTextFile(value, "export const value = ;\n");
    const refused = await outcomes.next();
    ok(!refused.ok);
    strictEqual(refused.error.code, "E_IMPORT");
    strictEqual(hot.generation, 1);
    strictEqual(hot.with((h) => h.value), "one");

    await Deno.writeTextFile(value, valueModule("fixed"));
    strictEqual(committed(await outcomes.next()), 2);
    strictEqual(hot.with((h) => h.value), "fixed");
  });
});

Deno.test("watchGraph() follows the graph to a file the new generation imports", async () => {
  await withWatched("one", async ({ dir, entry, hot, watcher, outcomes }) => {
    await Deno.writeTextFile(`${dir}/extra.ts`, 'export const extra = "-extra";\n');
    await Deno.writeTextFile(
      entry,
      'import { value } from "./value.ts";\nimport { extra } from "./extra.ts";\nexport const hs_answer = { value: value + extra };\n',
    );
    strictEqual(committed(await outcomes.next()), 2);
    ok(watcher.files.includes(`${dir}/extra.ts`));

    await Deno.writeTextFile(`${dir}/extra.ts`, 'export const extra = "-edited";\n');
    strictEqual(committed(await outcomes.next()), 3);
    strictEqual(hot.with((h) => h.value), "one-edited");
  });
});

Deno.test("watchGraph() retries when the import a failed swap missed is created", async () => {
  await withWatched("one", async ({ dir, entry, hot, outcomes }) => {
    await Deno.writeTextFile(
      entry,
      'import { later } from "./later.ts";\nexport const hs_answer = { value: later };\n',
    );
    const refused = await outcomes.next();
    ok(!refused.ok);
    strictEqual(refused.error.code, "E_IMPORT");

    await Deno.writeTextFile(`${dir}/later.ts`, 'export const later = "created";\n');
    strictEqual(committed(await outcomes.next()), 2);
    strictEqual(hot.with((h) => h.value), "created");
  });
});

Deno.test("watchGraph() follows a swap made elsewhere to another entry", async () => {
  const other = await fixture("elsewhere");
  try {
    await withWatched("one", async ({ hot, watcher, outcomes }) => {
      await hot.swap(other.entry);
      deepStrictEqual(watcher.files, [other.entry, other.value]);
      await Deno.writeTextFile(other.value, valueModule("elsewhere, edited"));
      const outcome = await outcomes.next();
      strictEqual(committed(outcome), 3);
      strictEqual(hot.info().path, other.entry);
      strictEqual(hot.with((h) => h.value), "elsewhere, edited");
    });
  } finally {
    await Deno.remove(other.dir, { recursive: true });
  }
});

Deno.test("GraphWatcher.close() is idempotent and an aborted signal closes it", async () => {
  await withWatched("one", async ({ hot, watcher }) => {
    await watcher.close();
    await watcher.close();
    ok(watcher.closed);

    const controller = new AbortController();
    const second = watchGraph(hot, { signal: controller.signal });
    controller.abort();
    ok(second.closed);
    await second.close();
  });
});

Deno.test("watchGraph() refuses a closed reference and a negative debounce", async () => {
  const files = await fixture();
  try {
    const hot = await registerHotswap(answer, files.entry);
    throws(() => watchGraph(hot, { debounce: -1 }), RangeError);
    await hot.close();
    throws(() => watchGraph(hot), (error) => error instanceof HotswapError && error.code === "E_CLOSED");
    await rejects(hot.swap(files.entry), { code: "E_CLOSED" });
  } finally {
    await Deno.remove(files.dir, { recursive: true });
  }
});
