/**
 * The fast path of worker calls: two single-producer single-consumer rings
 * of fixed-size records in one `SharedArrayBuffer`, one for requests (host
 * writes, worker reads) and one for responses (worker writes, host reads).
 *
 * A plain `postMessage` round trip costs about 70 µs on Deno 2.9, most of it
 * waking the other thread's event loop. Records here are plain memory
 * writes published by one `Atomics.store`; the reader finds them by
 * spinning briefly after its last record (so back-to-back calls never sleep)
 * and otherwise sleeps in `Atomics.waitAsync`, which the writer wakes with
 * `Atomics.notify` only when the reader said it is about to sleep.
 *
 * Only small payloads of plain data (see `_record_codec.ts` for which) travel
 * in a record; anything else goes by `postMessage`, with a marker record in
 * the ring so the reader still handles messages in the order they were sent.
 * This file is only the rings: where records sit and who may touch which one
 * when. Imported on both sides, so it imports nothing host-only.
 *
 * @module
 */

import { corruptRecord, encodeRecord, RecordDecoder } from "./_record_codec.ts";

/**
 * Records per ring; a power of two so a counter maps to a slot with a mask.
 * Small on purpose: every worker gets a fresh buffer, and larger ones made
 * the host's resident memory grow more across hundreds of swaps (measured:
 * 512 KB buffers about twice the growth of 64 KB ones). A burst beyond it
 * waits, encoded, in the host's overflow queue.
 */
export const SLOT_COUNT = 128;
/** Bytes per record, header included. */
export const SLOT_BYTES = 256;
/** Record header: call id (u32), op (i32), payload length (u32). */
const RECORD_HEADER = 12;
/** The most a payload can take. */
const PAYLOAD_BYTES = SLOT_BYTES - RECORD_HEADER;
/** Control block: counters and sleep flags, padded to a cache line. */
const CONTROL_BYTES = 64;

/** Request `op`: the record stands for the `postMessage` with the record's id. */
export const OP_MESSAGE = -1;
/** Response `op`: the record carries the call's return value. */
export const OP_RESULT = 0;
/** Payload length of a record without a payload. */
const NO_LENGTH = 0xffffffff;
/** Passed as a payload to write a record without one, and returned for such a record. */
export const NO_PAYLOAD: unique symbol = Symbol("no payload");

// Int32 indices into the control block, per ring.
const REQUEST = { head: 0, tail: 1, sleeping: 2, base: CONTROL_BYTES } as const;
const RESPONSE = { head: 4, tail: 5, sleeping: 6, base: CONTROL_BYTES + SLOT_COUNT * SLOT_BYTES } as const;

/** Which ring of the buffer a reader or writer works on. */
export type RingName = "request" | "response";

/** Allocates the shared memory of one host-worker channel. */
export function createChannelBuffer(): SharedArrayBuffer {
  return new SharedArrayBuffer(CONTROL_BYTES + 2 * SLOT_COUNT * SLOT_BYTES);
}

/**
 * Where one ring lives in the buffer, as both of its ends see it. Each end
 * keeps its own record count and stores only its own counter (the writer
 * the head, the reader the tail); the places are the same for both, so they
 * are worked out here once. Plain fields: this class never leaves the file.
 */
class RingMemory {
  readonly control: Int32Array;
  readonly view: DataView;
  readonly head: number;
  readonly tail: number;
  readonly sleeping: number;
  readonly base: number;

  constructor(buffer: SharedArrayBuffer, ring: RingName) {
    const at = ring === "request" ? REQUEST : RESPONSE;
    this.control = new Int32Array(buffer, 0, CONTROL_BYTES / 4);
    this.view = new DataView(buffer);
    this.head = at.head;
    this.tail = at.tail;
    this.sleeping = at.sleeping;
    this.base = at.base;
  }

  /** Where the slot of the record numbered `count` starts. */
  slot(count: number): number {
    return this.base + (count & (SLOT_COUNT - 1)) * SLOT_BYTES;
  }

