/**
 * The value codec of call-ring records (core/_record_codec.ts): values
 * round-trip as structured cloning would carry them, what a record cannot
 * carry exactly is refused, and decoding never reads outside the record,
 * whatever bytes a hostile writer left there.
 *
 * @module
 */

import { deepStrictEqual, ok, strictEqual, throws } from "node:assert/strict";
import { encodeRecord, RecordDecoder } from "../core/_record_codec.ts";

/** Room for one payload, as in a ring slot. */
const ROOM = 244;

function roundTrip(value: unknown): unknown {
  const view = new DataView(new ArrayBuffer(ROOM));
  const length = encodeRecord(view, 0, ROOM, value);
  ok(length >= 0, "the value fits a record");
  return new RecordDecoder(view).decode(0, length);
}

/** A record of `bytes`, decoded with the given length. */
function decodeBytes(bytes: number[], length = bytes.length): unknown {
  const view = new DataView(new ArrayBuffer(ROOM));
  bytes.forEach((byte, at) => view.setUint8(at, byte));
  return new RecordDecoder(view).decode(0, length);
}

Deno.test("encodeRecord() and RecordDecoder carry plain data as structured cloning does", () => {
  for (
    const value of [
      undefined,
      null,
      true,
      false,
      -0,
      NaN,
      1.5,
      "",
      "lone \ud800 surrogate",
      12345678901234567890n,
      [1, "two", [null]],
      { a: 1, nested: { b: [true] } },
      Object.assign(Object.create(null), { bare: 1 }),
    ]
  ) {
    deepStrictEqual(roundTrip(value), structuredClone(value));
  }
});

Deno.test("RecordDecoder keeps an own __proto__ key an own property, as structured cloning does", () => {
  const value = JSON.parse('{"__proto__": {"polluted": true}, "x": 1}');
  const decoded = roundTrip(value) as Record<string, unknown>;
  ok(Object.hasOwn(decoded, "__proto__"));
  strictEqual(Object.getPrototypeOf(decoded), Object.prototype);
  strictEqual((decoded as { polluted?: unknown }).polluted, undefined);
  deepStrictEqual(decoded, structuredClone(value));
});

Deno.test("encodeRecord() refuses what a record cannot carry exactly", () => {
  const view = new DataView(new ArrayBuffer(ROOM));
  const refused = (value: unknown) => encodeRecord(view, 0, ROOM, value) === -1;
  ok(refused(new Date(0)), "a class instance");
  ok(refused([1, , 3]), "holes");
  ok(refused(Object.assign([1], { extra: true })), "an array with extra properties");
  ok(refused("x".repeat(ROOM)), "too long");
  ok(refused(() => 1), "a function");
  ok(refused(Symbol("s")), "a symbol");
  let deep: unknown = 1;
  for (let i = 0; i < 9; i++) deep = [deep];
  ok(refused(deep), "nested deeper than 8");
  ok(!refused((deep as unknown[])[0]), "nested 8 deep");
  const throwing = {
    get boom(): never {
      throw new Error("getter");
    },
  };
  ok(refused(throwing), "a throwing getter goes by structured cloning, which reports it");
});

Deno.test("encodeRecord() writes nothing past the end it is given", () => {
  const view = new DataView(new ArrayBuffer(ROOM));
  view.setUint8(20, 0xee);
  strictEqual(encodeRecord(view, 0, 20, "a longer text than twenty bytes"), -1);
  strictEqual(view.getUint8(20), 0xee);
});

Deno.test("RecordDecoder refuses forged counts and tags instead of reading past the record", () => {
  throws(() => decodeBytes([6, 0xff, 0xff, 0xff, 0xff]), /an array of 4294967295 items/);
  throws(() => decodeBytes([7, 0, 0, 1, 0]), /an object of 256 keys/);
  throws(() => decodeBytes([5, 0, 0x0f, 0x42, 0x40]), /a string of 1000000 units/);
  throws(() => decodeBytes([99]), /unknown tag 99/);
  throws(() => decodeBytes([4, 0, 0]), /a value running past its record/);
  // Bytes beyond the declared length are not read, even when they would complete the value.
  throws(() => decodeBytes([5, 0, 0, 0, 1, 0, 65], 5), /a string of 1 units/);
  // Arrays of one item, twelve deep: no writer nests past eight.
  throws(() => decodeBytes(Array.from({ length: 12 }, () => [6, 0, 0, 0, 1]).flat()), /nested deeper/);
});

Deno.test("RecordDecoder decodes records one after another with one decoder", () => {
  const view = new DataView(new ArrayBuffer(2 * ROOM));
  const first = encodeRecord(view, 0, ROOM, { n: 1 });
  const second = encodeRecord(view, ROOM, 2 * ROOM, ["two"]);
  const decoder = new RecordDecoder(view);
  deepStrictEqual(decoder.decode(ROOM, second), ["two"]);
  deepStrictEqual(decoder.decode(0, first), { n: 1 });
});
