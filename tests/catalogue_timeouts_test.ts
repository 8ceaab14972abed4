/**
 * Catalogue: loads that do not settle in time. A factory that never
 * resolves, a thenable that rejects after `loadTimeout` and a top-level
 * await that finishes late or never are refused with `E_TIMEOUT`, leave no
 * unhandled rejection, and never run the factory of an abandoned load. The
 * frame and its rules are in tests/_catalogue.ts.
 *
 * @module
 */

import { deepStrictEqual } from "node:assert/strict";
import {
  type Case,
  catalogue,
  expectRefused,
  expectServing,
  globals,
  register,
  swapInHost,
} from "./_catalogue.ts";
import { echoModule, Fixture, macrotask } from "./_fixtures.ts";

const CASES: readonly Case[] = [
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
      const { outcomes } = await swapInHost(fixture, ["--load-timeout", "100", good, stuck, good]);
      deepStrictEqual(outcomes, [
        [1, "ok", ["good", 1]],
        [1, "E_TIMEOUT", ["good", 1]],
        [2, "ok", ["good", 1]],
      ]);
    },
  },
];

catalogue(CASES);
