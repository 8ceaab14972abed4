/**
 * The hot-swap reference (SPEC section 5), its public face only: calls run in
 * `Generation.call`, swaps in `_swapper.ts`, `_lineage.ts` keeps the books.
 *
 * @module
 */

import type { HotswapListener } from "./events.ts";
import type { Generation } from "./generation.ts";
import type { PathLike } from "./roots.ts";
import type { GenerationInfo, HotswapStats } from "./stats.ts";
import { checkRollbackOptions, type SwapOptions, type SwapResult } from "./swap.ts";
import type { SignalSwapOptions, SignalSwaps } from "./signal_swap.ts";
import { ListenerGuards } from "./_listeners.ts";
import { type OpenRequest, Swapper } from "./_swapper.ts";
import { refuseUnknownOptions } from "./_known_options.ts";

export type { GenerationInfo, GenerationStats, HotswapStats } from "./stats.ts";
export type { SwapOptions, SwapResult } from "./swap.ts";

/** Internal: gives a reference something to dispose as it closes, before the drain (a channel follower). */
export let adoptResource: <T>(hot: Hotswap<T>, resource: AsyncDisposable) => void;

/** Internal (`registerHotswap` is the way in): creates a reference and commits its first generation. */
export let openHotswap: <T>(request: OpenRequest) => Promise<Hotswap<T>>;

/** Held by `openHotswap` alone: the constructor refuses every other caller, JavaScript ones too. */
const OPEN = Symbol("openHotswap");

/**
 * A versioned reference to the current generation of a module graph.
 * Create it with {@linkcode registerHotswap}.
 *
 * @typeParam T The handle type `with()` passes to its callback: the
 *   contract's type inline, {@linkcode Remote} of it in a worker.
 */
export class Hotswap<T> extends EventTarget {
  static {
    adoptResource = (hot, resource) => hot.#swapper.adopt(resource);
    openHotswap = async <T>(request: OpenRequest) => {
      const hot = new Hotswap<T>(OPEN, request);
      await hot.#swapper.open(request.path, request.integrity);
      return hot;
    };
  }

  /** What `with()` calls; `undefined` once closed. A field of its own, so `with()` reads one field. */
  #serving: Generation<T> | undefined;
  readonly #swapper: Swapper<T>;
  readonly #listeners = new ListenerGuards();

  /** @ignore Internal: {@linkcode registerHotswap} creates references, with their first generation. */
  private constructor(token: symbol, request: OpenRequest) {
    if (token !== OPEN) throw new TypeError("Cannot construct a Hotswap: call registerHotswap()");
    super();
    this.#swapper = new Swapper<T>(
      request,
      // Listeners run guarded (see ListenerGuards): nothing they do reaches the swap that fired them.
      (type, detail) => this.dispatchEvent(new CustomEvent(type, { detail })),
      { serve: (generation) => this.#serving = generation },
    );
  }

  /**
   * Runs `fn` with the current handle. The generation is captured before `fn`
   * runs and counts the call as in flight until `fn` returns or, if it returns
   * a promise, until that settles. A synchronous result stays synchronous.
   *
   * @typeParam R What `fn` returns.
   * @param fn Receives the handle.
   * @returns What `fn` returns, unchanged.
   * @throws {HotswapError} `E_CLOSED` after `close()`; otherwise whatever `fn` throws.
   * @example Call the current handle
   * ```ts
   * import { defineContract, registerHotswap } from "@hotswap/runtime";
   * import { strictEqual } from "node:assert/strict";
   * const contract = defineContract<{ n: number }>({ name: "N", version: "1.0.0", symbol: "hs_n", shape: { n: "number" } });
   * const dir = await Deno.makeTempDir();
   * await Deno.writeTextFile(`${dir}/n.ts`, "export const hs_n = { n: 21 };");
   * await using hot = await registerHotswap(contract, `${dir}/n.ts`);
   * strictEqual(hot.with((h) => h.n * 2), 42);
   * await Deno.remove(dir, { recursive: true });
   * ```
   */
  with<R>(fn: (handle: T) => R): R {
    const generation = this.#serving;
    if (generation === undefined) throw this.#swapper.closedError("call with()");
    return generation.call(fn);
  }

