/**
 * The generation side of an isolation boundary, shared by the worker
 * program and the process program: import a minted snapshot (through a
 * namespace wrapper when it may export `then`), resolve and verify the handle with the same code as
 * inline loading, describe the handle for the host (functions by index, data
 * by value), then invoke members and run hooks on the host's behalf,
 * answering through the transport's callbacks.
 *
 * Runs beside generation code, in the same realm: the built-ins it relies on
 * after a generation loaded are captured when this module is evaluated,
 * which is before any generation code runs. Imports nothing host-only.
 *
 * @module
 */

import { Contract, type ContractDefinition, type ShapeDefinition } from "./contract.ts";
import { HotswapError, messageOf } from "./errors.ts";
import { callHook, importError, type ModuleHooks, resolveHandle } from "./handle.ts";
import { VIEWS } from "./_codec_format.ts";
import { importNamespace } from "./_namespace_import.ts";
import {
  type ContractFields,
  type MemberDescriptor,
  type SerializedError,
  serializeError,
} from "./_protocol.ts";

// deno-lint-ignore ban-types -- the handle's functions have any signature
type AnyFunction = Function;

interface Callable {
  readonly fn: AnyFunction;
  readonly owner: unknown;
}

/** Captured before generation code runs, which may replace `Promise.prototype.then`. */
const promiseThen = Promise.prototype.then;
const apply = Reflect.apply;

/** How a guest answers the host; the transport decides how the answer travels. */
export interface GuestReplies {
  /** A call or hook succeeded with `value`. */
  succeed(id: number, value: unknown): void;
  /** A call or hook failed; `error` is already serialised with file paths for `blob:` URLs. */
  fail(id: number, error: SerializedError): void;
}

/** What a guest needs to load a generation whose snapshot is already minted. */
export interface GuestLoad {
  /** The minted entry URL. */
  readonly url: string;
  /** Whether the entry may export `then`, so must be imported through a wrapper. */
  readonly thenable: boolean;
  /** The entry file, for messages. */
  readonly entry: string;
  /** Minted URL (and source-map URL) to file path, so errors name files. */
  readonly files: ReadonlyMap<string, string>;
  readonly contract: ContractFields;
  readonly generation: number;
  readonly digest: string;
  readonly previous: unknown;
}

/** What a guest reports once the handle is verified. */
export interface GuestLoaded {
  readonly handle: MemberDescriptor;
  readonly hooks: { readonly handoff: boolean; readonly dispose: boolean };
}

/** One generation on the far side of a boundary: its callable members, hooks and abort signal. */
export class Guest {
  readonly #replies: GuestReplies;
  readonly #copyable: (value: unknown) => void;
  readonly #functions: Callable[] = [];
  readonly #controller = new AbortController();
  #hooks: ModuleHooks = { handoff: undefined, dispose: undefined };
  #files: ReadonlyMap<string, string> = new Map();

  /**
   * @param replies Where answers go.
   * @param copyable Throws for a value the transport cannot copy to the host
   *   (a handle's data member is checked at load, to name it in the error).
   */
  constructor(replies: GuestReplies, copyable: (value: unknown) => void) {
    this.#replies = replies;
    this.#copyable = copyable;
  }

