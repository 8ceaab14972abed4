/**
 * Inline loading: the generation's snapshot runs in the host's own isolate.
 * Fast, but the code shares the host's permissions; see the worker loader
 * for isolation.
 *
 * A graph that can (TypeScript, JavaScript and JSON without `import()`,
 * `import.meta` or code TypeScript compiles: see `_script_graph.ts`) is
 * evaluated as scripts, whose code is freed with the generation. Any other
 * is imported from freshly minted `blob:` modules, which V8 never frees.
 *
 * Sharing the isolate also means sharing the built-ins. Inline mode cannot
 * isolate them, so it detects instead: a generation whose top-level code or
 * factory changes an intrinsic object (`Object.prototype`, `Array.prototype`,
 * `JSON`, ...) or a global that existed when the runtime loaded is refused,
 * and the change is undone. Adding new global names stays allowed. What a
 * generation changes later, from a call or a timer, is not watched.
 *
 * @module
 */

import { HotswapError, renameFrames } from "./errors.ts";
import type { GenerationRuntime } from "./generation.ts";
import { callHook, callHookAsIs, importError, resolveHandle } from "./handle.ts";
import type { Loader, LoadRequest } from "./loader.ts";
import { importNamespace } from "./_namespace_import.ts";
import { COMPUTED_IMPORT, defineComputedImport } from "./_computed_import.ts";
import { importBuiltins, ScriptGraph } from "./_script_graph.ts";
import { yieldToIo } from "./_yield_to_io.ts";
import type { Snapshot } from "./snapshot.ts";

/**
 * Imports generations into the host's own isolate. Keeps nothing between
 * loads, so disposing it frees nothing.
 */
export class InlineLoader implements Loader {
  /** Inline generations run on the host's thread: no worker, no process. */
  readonly live = 0;
  /** Closing lets a load run to its end: it cannot be stopped in this isolate. */
  readonly endsOnAbort = false;
  /** Said of a load abandoned at its deadline. */
  readonly abandoned =
    "an import or a factory in the host's isolate cannot be stopped: it finishes in the background, the generation is never used, and a factory not yet called never runs";

  /** Nothing to warm up. */
  ready(): Promise<void> {
    return Promise.resolve();
  }

  /**
   * Imports a fresh instance of the snapshot in this isolate and resolves its handle.
   *
   * @throws {HotswapError} `E_IMPORT`, `E_SYMBOL`, `E_INIT` or `E_CONTRACT`.
   */
  async load<T>(request: LoadRequest<T>, signal: AbortSignal): Promise<GenerationRuntime<T>> {
    const { contract, snapshot, context } = request;
    setUpNodeGlobals();
    // The load holds the serving thread in two stretches, compiling then
    // running and checking the generation. Requests that arrived during
    // the first are usually answered before the second (see
    // `_yield_to_io.ts`), by the generation still serving, rather than
    // waiting for the whole load: under `deno task bench:load` the p99 of
    // requests after an edit came within 1.5x the steady p99 in 19 of 30
    // rounds instead of 8, for new code about 0.6 ms later. A turn before
    // the first stretch as well bought nothing measurable for that p99
    // (1.86x against 1.80x, `deno task bench:ab`) and cost new code
    // 0.2-0.5 ms: the message that starts a SIGHUP swap is itself a turn.
    // A microtask still comes first: the caller arms the loadTimeout deadline
    // once this returns its promise, so the compile counts against it (the
    // timer can fire at the turn after the compile; whether it comes before
    // the digest that ends that turn is up to the event loop, as it was).
    await Promise.resolve();
    // Only a graph importing a built-in that no graph imported before waits here.
    const builtinsLoading = importBuiltins(snapshot.modules);
    if (builtinsLoading !== undefined) await builtinsLoading;
    signal.throwIfAborted();
    const instance = instantiate(snapshot);
    try {
      await yieldToIo();
      signal.throwIfAborted();
    } catch (error) {
      instance.revoke();
      throw error;
    }
    // From here to the last check the load never yields but to the
    // generation's own top-level await: a change to a built-in made by
    // other code in between would be blamed on this generation.
    const builtins = BuiltinsGuard.take();
    const abandon = () => {
      builtins.restore();
      instance.revoke();
    };
    signal.addEventListener("abort", abandon, { once: true });
    try {
      let namespace: Record<string, unknown>;
      try {
        ({ namespace } = await instance.evaluate());
      } catch (error) {
        builtins.restore();
        // Its frames name files, as those of a failed call do (see `generation.ts`).
        renameFrames(error, instance.unblob);
        throw importError(error, instance.files, snapshot.entry);
      }
      builtins.check("E_IMPORT", `Cannot load "${snapshot.entry}": its top-level code`, snapshot.entry);
      // The deadline passed while the top level ran: the swap is already
      // refused, so the factory of this generation must not run at all.
      signal.throwIfAborted();
      let resolved;
      try {
        resolved = await resolveHandle(namespace, contract, context, snapshot.entry);
      } catch (error) {
        builtins.restore();
        renameFrames(error, instance.unblob);
        throw error;
      }
      builtins.check("E_INIT", `Cannot initialise "${snapshot.entry}": its factory`, snapshot.entry);
      const { handle, hooks } = resolved;
      return {
        handle,
        // Called as it is, not awaited here: a state returned at once needs no deadline (see `_load_generation.ts`).
        handoff: () => callHookAsIs(hooks.handoff),
        dispose: async () => {
          await callHook(hooks.dispose);
        },
        unload: instance.revoke,
        unblob: instance.unblob,
      };
    } catch (error) {
      instance.revoke();
      throw error;
    } finally {
      signal.removeEventListener("abort", abandon);
    }
  }

