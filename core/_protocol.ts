/**
 * Messages between the host and a generation worker, and how values that do
 * not survive structured cloning (errors, the handle's functions) cross the
 * boundary. Imported on both sides, so it imports nothing host-only.
 *
 * @module
 */

import { ContractError } from "./contract.ts";
import { aKind, HotswapError, type HotswapErrorCode, isHotswapErrorCode, thrownText } from "./errors.ts";
import type { ColumnShift } from "./_source_map.ts";

/** The contract's serialisable fields; the worker rebuilds the `Contract` from them. */
export interface ContractFields {
  readonly name: string;
  readonly version: string;
  readonly symbol: string;
  readonly shape: unknown;
}

/**
 * An error as it crosses the boundary. A custom `Error` subclass posted from
 * a Worker arrives as a plain `Error` with `code` gone, so the fields are
 * sent explicitly and the receiver rebuilds the error.
 */
export interface SerializedError {
  readonly name: string;
  readonly message: string;
  readonly stack: string | undefined;
  readonly code: HotswapErrorCode | undefined;
  readonly path: string | undefined;
  readonly problems: readonly string[] | undefined;
  /** The error's `cause`, flattened the same way (a value that is not an Error becomes its text). */
  readonly cause?: SerializedError | undefined;
  /** An `AggregateError`'s errors, flattened the same way: at most {@linkcode MAX_AGGREGATED}. */
  readonly errors?: readonly SerializedError[] | undefined;
  /**
   * For a thrown value (or cause) that is no Error but that JSON carries (a
   * string, a finite number, a boolean, null, a plain object or array): its
   * JSON text, from which the host rebuilds the value itself, as native code
   * would catch it (see {@linkcode rebuildThrown}). The other fields
   * describe it as text, for a host that cannot.
   */
  readonly thrown?: string | undefined;
  /**
   * Its other own properties whose values are primitives (`code: "ECONNREFUSED"`, `status: 503`),
   * at most {@linkcode MAX_PROPS}, set again on the rebuilt error.
   */
  readonly props?: Readonly<Record<string, string | number | boolean | null>> | undefined;
}

/** Own properties an error record carries besides its fields. */
export const MAX_PROPS = 32;

/** Keys a rebuilt error has of its own, or that would change what it is: never carried as props. */
export const RESERVED_PROPS: ReadonlySet<string> = new Set([
  "name",
  "message",
  "stack",
  "cause",
  "code",
  "path",
  "problems",
  "__proto__",
  "constructor",
]);

/** Longest message or stack sent across; the receiver cuts again, this spares the copy. */
const MAX_TEXT = 64 * 1024;

function cut(text: string): string {
  return text.length <= MAX_TEXT
    ? text
    : `${text.slice(0, MAX_TEXT)}… (${text.length - MAX_TEXT} more characters cut)`;
}

/** How many links of a `cause` chain (or nested `AggregateError`s) cross the boundary; deeper ones are cut. */
const CAUSE_DEPTH = 4;
/** How many of an `AggregateError`'s errors cross the boundary; the rest are cut. */
export const MAX_AGGREGATED = 16;
/**
 * Records one error may cross as, its causes and aggregated errors counted:
 * aggregated errors make a tree, which must not grow with its depth.
 */
export const MAX_ERROR_RECORDS = 64;
/** Problems of a contract error a record carries (the host keeps as many). */
const MAX_PROBLEMS = 256;

/** How a handle member is rebuilt in the host. */
export type MemberDescriptor =
  | { readonly kind: "function"; readonly index: number }
  | { readonly kind: "object"; readonly members: Readonly<Record<string, MemberDescriptor>> }
  | { readonly kind: "value"; readonly value: unknown };

