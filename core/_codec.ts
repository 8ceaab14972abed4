/**
 * Values as text, for the process channel: what structured cloning carries
 * for plain data (`undefined`, `NaN`, `-0`, bigints, dates, regular
 * expressions, maps, sets, array buffers and views, sparse arrays, shared
 * and cyclic references), errors as `SerializedError` records, and a
 * `DataCloneError` for what cannot cross (functions, symbols, promises,
 * weak collections).
 *
 * Why not `node:v8` serialize: measured on Deno 2.9.6 it costs 11-13 µs for
 * a small message each way, against about 1 µs for `JSON`. So a value that
 * JSON carries faithfully is sent as plain JSON text (the common case, one
 * check walk plus `JSON.stringify`); anything else is sent as a tagged tree,
 * marked by a leading `~`, which no JSON text starts with.
 *
 * Decoding runs in the host on text a generation wrote: it validates every
 * node and throws on anything it does not expect, and the caller treats
 * that as a protocol violation. Imported on both sides of the channel, so it
 * imports nothing host-only.
 *
 * @module
 */

import { rebuildError, serializeError } from "./_protocol.ts";
import { checkSerializedError } from "./_worker_messages.ts";

// Captured when the runtime loads, before any generation code can replace them.
const stringify = JSON.stringify;
const parse = JSON.parse;
const isArray = Array.isArray;
const keys = Object.keys;
const getPrototypeOf = Object.getPrototypeOf;
const is = Object.is;
const isView = ArrayBuffer.isView;
const toStringTag = Object.prototype.toString;
const OBJECT_PROTOTYPE = Object.prototype;
const ARRAY_PROTOTYPE = Array.prototype;

/** Nesting a value may have; deeper ones fail to encode like a clone error. */
const MAX_DEPTH = 1_000;
/** Nesting the plain check follows before it leaves the value to the tagged encoder. */
const PLAIN_DEPTH = 100;

const VIEWS: Readonly<
  Record<string, new (buffer: ArrayBuffer, offset: number, length: number) => ArrayBufferView>
> = {
  Int8Array,
  Uint8Array,
  Uint8ClampedArray,
  Int16Array,
  Uint16Array,
  Int32Array,
  Uint32Array,
  Float32Array,
  Float64Array,
  BigInt64Array,
  BigUint64Array,
  ...(typeof Float16Array === "function" ? { Float16Array } : {}),
};

/**
 * Encodes a value as text: `""` for `undefined`, JSON when JSON carries it
 * faithfully, else `~` and a tagged tree.
 *
 * @throws {DOMException} `DataCloneError` for a value that cannot cross.
 */
export function encodeValue(value: unknown): string {
  if (value === undefined) return "";
  if (isPlain(value, 0, undefined)) return stringify(value);
  return "~" + stringify(new Encoder().encode(value, 0));
}

/**
 * Decodes text from {@linkcode encodeValue}.
 *
 * @throws {Error} When the text is not what `encodeValue` writes.
 */
export function decodeValue(text: string): unknown {
  if (text === "") return undefined;
  // JSON.parse is not recursive, so it would build a value millions of
  // levels deep, spending seconds doing it: refuse what the encoder never writes.
  if (text.length > 2 * MAX_DEPTH) assertShallow(text);
  if (text.charCodeAt(0) === 0x7e) return new Decoder().decode(parse(text.slice(1)), 0);
  return parse(text);
}

/** Throws unless the JSON text nests at most as deep as the encoder writes. */
function assertShallow(text: string): void {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const char = text.charCodeAt(i);
    if (inString) {
      if (char === 0x5c) i++;
      else if (char === 0x22) inString = false;
    } else if (char === 0x22) {
      inString = true;
    } else if (char === 0x5b || char === 0x7b) {
      // One level per container, and a few for the tag of the top and the causes of an error.
      if (++depth > MAX_DEPTH + 16) throw malformed("the nesting");
    } else if (char === 0x5d || char === 0x7d) {
      depth--;
    }
  }
}

/**
 * Throws what encoding `value` would throw, so a handle's data member that
 * cannot cross is named at load time.
 *
 * @throws {DOMException} `DataCloneError`.
 */
export function assertEncodable(value: unknown): void {
  encodeValue(value);
}