  /** Nothing is kept between loads. */
  [Symbol.asyncDispose](): Promise<void> {
    return Promise.resolve();
  }
}

/** One instance of a snapshot in this isolate, evaluated once. */
interface Instance {
  evaluate(): Promise<{ namespace: Record<string, unknown> }>;
  /** URLs its stack frames name, to the files. */
  readonly files: ReadonlyMap<string, string>;
  unblob(text: string): string;
  /** Frees what Deno holds for it. Idempotent. */
  revoke(): void;
}

/**
 * A fresh instance of the snapshot: evaluated as scripts when the graph
 * allows (its code is freed with the generation), else imported from
 * freshly minted modules (which Deno keeps for good); see `_script_graph.ts`.
 */
function instantiate(snapshot: Snapshot): Instance {
  const scripts = ScriptGraph.compile(snapshot.modules);
  if (scripts !== undefined) {
    return { evaluate: () => scripts.run(), files: scripts.files, unblob: (text) => text, revoke: () => {} };
  }
  defineComputedImport();
  const minted = snapshot.mint(COMPUTED_IMPORT);
  return {
    evaluate: () => importNamespace(minted.url, minted.thenable),
    files: minted.files,
    unblob: minted.unblob,
    revoke: () => minted.revoke(),
  };
}

// Captured when the runtime loads, so a generation that replaces them cannot
// blind the guard. The guard's loops are indexed and build no message before
// restoring: `Array.prototype` and friends may be the very thing replaced.
const { defineProperty, deleteProperty, getOwnPropertyDescriptor, getPrototypeOf, isExtensible, ownKeys } =
  Reflect;
const setPrototypeOf = Reflect.setPrototypeOf;
const hasOwn = Object.hasOwn;
const same = Object.is;
const toText = String;

// Deno makes `globalThis.queueMicrotask` non-enumerable at its first call
// (measured on 2.9.6): called once now, so that a generation's top-level
// first call is not taken for a change of the global.
queueMicrotask(() => {});

let nodeGlobalsSetUp = false;

/**
 * Has Deno's Node compatibility layer install the globals it replaces
 * lazily (`MessageChannel` and `MessagePort`, when `node:worker_threads`
 * first loads), once, before the first load: the process's first CommonJS
 * `npm:` module would otherwise install them while a generation loads, and
 * the guard would take them for that generation's changes. Not an import
 * of this module: a worker generation that imports the library by path
 * may not import `node:worker_threads`.
 */
function setUpNodeGlobals(): void {
  if (nodeGlobalsSetUp) return;
  nodeGlobalsSetUp = true;
  try {
    (globalThis as { process?: { getBuiltinModule?(id: string): unknown } }).process?.getBuiltinModule?.(
      "node:worker_threads",
    );
  } catch {
    // No Node layer to set up: nothing of it can change while a generation loads either.
  }
}

/** Objects a generation may not change at all while it loads. */
const INTRINSICS: readonly (readonly [string, object])[] = listIntrinsics();
/** Globals that existed when the runtime loaded; generations may add others. */
const INITIAL_GLOBALS: readonly PropertyKey[] = ownKeys(globalThis);

