/**
 * Process isolation (SPEC 6.5, 11): real child `deno` processes with
 * exactly the generation's permissions, faults that end only the child,
 * restarts from the same snapshot, and no process left once closed.
 *
 * Every test closes what it registered and then checks that
 * `stats().sandboxes` is 0: the loader waits until each process it started
 * has exited and released its pipes and directory.
 *
 * @module
 */

import { deepStrictEqual, doesNotMatch, match, ok, rejects, strictEqual } from "node:assert/strict";
import { join } from "node:path";
import {
  defineContract,
  type Hotswap,
  HotswapError,
  type HotswapOptions,
  registerHotswap,
  type Remote,
  type RestartEventDetail,
} from "../mod.ts";
import { REPO, runToEnd } from "./_child.ts";
import { ERROR, LOADED } from "../core/_process_protocol.ts";
import { computedLoader, Fixture } from "./_fixtures.ts";

interface Probe {
  label: string;
  info(): { pid: number; generation: number; digest: string; previous: unknown; cwd: string };
  echo(value: unknown): unknown;
  fail(): never;
  spin(): never;
  exit(): never;
  kill(): never;
  heap(): never;
  buffer(): number;
  garbage(): void;
  frame(type: number, id: number, body: string, declared?: number): void;
  reach(kind: string, target: string): unknown;
}

const probe = defineContract<Probe>({
  name: "Probe",
  version: "1.0.0",
  symbol: "hs_probe",
  shape: {
    label: "string",
    info: "function",
    echo: "function",
    fail: "function",
    spin: "function",
    exit: "function",
    kill: "function",
    heap: "function",
    buffer: "function",
    garbage: "function",
    frame: "function",
    reach: "function",
  },
});

/** A generation that can do every fault the tests need; `fail` throws from a second file. */
function probeFiles(label: string): Record<string, string> {
  return {
    "probe.ts": `import { failing } from "./failing.ts";
export function hs_probe(ctx: { generation: number; digest: string; previous: unknown }) {
  return {
    label: ${JSON.stringify(label)},
    info: () => {
      let cwd = "";
      try { cwd = Deno.cwd(); } catch { /* denied */ }
      return { pid: Deno.pid, generation: ctx.generation, digest: ctx.digest, previous: ctx.previous, cwd };
    },
    echo: (value: unknown) => value,
    fail: () => failing(),
    spin: () => { for (;;) { /* a synchronous loop */ } },
    exit: () => Deno.exit(3),
    kill: () => Deno.kill(Deno.pid, "SIGKILL"),
    heap: () => { const keep: unknown[] = []; for (;;) keep.push(new Array(10_000).fill({ n: Math.random() })); },
    buffer: () => new Uint8Array(1024 * 1024 * 1024).fill(1).length,
    // Deno.stdout is taken from generations; a write grant of /dev/stdout reaches the channel all the same.
    garbage: () => { channel().writeSync(new Uint8Array(64).fill(0xff)); },
    frame: (type: number, id: number, body: string, declared?: number) => {
      const text = new TextEncoder().encode(body);
      const bytes = new Uint8Array(16 + text.length);
      const view = new DataView(bytes.buffer);
      view.setUint32(0, declared ?? 12 + text.length, true);
      view.setUint8(4, type);
      view.setUint32(8, id, true);
      bytes.set(text, 16);
      channel().writeSync(bytes);
      return new Promise(() => {});
    },
    reach: async (kind: string, target: string) => {
      switch (kind) {
        case "read": return Deno.readTextFileSync(target);
        case "write": Deno.writeTextFileSync(target, "x"); return "written";
        case "net": return (await fetch(target)).status;
        case "env": return Deno.env.get(target);
        case "run": return new Deno.Command(target).outputSync().code;
        case "import": return Object.keys(await import(target));
        case "close": Deno.stdout.close(); return "closed";
        case "read stdin": return await Deno.stdin.read(new Uint8Array(16));
        case "chdir": Deno.chdir(target); Deno.addSignalListener("SIGINT", () => {}); return Deno.cwd();
      }
    },
  };
}
export function handoff() { return { from: ${JSON.stringify(label)} }; }
function channel() { return Deno.openSync("/dev/stdout", { write: true }); }
`,
    "failing.ts": `export function failing(): never {
  throw new RangeError("bad input", { cause: new TypeError("the root cause") });
}
`,
  };
}

/** Registers in process mode; the caller closes it. */
async function register(
  fixture: Fixture,
  label: string,
  options: HotswapOptions = {},
): Promise<Hotswap<Remote<Probe>>> {
  const entry = await fixture.write(probeFiles(label));
  return await registerHotswap(probe, entry, { ...options, isolation: "process" as const });
}

