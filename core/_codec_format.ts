/**
 * The tagged tree the codec writes for a value JSON cannot carry as is,
 * shared by the encoder (`_codec_encoder.ts`) and the decoder
 * (`_codec_decoder.ts`), which must agree on every node. A node is a JSON
 * primitive (itself), `null`, or an array whose first item is a tag:
 *
 * - `["U"]` undefined; `["N", "NaN" | "Infinity" | "-Infinity" | "-0"]`;
 *   `["I", hex]` a bigint, in hexadecimal (`-` before a negative one's):
 *   parsing decimal digits takes quadratic time, hex linear (100,000
 *   decimal digits: 4 ms against 0.13 ms, measured on 2.9.6), and the host
 *   decodes what a generation sends;
 * - `["R", id]` a second reference to the container numbered `id` (containers
 *   are numbered in the order they are first met, from 0);
 * - `["A", ...items]` an array; `["H", length, key, value, ...]` one with holes
 *   or with properties beside its items (an index is a number, a name a string);
 * - `["O", key, value, ...]` an object's own enumerable string-keyed properties;
 * - `["M", key, value, ...]` a map; `["S", ...items]` a set;
 * - `["D", time]` a date; `["X", source, flags]` a regular expression;
 * - `["B", base64]` an array buffer; `["T", kind, buffer, offset, length]`
 *   a typed array; `["V", buffer, offset, length]` a data view;
 * - `["E", SerializedError]` an error; `["P", primitive]` a boxed primitive.
 *
 * @module
 */

// Captured when the runtime loads, before any generation code can replace them.
export const stringify: typeof JSON.stringify = JSON.stringify;
export const isArray: typeof Array.isArray = Array.isArray;

/** A node of the tagged tree, as JSON carries it. */
export type Tree = null | boolean | number | string | Tree[];

/** Nesting a value may have; deeper ones fail to encode like a clone error. */
export const MAX_DEPTH = 1_000;

/**
 * What one value may hold, so that decoding it (on the host's thread) stays
 * short: measured on 2.9.6, a 64 MiB text of 4 million regular expressions
 * took 13.7 s to decode, of 1.3 million errors 12.2 s. Within these, a
 * decode takes about a second at most.
 */
export const BUDGET = {
  /** Objects, arrays, maps, sets and the other containers, all levels together. */
  objects: 1_000_000,
  /** Entries of maps and sets, all together. */
  entries: 2_000_000,
  /** Regular expressions and errors, the costliest to rebuild. */
  costly: 20_000,
  /**
   * Arrays and objects of the text, all levels together: what `JSON.parse`
   * builds before any of the checks above can run (each node of a tagged
   * tree is one). 16.7 million arrays in 42 MB of text took 6.6 s and about
   * 900 MiB; 2.1 million tag arrays 0.6 s. Keys are not counted: rows of
   * repeated keys parse fast (3 million in 0.3 s), and the 64 MiB cap bounds
   * distinct ones as it did before.
   */
  jsonContainers: 4_000_000,
  /**
   * Keys past the 1,024th of their object, all objects together, in the
   * JSON text or in a tagged object: V8 keeps such an object as a hash table,
   * and its distinct keys cost more the more there are (1 million in one
   * object parsed in 0.6 s; 5.7 million in 64 MiB blocked a host 10 s and
   * kept 1 GiB). Rows of a few repeated keys are not counted: they parse
   * fast (3 million in 0.3 s). Strings are not counted either: 64 MiB of
   * them costs what it costs an honest result. Not bounded (SECURITY.md):
   * many small objects whose key names all differ (6.4 million names in
   * 60 MiB took 30 s), which only counting distinct names would catch.
   */
  wideKeys: 1_000_000,
} as const;

/**
 * Nesting a text may have: a value's, a few levels for the tag of the top
 * and the causes of an error. The count stops past it (an array per level
 * would otherwise grow with a text of nothing but `[`).
 */
export const MAX_TEXT_DEPTH = MAX_DEPTH + 16;

/** Keys an object may have before each further one counts as a wide key (see `BUDGET.jsonWideKeys`). */
export const WIDE_OBJECT_KEYS = 1_024;

/** The most hex digits a bigint may have (4 Mbit): the decoder parses it in linear time. */
export const MAX_BIGINT_DIGITS = 1 << 20;

/** What a JSON text holds, counted in one pass over it. */
export interface JsonCounts {
  /** The deepest nesting of its arrays and objects. */
  readonly depth: number;
  /** Its arrays and objects. */
  readonly containers: number;
  /** Keys past the {@linkcode WIDE_OBJECT_KEYS}th of their object. */
  readonly wideKeys: number;
}

/**
 * Counts the nesting, the containers and the keys of wide objects of a JSON
 * text: linear, and far cheaper than parsing it (tens of milliseconds for
 * 64 MiB). A key is the string before a `:`, which outside strings only
 * follows a key. The count stops once the nesting passes
 * {@linkcode MAX_TEXT_DEPTH}, reporting that depth. The encoder measures
 * what it writes by it and the decoder what it reads, so a value the
 * encoder lets through is never refused.
 */
export function countJson(text: string): JsonCounts {
  let depth = 0;
  let deepest = 0;
  let containers = 0;
  let wideKeys = 0;
  /** Keys of the open object at each depth. */
  const keysAt = new Int32Array(MAX_TEXT_DEPTH + 2);
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const char = text.charCodeAt(i);
    if (inString) {
      if (char === 0x5c) i++;
      else if (char === 0x22) inString = false;
    } else if (char === 0x22) {
      inString = true;
    } else if (char === 0x3a) {
      if (++keysAt[depth]! > WIDE_OBJECT_KEYS) wideKeys++;
    } else if (char === 0x5b || char === 0x7b) {
      containers++;
      if (++depth > deepest) {
        deepest = depth;
        if (depth > MAX_TEXT_DEPTH) break;
      }
      keysAt[depth] = 0;
    } else if (char === 0x5d || char === 0x7d) {
      depth--;
    }
  }
  return { depth: deepest, containers, wideKeys };
}

/**
 * What in `counts` is past the budget, as the limit passed ("4000000
 * arrays and objects"): `undefined` when nothing is. Nesting is the
 * decoder's own check.
 */
export function overJsonBudget(counts: JsonCounts): string | undefined {
  if (counts.containers > BUDGET.jsonContainers) return `${BUDGET.jsonContainers} arrays and objects`;
  if (counts.wideKeys > BUDGET.wideKeys) return WIDE_KEYS_LIMIT;
  return undefined;
}

/** The limit passed by a value of too many keys in wide objects, as `overJsonBudget` says it. */
export const WIDE_KEYS_LIMIT = `${BUDGET.wideKeys} keys in objects of more than ${WIDE_OBJECT_KEYS} keys`;

/**
 * The keys of one object past {@linkcode WIDE_OBJECT_KEYS}: what a tagged
 * object adds to the count of `BUDGET.wideKeys` (the JSON text's objects are
 * counted by {@linkcode countJson}).
 */
export function wideKeysOf(keyCount: number): number {
  return keyCount > WIDE_OBJECT_KEYS ? keyCount - WIDE_OBJECT_KEYS : 0;
}

/** The typed array kinds that may cross, by `Symbol.toStringTag`. */
export const VIEWS: Readonly<
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
