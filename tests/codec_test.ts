/**
 * Values across the process channel: what structured cloning carries comes
 * back equal, what it refuses is refused alike, and text the encoder never
 * writes is refused by the decoder.
 *
 * @module
 */

import { deepStrictEqual, ok, strictEqual, throws } from "node:assert/strict";
import { decodeValue, encodeValue } from "../core/_codec.ts";

function roundTrip<T>(value: T): T {
  return decodeValue(encodeValue(value)) as T;
}

Deno.test("encodeValue sends plain data as JSON and everything else tagged", () => {
  strictEqual(encodeValue([1, "a", { b: null }]), '[1,"a",{"b":null}]');
  strictEqual(encodeValue(undefined), "");
  ok(encodeValue([undefined]).startsWith("~"));
  ok(encodeValue(-0).startsWith("~"));
});

Deno.test("decodeValue gives back what structured cloning would", () => {
  const shared = { n: 1 };
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  const value = {
    special: [NaN, Infinity, -Infinity, -0, undefined],
    big: -(2n ** 80n),
    date: new Date(0),
    pattern: /x/gu,
    map: new Map<unknown, unknown>([[shared, shared]]),
    set: new Set([1, "1"]),
    floats: new Float64Array([0.5, -1]),
    buffer: new Uint8Array([9]).buffer,
    sparse: [, 2],
    twice: [shared, shared],
    cyclic,
    boxed: Object(3),
    instance: new (class Point {
      x = 1;
    })(),
  };
  const back = roundTrip(value);
  deepStrictEqual(back.special, value.special);
  ok(Object.is(back.special[3], -0));
  strictEqual(back.big, value.big);
  deepStrictEqual(back.date, value.date);
  deepStrictEqual(back.pattern, value.pattern);
  strictEqual([...back.map.keys()][0], [...back.map.values()][0]);
  deepStrictEqual(back.set, value.set);
  deepStrictEqual(back.floats, value.floats);
  deepStrictEqual(new Uint8Array(back.buffer), new Uint8Array([9]));
  ok(!(0 in back.sparse));
  strictEqual(back.twice[0], back.twice[1]);
  strictEqual(back.cyclic.self, back.cyclic);
  strictEqual(typeof back.boxed, "object");
  deepStrictEqual(back.instance, { x: 1 });
});

Deno.test("encodeValue refuses what cannot be cloned with a DataCloneError", () => {
  for (const value of [() => 1, Symbol("s"), Promise.resolve(), new WeakMap(), [{ f() {} }]]) {
    throws(() => encodeValue(value), (error: Error) => error.name === "DataCloneError");
  }
});

Deno.test("decodeValue refuses text the encoder never writes", () => {
  for (
    const text of [
      '~["Q"]',
      '~["R",0]',
      '~["T","Int8Array",["B","AA=="],0,5]',
      '~["E",{"name":1,"message":"m"}]',
      '~["I","12x"]',
      "[".repeat(5_000) + "]".repeat(5_000),
    ]
  ) {
    throws(() => decodeValue(text), Error, text.slice(0, 40));
  }
});
