/**
 * The options of `registerHotswap`, checked once and resolved to their
 * defaults, so the rest of the runtime reads plain values.
 *
 * @module
 */

import type { Isolation, IsolationOf } from "./isolation.ts";
import { refuseUnknownOptions } from "./_known_options.ts";
import type { PathLike } from "./roots.ts";
import type { TrustList } from "./trust.ts";
import { withinTimerLimit } from "./_timer_limit.ts";

/**
 * Deno permissions a worker or process generation runs with. Every kind left
 * out is denied (Deno itself would let an omitted kind inherit the host's).
 */
export type WorkerPermissions = Deno.PermissionOptionsObject;

/** Options of {@linkcode registerHotswap}. */
export interface HotswapOptions {
  /**
   * Directories every file of a generation must resolve into; left out (or
   * empty), the directory of the entry each load reads.
   *
   * @default {[dirname(entry)]}
   */
  roots?: readonly PathLike[];
  /**
   * Where generations run: `"inline"` in the host's isolate, `"worker"` each
   * in its own Worker, `"process"` each in its own child `deno` process.
   *
   * @default {"inline"}
   */
  isolation?: Isolation;
  /**
   * Worker and process isolation: the generation's Deno permissions. Every
   * kind left out is denied, so the default grants nothing at all.
   *
   * @default {{}}
   */
  permissions?: WorkerPermissions;
  /** Pin of the first generation's digest, `sha256-<base64>`. */
  integrity?: string;
  /**
   * Load only signed `.hsgen` artifacts whose signature verifies under this
   * trust list (a `trust.json` path, or the list itself): a trusted,
   * unrevoked, unexpired key scoped to the contract's name, files hashing to
   * the signed digest, a sequence not below the highest already accepted.
   * Anything else, a plain module path included, is refused with
   * `E_SIGNATURE`. A path is read again at each swap, and a changed list
   * takes effect only if a key of the list in force signed it. Without
   * `trust`, an artifact loads like a path (its digest still checked).
   */
  trust?: PathLike | TrustList;
  /**
   * Milliseconds an old generation may take to drain, and again to dispose.
   *
   * @default {30000}
   */
  drainTimeout?: number;
  /**
   * Milliseconds a load (import, factory, verification) may take.
   *
   * @default {10000}
   */
  loadTimeout?: number;
  /**
   * Worker and process isolation: milliseconds one call may take before it
   * rejects `E_TIMEOUT` (in a process, the process is then killed and
   * restarted); `undefined` sets no limit.
   *
   * @default {undefined}
   */
  callTimeout?: number;
  /**
   * Process isolation: MiB of memory a generation's process may use (V8 heap
   * cap, and an RSS watchdog for memory outside the heap).
   *
   * @default {256}
   */
  memoryLimit?: number;
  /**
   * Process isolation: restarts of a serving generation's process allowed
   * per minute; past them its calls reject `E_WORKER` until the next swap.
   *
   * @default {5}
   */
  maxRestarts?: number;
  /**
   * Cap on the bytes of one generation's files.
   *
   * @default {16777216}
   */
  maxSnapshotBytes?: number;
  /**
   * How many snapshots `rollback()` can step back through.
   *
   * @default {16}
   */
  rollbackDepth?: number;
}

/**
 * The options that apply in none of the isolation modes `I` allows:
 * `permissions` and `callTimeout` need a worker or a process, `memoryLimit`
 * and `maxRestarts` a process. A registration that sets one is refused with a
 * `TypeError`; a union that includes `"process"` refuses nothing.
 *
 * @typeParam I The isolation mode, or a union of the modes it may be.
 *
 * @example Options a worker refuses
 * ```ts
 * import type { OptionsRefusedIn } from "@hotswap/runtime";
 * import { deepStrictEqual } from "node:assert/strict";
 *
 * const refused: OptionsRefusedIn<"worker">[] = ["memoryLimit", "maxRestarts"];
 * const none: OptionsRefusedIn<"worker" | "process">[] = [];
 * deepStrictEqual(refused.length + none.length, 2);
 * ```
 */
export type OptionsRefusedIn<I extends Isolation> = [I] extends ["inline"]
  ? "permissions" | "callTimeout" | "memoryLimit" | "maxRestarts"
  : [I] extends ["inline" | "worker"] ? "memoryLimit" | "maxRestarts"
  : never;

