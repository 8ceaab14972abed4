/**
 * The program a generation worker runs: it imports the generation's minted
 * snapshot, resolves and verifies the handle with the same code as inline
 * loading, describes the handle to the host (functions by index, data by
 * value), then answers calls from the shared-memory ring and from messages,
 * in the order the host sent them.
 *
 * It runs with only the permissions granted to the generation and imports
 * nothing host-only.
 *
 * @module
 */

import { Contract, type ContractDefinition, type ShapeDefinition } from "./contract.ts";
import { HotswapError } from "./errors.ts";
import { callHook, importError, type ModuleHooks, resolveHandle } from "./handle.ts";
import {
  type HostMessage,
  type MemberDescriptor,
  type SerializedError,
  serializeError,
  type WorkerMessage,
} from "./_protocol.ts";
import { OP_MESSAGE, OP_RESULT, RingReader, RingWriter } from "./_rpc_channel.ts";

/** The parts of the worker global scope this program uses. */
interface WorkerScope {
  postMessage(message: WorkerMessage): void;
  addEventListener(type: "message", listener: (event: MessageEvent<HostMessage>) => void): void;
  close(): void;
}

/**
 * How long the worker spins on the request ring before it sleeps. A sleeping
 * worker costs the caller a thread wake-up (tens of microseconds); a caller
 * that sends its next call right after an answer finds it still spinning.
 * Between rounds the worker yields to microtasks, so calls that finish
 * asynchronously answer without waiting for the spin to end. In all about
 * 20 µs of one core per burst of calls.
 */
const SPIN_ROUNDS = 8;
const SPIN_CHECKS = 500;

// deno-lint-ignore ban-types -- the handle's functions have any signature
type AnyFunction = Function;

interface Callable {
  readonly fn: AnyFunction;
  readonly owner: unknown;
}

const scope = globalThis as unknown as WorkerScope;
/** Captured before generation code runs, which may replace `Promise.prototype.then`. */
const promiseThen = Promise.prototype.then;
// Captured before the generation loads: it shares this realm and may delete
// or replace the global, which must not break copying its handle.
const clone = globalThis.structuredClone;
let requests: RingReader | undefined;
let responses: RingWriter | undefined;
/** Messages that arrived before their marker record; handled when the ring reaches it. */
const posted = new Map<number, HostMessage>();
let messageArrived: PromiseWithResolvers<void> | undefined;
const functions: Callable[] = [];
let hooks: ModuleHooks = { handoff: undefined, dispose: undefined };
/** Minted URL to file path, so errors name files rather than `blob:` URLs. */
let files: ReadonlyMap<string, string> = new Map();
const controller = new AbortController();

scope.addEventListener("message", (event) => {
  const message = event.data;
  if (message.t === "init") {
    requests = new RingReader(message.buffer, "request");
    responses = new RingWriter(message.buffer, "response");
    reportExits();
    scope.postMessage({ t: "ready" });
    serve().catch((error) => {
      // Only a bug of this program lands here: say so, then die like a crash.
      console.error("hotswap worker: the call loop failed:", error);
      scope.close();
    });
    return;
  }
  posted.set(message.id, message);
  messageArrived?.resolve();
});

/** Handles requests for the life of the worker, sleeping when there are none. */
async function serve(): Promise<void> {
  const ring = requests!;
  for (;;) {
    if (!drain(ring)) {
      // The ring's next record stands for a message still in transit.
      messageArrived = Promise.withResolvers<void>();
      await messageArrived.promise;
      messageArrived = undefined;
      continue;
    }
    let arrived = false;
    for (let round = 0; round < SPIN_ROUNDS && !arrived; round++) {
      await null;
      arrived = ring.spin(SPIN_CHECKS);
    }
    if (arrived) continue;
    const sleep = ring.sleep();
    if (sleep !== undefined) await sleep;
  }
}

/**
 * Handles every published request in order.
 *
 * @returns `false` when stopped at a marker whose message has not arrived.
 */
function drain(ring: RingReader): boolean {
  while (ring.available) {
    const id = ring.id();
    const op = ring.op();
    if (op === OP_MESSAGE) {
      const message = posted.get(id);
      if (message === undefined) return false;
      posted.delete(id);
      ring.advance();
      handle(message);
    } else {
      const args = ring.payload();
      ring.advance();
      invoke(id, op, args as readonly unknown[]);
    }
  }
  return true;
}

function handle(message: HostMessage): void {
  switch (message.t) {
    case "call":
      invoke(message.id, message.member, message.args);
      return;
    case "load":
      load(message).catch((error) => fail(message.id, error));
      return;
    case "hook": {
      const hook = hooks[message.name];
      promiseThen.call(
        callHook(hook),
        (value) => succeed(message.id, value),
        (error) => fail(message.id, error),
      );
      return;
    }
    case "abort":
      controller.abort(new DOMException(message.reason, "AbortError"));
      succeed(message.id, undefined);
      return;
    case "init":
      return;
  }
}

function invoke(id: number, member: number, args: readonly unknown[]): void {
  const target = functions[member];
  let result: unknown;
  try {
    if (target === undefined) {
      throw new HotswapError(
        "E_WORKER",
        `Cannot call member #${member}: the generation has no such function`,
      );
    }
    result = Reflect.apply(target.fn, target.owner, args);
  } catch (error) {
    fail(id, error);
    return;
  }
  deliver(id, result);
}

