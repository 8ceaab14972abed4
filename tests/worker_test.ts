/**
 * Worker isolation (SPEC 6.4, issue #4): least-privilege generations,
 * faults that end in the right code with no worker left behind, and the
 * call channel's fidelity to structured cloning.
 *
 * Every test ends with no generation worker alive: `liveWorkers()` adds up
 * `stats().sandboxes` of every reference the test file created, which counts
 * the workers each started and has not terminated, standbys included.
 *
 * @module
 */

import { deepStrictEqual, match, ok, rejects, strictEqual } from "node:assert/strict";
import { join } from "node:path";
import {
  type Contract,
  defineContract,
  type Hotswap,
  HotswapError,
  type HotswapOptions,
  registerHotswap,
} from "../mod.ts";
import { REPO, runToEnd } from "./_child.ts";
import { computedLoader, Fixture } from "./_fixtures.ts";

/** A handle as worker mode serves it: every function returns a promise. */
interface Probe {
  label: string;
  counter: number;
  nested: { twice(n: number): Promise<number>; tag: string };
  echo(value: unknown, wrap?: string): Promise<unknown>;
  bump(): Promise<number>;
  push(value: unknown): Promise<void>;
  list(): Promise<unknown[]>;
  fail(kind: string): Promise<never>;
  hang(): Promise<never>;
  crash(): Promise<never>;
  quit(): Promise<never>;
  returnFunction(): Promise<unknown>;
  readHostname(): Promise<string>;
  fetchText(url: string): Promise<string>;
  readEnv(name: string): Promise<string | undefined>;
  writeFile(path: string): Promise<string>;
  spawn(command: string): Promise<boolean>;
}

const probe: Contract<Probe> = defineContract<Probe>({
  name: "Probe",
  version: "1.0.0",
  symbol: "hs_probe",
  shape: {
    label: "string",
    counter: "number",
    nested: { twice: "function", tag: "string" },
    echo: "function",
    bump: "function",
    push: "function",
    list: "function",
    fail: "function",
    hang: "function",
    crash: "function",
    quit: "function",
    returnFunction: "function",
    readHostname: "function",
    fetchText: "function",
    readEnv: "function",
    writeFile: "function",
    spawn: "function",
  },
});

/** A generation exercising every path; `extra` is appended at the top level. */
function probeModule(label: string, extra = ""): string {
  return `
class CustomError extends Error { override name = "CustomError"; }
const log: unknown[] = [];
export const hs_probe = {
  label: ${JSON.stringify(label)},
  counter: 0,
  nested: { tag: "n", twice(n: number) { return n * 2; } },
  echo(value: unknown, wrap?: string) {
    if (wrap === "throwing then") return { get then() { throw new Error("then getter"); } };
    if (wrap === "hijacked then") {
      const promise = Promise.resolve(value);
      Object.defineProperty(promise, "then", { value: () => {} });
      return promise;
    }
    return value;
  },
  bump() { return ++this.counter; },
  push(value: unknown) { log.push(value); },
  list: () => log,
  fail(kind: string) {
    if (kind === "type") throw new TypeError("bad type");
    if (kind === "custom") throw new CustomError("custom failure");
    if (kind === "aggregate") throw new AggregateError([new TypeError("first"), "second"], "two failures");
    return Promise.reject(new RangeError("async range"));
  },
  hang: () => new Promise(() => {}),
  crash() {
    // An uncaught error in a timer ends a worker: Deno's default, kept on purpose.
    setTimeout(() => { throw new Error("boom"); }, 0);
    return new Promise(() => {});
  },
  quit() { Deno.exit(3); },
  returnFunction: () => () => 1,
  readHostname: () => Deno.readTextFile("/etc/hostname"),
  fetchText: async (url: string) => await (await fetch(url)).text(),
  readEnv: (name: string) => Deno.env.get(name),
  async writeFile(path: string) { await Deno.writeTextFile(path, "written"); return "written"; },
  async spawn(command: string) {
    // The generation's own code, run in the sandbox under test: it cannot import tests/_child.ts.
    const { success } = await new Deno.Command(command, { args: ["--version"], stdout: "null", stderr: "null" }).output();
    return success;
  },
};
${extra}`;
}

/** Every reference this file created, to count the workers still alive. */
const created: Hotswap<unknown>[] = [];

/** Generation workers alive, standbys included, over every reference of this file. */
function liveWorkers(): number {
  return created.reduce((sum, hot) => sum + hot.stats().sandboxes, 0);
}

/** Registers a worker-mode generation from `source` in a fresh fixture. */
async function workerHot(
  fixture: Fixture,
  source: string,
  options: HotswapOptions = {},
): Promise<Hotswap<Probe>> {
  const entry = await fixture.write({ "probe.ts": source });
  const hot: Hotswap<Probe> = await registerHotswap(probe, entry, { isolation: "worker", ...options });
  created.push(hot as Hotswap<unknown>);
  return hot;
}

/** Runs the fixture's `host.ts` as a worker-mode host does; it must exit 0 with nothing on stderr. */
async function runCleanHost(fixture: Fixture): Promise<string> {
  const { code, stdout, stderr } = await runToEnd([
    "run",
    "--unstable-worker-options",
    "--no-prompt",
    "--allow-read",
    `--allow-run=${Deno.execPath()}`,
    "host.ts",
  ], { cwd: fixture.dir, env: { NO_COLOR: "1" } });
  strictEqual(code, 0, stdout + stderr);
  strictEqual(stderr, "");
  return stdout;
}

/** Asserts a rejection is a HotswapError with `code`. */
async function rejectsWith(promise: Promise<unknown>, code: string, message?: RegExp): Promise<void> {
  await rejects(promise, (error: unknown) => {
    ok(error instanceof HotswapError, `expected a HotswapError, got ${String(error)}`);
    strictEqual(error.code, code, error.message);
    if (message) match(error.message, message);
    return true;
  });
}