function listIntrinsics(): [string, object][] {
  const list: [string, object][] = [];
  const add = (name: string, value: unknown) => {
    if ((typeof value === "object" && value !== null) || typeof value === "function") {
      list.push([name, value]);
    }
  };
  const scope = globalThis as unknown as Record<string, { prototype?: unknown } | undefined>;
  for (
    const name of [
      "Object",
      "Function",
      "Array",
      "String",
      "Number",
      "Boolean",
      "Symbol",
      "BigInt",
      "Promise",
      "RegExp",
      "Date",
      "Error",
      "Map",
      "Set",
      "WeakMap",
      "WeakSet",
      "ArrayBuffer",
      "DataView",
    ]
  ) {
    add(name, scope[name]);
    add(`${name}.prototype`, scope[name]?.prototype);
  }
  const typedArray = getPrototypeOf(Uint8Array) as { prototype: unknown };
  add("TypedArray", typedArray);
  add("TypedArray.prototype", typedArray.prototype);
  add("Iterator.prototype", getPrototypeOf(getPrototypeOf([][Symbol.iterator]())!));
  add("JSON", JSON);
  add("Math", Math);
  add("Reflect", Reflect);
  return list;
}

const WRITABLE = 1;
const ENUMERABLE = 2;
const CONFIGURABLE = 4;
const ACCESSOR = 8;

/**
 * The own properties, prototypes and extensibility of the built-ins, taken
 * before a load, compared and restored after it. Properties are kept flat
 * (value or getter, setter, flag bits) and read with `hasOwn`, so a polluted
 * `Object.prototype.get` cannot leak into the descriptors.
 */
class BuiltinsGuard {
  readonly #owners: object[] = [];
  readonly #names: string[] = [];
  /** Whether any added key counts (intrinsics), or only the initial ones (globalThis). */
  readonly #strict: boolean[] = [];
  readonly #keyCounts: number[] = [];
  readonly #prototypes: (object | null)[] = [];
  readonly #extensible: boolean[] = [];
  readonly #ownerOf: number[] = [];
  readonly #keys: PropertyKey[] = [];
  /** The value of a data property, the getter of an accessor. */
  readonly #values: unknown[] = [];
  readonly #setters: unknown[] = [];
  readonly #flags: number[] = [];

  /** The last state taken: the state still, while a comparison finds nothing changed. */
  static #last: BuiltinsGuard | undefined;

  /**
   * The built-ins' state now: the last one taken when nothing changed since
   * (comparing costs about what taking does, but taking anew makes some
   * 200 KiB of garbage a swap, measured), else a fresh one.
   */
  static take(): BuiltinsGuard {
    const last = BuiltinsGuard.#last;
    if (last !== undefined && last.#unchanged()) return last;
    const guard = new BuiltinsGuard();
    for (let i = 0; i < INTRINSICS.length; i++) {
      const [name, owner] = INTRINSICS[i]!;
      guard.#add(name, owner, true, ownKeys(owner));
    }
    guard.#add("globalThis", globalThis, false, INITIAL_GLOBALS);
    BuiltinsGuard.#last = guard;
    return guard;
  }

  #add(name: string, owner: object, strict: boolean, keys: readonly PropertyKey[]): void {
    const index = this.#owners.length;
    this.#owners[index] = owner;
    this.#names[index] = name;
    this.#strict[index] = strict;
    this.#keyCounts[index] = keys.length;
    this.#prototypes[index] = getPrototypeOf(owner);
    this.#extensible[index] = isExtensible(owner);
    for (let k = 0; k < keys.length; k++) {
      const descriptor = getOwnPropertyDescriptor(owner, keys[k]!);
      if (descriptor === undefined) continue; // an initial global the host has since deleted
      const at = this.#keys.length;
      this.#ownerOf[at] = index;
      this.#keys[at] = keys[k]!;
      if (hasOwn(descriptor, "value")) {
        this.#values[at] = descriptor.value;
        this.#setters[at] = undefined;
        this.#flags[at] = (descriptor.writable ? WRITABLE : 0) | flagsOf(descriptor);
      } else {
        this.#values[at] = descriptor.get;
        this.#setters[at] = descriptor.set;
        this.#flags[at] = ACCESSOR | flagsOf(descriptor);
      }
    }
  }

