/**
 * The shared-memory call ring (core/_rpc_channel.ts): records arrive in
 * order with their id, op and payload, a full ring refuses writes until the
 * reader frees a slot, a sleeping reader is woken, and a reader never reads
 * outside a record or trusts a forged head, whatever the other side wrote.
 * The payload codec itself is tested in record_codec_test.ts.
 *
 * @module
 */

import { deepStrictEqual, ok, strictEqual, throws } from "node:assert/strict";
import {
  createChannelBuffer,
  NO_PAYLOAD,
  OP_MESSAGE,
  OP_RESULT,
  RingReader,
  RingWriter,
  SLOT_BYTES,
  SLOT_COUNT,
} from "../core/_rpc_channel.ts";

/** Where the response ring's first slot starts: after the control block and the request ring. */
const RESPONSE_BASE = 64 + SLOT_COUNT * SLOT_BYTES;

function pair(ring: "request" | "response" = "response"): {
  writer: RingWriter;
  reader: RingReader;
  buffer: SharedArrayBuffer;
} {
  const buffer = createChannelBuffer();
  return { writer: new RingWriter(buffer, ring), reader: new RingReader(buffer, ring), buffer };
}

/** Reads the next record whole and frees its slot. */
function take(reader: RingReader): { id: number; op: number; payload: unknown } {
  ok(reader.available, "a record is waiting");
  const record = { id: reader.id(), op: reader.op(), payload: reader.payload() };
  reader.advance();
  return record;
}

/**
 * Awaits a sleep of the reader. Deno does not count a pending
 * `Atomics.waitAsync` as work that keeps its event loop running (the host
 * has its Worker for that), so without the timer the wake-up may never be
 * delivered; the timer is cleared once it is, and never fires in a passing run.
 */
async function woken(sleep: Promise<unknown>): Promise<void> {
  const keepAlive = setTimeout(() => {}, 10_000);
  try {
    await sleep;
  } finally {
    clearTimeout(keepAlive);
  }
}

Deno.test("RingWriter/RingReader deliver records in order with their id, op and payload", () => {
  const { writer, reader } = pair("request");
  strictEqual(reader.available, false);
  ok(writer.write(1, 3, [1, "two"]));
  ok(writer.write(0xffffffff, OP_MESSAGE, NO_PAYLOAD));
  ok(writer.writeEncoded(2, 4, writer.encode({ x: null })));
  deepStrictEqual(take(reader), { id: 1, op: 3, payload: [1, "two"] });
  deepStrictEqual(take(reader), { id: 0xffffffff, op: OP_MESSAGE, payload: NO_PAYLOAD });
  deepStrictEqual(take(reader), { id: 2, op: 4, payload: { x: null } });
  strictEqual(reader.available, false);
});

Deno.test("the two rings of one buffer are independent", () => {
  const buffer = createChannelBuffer();
  const requests = new RingWriter(buffer, "request");
  const responses = new RingWriter(buffer, "response");
  requests.write(1, 0, "request");
  responses.write(2, OP_RESULT, "response");
  deepStrictEqual(take(new RingReader(buffer, "response")), { id: 2, op: OP_RESULT, payload: "response" });
  deepStrictEqual(take(new RingReader(buffer, "request")), { id: 1, op: 0, payload: "request" });
});

Deno.test("RingWriter refuses a record when the ring is full, until the reader frees a slot", () => {
  const { writer, reader } = pair();
  for (let id = 0; id < SLOT_COUNT; id++) ok(writer.write(id, OP_RESULT, id), `record ${id}`);
  strictEqual(writer.hasRoom, false);
  strictEqual(writer.write(SLOT_COUNT, OP_RESULT, 1), false);
  strictEqual(writer.writeEncoded(SLOT_COUNT, OP_RESULT, undefined), false);
  strictEqual(reader.backlog(), SLOT_COUNT, "nothing was overwritten");
  strictEqual(take(reader).id, 0);
  ok(writer.hasRoom);
  ok(writer.write(SLOT_COUNT, OP_RESULT, "wrapped"));
  for (let id = 1; id < SLOT_COUNT; id++) strictEqual(take(reader).payload, id);
  deepStrictEqual(take(reader), { id: SLOT_COUNT, op: OP_RESULT, payload: "wrapped" });
});