Deno.test("worker mode: function members return promises, data members are copied once", async () => {
  await using fixture = await Fixture.create();
  {
    await using hot = await workerHot(fixture, probeModule("v1"));
    strictEqual(hot.with((h) => h.label), "v1");
    strictEqual(await hot.with((h) => h.nested.twice(21)), 42);
    strictEqual(hot.with((h) => h.nested.tag), "n");
    // `this` is the generation's own object: bump() counts there, the host's copy stays.
    strictEqual(await hot.with((h) => h.bump()), 1);
    strictEqual(await hot.with((h) => h.bump()), 2);
    strictEqual(hot.with((h) => h.counter), 0);
    ok(hot.with((h) => h.echo(1)) instanceof Promise);
  }
  strictEqual(liveWorkers(), 0);
});

Deno.test("worker mode: a class instance handle keeps its methods and getters", async () => {
  await using fixture = await Fixture.create();
  const greeter = defineContract<{ greeting: string; greet(name: string): Promise<string> }>({
    name: "Greeter",
    version: "1.0.0",
    symbol: "hs_greeter",
    shape: { greeting: "string", greet: "function" },
  });
  const entry = await fixture.write({
    "greeter.ts": `class Greeter {
  #word = "hello";
  get greeting() { return this.#word; }
  greet(name: string) { return this.#word + " " + name; }
}
export const hs_greeter = new Greeter();`,
  });
  {
    await using hot = await registerHotswap(greeter, entry, { isolation: "worker" });
    created.push(hot as Hotswap<unknown>);
    strictEqual(hot.with((h) => h.greeting), "hello");
    strictEqual(await hot.with((h) => h.greet("ada")), "hello ada");
  }
  strictEqual(liveWorkers(), 0);
});

Deno.test("worker mode: values cross the channel as structured cloning would carry them", async () => {
  await using fixture = await Fixture.create();
  await using hot = await workerHot(fixture, probeModule("v1"));
  let deep: unknown = "bottom";
  for (let i = 0; i < 12; i++) deep = { deep };
  const values: unknown[] = [
    undefined,
    null,
    true,
    0,
    -0,
    NaN,
    -1.5e300,
    12345678901234567890n,
    "",
    "ünïcødé ✓",
    "\ud800 lone surrogate",
    [1, "two", [3, { four: 4 }]],
    { a: 1, b: undefined, c: [null] },
    JSON.parse('{"__proto__": {"polluted": true}}'),
    Object.assign(Object.create(null), { bare: 1 }),
    // These do not fit the ring's records and travel by postMessage, as the codec's text.
    [1, , 3],
    Object.assign([1, 2], { extra: true }),
    new Map([[1, { two: 2 }]]),
    new Set(["x"]),
    new Date(0),
    new Uint8Array([1, 2, 3]),
    "x".repeat(10_000),
    deep,
  ];
  for (const value of values) {
    const back = await hot.with((h) => h.echo(value));
    deepStrictEqual(back, structuredClone(value));
    // deepStrictEqual treats -0 and 0 alike; Object.is does not.
    if (typeof value !== "object") {
      ok(Object.is(back, value), `${String(value)} came back as ${String(back)}`);
    }
  }
  const polluted = await hot.with((h) => h.echo(JSON.parse('{"__proto__": 1}'))) as Record<string, unknown>;
  ok(Object.hasOwn(polluted, "__proto__"));
  strictEqual(Object.getPrototypeOf(polluted), Object.prototype);
});