/**
 * The type `registerHotswap` checks an options object of type `O` against:
 * `Base`, with each option refused in `O`'s isolation ({@linkcode IsolationOf},
 * {@linkcode OptionsRefusedIn}) allowed only as `undefined` when `O` sets it
 * for certain. An option `O` may leave out (an optional member, as in a
 * `HotswapOptions` value or a spread of one) is left to the run-time check,
 * as is every option when the isolation is not known.
 *
 * @typeParam O The type of the options object passed.
 * @typeParam Base The options accepted in any mode.
 *
 * @example A worker registration may not cap memory
 * ```ts
 * import type { CheckedOptions } from "@hotswap/runtime";
 * import { strictEqual } from "node:assert/strict";
 *
 * const options = { isolation: "worker", callTimeout: 5_000 } as const;
 * const checked: CheckedOptions<typeof options> = options;
 * strictEqual(checked.callTimeout, 5_000);
 *
 * const capped = { isolation: "worker", memoryLimit: 64 } as const;
 * // @ts-expect-error memoryLimit applies to isolation "process" only
 * const refused: CheckedOptions<typeof capped> = capped;
 * void refused;
 * ```
 */
export type CheckedOptions<O, Base extends HotswapOptions = HotswapOptions> = [O] extends [unknown] ?
    & Base
    // The isolation O's type names: with O not inferred (only the handle type given), the default, inline.
    & { readonly isolation?: IsolationOf<O> }
    & {
      readonly [
        K in
          & OptionsRefusedIn<IsolationOf<O>>
          & keyof { [K in keyof O as undefined extends O[K] ? never : K]: unknown }
      ]?: undefined;
    }
  // Never taken: the compiler infers `O` into both branches of a conditional,
  // so this infers `O` from the argument, while the argument is checked
  // against the true branch, which is not `O` itself: a misspelt option stays
  // an excess property.
  : O;

/** {@linkcode HotswapOptions} checked, with every default applied. */
export interface ResolvedOptions {
  readonly roots: readonly PathLike[] | undefined;
  readonly isolation: Isolation;
  readonly permissions: WorkerPermissions | undefined;
  readonly drainTimeout: number;
  readonly loadTimeout: number;
  readonly callTimeout: number | undefined;
  readonly memoryLimit: number;
  readonly maxRestarts: number;
  readonly maxSnapshotBytes: number | undefined;
  readonly trust: PathLike | TrustList | undefined;
  /** Snapshots kept: `rollbackDepth` plus the current one. */
  readonly rollbackDepth: number;
}

const DEFAULT_DRAIN_TIMEOUT = 30_000;
const DEFAULT_LOAD_TIMEOUT = 10_000;
const DEFAULT_MEMORY_LIMIT = 256;
const DEFAULT_MAX_RESTARTS = 5;
const DEFAULT_ROLLBACK_DEPTH = 16;
const ISOLATIONS: readonly Isolation[] = ["inline", "worker", "process"];
/** The keys of {@linkcode HotswapOptions}: any other is refused. */
export const HOTSWAP_OPTIONS: readonly (keyof HotswapOptions)[] = [
  "roots",
  "isolation",
  "permissions",
  "integrity",
  "trust",
  "drainTimeout",
  "loadTimeout",
  "callTimeout",
  "memoryLimit",
  "maxRestarts",
  "maxSnapshotBytes",
  "rollbackDepth",
];

/**
 * Checks the options a user passed and applies the defaults.
 *
 * @throws {TypeError} An option of the wrong kind.
 * @throws {RangeError} A number out of range.
 */
