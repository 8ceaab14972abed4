/**
 * The one error class of the runtime and its machine-readable codes
 * (SPEC section 7).
 *
 * @module
 */

/**
 * What went wrong, as a stable string to branch on.
 *
 * - `E_NOT_FOUND`: the entry file does not exist, is not a file, or there is
 *   nothing to roll back to.
 * - `E_OUTSIDE_ROOTS`: a file of the generation resolves outside `roots`.
 * - `E_PERMISSION`: the host lacks read permission for a file of the generation.
 * - `E_INTEGRITY`: the generation's digest differs from the `integrity` pin.
 * - `E_IMPORT`: syntax error, top-level throw, unresolved or unsupported import.
 * - `E_SIGNATURE`: an artifact is unsigned, tampered with, or not signed by a
 *   trusted, unrevoked, unexpired key scoped to the contract, or replays an
 *   older sequence (`SignatureError.reason` says which).
 * - `E_SYMBOL`: the handle symbol is not exported.
 * - `E_CONTRACT`: the handle does not match the contract.
 * - `E_INIT`: the handle factory threw or rejected.
 * - `E_TIMEOUT`: loading took longer than `loadTimeout`.
 * - `E_CLOSED`: the hot-swap reference is closed.
 * - `E_UNSUPPORTED`: the requested mode needs a runtime feature that is missing.
 * - `E_WORKER`: the worker running the generation crashed or was terminated.
 * - `E_STORE`: a fleet store (section 13) cannot be reached, or holds a malformed record.
 */
export type HotswapErrorCode =
  | "E_NOT_FOUND"
  | "E_OUTSIDE_ROOTS"
  | "E_PERMISSION"
  | "E_INTEGRITY"
  | "E_IMPORT"
  | "E_SIGNATURE"
  | "E_SYMBOL"
  | "E_CONTRACT"
  | "E_INIT"
  | "E_TIMEOUT"
  | "E_CLOSED"
  | "E_UNSUPPORTED"
  | "E_WORKER"
  | "E_STORE";

const CODES: ReadonlySet<string> = new Set<HotswapErrorCode>([
  "E_NOT_FOUND",
  "E_OUTSIDE_ROOTS",
  "E_PERMISSION",
  "E_INTEGRITY",
  "E_IMPORT",
  "E_SIGNATURE",
  "E_SYMBOL",
  "E_CONTRACT",
  "E_INIT",
  "E_TIMEOUT",
  "E_CLOSED",
  "E_UNSUPPORTED",
  "E_WORKER",
  "E_STORE",
]);

/** Whether a value (say, one that crossed a worker boundary) is one of the codes above. */
export function isHotswapErrorCode(value: unknown): value is HotswapErrorCode {
  return typeof value === "string" && CODES.has(value);
}

/** Options of {@linkcode HotswapError} beyond the standard `cause`. */
export interface HotswapErrorOptions extends ErrorOptions {
  /** The file the failure is about, as an absolute path. */
  path?: string | undefined;
  /** The generation that stays active after the failure, if any. */
  activeGeneration?: number | undefined;
}

// Captured when the runtime loads, before a generation's code can replace it.
const defineProperty = Object.defineProperty;

/**
 * A failure a caller is expected to handle: a swap that was refused, a call
 * on a closed reference, a worker that crashed. Branch on `code`.
 *
 * @example Branch on the code
 * ```ts
 * import { HotswapError } from "@hotswap/runtime";
 * import { strictEqual } from "node:assert/strict";
 *
 * const error = new HotswapError("E_NOT_FOUND", "Cannot load \"x.ts\": no such file", { path: "/x.ts" });
 * strictEqual(error.code, "E_NOT_FOUND");
 * strictEqual(error.path, "/x.ts");
 * ```
 */
export class HotswapError extends Error {
  /** What went wrong, machine-readable. */
  readonly code: HotswapErrorCode;
  /** The file involved, as an absolute path, when there is one. */
  readonly path: string | undefined;
  /** The generation that kept serving after this failure, when there is one. */
  readonly activeGeneration: number | undefined;

  /**
   * Creates an error; the message says what failed, then what to do.
   *
   * @param code The machine-readable code.
   * @param message What failed, the state, and the fix.
   * @param options `cause`, `path` and `activeGeneration`.
   */
  constructor(
    code: HotswapErrorCode,
    message: string,
    options?: HotswapErrorOptions,
  ) {
    super(message, options);
    // Defined, not assigned: an assignment would run a setter a generation
    // sharing the realm put on `Error.prototype`, handing it this class.
    defineProperty(this, "name", {
      value: "HotswapError",
      writable: true,
      enumerable: true,
      configurable: true,
    });
    this.code = code;
    this.path = options?.path;
    this.activeGeneration = options?.activeGeneration;
  }
}

