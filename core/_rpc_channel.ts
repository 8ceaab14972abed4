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
 * Only small payloads of plain data ({@linkcode encodeValue}) travel in a
 * record; anything else goes by `postMessage`, with a marker record in the
 * ring so the reader still handles messages in the order they were sent.
 * Imported on both sides, so it imports nothing host-only.
 *
 * @module
 */

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

function layout(ring: RingName): typeof REQUEST | typeof RESPONSE {
  return ring === "request" ? REQUEST : RESPONSE;
}

/** The producing end of one ring. */
export class RingWriter {
  readonly #control: Int32Array;
  readonly #view: DataView;
  readonly #head: number;
  readonly #tail: number;
  readonly #sleeping: number;
  readonly #base: number;
  /** Records written; only this side writes the shared head, so a local copy is exact. */
  #written = 0;
  readonly #bytes: Uint8Array;
  readonly #scratch = new DataView(new ArrayBuffer(SLOT_BYTES));

  /**
   * Opens the producing end.
   *
   * @param buffer The channel's shared memory.
   * @param ring Which ring to write.
   */
  constructor(buffer: SharedArrayBuffer, ring: RingName) {
    const at = layout(ring);
    this.#control = new Int32Array(buffer, 0, CONTROL_BYTES / 4);
    this.#view = new DataView(buffer);
    this.#bytes = new Uint8Array(buffer);
    this.#head = at.head;
    this.#tail = at.tail;
    this.#sleeping = at.sleeping;
    this.#base = at.base;
    this.#written = Atomics.load(this.#control, at.head);
  }