export function resolveOptions(options: HotswapOptions): ResolvedOptions {
  refuseUnknownOptions(options, HOTSWAP_OPTIONS, "Cannot register");
  const isolation = options.isolation ?? "inline";
  if (!ISOLATIONS.includes(isolation)) {
    throw new TypeError(
      `Cannot register: isolation ${JSON.stringify(isolation)} is not one of ${
        ISOLATIONS.map((mode) => `"${mode}"`).join(", ")
      }`,
    );
  }
  if (options.roots !== undefined && !Array.isArray(options.roots)) {
    throw new TypeError("Cannot register: roots must be an array of directories");
  }
  const trust = options.trust;
  if (trust !== undefined && (trust === null || (typeof trust !== "string" && typeof trust !== "object"))) {
    throw new TypeError("Cannot register: trust must be the path of a trust list, or a trust list object");
  }
  // The types refuse these too (CheckedOptions); this is for JavaScript
  // callers and options whose type leaves them open.
  if (isolation === "inline") {
    if (options.permissions !== undefined) {
      throw new TypeError(
        `Cannot register: permissions applies to isolation "worker" or "process" only; inline code runs in the host, with the host's permissions`,
      );
    }
    if (options.callTimeout !== undefined) {
      throw new TypeError(
        `Cannot register: callTimeout applies to isolation "worker" or "process" only (inline calls run on the host's thread, where they cannot be timed out); use isolation "worker" or "process"`,
      );
    }
  }
  if (isolation !== "process") {
    // Accepting them elsewhere would promise a limit nothing enforces.
    if (options.memoryLimit !== undefined) {
      throw new TypeError(
        `Cannot register: memoryLimit applies to isolation "process" only (a Worker's memory cannot be capped, and a crashed worker is not restarted); use isolation "process"`,
      );
    }
    if (options.maxRestarts !== undefined) {
      throw new TypeError(
        `Cannot register: maxRestarts applies to isolation "process" only (inline code and a worker are replaced only by a swap, never restarted); use isolation "process"`,
      );
    }
  }
  return {
    roots: options.roots,
    isolation,
    permissions: options.permissions,
    drainTimeout: duration("drainTimeout", options.drainTimeout, DEFAULT_DRAIN_TIMEOUT),
    loadTimeout: duration("loadTimeout", options.loadTimeout, DEFAULT_LOAD_TIMEOUT),
    callTimeout: options.callTimeout === undefined
      ? undefined
      : duration("callTimeout", options.callTimeout, 0),
    memoryLimit: atLeast(
      MIN_MEMORY_LIMIT,
      positive("memoryLimit", options.memoryLimit, DEFAULT_MEMORY_LIMIT),
    ),
    maxRestarts: whole("maxRestarts", positive("maxRestarts", options.maxRestarts, DEFAULT_MAX_RESTARTS)),
    maxSnapshotBytes: options.maxSnapshotBytes === undefined
      ? undefined
      : positive("maxSnapshotBytes", options.maxSnapshotBytes, 0),
    trust,
    rollbackDepth:
      whole("rollbackDepth", positive("rollbackDepth", options.rollbackDepth, DEFAULT_ROLLBACK_DEPTH)) + 1,
  };
}

/**
 * The smallest `memoryLimit` (MiB): a generation's process needs about 5 MiB
 * of V8 heap for the runtime alone; with 4 its standby died at start, out of
 * heap (measured on Deno 2.9.6).
 */
const MIN_MEMORY_LIMIT = 8;

function atLeast(minimum: number, memoryLimit: number): number {
  if (memoryLimit < minimum) {
    throw new RangeError(
      `Cannot register: memoryLimit must be at least ${minimum} (MiB), got ${memoryLimit}: a generation's process needs about 5 MiB of heap before any of its code runs`,
    );
  }
  return memoryLimit;
}

function positive(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number") {
    throw new TypeError(
      `Cannot register: ${name} must be a number, got ${
        typeof value === "string"
          ? `the string ${JSON.stringify(value)}`
          : value === null
          ? "null"
          : typeof value
      }`,
    );
  }
  if (!Number.isFinite(value) || value < 0) {
    throw new RangeError(
      `Cannot register: ${name} must be a finite number of at least 0, got ${String(value)}`,
    );
  }
  return value;
}

/** Milliseconds a timer waits. */
function duration(name: string, value: number | undefined, fallback: number): number {
  return withinTimerLimit(`Cannot register: ${name}`, positive(name, value, fallback));
}

/** A count: no fraction. */
function whole(name: string, value: number): number {
  if (!Number.isInteger(value)) {
    throw new RangeError(
      `Cannot register: ${name} counts generations or restarts: a whole number, got ${value}`,
    );
  }
  return value;
}
