/**
 * The binary form of a value inside one record of the call ring
 * (`_rpc_channel.ts`): a tag byte, then a fixed-size number or a u32 count
 * and its items, big-endian, nothing outside the record's bytes.
 *
 * Kept apart from the ring because the two change for different reasons:
 * the ring is about who may touch which slot when; this file is about which
 * values a record reproduces exactly as structured cloning would, and about
 * decoding bytes that a hostile generation may have forged (SPEC 6.4), so
 * every read is checked against the record's end and every count against
 * the bytes left. Imported on both sides, so it imports nothing host-only.
 *
 * @module
 */

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
 * The error for bytes that no honest writer produces; the reader's owner
 * treats the ring as corrupt.
 *
 * @param what What was found, for the message.
 */
export function corruptRecord(what: string): RangeError {
  return new RangeError(`Cannot decode a channel record: ${what}; the ring is corrupt`);
}

/**
 * Encodes a payload between `at` and `end`, if it is plain data that this
 * codec reproduces exactly as structured cloning would: `undefined`, `null`,
 * booleans, numbers (`-0` and `NaN` included), strings (as UTF-16 units, so
 * lone surrogates survive), bigints, dense arrays without extra properties,
 * and objects whose prototype is `Object.prototype` or `null`, nested at
 * most 8 deep. Anything else goes by `postMessage`.
 *
 * @param view The buffer.
 * @param at Where to start.
 * @param end Where the record ends.
 * @param payload What to encode.
 * @returns The encoded length, or -1 when it cannot travel in a record.
 */
export function encodeRecord(view: DataView, at: number, end: number, payload: unknown): number {
  let after: number;
  try {
    after = encodeValue(view, at, end, payload, 0);
  } catch {
    // A getter that throws: let structured cloning report it the standard way.
    return -1;
  }
  return after < 0 ? -1 : after - at;
}

/** @returns The offset after the value, or -1. */
function encodeValue(view: DataView, at: number, end: number, value: unknown, depth: number): number {
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

/**
 * Reads values back from records of one buffer. Every read stays inside the
 * record being decoded, however the writer filled it: one reader object per
 * ring end, so decoding a record allocates nothing but the value.
 */
export class RecordDecoder {
  readonly #view: DataView;
  #cursor = 0;
  /** Where the record being decoded ends: no read goes past it. */
  #end = 0;

  /** @param view The buffer holding the records. */
  constructor(view: DataView) {
    this.#view = view;
  }

  /**
   * Decodes the value encoded at `at`.
   *
   * @param at Where the payload starts.
   * @param length The payload's length, already checked against the record's size.
   * @returns The value.
   * @throws {RangeError} When the bytes cannot be what {@linkcode encodeRecord} wrote.
   */
  decode(at: number, length: number): unknown {
    this.#cursor = at;
    this.#end = at + length;
    return this.#decode(0);
  }

  /** Moves the cursor past `bytes`, which must lie inside the record. */
  #take(bytes: number): number {
    const at = this.#cursor;
    if (at + bytes > this.#end) throw corruptRecord("a value running past its record");
    this.#cursor = at + bytes;
    return at;
  }

  #decode(depth: number): unknown {
    if (depth > MAX_DEPTH) throw corruptRecord("values nested deeper than any writer encodes");
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
        if (length > this.#end - this.#cursor) throw corruptRecord(`an array of ${length} items`);
        const array = new Array<unknown>(length);
        for (let i = 0; i < length; i++) array[i] = this.#decode(depth + 1);
        return array;
      }
      case TAG_OBJECT: {
        const count = view.getUint32(this.#take(4));
        if (count > this.#end - this.#cursor) throw corruptRecord(`an object of ${count} keys`);
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
        throw corruptRecord(`unknown tag ${tag}`);
    }
  }

  #string(): string {
    const view = this.#view;
    const length = view.getUint32(this.#take(4));
    if (length > (this.#end - this.#cursor) / 2) throw corruptRecord(`a string of ${length} units`);
    let at = this.#take(2 * length);
    const units = new Array<number>(length);
    for (let i = 0; i < length; i++, at += 2) units[i] = view.getUint16(at);
    return String.fromCharCode(...units);
  }
}