  /**
   * Loads, verifies and initialises the generation at `path` while the
   * current one keeps serving, then makes it current in one step. Swaps run
   * one at a time, in call order.
   *
   * @param path The new generation's entry file.
   * @param options `integrity` pin, abort `signal`, and whether to call `handoff()`.
   * @returns The new generation's number and digest, and `retired`.
   * @throws {HotswapError} With the failure's code; the current generation stays. An abort rejects with its reason.
   * @example Swap to an edited generation
   * ```ts
   * import { defineContract, registerHotswap } from "@hotswap/runtime";
   * import { strictEqual } from "node:assert/strict";
   * const contract = defineContract<{ n: number }>({ name: "N", version: "1.0.0", symbol: "hs_n", shape: { n: "number" } });
   * const dir = await Deno.makeTempDir();
   * await Deno.writeTextFile(`${dir}/n.ts`, "export const hs_n = { n: 1 };");
   * await using hot = await registerHotswap(contract, `${dir}/n.ts`);
   * await Deno.writeTextFile(`${dir}/n.ts`, "export const hs_n = { n: 2 };");
   * const { generation, retired } = await hot.swap(`${dir}/n.ts`);
   * strictEqual(generation, 2);
   * strictEqual(hot.with((h) => h.n), 2);
   * strictEqual((await retired).generation, 1);
   * await Deno.remove(dir, { recursive: true });
   * ```
   */
  swap(path: PathLike, options: SwapOptions = {}): Promise<SwapResult> {
    return this.#swapper.swap(path, options);
  }