/** Host to worker. Every message after `init` has a ring marker that fixes its order among calls. */
export type HostMessage =
  | { readonly t: "init"; readonly buffer: SharedArrayBuffer }
  | {
    readonly t: "load";
    readonly id: number;
    readonly url: string;
    /** Whether the entry may export `then` (see `_namespace_import.ts`). */
    readonly thenable: boolean;
    readonly entry: string;
    readonly files: readonly (readonly [string, string])[];
    /** Where minted modules' columns moved, by URL (see `_source_map.ts`). */
    readonly shifts: readonly (readonly [string, readonly ColumnShift[]])[];
    /**
     * Whether a module of the snapshot imports one outside it (`node:`, `npm:`, a URL; or may: an
     * artifact's modules do not say): such code may reach Node's `process` without reading
     * `globalThis.process`, so the worker locks Node's built-ins before evaluating it.
     */
    readonly externals: boolean;
    readonly contract: ContractFields;
    readonly generation: number;
    readonly digest: string;
    readonly previous: unknown;
  }
  | { readonly t: "call"; readonly id: number; readonly member: number; readonly args: readonly unknown[] }
  | { readonly t: "hook"; readonly id: number; readonly name: "handoff" | "dispose" }
  | { readonly t: "abort"; readonly id: number; readonly reason: string };

/** Longest encoded result a worker may post (characters): the limit of process isolation's frames. */
export const MAX_WORKER_RESULT = 64 * 1024 * 1024;

/** Worker to host. */
export type WorkerMessage =
  | { readonly t: "ready" }
  | {
    readonly t: "loaded";
    readonly id: number;
    readonly handle: MemberDescriptor;
    readonly hooks: { readonly handoff: boolean; readonly dispose: boolean };
  }
  | {
    readonly t: "result";
    readonly id: number;
    /**
     * The result as `_codec.ts` encodes it, at most {@linkcode MAX_WORKER_RESULT}
     * characters: a result that fits no ring record. Structured cloning would copy
     * a string once per reference to it, so a result of a few MiB could be
     * gigabytes by the time the host deserialised it.
     */
    readonly encoded: string;
  }
  | { readonly t: "error"; readonly id: number; readonly error: SerializedError }
  | { readonly t: "exit"; readonly how: string }
  | {
    /**
     * An error nobody caught, or a rejection nobody handled, in the
     * generation: the worker ends after saying so (told here rather than by
     * Deno, which would also print it on the host's stderr, naming `blob:`
     * URLs). `what` is `Uncaught Name: message`; `where` the file, line and
     * column it was thrown at, when known.
     */
    readonly t: "crash";
    readonly what: string;
    readonly where?: string | undefined;
  };

/**
 * Worker to host, as posted: a loaded reply's handle description (which
 * holds the data members) travels as the codec's text, at most
 * {@linkcode MAX_WORKER_RESULT} characters, as a result does; the host
 * decodes it into the {@linkcode WorkerMessage} it checks.
 */
export type PostedWorkerMessage =
  | Exclude<WorkerMessage, { readonly t: "loaded" }>
  | { readonly t: "loaded"; readonly id: number; readonly encoded: string };

/**
 * Flattens any thrown value into fields that survive `postMessage`,
 * writing file paths where the message names a minted `blob:` URL.
 *
 * @param error What was thrown.
 * @param files Minted URL to file path, to make messages point at real files.
 */
export function serializeError(
  error: unknown,
  files: ReadonlyMap<string, string> = new Map(),
  depth = 0,
  budget: { records: number } = { records: 0 },
): SerializedError {
  budget.records++;
  const deeper = (value: unknown) => serializeError(value, files, depth + 1, budget);
  const room = () => depth < CAUSE_DEPTH && budget.records < MAX_ERROR_RECORDS;
  const unblob = (text: string): string => {
    for (const [url, path] of files) text = text.replaceAll(url, path);
    return text;
  };
  try {
    if (error instanceof Error) {
      // Only the runtime's own errors carry a runtime code across: a generation's
      // error whose `code` happens to read "E_TIMEOUT" stays the generation's error.
      const runtime = error instanceof HotswapError;
      const code = (error as { code?: unknown }).code;
      const path = (error as { path?: unknown }).path;
      const problems = (error as { problems?: unknown }).problems;
      const cause = error.cause;
      // Every text cut, and the problems counted, before anything is copied: a record is
      // cloned whole, and one string referenced many times would be copied each time.
      return {
        name: cut(String(error.name)),
        message: unblob(cut(String(error.message))),
        stack: typeof error.stack === "string" ? unblob(cut(error.stack)) : undefined,
        code: runtime && isHotswapErrorCode(code) ? code : undefined,
        path: typeof path === "string" ? cut(path) : undefined,
        problems: Array.isArray(problems)
          ? problems.slice(0, MAX_PROBLEMS).map((problem) => cut(String(problem)))
          : undefined,
        props: ownProps(error, code, runtime),
        cause: cause === undefined || !room() ? undefined : deeper(cause),
        errors: aggregated(error, room, deeper),
      };
    }
    return {
      name: "Error",
      // What cannot cross as the value crosses as text (SPEC 5): an object as JSON, so its fields survive.
      message: `${/^[aeiou]/.test(typeof error) ? "an" : "a"} ${typeof error} was thrown: ${
        unblob(cut(thrownText(error)))
      }`,
      stack: undefined,
      code: undefined,
      path: undefined,
      problems: undefined,
      thrown: thrownJson(error),
    };
  } catch {
    return {
      name: "Error",
      message: `${aKind(typeof error)} that cannot be printed was thrown`,
      stack: undefined,
      code: undefined,
      path: undefined,
      problems: undefined,
    };
  }
}

