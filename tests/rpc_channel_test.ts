/**
 * The shared-memory call ring (core/_rpc_channel.ts): values round-trip as
 * structured cloning would carry them, and a reader never reads outside a
 * record or loops on a forged head, whatever the other side wrote.
 *
 * @module
 */

import { deepStrictEqual, ok, strictEqual, throws } from "node:assert/strict";
import {
  createChannelBuffer,
  NO_PAYLOAD,
  OP_RESULT,
  RingReader,
  RingWriter,
  SLOT_BYTES,
  SLOT_COUNT,
} from "../core/_rpc_channel.ts";

function pair(): { writer: RingWriter; reader: RingReader; buffer: SharedArrayBuffer } {
  const buffer = createChannelBuffer();
  return { writer: new RingWriter(buffer, "response"), reader: new RingReader(buffer, "response"), buffer };
}

function roundTrip(value: unknown): unknown {
  const { writer, reader } = pair();
  ok(writer.write(7, OP_RESULT, value), "the value fits a record");
  strictEqual(reader.id(), 7);
  const decoded = reader.payload();
  reader.advance();
  return decoded;
}

Deno.test("RingWriter/RingReader carry plain data as structured cloning does", () => {
  for (
    const value of [
      undefined,
      null,
      true,
      -0,
      NaN,
      1.5,
      "",
      "lone \ud800 surrogate",
      12345678901234567890n,
      [1, "two", [null]],
      { a: 1, nested: { b: [true] } },
    ]
  ) {
    deepStrictEqual(roundTrip(value), structuredClone(value));
  }
});

Deno.test("RingReader keeps an own __proto__ key an own property, as structured cloning does", () => {
  const value = JSON.parse('{"__proto__": {"polluted": true}, "x": 1}');
  const decoded = roundTrip(value) as Record<string, unknown>;
  ok(Object.hasOwn(decoded, "__proto__"));
  strictEqual(Object.getPrototypeOf(decoded), Object.prototype);
  strictEqual((decoded as { polluted?: unknown }).polluted, undefined);
  deepStrictEqual(decoded, structuredClone(value));
});

Deno.test("RingWriter refuses what a record cannot carry exactly", () => {
  const { writer } = pair();
  strictEqual(writer.write(1, OP_RESULT, new Date(0)), false);
  strictEqual(writer.write(1, OP_RESULT, [1, , 3]), false, "holes");
  strictEqual(writer.write(1, OP_RESULT, "x".repeat(SLOT_BYTES)), false, "too long");
  strictEqual(writer.write(1, OP_RESULT, () => 1), false);
  strictEqual(writer.write(1, OP_RESULT, NO_PAYLOAD), true);
});

Deno.test("RingReader.payload() refuses a forged record instead of reading past it", () => {
  const { writer, reader, buffer } = pair();
  writer.write(1, OP_RESULT, { a: [1, 2, 3] });
  const view = new DataView(buffer);
  const start = 64 + SLOT_COUNT * SLOT_BYTES; // the response ring's first slot
  const forge = (offset: number, value: number) => view.setUint32(start + offset, value);
  forge(8, 0xfffffff0); // payload length
  throws(() => reader.payload(), /payload length .* the ring is corrupt/);
  forge(8, 20);
  view.setUint8(start + 12, 6); // an array...
  forge(13, 0xffffffff); // ...of four billion items
  throws(() => reader.payload(), /an array of 4294967295 items/);
  view.setUint8(start + 12, 5); // a string...
  forge(13, 1_000_000); // ...longer than its record
  throws(() => reader.payload(), /a string of 1000000 units/);
  view.setUint8(start + 12, 99);
  throws(() => reader.payload(), /unknown tag 99/);
});

Deno.test("RingReader.backlog() shows a head no honest writer could have published", () => {
  const { writer, reader, buffer } = pair();
  strictEqual(reader.backlog(), 0);
  writer.write(1, OP_RESULT, 1);
  writer.write(2, OP_RESULT, 2);
  strictEqual(reader.backlog(), 2);
  const control = new Int32Array(buffer, 0, 16);
  Atomics.store(control, 4, 1_000_000); // the response ring's head, forged
  ok(reader.backlog() > SLOT_COUNT);
  Atomics.store(control, 4, -5);
  ok(reader.backlog() < 0);
});