/** Closes `hot` and checks that no process of it is left. */
async function closeAll(hot: Hotswap<Remote<Probe>>): Promise<void> {
  await hot.close();
  strictEqual(hot.stats().sandboxes, 0);
}

/** The next `restart` event of `hot`. */
function nextRestart(hot: Hotswap<Remote<Probe>>): Promise<RestartEventDetail> {
  const { promise, resolve } = Promise.withResolvers<RestartEventDetail>();
  hot.addEventListener("restart", (event) => resolve(event.detail), { once: true });
  return promise;
}

Deno.test("process mode: register, call, swap, roll back and close", async () => {
  await using fixture = await Fixture.create();
  const hot = await register(fixture, "v1");
  try {
    strictEqual(hot.with((h) => h.label), "v1");
    const first = await hot.with((h) => h.info());
    strictEqual(first.generation, 1);
    ok(first.pid !== Deno.pid, "the generation runs in another process");
    await fixture.write({ "probe.ts": probeFiles("v2")["probe.ts"]! });
    const { generation, retired } = await hot.swap(fixture.path("probe.ts"));
    strictEqual(generation, 2);
    strictEqual(hot.with((h) => h.label), "v2");
    deepStrictEqual((await hot.with((h) => h.info())).previous, { from: "v1" });
    strictEqual((await retired).drained, true);
    const back = await hot.rollback();
    strictEqual(back.digest, first.digest);
    strictEqual(hot.with((h) => h.label), "v1");
  } finally {
    await closeAll(hot);
  }
  await rejects(hot.swap(fixture.path("probe.ts")), (error: HotswapError) => error.code === "E_CLOSED");
});

Deno.test("process mode: a warm standby process serves the next swap", async () => {
  await using fixture = await Fixture.create();
  const hot = await register(fixture, "v1");
  try {
    await hot.warm();
    strictEqual(hot.stats().sandboxes, 2, "the serving process and the standby");
    const { retired } = await hot.swap(fixture.path("probe.ts"));
    await retired;
    await hot.warm();
    strictEqual(hot.stats().sandboxes, 2, "the standby now serves, and a new standby waits");
  } finally {
    await closeAll(hot);
  }
});

Deno.test("process mode: every permission is denied by default, and the host lives on", async () => {
  await using fixture = await Fixture.create();
  const hot = await register(fixture, "v1");
  try {
    const attempts: [string, string][] = [
      ["read", "/etc/hostname"],
      ["write", fixture.path("written.txt")],
      ["net", "http://127.0.0.1:65535/"],
      ["env", "HOME"],
      ["run", "true"],
    ];
    for (const [kind, target] of attempts) {
      await rejects(
        hot.with((h) => h.reach(kind, target)),
        (error: Error) => error instanceof Deno.errors.NotCapable,
        `${kind} must be denied`,
      );
    }
    await rejects(Deno.stat(fixture.path("written.txt")), Deno.errors.NotFound);
    // Remote and npm imports are refused without a grant: nothing is fetched.
    await rejects(hot.with((h) => h.reach("import", "npm:is-odd@3.0.1")), /--no-npm/);
    await rejects(hot.with((h) => h.reach("import", "https://esm.sh/is-odd@3.0.1")), /--no-remote/);
    // A static npm: import is refused at load, saying how to grant it.
    await rejects(
      hot.swap(
        await fixture.write({ "npm.ts": `import isOdd from "npm:is-odd@3.0.1";\nexport const odd = isOdd;` }),
      ),
      (error: HotswapError) => {
        strictEqual(error.code, "E_IMPORT");
        match(
          error.message,
          /--no-npm is specified.*grant them with permissions: \{ import: \["registry\.npmjs\.org"\] \}/,
        );
        return true;
      },
    );
    // So is a jsr: import, naming the host to grant.
    await rejects(
      hot.swap(
        await fixture.write({ "jsr.ts": `import { join } from "jsr:@std/path@1";\nexport const j = join;` }),
      ),
      /--no-remote is specified.*grant their host with permissions: \{ import: \["jsr\.io"\] \}/,
    );
    // It runs in a private directory, not the host's.
    const { cwd } = await hot.with((h) => h.info());
    ok(cwd === "" || cwd !== Deno.cwd(), cwd);
    strictEqual(hot.with((h) => h.label), "v1");
  } finally {
    await closeAll(hot);
  }
});

Deno.test("process mode: a granted permission is exactly what the generation gets", async () => {
  await using fixture = await Fixture.create();
  await Deno.writeTextFile(fixture.path("data.txt"), "granted");
  const hot = await register(fixture, "v1", { permissions: { read: [fixture.path("data.txt")] } });
  try {
    strictEqual(await hot.with((h) => h.reach("read", fixture.path("data.txt"))), "granted");
    await rejects(
      hot.with((h) => h.reach("read", fixture.path("probe.ts"))),
      (error: Error) => error instanceof Deno.errors.NotCapable,
    );
  } finally {
    await closeAll(hot);
  }
});

