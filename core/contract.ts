/**
 * The contract between a host and its generations: a name, a semver version,
 * the export a generation must provide, and the runtime shape of the handle
 * (SPEC section 3).
 *
 * @module
 */

import { aKind, describeThrown, HotswapError, type HotswapErrorOptions } from "./errors.ts";
import {
  checkBrand,
  CONTRACT_BRAND,
  type ContractBrand,
  parseSemver,
  type Semver,
} from "./_contract_version.ts";
import { isObjectLike, type Shape, type ShapeDefinition, validateShape } from "./_shape.ts";
import { checkMembers, describeValue } from "./_shape_check.ts";

// The contract is three concerns, one file each: what a shape is (`_shape.ts`),
// checking a value against one (`_shape_check.ts`), and version compatibility
// through brands (`_contract_version.ts`). This file ties them into the
// public API, and re-exports their public parts so `mod.ts` has one source.
export { CONTRACT_BRAND, type ContractBrand } from "./_contract_version.ts";
export type {
  IsOptional,
  KindOf,
  NestedShapeOf,
  Shape,
  ShapeDefinition,
  ShapeKind,
  ShapeMember,
} from "./_shape.ts";

/**
 * What {@linkcode defineContract} takes.
 *
 * @typeParam T The handle type.
 */
export interface ContractDefinition<T> {
  /** A name for messages and brands, such as `"SOHandles"`. */
  name: string;
  /** The contract's semver version, such as `"1.0.0"`. */
  version: string;
  /**
   * The export a generation must provide: any ES export name, an identifier
   * such as `"hs_soHandles"` or `"hs_Händles_π"`, or a string export name
   * such as `"hs handles v2"` (`export { h as "hs handles v2" }`). Compared
   * exactly, with no Unicode normalisation.
   */
  symbol: string;
  /** The runtime shape of the handle. */
  shape: Shape<T>;
}

/**
 * A checked agreement on the shape of a handle, created by
 * {@linkcode defineContract}.
 *
 * @typeParam T The handle type.
 */
export class Contract<T> {
  /** The contract's name. */
  readonly name: string;
  /** The contract's semver version. */
  readonly version: string;
  /** The export a generation must provide. */
  readonly symbol: string;
  /** The runtime shape of the handle. */
  readonly shape: ShapeDefinition;
  #semver: Semver;

  /**
   * Validates a definition; prefer {@linkcode defineContract}.
   *
   * @param definition Name, version, symbol and shape.
   * @throws {TypeError} When a field of the definition is malformed.
   *
   * @example Refuse a malformed definition
   * ```ts
   * import { Contract } from "@hotswap/runtime";
   * import { strictEqual, throws } from "node:assert/strict";
   *
   * const counter = new Contract<{ count: number }>({
   *   name: "Counter", version: "1.0.0", symbol: "hs_counter", shape: { count: "number" },
   * });
   * strictEqual(counter.symbol, "hs_counter");
   * throws(
   *   () => new Contract<{ count: number }>({ name: "Counter", version: "1.0", symbol: "hs_counter", shape: { count: "number" } }),
   *   TypeError,
   * );
   * ```
   */
  constructor(definition: ContractDefinition<T>) {
    if (typeof definition?.name !== "string" || definition.name === "") {
      throw new TypeError("Cannot define contract: name must be a non-empty string");
    }
    this.#semver = parseSemver(definition.version, definition.name);
    // Any ES export name: an identifier (`hs_Händles_π`) or a string name
    // (`export { h as "hs handles v2" }`), which must be well-formed Unicode.
    // Compared exactly, with no normalisation.
    if (
      typeof definition.symbol !== "string" || definition.symbol === "" ||
      !definition.symbol.isWellFormed()
    ) {
      const advice = 'use an identifier such as "hs_handles", or a string export name';
      throw new TypeError(
        definition.symbol === undefined
          ? `Cannot define contract "${definition.name}": symbol is missing; name the export that holds the handle: ${advice}`
          : `Cannot define contract "${definition.name}": symbol ${
            typeof definition.symbol === "string"
              ? JSON.stringify(definition.symbol)
              : `(${aKind(typeof definition.symbol)})`
          } is not an export name (a non-empty string of well-formed Unicode, without lone surrogates); ${advice}`,
      );
    }
    validateShape(definition.shape as ShapeDefinition, "", definition.name);
    this.name = definition.name;
    this.version = definition.version;
    this.symbol = definition.symbol;
    this.shape = Object.freeze({ ...definition.shape }) as ShapeDefinition;
  }

