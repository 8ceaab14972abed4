import { deepStrictEqual, match, ok, rejects, strictEqual, throws } from "node:assert/strict";
import { join } from "node:path";
import { runToEnd } from "./_child.ts";
import { defineContract, type Hotswap, HotswapError, registerHotswap } from "../mod.ts";
import { type GraphWatcher, watchGraph, type WatchOptions, type WatchOutcome } from "../core/watch.ts";

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

/**
 * Values a watcher reports through a callback, awaited one by one with a
 * bound instead of a sleep.
 */
class Reports<T> {
  readonly #queue: T[] = [];
  readonly #what: string;
  #waiter: PromiseWithResolvers<void> | undefined;

  constructor(what: string) {
    this.#what = what;
  }

  readonly push = (value: T): void => {
    this.#queue.push(value);
    this.#waiter?.resolve();
  };

  async next(ms = 5_000): Promise<T> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      while (this.#queue.length === 0) {
        this.#waiter = Promise.withResolvers();
        const expired = new Promise<"timeout">((resolve) => {
          timer = setTimeout(() => resolve("timeout"), ms);
        });
        if (await Promise.race([this.#waiter.promise, expired]) === "timeout") {
          throw new Error(`No ${this.#what} within ${ms} ms`);
        }
        clearTimeout(timer);
      }
      return this.#queue.shift()!;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Skips reports until one matches; returns it. */
  async until(matches: (value: T) => boolean): Promise<T> {
    for (;;) {
      const value = await this.next();
      if (matches(value)) return value;
    }
  }
}

/** A change as `onChange` reports it. */
type Change = Parameters<NonNullable<WatchOptions["onChange"]>>[0];

class Outcomes extends Reports<WatchOutcome> {
  constructor() {
    super("watch outcome");
  }
}

class Changes extends Reports<Change> {
  constructor() {
    super("watched change");
  }
}

/**
 * Tests that prove a swap came from a close or rename event, not from the
 * fallback quiet period, need a platform that reports them: Linux (inotify).
 */
const noCloseEvents = Deno.build.os !== "linux";

/** A fallback quiet period no test outlives: what swaps in such a test came from a close or a rename. */
const NEVER = 60_000;

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
    changes: Changes;
  }) => Promise<void>,
  options: Omit<WatchOptions, "onSwap" | "onChange"> = {},
): Promise<void> {
  const files = await fixture(value);
  try {
    await using hot = await registerHotswap(answer, files.entry);
    const outcomes = new Outcomes();
    const changes = new Changes();
    await using watcher = watchGraph(hot, { ...options, onSwap: outcomes.push, onChange: changes.push });
    await body({ ...files, hot, watcher, outcomes, changes });
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

Deno.test("watchGraph() abandons a swap whose file changed while it loaded, and swaps to the newer save", async () => {
  await withWatched("one", async ({ hot, value, outcomes }) => {
    const loading = globalThis as { __watchTestLoading?: () => void };
    const started = Promise.withResolvers<void>();
    loading.__watchTestLoading = started.resolve;
    try {
      // A load that takes a while, and says when it started: the next save lands while it runs.
      await Deno.writeTextFile(
        value,
        `(globalThis as { __watchTestLoading?: () => void }).__watchTestLoading?.();
await new Promise((resolve) => setTimeout(resolve, 300));
export const value = "slow";\n`,
      );
      await started.promise;
      await Deno.writeTextFile(value, valueModule("newer"));
      // One outcome: the newer save, reporting both changes; the abandoned swap committed nothing.
      const outcome = await outcomes.next();
      strictEqual(committed(outcome), 2);
      deepStrictEqual(outcome.changed, [value]);
      strictEqual(hot.with((h) => h.value), "newer");
      strictEqual(hot.stats().rejects, 0);
    } finally {
      delete loading.__watchTestLoading;
    }
  });
});

Deno.test("watchGraph() abandons a swap when a module it newly imports is saved while it loads", async () => {
  await withWatched("one", async ({ dir, entry, hot, outcomes }) => {
    const loading = globalThis as { __watchTestLoading?: () => void };
    const started = Promise.withResolvers<void>();
    loading.__watchTestLoading = started.resolve;
    try {
      // The deploy writes the entry first, importing a new module, then the module, in two parts;
      // the second part lands while the swap loads what it read of the first.
      const util = `${dir}/util.ts`;
      await Deno.writeTextFile(util, 'export let word = "half";\n');
      await Deno.writeTextFile(
        entry,
        `import { word } from "./util.ts";
(globalThis as { __watchTestLoading?: () => void }).__watchTestLoading?.();
await new Promise((resolve) => setTimeout(resolve, 300));
export const hs_answer = { get value() { return word; } };\n`,
      );
      await started.promise;
      await Deno.writeTextFile(util, 'export let word = "half";\nword = "whole";\n');
      const outcome = await outcomes.next();
      strictEqual(committed(outcome), 2, "the swap that read half of util.ts committed nothing");
      strictEqual(hot.with((h) => h.value), "whole");
      ok(outcome.changed.includes(util), `util.ts among ${outcome.changed}`);
    } finally {
      delete loading.__watchTestLoading;
    }
  });
});

Deno.test("watchGraph() coalesces a burst of saves into one swap", async () => {
  await withWatched("one", async ({ hot, value, outcomes }) => {
    // Five writes back to back take far less than the 500 ms settle window.
    for (const word of ["a", "b", "c", "d", "burst"]) await Deno.writeTextFile(value, valueModule(word));
    strictEqual(committed(await outcomes.next()), 2);
    strictEqual(hot.with((h) => h.value), "burst");
    // Had the burst caused a second swap, it would be the next outcome (generation 3, "burst");
    // the next one is instead the swap for this later edit.
    await Deno.writeTextFile(value, valueModule("after"));
    strictEqual(committed(await outcomes.next()), 3);
    strictEqual(hot.with((h) => h.value), "after");
  }, { settle: 500 });
});

Deno.test("watchGraph() makes one swap of several files saved together", async () => {
  await withWatched("one", async ({ dir, entry, hot, value, watcher, outcomes }) => {
    // As a git checkout or "save all" does: each file written whole, one after the other,
    // all within the settle window.
    await Deno.writeTextFile(`${dir}/extra.ts`, 'export const extra = "+extra";\n');
    await Deno.writeTextFile(
      entry,
      'import { value } from "./value.ts";\nimport { extra } from "./extra.ts";\nexport const hs_answer = { value: value + extra };\n',
    );
    await Deno.writeTextFile(value, valueModule("two"));
    const outcome = await outcomes.next();
    strictEqual(committed(outcome), 2);
    // extra.ts joined the graph with this swap: its creation was no change of a watched file.
    deepStrictEqual(outcome.changed, [entry, value]);
    strictEqual(hot.with((h) => h.value), "two+extra");
    ok(watcher.files.includes(`${dir}/extra.ts`));
    // A second swap from those saves would be the next outcome; the next one is this edit's.
    await Deno.writeTextFile(value, valueModule("three"));
    strictEqual(committed(await outcomes.next()), 3);
    strictEqual(hot.with((h) => h.value), "three+extra");
  }, { settle: 500 });
});

Deno.test("watchGraph() does not swap a file still open for writing, only once it is closed", {
  ignore: noCloseEvents,
}, async () => {
  await withWatched("one", async ({ hot, value, outcomes, changes }) => {
    // Each stage on disk would load: the truncated file (refused: no export "value"), the
    // first half (valid, value "half"). Only the whole text gives "half-complete".
    const file = await Deno.open(value, { write: true, truncate: true });
    try {
      const encoder = new TextEncoder();
      await file.write(encoder.encode('export const value = "half" + ""'));
      // Gate: the watcher has taken in a change of the open file, and judged it incomplete.
      const seen = await changes.until((change) => change.path === value);
      strictEqual(seen.kind, "modify");
      strictEqual(seen.complete, false);
      await file.write(encoder.encode(' + "-complete";\n'));
    } finally {
      file.close();
    }
    const closed = await changes.until((change) => change.path === value && change.complete);
    strictEqual(closed.kind, "access");
    const outcome = await outcomes.next();
    strictEqual(committed(outcome), 2);
    deepStrictEqual(outcome.changed, [value]);
    strictEqual(hot.with((h) => h.value), "half-complete");
    // A swap of the half or of the empty file, committed or refused, would have been reported
    // before the next edit's; the next outcome is that edit's.
    await Deno.writeTextFile(value, valueModule("after"));
    strictEqual(committed(await outcomes.next()), 3);
    strictEqual(hot.with((h) => h.value), "after");
  }, { settle: 0, debounce: NEVER });
});

Deno.test("watchGraph() waits for a file still open for writing before swapping another saved meanwhile", {
  ignore: noCloseEvents,
}, async () => {
  await withWatched("one", async ({ entry, hot, value, outcomes, changes }) => {
    const file = await Deno.open(value, { write: true, truncate: true });
    try {
      await file.write(new TextEncoder().encode('export const value = "half"'));
      await changes.until((change) => change.path === value && !change.complete);
      // The entry is saved whole while value.ts is still open: every file the
      // watcher knew of so far is complete except value.ts.
      await Deno.writeTextFile(entry, ENTRY.replace("= { value }", '= { value: value + "!" }'));
      await changes.until((change) => change.path === entry && change.complete);
      await file.write(new TextEncoder().encode(' + "-complete";\n'));
    } finally {
      file.close();
    }
    const outcome = await outcomes.next();
    strictEqual(committed(outcome), 2);
    deepStrictEqual(outcome.changed, [entry, value]);
    strictEqual(hot.with((h) => h.value), "half-complete!");
    await Deno.writeTextFile(value, valueModule("after"));
    strictEqual(committed(await outcomes.next()), 3);
  }, { settle: 0, debounce: NEVER });
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

Deno.test("watchGraph() swaps on an atomic save (write a temp file, rename it over)", {
  ignore: noCloseEvents,
}, async () => {
  await withWatched("one", async ({ dir, hot, value, outcomes, changes }) => {
    await Deno.writeTextFile(`${dir}/.value.ts.tmp`, valueModule("renamed"));
    await Deno.rename(`${dir}/.value.ts.tmp`, value);
    const moved = await changes.until((change) => change.path === value);
    strictEqual(moved.kind, "rename");
    strictEqual(moved.complete, true);
    const outcome = await outcomes.next();
    strictEqual(committed(outcome), 2);
    deepStrictEqual(outcome.changed, [value]);
    strictEqual(hot.with((h) => h.value), "renamed");
    await Deno.writeTextFile(value, valueModule("after"));
    strictEqual(committed(await outcomes.next()), 3);
  }, { debounce: NEVER });
});

Deno.test("watchGraph() swaps once on a save that moves the original away and writes it anew", {
  ignore: noCloseEvents,
}, async () => {
  await withWatched("one", async ({ hot, value, outcomes }) => {
    // Vim's default: keep the original as a backup, write a new file, drop the backup.
    // The moment value.ts is missing must not become a refused swap.
    await Deno.rename(value, `${value}~`);
    await Deno.writeTextFile(value, valueModule("rewritten"));
    await Deno.remove(`${value}~`);
    const outcome = await outcomes.next();
    strictEqual(committed(outcome), 2);
    strictEqual(hot.with((h) => h.value), "rewritten");
    await Deno.writeTextFile(value, valueModule("after"));
    strictEqual(committed(await outcomes.next()), 3);
  }, { debounce: NEVER });
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

Deno.test("watchGraph() retries when the missing import is created in a directory made after the failure", async () => {
  await withWatched("one", async ({ dir, entry, hot, outcomes }) => {
    await Deno.writeTextFile(
      entry,
      'import { later } from "./lib/later.ts";\nexport const hs_answer = { value: later };\n',
    );
    const refused = await outcomes.next();
    ok(!refused.ok);
    strictEqual(refused.error.code, "E_IMPORT");

    await Deno.mkdir(`${dir}/lib`);
    await Deno.writeTextFile(`${dir}/lib/later.ts`, 'export const later = "created";\n');
    const outcome = await outcomes.until((o) => o.ok);
    ok(committed(outcome) >= 2);
    strictEqual(hot.with((h) => h.value), "created");
  });
});

Deno.test("watchGraph() keeps watching a directory removed and made again (a checkout, a clean build)", async () => {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "hotswap_watch_" }));
  try {
    await Deno.mkdir(`${dir}/lib`);
    await Deno.writeTextFile(`${dir}/lib/value.ts`, valueModule("one"));
    await Deno.writeTextFile(
      `${dir}/entry.ts`,
      'import { value } from "./lib/value.ts";\nexport const hs_answer = { value };\n',
    );
    await using hot = await registerHotswap(answer, `${dir}/entry.ts`);
    const outcomes = new Outcomes();
    await using _watcher = watchGraph(hot, { onSwap: outcomes.push });
    await Deno.remove(`${dir}/lib`, { recursive: true });
    await Deno.mkdir(`${dir}/lib`);
    await Deno.writeTextFile(`${dir}/lib/value.ts`, valueModule("two"));
    await outcomes.until((o) => o.ok && hot.with((h) => h.value) === "two");
    // The directory made again is watched: a later edit there swaps too.
    await Deno.writeTextFile(`${dir}/lib/value.ts`, valueModule("three"));
    await outcomes.until((o) => o.ok && hot.with((h) => h.value) === "three");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("watchGraph() swaps when an import's symlink is re-pointed (ln -sfn)", {
  ignore: Deno.build.os === "windows",
}, async () => {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "hotswap_watch_" }));
  try {
    await Deno.mkdir(`${dir}/releases`);
    await Deno.writeTextFile(`${dir}/releases/a.ts`, valueModule("a"));
    await Deno.writeTextFile(`${dir}/releases/b.ts`, valueModule("b"));
    await Deno.symlink("releases/a.ts", `${dir}/current.ts`);
    await Deno.writeTextFile(
      `${dir}/entry.ts`,
      'import { value } from "./current.ts";\nexport const hs_answer = { value };\n',
    );
    await using hot = await registerHotswap(answer, `${dir}/entry.ts`);
    const outcomes = new Outcomes();
    await using _watcher = watchGraph(hot, { onSwap: outcomes.push });
    // Atomically, as ln -sfn does: a new link renamed over the old one.
    await Deno.symlink("releases/b.ts", `${dir}/current.ts.new`);
    await Deno.rename(`${dir}/current.ts.new`, `${dir}/current.ts`);
    strictEqual(committed(await outcomes.next()), 2);
    strictEqual(hot.with((h) => h.value), "b");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
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

Deno.test("watchGraph() refuses a closed reference and a negative settle or debounce", async () => {
  const files = await fixture();
  try {
    const hot = await registerHotswap(answer, files.entry);
    throws(() => watchGraph(hot, { debounce: -1 }), RangeError);
    throws(() => watchGraph(hot, { settle: Number.NaN }), RangeError);
    await hot.close();
    throws(() => watchGraph(hot), (error) => error instanceof HotswapError && error.code === "E_CLOSED");
    await rejects(hot.swap(files.entry), { code: "E_CLOSED" });
  } finally {
    await Deno.remove(files.dir, { recursive: true });
  }
});

/** A host program, outside the repository, whose watcher callbacks all throw. */
const THROWING_HOST = `import { defineContract, registerHotswap, watchGraph } from ${
  JSON.stringify(new URL("../mod.ts", import.meta.url).pathname)
};

const [watched, vanishing] = Deno.args;
const answer = defineContract({
  name: "Answer", version: "1.0.0", symbol: "hs_answer", shape: { value: "string" },
});
const hot = await registerHotswap(answer, watched + "/entry.ts", { roots: [watched, vanishing] });
const swapped = [Promise.withResolvers(), Promise.withResolvers()];
const failed = Promise.withResolvers();
let swaps = 0;
const watcher = watchGraph(hot, {
  onSwap: (outcome) => {
    swaps++;
    console.log("swap", swaps, outcome.ok, hot.with((h) => h.value));
    swapped[swaps - 1]?.resolve();
    if (swaps === 1) throw new Error("onSwap threw");
    return Promise.reject(new Error("onSwap rejected"));
  },
  onError: (error) => {
    console.log("error", error.code);
    failed.resolve();
    throw new Error("onError threw");
  },
});
await Deno.writeTextFile(watched + "/value.ts", 'export const value = "two";\\n');
await swapped[0].promise;
// The watcher carries on after a throw: the next save swaps too.
await Deno.writeTextFile(watched + "/value.ts", 'export const value = "three";\\n');
await swapped[1].promise;
// A generation that deletes its own directory as it loads: the watcher cannot watch it.
await hot.swap(vanishing + "/entry.ts");
await failed.promise;
await watcher.close();
await hot.close();
console.log("closed");
`;

Deno.test("watchGraph() callbacks that throw or reject never end the host process", async () => {
  const host = await Deno.realPath(await Deno.makeTempDir({ prefix: "hotswap_watch_host_" }));
  const watched = await fixture("one");
  const vanishing = await Deno.realPath(await Deno.makeTempDir({ prefix: "hotswap_watch_vanishing_" }));
  try {
    await Deno.writeTextFile(join(host, "host.ts"), THROWING_HOST);
    await Deno.writeTextFile(
      join(vanishing, "entry.ts"),
      `Deno.removeSync(${
        JSON.stringify(vanishing)
      }, { recursive: true });\nexport const hs_answer = { value: "gone" };\n`,
    );
    const { code, stdout: out, stderr: err } = await runToEnd([
      "run",
      "--no-prompt",
      `--allow-read=${watched.dir},${vanishing}`,
      `--allow-write=${watched.dir},${vanishing}`,
      "host.ts",
      watched.dir,
      vanishing,
    ], { cwd: host, env: { NO_COLOR: "1" }, timeout: 30_000 });
    strictEqual(code, 0, `host exited ${code}:\n${out}\n${err}`);
    deepStrictEqual(out.trim().split("\n"), [
      "swap 1 true two",
      "swap 2 true three",
      "error E_NOT_FOUND",
      "closed",
    ]);
    match(err, /hotswap watch: the onSwap callback threw; the watcher carries on: Error: onSwap threw/);
    match(err, /hotswap watch: the onSwap callback threw; the watcher carries on: Error: onSwap rejected/);
    match(err, /hotswap watch: the onError callback threw; the watcher carries on: Error: onError threw/);
    ok(!err.includes("Uncaught"), err);
  } finally {
    await Deno.remove(host, { recursive: true });
    await Deno.remove(watched.dir, { recursive: true });
    await Deno.remove(vanishing, { recursive: true }).catch((error) => {
      // The host's second generation deletes it; only a failure that left it behind matters.
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    });
  }
});
