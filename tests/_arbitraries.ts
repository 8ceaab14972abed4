/**
 * fast-check settings and arbitraries the fuzz tests share.
 *
 * @module
 */

import fc, { type Arbitrary, type ObjectConstraints } from "npm:fast-check@4.10.2";

/** `fc.anything()` with every kind of value it can make, three levels deep. */
export const EVERY_KIND: ObjectConstraints = {
  maxDepth: 3,
  withBigInt: true,
  withBoxedValues: true,
  withDate: true,
  withMap: true,
  withNullPrototype: true,
  withObjectString: true,
  withSet: true,
  withSparseArray: true,
  withTypedArray: true,
  withUnicodeString: true,
};

/**
 * Messages shaped like the worker protocol's (its field names, each holding
 * a plausible value or anything at all): what a forger would try first.
 */
export function protocolShapedMessage(): Arbitrary<Record<string, unknown>> {
  return fc.record({
    t: fc.oneof(fc.constantFrom("ready", "loaded", "result", "error", "exit"), fc.string()),
    id: fc.oneof(fc.integer({ min: 0, max: 40 }), fc.integer(), fc.double(), fc.string()),
    encoded: fc.oneof(fc.string(), fc.anything()),
    how: fc.oneof(fc.string(), fc.anything()),
    handle: fc.oneof(
      fc.anything(),
      fc.record({ kind: fc.constantFrom("value", "function", "object"), index: fc.integer() }),
    ),
    hooks: fc.anything(),
    error: fc.oneof(
      fc.anything(),
      fc.record({ name: fc.string(), message: fc.string(), code: fc.string(), problems: fc.anything() }),
    ),
  }, { requiredKeys: ["t"] });
}
