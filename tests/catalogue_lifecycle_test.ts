/**
 * Catalogue: the hooks of the running generation, and the work it leaves for
 * after its retirement. A `handoff()` that throws or never settles refuses
 * the swap; a `dispose()` that throws or never settles is reported by
 * `retired`; `close()` during a load lets the refused generation's
 * `dispose()` run to its end.
 *
 * Work after retire: `ctx.signal` is aborted once the generation has
 * drained, before `dispose()`; timers tied to it (or cleared in `dispose()`)
 * leave nothing behind. Inline mode shares the host's event loop: timers a
 * generation leaves running keep running, and their unhandled rejections
 * reach the host's handlers like any other; the runtime installs no global
 * handler (checked in a subprocess). Worker mode ends them with the worker.
 * The frame and its rules are in tests/_catalogue.ts.
 *
 * @module
 */

import { deepStrictEqual, match, rejects, strictEqual } from "node:assert/strict";
import type { HotswapError } from "../mod.ts";
import { type Case, catalogue, expectServing, globals, register } from "./_catalogue.ts";
import { runSteps } from "./_child.ts";
import { echoModule, Fixture, macrotask } from "./_fixtures.ts";

const RETIRE_HOST = new URL("./fixtures/retire_host.ts", import.meta.url).pathname;

const CASES: readonly Case[] = [
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
  ...[
    ["an async handoff()", "export async function handoff() { return 5; }", 5],
    [
      "a handoff() returning a thenable",
      "export function handoff() { return { then(resolve: (n: number) => void) { resolve(7); } }; }",
      7,
    ],
  ].map(([what, hook, state]): Case => ({
    name: `${what}: the state it settles to reaches the next factory`,
    first: echoModule("good", hook as string),
    write: (f) =>
      f.write({
        "next.ts": `export function hs_echo(ctx: { previous: unknown }) {
          return { label: "next", run: () => ["next", ctx.previous] };
        }`,
      }),
    expect: { result: ["next", state] },
  })),
  {
    name: "a running generation whose async handoff() rejects",
    first: echoModule("good", `export async function handoff() { throw new Error("no state later"); }`),
    write: (f) => f.write({ "next.ts": echoModule("next") }),
    expect: { code: "E_INIT", message: /handoff\(\) of .*threw Error: no state later; fix handoff\(\)/ },
  },
  {
    name: "a running generation whose handoff() returns a thenable whose then getter throws",
    // What `await` would do with it: the getter's throw is the handoff's failure.
    first: echoModule(
      "good",
      `export function handoff() { return { get then() { throw new Error("no then"); } }; }`,
    ),
    write: (f) => f.write({ "next.ts": echoModule("next") }),
    expect: { code: "E_INIT", message: /handoff\(\) of .*threw Error: no then; fix handoff\(\)/ },
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
      const handled = await runSteps(RETIRE_HOST, [`--allow-read=${fixture.dir}`], ["--handle", stray, good]);
      strictEqual(handled.code, 0, handled.stderr);
      deepStrictEqual(handled.steps, [
        { retired: 1, drained: true },
        { unhandledRejection: "Error: stray rejection after retire", generation: 2, result: ["good", 1] },
      ]);
      // Without a host handler, Deno's default applies: the runtime installs none.
      const unhandled = await runSteps(RETIRE_HOST, [`--allow-read=${fixture.dir}`], [stray, good]);
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
];

catalogue(CASES);
