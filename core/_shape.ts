/**
 * What a contract's shape is: its kinds and their meaning at run time, the
 * types that tie a shape to the handle type `T` at compile time, and the
 * check that a shape given to `defineContract` is well formed (SPEC 3).
 * The public types are re-exported from `contract.ts`.
 *
 * @module
 */

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
 * The kind that describes every value of type `V` in a shape, or `never`
 * when no kind but `"unknown"` does; any kind for `any`, which claims nothing. A union is judged whole, not member by
 * member: `string | number` is no `"string"`, since the check would refuse
 * its numbers, and a function is no `"object"` (the check tells them apart).
 *
 * @typeParam V A member's type.
 */
export type KindOf<V> = 0 extends 1 & V ? ShapeKind
  : unknown extends V ? "unknown"
  : [V] extends [string] ? "string"
  : [V] extends [number] ? "number"
  : [V] extends [boolean] ? "boolean"
  : [V] extends [bigint] ? "bigint"
  : [V] extends [(...args: never[]) => unknown] ? "function"
  : [V] extends [readonly unknown[]] ? "array"
  : [V] extends [object] ? [Extract<V, (...args: never[]) => unknown>] extends [never] ? "object" : never
  : never;

/**
 * The nested shape that may describe an object member of type `V`; none for
 * a union of object types, whose variants one shape cannot all describe
 * (`"object"` does): each variant is compared with the whole union.
 *
 * @typeParam V A member's type.
 * @typeParam Whole `V` itself, kept whole while `V` is taken apart.
 */
export type NestedShapeOf<V, Whole = V> = [KindOf<V>] extends [never] ? never
  : [KindOf<V>] extends ["object"] ? V extends unknown ? [Whole] extends [V] ? Shape<V> : never : never
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
 * A member of `T` missing from the shape is a compile-time error. For `T`
 * of `any`, any shape: the type claims nothing to check it against.
 *
 * @typeParam T The handle type the contract describes.
 */
export type Shape<T> = 0 extends 1 & T ? ShapeDefinition : {
  readonly [K in keyof T]-?: IsOptional<T, K> extends true
    ? `${KindOf<Exclude<T[K], undefined>>}?` | "unknown" | "unknown?"
    : KindOf<T[K]> | NestedShapeOf<T[K]> | "unknown";
};

/**
 * What each kind accepts. `ShapeKind` above is the one list of kinds: the
 * mapped type makes a kind missing here, or one extra, a compile error. (A
 * runtime array with the type derived from it would be a single text, but
 * `mod.ts` re-exports only `ShapeKind`, and a public type may not refer to
 * an unexported value: `deno doc --lint` rejects it.)
 */
const KIND_TESTS: { readonly [K in ShapeKind]: (value: unknown) => boolean } = {
  string: (value) => typeof value === "string",
  number: (value) => typeof value === "number",
  boolean: (value) => typeof value === "boolean",
  bigint: (value) => typeof value === "bigint",
  function: (value) => typeof value === "function",
  object: (value) => typeof value === "object" && value !== null,
  array: (value) => Array.isArray(value),
  unknown: () => true,
};

/** Whether `value` is of `kind`. */
export function fitsKind(value: unknown, kind: ShapeKind): boolean {
  return KIND_TESTS[kind](value);
}

/** Splits a string member into its kind and whether it is optional (`"string?"`). */
export function parseKind(member: string): { kind: string; optional: boolean } {
  const optional = member.endsWith("?");
  return { kind: optional ? member.slice(0, -1) : member, optional };
}

/** Whether a value can have members: an object or a function, never `null`. */
export function isObjectLike(value: unknown): value is Record<PropertyKey, unknown> {
  return (typeof value === "object" && value !== null) || typeof value === "function";
}

/**
 * Throws unless `shape` is an object whose members are kinds, optional
 * kinds or nested shapes: caught when the contract is defined, so checking
 * a handle later never meets a kind it does not know.
 *
 * @param shape The shape, or a nested shape at `prefix`.
 * @param prefix The member path of a nested shape; `""` at the top.
 * @param contractName For the message.
 * @throws {TypeError} Naming the first malformed member.
 */
export function validateShape(shape: unknown, prefix: string, contractName: string): void {
  if (!isObjectLike(shape) || Array.isArray(shape)) {
    throw new TypeError(
      `Cannot define contract "${contractName}": shape${
        prefix ? ` at "${prefix}"` : ""
      } must be an object of member kinds`,
    );
  }
  for (const [key, member] of Object.entries(shape)) {
    const path = prefix ? `${prefix}.${key}` : key;
    if (typeof member !== "string") {
      validateShape(member, path, contractName);
    } else if (!Object.hasOwn(KIND_TESTS, parseKind(member).kind)) {
      throw new TypeError(
        `Cannot define contract "${contractName}": member "${path}" has unknown kind ${
          JSON.stringify(member)
        }; use one of ${Object.keys(KIND_TESTS).join(", ")} (with "?" for optional)`,
      );
    }
  }
}
