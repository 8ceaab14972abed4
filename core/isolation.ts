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
 * returns a `Promise` of its awaited result, object members holding functions
 * are remote too, and data members are as copied at load (a `Date`, `Map`,
 * `Set`, `RegExp` or binary data member as itself).
 *
 * A call's arguments and result cross as copies (what structured cloning
 * carries), which this type does not model, so that generic code forwarding
 * a type parameter keeps type-checking: a callback argument rejects the call
 * with a `DataCloneError`, and a class instance returned arrives as its data,
 * its methods left behind.
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
export type Remote<T> = T extends (...args: infer A) => infer R ? (...args: A) => Promise<Awaited<R>>
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
