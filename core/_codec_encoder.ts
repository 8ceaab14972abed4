/**
 * The encoding side of the codec: the check that JSON carries a value
 * faithfully (the fast path), and the encoder that writes the tagged tree
 * (`_codec_format.ts`) for everything else, refusing what structured cloning
 * refuses with a `DataCloneError`. It runs on the side that sends, on values
 * the sender's own code built.
 *
 * @module
 */

import { serializeError } from "./_protocol.ts";
import {
  BUDGET,
  countJson,
  isArray,
  MAX_BIGINT_DIGITS,
  MAX_DEPTH,
  overJsonBudget,
  stringify,
  type Tree,
  VIEWS,
  WIDE_KEYS_LIMIT,
  wideKeysOf,
} from "./_codec_format.ts";

// Captured when the runtime loads, before any generation code can replace them.
const keys = Object.keys;
const getPrototypeOf = Object.getPrototypeOf;
const is = Object.is;
const isView = ArrayBuffer.isView;
const toStringTag = Object.prototype.toString;
const OBJECT_PROTOTYPE = Object.prototype;
const ARRAY_PROTOTYPE = Array.prototype;

/** Nesting the plain check follows before it leaves the value to the tagged encoder. */
const PLAIN_DEPTH = 100;

/**
 * The longest string (or key) the plain check lets through, in characters:
 * a longer one goes to the tagged encoder, which measures it against the
 * caller's limit before anything stringifies it. 64 Mi characters: what a
 * worker or process channel carries, and at two bytes each well under
 * {@linkcode MAX_STRING_BYTES}.
 */
const PLAIN_STRING = 64 * 1024 * 1024;

/**
 * The most bytes one string may hold when `JSON.stringify` writes it. On
 * Deno 2.9.6 (measured), stringifying one flat string of about 2^28 bytes
 * (2^28 one-byte characters, 2^27 two-byte ones; the base64 of a 192 MiB
 * buffer) is no exception but "Fatal process out of memory: Zone": the
 * whole process ends, the host's with a worker's. Kept 1 MiB below that.
 */
const MAX_STRING_BYTES = 2 ** 28 - 2 ** 20;

/** A string with a character past U+00FF: V8 keeps it at two bytes a character. */
const TWO_BYTE = /[\u0100-\uffff]/;

/**
 * Encodes a value as JSON text when JSON carries it faithfully, else as `~`
 * and the tagged tree. `undefined` is left to the caller.
 *
 * @throws {DOMException} `DataCloneError` for a value that cannot cross.
 * @throws {RangeError} For a value past the budget, or holding a string or
 *   buffer too long to encode.
 */
export function encodeDefined(value: unknown): string {
  return encodeWithin(value, Infinity) as string;
}

/**
 * {@linkcode encodeDefined}, for a channel that carries at most `limit`
 * characters: the strings and buffers of a tagged value are counted as the
 * encoder meets them, before any is encoded, and once they alone pass
 * `limit` it stops, returning their count (so a buffer of hundreds of MiB is
 * never turned into text). The text is returned otherwise, which may still
 * be longer than `limit`: the caller checks its length.
 *
 * @throws {DOMException} `DataCloneError` for a value that cannot cross.
 * @throws {RangeError} As {@linkcode encodeDefined}.
 */
export function encodeWithin(value: unknown, limit: number): string | number {
  let text: string;
  if (isPlain(value, 0, undefined)) {
    text = stringify(value);
  } else {
    try {
      text = "~" + stringify(new Encoder(limit).encode(value, 0));
    } catch (error) {
      if (error instanceof OverLimit) return error.chars;
      throw error;
    }
  }
  // What the decoder counts before it parses, counted here the same way: a
  // value within the budget always crosses, one past it fails here, as a
  // clone error would, rather than be refused by the host as malformed.
  if (text.length > 2 * MAX_DEPTH) {
    const over = overJsonBudget(countJson(text));
    if (over !== undefined) throw overBudget(over);
  }
  return text;
}

/**
 * Whether JSON carries `value` as structured cloning would: finite numbers
 * other than `-0`, strings, booleans, null, and arrays and plain objects of
 * those, each object reached once.
 */
/** An array index as `Object.keys` names it. */
const ARRAY_INDEX = /^(?:0|[1-9]\d*)$/;

/**
 * Kinds (`Object.prototype.toString` tags) structured cloning refuses, as
 * measured on Deno 2.9.6, that would otherwise cross as `{}`: Deno's web
 * objects whose state is internal. Kinds it refuses by pattern: generators
 * and iterators (their helpers too) and `Intl` objects.
 */
const UNCLONEABLE_KINDS: ReadonlySet<string> = new Set([
  "URL",
  "URLSearchParams",
  "Headers",
  "Request",
  "Response",
  "ReadableStream",
  "WritableStream",
  "TransformStream",
  // Transferable only (found by a review): a result, which transfers nothing, cannot carry one.
  "MessagePort",
]);
const UNCLONEABLE_KIND = /Generator|Iterator|^Intl\./;