  /** How property `k` differs now: `undefined` when it does not. */
  #difference(k: number): "deleted" | "replaced" | "redefined" | undefined {
    const now = getOwnPropertyDescriptor(this.#owners[this.#ownerOf[k]!]!, this.#keys[k]!);
    if (now === undefined) return "deleted";
    let flags = flagsOf(now);
    let value: unknown;
    let setter: unknown;
    if (hasOwn(now, "value")) {
      flags |= now.writable ? WRITABLE : 0;
      value = now.value;
    } else {
      flags |= ACCESSOR;
      value = now.get;
      setter = now.set;
    }
    if (!same(value, this.#values[k]) || setter !== this.#setters[k]) return "replaced";
    return flags === this.#flags[k] ? undefined : "redefined";
  }

  /** Whether everything is as it was taken (the fast path). */
  #unchanged(): boolean {
    for (let i = 0; i < this.#owners.length; i++) {
      const owner = this.#owners[i]!;
      if (this.#strict[i] && ownKeys(owner).length !== this.#keyCounts[i]) return false;
      if (getPrototypeOf(owner) !== this.#prototypes[i] || isExtensible(owner) !== this.#extensible[i]) {
        return false;
      }
    }
    for (let k = 0; k < this.#keys.length; k++) {
      if (this.#difference(k) !== undefined) return false;
    }
    return true;
  }

  /** The descriptor property `k` had when taken, on a null prototype. */
  #descriptor(k: number): PropertyDescriptor {
    const flags = this.#flags[k]!;
    const common = { enumerable: (flags & ENUMERABLE) !== 0, configurable: (flags & CONFIGURABLE) !== 0 };
    return (flags & ACCESSOR) !== 0
      ? { __proto__: null, get: this.#values[k], set: this.#setters[k], ...common } as PropertyDescriptor
      : {
        __proto__: null,
        value: this.#values[k],
        writable: (flags & WRITABLE) !== 0,
        ...common,
      } as PropertyDescriptor;
  }

  /**
   * Puts back every change since `take()`.
   *
   * @returns What changed and what could not be undone, as `Owner.key (kind)` lines.
   */
  restore(): { changed: string[]; stuck: string[] } {
    const changed: string[] = [];
    const stuck: string[] = [];
    if (this.#unchanged()) return { changed, stuck };
    const note = (list: string[], text: string) => {
      list[list.length] = text;
    };
    // Owner-level changes first: a frozen built-in is the one a reader must see.
    for (let i = 0; i < this.#owners.length; i++) {
      const owner = this.#owners[i]!;
      const name = this.#names[i]!;
      if (this.#extensible[i] && !isExtensible(owner)) {
        note(changed, `${name} (made non-extensible)`);
        note(stuck, `${name} (made non-extensible)`);
      }
      if (getPrototypeOf(owner) !== this.#prototypes[i]) {
        note(changed, `${name} (prototype replaced)`);
        if (!setPrototypeOf(owner, this.#prototypes[i] ?? null)) note(stuck, `${name} (prototype replaced)`);
      }
      if (this.#strict[i]) {
        const keys = ownKeys(owner);
        for (let k = 0; k < keys.length; k++) {
          if (this.#indexOf(i, keys[k]!) !== -1) continue;
          note(changed, `${name}.${toText(keys[k])} (added)`);
          if (!deleteProperty(owner, keys[k]!)) note(stuck, `${name}.${toText(keys[k])} (added)`);
        }
      }
    }
    for (let k = 0; k < this.#keys.length; k++) {
      const kind = this.#difference(k);
      if (kind === undefined) continue;
      const line = `${this.#names[this.#ownerOf[k]!]}.${toText(this.#keys[k])} (${kind})`;
      note(changed, line);
      if (!defineProperty(this.#owners[this.#ownerOf[k]!]!, this.#keys[k]!, this.#descriptor(k))) {
        note(stuck, line);
      }
    }
    return { changed, stuck };
  }

  /**
   * Undoes any change since `take()` and refuses the generation if there was one.
   *
   * @param code The code to refuse with.
   * @param subject `Cannot … "<entry>": its top-level code` or `…: its factory`.
   * @param path The generation's entry.
   * @throws {HotswapError} Naming every change, and any that could not be undone.
   */
  check(code: "E_IMPORT" | "E_INIT", subject: string, path: string): void {
    const { changed, stuck } = this.restore();
    if (changed.length === 0) return;
    const list = (lines: string[]) =>
      lines.length > 8 ? `${lines.slice(0, 8).join(", ")} and ${lines.length - 8} more` : lines.join(", ");
    const undone = stuck.length === 0
      ? "the changes were undone"
      : `the changes were undone except ${list(stuck)}, which cannot be: restart the host`;
    throw new HotswapError(
      code,
      `${subject} changed built-ins it shares with the host: ${
        list(changed)
      }; ${undone}. An inline generation runs in the host's realm: keep its state in its own module, or run it with isolation "worker"`,
      { path },
    );
  }

  #indexOf(owner: number, key: PropertyKey): number {
    for (let k = 0; k < this.#keys.length; k++) {
      if (this.#ownerOf[k] === owner && this.#keys[k] === key) return k;
    }
    return -1;
  }
}

function flagsOf(descriptor: PropertyDescriptor): number {
  return (descriptor.enumerable ? ENUMERABLE : 0) | (descriptor.configurable ? CONFIGURABLE : 0);
}