  /**
   * Checks a value against the shape (and its brand, when it has one).
   *
   * @param value The candidate handle.
   * @returns The same value, typed as `T`.
   * @throws {ContractError} Listing every mismatch, not just the first.
   *
   * @example Verify a handle before using it
   * ```ts
   * import { ContractError, defineContract } from "@hotswap/runtime";
   * import { deepStrictEqual, strictEqual, throws } from "node:assert/strict";
   *
   * interface Greeter { greet(name: string): string; greeting: string }
   * const greeter = defineContract<Greeter>({
   *   name: "Greeter", version: "1.0.0", symbol: "hs_greeter",
   *   shape: { greet: "function", greeting: "string" },
   * });
   *
   * const candidate: unknown = { greet: (n: string) => `hi ${n}`, greeting: "hi" };
   * const handle = greeter.verify(candidate); // typed as Greeter from here on
   * strictEqual(handle, candidate);
   * strictEqual(handle.greet("ada"), "hi ada");
   *
   * throws(() => greeter.verify({ greet: "hi" }), (error: unknown) => {
   *   if (!(error instanceof ContractError)) return false;
   *   strictEqual(error.code, "E_CONTRACT");
   *   deepStrictEqual(error.problems, [
   *     "greet: expected function, got string",
   *     "greeting: expected string, got undefined (missing)",
   *   ]);
   *   return true;
   * });
   * ```
   */
  verify(value: unknown): T {
    const problems = this.check(value);
    if (problems.length > 0) {
      throw new ContractError(
        `Value does not match contract ${this.name}@${this.version}: ${problems.join("; ")}`,
        problems,
      );
    }
    return value as T;
  }

