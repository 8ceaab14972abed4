/**
 * Values across the process channel: what structured cloning carries comes
 * back equal, what it refuses is refused alike, and text the encoder never
 * writes is refused by the decoder.
 *
 * @module
 */

import { deepStrictEqual, ok, strictEqual, throws } from "node:assert/strict";
import { assertEncodable, decodeValue, encodeValue } from "../core/_codec.ts";
import { HotswapError } from "../core/errors.ts";

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
    // Hex on the wire: 84,510 decimal digits, which would take milliseconds to parse.
    bigs: [0n, 7n ** 100_000n, -(7n ** 100_000n)],
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
  // Objects whose state is internal, which structured cloning refuses too, rather than `{}`.
  const internal: object[] = [
    (function* () {})(),
    (async function* () {})(),
    [1].values(),
    [1].values().map((x) => x),
    new Intl.DateTimeFormat(),
    new URL("http://127.0.0.1/"),
    new Headers(),
    new ReadableStream(),
    new Request("http://127.0.0.1/"),
  ];
  const { port1, port2 } = new MessageChannel();
  internal.push(port1);
  for (const value of internal) {
    throws(() => structuredClone(value), (error: Error) => error.name === "DataCloneError");
    throws(() => encodeValue(value), (error: Error) => error.name === "DataCloneError", String(value));
  }
  port1.close();
  port2.close();
  // A class instance crosses as its own data, as structured cloning copies it.
  class Point {
    x = 1;
  }
  deepStrictEqual(decodeValue(encodeValue(new Point())), { x: 1 });
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

Deno.test("decodeValue() gives back plain data, strings and special numbers as structuredClone does", () => {
  for (
    const value of [
      null,
      false,
      0,
      -0,
      NaN,
      -Infinity,
      "",
      'lone \ud800 surrogate, quotes " and [brackets] {braces}',
      [],
      {},
      [1, [2, [3]]],
      { a: { b: { c: [null, true] } } },
      Object.assign(Object.create(null), { x: 1 }),
      [-0, 1n, undefined],
    ]
  ) {
    const back = roundTrip(value);
    deepStrictEqual(back, structuredClone(value));
    if (Object.is(value, -0)) ok(Object.is(back, -0));
  }
});

Deno.test("decodeValue() keeps views on one buffer sharing it, at their offsets", () => {
  const buffer = new Uint8Array([0, 1, 2, 3, 4, 5, 6, 7]).buffer;
  const value = {
    bytes: new Uint8Array(buffer, 2, 3),
    words: new Uint16Array(buffer, 4, 2),
    data: new DataView(buffer, 1, 2),
  };
  const back = roundTrip(value);
  strictEqual(back.bytes.buffer, back.words.buffer);
  strictEqual(back.bytes.buffer, back.data.buffer);
  deepStrictEqual([...back.bytes], [2, 3, 4]);
  deepStrictEqual(back.words, value.words);
  strictEqual(back.data.byteOffset, 1);
  strictEqual(back.data.getUint8(1), 2);
});

Deno.test("decodeValue() rebuilds errors with their class and cause; a runtime code in a value is data", () => {
  const back = roundTrip({
    range: new RangeError("out", { cause: new Error("inner") }),
    domain: new HotswapError("E_TIMEOUT", "slow"),
  });
  ok(back.range instanceof RangeError);
  strictEqual(back.range.message, "out");
  strictEqual((back.range.cause as Error).message, "inner");
  // A generation can construct the runtime's class in its own realm: an error inside a
  // result is never taken for the runtime's own, whatever code it claims (GUEST_CODES).
  const domain: Error & { code?: string } = back.domain;
  ok(!(domain instanceof HotswapError));
  strictEqual(domain.name, "HotswapError");
  strictEqual(domain.code, "E_TIMEOUT");
});

Deno.test("decodeValue() keeps boxed primitives, invalid dates, maps keyed by objects and cycles through them", () => {
  const key = { k: 1 };
  const map = new Map<unknown, unknown>([[key, new Set([key])]]);
  map.set("self", map);
  const back = roundTrip({ map, invalid: new Date(NaN), boxed: [Object("s"), Object(false), Object(2n)] });
  const [backKey] = back.map.keys();
  ok((back.map.get(backKey) as Set<unknown>).has(backKey));
  strictEqual(back.map.get("self"), back.map);
  ok(Number.isNaN(back.invalid.getTime()));
  deepStrictEqual(back.boxed.map((boxed) => typeof boxed), ["object", "object", "object"]);
  deepStrictEqual(back.boxed.map((boxed) => boxed.valueOf()), ["s", false, 2n]);
});

