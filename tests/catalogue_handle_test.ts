/**
 * Catalogue: the handle a generation exports, as the contract checks it.
 * Getters and Proxies that throw, a revoked Proxy, `null`, a factory that
 * throws, and members hidden or planted through `__proto__` are refused
 * (`E_CONTRACT`, `E_INIT`) without the check itself throwing. Inherited
 * handle members (a `__proto__` literal) count as members. The frame and its
 * rules are in tests/_catalogue.ts.
 *
 * @module
 */

import { ok } from "node:assert/strict";
import { type Case, catalogue } from "./_catalogue.ts";

const CASES: readonly Case[] = [
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
    name: "a factory that throws a value that cannot be printed",
    write: (f) =>
      f.write({
        "unprintable.ts": `export function hs_echo() {
          throw new Proxy({}, { get() { throw new Error("no"); }, getPrototypeOf() { throw new Error("no"); } });
        }`,
      }),
    expect: { code: "E_INIT", message: /threw an object that cannot be printed/ },
  },
];

catalogue(CASES);
