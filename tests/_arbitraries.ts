/**
 * fast-check settings the fuzz tests share.
 *
 * @module
 */

import type { ObjectConstraints } from "npm:fast-check@4.10.2";

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