function isPlain(value: unknown, depth: number, seen: Set<object> | undefined): boolean {
  switch (typeof value) {
    case "string":
      return value.length <= PLAIN_STRING;
    case "boolean":
      return true;
    case "number":
      return value === value && value !== Infinity && value !== -Infinity && !is(value, -0);
    case "object": {
      if (value === null) return true;
      if (depth > PLAIN_DEPTH) return false;
      // A second reference to an object must stay one object: the tagged form
      // keeps identity. The top level is not recorded (it can only recur
      // through a cycle, which the depth bound catches): the set is made
      // when the first nested object is met, so a call with an array of
      // primitives allocates none.
      if (seen !== undefined) {
        if (seen.has(value)) return false;
        seen.add(value);
      }
      const prototype = getPrototypeOf(value);
      if (isArray(value)) {
        if (prototype !== ARRAY_PROTOTYPE) return false;
        const list = value as unknown[];
        // Properties beside the items (structured cloning keeps them) go tagged.
        if (keys(list).length !== list.length) return false;
        // A hole reads as undefined, which is not plain: sparse arrays go tagged.
        for (let i = 0; i < list.length; i++) {
          const item = list[i];
          if (seen === undefined && typeof item === "object" && item !== null) seen = new Set();
          if (!isPlain(item, depth + 1, seen)) return false;
        }
        return true;
      }
      if (prototype !== OBJECT_PROTOTYPE && prototype !== null) return false;
      const record = value as Record<string, unknown>;
      const names = keys(record);
      for (let i = 0; i < names.length; i++) {
        const name = names[i]!;
        if (name.length > PLAIN_STRING) return false;
        const item = record[name];
        if (seen === undefined && typeof item === "object" && item !== null) seen = new Set();
        if (!isPlain(item, depth + 1, seen)) return false;
      }
      return true;
    }
    default:
      return false;
  }
}

/** A value holding more than the channel carries; see `BUDGET`. */
function overBudget(what: string): RangeError {
  return new RangeError(
    `The value holds more than ${what}, more than one value may carry; return less, or return it in parts`,
  );
}

function cloneError(what: string): DOMException {
  return new DOMException(`${what} could not be cloned`, "DataCloneError");
}

/** Thrown by the encoder once the text it counted passes its limit; never leaves this module. */
class OverLimit {
  constructor(readonly chars: number) {}
}

/** Writes the tagged tree; containers are numbered in the order they are first met. */
class Encoder {
  readonly #ids = new Map<object, number>();
  #entries = 0;
  #costly = 0;
  /** Keys of wide objects, counted as they are written (see `BUDGET.wideKeys`). */
  #wideKeys = 0;
  /** Characters of strings and base64 counted so far: less than the text will have. */
  #chars = 0;
  readonly #limit: number;

  /** @param limit The characters past which encoding stops (see {@linkcode encodeWithin}). */
  constructor(limit: number) {
    this.#limit = limit;
  }

  /**
   * Counts a string of `length` characters (its quotes too), before anything
   * writes it, and refuses one `JSON.stringify` cannot write: base64 is
   * one-byte text, `text` (when given) is looked at only when long.
   */
  #text(length: number, text?: string): void {
    this.#chars += length + 2;
    if (this.#chars > this.#limit) throw new OverLimit(this.#chars);
    if (length <= MAX_STRING_BYTES / 2) return;
    if (length > MAX_STRING_BYTES || (text !== undefined && TWO_BYTE.test(text))) {
      throw overBudget(
        text === undefined
          ? `${Math.floor(MAX_STRING_BYTES * 3 / 4 / 2 ** 20)} MiB in one buffer`
          : `${MAX_STRING_BYTES / 2 ** 20} MiB in one string`,
      );
    }
  }

  encode(value: unknown, depth: number): Tree {
    switch (typeof value) {
      case "string":
        this.#text(value.length, value);
        return value;
      case "boolean":
        return value;
      case "number":
        if (value !== value) return ["N", "NaN"];
        if (value === Infinity) return ["N", "Infinity"];
        if (value === -Infinity) return ["N", "-Infinity"];
        if (is(value, -0)) return ["N", "-0"];
        return value;
      case "undefined":
        return ["U"];
      case "bigint": {
        const digits = (value < 0n ? -value : value).toString(16);
        // The decoder reads at most 2^20 hex digits (4 Mbit): a larger one fails here, not there.
        if (digits.length > MAX_BIGINT_DIGITS) {
          throw overBudget(`${MAX_BIGINT_DIGITS * 4} bits in one bigint`);
        }
        this.#text(digits.length + 1);
        return ["I", value < 0n ? `-${digits}` : digits];
      }
      case "object":
        if (value === null) return null;
        return this.#object(value, depth);
      case "function":
        throw cloneError(`function ${value.name || "(anonymous)"}`);
      default:
        throw cloneError(`a ${typeof value}`);
    }
  }

