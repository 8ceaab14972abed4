/**
 * Catalogue: generations that change built-ins (intrinsic prototypes and
 * constructors, and the globals that existed when the runtime loaded).
 * Inline mode cannot isolate them, so a generation that changes one while it
 * loads is detected, the change undone and the swap refused (`E_IMPORT` from
 * top-level code, `E_INIT` from the factory). Adding new global names stays
 * allowed. Worker mode isolates: the change stays in the generation's realm
 * and the host is untouched. The frame and its rules are in
 * tests/_catalogue.ts.
 *
 * @module
 */

import { deepStrictEqual, match, strictEqual } from "node:assert/strict";
import { type Accepted, type Case, catalogue, globals, swapInHost } from "./_catalogue.ts";
import { echoModule, Fixture } from "./_fixtures.ts";

/** Worker mode: the change stays in the generation's own realm; the swap commits and the host is untouched. */
const ISOLATED: Accepted = { result: ["x", 1] };

const ORIGINAL_SET_TIMEOUT = globalThis.setTimeout;

const CASES: readonly Case[] = [
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
      const { outcomes, steps } = await swapInHost(fixture, [good, freezer]);
      deepStrictEqual(outcomes, [
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
];

catalogue(CASES);
