/**
 * Isolation modes, and how a handle looks from the host in each: the
 * contract's own type inline, a {@linkcode Remote} of it across a worker or
 * process boundary.
 *
 * @module
 */

/**
 * Where generations run: in the host's isolate (`"inline"`), each in its own
 * Worker (`"worker"`: fault containment), or each in its own child process
 * (`"process"`: the security boundary).
 */
export type Isolation = "inline" | "worker" | "process";

/**
 * A handle as it behaves across an isolation boundary: every function member
 * returns a `Promise` of its awaited result, as a copy ({@linkcode Cloned}:
 * data, no methods), and takes arguments that can be copied
 * ({@linkcode Sendable}: no callbacks); object members holding functions
 * are remote too, and data members are as copied at load (a `Date`, `Map`,
 * `Set`, `RegExp` or binary data member as itself).
 *
 * @typeParam T The handle type of the contract.
 *
 * @example Worker-mode calls are promises
 * ```ts
 * import type { Remote } from "@hotswap/runtime";
 * import { strictEqual } from "node:assert/strict";
 *
 * interface Greeter { greet(name: string): string; prefix: string }
 * const remote: Remote<Greeter> = { greet: (name) => Promise.resolve(`hi ${name}`), prefix: "hi" };
 * const text: string = await remote.greet("ada");
 * strictEqual(text, "hi ada");
 * ```
 */
export type Remote<T> = T extends (...args: infer A) => infer R
  ? (...args: { [I in keyof A]: Sendable<A[I]> }) => Promise<Cloned<Awaited<R>>>
  // Copied whole by structured cloning, arriving as themselves, methods and all.
  : T extends
    | readonly unknown[]
    | Date
    | RegExp
    | ReadonlyMap<unknown, unknown>
    | ReadonlySet<unknown>
    | ArrayBuffer
    | ArrayBufferView ? T
  : T extends object ? { readonly [K in keyof T]: Remote<T[K]> }
  : T;

/**
 * A call's result as it arrives from a worker or a process, a copy: an
 * object keeps its data, not its methods (a class instance arrives as a
 * plain object, its methods left behind; a function held as an object's own
 * property makes the call reject), and a function result, which cannot be
 * copied at all, is typed `never`. A `Date`, `RegExp`, `Error` or binary
 * data arrives as itself; `any` stays `any`.
 *
 * @typeParam T The result's type in the generation.
 *
 * @example A class instance arrives as its data
 * ```ts
 * import type { Cloned } from "@hotswap/runtime";
 *
 * class Point {
 *   constructor(public x: number) {}
 *   norm(): number {
 *     return Math.abs(this.x);
 *   }
 * }
 * const copy: Cloned<Point> = { x: -3 };
 * // @ts-expect-error the method stayed behind
 * copy.norm;
 * ```
 */
export type Cloned<T> = 0 extends 1 & T ? T
  // Primitives first: a branded id (string & { __brand }) is an object type too.
  : T extends string | number | bigint | boolean | symbol | null | undefined ? T
  : T extends (...args: never[]) => unknown ? never
  : T extends Date | RegExp | Error | ArrayBuffer | ArrayBufferView ? T
  // A copy is as mutable as what was declared: a Map as a Map, a ReadonlyMap as one.
  : T extends Map<infer K, infer V> ? Map<Cloned<K>, Cloned<V>>
  : T extends ReadonlyMap<infer K, infer V> ? ReadonlyMap<Cloned<K>, Cloned<V>>
  : T extends Set<infer V> ? Set<Cloned<V>>
  : T extends ReadonlySet<infer V> ? ReadonlySet<Cloned<V>>
  : T extends readonly unknown[] ? { [I in keyof T]: Cloned<T[I]> }
  : T extends object
    ? { [K in keyof T as T[K] extends (...args: never[]) => unknown ? never : K]: Cloned<T[K]> }
  : T;

/**
 * An argument of a remote call as it can be sent: a copy, as a result
 * comes back ({@linkcode Cloned}), so a function (a callback) cannot go and
 * is typed `never`, which no value but `never` meets; an object literal with
 * a function member does not type-check either. A class instance may go:
 * it arrives as its data, its methods left behind.
 *
 * @typeParam T A parameter's type in the generation.
 *
 * @example A callback cannot cross
 * ```ts
 * import type { Sendable } from "@hotswap/runtime";
 *
 * const sent: Sendable<{ n: number }> = { n: 1 };
 * // @ts-expect-error a function cannot be copied to the generation
 * const callback: Sendable<(x: number) => void> = (x: number) => console.log(x);
 * console.log(sent, callback);
 * ```
 */
export type Sendable<T> = Cloned<T>;

/**
 * The handle `with()` receives for contract type `T` in isolation `I`:
 * `T` itself inline, {@linkcode Remote}`<T>` in a worker or process. An
 * isolation known only at run time gives the union of both.
 *
 * @typeParam T The handle type of the contract.
 * @typeParam I The isolation mode.
 */
export type HandleOf<T, I extends Isolation> = I extends "inline" ? T : Remote<T>;

/**
 * The isolation an options object selects, as far as its type tells: the
 * type of its `isolation` member, joined with `"inline"` (the default) when
 * that member is optional, and `"inline"` when it has none. A union of
 * options types gives the union of their isolations.
 *
 * @typeParam O The type of the options object.
 *
 * @example What each options type selects
 * ```ts
 * import type { HotswapOptions, IsolationOf } from "@hotswap/runtime";
 * import { deepStrictEqual } from "node:assert/strict";
 *
 * const worker: IsolationOf<{ isolation: "worker" }>[] = ["worker"];
 * const fallback: IsolationOf<{ drainTimeout: number }>[] = ["inline"];
 * // A `HotswapOptions` value may name any mode: nothing narrower is known.
 * const open: IsolationOf<HotswapOptions>[] = ["inline", "worker", "process"];
 * deepStrictEqual([...worker, ...fallback, ...open].length, 5);
 * ```
 */
export type IsolationOf<O> = O extends { readonly isolation: infer I extends Isolation } ? I
  : O extends { readonly isolation?: infer I extends Isolation } ? I | "inline"
  : "inline";
