/**
 * The framed channel of process isolation: frames survive any chunking,
 * batches coalesce, and a length out of bounds is refused.
 *
 * @module
 */

import { deepStrictEqual, strictEqual, throws } from "node:assert/strict";
import { FrameError, FrameReader, FrameWriter, payloadText } from "../core/_frames.ts";

/** Frames written by a FrameWriter, as the bytes its sink received. */
async function written(
  frames: [number, number, number, string][],
): Promise<{ bytes: Uint8Array; writes: number }> {
  const parts: Uint8Array[] = [];
  const writer = new FrameWriter((bytes) => {
    parts.push(bytes.slice());
    return Promise.resolve();
  }, () => {});
  for (const [type, id, arg, text] of frames) writer.frame(type, id, arg, text);
  // The first frame goes out at once, the rest follow once that write completes.
  await Promise.resolve();
  await Promise.resolve();
  const bytes = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let at = 0;
  for (const part of parts) {
    bytes.set(part, at);
    at += part.length;
  }
  return { bytes, writes: parts.length };
}

function read(bytes: Uint8Array, chunk: number): [number, number, number, string][] {
  const frames: [number, number, number, string][] = [];
  const reader = new FrameReader(1024 * 1024, (type, id, arg, payload) => {
    frames.push([type, id, arg, payloadText(payload)]);
  });
  for (let at = 0; at < bytes.length; at += chunk) reader.push(bytes.subarray(at, at + chunk));
  return frames;
}

Deno.test("FrameReader reads back what FrameWriter wrote, however the bytes are chunked", async () => {
  const frames: [number, number, number, string][] = [
    [3, 1, 0, "[1,2]"],
    [18, 0xffffffff, 7, ""],
    [20, 2, 1, "é 🎉 " + "x".repeat(70_000)],
    [19, 3, 0, '{"name":"Error"}'],
  ];
  const { bytes, writes } = await written(frames);
  strictEqual(writes, 2, "the frames after the first one were coalesced");
  for (const chunk of [1, 3, 4, 5, 16, 17, 4096, bytes.length]) deepStrictEqual(read(bytes, chunk), frames);
});

Deno.test("FrameReader refuses a length out of bounds, and everything after it", () => {
  const reader = new FrameReader(64, () => {});
  const oversized = new Uint8Array(16);
  new DataView(oversized.buffer).setUint32(0, 65, true);
  throws(() => reader.push(oversized), FrameError);
  throws(() => reader.push(new Uint8Array(16)), FrameError);
  const short = new FrameReader(64, () => {});
  throws(() => short.push(new Uint8Array([3, 0, 0, 0])), FrameError);
});
