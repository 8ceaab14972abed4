/**
 * Catalogue: values with a `then` wherever the runtime awaits one. A module
 * that exports `then` is not adopted by `import()`; a factory result whose
 * `then` getter throws is refused; a value a handle method returns into
 * `with()` with a throwing `then` getter, or a promise whose own `then` is
 * hijacked, never pins its generation. The frame and its rules are in
 * tests/_catalogue.ts.
 *
 * @module
 */

import { ok, strictEqual } from "node:assert/strict";
import { type Case, catalogue, register } from "./_catalogue.ts";
import { echoModule, Fixture } from "./_fixtures.ts";

const CASES: readonly Case[] = [
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

catalogue(CASES);