Deno.test("worker mode: a result that would grow past the channel's limit in transit rejects the call, the worker serves on", async () => {
  await using fixture = await Fixture.create();
  await using hot = await workerHot(
    fixture,
    probeModule("v1").replace(
      "  bump() {",
      '  amplify: (n: number) => new Array(n).fill("x".repeat(1024 * 1024)),\n  bump() {',
    ),
  );
  // One MiB of text, referenced 100 times: structured cloning would copy it 100 times.
  await rejects(
    hot.with((h) => (h as unknown as { amplify(n: number): Promise<unknown> }).amplify(100)),
    (error: Error) => {
      match(
        String(error.message) + String((error.cause as Error | undefined)?.message),
        /over the worker channel's limit of 64 MiB/,
      );
      return true;
    },
  );
  const within = await hot.with((h) =>
    (h as unknown as { amplify(n: number): Promise<string[]> }).amplify(3)
  );
  strictEqual(within.length, 3);
  strictEqual(within[2]!.length, 1024 * 1024);
  strictEqual(await hot.with((h) => h.label), "v1");
  // A data member, copied once at load, is measured the same way.
  const bloated = `const mib = "x".repeat(1024 * 1024);\n${
    probeModule("v2").replace("  counter: 0,", "  counter: 0,\n  bloat: new Array(100).fill(mib),")
  }`;
  await rejects(hot.swap(await fixture.write({ "bloated.ts": bloated })), (error: HotswapError) => {
    strictEqual(error.code, "E_CONTRACT");
    match(error.message, /Cannot copy member "bloat".*over the worker channel's limit of 64 MiB/);
    return true;
  });
  strictEqual(await hot.with((h) => h.label), "v1");
});

Deno.test("worker mode: a result of hundreds of MiB of binary data or text is refused by size before it is encoded, the host serves on", async () => {
  // Run as a subprocess: encoding it first (as base64 text, then as JSON) ended the whole host
  // process with V8's "Fatal process out of memory: Zone" once a string passed about 2^28 bytes.
  await using fixture = await Fixture.create();
  const big = "200 * 1024 * 1024";
  await fixture.write({
    "gen.ts": `export const hs_big = {
  view: () => new Uint8Array(${big}),
  nested: () => ({ parts: [1, new DataView(new ArrayBuffer(${big}))] }),
  buffer: () => new ArrayBuffer(600 * 1024 * 1024),
  text: () => new TextDecoder().decode(new Uint8Array(300_000_000).fill(120)),
  ok: () => 2,
};
export function handoff() { return { state: new Float64Array(${big} / 8) }; }
`,
    "data.ts":
      `export const hs_big = { ok: () => 3, view: () => 0, nested: () => 0, buffer: () => 0, text: () => 0, data: new Uint8Array(${big}) };`,
    "next.ts":
      `export const hs_big = { ok: () => 4, view: () => 0, nested: () => 0, buffer: () => 0, text: () => 0 };`,
    "host.ts": `import { defineContract, registerHotswap } from ${JSON.stringify(join(REPO, "mod.ts"))};
type Big = { view(): unknown; nested(): unknown; buffer(): unknown; text(): unknown; ok(): number };
const c = defineContract<Big>({
  name: "Big", version: "1.0.0", symbol: "hs_big",
  shape: { view: "function", nested: "function", buffer: "function", text: "function", ok: "function" },
});
const hot = await registerHotswap(c, new URL("./gen.ts", import.meta.url), { isolation: "worker" });
const outcome = (error: any) => [error?.name, error?.code ?? "-", error?.message].join(" ");
for (const member of ["view", "nested", "buffer", "text"] as const) {
  const error = await hot.with((h) => h[member]()).then(() => undefined, (e) => e);
  console.log(member, outcome(error));
  console.log("then ok", await hot.with((h) => h.ok()));
}
for (const [file, options] of [["data.ts", { handoff: false }], ["next.ts", {}]] as const) {
  const error = await hot.swap(new URL("./" + file, import.meta.url), options).then(() => undefined, (e) => e);
  console.log(file, outcome(error));
  console.log("then ok", await hot.with((h) => h.ok()));
}
await hot.close();
`,
  });
  const stdout = await runCleanHost(fixture);
  const limit = "over the worker channel's limit of 64 MiB; return less";
  for (const member of ["view", "nested", "buffer", "text"]) {
    match(
      stdout,
      new RegExp(`^${member} RangeError - The call's result is at least \\d+ MiB encoded, ${limit}`, "m"),
    );
  }
  match(stdout, new RegExp(`^data\\.ts ContractError E_CONTRACT Cannot copy member "data".* ${limit}`, "m"));
  match(
    stdout,
    new RegExp(`^next\\.ts HotswapError E_INIT Cannot hand state .*threw RangeError: .* ${limit}`, "m"),
  );
  strictEqual(stdout.match(/^then ok 2$/gm)?.length, 6, stdout);
});

Deno.test("worker mode: calls run in call order whichever way their arguments travel", async () => {
  await using fixture = await Fixture.create();
  await using hot = await workerHot(fixture, probeModule("v1"));
  const sent: unknown[] = [];
  const calls: Promise<void>[] = [];
  // More calls than the ring has records, mixing small arguments (ring) and
  // ones it cannot carry (postMessage with a marker record).
  for (let i = 0; i < 3_000; i++) {
    const value = i % 7 === 0 ? new Map([[i, i]]) : i % 11 === 0 ? "y".repeat(300 + i) : i;
    sent.push(value);
    calls.push(hot.with((h) => h.push(value)));
  }
  await Promise.all(calls);
  deepStrictEqual(await hot.with((h) => h.list()), sent);
});

Deno.test("worker mode: a mutated argument was captured at call time", async () => {
  await using fixture = await Fixture.create();
  await using hot = await workerHot(fixture, probeModule("v1"));
  const argument = { n: 1 };
  const echoed = hot.with((h) => h.echo(argument));
  argument.n = 2;
  deepStrictEqual(await echoed, { n: 1 });
});

Deno.test("worker mode: errors come back with their class, name and message", async () => {
  await using fixture = await Fixture.create();
  await using hot = await workerHot(fixture, probeModule("v1"));
  await rejects(hot.with((h) => h.fail("type")), (error: unknown) => {
    ok(error instanceof TypeError);
    strictEqual(error.message, "bad type");
    return true;
  });
  await rejects(hot.with((h) => h.fail("async")), RangeError);
  await rejects(hot.with((h) => h.fail("custom")), { name: "CustomError", message: "custom failure" });
  await rejects(hot.with((h) => h.fail("aggregate")), (error: unknown) => {
    ok(error instanceof AggregateError, String(error));
    strictEqual(error.message, "two failures");
    ok(error.errors[0] instanceof TypeError);
    deepStrictEqual([error.errors[0].message, error.errors[1]], ["first", "second"]);
    return true;
  });
  await rejects(hot.with((h) => h.echo(() => 1)), { name: "DataCloneError" });
  // A `then` getter that throws: the value is plain, and cloning it meets the getter.
  await rejects(hot.with((h) => h.echo(undefined, "throwing then")), { message: "then getter" });
  // A promise with its own `then` replaced still answers with what it settles to.
  deepStrictEqual(await hot.with((h) => h.echo(["hijacked"], "hijacked then")), ["hijacked"]);
  // A result that cannot be copied is the boundary's refusal, not an error the generation threw.
  await rejects(hot.with((h) => h.returnFunction()), (error: unknown) => {
    ok(error instanceof HotswapError, String(error));
    strictEqual(error.code, "E_WORKER");
    match(error.message, /result cannot be copied to the host: function .* could not be cloned; return data/);
    strictEqual((error.cause as Error).name, "DataCloneError");
    return true;
  });
  strictEqual(await hot.with((h) => h.nested.twice(2)), 4);
});

Deno.test("worker mode: a generation is denied read, net, env, write and run; the host keeps serving", async () => {
  await using fixture = await Fixture.create();
  await using server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => new Response("served"),
  );
  const url = `http://127.0.0.1:${server.addr.port}/`;
  const variable = "HOTSWAP_WORKER_TEST_VAR";
  Deno.env.set(variable, "secret");
  const target = fixture.path("written.txt");
  const attempts: [string, (h: Probe) => Promise<unknown>, unknown][] = [
    ["read", (h) => h.readHostname(), Deno.readTextFileSync("/etc/hostname")],
    ["net", (h) => h.fetchText(url), "served"],
    ["env", (h) => h.readEnv(variable), "secret"],
    ["write", (h) => h.writeFile(target), "written"],
    ["run", (h) => h.spawn(Deno.execPath()), true],
  ];
  try {
    {
      await using denied = await workerHot(fixture, probeModule("v1"));
      for (const [kind, attempt] of attempts) {
        await rejects(denied.with(attempt), (error: unknown) => {
          ok(error instanceof Deno.errors.NotCapable, `${kind}: ${String(error)}`);
          match(error.message, new RegExp(`Requires ${kind} access`));
          return true;
        });
        strictEqual(await denied.with((h) => h.nested.twice(5)), 10, `serving after the ${kind} denial`);
      }
      strictEqual(denied.generation, 1);
    }
    {
      await using granted = await workerHot(fixture, probeModule("v1"), {
        permissions: {
          read: ["/etc/hostname"],
          net: ["127.0.0.1"],
          env: [variable],
          write: [fixture.dir],
          run: [Deno.execPath()],
        },
      });
      for (const [kind, attempt, expected] of attempts) {
        deepStrictEqual(await granted.with(attempt), expected, kind);
      }
    }
    strictEqual(Deno.readTextFileSync(target), "written");
  } finally {
    Deno.env.delete(variable);
  }
  strictEqual(liveWorkers(), 0);
});

