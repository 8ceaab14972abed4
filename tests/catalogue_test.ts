/**
 * A catalogue of hostile and broken generations (issue 6). Each case swaps a
 * serving generation to a bad one and checks the expected code and message,
 * that the refusal was announced, and that the old generation still serves
 * with the same number and digest; or, where the runtime accepts the
 * generation, that the new one serves and retires cleanly.
 *
 * Cases are rows of a table run once per isolation mode (`MODES`); where the
 * outcome differs by mode, `expect` gives one per mode. A case that talks to
 * its generation through `globalThis` runs inline only. In worker mode every
 * case also ends with no generation worker alive.
 *
 * Decisions these cases pin down:
 * - Built-ins (intrinsic prototypes and constructors, and the globals that
 *   existed when the runtime loaded): inline mode cannot isolate them, so a
 *   generation that changes one while it loads is detected, the change undone
 *   and the swap refused (`E_IMPORT` from top-level code, `E_INIT` from the
 *   factory). Adding new global names stays allowed. Worker mode isolates:
 *   the change stays in the generation's realm and the host is untouched.
 * - Work after retire: `ctx.signal` is aborted once the generation has
 *   drained, before `dispose()`; timers tied to it (or cleared in `dispose()`)
 *   leave nothing behind. Inline mode shares the host's event loop: timers a
 *   generation leaves running keep running, and their unhandled rejections
 *   reach the host's handlers like any other; the runtime installs no global
 *   handler (checked in a subprocess). Worker mode ends them with the worker.
 * - Inherited handle members (a `__proto__` literal) count as members.
 */

import { deepStrictEqual, match, ok, rejects, strictEqual } from "node:assert/strict";
import { setImmediate } from "node:timers";
import {
  type Hotswap,
  HotswapError,
  type HotswapErrorCode,
  type HotswapOptions,
  type Isolation,
  registerHotswap,
  type RetireReport,
} from "../mod.ts";
import { type Echo, echo, echoModule, Fixture } from "./_fixtures.ts";

/** Isolation modes the catalogue runs in. */
const MODES: readonly Isolation[] = ["inline", "worker"];

const HOST = new URL("./fixtures/host.ts", import.meta.url).pathname;
const RETIRE_HOST = new URL("./fixtures/retire_host.ts", import.meta.url).pathname;
const MiB = 1024 * 1024;

/** The swap is refused with `code`, the message matches `message`, and the old generation serves. */
interface Refused {
  readonly code: HotswapErrorCode;
  readonly message: RegExp;
}

/** The swap commits and the new generation's `run(1)` returns `result`. */
interface Accepted {
  readonly result: unknown;
}

type Expectation = Refused | Accepted;

interface Context {
  readonly fixture: Fixture;
  readonly hot: Hotswap<Echo>;
  readonly mode: Isolation;
  /** The retire report of generation 1, for accepted swaps. */
  readonly retired?: RetireReport;
}

interface Case {
  /** What the generation does, as the test name. */
  readonly name: string;
  /** Writes the bad generation's files; returns the path to swap to. */
  readonly write?: (fixture: Fixture) => Promise<string>;
  /** The outcome, the same in every mode or per mode. */
  readonly expect?: Expectation | Partial<Record<Isolation, Expectation>>;
  /** Options of registerHotswap (besides isolation). */
  readonly options?: HotswapOptions;
  /** Source of generation 1 when the hostile part lives in the running generation. */
  readonly first?: string;
  /** Extra checks once the expectation holds. */
  readonly after?: (context: Context) => Promise<void> | void;
  /** A case with its own flow instead of register, swap, check. */
  readonly run?: (mode: Isolation) => Promise<void>;
  /** Modes the case applies to (default: all). */
  readonly modes?: readonly Isolation[];
  /** Needs POSIX file types (FIFOs, symlinks). */
  readonly posix?: boolean;
}

/** One event-loop turn: every pending microtask has run. */
function macrotask(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function globals(): Record<string, unknown> {
  return globalThis as unknown as Record<string, unknown>;
}

/** Writes raw bytes into the fixture; returns the path. */
async function writeBytes(fixture: Fixture, name: string, bytes: Uint8Array): Promise<string> {
  await Deno.writeFile(fixture.path(name), bytes);
  return fixture.path(name);
}

async function runHost(
  script: string,
  flags: string[],
  args: string[],
): Promise<{ steps: Record<string, unknown>[]; code: number; stderr: string }> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...flags, script, ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const steps = new TextDecoder().decode(output.stdout).split("\n").filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
  return { steps, code: output.code, stderr: new TextDecoder().decode(output.stderr) };
}

/** Worker mode: the change stays in the generation's own realm; the swap commits and the host is untouched. */
const ISOLATED: Accepted = { result: ["x", 1] };