Deno.test("RingWriter.write() publishes nothing for a payload a record cannot carry", () => {
  const { writer, reader } = pair();
  strictEqual(writer.write(1, OP_RESULT, new Date(0)), false);
  strictEqual(writer.write(1, OP_RESULT, "x".repeat(SLOT_BYTES)), false, "too long");
  strictEqual(writer.encode(new Map()), undefined);
  strictEqual(reader.available, false);
  ok(writer.write(1, OP_RESULT, NO_PAYLOAD));
  strictEqual(take(reader).payload, NO_PAYLOAD);
});

Deno.test("RingWriter.encode() captures a payload when called, not when written", () => {
  const { writer, reader } = pair();
  const args = [{ count: 1 }];
  const bytes = writer.encode(args);
  args[0]!.count = 2;
  ok(writer.writeEncoded(5, 1, bytes));
  deepStrictEqual(take(reader).payload, [{ count: 1 }]);
});

Deno.test("a new end continues where the counters in the buffer stand", () => {
  const { writer, reader, buffer } = pair();
  writer.write(1, OP_RESULT, "one");
  take(reader);
  writer.write(2, OP_RESULT, "two");
  const later = new RingReader(buffer, "response");
  deepStrictEqual(take(later), { id: 2, op: OP_RESULT, payload: "two" });
  ok(new RingWriter(buffer, "response").write(3, OP_RESULT, "three"));
  strictEqual(take(later).id, 3);
});

Deno.test("RingReader.sleep() returns at once when a record is there, and wakes on the next write", async () => {
  const { writer, reader } = pair();
  writer.write(1, OP_RESULT, 1);
  strictEqual(reader.sleep(), undefined);
  take(reader);
  const sleep = reader.sleep();
  ok(sleep !== undefined, "nothing to read: the reader sleeps");
  // The writer sees the sleeping flag and notifies: the sleep ends without a timeout.
  writer.write(2, OP_RESULT, 2);
  await woken(sleep);
  strictEqual(take(reader).id, 2);
});

Deno.test("RingReader.wake() ends a sleep with nothing written, so the reader can see the channel closed", async () => {
  const { reader, writer } = pair();
  const sleep = reader.sleep();
  ok(sleep !== undefined);
  reader.wake();
  await woken(sleep);
  strictEqual(reader.available, false);
  const again = reader.sleep();
  ok(again !== undefined);
  writer.wake();
  await woken(again);
});

Deno.test("RingReader.spin() sees a record already published and gives up after its checks", () => {
  const { writer, reader } = pair();
  strictEqual(reader.spin(100), false);
  writer.write(1, OP_RESULT, 1);
  strictEqual(reader.spin(1), true);
});

Deno.test("RingReader.payload() refuses a forged record instead of reading past it", () => {
  const { writer, reader, buffer } = pair();
  writer.write(1, OP_RESULT, { a: [1, 2, 3] });
  const view = new DataView(buffer);
  const forge = (offset: number, value: number) => view.setUint32(RESPONSE_BASE + offset, value);
  forge(8, 0xfffffff0); // payload length
  throws(() => reader.payload(), /payload length .* the ring is corrupt/);
  forge(8, SLOT_BYTES - 12 + 1); // one byte more than a slot holds
  throws(() => reader.payload(), /payload length/);
  forge(8, 20);
  view.setUint8(RESPONSE_BASE + 12, 6); // an array...
  forge(13, 0xffffffff); // ...of four billion items
  throws(() => reader.payload(), /an array of 4294967295 items/);
  view.setUint8(RESPONSE_BASE + 12, 99);
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

Deno.test("RingWriter.hasRoom holds against a forged tail: a writer never runs more than a ring ahead", () => {
  const { writer, buffer } = pair();
  const control = new Int32Array(buffer, 0, 16);
  Atomics.store(control, 5, -1_000_000); // the response ring's tail, forged far behind
  strictEqual(writer.hasRoom, false);
  strictEqual(writer.write(1, OP_RESULT, 1), false);
  Atomics.store(control, 5, 0);
  ok(writer.hasRoom);
});