/**
 * Answers a call, once its result settles when it is a promise or thenable.
 * A native promise is awaited through the intrinsic `then` (captured before
 * any generation code ran), so an own or replaced `then` cannot keep the
 * call pending; a `then` getter that throws makes the value a plain one,
 * which then fails to clone with that error.
 */
function deliver(id: number, result: unknown): void {
  const answer = (value: unknown) => succeed(id, value);
  const reject = (error: unknown) => fail(id, error);
  if (result instanceof Promise) {
    promiseThen.call(result, answer, reject);
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
  else succeed(id, result);
}

function succeed(id: number, value: unknown): void {
  if (responses!.write(id, OP_RESULT, value)) return;
  try {
    scope.postMessage({ t: "result", id, value });
  } catch (error) {
    // A result that cannot be cloned rejects the call with the DataCloneError.
    fail(id, error);
  }
}

function fail(id: number, error: unknown): void {
  const fields: SerializedError = serializeError(error, files);
  scope.postMessage({ t: "error", id, error: fields });
}

async function load(message: Extract<HostMessage, { t: "load" }>): Promise<void> {
  files = new Map(message.files);
  const contract = new Contract(message.contract as ContractDefinition<unknown>);
  // A namespace exporting `then` is a thenable, which import() would adopt:
  // import a module that re-exports the namespace as one binding instead.
  const wrapper = URL.createObjectURL(
    new Blob([`import * as namespace from ${JSON.stringify(message.url)};\nexport { namespace };`], {
      type: "text/javascript",
    }),
  );
  let namespace: Record<string, unknown>;
  try {
    ({ namespace } = await import(wrapper));
  } catch (error) {
    throw importError(error, files, message.entry);
  } finally {
    URL.revokeObjectURL(wrapper);
  }
  const resolved = await resolveHandle(namespace, contract, {
    generation: message.generation,
    digest: message.digest,
    previous: message.previous,
    signal: controller.signal,
  }, message.entry);
  const handle = describe(resolved.handle, contract.shape, "", message.entry, []);
  hooks = resolved.hooks;
  scope.postMessage({
    t: "loaded",
    id: message.id,
    handle,
    hooks: { handoff: hooks.handoff !== undefined, dispose: hooks.dispose !== undefined },
  });
}

/**
 * Describes a handle object for the host: functions become indices into
 * {@linkcode functions} (called with their owner as `this`), objects holding
 * functions are walked, and everything else is copied once, by value.
 * Members come from the object's own enumerable keys, its class's methods
 * and getters, and the contract's shape.
 */
function describe(
  value: unknown,
  shape: ShapeDefinition | undefined,
  path: string,
  entry: string,
  stack: unknown[],
): MemberDescriptor {
  if (typeof value === "function") {
    functions.push({ fn: value, owner: undefined });
    return { kind: "function", index: functions.length - 1 };
  }
  if (!holdsFunctions(value, 0)) return { kind: "value", value: cloneable(value, path, entry) };
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
    const member = owner[key];
    // An optional member of the shape that the handle leaves out stays out.
    if (member === undefined && !(key in owner)) continue;
    const memberPath = path ? `${path}.${key}` : key;
    if (typeof member === "function") {
      functions.push({ fn: member, owner });
      members[key] = { kind: "function", index: functions.length - 1 };
    } else {
      const nested = shape?.[key];
      members[key] = describe(member, typeof nested === "object" ? nested : undefined, memberPath, entry, [
        ...stack,
        value,
      ]);
    }
  }
  return { kind: "object", members };
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

/** Whether an object (or a plain object or class instance inside it) has a function member. */
function holdsFunctions(value: unknown, depth: number): boolean {
  if (typeof value !== "object" || value === null || Array.isArray(value) || depth > 8) return false;
  const owner = value as Record<string, unknown>;
  for (const key of memberKeys(owner, undefined)) {
    let member: unknown;
    try {
      member = owner[key];
    } catch {
      continue;
    }
    if (typeof member === "function" || holdsFunctions(member, depth + 1)) return true;
  }
  return false;
}

function cloneable(value: unknown, path: string, entry: string): unknown {
  try {
    clone(value);
  } catch (error) {
    throw new HotswapError(
      "E_CONTRACT",
      `Cannot copy member "${path || "(handle)"}" of "${entry}"'s handle to the host: ${
        error instanceof Error ? error.message : String(error)
      }; make it plain data, or a function the host calls`,
      { path: entry },
    );
  }
  return value;
}

/**
 * `close()` and `Deno.exit()` end a worker without any event on the host:
 * tell the host first, so calls pending there reject instead of hanging.
 */
function reportExits(): void {
  const close = scope.close.bind(scope);
  const announce = (how: string) => {
    try {
      scope.postMessage({ t: "exit", how });
    } catch { /* the host learns it from the missing answers then */ }
  };
  try {
    Object.defineProperty(globalThis, "close", {
      value: () => {
        announce("close()");
        close();
      },
      configurable: true,
      writable: true,
    });
  } catch { /* not replaceable: the drain timeout still bounds the wait */ }
  const exit = Deno.exit.bind(Deno);
  try {
    Object.defineProperty(Deno, "exit", {
      value: (code?: number) => {
        announce(`Deno.exit(${code ?? ""})`);
        return exit(code);
      },
      configurable: true,
      writable: true,
    });
  } catch { /* as above */ }
}