Deno.test("process mode: a permission the host lacks cannot be granted to a generation", async () => {
  await using fixture = await Fixture.create();
  const entry = await fixture.write(probeFiles("v1"));
  // The test runs with --allow-net=127.0.0.1 only.
  await rejects(
    registerHotswap(probe, entry, { isolation: "process", permissions: { net: ["example.com"] } }),
    (error: HotswapError) => error.code === "E_PERMISSION" && /--allow-net=example\.com/.test(error.message),
  );
});

Deno.test("process mode: process state a generation changes stays in its process", async () => {
  await using fixture = await Fixture.create();
  const hot = await register(fixture, "v1", { permissions: { read: [fixture.dir] } });
  try {
    const before = Deno.cwd();
    strictEqual(await hot.with((h) => h.reach("chdir", fixture.dir)), fixture.dir);
    strictEqual(Deno.cwd(), before);
  } finally {
    await closeAll(hot);
  }
});

Deno.test("process mode: a call past callTimeout rejects E_TIMEOUT and a restart serves the next", async () => {
  await using fixture = await Fixture.create();
  const hot = await register(fixture, "v1", { callTimeout: 300 });
  try {
    const before = await hot.with((h) => h.info());
    const restarted = nextRestart(hot);
    const started = performance.now();
    await rejects(hot.with((h) => h.spin()), (error: HotswapError) => error.code === "E_TIMEOUT");
    const waited = performance.now() - started;
    // \`spin()\` never returns: that it rejected at all is the timeout's work; not before it was due.
    ok(waited >= 299, `rejected after ${waited} ms, before callTimeout`);
    const after = await hot.with((h) => h.info());
    ok(after.pid !== before.pid, "a new process serves");
    strictEqual(after.digest, before.digest);
    strictEqual(after.generation, before.generation);
    deepStrictEqual(after.previous, before.previous);
    const detail = await restarted;
    strictEqual(detail.generation, 1);
    strictEqual(detail.restarts, 1);
    match(detail.reason, /callTimeout/);
    strictEqual(hot.generation, 1);
  } finally {
    await closeAll(hot);
  }
});

