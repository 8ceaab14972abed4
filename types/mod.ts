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
  /** Does the generation's work for `i`. */
  someFn(i: number): void;
}

/** The contract of {@linkcode SOHandles}, exported by generations as `hs_soHandles`. */
export const soHandles: Contract<SOHandles> = defineContract<SOHandles>({
  name: "SOHandles",
  version: "1.0.0",
  symbol: "hs_soHandles",
  shape: { someData: "string", someFn: "function" },
});

export { type AppRequest, type AppResponse, type HttpApp, httpApp } from "./app.ts";