Deno.test("decodeValue() keeps an own __proto__ key an own property, in JSON and in a tagged tree", () => {
  const json = JSON.parse('{"__proto__": {"polluted": true}, "x": 1}');
  // Spreading defines properties, so the copy keeps the own key; `undefined` makes it go tagged.
  const tagged = { ...json, u: undefined };
  ok(Object.hasOwn(tagged, "__proto__"));
  ok(encodeValue(tagged).startsWith("~"));
  for (
    const back of [
      roundTrip(json),
      roundTrip(tagged),
      decodeValue('~["O","__proto__",["O","polluted",true]]'),
    ]
  ) {
    ok(Object.hasOwn(back, "__proto__"));
    strictEqual(Object.getPrototypeOf(back), Object.prototype);
    strictEqual((back as { polluted?: unknown }).polluted, undefined);
  }
});

/** An array holding `leaf`, nested `levels` arrays deep. */
function nested(levels: number, leaf?: unknown): unknown[] {
  let value: unknown[] = leaf === undefined ? [] : [leaf];
  for (let i = 1; i < levels; i++) value = [value];
  return value;
}

Deno.test("encodeValue() carries 1,001 nested containers, a leaf below them included, and refuses one more", () => {
  for (const leaf of [undefined, -0, 1n]) {
    const text = encodeValue(nested(1_001, leaf));
    let back = decodeValue(text);
    for (let i = 1; i < 1_001; i++) back = (back as unknown[])[0];
    deepStrictEqual(back, leaf === undefined ? [] : [leaf]);
    throws(() => encodeValue(nested(1_002, leaf)), (error: Error) => error.name === "DataCloneError");
  }
});

Deno.test("decodeValue() refuses a tree nested deeper than the encoder writes, before or after JSON.parse", () => {
  // 1,010 levels pass the text check (which leaves room for error records) and fail in the tree.
  throws(() => decodeValue("~" + '["A",'.repeat(1_010) + '["U"]' + "]".repeat(1_010)), /the nesting/);
  throws(() => decodeValue('{"a":'.repeat(2_000) + "1" + "}".repeat(2_000)), /the nesting/);
  // Brackets inside a long string are text, not nesting.
  const text = "[{".repeat(3_000) + '\\"';
  strictEqual(decodeValue(encodeValue(text)), text);
});

Deno.test("decodeValue() carries a sparse array of the greatest length without allocating it", () => {
  const sparse: unknown[] = [];
  sparse.length = 2 ** 32 - 1;
  sparse[5] = 1;
  strictEqual(encodeValue(sparse), '~["H",4294967295,5,1]');
  const back = roundTrip(sparse);
  strictEqual(back.length, 2 ** 32 - 1);
  deepStrictEqual(Object.keys(back), ["5"]);
});