Deno.test("worker mode: an unknown permission kind is a TypeError", async () => {
  await using fixture = await Fixture.create();
  await rejects(
    workerHot(fixture, probeModule("v1"), { permissions: { nett: true } as Deno.PermissionOptionsObject }),
    (error: unknown) => error instanceof TypeError && /"nett" is not a permission kind/.test(error.message),
  );
  strictEqual(liveWorkers(), 0);
});

Deno.test("worker mode: permissions the host lacks are refused with E_PERMISSION", async () => {
  await using fixture = await Fixture.create();
  // The test runs with --allow-net=127.0.0.1 only: a worker cannot get more.
  await rejectsWith(
    workerHot(fixture, probeModule("v1"), { permissions: { net: true } }),
    "E_PERMISSION",
    /granted --allow-net, which the host does not hold itself.*; add --allow-net to the host, or narrow "permissions"$/,
  );
  // Each missing item is named as the flag to add, and only those: 127.0.0.1 is the host's.
  await rejectsWith(
    workerHot(fixture, probeModule("v1"), { permissions: { net: ["127.0.0.1", "example.com"] } }),
    "E_PERMISSION",
    /granted --allow-net=example\.com, which the host does not hold itself.*; add --allow-net=example\.com to the host/,
  );
  // A path given as a file URL is named as a path, not percent-encoded.
  await rejectsWith(
    workerHot(fixture, probeModule("v1"), { permissions: { ffi: [new URL("file:///srv/a%20b/%C3%A9.so")] } }),
    "E_PERMISSION",
    /add --allow-ffi=\/srv\/a b\/é\.so to the host/,
  );
  strictEqual(liveWorkers(), 0);
});

Deno.test("worker mode: a top-level throw is E_IMPORT naming the file, with no worker left", async () => {
  await using fixture = await Fixture.create();
  const entry = fixture.path("probe.ts");
  await rejectsWith(
    workerHot(fixture, probeModule("v1", 'throw new Error("top-level failure");')),
    "E_IMPORT",
    new RegExp(`Cannot import "${entry}".*top-level failure`),
  );
  strictEqual(liveWorkers(), 0);
});

Deno.test("worker mode: a missing symbol or a bad handle keeps its code", async () => {
  await using fixture = await Fixture.create();
  // Swapped to, not registered: the reference then counts every worker the refused loads started.
  await using hot = await workerHot(fixture, probeModule("v1"));
  const swapTo = async (source: string) => await hot.swap(await fixture.write({ "bad.ts": source }));
  await rejectsWith(swapTo("export const other = 1;"), "E_SYMBOL", /exports found: "other"/);
  await rejectsWith(swapTo("export const hs_probe = { label: 1 };"), "E_CONTRACT", /label: expected string/);
  await rejectsWith(
    swapTo('export function hs_probe() { throw new Error("factory failed"); }'),
    "E_INIT",
    /factory failed/,
  );
  await hot.warm();
  strictEqual(
    hot.stats().sandboxes,
    2,
    "the serving generation and one standby: each refused worker is gone",
  );
  await hot.close();
  strictEqual(hot.stats().sandboxes, 0);
});

Deno.test("worker mode: importing by name what Node's built-ins let act on the host process is refused at load", async () => {
  await using fixture = await Fixture.create();
  await using hot = await workerHot(fixture, probeModule("v1"));
  const swapTo = async (source: string) => await hot.swap(await fixture.write({ "bad.ts": source }));
  for (
    const [imports, named] of [
      ['import { kill } from "node:process";', /imports kill from "node:process"/],
      ['import { Worker } from "node:worker_threads";', /imports Worker from "node:worker_threads"/],
      ['import * as v8 from "node:v8";', /imports the namespace of "node:v8"/],
    ] as const
  ) {
    await rejectsWith(
      swapTo(
        `${imports}\nexport const keep = [${
          imports.match(/\{ (\w+) \}|as (\w+)/)!.slice(1).find(Boolean)
        }];\n${probeModule("bad")}`,
      ),
      "E_IMPORT",
      new RegExp(`${named.source}, which would act on the host process from a worker`),
    );
  }
  // Nor a module written in its specifier, whose own imports nothing reads.
  await rejectsWith(
    swapTo(
      `import { kill } from "data:text/javascript,export { kill } from 'node:process';";\nexport const k = kill;\n${
        probeModule("bad")
      }`,
    ),
    "E_IMPORT",
    /imports the inline module "data:text\/javascript,.*", whose own imports the runtime never sees/,
  );
  // Their default exports are allowed: the worker locks the members that reach the host.
  await hot.swap(
    await fixture.write({
      "fine.ts": `import process from "node:process";\nexport const env = typeof process.env;\n${
        probeModule("v2")
      }`,
    }),
  );
  strictEqual(hot.generation, 2);
});

Deno.test("worker mode: a load that loops or never settles is E_TIMEOUT and its worker is terminated", async () => {
  await using fixture = await Fixture.create();
  await using hot = await workerHot(fixture, probeModule("v1"), { loadTimeout: 300 });
  // Worker.terminate() cannot stop a synchronous loop (Deno 2.9): the thread
  // spins until the loop ends. The loop here outlasts loadTimeout but ends
  // after 1.5 s, so it does not steal a core from the rest of the suite.
  const loop = "const until = Date.now() + 1500; while (Date.now() < until) {}";
  await rejectsWith(
    hot.swap(await fixture.write({ "loop.ts": probeModule("v2", loop) })),
    "E_TIMEOUT",
    /loadTimeout \(300 ms\).*terminated/,
  );
  await rejectsWith(
    hot.swap(await fixture.write({ "never.ts": probeModule("v3", "await new Promise(() => {});") })),
    "E_TIMEOUT",
  );
  await hot.warm();
  strictEqual(
    hot.stats().sandboxes,
    2,
    "the serving generation and one standby: each abandoned worker is gone",
  );
  strictEqual(hot.with((h) => h.label), "v1");
  await hot.close();
  strictEqual(hot.stats().sandboxes, 0);
});