const CASES: readonly Case[] = [
  // Files and paths.
  {
    name: "an empty file",
    write: (f) => f.write({ "empty.ts": "" }),
    expect: { code: "E_SYMBOL", message: /exports found: none; export the handle/ },
  },
  {
    name: "binary garbage (not UTF-8)",
    write: (f) =>
      writeBytes(f, "garbage.ts", Uint8Array.from({ length: 4096 }, (_, i) => (i * 7919 + 13) % 256)),
    expect: { code: "E_IMPORT", message: /is not UTF-8 text.*save it as a UTF-8 source file/ },
  },
  {
    name: "valid UTF-8 that is not code (control characters and NULs)",
    write: (f) => f.write({ "controls.ts": "\u0000\u0001\u0002 }{ \u0007\u001b[31m\u0000 export" }),
    expect: { code: "E_IMPORT", message: /Cannot parse .*fix the syntax error/ },
  },
  {
    name: "a 50 MB file, over the default 16 MiB limit",
    write: async (f) => {
      const path = await f.write({ "huge.ts": echoModule("huge") });
      await Deno.truncate(path, 50 * MiB);
      return path;
    },
    expect: {
      code: "E_IMPORT",
      message: /is 50\.0 MiB, and the generation would exceed its 16\.0 MiB limit; .*maxSnapshotBytes/,
    },
  },
  {
    name: "a graph whose files together exceed maxSnapshotBytes",
    options: { maxSnapshotBytes: 64 * 1024 },
    write: (f) =>
      f.write({
        "sum.ts": `import "./part_a.ts";\nimport "./part_b.ts";\n${echoModule("sum")}`,
        "part_a.ts": `// ${"a".repeat(40 * 1024)}\nexport {};`,
        "part_b.ts": `// ${"b".repeat(40 * 1024)}\nexport {};`,
      }),
    expect: { code: "E_IMPORT", message: /part_b\.ts.*exceed its 64\.0 KiB limit/ },
  },
  {
    name: "a path that is a directory",
    write: async (f) => {
      await Deno.mkdir(f.path("adir"));
      return f.path("adir");
    },
    expect: { code: "E_NOT_FOUND", message: /is a directory, not a module file; name the file/ },
  },
  {
    name: "an import of a directory",
    write: async (f) => {
      await Deno.mkdir(f.path("lib"));
      return await f.write({ "imports_dir.ts": `import "./lib";\n${echoModule("x")}` });
    },
    expect: { code: "E_IMPORT", message: /lib.*is a directory/ },
  },
  {
    name: "a path that is a symlink loop",
    posix: true,
    write: async (f) => {
      await Deno.symlink(f.path("loop_b.ts"), f.path("loop_a.ts"));
      await Deno.symlink(f.path("loop_a.ts"), f.path("loop_b.ts"));
      return f.path("loop_a.ts");
    },
    expect: { code: "E_NOT_FOUND", message: /loop_a\.ts": it is a symlink loop/ },
  },
  {
    name: "an import of a symlink loop",
    posix: true,
    write: async (f) => {
      await Deno.symlink(f.path("self_loop.ts"), f.path("self_loop.ts"));
      return await f.write({ "imports_loop.ts": `import "./self_loop.ts";\n${echoModule("x")}` });
    },
    expect: { code: "E_IMPORT", message: /"\.\/self_loop\.ts" resolves to .*it is a symlink loop/ },
  },
  {
    name: "a path that is a FIFO (reading it would block forever)",
    posix: true,
    write: async (f) => {
      const { success } = await new Deno.Command("mkfifo", { args: [f.path("fifo.ts")] }).output();
      ok(success, "mkfifo");
      return f.path("fifo.ts");
    },
    expect: { code: "E_NOT_FOUND", message: /fifo\.ts": it is not a regular file/ },
  },
  {
    name: "a path with unicode and spaces, importing another",
    write: (f) =>
      f.write({
        "dir with spaces/ünïcødé 🚀 gen.ts":
          `import { label } from "./lib ✓/ça va.ts";\nexport const hs_echo = { label, run: (i: unknown) => [label, i] };`,
        "dir with spaces/lib ✓/ça va.ts": `export const label = "ça va 🚀";`,
      }),
    expect: { result: ["ça va 🚀", 1] },
    after: ({ hot, fixture }) => {
      deepStrictEqual(hot.info().files, [
        fixture.path("dir with spaces/lib ✓/ça va.ts"),
        fixture.path("dir with spaces/ünïcødé 🚀 gen.ts"),
      ]);
    },
  },
  {
    name: "a missing import under a unicode name, named in the message",
    write: (f) => f.write({ "naïve.ts": `import "./fichier manquant é.ts";\n${echoModule("x")}` }),
    expect: { code: "E_IMPORT", message: /fichier manquant é\.ts", no such file; fix the import/ },
  },
  {
    name: "a file that is not a module type (.txt)",
    write: (f) => f.write({ "notes.txt": echoModule("x") }),
    expect: { code: "E_IMPORT", message: /"\.txt" is not a module type/ },
  },
  {
    name: "an import of a missing file",
    write: (f) => f.write({ "missing_dep.ts": `import { x } from "./nowhere.ts";\n${echoModule("x")}` }),
    expect: { code: "E_IMPORT", message: /nowhere\.ts", no such file; fix the import or add the file/ },
  },
  {
    name: "circular imports",
    write: (f) =>
      f.write({
        "ring_a.ts": `import "./ring_b.ts";\n${echoModule("x")}`,
        "ring_b.ts": `import "./ring_c.ts";\nexport {};`,
        "ring_c.ts": `import "./ring_a.ts";\nexport {};`,
      }),
    expect: {
      code: "E_IMPORT",
      message: /circular import .*ring_a\.ts.*ring_b\.ts.*ring_c\.ts.*break the cycle/,
    },
  },
  {
    name: "a module that imports itself",
    write: (f) => f.write({ "narcissus.ts": `import "./narcissus.ts";\n${echoModule("x")}` }),
    expect: { code: "E_IMPORT", message: /circular import/ },
  },
  {
    name: "an import chain 3,000 modules deep",
    write: (f) => {
      for (let i = 0; i < 3000; i++) {
        Deno.writeTextFileSync(
          f.path(`deep_${i}.ts`),
          i < 2999 ? `import "./deep_${i + 1}.ts";\nexport {};` : "export {};",
        );
      }
      return f.write({ "deep.ts": `import "./deep_0.ts";\n${echoModule("deep")}` });
    },
    expect: { code: "E_IMPORT", message: /import graph is too deep/ },
  },
  {
    name: "a syntax error",
    write: (f) => f.write({ "syntax.ts": `export const hs_echo = { label: "x", run: (i) => i ];` }),
    expect: {
      code: "E_IMPORT",
      message: /Cannot parse ".*syntax\.ts": SyntaxError: .*syntax\.ts:1:\d+; fix the syntax error/,
    },
  },
  {
    name: "a top-level throw of null",
    write: (f) => f.write({ "throws_null.ts": `throw null;\n${echoModule("x")}` }),
    expect: { code: "E_IMPORT", message: /object null; fix the error its top-level code throws/ },
  },
  {
    name: "a UTF-8 byte order mark before the code",
    write: (f) => f.write({ "bom.ts": `\uFEFF${echoModule("bom")}` }),
    expect: { result: ["bom", 1] },
  },

  // The handle symbol and the handle.
  {
    name: "a handle member that is a getter that throws",
    write: (f) =>
      f.write({
        "getter.ts": `export const hs_echo = {
          get label(): string { throw new Error("getter boom"); },
          run: (i: unknown) => i,
        };`,
      }),
    expect: { code: "E_CONTRACT", message: /label: reading it threw Error: getter boom/ },
  },
  {
    name: "a handle that is a Proxy throwing on every access",
    write: (f) =>
      f.write({
        "proxy.ts": `const trap = (name: string) => () => { throw new Error("trap " + name); };
        export const hs_echo = new Proxy({}, {
          get: trap("get"), has: trap("has"), ownKeys: trap("ownKeys"),
          getPrototypeOf: trap("getPrototypeOf"), getOwnPropertyDescriptor: trap("getOwnPropertyDescriptor"),
        });`,
      }),
    expect: {
      code: "E_CONTRACT",
      message: /\(brand\): reading it threw Error: trap get; label: reading it threw/,
    },
  },
  {
    name: "a handle that is a revoked Proxy",
    write: (f) =>
      f.write({
        "revoked.ts": `const { proxy, revoke } = Proxy.revocable({ label: "x", run: () => 1 }, {});
        revoke();
        export const hs_echo = proxy;`,
      }),
    expect: { code: "E_CONTRACT", message: /revoked/ },
  },
  {
    name: "a factory that is a Proxy whose apply trap throws",
    write: (f) =>
      f.write({
        "apply.ts": `export const hs_echo = new Proxy(function () {}, {
          apply() { throw new Error("apply trap"); },
        });`,
      }),
    expect: { code: "E_INIT", message: /threw Error: apply trap; fix the factory/ },
  },
  {
    name: "a handle that is null",
    write: (f) => f.write({ "null.ts": `export const hs_echo = null;` }),
    expect: { code: "E_CONTRACT", message: /\(handle\): expected object, got null/ },
  },
  {
    name: "__proto__: a handle whose prototype is a Proxy that throws",
    write: (f) =>
      f.write({
        "proto_proxy.ts": `export const hs_echo = Object.setPrototypeOf(
          { run: (i: unknown) => i },
          new Proxy({}, { get() { throw new Error("proto trap"); } }),
        );`,
      }),
    expect: { code: "E_CONTRACT", message: /label: reading it threw Error: proto trap/ },
  },
  {
    name: "__proto__: members hidden under an own __proto__ key (JSON.parse)",
    write: (f) =>
      f.write({
        "proto_json.ts": `export const hs_echo = Object.assign(
          JSON.parse('{"__proto__": {"label": "hidden"}}'),
          { run: (i: unknown) => i },
        );`,
      }),
    expect: { code: "E_CONTRACT", message: /label: expected string, got undefined \(missing\)/ },
  },
  {
    name: "__proto__: assigning obj.__proto__ (Deno has no __proto__ accessor: it is an own key)",
    write: (f) =>
      f.write({
        "proto_assign.ts": `const handle: Record<string, unknown> = { run: (i: unknown) => i };
        handle["__proto__"] = { label: "via accessor" };
        export const hs_echo = handle;`,
      }),
    expect: { code: "E_CONTRACT", message: /label: expected string, got undefined \(missing\)/ },
  },
  {
    name: "__proto__: members inherited through a __proto__ literal are accepted",
    write: (f) =>
      f.write({
        "proto_literal.ts": `export const hs_echo = {
          __proto__: { label: "inherited", run: (i: unknown) => ["inherited", i] },
        };`,
      }),
    expect: { result: ["inherited", 1] },
  },
  {
    name: "__proto__: polluting Object.prototype to satisfy the contract",
    write: (f) =>
      f.write({
        "pollute.ts": `const proto = Object.getPrototypeOf({}) as Record<string, unknown>;
        proto.label = "polluted";
        export const hs_echo = { run: (i: unknown) => ["polluted", i] };`,
      }),
    expect: {
      inline: { code: "E_IMPORT", message: /Object\.prototype\.label \(added\); the changes were undone/ },
      worker: { result: ["polluted", 1] },
    },
    after: () => {
      ok(!("label" in {}), "Object.prototype is restored");
    },
  },
  {
    name: "a module that exports `then` (import() must not adopt it)",
    write: (f) =>
      f.write({
        "then.ts": `export function then(resolve: (v: unknown) => void) { resolve(42); }\n${
          echoModule("then")
        }`,
      }),
    expect: { result: ["then", 1] },
  },
  {
    name: "a module that exports a `then` that never calls back",
    options: { loadTimeout: 2_000 },
    write: (f) => f.write({ "then_never.ts": `export function then() {}\n${echoModule("then never")}` }),
    expect: { result: ["then never", 1] },
  },
  {
    name: "a factory whose result has a `then` getter that throws",
    write: (f) =>
      f.write({
        "then_getter.ts":
          `export function hs_echo() { return { get then() { throw new Error("then getter"); } }; }`,
      }),
    expect: { code: "E_INIT", message: /threw Error: then getter/ },
  },
  {
    name: "a factory that throws a value that cannot be printed",
    write: (f) =>
      f.write({
        "unprintable.ts": `export function hs_echo() {
          throw new Proxy({}, { get() { throw new Error("no"); }, getPrototypeOf() { throw new Error("no"); } });
        }`,
      }),
    expect: { code: "E_INIT", message: /threw a object that cannot be printed/ },
  },

  // Time: factories, thenables and top-level await that do not settle in time.
  {
    name: "a factory that never resolves",
    options: { loadTimeout: 250 },
    write: (f) => f.write({ "never.ts": `export function hs_echo() { return new Promise(() => {}); }` }),
    expect: { code: "E_TIMEOUT", message: /took longer than loadTimeout \(250 ms\)/ },
  },
  {
    name: "a thenable that rejects late, before loadTimeout",
    write: (f) =>
      f.write({
        "late.ts": `export function hs_echo() {
          return { then(_: unknown, reject: (e: Error) => void) { setTimeout(() => reject(new Error("late")), 5); } };
        }`,
      }),
    expect: { code: "E_INIT", message: /threw Error: late; fix the factory/ },
  },
  {
    name: "a thenable that rejects after loadTimeout (no unhandled rejection)",
    options: { loadTimeout: 250 },
    write: (f) =>
      f.write({
        "too_late.ts": `export function hs_echo(ctx: { signal: AbortSignal }) {
          return {
            then(_: unknown, reject: (e: Error) => void) {
              ctx.signal.addEventListener("abort", () => reject(new Error("after the deadline")), { once: true });
            },
          };
        }`,
      }),
    expect: { code: "E_TIMEOUT", message: /loadTimeout \(250 ms\)/ },
    after: async () => {
      // The rejection arrives once the load is abandoned; a test with an unhandled rejection fails.
      for (let i = 0; i < 5; i++) await macrotask();
    },
  },
  {
    name: "a top-level await that finishes after loadTimeout: the factory never runs",
    // Talks to the generation through globalThis, which a worker does not share.
    modes: ["inline"],
    run: async (mode) => {
      await using fixture = await Fixture.create();
      const gate = Promise.withResolvers<void>();
      const log: string[] = [];
      Object.assign(globals(), { __catalogue_tla_gate: gate.promise, __catalogue_tla_log: log });
      try {
        await using hot = await register(fixture, mode, { loadTimeout: 250 });
        const path = await fixture.write({
          "slow_tla.ts":
            `const g = globalThis as unknown as { __catalogue_tla_gate: Promise<void>; __catalogue_tla_log: string[] };
          await g.__catalogue_tla_gate;
          g.__catalogue_tla_log.push("top level done");
          export function hs_echo() {
            g.__catalogue_tla_log.push("factory ran");
            return { label: "late", run: (i: unknown) => ["late", i] };
          }`,
        });
        await expectRefused(hot, path, { code: "E_TIMEOUT", message: /loadTimeout \(250 ms\)/ });
        gate.resolve();
        for (let i = 0; i < 10; i++) await macrotask();
        deepStrictEqual(log, ["top level done"], "an abandoned load must not run the factory");
        await expectServing(hot, 1, ["good", 1]);
      } finally {
        delete globals().__catalogue_tla_gate;
        delete globals().__catalogue_tla_log;
      }
    },
  },
  {
    name: "a top-level await that never settles (in a subprocess: it would end an idle test process)",
    modes: ["inline"],
    run: async () => {
      await using fixture = await Fixture.create();
      const good = await fixture.write({ "good.ts": echoModule("good") });
      const stuck = await fixture.write({
        "stuck.ts": `await new Promise(() => {});\n${echoModule("stuck")}`,
      });
      const { steps, code, stderr } = await runHost(HOST, [`--allow-read=${fixture.dir}`], [
        "--load-timeout",
        "100",
        good,
        stuck,
        good,
      ]);
      strictEqual(code, 0, stderr);
      deepStrictEqual(steps.map((s) => [s.generation, s.code ?? "ok", s.result]), [
        [1, "ok", ["good", 1]],
        [1, "E_TIMEOUT", ["good", 1]],
        [2, "ok", ["good", 1]],
      ]);
    },
  },

  // Lifecycle hooks of the running generation.
  {
    name: "a running generation whose handoff() never settles",
    options: { loadTimeout: 250 },
    first: echoModule("good", "export function handoff() { return new Promise(() => {}); }"),
    write: (f) => f.write({ "next.ts": echoModule("next") }),
    expect: { code: "E_TIMEOUT", message: /handoff\(\) of .*did not settle within loadTimeout \(250 ms\)/ },
  },
  {
    name: "a running generation whose handoff() throws",
    first: echoModule("good", `export function handoff() { throw new Error("no state"); }`),
    write: (f) => f.write({ "next.ts": echoModule("next") }),
    expect: { code: "E_INIT", message: /handoff\(\) of .*threw Error: no state; fix handoff\(\)/ },
  },
  {
    name: "a running generation whose dispose() never settles: retired reports it after drainTimeout",
    options: { drainTimeout: 50 },
    first: echoModule("good", "export function dispose() { return new Promise(() => {}); }"),
    write: (f) => f.write({ "next.ts": echoModule("next") }),
    expect: { result: ["next", 1] },
    after: ({ retired }) => {
      strictEqual(retired?.drained, true);
      match(String(retired?.disposeError), /dispose\(\) of generation 1 did not settle within 50 ms/);
    },
  },
  {
    name: "a running generation whose dispose() throws: retired reports the error",
    first: echoModule("good", `export function dispose() { throw new Error("dispose boom"); }`),
    write: (f) => f.write({ "next.ts": echoModule("next") }),
    expect: { result: ["next", 1] },
    after: ({ retired }) => {
      match(String(retired?.disposeError), /dispose boom/);
    },
  },
  {
    name: "close() while a generation with an async dispose() is loading: its dispose() runs to the end",
    // Talks to the generation through globalThis, which a worker does not share.
    modes: ["inline"],
    run: async (mode) => {
      await using fixture = await Fixture.create();
      const factoryGate = Promise.withResolvers<void>();
      const factoryEntered = Promise.withResolvers<void>();
      const log: string[] = [];
      Object.assign(globals(), {
        __catalogue_close: { factoryGate: factoryGate.promise, entered: factoryEntered.resolve, log },
      });
      try {
        const hot = await register(fixture, mode);
        const path = await fixture.write({
          "slow.ts": `const c = (globalThis as unknown as {
            __catalogue_close: { factoryGate: Promise<void>; entered: () => void; log: string[] };
          }).__catalogue_close;
          export async function hs_echo() {
            c.entered();
            await c.factoryGate;
            return { label: "slow", run: (i: unknown) => ["slow", i] };
          }
          export async function dispose() {
            // A real timer: a dispose() given no time would be abandoned before it fires.
            await new Promise((resolve) => setTimeout(resolve, 5));
            c.log.push("disposed");
          }`,
        });
        const swapping = hot.swap(path);
        swapping.catch(() => {});
        await factoryEntered.promise;
        const closing = hot.close();
        factoryGate.resolve();
        await rejects(swapping, (error: HotswapError) => error.code === "E_CLOSED");
        deepStrictEqual(log, ["disposed"], "the refused generation was disposed before swap() rejected");
        await closing;
      } finally {
        delete globals().__catalogue_close;
      }
    },
  },

  // Globals and built-ins (inline: detected, undone and refused).
  {
    name: "rewriting globalThis.setTimeout at top level",
    write: (f) =>
      f.write({
        "timeouts.ts": `(globalThis as Record<string, unknown>).setTimeout = () => 0;\n${echoModule("x")}`,
      }),
    expect: {
      inline: { code: "E_IMPORT", message: /globalThis\.setTimeout \(replaced\); the changes were undone/ },
      worker: ISOLATED,
    },
    after: () => {
      strictEqual(globalThis.setTimeout, ORIGINAL_SET_TIMEOUT, "setTimeout is restored");
    },
  },
  {
    name: "deleting a built-in global",
    write: (f) =>
      f.write({
        "deletes.ts": `delete (globalThis as Record<string, unknown>).structuredClone;\n${echoModule("x")}`,
      }),
    expect: {
      inline: { code: "E_IMPORT", message: /globalThis\.structuredClone \(deleted\)/ },
      worker: ISOLATED,
    },
    after: () => {
      strictEqual(typeof structuredClone, "function", "structuredClone is restored");
    },
  },
  {
    name: "replacing Array.prototype.map at top level",
    write: (f) =>
      f.write({
        "array_map.ts": `Array.prototype.map = function () { throw new Error("hijacked"); };\n${
          echoModule("x")
        }`,
      }),
    expect: { inline: { code: "E_IMPORT", message: /Array\.prototype\.map \(replaced\)/ }, worker: ISOLATED },
    after: () => {
      deepStrictEqual([1, 2].map((n) => n * 2), [2, 4]);
    },
  },
  {
    name: "replacing Object.prototype.toString in the factory",
    write: (f) =>
      f.write({
        "to_string.ts": `export function hs_echo() {
          Object.prototype.toString = () => "hijacked";
          return { label: "x", run: (i: unknown) => ["x", i] };
        }`,
      }),
    expect: {
      inline: { code: "E_INIT", message: /its factory changed built-ins.*Object\.prototype\.toString/ },
      worker: ISOLATED,
    },
    after: () => {
      strictEqual(String({}), "[object Object]");
    },
  },
  {
    name: "replacing Promise.prototype.then and JSON.parse together",
    write: (f) =>
      f.write({
        "promise_then.ts": `const then = Promise.prototype.then;
        Promise.prototype.then = function (...args: unknown[]) { return then.apply(this, args as never); };
        JSON.parse = () => ({});\n${echoModule("x")}`,
      }),
    expect: {
      inline: {
        code: "E_IMPORT",
        message: /Promise\.prototype\.then \(replaced\).*JSON\.parse \(replaced\)/,
      },
      worker: ISOLATED,
    },
    after: () => {
      deepStrictEqual(JSON.parse("[1]"), [1]);
    },
  },
  {
    name: "freezing Object.prototype, which cannot be undone (in a subprocess: it stays frozen)",
    modes: ["inline"],
    run: async () => {
      await using fixture = await Fixture.create();
      const good = await fixture.write({ "good.ts": echoModule("good") });
      const freezer = await fixture.write({
        "freeze.ts": `Object.freeze(Object.prototype);\n${echoModule("x")}`,
      });
      const { steps, code, stderr } = await runHost(HOST, [`--allow-read=${fixture.dir}`], [good, freezer]);
      strictEqual(code, 0, stderr);
      deepStrictEqual(steps.map((s) => [s.generation, s.code ?? "ok", s.result]), [
        [1, "ok", ["good", 1]],
        [1, "E_IMPORT", ["good", 1]],
      ]);
      match(
        String(steps[1]!.message),
        /Object\.prototype \(made non-extensible\).*which cannot be: restart the host/,
      );
    },
  },
  {
    name: "adding a new global name is allowed",
    write: (f) =>
      f.write({
        "new_global.ts": `(globalThis as Record<string, unknown>).__catalogue_state = { hits: 0 };\n${
          echoModule("own global")
        }`,
      }),
    expect: { result: ["own global", 1] },
    after: () => {
      delete globals().__catalogue_state;
    },
  },

  // Work a generation leaves for after its retirement.
  {
    name: "timers and a pending rejection tied to ctx.signal stop at retire (sanitizers on)",
    // Talks to the generation through globalThis, which a worker does not share.
    modes: ["inline"],
    run: async (mode) => {
      await using fixture = await Fixture.create();
      const log: string[] = [];
      globals().__catalogue_signal_log = log;
      try {
        await using hot = await register(fixture, mode);
        const path = await fixture.write({
          "tidy.ts":
            `const log = (globalThis as unknown as { __catalogue_signal_log: string[] }).__catalogue_signal_log;
          let aborted = false;
          export function hs_echo(ctx: { signal: AbortSignal }) {
            const timer = setInterval(() => {}, 1);
            const late = new Promise((_, reject) => {
              ctx.signal.addEventListener("abort", () => reject(new Error("retired")), { once: true });
            });
            late.catch((error: Error) => log.push("rejection handled: " + error.message));
            ctx.signal.addEventListener("abort", () => {
              aborted = true;
              clearInterval(timer);
            }, { once: true });
            return { label: "tidy", run: (i: unknown) => ["tidy", i] };
          }
          export function dispose() { log.push("dispose after abort: " + aborted); }`,
        });
        await hot.swap(path);
        await expectServing(hot, 2, ["tidy", 1]);
        const { retired } = await hot.swap(fixture.path("good.ts"));
        strictEqual((await retired).drained, true);
        await macrotask();
        deepStrictEqual(log, ["dispose after abort: true", "rejection handled: retired"]);
      } finally {
        delete globals().__catalogue_signal_log;
      }
    },
  },
  {
    name: "timers and an unhandled rejection after retire, ignoring ctx.signal (in a subprocess)",
    modes: ["inline"],
    run: async () => {
      await using fixture = await Fixture.create();
      const stray = await fixture.write({
        "stray.ts": `export function hs_echo(ctx: { signal: AbortSignal }) {
          ctx.signal.addEventListener("abort", () => {
            setTimeout(() => { Promise.reject(new Error("stray rejection after retire")); }, 1);
          });
          return { label: "stray", run: (i: unknown) => ["stray", i] };
        }`,
      });
      const good = await fixture.write({ "good.ts": echoModule("good") });
      const handled = await runHost(RETIRE_HOST, [`--allow-read=${fixture.dir}`], ["--handle", stray, good]);
      strictEqual(handled.code, 0, handled.stderr);
      deepStrictEqual(handled.steps, [
        { retired: 1, drained: true },
        { unhandledRejection: "Error: stray rejection after retire", generation: 2, result: ["good", 1] },
      ]);
      // Without a host handler, Deno's default applies: the runtime installs none.
      const unhandled = await runHost(RETIRE_HOST, [`--allow-read=${fixture.dir}`], [stray, good]);
      strictEqual(unhandled.code, 1);
      match(unhandled.stderr, /stray rejection after retire/);
    },
  },

  {
    name: "timers and unhandled rejections after retire, ignoring ctx.signal: they end with the worker",
    modes: ["worker"],
    run: async (mode) => {
      await using fixture = await Fixture.create();
      await using hot = await register(fixture, mode);
      const stray = await fixture.write({
        "stray.ts": `setInterval(() => {}, 1);
        export function hs_echo(ctx: { signal: AbortSignal }) {
          ctx.signal.addEventListener("abort", () => {
            setTimeout(() => { Promise.reject(new Error("stray rejection after retire")); }, 0);
            Promise.reject(new Error("stray rejection at retire"));
          });
          return { label: "stray", run: (i: unknown) => ["stray", i] };
        }`,
      });
      await hot.swap(stray);
      await expectServing(hot, 2, ["stray", 1]);
      const { retired } = await hot.swap(fixture.path("good.ts"));
      strictEqual((await retired).drained, true);
      await expectServing(hot, 3, ["good", 1]);
    },
  },

  // Values a handle's methods return into with().
  {
    name: "a handle method returning a value whose `then` getter throws: the call is released",
    // Talks to the generation through globalThis, which a worker does not share.
    modes: ["inline"],
    run: async (mode) => {
      await using fixture = await Fixture.create();
      await using hot = await register(fixture, mode);
      const path = await fixture.write({
        "then_result.ts": `export const hs_echo = {
          label: "hostile result",
          run: () => ({ get then() { throw new Error("then getter"); } }),
        };`,
      });
      await hot.swap(path);
      const value = hot.with((h) => h.run(1));
      ok(typeof value === "object" && value !== null, "handed back unchanged");
      strictEqual(hot.stats().generations.find((g) => g.generation === 2)?.inflight, 0);
      const { retired } = await hot.swap(path);
      strictEqual((await retired).drained, true);
    },
  },
  {
    name: "a handle method returning a promise with a hijacked own `then`: released when it settles",
    write: (f) =>
      f.write({
        "hijacked.ts": `export const hs_echo = {
          label: "hijacked",
          run: (i: unknown) => {
            const p = Promise.resolve(["hijacked", i]);
            Object.defineProperty(p, "then", { value: () => {} });
            return p;
          },
        };`,
      }),
    expect: { result: ["hijacked", 1] },
    after: async ({ hot }) => {
      strictEqual(hot.stats().generations.find((g) => g.generation === 2)?.inflight, 0);
      const { retired } = await hot.swap(hot.info().path);
      strictEqual((await retired).drained, true);
    },
  },
];

const ORIGINAL_SET_TIMEOUT = globalThis.setTimeout;

async function register(fixture: Fixture, mode: Isolation, options: HotswapOptions = {}, first?: string) {
  return await registerHotswap(echo, await fixture.write({ "good.ts": first ?? echoModule("good") }), {
    ...options,
    isolation: mode,
  });
}

/** The generation serving is `generation` and `run(1)` returns `result`. */
async function expectServing(hot: Hotswap<Echo>, generation: number, result: unknown): Promise<void> {
  strictEqual(hot.generation, generation);
  deepStrictEqual(await hot.with((h) => h.run(1)), result);
}

async function expectRefused(hot: Hotswap<Echo>, path: string, expected: Refused): Promise<HotswapError> {
  const generation = hot.generation;
  const digest = hot.digest;
  const announced: HotswapError[] = [];
  const listener = (event: CustomEvent<{ error: HotswapError }>) => announced.push(event.detail.error);
  hot.addEventListener("reject", listener);
  let caught: unknown;
  try {
    await hot.swap(path);
  } catch (error) {
    caught = error;
  } finally {
    hot.removeEventListener("reject", listener);
  }
  ok(caught instanceof HotswapError, `expected a HotswapError, got ${String(caught)}`);
  strictEqual(caught.code, expected.code, caught.message);
  match(caught.message, expected.message);
  strictEqual(caught.activeGeneration, generation);
  deepStrictEqual(announced, [caught]);
  strictEqual(hot.digest, digest);
  await expectServing(hot, generation, ["good", 1]);
  return caught;
}

function expectationFor(entry: Case, mode: Isolation): Expectation | undefined {
  const expect = entry.expect;
  if (expect === undefined || "code" in expect || "result" in expect) {
    return expect as Expectation | undefined;
  }
  return (expect as Partial<Record<Isolation, Expectation>>)[mode];
}

async function runCase(entry: Case, mode: Isolation): Promise<void> {
  // A worker that outlived its test fails it: the resource sanitizer reports it.
  await (entry.run ? entry.run(mode) : swapCase(entry, mode));
}

async function swapCase(entry: Case, mode: Isolation): Promise<void> {
  const expected = expectationFor(entry, mode)!;
  await using fixture = await Fixture.create();
  const hot = await register(fixture, mode, entry.options, entry.first);
  try {
    const path = await entry.write!(fixture);
    if ("code" in expected) {
      await expectRefused(hot, path, expected);
      await entry.after?.({ fixture, hot, mode });
      return;
    }
    const { generation, retired } = await hot.swap(path);
    strictEqual(generation, 2);
    deepStrictEqual(await hot.with((h) => h.run(1)), expected.result);
    await entry.after?.({ fixture, hot, mode, retired: await retired });
  } finally {
    await hot.close();
    strictEqual(hot.stats().sandboxes, 0, "no generation worker outlives its reference");
  }
}

for (const mode of MODES) {
  for (const entry of CASES) {
    if (entry.modes !== undefined && !entry.modes.includes(mode)) continue;
    if (entry.run === undefined && expectationFor(entry, mode) === undefined) {
      throw new Error(`Catalogue case "${entry.name}" has no expectation for ${mode} mode`);
    }
    Deno.test({
      name: `[${mode}] ${entry.name}`,
      ignore: entry.posix === true && Deno.build.os === "windows",
      fn: () => runCase(entry, mode),
    });
  }
}