  /**
   * Imports the minted snapshot and resolves, verifies and describes its handle.
   *
   * @throws {HotswapError} `E_IMPORT`, `E_SYMBOL`, `E_INIT` or `E_CONTRACT`.
   */
  async load(request: GuestLoad): Promise<GuestLoaded> {
    this.#files = request.files;
    const contract = new Contract(request.contract as ContractDefinition<unknown>);
    let namespace: Record<string, unknown>;
    try {
      ({ namespace } = await importNamespace(request.url, request.thenable));
    } catch (error) {
      throw importError(error, this.#files, request.entry);
    }
    const resolved = await resolveHandle(namespace, contract, {
      generation: request.generation,
      digest: request.digest,
      previous: request.previous,
      signal: this.#controller.signal,
    }, request.entry);
    const handle = this.#describe(resolved.handle, contract.shape, "", request.entry, [], new MemberReads());
    this.#hooks = resolved.hooks;
    return {
      handle,
      hooks: { handoff: this.#hooks.handoff !== undefined, dispose: this.#hooks.dispose !== undefined },
    };
  }

  /** Calls the handle function with index `member` and answers once its result settles. */
  invoke(id: number, member: number, args: readonly unknown[]): void {
    const target = this.#functions[member];
    let result: unknown;
    try {
      if (target === undefined) {
        throw new HotswapError(
          "E_WORKER",
          `Cannot call member #${member}: the generation has no such function`,
        );
      }
      result = apply(target.fn, target.owner, args);
    } catch (error) {
      this.fail(id, error);
      return;
    }
    this.#deliver(id, result);
  }

  /** Runs the module's `handoff` or `dispose` export and answers with what it returns. */
  hook(id: number, name: "handoff" | "dispose"): void {
    promiseThen.call(
      callHook(this.#hooks[name]),
      (value) => this.#replies.succeed(id, value),
      (error) => this.fail(id, error),
    );
  }

  /** Aborts the signal the generation's factory received. */
  abort(reason: string): void {
    this.#controller.abort(new DOMException(reason, "AbortError"));
  }

  /** Answers `id` with `error`, serialised with file paths in place of minted URLs. */
  fail(id: number, error: unknown): void {
    this.#replies.fail(id, serializeError(error, this.#files));
  }

  /**
   * Answers a call, once its result settles when it is a promise or thenable.
   * A native promise is awaited through the intrinsic `then` (captured before
   * any generation code ran), so an own or replaced `then` cannot keep the
   * call pending; a `then` getter that throws makes the value a plain one,
   * which then fails to copy with that error.
   */
  #deliver(id: number, result: unknown): void {
    const answer = (value: unknown) => this.#replies.succeed(id, value);
    const reject = (error: unknown) => this.fail(id, error);
    try {
      // A Proxy whose prototype trap throws, or an object made from Promise.prototype that
      // no `then` accepts: that call rejects, and the loop serving every call goes on.
      if (result instanceof Promise) {
        promiseThen.call(result, answer, reject);
        return;
      }
    } catch (error) {
      reject(error);
      return;
    }
    let then: unknown;
    try {
      then = (typeof result === "object" && result !== null) || typeof result === "function"
        ? (result as { then?: unknown }).then
        : undefined;
    } catch {
      then = undefined;
    }
    if (typeof then === "function") promiseThen.call(Promise.resolve(result), answer, reject);
    else answer(result);
  }

  /**
   * Describes a handle object for the host: functions become indices into
   * the function table (called with their owner as `this`), objects holding
   * functions are walked, and everything else is copied once, by value.
   * Members come from the object's own enumerable keys, its class's methods
   * and getters, and the contract's shape.
   */
  #describe(
    value: unknown,
    shape: ShapeDefinition | undefined,
    path: string,
    entry: string,
    stack: unknown[],
    reads: MemberReads,
  ): MemberDescriptor {
    const functions = this.#functions;
    if (typeof value === "function") {
      functions.push({ fn: value, owner: undefined });
      return { kind: "function", index: functions.length - 1 };
    }
    if (!holdsFunctions(value, 0, reads)) {
      return { kind: "value", value: this.#cloneable(value, path, entry) };
    }
    if (stack.includes(value)) {
      throw new HotswapError(
        "E_CONTRACT",
        `Cannot hand "${entry}"'s handle to the host: member "${path}" refers back to itself; break the cycle or make it plain data`,
        { path: entry },
      );
    }
    const owner = value as Record<string, unknown>;
    const members: Record<string, MemberDescriptor> = {};
    for (const key of memberKeys(owner, shape)) {
      const memberPath = path ? `${path}.${key}` : key;
      // An object holding functions is described once per path that reaches it: a few shared
      // ones nested deep would make the description grow exponentially.
      if (++reads.described > MAX_DESCRIBED) {
        throw new HotswapError(
          "E_CONTRACT",
          `Cannot hand "${entry}"'s handle to the host: it has more than ${MAX_DESCRIBED} members to describe (an object holding functions counts once per path that reaches it; "${memberPath}" is one too many); make the shared parts plain data, or reach them through functions`,
          { path: entry },
        );
      }
      const read = reads.read(owner, key);
      if ("threw" in read) {
        // A getter that throws: left out, as no value can be copied, unless the contract needs it.
        if (shape === undefined || !(key in shape)) continue;
        throw new HotswapError(
          "E_INIT",
          `Cannot hand "${entry}"'s handle to the host: reading member "${memberPath}" threw ${
            messageOf(read.threw)
          }; data members are read once, at load, to be copied: make it a value, or a function the host calls`,
          { path: entry, cause: read.threw },
        );
      }
      const member = read.value;
      // An optional member of the shape that the handle leaves out stays out.
      if (member === undefined && !(key in owner)) continue;
      if (typeof member === "function") {
        functions.push({ fn: member, owner });
        members[key] = { kind: "function", index: functions.length - 1 };
      } else {
        const nested = shape?.[key];
        members[key] = this.#describe(
          member,
          typeof nested === "object" ? nested : undefined,
          memberPath,
          entry,
          [...stack, value],
          reads,
        );
      }
    }
    return { kind: "object", members };
  }

  #cloneable(value: unknown, path: string, entry: string): unknown {
    try {
      this.#copyable(value);
    } catch (error) {
      throw new HotswapError(
        "E_CONTRACT",
        `Cannot copy member "${path || "(handle)"}" of "${entry}"'s handle to the host: ${
          messageOf(error)
        }; make it plain data, or a function the host calls`,
        { path: entry },
      );
    }
    return value;
  }
}