Deno.test("worker mode: a crash during a call rejects every pending call with E_WORKER", async () => {
  await using fixture = await Fixture.create();
  {
    await using hot = await workerHot(fixture, probeModule("v1"));
    const pending = hot.with((h) => h.hang());
    const crash = await hot.with((h) => h.crash()).then(() => undefined, (error: HotswapError) => error);
    strictEqual(crash?.code, "E_WORKER");
    // Where it was thrown, as text, since the error itself stays in the worker.
    match(crash.message, /crashed: Uncaught Error: boom at file:\/\/\/\S+\.ts:\d+:\d+; /);
    match(String((crash.cause as Error).stack), /^Uncaught Error: boom\n {4}at file:\/\/\/\S+\.ts:\d+:\d+$/);
    await rejectsWith(pending, "E_WORKER");
    // Until replaced, the dead generation answers at once.
    await rejectsWith(hot.with((h) => h.nested.twice(1)), "E_WORKER");
    await hot.warm();
    strictEqual(liveWorkers(), 1, "only the standby runs");
    // A dead generation has no state to hand over: the swap goes ahead.
    const { generation } = await hot.swap(await fixture.write({ "v2.ts": probeModule("v2") }));
    strictEqual(generation, 2);
    strictEqual(await hot.with((h) => h.nested.twice(4)), 8);
  }
  strictEqual(liveWorkers(), 0);
});

Deno.test("worker mode: a load that leaves a rejection unhandled, or a 0 ms timer that throws, is refused and changes nothing", async () => {
  await using fixture = await Fixture.create();
  await using hot = await workerHot(fixture, probeModule("v1"));
  const cases: [string, string, RegExp][] = [
    [
      "top.ts",
      `Promise.reject(new Error("rejected at load"));`,
      /Uncaught \(in promise\) Error: rejected at load/,
    ],
    [
      "timer.ts",
      `setTimeout(() => { throw new Error("timer at load"); }, 0);`,
      /Uncaught Error: timer at load/,
    ],
    [
      "factory.ts",
      `export function hs_probe() { Promise.reject(new Error("in the factory")); return probe; }`,
      /Uncaught \(in promise\) Error: in the factory/,
    ],
  ];
  for (const [name, extra, crash] of cases) {
    // The factory case exports the probe through a factory instead.
    const source = name === "factory.ts"
      ? probeModule("bad", extra).replace("export const hs_probe =", "const probe =")
      : probeModule("bad", extra);
    await rejectsWith(hot.swap(await fixture.write({ [name]: source })), "E_WORKER", crash);
    strictEqual(hot.info().generation, 1, `${name}: nothing committed`);
    strictEqual(await hot.with((h) => h.label), "v1", `${name}: the serving generation still answers`);
  }
});

Deno.test("worker mode: a generation that writes over its call channel is reported as a crash of the call loop, not as its close()", async () => {
  await using fixture = await Fixture.create();
  // The generation shares its realm's Atomics with the runtime's ring code: patched, they hand it the
  // ring's control words, and it moves the request ring's head (word 0) past what the host wrote.
  const source = probeModule("v1").replace(
    "export const hs_probe = {",
    `let control: Int32Array | undefined;
for (const name of ["load", "store", "notify", "waitAsync"] as const) {
  const original = Atomics[name] as (...args: unknown[]) => unknown;
  (Atomics as unknown as Record<string, unknown>)[name] = (array: Int32Array, ...rest: unknown[]) => {
    if (array?.buffer instanceof SharedArrayBuffer) control ??= array;
    return original.call(Atomics, array, ...rest);
  };
}
// Pending while it corrupts, so that no request of the host's comes in between and puts the head back.
export function corrupt() {
  setTimeout(() => {
    control![0]! += 5;
    Atomics.notify(control!, 0);
  }, 0);
  return new Promise(() => {});
}
export const hs_probe = {`,
  ).replace("label: ", "corrupt, label: ");
  await using hot = await workerHot(fixture, source);
  strictEqual(await hot.with((h) => h.nested.twice(2)), 4);
  await rejectsWith(
    hot.with((h) => (h as unknown as { corrupt(): Promise<void> }).corrupt()),
    "E_WORKER",
    /crashed: the runtime's call loop failed \(the generation may have written over its call channel\): RangeError/,
  );
});

Deno.test("worker mode: a generation that ends its own worker rejects its calls with E_WORKER", async () => {
  await using fixture = await Fixture.create();
  {
    await using hot = await workerHot(fixture, probeModule("v1"));
    const pending = hot.with((h) => h.hang());
    await rejectsWith(hot.with((h) => h.quit()), "E_WORKER", /ended itself with Deno\.exit\(3\)/);
    await rejectsWith(pending, "E_WORKER");
  }
  strictEqual(liveWorkers(), 0);
});

Deno.test("worker mode: a call that never drains is cut off at drainTimeout by terminating the worker", async () => {
  await using fixture = await Fixture.create();
  {
    await using hot = await workerHot(fixture, probeModule("v1"), { drainTimeout: 100 });
    const timeouts: number[] = [];
    hot.addEventListener("drain-timeout", (event) => timeouts.push(event.detail.generation));
    const stuck = hot.with((h) => h.hang());
    const { retired } = await hot.swap(await fixture.write({ "v2.ts": probeModule("v2") }));
    strictEqual(hot.with((h) => h.label), "v2");
    const report = await retired;
    strictEqual(report.drained, false);
    deepStrictEqual(timeouts, [1]);
    await rejectsWith(stuck, "E_WORKER", /terminated when the generation was unloaded/);
    await hot.warm();
    strictEqual(liveWorkers(), 2, "the new generation and its standby");
  }
  strictEqual(liveWorkers(), 0);
});

