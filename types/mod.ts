/**
 * The shared contracts between hosts and generations. Generations import
 * this file with `import type` only, so it never becomes part of their graph.
 *
 * @module
 */

import { type Contract, defineContract } from "../core/contract.ts";

export type { GenerationContext } from "../core/generation.ts";

/** The seed's handle: a piece of data and a function, as GHC.Hotswap's demo has. */
export interface SOHandles {
  /** A string the generation exposes. */
  someData: string;
  /**
   * Does the generation's work for `i`.
   *
   * @param i The input the host passes.
   *
   * @example Call it through a verified handle
   * ```ts
   * import { type SOHandles, soHandles } from "@hotswap/runtime/types";
   * import { deepStrictEqual } from "node:assert/strict";
   *
   * const seen: number[] = [];
   * const handle: SOHandles = soHandles.verify({ someData: "data", someFn: (i: number) => void seen.push(i) });
   * handle.someFn(42);
   * deepStrictEqual(seen, [42]);
   * ```
   */
  someFn(i: number): void;
}

/**
 * The contract of {@linkcode SOHandles}, exported by generations as `hs_soHandles`.
 *
 * @example Verify a seed handle
 * ```ts
 * import { soHandles } from "@hotswap/runtime/types";
 * import { strictEqual, throws } from "node:assert/strict";
 *
 * strictEqual(soHandles.symbol, "hs_soHandles");
 * const handle = soHandles.verify({ someData: "I live in a shared object", someFn: () => {} });
 * strictEqual(handle.someData, "I live in a shared object");
 * throws(() => soHandles.verify({ someData: 1 }), { code: "E_CONTRACT" });
 * ```
 */
export const soHandles: Contract<SOHandles> = defineContract<SOHandles>({
  name: "SOHandles",
  version: "1.0.0",
  symbol: "hs_soHandles",
  shape: { someData: "string", someFn: "function" },
});

export { type AppRequest, type AppResponse, type HttpApp, httpApp } from "./app.ts";