function memberKeys(owner: Record<string, unknown>, shape: ShapeDefinition | undefined): Set<string> {
  const keys = new Set(Object.keys(owner));
  for (
    let prototype = Object.getPrototypeOf(owner);
    prototype !== null && prototype !== Object.prototype && prototype !== Function.prototype;
    prototype = Object.getPrototypeOf(prototype)
  ) {
    for (const key of Object.getOwnPropertyNames(prototype)) {
      if (key !== "constructor") keys.add(key);
    }
  }
  for (const key of Object.keys(shape ?? {})) keys.add(key);
  return keys;
}

/** Members a handle's description may hold: as many as the host accepts (`_worker_messages.ts`). */
const MAX_DESCRIBED = 100_000;

/**
 * Prototypes of the built-in objects that are data: a `Date`, a `Map` or a
 * `Uint8Array` member is copied (the channel carries them), not made a
 * proxy of its methods. Captured when the runtime loads, before any
 * generation code runs. A subclass keeps its own methods, and stays an
 * object whose functions the host calls.
 */
const DATA_PROTOTYPES: ReadonlySet<object> = new Set([
  Date.prototype,
  RegExp.prototype,
  Map.prototype,
  Set.prototype,
  ArrayBuffer.prototype,
  DataView.prototype,
  Boolean.prototype,
  Number.prototype,
  String.prototype,
  BigInt.prototype,
  ...Object.values(VIEWS).map((view) => view.prototype),
]);

/**
 * The handle's members as read while it is described, each read once: a
 * getter runs once at load (its value is what is copied), not once per
 * pass over the handle.
 */
class MemberReads {
  readonly #reads = new Map<object, Map<string, { value: unknown } | { threw: unknown }>>();
  /** Whether an object holds functions, by the depth it was looked into from, once known. */
  readonly holds = new Map<object, (boolean | undefined)[]>();
  /** Members described so far, against {@linkcode MAX_DESCRIBED}. */
  described = 0;

  read(owner: Record<string, unknown>, key: string): { value: unknown } | { threw: unknown } {
    let reads = this.#reads.get(owner);
    if (reads === undefined) this.#reads.set(owner, reads = new Map());
    let read = reads.get(key);
    if (read === undefined) {
      try {
        read = { value: owner[key] };
      } catch (error) {
        read = { threw: error };
      }
      reads.set(key, read);
    }
    return read;
  }
}

/**
 * Whether an object (or a plain object or class instance inside it) has a
 * function member, looking {@linkcode HOLDS_DEPTH} levels deep at most. Each
 * object is looked into once from each depth: a shared object reached by
 * many paths costs no more than one reached once.
 */
function holdsFunctions(value: unknown, depth: number, reads: MemberReads): boolean {
  if (typeof value !== "object" || value === null || Array.isArray(value) || depth > HOLDS_DEPTH) {
    return false;
  }
  if (DATA_PROTOTYPES.has(Object.getPrototypeOf(value))) return false;
  let known = reads.holds.get(value);
  if (known === undefined) reads.holds.set(value, known = []);
  if (known[depth] !== undefined) return known[depth];
  const owner = value as Record<string, unknown>;
  for (const key of memberKeys(owner, undefined)) {
    const read = reads.read(owner, key);
    if ("threw" in read) continue;
    if (typeof read.value === "function" || holdsFunctions(read.value, depth + 1, reads)) {
      return known[depth] = true;
    }
  }
  return known[depth] = false;
}

/** Levels below a handle's member that are looked into for functions. */
const HOLDS_DEPTH = 8;

/**
 * What a call rejects with when its result cannot cross to the host (a
 * function, a symbol, a `WeakMap` in it): an `E_WORKER` that says so, the
 * encoder's `DataCloneError` as its cause. Left as it is, that error could
 * not be told from one the generation threw itself. Any other error (a
 * result too large, say) is returned as it is.
 */
export function uncopiedResult(error: unknown): unknown {
  if (!(error instanceof Error) || error.name !== "DataCloneError") return error;
  return new HotswapError(
    "E_WORKER",
    `The call's result cannot be copied to the host: ${error.message}; return data structured cloning carries (no functions, symbols or WeakMaps)`,
    { cause: error },
  );
}