/**
 * Adds to a failure which generation stayed active: its `activeGeneration`,
 * and the same note at the end of its message and of its stack's first line.
 * The error is changed in place, so its stack, `cause` and class survive.
 *
 * @param error The failure of a swap.
 * @param active The generation still serving.
 * @returns The same error.
 */
export function noteActiveGeneration(error: HotswapError, active: number): HotswapError {
  const before = `${error.name}: ${error.message}`;
  const message = `${error.message} (generation ${active} stays active)`;
  const stack = error.stack;
  Object.defineProperty(error, "message", { value: message, writable: true, configurable: true });
  Object.defineProperty(error, "activeGeneration", { value: active, enumerable: true, configurable: true });
  if (typeof stack === "string" && stack.startsWith(before)) {
    const stackText = `${error.name}: ${message}${stack.slice(before.length)}`;
    Object.defineProperty(error, "stack", { value: stackText, writable: true, configurable: true });
  }
  return error;
}

/** A kind of value with its article, as a message says it: `an object`, `a function`; `undefined` and `null` bare. */
export function aKind(kind: string): string {
  if (kind === "undefined" || kind === "null") return kind;
  return `${/^[aeiou]/.test(kind) ? "an" : "a"} ${kind}`;
}

/** The message of a thrown value: an Error's `message`, anything else as text. */
export function messageOf(value: unknown): string {
  try {
    return value instanceof Error ? String(value.message) : String(value);
  } catch {
    return `${aKind(typeof value)} that cannot be printed`;
  }
}

/** Renders any thrown value as one short line for an error message. */
export function describeThrown(value: unknown): string {
  try {
    if (value instanceof Error) {
      const first = String(value.message).split("\n", 1)[0] ?? "";
      return `${value.name}: ${first}`;
    }
    return `${typeof value} ${thrownText(value)}`;
  } catch {
    return `${aKind(typeof value)} that cannot be printed`;
  }
}

/**
 * A thrown value that is no Error, as text: JSON for an object whose JSON
 * says anything (`{ status: 418 }` keeps its fields), else `String()`. JSON
 * writes a shared object once per reference, so a few nested ones could
 * make it exponentially long: past {@linkcode MAX_THROWN_VALUES} values the
 * text says the value is too large instead.
 */
export function thrownText(value: unknown): string {
  if (typeof value === "object" && value !== null) {
    let values = 0;
    try {
      const json = JSON.stringify(value, (_key, member: unknown) => {
        if (++values > MAX_THROWN_VALUES) throw TOO_LARGE;
        return member;
      });
      if (json !== undefined && json !== "{}") return json;
    } catch (error) {
      if (error === TOO_LARGE) return `${Object.prototype.toString.call(value)}, too large to print`;
      // A cycle or a throwing getter: as String() renders it, but for an array, which it joins as deep.
    }
    if (Array.isArray(value)) return Object.prototype.toString.call(value);
  }
  return String(value);
}

/** Values of a thrown object written out in its text, at most. */
const MAX_THROWN_VALUES = 4096;
const TOO_LARGE = Symbol("too large");

/** SGR escape sequences (colours), as Deno writes them. */
// deno-lint-ignore no-control-regex
const ANSI_COLOUR = /\u001b\[[0-9;]*m/g;

/**
 * Rewrites the stacks of an error and of its causes with `unblob`, so that
 * frames name files rather than the `blob:` URLs a snapshot was minted at;
 * an error whose stack cannot be read or set keeps it.
 */
export function renameFrames(error: unknown, unblob: (text: string) => string, depth = 0): void {
  if (!(error instanceof Error) || depth > 8) return;
  try {
    const stack = error.stack;
    // Deno colours the location in the stack of an import it cannot resolve, terminal or not.
    if (typeof stack === "string" && (stack.includes("blob:") || stack.includes("\u001b["))) {
      error.stack = unblob(stack).replace(ANSI_COLOUR, "");
    }
    renameFrames(error.cause, unblob, depth + 1);
  } catch {
    // A frozen error, or a getter that throws: it is the generation's to keep.
  }
}