Deno.test("worker mode: handoff state reaches the next worker, and dispose runs there after the abort", async () => {
  await using fixture = await Fixture.create();
  const marker = fixture.path("disposed.txt");
  const lifecycle = `
let signal: AbortSignal | undefined;
export function handoff() { return { visits: 41, at: new Date(0) }; }
export async function dispose() {
  await Deno.writeTextFile(${JSON.stringify(marker)}, "aborted=" + signal?.aborted);
}
export function setSignal(value: AbortSignal) { signal = value; }`;
  const v1 = probeModule("v1", lifecycle).replace(
    "export const hs_probe = {",
    "export function hs_probe(ctx: { signal: AbortSignal }) { setSignal(ctx.signal); return handle; }\nconst handle = {",
  );
  const v2 = `export function hs_probe(ctx: { previous: { visits: number; at: Date } }) {
  return { ...base, label: "visits=" + (ctx.previous.visits + 1) + " at " + ctx.previous.at.toISOString() };
}
${probeModule("base").replace("export const hs_probe", "const base")}`;
  {
    await using hot = await workerHot(fixture, v1, { permissions: { write: [fixture.dir] } });
    const { retired } = await hot.swap(await fixture.write({ "v2.ts": v2 }));
    strictEqual(hot.with((h) => h.label), "visits=42 at 1970-01-01T00:00:00.000Z");
    strictEqual((await retired).drained, true);
    strictEqual(await Deno.readTextFile(marker), "aborted=true");
  }
  strictEqual(liveWorkers(), 0);
});

Deno.test("worker mode: a swap takes the warm standby worker", async () => {
  await using fixture = await Fixture.create();
  await using hot = await workerHot(fixture, probeModule("v1"));
  // The standby starts one task after the load, so that it never delays a commit.
  strictEqual(liveWorkers(), 1);
  await hot.warm();
  strictEqual(liveWorkers(), 2, "the generation and a standby");
  const v2 = await fixture.write({ "v2.ts": probeModule("v2") });
  for (let i = 0; i < 3; i++) {
    const { retired } = await hot.swap(v2);
    await retired;
    await hot.warm();
    strictEqual(liveWorkers(), 2, "the old worker is gone, the standby serves, a new standby waits");
  }
  strictEqual(hot.with((h) => h.label), "v2");
});

/** Runs a host script in a child Deno and returns its exit code and output. */
async function runHost(
  fixture: Fixture,
  flags: string[],
  config: Record<string, unknown>,
): Promise<{ code: number; output: string }> {
  const repoConfig = JSON.parse(await Deno.readTextFile(join(REPO, "deno.json")));
  await fixture.write({
    "deno.json": JSON.stringify({ imports: repoConfig.imports, ...config }),
    "gen.ts": "export const hs_ping = { ping: () => 'pong' };",
    "host.ts": `import { defineContract, registerHotswap } from ${JSON.stringify(join(REPO, "mod.ts"))};
const contract = defineContract<{ ping(): unknown }>({ name: "Ping", version: "1.0.0", symbol: "hs_ping", shape: { ping: "function" } });
try {
  const hot = await registerHotswap(contract, "gen.ts", { isolation: "worker" });
  console.log("served", await hot.with((h) => h.ping()));
  await hot.close();
} catch (error) {
  console.log("refused", (error as { code?: string }).code, (error as Error).message);
}`,
  });
  const { code, stdout, stderr } = await runToEnd(["run", "--quiet", ...flags, "host.ts"], {
    cwd: fixture.dir,
  });
  return { code, output: stdout + stderr };
}

Deno.test("worker mode: without --unstable-worker-options the load is refused, not the process ended", async () => {
  await using fixture = await Fixture.create();
  const { code, output } = await runHost(fixture, ["-A"], {});
  strictEqual(code, 0, output);
  match(output, /^refused E_UNSUPPORTED .*--unstable-worker-options.*the command line has no/m);
});

Deno.test("worker mode: a flag the runtime cannot see is refused with how to let it see the flag", async () => {
  await using fixture = await Fixture.create();
  // It may read its generation and the deno.json beside it, but neither run deno nor read its command line.
  const { code, output } = await runHost(fixture, [
    "--unstable-worker-options",
    `--allow-read=${fixture.dir}`,
  ], {});
  strictEqual(code, 0, output);
  match(
    output,
    /^refused E_UNSUPPORTED .*cannot confirm it.*deno\.json does not enable it.*grant --allow-run=/m,
  );
});

Deno.test("worker mode: a host that cannot read the runtime's worker code is refused with E_PERMISSION", async () => {
  await using fixture = await Fixture.create();
  const { code, output } = await runHost(fixture, [
    "--unstable-worker-options",
    `--allow-read=${fixture.dir}`,
    "--allow-run",
  ], {});
  strictEqual(code, 0, output);
  match(output, new RegExp(`^refused E_PERMISSION .*--allow-read=${join(REPO, "core")}/`, "m"));
});

Deno.test("worker mode: the flag is confirmed from the command line or from deno.json", async () => {
  await using fixture = await Fixture.create();
  // The command line, read by a deno eval probe since the host may run deno.
  const byProbe = await runHost(fixture, ["--unstable-worker-options", "--allow-read", "--allow-run"], {});
  strictEqual(byProbe.code, 0, byProbe.output);
  match(byProbe.output, /^served pong$/m);
  // deno.json "unstable", found from the working directory.
  const byConfig = await runHost(fixture, ["--allow-read"], { unstable: ["worker-options"] });
  strictEqual(byConfig.code, 0, byConfig.output);
  match(byConfig.output, /^served pong$/m);
});