/** The errors of an `AggregateError`, flattened while the budget lasts. */
function aggregated(
  error: Error,
  room: () => boolean,
  deeper: (value: unknown) => SerializedError,
): SerializedError[] | undefined {
  if (!(error instanceof AggregateError) || !Array.isArray(error.errors)) return undefined;
  const errors: SerializedError[] = [];
  for (const each of error.errors.slice(0, MAX_AGGREGATED)) {
    if (!room()) break;
    errors.push(deeper(each));
  }
  return errors;
}

/** An error's own enumerable properties with primitive values, a code that is not a runtime's among them. */
function ownProps(
  error: Error,
  code: unknown,
  runtime: boolean,
): Record<string, string | number | boolean | null> | undefined {
  const props: Record<string, string | number | boolean | null> = {};
  let count = 0;
  if (typeof code === "string" && !(runtime && isHotswapErrorCode(code))) props.code = cut(code), count++;
  for (const key of Object.keys(error)) {
    if (count >= MAX_PROPS) break;
    if (RESERVED_PROPS.has(key)) continue;
    const value = (error as unknown as Record<string, unknown>)[key];
    if (value === null || typeof value === "number" || typeof value === "boolean") props[key] = value;
    else if (typeof value === "string") props[key] = cut(value);
    else continue;
    count++;
  }
  return count === 0 ? undefined : props;
}

type ErrorClass = new (message: string, options?: ErrorOptions) => Error;

const BUILTIN_ERRORS: Readonly<Record<string, ErrorClass>> = {
  Error,
  TypeError,
  RangeError,
  SyntaxError,
  ReferenceError,
  EvalError,
  URIError,
};

/**
 * The runtime codes an error from a generation's side may carry, by what it
 * answers; any other code there is the generation's. The guest tells its
 * own errors by `instanceof HotswapError`, which a generation sharing its
 * realm can forge (a setter on `Error.prototype`, `Error.prepareStackTrace`
 * or any other hook the runtime's code runs through can hand it the class),
 * so the host takes a runtime code only where the guest's runtime raises
 * one, and never one that speaks of the host's own state (`E_CLOSED`,
 * `E_TIMEOUT`, `E_INTEGRITY`, ...). A value (a result, an argument) carries
 * none: an error in it is data.
 */
export const GUEST_CODES: {
  readonly load: ReadonlySet<HotswapErrorCode>;
  readonly call: ReadonlySet<HotswapErrorCode>;
  readonly control: ReadonlySet<HotswapErrorCode>;
  readonly value: ReadonlySet<HotswapErrorCode>;
} = {
  load: new Set(["E_IMPORT", "E_SYMBOL", "E_INIT", "E_CONTRACT"]),
  call: new Set(["E_WORKER"]),
  control: new Set(["E_WORKER"]),
  value: new Set(),
};

/** Every runtime code: what the host's own reader may raise. */
export const ANY_CODE: CodeSet = { has: isHotswapErrorCode };

/** Which runtime codes a sender may raise. */
export type CodeSet = Pick<ReadonlySet<HotswapErrorCode>, "has">;

/**
 * What a generation threw, rebuilt on this side: the value itself when it
 * was no Error and crossed as JSON (`throw "busy"` rejects with `"busy"`,
 * `throw { status: 418 }` with such an object), else the rebuilt Error.
 *
 * @param fields The sent fields.
 * @param codes The runtime codes its sender may raise (see {@linkcode GUEST_CODES}).
 */