  /** Wakes a reader sleeping on the ring (one that said so, or any: `notify` is cheap when none waits). */
  wake(): void {
    Atomics.notify(this.control, this.head);
  }
}

/** The producing end of one ring. */
export class RingWriter {
  readonly #ring: RingMemory;
  /** Records written; only this side writes the shared head, so a local copy is exact. */
  #written: number;
  readonly #bytes: Uint8Array;
  readonly #scratch = new DataView(new ArrayBuffer(SLOT_BYTES));

  /**
   * Opens the producing end.
   *
   * @param buffer The channel's shared memory.
   * @param ring Which ring to write.
   */
  constructor(buffer: SharedArrayBuffer, ring: RingName) {
    this.#ring = new RingMemory(buffer, ring);
    this.#bytes = new Uint8Array(buffer);
    this.#written = Atomics.load(this.#ring.control, this.#ring.head);
  }

  /**
   * Records written that the reader has not taken: from 0 to
   * {@linkcode SLOT_COUNT} while the reader is honest. Any other value means
   * the reader moved the shared tail where no reader can, and the caller
   * should treat the ring as corrupt (waiting for room would wait for ever).
   */
  get unread(): number {
    return (this.#written - Atomics.load(this.#ring.control, this.#ring.tail)) | 0;
  }

  /** Whether a record can be written now. */
  get hasRoom(): boolean {
    const ring = this.#ring;
    return ((this.#written - Atomics.load(ring.control, ring.tail)) | 0) < SLOT_COUNT;
  }

  /**
   * Writes one record and publishes it. Nothing is published when the ring
   * is full or the payload cannot be encoded (or is too large for a record).
   *
   * @param id The call or message id.
   * @param op A member index, {@linkcode OP_MESSAGE} or {@linkcode OP_RESULT}.
   * @param payload The value to carry; {@linkcode NO_PAYLOAD} for none.
   * @returns Whether the record was published.
   */
  write(id: number, op: number, payload: unknown): boolean {
    if (!this.hasRoom) return false;
    const start = this.#ring.slot(this.#written);
    let length = NO_LENGTH;
    if (payload !== NO_PAYLOAD) {
      const at = start + RECORD_HEADER;
      length = encodeRecord(this.#ring.view, at, at + PAYLOAD_BYTES, payload);
      if (length < 0) return false;
    }
    this.#publish(start, id, op, length);
    return true;
  }

  /**
   * Encodes a payload now, to write it later with {@linkcode writeEncoded}:
   * when the ring is full, a call's arguments are still captured at call
   * time, as structured cloning would.
   *
   * @returns The payload's bytes, or `undefined` when it cannot travel in a record.
   */
  encode(payload: unknown): Uint8Array | undefined {
    const length = encodeRecord(this.#scratch, 0, PAYLOAD_BYTES, payload);
    return length < 0 ? undefined : new Uint8Array(this.#scratch.buffer, 0, length).slice();
  }

  /**
   * Writes a record whose payload was encoded earlier.
   *
   * @param id The call or message id.
   * @param op A member index or {@linkcode OP_MESSAGE}.
   * @param bytes From {@linkcode encode}; `undefined` for no payload.
   * @returns Whether the record was published (`false` when the ring is full).
   */
  writeEncoded(id: number, op: number, bytes: Uint8Array | undefined): boolean {
    if (!this.hasRoom) return false;
    const start = this.#ring.slot(this.#written);
    if (bytes !== undefined) {
      this.#bytes.set(bytes, start + RECORD_HEADER);
    }
    this.#publish(start, id, op, bytes === undefined ? NO_LENGTH : bytes.length);
    return true;
  }

  #publish(start: number, id: number, op: number, length: number): void {
    const ring = this.#ring;
    const view = ring.view;
    view.setUint32(start, id);
    view.setInt32(start + 4, op);
    view.setUint32(start + 8, length);
    this.#written = (this.#written + 1) | 0;
    // The store publishes the record: the reader's load of the head orders
    // the record's plain writes before its reads.
    Atomics.store(ring.control, ring.head, this.#written);
    if (Atomics.load(ring.control, ring.sleeping) !== 0) Atomics.notify(ring.control, ring.head);
  }

  /** Wakes a reader sleeping on this ring, so it can notice the channel closed. */
  wake(): void {
    this.#ring.wake();
  }
}

/** The consuming end of one ring. */
export class RingReader {
  readonly #ring: RingMemory;
  /** Records consumed; only this side writes the shared tail. */
  #read: number;
  readonly #decoder: RecordDecoder;

  /**
   * Opens the consuming end.
   *
   * @param buffer The channel's shared memory.
   * @param ring Which ring to read.
   */
  constructor(buffer: SharedArrayBuffer, ring: RingName) {
    this.#ring = new RingMemory(buffer, ring);
    this.#decoder = new RecordDecoder(this.#ring.view);
    this.#read = Atomics.load(this.#ring.control, this.#ring.tail);
  }

  /** Whether a record is waiting. */
  get available(): boolean {
    return Atomics.load(this.#ring.control, this.#ring.head) !== this.#read;
  }

  /**
   * How many records are waiting. The writer can never be more than a ring
   * ahead of the reader; a head outside `0..SLOT_COUNT` records ahead was not
   * written by an honest writer, and the caller should treat the ring as corrupt.
   */
  backlog(): number {
    return (Atomics.load(this.#ring.control, this.#ring.head) - this.#read) | 0;
  }

  /** The id of the next record. Only when {@linkcode available}. */
  id(): number {
    return this.#ring.view.getUint32(this.#ring.slot(this.#read));
  }

  /** The op of the next record. */
  op(): number {
    return this.#ring.view.getInt32(this.#ring.slot(this.#read) + 4);
  }

  /**
   * Decodes the next record's payload ({@linkcode NO_PAYLOAD} when it has none).
   * Every read stays inside the record's slot, however the writer filled it.
   *
   * @throws {RangeError} When the record cannot be what an honest writer wrote.
   */
  payload(): unknown {
    const start = this.#ring.slot(this.#read);
    const length = this.#ring.view.getUint32(start + 8);
    if (length === NO_LENGTH) return NO_PAYLOAD;
    if (length > PAYLOAD_BYTES) throw corruptRecord(`a payload length of ${length}`);
    return this.#decoder.decode(start + RECORD_HEADER, length);
  }

  /** Frees the next record's slot for the writer. */
  advance(): void {
    this.#read = (this.#read + 1) | 0;
    Atomics.store(this.#ring.control, this.#ring.tail, this.#read);
  }

  /** Wakes this reader's own pending sleep, so it can notice the channel closed. */
  wake(): void {
    this.#ring.wake();
  }

  /**
   * Busy-waits for a record at most `iterations` checks. Cheaper than
   * sleeping when the other side answers within microseconds.
   *
   * @returns Whether a record arrived.
   */
  spin(iterations: number): boolean {
    const control = this.#ring.control;
    const head = this.#ring.head;
    const read = this.#read;
    for (let i = 0; i < iterations; i++) {
      if (Atomics.load(control, head) !== read) return true;
    }
    return false;
  }

  /**
   * Sleeps until the writer publishes a record or calls `wake()`.
   *
   * @param timeout Milliseconds to sleep at most (default: no limit).
   * @returns `undefined` when a record is already there, else a promise to await.
   */
  sleep(timeout?: number): Promise<unknown> | undefined {
    const { control, head, sleeping } = this.#ring;
    // Announce the sleep before the last check: the writer stores the head
    // and then reads this flag, so one of the two sees the other's store.
    Atomics.store(control, sleeping, 1);
    if (Atomics.load(control, head) !== this.#read) {
      Atomics.store(control, sleeping, 0);
      return undefined;
    }
    const result = Atomics.waitAsync(control, head, this.#read, timeout);
    if (!result.async) {
      Atomics.store(control, sleeping, 0);
      return undefined;
    }
    return result.value.then(() => Atomics.store(control, sleeping, 0));
  }
}
