/**
 * The seed's sample generation: exports the SOHandles handle as
 * `hs_soHandles`. Its logic lives in ./MyCode.ts.
 *
 * @module
 */

import type { SOHandles } from "../types/mod.ts";
import { myFunction } from "./MyCode.ts";

/** The handle the demo runs: some data and a function. */
export const hs_soHandles: SOHandles = {
  someData: "I live in a shared object",
  someFn: myFunction,
};
