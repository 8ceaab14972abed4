/**
 * The contract between a host and its generations: a name, a semver version,
 * the export a generation must provide, and the runtime shape of the handle
 * (SPEC section 3).
 *
 * @module
 */

import { describeThrown, HotswapError, type HotswapErrorOptions } from "./errors.ts";

/** The kinds a shape member can be checked against at run time. */
export type ShapeKind =
  | "string"
  | "number"
  | "boolean"
  | "bigint"
  | "function"
  | "object"
  | "array"
  | "unknown";

/** A member of a shape: a kind, an optional kind (`"string?"`), or a nested shape. */
export type ShapeMember = ShapeKind | `${ShapeKind}?` | ShapeDefinition;

/** A runtime shape: member name to what the member must be. */
export interface ShapeDefinition {
  /** What the member of this name must be. */
  readonly [member: string]: ShapeMember;
}

/**
 * The kind that describes a value of type `V` in a shape.
 *
 * @typeParam V A member's type.
 */
export type KindOf<V> = unknown extends V ? "unknown"
  : V extends string ? "string"
  : V extends number ? "number"
  : V extends boolean ? "boolean"
  : V extends bigint ? "bigint"
  : V extends (...args: never[]) => unknown ? "function"
  : V extends readonly unknown[] ? "array"
  : V extends object ? "object"
  : never;

/**
 * The nested shape that may describe an object member of type `V`.
 *
 * @typeParam V A member's type.
 */
export type NestedShapeOf<V> = V extends ((...args: never[]) => unknown) | readonly unknown[] ? never
  : V extends object ? Shape<V>
  : never;

/**
 * Whether member `K` of `T` is optional.
 *
 * @typeParam T The handle type.
 * @typeParam K A member of it.
 */
export type IsOptional<T, K extends keyof T> = object extends Pick<T, K> ? true
  : false;

/**
 * The shape a contract of `T` must declare: every member of `T`, each with
 * the kind of its type (`"unknown"` always fits; optional members end in `?`).
 * A member of `T` missing from the shape is a compile-time error.
 *
 * @typeParam T The handle type the contract describes.
 */
export type Shape<T> = {
  readonly [K in keyof T]-?: IsOptional<T, K> extends true
    ? `${KindOf<Exclude<T[K], undefined>>}?` | "unknown" | "unknown?"
    : KindOf<T[K]> | NestedShapeOf<T[K]> | "unknown";
};

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

/** The brand {@linkcode implement} puts on a handle. */
export interface ContractBrand {
  /** The contract name the handle was built for. */
  readonly name: string;
  /** The contract version the handle was built for. */
  readonly version: string;
}

/**
 * The property key of a handle's brand. It is a registered symbol, so a
 * generation may also brand a handle without importing this package.
 */
export const CONTRACT_BRAND: unique symbol = Symbol.for(
  "@hotswap/runtime/contract",
) as never;

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
      throw new TypeError(
        `Cannot define contract "${definition.name}": symbol ${
          typeof definition.symbol === "string"
            ? JSON.stringify(definition.symbol)
            : `(a ${typeof definition.symbol})`
        } is not an export name (a non-empty string of well-formed Unicode, without lone surrogates); use an identifier such as "hs_handles", or a string export name`,
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
      `Cannot brand a ${typeof value} for contract "${contract.name}": pass the handle object`,
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
  /** Every mismatch: member path, expected kind, actual kind. */
  readonly problems: readonly string[];

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
    this.problems = Object.freeze([...problems]);
  }
}

const KINDS: ReadonlySet<string> = new Set<ShapeKind>([
  "string",
  "number",
  "boolean",
  "bigint",
  "function",
  "object",
  "array",
  "unknown",
]);

interface Semver {
  major: number;
  minor: number;
}

