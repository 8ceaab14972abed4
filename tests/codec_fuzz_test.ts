/**
 * Fuzzing the process channel's codec (core/_codec.ts): any value
 * fast-check's `anything()` builds comes back as `structuredClone` would
 * give it, and any tagged tree a hostile generation could write either
 * decodes to a value that can be sent again or throws an `Error`: never
 * another kind of exception, never a hang.
 *
 * @module
 */

import { deepStrictEqual, ok } from "node:assert/strict";
import fc from "npm:fast-check@4.10.2";
import { EVERY_KIND } from "./_arbitraries.ts";
import { decodeValue, encodeValue } from "../core/_codec.ts";

const RUNS = 500;

Deno.test("decodeValue(encodeValue(value)) equals structuredClone(value) for any clonable value", () => {
  fc.assert(
    fc.property(
      // Two invalid dates are never deep-equal (NaN !== NaN): codec_test.ts covers them.
      fc.anything(EVERY_KIND).filter((value) => !(value instanceof Date && Number.isNaN(value.getTime()))),
      (value) => {
        deepStrictEqual(decodeValue(encodeValue(value)), structuredClone(value));
      },
    ),
    { numRuns: RUNS },
  );
});

const TAGS = ["U", "N", "I", "R", "A", "H", "O", "M", "S", "D", "X", "B", "T", "V", "E", "P", "Q"];

/** Tagged nodes of the codec's tags with arguments of any JSON sort, well formed or not. */
const nodeArbitrary = fc.letrec<{ node: unknown[]; tree: unknown }>((tie) => ({
  node: fc.tuple(fc.constantFrom(...TAGS), fc.array(tie("tree"), { maxLength: 5 }))
    .map(([tag, rest]) => [tag, ...rest]),
  tree: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.jsonValue({ maxDepth: 1 }),
    fc.constantFrom("NaN", "-0", "Int8Array", "Float64Array", "DataView", "AAAA", "__proto__"),
    fc.integer({ min: -2, max: 8 }),
    tie("node"),
  ),
})).node;

Deno.test("decodeValue() of any tagged tree returns a value it can send again, or throws an Error", () => {
  fc.assert(
    fc.property(nodeArbitrary, (tree) => {
      let value: unknown;
      try {
        value = decodeValue("~" + JSON.stringify(tree));
      } catch (error) {
        ok(error instanceof Error, `threw a ${typeof error}: ${String(error)}`);
        return;
      }
      encodeValue(value);
    }),
    { numRuns: RUNS * 4 },
  );
});