/**
 * Whether JSON carries `value` as structured cloning would: finite numbers
 * other than `-0`, strings, booleans, null, and arrays and plain objects of
 * those, each object reached once.
 */
function isPlain(value: unknown, depth: number, seen: Set<object> | undefined): boolean {
  switch (typeof value) {
    case "string":
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
        const item = record[names[i]!];
        if (seen === undefined && typeof item === "object" && item !== null) seen = new Set();
        if (!isPlain(item, depth + 1, seen)) return false;
      }
      return true;
    }
    default:
      return false;
  }
}

type Tree = null | boolean | number | string | Tree[];

function cloneError(what: string): DOMException {
  return new DOMException(`${what} could not be cloned`, "DataCloneError");
}

/** Writes the tagged tree; containers are numbered in the order they are first met. */
class Encoder {
  readonly #ids = new Map<object, number>();

  encode(value: unknown, depth: number): Tree {
    switch (typeof value) {
      case "string":
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
      case "bigint":
        return ["I", value.toString()];
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
    const next = depth + 1;
    if (isArray(value)) return this.#array(value, next);
    if (value instanceof Error) return ["E", serializeError(value) as unknown as Tree];
    const kind = toStringTag.call(value).slice(8, -1);
    if (isView(value)) {
      const buffer = this.encode(value.buffer, next);
      if (kind === "DataView") return ["V", buffer, value.byteOffset, value.byteLength];
      if (!Object.hasOwn(VIEWS, kind)) throw cloneError(`a ${kind}`);
      return ["T", kind, buffer, value.byteOffset, (value as unknown as { length: number }).length];
    }
    switch (kind) {
      case "ArrayBuffer":
        return ["B", new Uint8Array(value as ArrayBuffer).toBase64()];
      case "Date":
        return ["D", this.encode(Date.prototype.getTime.call(value), next)];
      case "RegExp":
        return ["X", (value as RegExp).source, (value as RegExp).flags];
      case "Map": {
        const tree: Tree[] = ["M"];
        for (const [key, item] of value as Map<unknown, unknown>) {
          tree.push(this.encode(key, next), this.encode(item, next));
        }
        return tree;
      }
      case "Set": {
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
    // Any other object crosses as its own enumerable string-keyed properties, as with structured cloning.
    const tree: Tree[] = ["O"];
    const record = value as Record<string, unknown>;
    const names = keys(record);
    for (let i = 0; i < names.length; i++) tree.push(names[i]!, this.encode(record[names[i]!], next));
    return tree;
  }

  #array(list: unknown[], depth: number): Tree {
    let dense = true;
    for (let i = 0; i < list.length && dense; i++) dense = i in list;
    if (dense) {
      const tree: Tree[] = ["A"];
      for (let i = 0; i < list.length; i++) tree.push(this.encode(list[i], depth));
      return tree;
    }
    const tree: Tree[] = ["H", list.length];
    const names = keys(list);
    for (let i = 0; i < names.length; i++) {
      const index = Number(names[i]);
      if (Number.isInteger(index) && index >= 0) tree.push(index, this.encode(list[index], depth));
    }
    return tree;
  }
}

/** Reads a tagged tree, checking every node: a malformed one throws. */
class Decoder {
  readonly #refs: unknown[] = [];

  decode(tree: unknown, depth: number): unknown {
    if (tree === null || typeof tree === "string" || typeof tree === "boolean" || typeof tree === "number") {
      return tree;
    }
    if (!isArray(tree) || tree.length === 0 || typeof tree[0] !== "string") throw malformed("a node");
    if (depth > MAX_DEPTH) throw malformed("the nesting");
    const next = depth + 1;
    const tag = tree[0];
    switch (tag) {
      case "U":
        return undefined;
      case "N":
        return special(tree[1]);
      case "I":
        if (typeof tree[1] !== "string" || !/^-?\d{1,100000}$/.test(tree[1])) throw malformed("a bigint");
        return BigInt(tree[1]);
      case "R": {
        const index = tree[1];
        if (
          typeof index !== "number" || !Number.isInteger(index) || index < 0 || index >= this.#refs.length
        ) {
          throw malformed("a reference");
        }
        return this.#refs[index];
      }
    }
    const id = this.#refs.length;
    this.#refs.push(undefined);
    switch (tag) {
      case "A": {
        const list: unknown[] = [];
        this.#refs[id] = list;
        for (let i = 1; i < tree.length; i++) list.push(this.decode(tree[i], next));
        return list;
      }
      case "H": {
        const length = tree[1];
        if (typeof length !== "number" || !Number.isInteger(length) || length < 0 || length > 0xffffffff) {
          throw malformed("a sparse array");
        }
        const list: unknown[] = [];
        list.length = length;
        this.#refs[id] = list;
        for (let i = 2; i + 1 < tree.length; i += 2) {
          const index = tree[i];
          if (typeof index !== "number" || !Number.isInteger(index) || index < 0 || index >= length) {
            throw malformed("a sparse array index");
          }
          list[index] = this.decode(tree[i + 1], next);
        }
        return list;
      }
      case "O": {
        const record: Record<string, unknown> = {};
        this.#refs[id] = record;
        for (let i = 1; i + 1 < tree.length; i += 2) {
          const key = tree[i];
          if (typeof key !== "string") throw malformed("an object key");
          // defineProperty: "__proto__" stays an own property, as a clone has it.
          Object.defineProperty(record, key, {
            value: this.decode(tree[i + 1], next),
            enumerable: true,
            writable: true,
            configurable: true,
          });
        }
        return record;
      }
      case "M": {
        const map = new Map<unknown, unknown>();
        this.#refs[id] = map;
        for (let i = 1; i + 1 < tree.length; i += 2) {
          map.set(this.decode(tree[i], next), this.decode(tree[i + 1], next));
        }
        return map;
      }
      case "S": {
        const set = new Set<unknown>();
        this.#refs[id] = set;
        for (let i = 1; i < tree.length; i++) set.add(this.decode(tree[i], next));
        return set;
      }
      case "D": {
        const time = this.decode(tree[1], next);
        if (typeof time !== "number") throw malformed("a date");
        return this.#refs[id] = new Date(time);
      }
      case "X":
        if (typeof tree[1] !== "string" || typeof tree[2] !== "string") {
          throw malformed("a regular expression");
        }
        return this.#refs[id] = new RegExp(tree[1], tree[2]);
      case "B": {
        if (typeof tree[1] !== "string") throw malformed("an array buffer");
        return this.#refs[id] = Uint8Array.fromBase64(tree[1]).buffer;
      }
      case "T":
      case "V":
        return this.#refs[id] = this.#view(tree, next);
      case "E":
        return this.#refs[id] = rebuildError(checkSerializedError(tree[1]));
      case "P": {
        const primitive = this.decode(tree[1], next);
        if (typeof primitive === "object" || typeof primitive === "undefined") {
          throw malformed("a boxed primitive");
        }
        return this.#refs[id] = Object(primitive);
      }
    }
    throw malformed(`tag ${stringify(tag).slice(0, 20)}`);
  }

  #view(tree: unknown[], depth: number): ArrayBufferView {
    const isData = tree[0] === "V";
    const buffer = this.decode(tree[isData ? 1 : 2], depth);
    const offset = tree[isData ? 2 : 3];
    const length = tree[isData ? 3 : 4];
    if (
      !(buffer instanceof ArrayBuffer) || typeof offset !== "number" || typeof length !== "number" ||
      !Number.isInteger(offset) || !Number.isInteger(length) || offset < 0 || length < 0
    ) {
      throw malformed("a view");
    }
    // Out-of-range offsets or lengths throw a RangeError here, which is a violation too.
    if (isData) return new DataView(buffer, offset, length);
    const kind = tree[1];
    if (typeof kind !== "string" || !Object.hasOwn(VIEWS, kind)) throw malformed("a typed array kind");
    return new VIEWS[kind]!(buffer, offset, length);
  }
}

function special(text: unknown): number {
  switch (text) {
    case "NaN":
      return NaN;
    case "Infinity":
      return Infinity;
    case "-Infinity":
      return -Infinity;
    case "-0":
      return -0;
  }
  throw malformed("a special number");
}

function malformed(what: string): Error {
  return new Error(`Malformed value: ${what} is not what the encoder writes`);
}
