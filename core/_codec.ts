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

import { encodeDefined } from "./_codec_encoder.ts";
import { decodeDefined } from "./_codec_decoder.ts";

// Encoding and decoding live apart (`_codec_encoder.ts`, `_codec_decoder.ts`),
// agreeing through `_codec_format.ts`: the decoder runs on a generation's
// text and is held to a stricter standard than the encoder.

/**
 * Encodes a value as text: `""` for `undefined`, JSON when JSON carries it
 * faithfully, else `~` and a tagged tree.
 *
 * @throws {DOMException} `DataCloneError` for a value that cannot cross.
 */
export function encodeValue(value: unknown): string {
  return value === undefined ? "" : encodeDefined(value);
}

/**
 * Decodes text from {@linkcode encodeValue}.
 *
 * @throws {Error} When the text is not what `encodeValue` writes.
 */
export function decodeValue(text: string): unknown {
  return text === "" ? undefined : decodeDefined(text);
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