  /**
   * Lists every mismatch between a value and the contract, without throwing.
   *
   * @param value The candidate handle.
   * @returns One line per mismatch (member path, expected, actual); empty when it fits.
   *
   * @example List the mismatches without throwing
   * ```ts
   * import { CONTRACT_BRAND, defineContract } from "@hotswap/runtime";
   * import { deepStrictEqual } from "node:assert/strict";
   *
   * const settings = defineContract<{ port: number; limits: { rps: number; burst?: number } }>({
   *   name: "Settings", version: "2.3.0", symbol: "hs_settings",
   *   shape: { port: "number", limits: { rps: "number", burst: "number?" } },
   * });
   *
   * deepStrictEqual(settings.check({ port: 80, limits: { rps: 10 } }), []);
   * deepStrictEqual(settings.check({ port: "80", limits: { rps: 10, burst: "x" } }), [
   *   "port: expected number, got string",
   *   "limits.burst: expected number, got string",
   * ]);
   * deepStrictEqual(settings.check(null), ["(handle): expected object, got null"]);
   *
   * // A handle branded for an older minor version is refused, even when its shape fits.
   * const old = { port: 80, limits: { rps: 10 }, [CONTRACT_BRAND]: { name: "Settings", version: "2.2.0" } };
   * deepStrictEqual(settings.check(old), ["(brand): built for Settings@2.2.0, older than host's 2.3"]);
   * ```
   */
  check(value: unknown): string[] {
    const problems: string[] = [];
    if (!isObjectLike(value)) {
      problems.push(`(handle): expected object, got ${describeValue(value)}`);
      return problems;
    }
    try {
      checkBrand(value, this.name, this.#semver, problems);
      checkMembers(value, this.shape, "", problems);
    } catch (error) {
      // A revoked Proxy throws even from Array.isArray: report it, never crash.
      problems.push(`(handle): inspecting it threw ${describeThrown(error)}`);
    }
    return problems;
  }
}

/**
 * Defines a contract: the handle symbol a generation must export and the
 * shape its value must have. `shape` is checked against `T` at compile time.
 *
 * @typeParam T The handle type.
 * @param definition Name, semver version, symbol and shape.
 * @returns The contract, whose `verify` checks values at run time.
 * @throws {TypeError} When the name, version, symbol or a shape kind is malformed.
 *
 * @example Define and verify
 * ```ts
 * import { defineContract } from "@hotswap/runtime";
 * import { strictEqual, throws } from "node:assert/strict";
 *
 * interface Greeter { greet(name: string): string; greeting: string }
 * const greeter = defineContract<Greeter>({
 *   name: "Greeter",
 *   version: "1.0.0",
 *   symbol: "hs_greeter",
 *   shape: { greet: "function", greeting: "string" },
 * });
 * const handle = greeter.verify({ greet: (n: string) => `hi ${n}`, greeting: "hi" });
 * strictEqual(handle.greet("ada"), "hi ada");
 * throws(() => greeter.verify({ greet: 1 }), { code: "E_CONTRACT" });
 * ```
 */
export function defineContract<T>(definition: ContractDefinition<T>): Contract<T> {
  return new Contract<T>(definition);
}

/**
 * Brands a handle with the contract version it was built for, so a host whose
 * contract moved on to an incompatible version rejects it.
 *
 * @typeParam T The handle type.
 * @param contract The contract the handle implements.
 * @param value The handle object.
 * @returns The same object, branded.
 * @throws {TypeError} When `value` is not an object.
 *
 * @example Brand a handle
 * ```ts
 * import { defineContract, implement } from "@hotswap/runtime";
 * import { strictEqual } from "node:assert/strict";
 *
 * const counter = defineContract<{ count: number }>({
 *   name: "Counter", version: "1.2.0", symbol: "hs_counter", shape: { count: "number" },
 * });
 * const handle = implement(counter, { count: 1 });
 * strictEqual(counter.verify(handle).count, 1);
 * ```
 */
export function implement<T>(contract: Contract<T>, value: T): T {
  if (!isObjectLike(value)) {
    throw new TypeError(
      `Cannot brand ${aKind(typeof value)} for contract "${contract.name}": pass the handle object`,
    );
  }
  const brand: ContractBrand = Object.freeze({
    name: contract.name,
    version: contract.version,
  });
  Object.defineProperty(value, CONTRACT_BRAND, {
    value: brand,
    enumerable: false,
    configurable: true,
  });
  return value;
}

/**
 * Thrown when a handle does not match its contract. `problems` lists every
 * mismatch.
 *
 * @example Read the problems
 * ```ts
 * import { ContractError, defineContract } from "@hotswap/runtime";
 * import { ok, deepStrictEqual } from "node:assert/strict";
 *
 * const c = defineContract<{ a: string; b: number }>({
 *   name: "AB", version: "1.0.0", symbol: "hs_ab", shape: { a: "string", b: "number" },
 * });
 * try {
 *   c.verify({ a: 1 });
 * } catch (error) {
 *   ok(error instanceof ContractError);
 *   deepStrictEqual(error.problems, [
 *     "a: expected string, got number",
 *     "b: expected number, got undefined (missing)",
 *   ]);
 * }
 * ```
 */
export class ContractError extends HotswapError {
  /** Every mismatch: member path, expected kind, actual kind. This error's own copy. */
  readonly problems: string[];

  /**
   * Creates a contract error.
   *
   * @param message What failed and what to do.
   * @param problems Every mismatch found.
   * @param options `cause`, `path` and `activeGeneration`.
   */
  constructor(
    message: string,
    problems: readonly string[],
    options?: HotswapErrorOptions,
  ) {
    super("E_CONTRACT", message, options);
    this.name = "ContractError";
    this.problems = [...problems];
  }
}