  /** Whether a record can be written now. */
  get hasRoom(): boolean {
    return ((this.#written - Atomics.load(this.#control, this.#tail)) | 0) < SLOT_COUNT;
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
    const start = this.#slot();
    let length = NO_LENGTH;
    if (payload !== NO_PAYLOAD) {
      length = this.#encodeAt(start + RECORD_HEADER, payload);
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
    const length = encodeInto(this.#scratch, 0, SLOT_BYTES - RECORD_HEADER, payload);
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
    const start = this.#slot();
    if (bytes !== undefined) {
      this.#bytes.set(bytes, start + RECORD_HEADER);
    }
    this.#publish(start, id, op, bytes === undefined ? NO_LENGTH : bytes.length);
    return true;
  }

  #slot(): number {
    return this.#base + (this.#written & (SLOT_COUNT - 1)) * SLOT_BYTES;
  }

  #encodeAt(at: number, payload: unknown): number {
    return encodeInto(this.#view, at, at + SLOT_BYTES - RECORD_HEADER, payload);
  }

  #publish(start: number, id: number, op: number, length: number): void {
    const view = this.#view;
    view.setUint32(start, id);
    view.setInt32(start + 4, op);
    view.setUint32(start + 8, length);
    this.#written = (this.#written + 1) | 0;
    // The store publishes the record: the reader's load of the head orders
    // the record's plain writes before its reads.
    Atomics.store(this.#control, this.#head, this.#written);
    if (Atomics.load(this.#control, this.#sleeping) !== 0) Atomics.notify(this.#control, this.#head);
  }

  /** Wakes a reader sleeping on this ring, so it can notice the channel closed. */
  wake(): void {
    Atomics.notify(this.#control, this.#head);
  }
}

/** The consuming end of one ring. */
export class RingReader {
  readonly #control: Int32Array;
  readonly #view: DataView;
  readonly #head: number;
  readonly #tail: number;
  readonly #sleeping: number;
  readonly #base: number;
  /** Records consumed; only this side writes the shared tail. */
  #read = 0;
  #cursor = 0;
  /** Where the record being decoded ends: no read goes past it. */
  #end = 0;

  /**
   * Opens the consuming end.
   *
   * @param buffer The channel's shared memory.
   * @param ring Which ring to read.
   */
  constructor(buffer: SharedArrayBuffer, ring: RingName) {
    const at = layout(ring);
    this.#control = new Int32Array(buffer, 0, CONTROL_BYTES / 4);
    this.#view = new DataView(buffer);
    this.#head = at.head;
    this.#tail = at.tail;
    this.#sleeping = at.sleeping;
    this.#base = at.base;
    this.#read = Atomics.load(this.#control, at.tail);
  }

  /** Whether a record is waiting. */
  get available(): boolean {
    return Atomics.load(this.#control, this.#head) !== this.#read;
  }

  /**
   * How many records are waiting. The writer can never be more than a ring
   * ahead of the reader; a head outside `0..SLOT_COUNT` records ahead was not
   * written by an honest writer, and the caller should treat the ring as corrupt.
   */
  backlog(): number {
    return (Atomics.load(this.#control, this.#head) - this.#read) | 0;
  }

  get #start(): number {
    return this.#base + (this.#read & (SLOT_COUNT - 1)) * SLOT_BYTES;
  }

  /** The id of the next record. Only when {@linkcode available}. */
  id(): number {
    return this.#view.getUint32(this.#start);
  }

  /** The op of the next record. */
  op(): number {
    return this.#view.getInt32(this.#start + 4);
  }

  /**
   * Decodes the next record's payload ({@linkcode NO_PAYLOAD} when it has none).
   * Every read stays inside the record's slot, however the writer filled it.
   *
   * @throws {RangeError} When the record cannot be what an honest writer wrote.
   */
  payload(): unknown {
    const start = this.#start;
    const length = this.#view.getUint32(start + 8);
    if (length === NO_LENGTH) return NO_PAYLOAD;
    if (length > SLOT_BYTES - RECORD_HEADER) throw corrupt(`a payload length of ${length}`);
    this.#cursor = start + RECORD_HEADER;
    this.#end = this.#cursor + length;
    return this.#decode(0);
  }

  /** Frees the next record's slot for the writer. */
  advance(): void {
    this.#read = (this.#read + 1) | 0;
    Atomics.store(this.#control, this.#tail, this.#read);
  }

  /** Wakes this reader's own pending sleep, so it can notice the channel closed. */
  wake(): void {
    Atomics.notify(this.#control, this.#head);
  }

  /**
   * Busy-waits for a record at most `iterations` checks. Cheaper than
   * sleeping when the other side answers within microseconds.
   *
   * @returns Whether a record arrived.
   */
  spin(iterations: number): boolean {
    const control = this.#control;
    const head = this.#head;
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
    const control = this.#control;
    // Announce the sleep before the last check: the writer stores the head
    // and then reads this flag, so one of the two sees the other's store.
    Atomics.store(control, this.#sleeping, 1);
    if (Atomics.load(control, this.#head) !== this.#read) {
      Atomics.store(control, this.#sleeping, 0);
      return undefined;
    }
    const result = Atomics.waitAsync(control, this.#head, this.#read, timeout);
    if (!result.async) {
      Atomics.store(control, this.#sleeping, 0);
      return undefined;
    }
    return result.value.then(() => Atomics.store(control, this.#sleeping, 0));
  }

  /** Moves the cursor past `bytes`, which must lie inside the record. */
  #take(bytes: number): number {
    const at = this.#cursor;
    if (at + bytes > this.#end) throw corrupt("a value running past its record");
    this.#cursor = at + bytes;
    return at;
  }

  #decode(depth: number): unknown {
    if (depth > MAX_DEPTH) throw corrupt("values nested deeper than any writer encodes");
    const view = this.#view;
    const tag = view.getUint8(this.#take(1));
    switch (tag) {
      case TAG_UNDEFINED:
        return undefined;
      case TAG_NULL:
        return null;
      case TAG_FALSE:
        return false;
      case TAG_TRUE:
        return true;
      case TAG_NUMBER:
        return view.getFloat64(this.#take(8));
      case TAG_STRING:
        return this.#string();
      case TAG_BIGINT:
        return BigInt(this.#string());
      case TAG_ARRAY: {
        const length = view.getUint32(this.#take(4));
        // Every item takes a byte at least: a longer count cannot be honest.
        if (length > this.#end - this.#cursor) throw corrupt(`an array of ${length} items`);
        const array = new Array<unknown>(length);
        for (let i = 0; i < length; i++) array[i] = this.#decode(depth + 1);
        return array;
      }
      case TAG_OBJECT: {
        const count = view.getUint32(this.#take(4));
        if (count > this.#end - this.#cursor) throw corrupt(`an object of ${count} keys`);
        const object: Record<string, unknown> = {};
        for (let i = 0; i < count; i++) {
          const key = this.#string();
          const value = this.#decode(depth + 1);
          // Structured cloning makes "__proto__" an own property; assignment would set the prototype.
          if (key === "__proto__") {
            Object.defineProperty(object, key, {
              value,
              enumerable: true,
              writable: true,
              configurable: true,
            });
          } else {
            object[key] = value;
          }
        }
        return object;
      }
      default:
        throw corrupt(`unknown tag ${tag}`);
    }
  }

  #string(): string {
    const view = this.#view;
    const length = view.getUint32(this.#take(4));
    if (length > (this.#end - this.#cursor) / 2) throw corrupt(`a string of ${length} units`);
    let at = this.#take(2 * length);
    const units = new Array<number>(length);
    for (let i = 0; i < length; i++, at += 2) units[i] = view.getUint16(at);
    return String.fromCharCode(...units);
  }
}

function corrupt(what: string): RangeError {
  return new RangeError(`Cannot decode a channel record: ${what}; the ring is corrupt`);
}

/**
 * Encodes a payload between `at` and `end`.
 *
 * @returns The encoded length, or -1 when it cannot travel in a record.
 */
function encodeInto(view: DataView, at: number, end: number, payload: unknown): number {
  let after: number;
  try {
    after = encodeValue(view, at, end, payload, 0);
  } catch {
    // A getter that throws: let structured cloning report it the standard way.
    return -1;
  }
  return after < 0 ? -1 : after - at;
}

const TAG_UNDEFINED = 0;
const TAG_NULL = 1;
const TAG_FALSE = 2;
const TAG_TRUE = 3;
const TAG_NUMBER = 4;
const TAG_STRING = 5;
const TAG_ARRAY = 6;
const TAG_OBJECT = 7;
const TAG_BIGINT = 8;
/** Deeper values (and cycles) go by structured cloning. */
const MAX_DEPTH = 8;

/**
 * Encodes `value` at `at` if it is plain data that this codec reproduces
 * exactly as structured cloning would: `undefined`, `null`, booleans,
 * numbers (`-0` and `NaN` included), strings (as UTF-16 units, so lone
 * surrogates survive), bigints, dense arrays without extra properties, and
 * objects whose prototype is `Object.prototype` or `null`, nested at most 8
 * deep. Anything else returns -1 and goes by `postMessage`.
 *
 * @param view The buffer.
 * @param at Where to start.
 * @param end Where the record ends.
 * @param value What to encode.
 * @param depth Current nesting.
 * @returns The offset after the value, or -1.
 */
export function encodeValue(view: DataView, at: number, end: number, value: unknown, depth: number): number {
  switch (typeof value) {
    case "undefined":
      return tag(view, at, end, TAG_UNDEFINED);
    case "boolean":
      return tag(view, at, end, value ? TAG_TRUE : TAG_FALSE);
    case "number":
      if (at + 9 > end) return -1;
      view.setUint8(at, TAG_NUMBER);
      view.setFloat64(at + 1, value);
      return at + 9;
    case "string":
      return encodeString(view, at, end, TAG_STRING, value);
    case "bigint":
      return encodeString(view, at, end, TAG_BIGINT, value.toString());
    case "object": {
      if (value === null) return tag(view, at, end, TAG_NULL);
      if (depth >= MAX_DEPTH || at + 5 > end) return -1;
      if (Array.isArray(value)) return encodeArray(view, at, end, value, depth);
      const prototype = Object.getPrototypeOf(value);
      if (prototype !== Object.prototype && prototype !== null) return -1;
      const keys = Object.keys(value);
      view.setUint8(at, TAG_OBJECT);
      view.setUint32(at + 1, keys.length);
      at += 5;
      for (const key of keys) {
        at = encodeText(view, at, end, key);
        if (at < 0) return -1;
        at = encodeValue(view, at, end, (value as Record<string, unknown>)[key], depth + 1);
        if (at < 0) return -1;
      }
      return at;
    }
    default:
      return -1;
  }
}

function encodeArray(view: DataView, at: number, end: number, value: unknown[], depth: number): number {
  if (Object.getPrototypeOf(value) !== Array.prototype) return -1;
  const length = value.length;
  // Every item takes at least a byte: a longer array cannot fit, so skip the key scan.
  if (length > end - at - 5) return -1;
  // Holes and extra properties are kept by structured cloning, not here.
  if (Object.keys(value).length !== length) return -1;
  view.setUint8(at, TAG_ARRAY);
  view.setUint32(at + 1, length);
  at += 5;
  for (let i = 0; i < length; i++) {
    at = encodeValue(view, at, end, value[i], depth + 1);
    if (at < 0) return -1;
  }
  return at;
}

function tag(view: DataView, at: number, end: number, value: number): number {
  if (at + 1 > end) return -1;
  view.setUint8(at, value);
  return at + 1;
}

/** Writes a tag byte, then the text. */
function encodeString(view: DataView, at: number, end: number, tagValue: number, text: string): number {
  if (at + 1 > end) return -1;
  view.setUint8(at, tagValue);
  return encodeText(view, at + 1, end, text);
}

/** Writes a u32 length and the UTF-16 units (object keys have no tag). */
function encodeText(view: DataView, at: number, end: number, text: string): number {
  const length = text.length;
  if (at + 4 + 2 * length > end) return -1;
  view.setUint32(at, length);
  at += 4;
  for (let i = 0; i < length; i++, at += 2) view.setUint16(at, text.charCodeAt(i));
  return at;
}