  /**
   * Commits the previous generation's snapshot again, as a new generation
   * (next number, the previous digest), from memory: nothing is re-read.
   *
   * @param options `handoff: false` skips the serving generation's
   *   `handoff()`: the way back from a generation whose `handoff()` throws or hangs.
   * @returns The new generation's number and digest, and `retired`.
   * @throws {HotswapError} `E_NOT_FOUND` when there is nothing to go back to.
   * @example Step back to the previous generation
   * ```ts
   * import { defineContract, registerHotswap } from "@hotswap/runtime";
   * import { strictEqual } from "node:assert/strict";
   * const contract = defineContract<{ n: number }>({ name: "N", version: "1.0.0", symbol: "hs_n", shape: { n: "number" } });
   * const dir = await Deno.makeTempDir();
   * await Deno.writeTextFile(`${dir}/n.ts`, "export const hs_n = { n: 1 };");
   * await using hot = await registerHotswap(contract, `${dir}/n.ts`);
   * await Deno.writeTextFile(`${dir}/n.ts`, "export const hs_n = { n: 2 };");
   * await hot.swap(`${dir}/n.ts`);
   * strictEqual((await hot.rollback()).generation, 3);
   * strictEqual(hot.with((h) => h.n), 1); // from memory: the file still says 2
   * await Deno.remove(dir, { recursive: true });
   * ```
   */
  rollback(options: Pick<SwapOptions, "handoff"> = {}): Promise<SwapResult> {
    try {
      checkRollbackOptions(options);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#swapper.rollback(options.handoff !== false);
  }

  /**
   * Refuses new calls and swaps (queued swaps reject `E_CLOSED`), ends a
   * swap still loading (its factory's signal aborts; a worker or process
   * loading is ended at once, an inline load finishes and is disposed, its
   * swap rejecting `E_CLOSED`), drains the current generation (up to
   * `drainTimeout`), disposes and unloads it. Idempotent. Resolves once
   * every generation is retired.
   * @example Close, then calls are refused
   * ```ts
   * import { defineContract, registerHotswap } from "@hotswap/runtime";
   * import { throws } from "node:assert/strict";
   * const contract = defineContract<{ n: number }>({ name: "N", version: "1.0.0", symbol: "hs_n", shape: { n: "number" } });
   * const dir = await Deno.makeTempDir();
   * await Deno.writeTextFile(`${dir}/n.ts`, "export const hs_n = { n: 1 };");
   * const hot = await registerHotswap(contract, `${dir}/n.ts`);
   * await hot.close();
   * throws(() => hot.with((h) => h.n), { code: "E_CLOSED" });
   * await Deno.remove(dir, { recursive: true });
   * ```
   */
  close(): Promise<void> {
    return this.#swapper.close();
  }

  /**
   * Closes (see {@linkcode Hotswap.close}), for `await using`.
   * @example Close at the end of a block
   * ```ts
   * import { defineContract, registerHotswap } from "@hotswap/runtime";
   * import { strictEqual } from "node:assert/strict";
   * const contract = defineContract<{ n: number }>({ name: "N", version: "1.0.0", symbol: "hs_n", shape: { n: "number" } });
   * const dir = await Deno.makeTempDir();
   * await Deno.writeTextFile(`${dir}/n.ts`, "export const hs_n = { n: 1 };");
   * const hot = await registerHotswap(contract, `${dir}/n.ts`);
   * {
   *   await using scoped = hot;
   * } // closed here, as the block ends
   * strictEqual(hot.closed, true);
   * await Deno.remove(dir, { recursive: true });
   * ```
   */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /**
   * The current generation's number (the last one, after close).
   * @example Count generations
   * ```ts
   * import { defineContract, registerHotswap } from "@hotswap/runtime";
   * import { strictEqual } from "node:assert/strict";
   * const contract = defineContract<{ n: number }>({ name: "N", version: "1.0.0", symbol: "hs_n", shape: { n: "number" } });
   * const dir = await Deno.makeTempDir();
   * await Deno.writeTextFile(`${dir}/n.ts`, "export const hs_n = { n: 1 };");
   * await using hot = await registerHotswap(contract, `${dir}/n.ts`);
   * await hot.swap(`${dir}/n.ts`);
   * strictEqual(hot.generation, 2);
   * await Deno.remove(dir, { recursive: true });
   * ```
   */
  get generation(): number {
    return this.#swapper.lineage.current?.number ?? 0;
  }

  /**
   * The current generation's digest.
   * @example Pin a swap to the digest in service
   * ```ts
   * import { defineContract, registerHotswap } from "@hotswap/runtime";
   * import { ok, strictEqual } from "node:assert/strict";
   * const contract = defineContract<{ n: number }>({ name: "N", version: "1.0.0", symbol: "hs_n", shape: { n: "number" } });
   * const dir = await Deno.makeTempDir();
   * await Deno.writeTextFile(`${dir}/n.ts`, "export const hs_n = { n: 1 };");
   * await using hot = await registerHotswap(contract, `${dir}/n.ts`);
   * ok(hot.digest.startsWith("sha256-"));
   * const { digest } = await hot.swap(`${dir}/n.ts`, { integrity: hot.digest }); // same files, same digest
   * strictEqual(digest, hot.digest);
   * await Deno.remove(dir, { recursive: true });
   * ```
   */
  get digest(): string {
    return this.#swapper.lineage.current?.digest ?? "";
  }

  /**
   * Whether `close()` was called.
   * @example Closed once close() is called
   * ```ts
   * import { defineContract, registerHotswap } from "@hotswap/runtime";
   * import { strictEqual } from "node:assert/strict";
   * const contract = defineContract<{ n: number }>({ name: "N", version: "1.0.0", symbol: "hs_n", shape: { n: "number" } });
   * const dir = await Deno.makeTempDir();
   * await Deno.writeTextFile(`${dir}/n.ts`, "export const hs_n = { n: 1 };");
   * const hot = await registerHotswap(contract, `${dir}/n.ts`);
   * strictEqual(hot.closed, false);
   * await hot.close();
   * strictEqual(hot.closed, true);
   * await Deno.remove(dir, { recursive: true });
   * ```
   */
  get closed(): boolean {
    return this.#swapper.closed;
  }

  /**
   * Committed generations, oldest first (the last 100).
   * @example How each generation came
   * ```ts
   * import { defineContract, registerHotswap } from "@hotswap/runtime";
   * import { deepStrictEqual } from "node:assert/strict";
   * const contract = defineContract<{ n: number }>({ name: "N", version: "1.0.0", symbol: "hs_n", shape: { n: "number" } });
   * const dir = await Deno.makeTempDir();
   * await Deno.writeTextFile(`${dir}/n.ts`, "export const hs_n = { n: 1 };");
   * await using hot = await registerHotswap(contract, `${dir}/n.ts`);
   * await hot.swap(`${dir}/n.ts`);
   * await hot.rollback();
   * deepStrictEqual(hot.history.map((g) => [g.generation, g.via]), [[1, "register"], [2, "swap"], [3, "rollback"]]);
   * await Deno.remove(dir, { recursive: true });
   * ```
   */
  get history(): readonly GenerationInfo[] {
    return this.#swapper.lineage.history();
  }

  /**
   * Describes the current generation: its number, digest, files, isolation
   * and when it was committed.
   * @example Describe the serving generation
   * ```ts
   * import { defineContract, registerHotswap } from "@hotswap/runtime";
   * import { deepStrictEqual } from "node:assert/strict";
   * const contract = defineContract<{ n: number }>({ name: "N", version: "1.0.0", symbol: "hs_n", shape: { n: "number" } });
   * const dir = await Deno.makeTempDir();
   * await Deno.writeTextFile(`${dir}/n.ts`, "export const hs_n = { n: 1 };");
   * await using hot = await registerHotswap(contract, `${dir}/n.ts`);
   * const { generation, via, isolation } = hot.info();
   * deepStrictEqual([generation, via, isolation], [1, "register", "inline"]);
   * await Deno.remove(dir, { recursive: true });
   * ```
   */
  info(): GenerationInfo {
    return this.#swapper.lineage.info();
  }

  /**
   * A snapshot of the counters: calls, swaps, rejects, and per-generation
   * in-flight calls, errors and latency.
   * @example Count calls
   * ```ts
   * import { defineContract, registerHotswap } from "@hotswap/runtime";
   * import { strictEqual } from "node:assert/strict";
   * const contract = defineContract<{ n: number }>({ name: "N", version: "1.0.0", symbol: "hs_n", shape: { n: "number" } });
   * const dir = await Deno.makeTempDir();
   * await Deno.writeTextFile(`${dir}/n.ts`, "export const hs_n = { n: 1 };");
   * await using hot = await registerHotswap(contract, `${dir}/n.ts`);
   * hot.with((h) => h.n);
   * strictEqual(hot.stats().calls, 1);
   * await Deno.remove(dir, { recursive: true });
   * ```
   */
  stats(): HotswapStats {
    return this.#swapper.stats();
  }

  /**
   * Waits until the next swap can start at full speed. In every mode, it
   * moves the reading of generations (module paths and `.hsgen` artifacts)
   * off the serving thread: the first call in a process starts a reader
   * worker (the process's, shared by every reference that warmed up, ended
   * when the last of them closes), and later swaps read, verify, hash and
   * scan their files there while this thread goes on serving. A swap then
   * blocks it about half as long (`deno task bench:hold`: 1.9 instead of 2.9
   * ms for 2 modules, 7.8 instead of 14.6 ms for 200), and on two saturated
   * cores commits 1-2 ms later. Starting the reader blocks this thread 10-20
   * ms, so call it before the server listens. The reader has the host's
   * permissions as they were when it started; without read permission on the
   * runtime's own files the host starts none, and reads stay on this thread.
   * The reader then parses the current generation's files for 250 ms, so
   * that V8 optimises the parser a swap a few times an hour would otherwise
   * run cold (1.5-5 ms for a 2 KiB module under load, instead of 0.3-1 ms).
   * In worker and process isolation it also waits until the warm standby has
   * started, or failed to (the next swap then says why); a swap right after
   * another would otherwise wait for one.
   * @example Time a swap as a long-running server sees it
   * ```ts
   * import { defineContract, registerHotswap } from "@hotswap/runtime";
   * import { strictEqual } from "node:assert/strict";
   * const contract = defineContract<{ n: number }>({ name: "N", version: "1.0.0", symbol: "hs_n", shape: { n: "number" } });
   * const dir = await Deno.makeTempDir();
   * await Deno.writeTextFile(`${dir}/n.ts`, "export const hs_n = { n: 1 };");
   * await using hot = await registerHotswap(contract, `${dir}/n.ts`);
   * await hot.warm();
   * strictEqual((await hot.swap(`${dir}/n.ts`)).generation, 2);
   * await Deno.remove(dir, { recursive: true });
   * ```
   */
  warm(): Promise<void> {
    return this.#swapper.warm();
  }

  /**
   * Swaps to `path` each time the process receives `signal`, as daemons
   * reload on `SIGHUP`. A signal that arrives while such a swap waits or runs
   * folds into one more swap after it, which reads every write made before
   * the signal. After `warm()`, the reader takes the signal itself and reads
   * the files at once, while this thread, busy with requests, may not have
   * got to the signal yet (under `deno task bench:load` the serving thread
   * took it 1.6-2.3 ms after it was sent, median, the idle reader 1.0-1.1
   * ms); a signed artifact, or any path while a trust list is set, is read as
   * any swap reads it. Each outcome goes to `onSwap`, and is also a `swap` or
   * `reject` event. Listening ends with `close()` of the result or of the
   * reference. This thread listens too, from the call on, so no signal is
   * lost while the reader starts listening, or should it end; one that comes
   * before the returned promise resolves may swap twice to the same files.
   *
   * @param signal The signal, as `Deno.addSignalListener` takes it.
   * @param path The module or `.hsgen` artifact to swap to, each time.
   * @returns The listener, once the signal is taken where it is read; `close()` it to stop.
   * @throws {TypeError} When Deno refuses to listen for `signal` (`SIGKILL`, say).
   * @throws {HotswapError} `E_CLOSED` after `close()`.
   * @example Reload on SIGHUP
   * ```ts
   * import { defineContract, registerHotswap } from "@hotswap/runtime";
   * import { strictEqual } from "node:assert/strict";
   * const contract = defineContract<{ n: number }>({ name: "N", version: "1.0.0", symbol: "hs_n", shape: { n: "number" } });
   * const dir = await Deno.makeTempDir();
   * await Deno.writeTextFile(`${dir}/n.ts`, "export const hs_n = { n: 1 };");
   * await using hot = await registerHotswap(contract, `${dir}/n.ts`);
   * await hot.warm();
   * const swapped = Promise.withResolvers<number>();
   * using _reloads = await hot.swapOnSignal("SIGHUP", `${dir}/n.ts`, {
   *   onSwap: (outcome) => outcome.ok && swapped.resolve(outcome.result.generation),
   * });
   * await Deno.writeTextFile(`${dir}/n.ts`, "export const hs_n = { n: 2 };");
   * Deno.kill(Deno.pid, "SIGHUP"); // as an operator's `kill -HUP <pid>` would
   * strictEqual(await swapped.promise, 2);
   * strictEqual(hot.with((h) => h.n), 2);
   * await Deno.remove(dir, { recursive: true });
   * ```
   */
  swapOnSignal(signal: Deno.Signal, path: PathLike, options: SignalSwapOptions = {}): Promise<SignalSwaps> {
    try {
      refuseUnknownOptions(options, ["onSwap"], `Cannot swap on ${String(signal)}`);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#swapper.swapOnSignal(signal, path, options);
  }

  /**
   * Adds a listener, as `EventTarget` does. For an event of
   * {@linkcode HotswapEventMap} the listener is typed by the event's name.
   * A listener that throws, or returns a promise that rejects, is reported
   * on the console and changes nothing for the swap that fired it.
   *
   * @typeParam K The event's name.
   * @param type The event's name.
   * @param listener A function (its `this` is the reference) or an object with `handleEvent`.
   * @param options `once`, `signal` and `capture`, as for `EventTarget`.
   * @example Follow swaps
   * ```ts
   * import { defineContract, registerHotswap } from "@hotswap/runtime";
   * import { deepStrictEqual } from "node:assert/strict";
   * const contract = defineContract<{ n: number }>({ name: "N", version: "1.0.0", symbol: "hs_n", shape: { n: "number" } });
   * const dir = await Deno.makeTempDir();
   * await Deno.writeTextFile(`${dir}/n.ts`, "export const hs_n = { n: 1 };");
   * await using hot = await registerHotswap(contract, `${dir}/n.ts`);
   * const seen: number[][] = [];
   * hot.addEventListener("swap", (event) => seen.push([event.detail.from, event.detail.to]));
   * await hot.swap(`${dir}/n.ts`);
   * deepStrictEqual(seen, [[1, 2]]);
   * await Deno.remove(dir, { recursive: true });
   * ```
   */
  override addEventListener<K extends string>(
    type: K,
    listener: HotswapListener<T, K>,
    options?: boolean | AddEventListenerOptions,
  ): void {
    if (listener === null) return;
    const guarded = this.#listeners.wrap(this, type, listener as EventListenerOrEventListenerObject, options);
    super.addEventListener(type, guarded, options);
  }

  /**
   * Removes a listener added with the same type and `capture`, as
   * `EventTarget` does.
   *
   * @typeParam K The event's name.
   * @param type The event's name.
   * @param listener The function or object that was added.
   * @param options `capture`, as when it was added.
   * @example Stop following swaps
   * ```ts
   * import { defineContract, registerHotswap } from "@hotswap/runtime";
   * import { strictEqual } from "node:assert/strict";
   * const contract = defineContract<{ n: number }>({ name: "N", version: "1.0.0", symbol: "hs_n", shape: { n: "number" } });
   * const dir = await Deno.makeTempDir();
   * await Deno.writeTextFile(`${dir}/n.ts`, "export const hs_n = { n: 1 };");
   * await using hot = await registerHotswap(contract, `${dir}/n.ts`);
   * let swaps = 0;
   * const count = () => swaps++;
   * hot.addEventListener("swap", count);
   * hot.removeEventListener("swap", count);
   * await hot.swap(`${dir}/n.ts`);
   * strictEqual(swaps, 0);
   * await Deno.remove(dir, { recursive: true });
   * ```
   */
  override removeEventListener<K extends string>(
    type: K,
    listener: HotswapListener<T, K>,
    options?: boolean | EventListenerOptions,
  ): void {
    const guarded = this.#listeners.find(
      type,
      listener as EventListenerOrEventListenerObject | null,
      options,
    );
    if (guarded !== undefined) super.removeEventListener(type, guarded, options);
  }
}