  #object(value: object, depth: number): Tree {
    const known = this.#ids.get(value);
    if (known !== undefined) return ["R", known];
    if (depth > MAX_DEPTH) throw cloneError(`a value nested deeper than ${MAX_DEPTH} levels`);
    this.#ids.set(value, this.#ids.size);
    if (this.#ids.size > BUDGET.objects) throw overBudget(`${BUDGET.objects} objects`);
    const next = depth + 1;
    if (isArray(value)) return this.#array(value, next);
    if (value instanceof Error) {
      if (++this.#costly > BUDGET.costly) throw overBudget(`${BUDGET.costly} errors and regular expressions`);
      return ["E", serializeError(value) as unknown as Tree];
    }
    const kind = toStringTag.call(value).slice(8, -1);
    if (isView(value)) {
      const buffer = this.encode(value.buffer, next);
      if (kind === "DataView") return ["V", buffer, value.byteOffset, value.byteLength];
      if (!Object.hasOwn(VIEWS, kind)) throw cloneError(`a ${kind}`);
      return ["T", kind, buffer, value.byteOffset, (value as unknown as { length: number }).length];
    }
    switch (kind) {
      case "ArrayBuffer": {
        const bytes = new Uint8Array(value as ArrayBuffer);
        // Measured before it is made: base64 of a large buffer could be too long to stringify.
        this.#text(Math.ceil(bytes.length / 3) * 4);
        return ["B", bytes.toBase64()];
      }
      case "Date":
        return ["D", this.encode(Date.prototype.getTime.call(value), next)];
      case "RegExp": {
        if (++this.#costly > BUDGET.costly) {
          throw overBudget(`${BUDGET.costly} errors and regular expressions`);
        }
        const { source, flags } = value as RegExp;
        if (typeof source === "string") this.#text(source.length, source);
        if (typeof flags === "string") this.#text(flags.length, flags);
        return ["X", source, flags];
      }
      case "Map": {
        this.#count((value as Map<unknown, unknown>).size);
        const tree: Tree[] = ["M"];
        for (const [key, item] of value as Map<unknown, unknown>) {
          tree.push(this.encode(key, next), this.encode(item, next));
        }
        return tree;
      }
      case "Set": {
        this.#count((value as Set<unknown>).size);
        const tree: Tree[] = ["S"];
        for (const item of value as Set<unknown>) tree.push(this.encode(item, next));
        return tree;
      }
      case "Boolean":
      case "Number":
      case "String":
      case "BigInt":
        return ["P", this.encode((value as { valueOf(): unknown }).valueOf(), next)];
      case "Promise":
      case "WeakMap":
      case "WeakSet":
      case "WeakRef":
      case "FinalizationRegistry":
      case "SharedArrayBuffer":
      case "Blob":
      case "File":
        throw cloneError(`a ${kind}`);
    }
    // Objects structured cloning refuses although they hold no data it could
    // copy (their state is internal): they would cross as `{}`, silently.
    if (UNCLONEABLE_KINDS.has(kind) || UNCLONEABLE_KIND.test(kind)) {
      throw cloneError(`${/^[AEIOU]/.test(kind) ? "an" : "a"} ${kind}`);
    }
    // Any other object crosses as its own enumerable string-keyed properties, as with structured cloning.
    const tree: Tree[] = ["O"];
    const record = value as Record<string, unknown>;
    const names = keys(record);
    this.#wideKeys += wideKeysOf(names.length);
    if (this.#wideKeys > BUDGET.wideKeys) throw overBudget(WIDE_KEYS_LIMIT);
    for (let i = 0; i < names.length; i++) {
      const name = names[i]!;
      this.#text(name.length, name);
      tree.push(name, this.encode(record[name], next));
    }
    return tree;
  }

  /** Counts the entries of a map or set. */
  #count(entries: number): void {
    this.#entries += entries;
    if (this.#entries > BUDGET.entries) throw overBudget(`${BUDGET.entries} entries of maps and sets`);
  }

  #array(list: unknown[], depth: number): Tree {
    const names = keys(list);
    // Every item present and nothing beside them: the dense form.
    let dense = names.length === list.length;
    for (let i = 0; i < list.length && dense; i++) dense = i in list;
    if (dense) {
      const tree: Tree[] = ["A"];
      for (let i = 0; i < list.length; i++) tree.push(this.encode(list[i], depth));
      return tree;
    }
    // Holes, or properties beside the items: by index (a number) or by name (a string).
    const tree: Tree[] = ["H", list.length];
    for (let i = 0; i < names.length; i++) {
      const name = names[i]!;
      this.#text(name.length, name);
      tree.push(
        ARRAY_INDEX.test(name) ? Number(name) : name,
        this.encode(list[name as unknown as number], depth),
      );
    }
    return tree;
  }
}