Deno.test("worker mode: a deno.json that is not the one in effect never confirms the flag (Deno would end the process)", async () => {
  await using fixture = await Fixture.create();
  // No import map to tell by: nothing shows whether such a config is the one Deno uses.
  const enabling = JSON.stringify({ unstable: ["worker-options"] });
  await fixture.write({
    // Enabled in the working directory only: Deno takes the config from the script's directory.
    "deno.json": enabling,
    "app/deno.json": "{}",
    "app/gen.ts": "export const hs_ping = { ping: () => 'pong' };",
    "app/host.ts": `import { defineContract, registerHotswap } from ${JSON.stringify(join(REPO, "mod.ts"))};
const contract = defineContract<{ ping(): unknown }>({ name: "Ping", version: "1.0.0", symbol: "hs_ping", shape: { ping: "function" } });
try {
  const hot = await registerHotswap(contract, new URL("./gen.ts", import.meta.url), { isolation: "worker" });
  console.log("served", await hot.with((h) => h.ping()));
  await hot.close();
} catch (error) {
  console.log("refused", (error as { code?: string }).code);
}`,
    // Enabled beside the script, but --no-config puts it out of effect.
    "solo/deno.json": enabling,
  });
  await Deno.copyFile(join(fixture.dir, "app/host.ts"), join(fixture.dir, "solo/host.ts"));
  await Deno.copyFile(join(fixture.dir, "app/gen.ts"), join(fixture.dir, "solo/gen.ts"));
  for (const args of [["--allow-read", "app/host.ts"], ["--no-config", "--allow-read", "solo/host.ts"]]) {
    const { code, stdout, stderr } = await runToEnd(["run", "--quiet", "--no-prompt", ...args], {
      cwd: fixture.dir,
    });
    strictEqual(code, 0, stdout + stderr);
    match(stdout, /^refused E_UNSUPPORTED$/m);
  }
});

Deno.test("worker mode: an uncaught error or unhandled rejection in a generation reaches its callers, not the host's stderr", async () => {
  await using fixture = await Fixture.create();
  await fixture.write({
    "gen.ts": `export const hs_w = {
  throwLater: () => { setTimeout(() => { throw new Error("timer threw"); }, 1); return 1; },
  rejectLater: () => { Promise.reject(new RangeError("nobody handled")); return 1; },
  // Deno prints a throw from an error listener on the process's stderr, control characters and all.
  listenerThrows: () => {
    addEventListener("error", () => { throw new Error("listener threw \\x1b[2J"); });
    setTimeout(() => { throw new Error("timer threw"); }, 1);
    return 1;
  },
  handlerThrows: () => {
    globalThis.onerror = () => { throw new Error("handler threw"); };
    setTimeout(() => { throw new Error("timer threw"); }, 1);
    return 1;
  },
  ok: () => 2,
};
`,
    "host.ts": `import { defineContract, registerHotswap } from ${JSON.stringify(join(REPO, "mod.ts"))};
type W = { throwLater(): number; rejectLater(): number; listenerThrows(): number; handlerThrows(): number; ok(): number };
const c = defineContract<W>({
  name: "W", version: "1.0.0", symbol: "hs_w",
  shape: { throwLater: "function", rejectLater: "function", listenerThrows: "function", handlerThrows: "function", ok: "function" },
});
for (const member of ["throwLater", "rejectLater", "listenerThrows", "handlerThrows"] as const) {
  const hot = await registerHotswap(c, new URL("./gen.ts", import.meta.url), { isolation: "worker" });
  const crashed = Promise.withResolvers<void>();
  await hot.with((h) => h[member]());
  // The crash ends the worker: the next call, once it has, rejects.
  for (let i = 0; i < 200; i++) {
    const error = await hot.with((h) => h.ok()).then(() => undefined, (e) => e);
    if (error !== undefined) {
      console.log(member, error.code, error.message);
      crashed.resolve();
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  await crashed.promise;
  await hot.close();
}
`,
  });
  const stdout = await runCleanHost(fixture);
  match(
    stdout,
    /^throwLater E_WORKER .*crashed: Uncaught Error: timer threw at file:\/\/\/\S+gen\.ts:2:\d+;/m,
  );
  match(
    stdout,
    /^rejectLater E_WORKER .*crashed: Uncaught \(in promise\) RangeError: nobody handled at file:\/\/\/\S+gen\.ts:3:\d+;/m,
  );
  // The listener's own throw is what ended the worker, as in Deno; nothing of it reached the host's stderr.
  match(stdout, /^listenerThrows E_WORKER .*crashed: Uncaught Error: listener threw/m);
  match(stdout, /^handlerThrows E_WORKER .*crashed: Uncaught Error: handler threw/m);
});

Deno.test("worker mode: a generation that handles its own uncaught errors and rejections keeps its worker", async () => {
  await using fixture = await Fixture.create();
  const contract = defineContract<{ later(): number; seen(): number }>({
    name: "Handler",
    version: "1.0.0",
    symbol: "hs_handler",
    shape: { later: "function", seen: "function" },
  });
  const entry = await fixture.write({
    "handler.ts": `let seen = 0;
globalThis.addEventListener("unhandledrejection", (event) => { event.preventDefault(); seen++; });
globalThis.addEventListener("error", (event) => { event.preventDefault(); seen++; });
export const hs_handler = {
  later: () => {
    Promise.reject(new Error("handled"));
    setTimeout(() => { throw new Error("handled too"); }, 1);
    return 1;
  },
  seen: () => seen,
};
`,
  });
  await using hot = await registerHotswap(contract, entry, { isolation: "worker" });
  created.push(hot as Hotswap<unknown>);
  await hot.with((h) => h.later());
  for (let i = 0; i < 200 && await hot.with((h) => h.seen()) < 2; i++) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  strictEqual(await hot.with((h) => h.seen()), 2);
});

Deno.test("worker mode: the worker's own code imports nothing host-only", async () => {
  const { code, stdout, stderr } = await runToEnd(["info", "--json", join(REPO, "core/_worker_main.ts")]);
  strictEqual(code, 0, stderr);
  const graph: { modules: { specifier: string; dependencies?: { specifier: string; code?: unknown }[] }[] } =
    JSON.parse(stdout);
  const bySpecifier = new Map(graph.modules.map((module) => [module.specifier, module]));
  // Follow code imports only: type-only imports are erased before the worker runs.
  const loaded = new Set<string>();
  const visit = (specifier: string) => {
    if (loaded.has(specifier)) return;
    loaded.add(specifier);
    for (const dependency of bySpecifier.get(specifier)?.dependencies ?? []) {
      if (dependency.code !== undefined) visit(new URL(dependency.specifier, specifier).href);
    }
  };
  visit(new URL("core/_worker_main.ts", `file://${REPO}`).href);
  deepStrictEqual(
    [...loaded].map((url) => url.slice(`file://${REPO}core/`.length)).sort(),
    [
      "_codec_encoder.ts",
      "_codec_format.ts",
      "_contract_version.ts",
      "_error_listeners.ts",
      "_escape_controls.ts",
      "_guest.ts",
      "_namespace_import.ts",
      "_node_process.ts",
      "_protocol.ts",
      "_record_codec.ts",
      "_rpc_channel.ts",
      "_shape.ts",
      "_shape_check.ts",
      "_source_map.ts",
      "_stack_format.ts",
      "_worker_lockdown.ts",
      "_worker_main.ts",
      "_worker_output.ts",
      "contract.ts",
      "errors.ts",
      "handle.ts",
    ],
  );
});