Deno.test("decodeValue() refuses every malformed node of a tagged tree", () => {
  const cases: readonly [string, RegExp][] = [
    ["~{", /JSON/],
    ['~{"a":1}', /a node/],
    ["~[]", /a node/],
    ["~[1]", /a node/],
    ['~["N","1"]', /a special number/],
    ['~["I","-"]', /a bigint/],
    ['~["I","' + "f".repeat(2 ** 20 + 1) + '"]', /a bigint/],
    ['~["I","A"]', /a bigint/],
    ['~["A",["R",1]]', /a reference/],
    ['~["A",["R",0.5]]', /a reference/],
    ['~["A",["R",-1]]', /a reference/],
    ['~["H",-1]', /a sparse array/],
    ['~["H",4294967296]', /a sparse array/],
    ['~["H",2,2,"x"]', /a sparse array index/],
    ['~["H",2,"0","x"]', /a sparse array index/],
    ['~["O",1,2]', /an object key/],
    ['~["D","x"]', /a date/],
    ['~["D",["R",0]]', /a date/],
    ['~["X","a",1]', /a regular expression/],
    ['~["X","a","zz"]', /flags/],
    ['~["B",1]', /an array buffer/],
    ['~["B","!!"]', /base64/],
    ['~["T","Foo",["B","AA=="],0,1]', /a typed array kind/],
    ['~["T","Uint8Array",["B","AA=="],0,5]', /length/],
    ['~["T","Float64Array",["B","AAAAAAAAAAAA"],1,1]', /multiple of 8|offset/],
    ['~["V",["A"],0,0]', /a view/],
    ['~["V",["B","AA=="],-1,0]', /a view/],
    ['~["P",["A"]]', /a boxed primitive/],
    ['~["P",["U"]]', /a boxed primitive/],
    ['~["E",{"name":"Error"}]', /message/],
    ['~["' + "Z".repeat(100) + '"]', /tag "Z{19} is not/],
  ];
  for (const [text, message] of cases) {
    throws(() => decodeValue(text), (error: unknown) => {
      ok(error instanceof Error, `${text.slice(0, 40)} threw a ${typeof error}`);
      ok(message.test(error.message), `${text.slice(0, 40)}: ${error.message}`);
      return true;
    });
  }
});

Deno.test("assertEncodable() names what cannot cross before any call", () => {
  assertEncodable({ limits: [1, 2], at: new Date(0) });
  throws(() => assertEncodable({ nested: { run() {} } }), /function run could not be cloned/);
  throws(() => assertEncodable(new WeakSet()), /a WeakSet could not be cloned/);
});

Deno.test("the codec bounds what one value holds, so that decoding it stays short", () => {
  // Encoding refuses it with a RangeError the caller sees; a text that holds it anyway (forged) does not decode.
  const regexes = Array.from({ length: 20_001 }, (_, i) => new RegExp(`r${i}`));
  throws(
    () => encodeValue(regexes),
    (error: Error) =>
      error instanceof RangeError && /20000 errors and regular expressions/.test(error.message),
  );
  throws(
    () => decodeValue(`~["A",${Array.from({ length: 20_001 }, () => '["X","r",""]').join(",")}]`),
    /more than 20000 errors/,
  );
  strictEqual((decodeValue(encodeValue(regexes.slice(0, 20_000))) as unknown[]).length, 20_000);
  const entries = new Set(Array.from({ length: 2_000_001 }, (_, i) => i));
  throws(() => encodeValue(entries), RangeError);
  throws(
    () => decodeValue(`~["S",${Array.from({ length: 2_000_001 }, (_, i) => i).join(",")}]`),
    /more than 2000000 entries/,
  );
  throws(
    () => decodeValue(`~["A",${Array.from({ length: 1_000_001 }, () => '["O"]').join(",")}]`),
    /more than 1000000 objects/,
  );
});

Deno.test("encodeValue() refuses what decodeValue() would parse too long, as a clone error would, and decodeValue() refuses it too", () => {
  // JSON.parse builds the whole text before any other check: 16.7 million arrays took 6.6 s.
  const arrays = Array.from({ length: 4_000_001 }, () => []);
  throws(() => encodeValue(arrays), (error: Error) => {
    strictEqual(error.name, "RangeError");
    strictEqual(
      error.message,
      "The value holds more than 4000000 arrays and objects, more than one value may carry; return less, or return it in parts",
    );
    return true;
  });
  // What a generation could write itself (a getter answering twice, forged frames): refused before parsing.
  throws(
    () => decodeValue(`[${"[],".repeat(4_000_000)}[]]`),
    /Malformed value: a text of more than 4000000 arrays/,
  );
  // Within the budget, all of it crosses: rows of repeated keys (400,000 rows, 1.2 million keys) too.
  const rows = Array.from({ length: 400_000 }, (_, id) => ({ id, name: `row ${id}`, v: id / 2 }));
  strictEqual(roundTrip(rows).length, 400_000);
});

Deno.test("encodeValue() and decodeValue() refuse a million keys past the 1,024th of their objects, plain or tagged", () => {
  // 5.7 million distinct keys in one object of 64 MiB blocked a host 10 s and kept 1 GiB.
  const keys = 1_024 + 1_000_001;
  const wide: Record<string, unknown> = {};
  for (let i = 0; i < keys; i++) wide[`k${i}`] = 0;
  throws(() => encodeValue(wide), /more than 1000000 keys in objects of more than 1024 keys/);
  const pairs = Array.from({ length: keys }, (_, i) => `"k${i}"`);
  throws(
    () => decodeValue(`{${pairs.map((key) => `${key}:0`).join(",")}}`),
    /Malformed value: a text of more than 1000000 keys in objects/,
  );
  // Tagged (a value JSON alone cannot carry: one undefined), refused before the object is built.
  wide.k0 = undefined;
  throws(() => encodeValue(wide), /more than 1000000 keys in objects of more than 1024 keys/);
  throws(
    () => decodeValue(`~["O",${pairs.map((key) => `${key},0`).join(",")}]`),
    /Malformed value: more than 1000000 keys in objects/,
  );
  // A colon inside a string is no key, and strings are not counted: 2.5 million cross.
  strictEqual(
    roundTrip(Array.from({ length: 2_500_000 }, (_, i) => i % 2 === 0 ? "a:b" : `s${i}`)).length,
    2_500_000,
  );
});

Deno.test("decodeValue() of a text of nothing but nesting stops counting at the deepest a value may go", () => {
  // The count keeps one number per level it sees: past the limit it stops, however deep the text goes.
  throws(() => decodeValue("[".repeat(20_000_000)), /the nesting/);
});

Deno.test("encodeValue() refuses a bigint the decoder would not read, instead of the host refusing the message", () => {
  const largest = (1n << (4n * 1_048_576n)) - 1n; // 2^20 hex digits
  strictEqual(roundTrip(largest), largest);
  throws(() => encodeValue(largest + 1n), /holds more than 4194304 bits in one bigint/);
  throws(() => encodeValue(-(largest + 1n)), /bits in one bigint/);
});
