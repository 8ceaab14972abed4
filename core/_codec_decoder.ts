/**
 * The decoding side of the codec. It runs in the host on text a generation
 * wrote, so it trusts nothing: the text's nesting is bounded before
 * `JSON.parse` sees it, every node of the tagged tree (`_codec_format.ts`)
 * is checked, and anything the encoder never writes throws, which the caller
 * treats as a protocol violation.
 *
 * @module
 */

import { GUEST_CODES, rebuildError } from "./_protocol.ts";
import { checkSerializedError } from "./_worker_messages.ts";
import {
  BUDGET,
  countJson,
  isArray,
  MAX_BIGINT_DIGITS,
  MAX_DEPTH,
  MAX_TEXT_DEPTH,
  overJsonBudget,
  stringify,
  VIEWS,
  WIDE_KEYS_LIMIT,
  wideKeysOf,
} from "./_codec_format.ts";

// Captured when the runtime loads, before any generation code can replace them.
const parse = JSON.parse;

/** A bigint as the encoder writes it: lower-case hex, at most 2^20 digits (4 Mbit), parsed in linear time. */
const BIGINT_HEX = new RegExp(`^-?[0-9a-f]{1,${MAX_BIGINT_DIGITS}}$`);

/**
 * Decodes non-empty text from `encodeDefined`: JSON, or `~` and a tagged tree.
 *
 * @throws {Error} When the text is not what the encoder writes.
 */
export function decodeDefined(text: string): unknown {
  // JSON.parse is not recursive, so it would build a value millions of
  // levels deep, spending seconds doing it: refuse what the encoder never writes.
  if (text.length > 2 * MAX_DEPTH) assertShallow(text);
  if (text.charCodeAt(0) === 0x7e) return new Decoder().decode(parse(text.slice(1)), 0);
  return parse(text);
}

/**
 * Decodes an error record a process wrote (`_process_protocol.ts`'s
 * `ERROR`), its nesting bounded first as {@linkcode decodeDefined} bounds
 * a value's: its causes and fields nest a few dozen levels at most.
 *
 * @throws {Error} When the text nests deeper, or is not JSON.
 */
export function decodeErrorRecord(text: string): unknown {
  assertShallow(text);
  return parse(text);
}

/**
 * Throws unless the JSON text nests at most as deep, and holds at most as
 * many containers and keys, as the encoder writes: `JSON.parse` builds
 * all of it before any other check, on the host's thread (a generation's
 * getter that answers twice made 16.7 million arrays of a value checked as
 * small, 6.6 s to parse).
 */
function assertShallow(text: string): void {
  const counts = countJson(text);
  // One level per container, and a few for the tag of the top and the causes of an error.
  if (counts.depth > MAX_TEXT_DEPTH) throw malformed("the nesting");
  const over = overJsonBudget(counts);
  if (over !== undefined) throw malformed(`a text of more than ${over}`);
}

/** Reads a tagged tree, checking every node: a malformed one throws. */
class Decoder {
  readonly #refs: unknown[] = [];
  #entries = 0;
  #costly = 0;
  /** Keys of wide tagged objects, counted before each is built (see `BUDGET.wideKeys`). */
  #wideKeys = 0;

  decode(tree: unknown, depth: number): unknown {
    if (tree === null || typeof tree === "string" || typeof tree === "boolean" || typeof tree === "number") {
      return tree;
    }
    if (!isArray(tree) || tree.length === 0 || typeof tree[0] !== "string") throw malformed("a node");
    const next = depth + 1;
    const tag = tree[0];
    switch (tag) {
      case "U":
        return undefined;
      case "N":
        return special(tree[1]);
      case "I":
        if (typeof tree[1] !== "string" || !BIGINT_HEX.test(tree[1])) throw malformed("a bigint");
        return tree[1].startsWith("-") ? -BigInt(`0x${tree[1].slice(1)}`) : BigInt(`0x${tree[1]}`);
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
    // Only containers count toward the bound, as in the encoder: a leaf such
    // as `["U"]` may sit one level below the deepest container.
    if (depth > MAX_DEPTH) throw malformed("the nesting");
    const id = this.#refs.length;
    if (id >= BUDGET.objects) throw malformed(`more than ${BUDGET.objects} objects`);
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
          if (typeof index === "string" && !/^(?:0|[1-9]\d*)$/.test(index)) {
            // A property beside the items, defined as an object's are (see "O").
            Object.defineProperty(list, index, {
              value: this.decode(tree[i + 1], next),
              enumerable: true,
              writable: true,
              configurable: true,
            });
            continue;
          }
          if (typeof index !== "number" || !Number.isInteger(index) || index < 0 || index >= length) {
            throw malformed("a sparse array index");
          }
          list[index] = this.decode(tree[i + 1], next);
        }
        return list;
      }
      case "O": {
        this.#wideKeys += wideKeysOf((tree.length - 1) >> 1);
        if (this.#wideKeys > BUDGET.wideKeys) throw malformed(`more than ${WIDE_KEYS_LIMIT}`);
        const record: Record<string, unknown> = {};
        this.#refs[id] = record;
        for (let i = 1; i + 1 < tree.length; i += 2) {
          const key = tree[i];
          if (typeof key !== "string") throw malformed("an object key");
          // defineProperty, not assignment: a "__proto__" key stays an own property, as a
          // clone has it. Deno has no `Object.prototype.__proto__` accessor by default, but
          // a host run with --unsafe-proto has one, and there assigning would set the
          // record's prototype to an object the generation chose (tests/codec_proto_test.ts).
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
        this.#count((tree.length - 1) / 2);
        const map = new Map<unknown, unknown>();
        this.#refs[id] = map;
        for (let i = 1; i + 1 < tree.length; i += 2) {
          map.set(this.decode(tree[i], next), this.decode(tree[i + 1], next));
        }
        return map;
      }
      case "S": {
        this.#count(tree.length - 1);
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
        this.#costlyOne();
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
        this.#costlyOne();
        return this.#refs[id] = rebuildError(checkSerializedError(tree[1]), GUEST_CODES.value);
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

  #count(entries: number): void {
    this.#entries += entries;
    if (this.#entries > BUDGET.entries) {
      throw malformed(`more than ${BUDGET.entries} entries of maps and sets`);
    }
  }

  #costlyOne(): void {
    if (++this.#costly > BUDGET.costly) {
      throw malformed(`more than ${BUDGET.costly} errors and regular expressions`);
    }
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