Deno.test("process mode: a handoff() stuck in a synchronous loop fails the swap E_TIMEOUT, and a restarted process serves the next call at once", async () => {
  await using fixture = await Fixture.create();
  await fixture.write(probeFiles("v1"));
  const entry = await fixture.write({
    "spin.ts":
      'export { hs_probe } from "./probe.ts";\nexport function handoff() { for (;;) { /* never returns */ } }\n',
  });
  const callTimeout = 20_000;
  const hot = await registerHotswap(probe, entry, { isolation: "process", loadTimeout: 500, callTimeout });
  try {
    const before = await hot.with((h) => h.info());
    const restarted = nextRestart(hot);
    const refused: unknown = await hot.swap(fixture.path("probe.ts")).then(() => undefined, (error) => error);
    ok(refused instanceof HotswapError, String(refused));
    strictEqual(refused.code, "E_TIMEOUT");
    strictEqual(hot.generation, 1);
    // Generation 1 stays active: its next call is answered by a restarted process, not after callTimeout.
    const started = performance.now();
    const after = await hot.with((h) => h.info());
    const waited = performance.now() - started;
    ok(waited < callTimeout / 4, `answered after ${waited} ms`);
    ok(after.pid !== before.pid, "a new process serves");
    strictEqual(after.generation, 1);
    strictEqual(after.digest, before.digest);
    match(refused.message, /handoff\(\) of .*spin\.ts" did not settle within loadTimeout \(500 ms\)/);
    match(refused.message, /process was killed and restarted from its snapshot/);
    match(refused.message, /\{ handoff: false \}/);
    const detail = await restarted;
    strictEqual(detail.generation, 1);
    match(detail.reason, /handoff\(\) did not settle within loadTimeout/);
    // The way out the message names still works.
    strictEqual((await hot.swap(fixture.path("probe.ts"), { handoff: false })).generation, 2);
    strictEqual(hot.with((h) => h.label), "v1");
  } finally {
    await closeAll(hot);
  }
});

Deno.test("process mode: a handoff() that only awaits past loadTimeout fails the swap, and its process serves on unharmed", async () => {
  await using fixture = await Fixture.create();
  await fixture.write(probeFiles("v1"));
  const entry = await fixture.write({
    "slow.ts": 'export { hs_probe } from "./probe.ts";\n' +
      "export function handoff() { return new Promise((resolve) => setTimeout(() => resolve(1), 3_000)); }\n",
  });
  const hot = await registerHotswap(probe, entry, { isolation: "process", loadTimeout: 300 });
  let restarts = 0;
  hot.addEventListener("restart", () => restarts++);
  try {
    const before = await hot.with((h) => h.info());
    const refused: unknown = await hot.swap(fixture.path("probe.ts")).then(() => undefined, (error) => error);
    ok(refused instanceof HotswapError, String(refused));
    strictEqual(refused.code, "E_TIMEOUT");
    doesNotMatch(refused.message, /killed/, "a process that answers its probe is not treated as hung");
    const after = await hot.with((h) => h.info());
    strictEqual(after.pid, before.pid, "the same process serves");
    strictEqual(restarts, 0);
  } finally {
    await closeAll(hot);
  }
});

Deno.test("process mode: a result that cannot be copied rejects E_WORKER, the cloning error as its cause", async () => {
  await using fixture = await Fixture.create();
  const maker = defineContract<{ make(): unknown }>({
    name: "Maker",
    version: "1.0.0",
    symbol: "hs_maker",
    shape: { make: "function" },
  });
  const entry = await fixture.write({
    "maker.ts": "export const hs_maker = { make: () => ({ f: () => 1 }) };\n",
  });
  const hot = await registerHotswap(maker, entry, { isolation: "process" });
  try {
    await rejects(hot.with((h) => h.make()), (error: unknown) => {
      ok(error instanceof HotswapError, String(error));
      strictEqual(error.code, "E_WORKER");
      match(error.message, /result cannot be copied to the host/);
      strictEqual((error.cause as Error).name, "DataCloneError");
      return true;
    });
  } finally {
    await hot.close();
  }
});

Deno.test("process mode: a generation whose process dies while it drains after a swap is not restarted", async () => {
  await using fixture = await Fixture.create();
  const mortal = defineContract<{ die(): void; f(): string }>({
    name: "Mortal",
    version: "1.0.0",
    symbol: "hs_mortal",
    shape: { die: "function", f: "function" },
  });
  const module = (label: string) =>
    `export const hs_mortal = { die: () => Deno.exit(9), f: () => "${label}" };\n`;
  const hot = await registerHotswap(mortal, await fixture.write({ "a.ts": module("a") }), {
    isolation: "process",
  });
  try {
    const restarts: unknown[] = [];
    hot.addEventListener("restart", (event) => restarts.push(event.detail));
    const swapped = Promise.withResolvers<void>();
    // A request that keeps generation 1 in flight across the swap, then ends its process.
    const request = hot.with(async (h) => {
      await swapped.promise;
      await h.die().catch(() => {});
      return await h.f().then((label) => label, (error: HotswapError) => error.code);
    });
    const { retired } = await hot.swap(await fixture.write({ "b.ts": module("b") }));
    swapped.resolve();
    strictEqual(await request, "E_WORKER");
    await retired;
    deepStrictEqual(restarts, []);
    strictEqual(await hot.with((h) => h.f()), "b");
  } finally {
    await hot.close();
  }
});

Deno.test("process mode: a memoryLimit too small for the runtime itself is refused up front, naming the floor", async () => {
  await using fixture = await Fixture.create();
  const entry = await fixture.write(probeFiles("v1"));
  await rejects(
    registerHotswap(probe, entry, { isolation: "process", memoryLimit: 4 }),
    (error: unknown) =>
      error instanceof RangeError && /memoryLimit must be at least 8 \(MiB\), got 4/.test(error.message),
  );
});

Deno.test("process mode: console.table, count, time, group, trace, assert, clear and process.stdout reach the host's output, not the channel", async () => {
  await using fixture = await Fixture.create();
  await fixture.write({
    "gen.ts": `console.table([{ a: 1 }]);
export const hs_t = {
  run() {
    console.count(); console.count();
    console.time("t"); console.timeEnd("t");
    console.group("G"); console.log("inside"); console.groupEnd(); console.log("after");
    console.trace("traced"); console.assert(false, "asserted");
    console.clear();
    (globalThis as unknown as { process: { stdout: { write(text: string): void } } }).process.stdout.write("raw write\\n");
    return 1;
  },
};
`,
    "host.ts": `import { defineContract, registerHotswap } from ${JSON.stringify(join(REPO, "mod.ts"))};
const c = defineContract<{ run(): number }>({ name: "T", version: "1.0.0", symbol: "hs_t", shape: { run: "function" } });
const hot = await registerHotswap(c, new URL("./gen.ts", import.meta.url), { isolation: "process" });
console.log("result", await hot.with((h) => h.run()), "restarts", hot.stats().generations[0]?.generation);
await hot.close();
`,
  });
  const { code, stdout, stderr } = await runToEnd([
    "run",
    "--no-prompt",
    "--allow-read",
    "--allow-write",
    "--allow-env",
    `--allow-run=${Deno.execPath()}`,
    "host.ts",
  ], { cwd: fixture.dir, env: { NO_COLOR: "1" } });
  strictEqual(code, 0, stdout + stderr);
  match(stdout, /│ \(index\) │ a │/);
  match(stdout, /^default: 1\ndefault: 2\n/m);
  match(stdout, /^t: [\d.]+ms$/m);
  match(stdout, /^G\n {2}inside\nafter$/m);
  match(stdout, /^raw write$/m);
  match(stdout, /^result 1 /m);
  match(stderr, /^Trace: traced\n {4}at .*gen\.ts:\d+:\d+/m);
  match(stderr, /^Assertion failed: asserted$/m);
});

Deno.test("process mode: a call made while the process restarts still rejects E_TIMEOUT at callTimeout", async () => {
  await using fixture = await Fixture.create();
  const slow = defineContract<{ die(): void; ping(): string }>({
    name: "Slow",
    version: "1.0.0",
    symbol: "hs_slow",
    shape: { die: "function", ping: "function" },
  });
  // Its first factory is quick; a restart's takes 2 s (the marker file tells them apart).
  const entry = await fixture.write({
    "slow.ts": `export async function hs_slow() {
  const marker = ${JSON.stringify(fixture.path("started"))};
  try {
    await Deno.stat(marker);
    await new Promise((resolve) => setTimeout(resolve, 2_000));
  } catch {
    await Deno.writeTextFile(marker, "");
  }
  return { die: () => Deno.exit(3), ping: () => "pong" };
}
`,
  });
  const hot = await registerHotswap(slow, entry, {
    isolation: "process",
    callTimeout: 300,
    permissions: { read: [fixture.dir], write: [fixture.dir] },
  });
  try {
    const restarted = new Promise((resolve) => hot.addEventListener("restart", resolve, { once: true }));
    await rejects(hot.with((h) => h.die()), (error: HotswapError) => error.code === "E_WORKER");
    // The process restarts for 2 s: a call waits for it no longer than callTimeout, and is not sent.
    await rejects(
      hot.with((h) => h.ping()),
      (error: HotswapError) =>
        error.code === "E_TIMEOUT" && /waited longer than callTimeout/.test(error.message),
    );
    await restarted;
    strictEqual(await hot.with((h) => h.ping()), "pong");
  } finally {
    await hot.close();
  }
});

for (
  const [fault, pattern, options] of [
    ["exit", /exited with code 3/, {}],
    ["kill", /killed by SIGKILL/, {}],
    ["heap", /memoryLimit/, { memoryLimit: 64 }],
    ["buffer", /memoryLimit/, { memoryLimit: 64 }],
  ] as const
) {
  Deno.test(`process mode: ${fault} in a call ends only the generation's process`, async () => {
    await using fixture = await Fixture.create();
    const hot = await register(fixture, "v1", options);
    try {
      const before = await hot.with((h) => h.info());
      const restarted = nextRestart(hot);
      await rejects(
        hot.with((h) => (h[fault] as () => Promise<unknown>)()),
        (error: HotswapError) => error.code === "E_WORKER" && pattern.test(error.message),
      );
      const after = await hot.with((h) => h.info());
      ok(after.pid !== before.pid);
      strictEqual(after.digest, before.digest);
      match((await restarted).reason, pattern);
    } finally {
      await closeAll(hot);
    }
  });
}

Deno.test("process mode: the generation cannot reach the channel on its stdin and stdout", async () => {
  await using fixture = await Fixture.create();
  const hot = await register(fixture, "v1", { permissions: { write: ["/dev/stdout"] } });
  try {
    // Deno.stdout and Deno.stdin are taken before the generation loads; the
    // file behind them needs all permissions in Deno. Frames the host reads
    // come from the runtime's program only (frames_test.ts holds the reader
    // to forged bytes all the same).
    await rejects(hot.with((h) => h.garbage()), (error: Error) => error.name === "NotCapable");
    for (const kind of ["close", "read stdin"]) {
      await rejects(hot.with((h) => h.reach(kind, "")), (error: Error) => error.name === "NotCapable", kind);
    }
    strictEqual(await hot.with((h) => h.echo("served")), "served");
    strictEqual(hot.stats().sandboxes >= 1, true);
  } finally {
    await closeAll(hot);
  }
});

Deno.test("process mode: past maxRestarts calls reject E_WORKER until the next swap recovers", async () => {
  await using fixture = await Fixture.create();
  const hot = await register(fixture, "v1", { maxRestarts: 2 });
  try {
    for (let restart = 1; restart <= 2; restart++) {
      const restarted = nextRestart(hot);
      await rejects(hot.with((h) => h.exit()), (error: HotswapError) => error.code === "E_WORKER");
      strictEqual((await restarted).restarts, restart);
    }
    await rejects(hot.with((h) => h.exit()), (error: HotswapError) => error.code === "E_WORKER");
    await rejects(
      hot.with((h) => h.echo(1)),
      (error: HotswapError) => error.code === "E_WORKER" && /maxRestarts \(2\)/.test(error.message),
    );
    await rejects(hot.with((h) => h.echo(1)), (error: HotswapError) => error.code === "E_WORKER");
    const { generation } = await hot.swap(fixture.path("probe.ts"));
    strictEqual(generation, 2);
    strictEqual(await hot.with((h) => h.echo(1)), 1);
  } finally {
    await closeAll(hot);
  }
});

Deno.test("process mode: errors keep their class, code, cause and a stack naming the real file", async () => {
  await using fixture = await Fixture.create();
  const hot = await register(fixture, "v1");
  try {
    const error = await hot.with((h) => h.fail()).then(() => undefined, (error: Error) => error);
    ok(error instanceof RangeError, String(error));
    strictEqual(error.message, "bad input");
    ok(error.cause instanceof TypeError);
    strictEqual((error.cause as Error).message, "the root cause");
    match(error.stack ?? "", new RegExp(`${fixture.path("failing.ts").replaceAll(".", "\\.")}:2:9`));
    // A failed load crosses as its HotswapError.
    await fixture.write({ "broken.ts": "export const hs_probe = 1;" });
    await rejects(
      hot.swap(fixture.path("broken.ts")),
      (failure: HotswapError) => failure.code === "E_CONTRACT",
    );
  } finally {
    await closeAll(hot);
  }
});

Deno.test("process mode: values cross as structured cloning carries them", async () => {
  await using fixture = await Fixture.create();
  const hot = await register(fixture, "v1");
  try {
    const shared = { shared: true };
    const cyclic: Record<string, unknown> = { name: "cycle" };
    cyclic.self = cyclic;
    const bytes = new Uint8Array([1, 2, 3, 250]);
    const value = {
      missing: undefined,
      numbers: [NaN, Infinity, -Infinity, -0, 1.5],
      big: 2n ** 70n,
      when: new Date(86_400_000),
      pattern: /a+b/gi,
      map: new Map<unknown, unknown>([[1, "one"], ["two", shared]]),
      set: new Set([shared, 3]),
      bytes,
      view: new DataView(bytes.buffer, 1, 2),
      sparse: [1, , 3],
      shared: [shared, shared],
      cyclic,
      text: "emoji 🎉 and \u2028 and \ud800",
      error: new TypeError("inside a value"),
    };
    const back = await hot.with((h) => h.echo(value)) as typeof value;
    deepStrictEqual(back.numbers, value.numbers);
    ok(Object.is(back.numbers[3], -0));
    ok("missing" in back && back.missing === undefined);
    strictEqual(back.big, value.big);
    deepStrictEqual(back.when, value.when);
    deepStrictEqual(back.pattern, value.pattern);
    deepStrictEqual(back.map, value.map);
    deepStrictEqual(back.set, value.set);
    deepStrictEqual(back.bytes, value.bytes);
    strictEqual(back.view.buffer, back.bytes.buffer);
    strictEqual(back.view.getUint8(0), 2);
    strictEqual(back.sparse.length, 3);
    ok(!(1 in back.sparse));
    strictEqual(back.shared[0], back.shared[1]);
    strictEqual(back.cyclic.self, back.cyclic);
    strictEqual(back.text, value.text);
    ok(back.error instanceof TypeError);
    strictEqual(back.error.message, "inside a value");
    await rejects(hot.with((h) => h.echo(() => 1)), (error: Error) => error.name === "DataCloneError");
  } finally {
    await closeAll(hot);
  }
});

Deno.test("process mode: a load stuck in a synchronous loop is abandoned and its process killed", async () => {
  await using fixture = await Fixture.create();
  const hot = await register(fixture, "v1", { loadTimeout: 1_000 });
  try {
    await fixture.write({ "stuck.ts": "for (;;) { /* never ends */ }\nexport const hs_probe = {};" });
    await rejects(hot.swap(fixture.path("stuck.ts")), (error: HotswapError) => error.code === "E_TIMEOUT");
    strictEqual(hot.with((h) => h.label), "v1");
    strictEqual(await hot.with((h) => h.echo("still served")), "still served");
  } finally {
    await closeAll(hot);
  }
});

/** Runs a host program in a subprocess with `flags`; returns its exit code and output. */
async function runHost(
  fixture: Fixture,
  flags: string[],
  body: string,
): Promise<{ code: number; output: string }> {
  await fixture.write({
    "gen.ts":
      "export const hs_ping = { ping: () => { console.log('logged \\x1b[2J by the generation'); return 'pong'; } };",
    "host.ts": `import { defineContract, registerHotswap } from ${JSON.stringify(join(REPO, "mod.ts"))};
const contract = defineContract<{ ping(): unknown }>({ name: "Ping", version: "1.0.0", symbol: "hs_ping", shape: { ping: "function" } });
${body}`,
  });
  const { code, stdout, stderr } = await runToEnd(
    ["run", "--quiet", "--no-prompt", "--no-config", ...flags, "host.ts"],
    { cwd: fixture.dir, timeout: 20_000 },
  );
  return { code, output: stdout + stderr };
}

Deno.test("process mode: a host that exits without close() leaves no private directory behind", async () => {
  await using fixture = await Fixture.create();
  const tmp = await Deno.makeTempDir({ prefix: "hotswap_tmpdir_" });
  try {
    await fixture.write({
      "gen.ts": "export const hs_ping = { ping: () => 'pong' };",
      "host.ts": `import { defineContract, registerHotswap } from ${JSON.stringify(join(REPO, "mod.ts"))};
const contract = defineContract<{ ping(): string }>({ name: "Ping", version: "1.0.0", symbol: "hs_ping", shape: { ping: "function" } });
const hot = await registerHotswap(contract, "gen.ts", { isolation: "process" });
console.log(await hot.with((h) => h.ping()), Array.from(Deno.readDirSync(${JSON.stringify(tmp)})).length);
Deno.exit(0);`,
    });
    const { code, stdout, stderr } = await runToEnd([
      "run",
      "--quiet",
      "--no-prompt",
      "--no-config",
      `--allow-read=${fixture.dir},${REPO},${tmp}`,
      `--allow-write=${tmp}`,
      "--allow-env=TMPDIR",
      `--allow-run=${Deno.execPath()}`,
      "host.ts",
    ], { cwd: fixture.dir, env: { TMPDIR: tmp }, timeout: 20_000 });
    strictEqual(code, 0, stderr);
    // While it served, its generation process (and a standby) had a directory of its own there.
    match(stdout.trim(), /^pong [1-9]$/, stderr);
    deepStrictEqual([...Deno.readDirSync(tmp)].map((entry) => entry.name), [], "left in TMPDIR");
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("process mode: a host without run permission is refused with the exact --allow-run flag", async () => {
  await using fixture = await Fixture.create();
  const { code, output } = await runHost(
    fixture,
    [`--allow-read=${fixture.dir},${REPO}`],
    `try {
  await registerHotswap(contract, "gen.ts", { isolation: "process" });
  console.log("served");
} catch (error) {
  console.log("refused", (error as { code?: string }).code, (error as Error).message);
}`,
  );
  strictEqual(code, 0, output);
  const flag = `--allow-run=${Deno.execPath()}`.replaceAll(".", "\\.");
  match(output, new RegExp(`^refused E_PERMISSION .*${flag}$`, "m"));
});

Deno.test("process mode: after close() a host exits by itself", async () => {
  await using fixture = await Fixture.create();
  const { code, output } = await runHost(
    fixture,
    [`--allow-read=${fixture.dir}`, `--allow-run=${Deno.execPath()}`],
    `const hot = await registerHotswap(contract, "gen.ts", { isolation: "process" });
console.log("served", await hot.with((h) => h.ping()));
await hot.warm();
await hot.close();
console.log("sandboxes", hot.stats().sandboxes);`,
  );
  strictEqual(code, 0, output);
  match(output, /^served pong$/m);
  match(output, /^sandboxes 0$/m);
  // Console output is forwarded with control characters escaped: it cannot drive the terminal.
  match(output, /^logged \\x1b\[2J by the generation$/m);
});

Deno.test("process mode: the process's own program imports nothing host-only", async () => {
  const { code, stdout, stderr } = await runToEnd(["info", "--json", join(REPO, "core/_process_main.ts")]);
  strictEqual(code, 0, stderr);
  const graph: { modules: { specifier: string; dependencies?: { code?: { specifier: string } }[] }[] } = JSON
    .parse(stdout);
  const bySpecifier = new Map(graph.modules.map((module) => [module.specifier, module]));
  // Follow code imports only: type-only imports are erased before the process runs.
  const loaded = new Set<string>();
  const visit = (specifier: string) => {
    if (loaded.has(specifier)) return;
    loaded.add(specifier);
    for (const dependency of bySpecifier.get(specifier)?.dependencies ?? []) {
      if (dependency.code !== undefined) visit(dependency.code.specifier);
    }
  };
  visit(new URL("core/_process_main.ts", `file://${REPO}`).href);
  const local = [...loaded].filter((url) => url.startsWith("file:")).map((url) =>
    url.slice(`file://${REPO}core/`.length)
  );
  deepStrictEqual(local.sort(), [
    "_codec.ts",
    "_codec_decoder.ts",
    "_codec_encoder.ts",
    "_codec_format.ts",
    "_computed_import.ts",
    "_contract_version.ts",
    "_escape_controls.ts",
    "_frames.ts",
    "_guest.ts",
    "_mint.ts",
    "_namespace_import.ts",
    "_node_process.ts",
    "_process_main.ts",
    "_process_protocol.ts",
    "_protocol.ts",
    "_shape.ts",
    "_shape_check.ts",
    "_source_map.ts",
    "_stack_format.ts",
    "_worker_messages.ts",
    "contract.ts",
    "errors.ts",
    "handle.ts",
  ]);
  // Built-in modules only: no npm package, so the child never downloads or parses one.
  deepStrictEqual([...loaded].filter((url) => !url.startsWith("file:")).sort(), ["node:url", "node:util"]);
});

Deno.test("inline and process mode: a computed relative import says to use a literal one; others import as before", async () => {
  await using fixture = await Fixture.create();
  const contract = computedLoader;
  const entry = await fixture.write({
    "loader.ts": `export const hs_loader = {
  load: (name: string) => import(name.startsWith("node:") ? name : "./" + name).then((m) => typeof m.join === "function" ? "node" : m.name),
};
`,
    "plugin.ts": "export const name = 'plugin';\n",
  });
  for (const isolation of ["inline", "process"] as const) {
    await using hot = await registerHotswap(contract, entry, { isolation } as HotswapOptions);
    // Before, Deno's "relative URL with a cannot-be-a-base base", naming no file and no fix.
    await rejects(
      hot.with((h) => h.load("plugin.ts")) as Promise<unknown>,
      (error: Error) => {
        strictEqual(error.name, "TypeError", isolation);
        match(
          error.message,
          /Cannot import "\.\/plugin\.ts": .*no base for a relative specifier.*import the file by a literal specifier/,
        );
        return true;
      },
    );
    strictEqual(await hot.with((h) => h.load("node:path")), "node", isolation);
  }
});

/** A generation module's code: `forge(type, id, payload)` writes one frame of the runtime's channel to its own stdout. */
const FORGE = `import fs from "node:fs";
function forge(type: number, id: number, payload: string): void {
  const body = new TextEncoder().encode(payload);
  const frame = new Uint8Array(16 + body.length);
  const view = new DataView(frame.buffer);
  view.setUint32(0, 12 + body.length, true);
  view.setUint32(4, type, true);
  view.setUint32(8, id, true);
  frame.set(body, 16);
  for (let at = 0; at < frame.length;) at += fs.writeSync(1, frame, at, frame.length - at);
}
`;

const forger = defineContract<{ label: string; call(): unknown }>({
  name: "Forger",
  version: "1.0.0",
  symbol: "hs_forger",
  shape: { label: "string", call: "function" },
});

Deno.test("process mode: a forged error record nesting millions deep is a protocol violation, refused at once", async () => {
  await using fixture = await Fixture.create();
  const entry = await fixture.write({
    // Its call is the process's second request: the load was the first.
    "forger.ts": `${FORGE}
export const hs_forger = {
  label: "forger",
  call() {
    const deep = "[".repeat(2_000_000) + "]".repeat(2_000_000);
    forge(${ERROR}, 2, '{"name":"Error","message":"forged","junk":' + deep + "}");
    return new Promise(() => {});
  },
};`,
  });
  await using hot = await registerHotswap(forger, entry, { isolation: "process" });
  await rejects(hot.with((h) => h.call()), (error: HotswapError) => {
    strictEqual(error.code, "E_WORKER");
    match(error.message, /broke the channel protocol/);
    return true;
  });
});

Deno.test("process mode: a forged file list naming something other than a minted URL is a protocol violation", async () => {
  await using fixture = await Fixture.create();
  const loaded = JSON.stringify({
    handle: { kind: "object", members: { label: { kind: "value", value: "forged" } } },
    hooks: { handoff: false, dispose: false },
    files: [["a", "a".repeat(4096)]],
  });
  const entry = await fixture.write({
    // At its top level, before the runtime answers its load (request 1).
    "forger.ts": `${FORGE}
forge(${LOADED}, 1, ${JSON.stringify(loaded)});
export const hs_forger = { label: "forger", call: () => 1 };`,
  });
  await rejects(
    registerHotswap(forger, entry, { isolation: "process", maxRestarts: 0 }),
    (error: HotswapError) => {
      strictEqual(error.code, "E_WORKER");
      match(error.message, /file list names something other than a minted URL/);
      return true;
    },
  );
});