function parseSemver(version: unknown, contractName: string): Semver {
  const match = typeof version === "string"
    ? /^(\d+)\.(\d+)\.(\d+)(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$/.exec(version)
    : null;
  if (match === null) {
    throw new TypeError(
      `Cannot define contract "${contractName}": version ${
        JSON.stringify(version)
      } is not semver; use "MAJOR.MINOR.PATCH" such as "1.0.0"`,
    );
  }
  return { major: Number(match[1]), minor: Number(match[2]) };
}

function validateShape(shape: unknown, prefix: string, contractName: string): void {
  if (!isObjectLike(shape) || Array.isArray(shape)) {
    throw new TypeError(
      `Cannot define contract "${contractName}": shape${
        prefix ? ` at "${prefix}"` : ""
      } must be an object of member kinds`,
    );
  }
  for (const [key, member] of Object.entries(shape)) {
    const path = prefix ? `${prefix}.${key}` : key;
    if (typeof member === "string") {
      if (!KINDS.has(member.endsWith("?") ? member.slice(0, -1) : member)) {
        throw new TypeError(
          `Cannot define contract "${contractName}": member "${path}" has unknown kind ${
            JSON.stringify(member)
          }; use one of ${[...KINDS].join(", ")} (with "?" for optional)`,
        );
      }
    } else {
      validateShape(member, path, contractName);
    }
  }
}

function isObjectLike(value: unknown): value is Record<PropertyKey, unknown> {
  return (typeof value === "object" && value !== null) || typeof value === "function";
}

function checkBrand(
  value: Record<PropertyKey, unknown>,
  name: string,
  host: Semver,
  problems: string[],
): void {
  let brand: unknown;
  try {
    brand = value[CONTRACT_BRAND];
  } catch (error) {
    problems.push(`(brand): reading it threw ${describeThrown(error)}`);
    return;
  }
  if (brand === undefined) return;
  try {
    const { name: brandName, version } = brand as ContractBrand;
    if (brandName !== name) {
      problems.push(`(brand): built for contract "${String(brandName)}", expected "${name}"`);
      return;
    }
    const built = parseSemver(version, name);
    if (built.major !== host.major) {
      problems.push(
        `(brand): built for ${name}@${version}, major version differs from host's ${host.major}.x`,
      );
    } else if (built.minor < host.minor) {
      problems.push(
        `(brand): built for ${name}@${version}, older than host's ${host.major}.${host.minor}`,
      );
    }
  } catch (error) {
    problems.push(`(brand): malformed brand: ${describeThrown(error)}`);
  }
}

function checkMembers(
  value: Record<PropertyKey, unknown>,
  shape: ShapeDefinition,
  prefix: string,
  problems: string[],
): void {
  for (const key of Object.keys(shape)) {
    const member = shape[key] as ShapeMember;
    const path = prefix ? `${prefix}.${key}` : key;
    let actual: unknown;
    try {
      actual = value[key];
    } catch (error) {
      problems.push(`${path}: reading it threw ${describeThrown(error)}`);
      continue;
    }
    try {
      checkMember(value, key, actual, member, path, problems);
    } catch (error) {
      // Array.isArray throws on a revoked Proxy: blame this member and check the others.
      problems.push(`${path}: inspecting it threw ${describeThrown(error)}`);
    }
  }
}

function checkMember(
  owner: Record<PropertyKey, unknown>,
  key: string,
  actual: unknown,
  member: ShapeMember,
  path: string,
  problems: string[],
): void {
  if (typeof member !== "string") {
    if (typeof actual === "object" && actual !== null && !Array.isArray(actual)) {
      checkMembers(actual as Record<PropertyKey, unknown>, member, path, problems);
    } else {
      problems.push(`${path}: expected object, got ${describeMember(owner, key, actual)}`);
    }
    return;
  }
  const optional = member.endsWith("?");
  const kind = (optional ? member.slice(0, -1) : member) as ShapeKind;
  if (optional && actual === undefined) return;
  if (!fitsKind(actual, kind)) {
    problems.push(`${path}: expected ${kind}, got ${describeMember(owner, key, actual)}`);
  }
}

function fitsKind(value: unknown, kind: ShapeKind): boolean {
  switch (kind) {
    case "unknown":
      return true;
    case "array":
      return Array.isArray(value);
    case "object":
      return typeof value === "object" && value !== null;
    case "string":
      return typeof value === "string";
    case "number":
      return typeof value === "number";
    case "boolean":
      return typeof value === "boolean";
    case "bigint":
      return typeof value === "bigint";
    case "function":
      return typeof value === "function";
  }
}

function describeMember(
  owner: Record<PropertyKey, unknown>,
  key: string,
  actual: unknown,
): string {
  if (actual !== undefined) return describeValue(actual);
  try {
    return key in owner ? "undefined" : "undefined (missing)";
  } catch {
    return "undefined";
  }
}

function describeValue(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  return typeof value;
}