Deno.test("worker mode: a computed import of a local file is refused as outside the verified snapshot, granted or not", async () => {
  await using fixture = await Fixture.create();
  const contract = computedLoader;
  const entry = await fixture.write({
    "loader.ts":
      "export const hs_loader = { load: (name: string) => import('./' + name).then((m) => m.name) };\n",
    "plugin.ts": "export const name = 'plugin';\n",
  });
  for (const permissions of [{}, { read: [fixture.dir] }]) {
    await using hot = await registerHotswap(contract, entry, { isolation: "worker", permissions });
    created.push(hot as Hotswap<unknown>);
    await rejects(
      hot.with((h) => h.load("plugin.ts")),
      (error: Error) =>
        error.name === "TypeError" &&
        /not part of the generation's verified snapshot; import it by a literal/.test(error.message),
    );
  }
});

Deno.test("worker mode: code made at run time (eval, Function constructors, a nested Worker) needs permissions.import", async () => {
  await using fixture = await Fixture.create();
  const contract = defineContract<{ make(kind: string): Promise<unknown> }>({
    name: "Maker",
    version: "1.0.0",
    symbol: "hs_maker",
    shape: { make: "function" },
  });
  const entry = await fixture.write({
    "maker.ts": `export const hs_maker = {
  make(kind: string) {
    switch (kind) {
      case "eval": return (0, eval)("1 + 1");
      case "Function": return new Function("return 2")();
      case "async": return (async () => {}).constructor("return 3")();
      case "prototype": return (function () {}).constructor("return 4")();
      case "Worker": new Worker("data:text/javascript,", { type: "module" }); return "started";
      case "instanceof": return (() => 1) instanceof Function;
    }
  },
};`,
  });
  {
    await using hot = await registerHotswap(contract, entry, { isolation: "worker" });
    created.push(hot as Hotswap<unknown>);
    for (const kind of ["eval", "Function", "async", "prototype", "Worker"]) {
      await rejects(hot.with((h) => h.make(kind)), (error: Error) => error.name === "NotCapable", kind);
    }
    strictEqual(await hot.with((h) => h.make("instanceof")), true, "instanceof Function still works");
  }
  strictEqual(liveWorkers(), 0);
  // With every import granted (a host that may grant it), code made at run time is allowed.
  await fixture.write({
    "host.ts": `import { defineContract, registerHotswap } from ${JSON.stringify(join(REPO, "mod.ts"))};
const contract = defineContract<{ make(kind: string): unknown }>({ name: "Maker", version: "1.0.0", symbol: "hs_maker", shape: { make: "function" } });
await using hot = await registerHotswap(contract, "maker.ts", { isolation: "worker", permissions: { import: true } });
console.log(await hot.with((h) => h.make("eval")), await hot.with((h) => h.make("Function")));`,
  });
  const { code, stdout, stderr } = await runToEnd(
    ["run", "--no-lock", "--no-prompt", "-A", "--unstable-worker-options", "host.ts"],
    { cwd: fixture.dir },
  );
  strictEqual(code, 0, stderr);
  strictEqual(stdout.trim(), "2 2");
});

Deno.test("worker mode: the console prints as Deno's does inline, control characters escaped", async () => {
  await using fixture = await Fixture.create();
  await fixture.write({
    "gen.ts": `export const hs_x = {
  run(): number {
    console.log("a %s b %d c %i d %f e %o f %O g %j %c h %% i", "S", 42.5, "7.9x", "1.5", { o: 1 }, [1], { j: 2 }, "color: red", "extra", { x: [1, 2] });
    console.log({ a: "\\x1b[2J" }, 1n, Symbol("s"), null, undefined, () => 1, "%s");
    console.log("%s %s %d", 1n, { k: 1 }, "12abc", "%missing");
    console.info("info"); console.debug("debug"); console.warn("warn"); console.error("error", 2);
    console.group("G1"); console.log("inside"); console.groupEnd();
    console.count(); console.count("label"); console.countReset("label");
    console.assert(true, "no"); console.assert(false); console.assert(false, "message %s", "x");
    console.dir({ d: 1 }); console.dir("text");
    console.table([{ a: 1 }]);
    console.log("escape \\x1b[31m");
    return 1;
  },
};`,
    "host.ts": `import { defineContract, registerHotswap } from ${JSON.stringify(join(REPO, "mod.ts"))};
const contract = defineContract<{ run(): number }>({ name: "X", version: "1.0.0", symbol: "hs_x", shape: { run: "function" } });
const hot = await registerHotswap(contract, new URL("./gen.ts", import.meta.url), { isolation: Deno.args[0] as "worker" });
await hot.with((h) => h.run());
await hot.close();
`,
  });
  const run = (isolation: string) =>
    runToEnd([
      "run",
      "--no-prompt",
      "--unstable-worker-options",
      `--allow-read=${fixture.dir},${REPO}`,
      `--allow-run=${Deno.execPath()}`,
      "host.ts",
      isolation,
    ], {
      cwd: fixture.dir,
      env: { NO_COLOR: "1" },
    });
  const [inline, worker] = [await run("inline"), await run("worker")];
  strictEqual(worker.code, 0, worker.stderr);
  ok(inline.stdout.includes("escape \x1b[31m"), "inline code prints what it likes");
  strictEqual(worker.stdout, inline.stdout.replace("escape \x1b[31m", "escape \\x1b[31m"));
  strictEqual(worker.stderr, inline.stderr);
});