export function rebuildThrown(fields: SerializedError, codes: CodeSet): unknown {
  if (fields.thrown !== undefined) {
    try {
      return JSON.parse(fields.thrown);
    } catch {
      // Cut on its way, or not JSON: the Error describing it will do.
    }
  }
  return rebuildError(fields, codes);
}

/**
 * The JSON text of a thrown value that is no Error, when JSON carries it
 * whole and it fits a message ({@linkcode MAX_THROWN}); else `undefined`.
 */
function thrownJson(value: unknown): string | undefined {
  if (!jsonPlain(value, 0, { nodes: 0 })) return undefined;
  try {
    const json = JSON.stringify(value);
    return json !== undefined && json.length <= MAX_THROWN ? json : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Whether JSON carries `value` as it is, all the way down: strings, finite
 * numbers, booleans, null, arrays and plain objects without `toJSON` (a
 * Date, an Error, NaN or `undefined` inside would change on the way). JSON
 * writes a shared object once per reference: past {@linkcode MAX_THROWN}
 * values visited, its text would be too long anyway, and the look stops.
 */
function jsonPlain(value: unknown, depth: number, visited: { nodes: number }): boolean {
  if (++visited.nodes > MAX_THROWN) return false;
  if (value === null || typeof value === "string" || typeof value === "boolean") return true;
  if (typeof value === "number") return Number.isFinite(value);
  if (typeof value !== "object" || depth > 32) return false;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      if (!(i in value) || !jsonPlain(value[i], depth + 1, visited)) return false;
    }
    return true;
  }
  const prototype = Object.getPrototypeOf(value);
  if ((prototype !== Object.prototype && prototype !== null) || "toJSON" in value) return false;
  for (const key of Object.keys(value)) {
    if (!jsonPlain((value as Record<string, unknown>)[key], depth + 1, visited)) return false;
  }
  return true;
}

/** Longest JSON text of a thrown value carried as the value (characters); a longer one crosses as text. */
const MAX_THROWN = 16 * 1024;

/**
 * Rebuilds an error sent by {@linkcode serializeError}: a `HotswapError` (or
 * `ContractError`) when it carries a code its sender may raise, an instance
 * of the matching built-in or `Deno.errors` class when its name is one (so
 * `instanceof Deno.errors.NotCapable` holds on the host), else an `Error`
 * with the name. A code its sender may not raise stays a plain property, as
 * on any error a generation throws.
 *
 * @param fields The sent fields.
 * @param codes The runtime codes its sender may raise (see {@linkcode GUEST_CODES}).
 */
export function rebuildError(fields: SerializedError, codes: CodeSet): Error {
  let error: Error;
  const cause = fields.cause === undefined ? {} : { cause: rebuildThrown(fields.cause, codes) };
  const code = fields.code !== undefined && codes.has(fields.code) ? fields.code : undefined;
  if (code === "E_CONTRACT") {
    error = new ContractError(fields.message, fields.problems ?? [], { path: fields.path, ...cause });
  } else if (code !== undefined) {
    error = new HotswapError(code, fields.message, { path: fields.path, ...cause });
  } else {
    const denoErrors = (globalThis as { Deno?: { errors?: Record<string, unknown> } }).Deno?.errors ?? {};
    const named = Object.hasOwn(BUILTIN_ERRORS, fields.name)
      ? BUILTIN_ERRORS[fields.name]
      : Object.hasOwn(denoErrors, fields.name)
      ? denoErrors[fields.name] as ErrorClass
      : undefined;
    // Its errors say what it is, a subclass (class BatchError extends AggregateError) included.
    error = fields.errors !== undefined
      ? new AggregateError(
        fields.errors.map((each) => rebuildThrown(each, codes)),
        fields.message,
        cause,
      )
      : new (named ?? Error)(fields.message, cause);
    if (error.name !== fields.name) error.name = fields.name;
  }
  const props = code === fields.code ? fields.props : { ...fields.props, code: fields.code };
  for (const [key, value] of Object.entries(props ?? {})) {
    if (!RESERVED_PROPS.has(key) || (key === "code" && code === undefined)) {
      Object.defineProperty(error, key, { value, writable: true, enumerable: true, configurable: true });
    }
  }
  if (fields.stack !== undefined) {
    // Keep the worker's stack: it says where in the generation the error arose.
    Object.defineProperty(error, "stack", { value: fields.stack, writable: true, configurable: true });
  }
  return error;
}
