/**
 * Model-based property test of the Hotswap state machine (issue 6), in both
 * isolation modes. fast-check draws a program of commands (sync and async
 * `with()` calls settled in random order, good and bad swaps and rollbacks,
 * awaited or left running while later commands go on, event-loop turns,
 * close) and runs it against a real Hotswap and a small model of what it
 * must do. Worker mode runs fewer programs (each starts workers), with exact
 * drains only, and checks that no worker is left after close().
 *
 * The model learns nothing from the runtime except when a queued swap is
 * decided: the `swap` and `reject` events, which the runtime dispatches in
 * the same synchronous step as the commit or refusal, and which are checked
 * against the model's prediction for the swap at the head of its queue.
 *
 * Invariants:
 * 1. Every call runs on exactly one generation: the newest committed one when
 *    it started (its handle's label names variant, number and handed-off
 *    state); no call ever sees a generation that failed or is still loading.
 * 2. Generation numbers rise by one per commit; swaps are decided in call
 *    order; a good swap commits, a bad one rejects with its code and names
 *    the generation still active; rollback recommits the previous snapshot
 *    (its digest) or rejects `E_NOT_FOUND`; after close() everything not yet
 *    decided rejects `E_CLOSED`.
 * 3. `retired` of a generation settles exactly when its last call settles:
 *    never before, and (inline) within the same event-loop turn after; with
 *    a drainTimeout of 0 it reports `drained: false` only after a
 *    `drain-timeout` event that counted the calls still running.
 * 4. `stats()` counts calls, swaps, rejects, rollbacks and per-generation
 *    in-flight calls as the model does; `with()` keeps sync results sync.
 * 5. Every promise the runtime hands out settles, and after close() nothing is
 *    left: no live generation, every retire report in, and no timer or
 *    resource (the test sanitizers are on).
 *
 * Reproduce a failure with the seed and path fast-check prints:
 * `HOTSWAP_FC_SEED=<seed> HOTSWAP_FC_PATH=<path> deno test -A tests/hotswap_property_test.ts`.
 * `HOTSWAP_FC_RUNS` and `HOTSWAP_FC_WORKER_RUNS` override the number of runs
 * (default 500 and 150); `HOTSWAP_FC_SUMMARY=1` prints what the runs exercised.
 */

import { deepStrictEqual, fail, ok, strictEqual } from "node:assert/strict";
import { setImmediate } from "node:timers";
import fc from "npm:fast-check@4.10.2";
import {
  type Hotswap,
  HotswapError,
  type HotswapErrorCode,
  type Isolation,
  registerHotswap,
  type RetireReport,
  type SwapResult,
} from "../mod.ts";
import { type Echo, echo, Fixture } from "./_fixtures.ts";

const RUNS = Number(Deno.env.get("HOTSWAP_FC_RUNS") ?? 500);
/** Worker programs cost a worker start each: fewer runs. */
const WORKER_RUNS = Number(Deno.env.get("HOTSWAP_FC_WORKER_RUNS") ?? 150);

/** How a call asks the generation to answer. */
type CallKind = "sync" | "throw" | "async" | "thenable" | "hostile";

/**
 * What the test passes to `run`: the kind, and a gate for the async kinds.
 * Worker mode cannot pass a promise: a held call is kept in the worker under
 * an id, and settled by calling `release(id, ok)` on the handle it started on.
 */
interface CallInput {
  readonly kind: CallKind | "hold";
  readonly gate?: Promise<void>;
  readonly id?: number;
}

/** The handle of the test's generations: Echo plus the worker-mode release. */
interface Held extends Echo {
  release(id: number, ok: boolean): unknown;
}

/** A generation module the program can swap to. */
interface Variant {
  readonly name: string;
  readonly source: string | undefined;
  /** `undefined`: loads and commits; otherwise the code it is refused with. */
  readonly fails: HotswapErrorCode | undefined;
  /** Swapped to with this integrity pin. */
  readonly integrity?: string;
}

/** Handle factory of the good variants: the label names variant, number and handed-off state. */
function goodSource(name: string, wait: string, dispose: string): string {
  return `let number = 0;
const held = new Map<number, (ok: boolean) => void>();
export async function hs_echo(ctx: { generation: number; previous: unknown }) {
  ${wait}
  number = ctx.generation;
  const label = ${JSON.stringify(name)} + ":" + ctx.generation + ":" + String(ctx.previous);
  return {
    label,
    release(id: number, ok: boolean) {
      held.get(id)!(ok);
      held.delete(id);
    },
    run(input: { kind: string; gate?: Promise<void>; id?: number }) {
      switch (input.kind) {
        case "sync": return label;
        case "hold": return new Promise((resolve, reject) => {
          held.set(input.id!, (ok) => ok ? resolve(label) : reject(new Error(label)));
        });
        case "throw": throw new Error(label);
        case "async": return input.gate!.then(() => label, () => { throw new Error(label); });
        case "thenable": return {
          then(resolve: (v: unknown) => void, reject: (e: unknown) => void) {
            input.gate!.then(() => resolve(label), () => reject(new Error(label)));
          },
        };
        default: return { label, get then() { throw new Error("hostile then"); } };
      }
    },
  };
}
export function handoff() { return number; }
${dispose}`;
}

const VARIANTS: readonly Variant[] = [
  { name: "sync", source: goodSource("sync", "", ""), fails: undefined },
  {
    name: "slow",
    source: goodSource("slow", "await new Promise((resolve) => setTimeout(resolve, 0));", ""),
    fails: undefined,
  },
  {
    name: "micro",
    source: goodSource(
      "micro",
      "await Promise.resolve();",
      "export async function dispose() { await Promise.resolve(); }",
    ),
    fails: undefined,
  },
  { name: "missing", source: undefined, fails: "E_NOT_FOUND" },
  { name: "syntax", source: `export const hs_echo = { label: "BAD", run: ( };`, fails: "E_IMPORT" },
  {
    name: "throws",
    source: `throw new Error("top level");\nexport const hs_echo = { label: "BAD", run: () => 0 };`,
    fails: "E_IMPORT",
  },
  { name: "symbol", source: `export const hs_ecco = { label: "BAD", run: () => 0 };`, fails: "E_SYMBOL" },
  { name: "contract", source: `export const hs_echo = { label: "BAD" };`, fails: "E_CONTRACT" },
  {
    name: "init",
    source: `export async function hs_echo() {
  await new Promise((resolve) => setTimeout(resolve, 0));
  throw new Error("factory");
}`,
    fails: "E_INIT",
  },
  {
    name: "pollutes",
    source: `export function hs_echo() {
  (Object.prototype as Record<string, unknown>).label = "BAD";
  return { run: () => 0 };
}`,
    fails: "E_INIT",
  },
  {
    name: "pinned",
    source: goodSource("pinned", "", ""),
    fails: "E_INTEGRITY",
    integrity: `sha256-${"A".repeat(43)}=`,
  },
];

/** One event-loop turn: every pending microtask has run. */
function macrotask(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** A promise the runtime handed out, and whether it has settled. */
class Tracked<T> {
  settled = false;
  constructor(readonly promise: Promise<T>) {
    promise.then(() => this.settled = true, () => this.settled = true);
  }
}

/** A swap or rollback the model has queued, until its event decides it. */
interface QueuedSwap {
  readonly kind: "swap" | "rollback";
  readonly variant: Variant | undefined;
  readonly tracked: Tracked<SwapResult>;
  /** Set by the event that decided it. */
  outcome?: { readonly generation: number; readonly digest: string } | { readonly code: HotswapErrorCode };
}

/** A call the program settles later. */
interface OpenCall {
  readonly generation: number;
  readonly label: string;
  /** Lets the call resolve (or reject) with its label. */
  readonly release: (ok: boolean) => void;
  readonly result: Tracked<unknown>;
}

interface Config {
  readonly isolation: Isolation;
  /** 1e6: drains are exact; 0 (inline only): a drain times out whenever a call is in flight. */
  readonly drainTimeout: number;
  readonly rollbackDepth: number | undefined;
}

/** The model and the real reference, side by side (fast-check's model and real are this one object). */
class World {
  readonly hot: Hotswap<Echo>;
  readonly config: Config;
  readonly paths: ReadonlyMap<string, string>;
  /** Model: the generation serving and its variant. */
  current = 1;
  variant = "sync";
  /** Model: variant of each rollback snapshot, the current one last. */
  readonly stack: string[] = ["sync"];
  readonly digests = new Map<string, string>();
  closed = false;
  closing: Tracked<void> | undefined;
  nextCallId = 0;
  readonly queue: QueuedSwap[] = [];
  readonly decided: QueuedSwap[] = [];
  readonly pending = new Map<number, number>();
  readonly open: OpenCall[] = [];
  readonly results: Tracked<unknown>[] = [];
  readonly retired = new Map<number, Tracked<RetireReport>>();
  readonly drainTimeouts = new Set<number>();
  readonly reports = new Map<number, RetireReport>();
  calls = 0;
  swaps = 0;
  rejects = 0;
  rollbacks = 0;
  /** The first broken invariant seen inside an event listener (listeners cannot throw into the test). */
  broken: Error | undefined;

  constructor(hot: Hotswap<Echo>, config: Config, paths: ReadonlyMap<string, string>) {
    this.hot = hot;
    this.config = config;
    this.paths = paths;
    this.digests.set("sync", hot.digest);
    hot.addEventListener("swap", (event) => this.#guard(() => this.#onSwap(event.detail)));
    hot.addEventListener("reject", (event) => this.#guard(() => this.#onReject(event.detail.error)));
    hot.addEventListener("drain-timeout", (event) =>
      this.#guard(() => {
        const { generation, inflight } = event.detail;
        strictEqual(this.config.drainTimeout, 0, "a drain timed out with a huge drainTimeout");
        strictEqual(inflight, this.pendingOn(generation), `in flight on ${generation} at drain-timeout`);
        ok(inflight > 0);
        this.drainTimeouts.add(generation);
      }));
    hot.addEventListener("retire", (event) =>
      this.#guard(() => {
        const report = event.detail;
        ok(!this.reports.has(report.generation), `generation ${report.generation} retired twice`);
        ok(report.generation !== this.current || this.closed, "the serving generation retired");
        if (report.drained) strictEqual(this.pendingOn(report.generation), 0, "drained with calls in flight");
        else ok(this.drainTimeouts.has(report.generation), "not drained, yet no drain-timeout event");
        this.reports.set(report.generation, report);
      }));
  }

  pendingOn(generation: number): number {
    return this.pending.get(generation) ?? 0;
  }

  /** The label a call on the current generation must see. */
  expectedLabel(): string {
    return `${this.variant}:${this.current}:${this.current === 1 ? "undefined" : this.current - 1}`;
  }

  #guard(check: () => void): void {
    try {
      check();
    } catch (error) {
      this.broken ??= error as Error;
    }
  }

  #onSwap(detail: { from: number; to: number; digest: string; via: "swap" | "rollback" }): void {
    const head = this.queue.shift();
    ok(head !== undefined, `swap to ${detail.to} that nobody asked for`);
    strictEqual(detail.from, this.current);
    strictEqual(detail.to, this.current + 1, "generation numbers rise by one per commit");
    strictEqual(detail.via, head.kind);
    let variant: string;
    if (head.kind === "rollback") {
      ok(this.stack.length >= 2, "rollback committed with nothing to go back to");
      this.stack.pop();
      variant = this.stack.at(-1)!;
      this.rollbacks++;
    } else {
      ok(head.variant!.fails === undefined, `bad variant ${head.variant!.name} committed`);
      variant = head.variant!.name;
      this.stack.push(variant);
      if (this.stack.length > (this.config.rollbackDepth ?? 16) + 1) this.stack.shift();
    }
    const known = this.digests.get(variant);
    if (known === undefined) this.digests.set(variant, detail.digest);
    else strictEqual(detail.digest, known, `digest of ${variant}`);
    ok(!this.closed, "a generation committed after close()");
    this.current = detail.to;
    this.variant = variant;
    this.swaps++;
    head.outcome = { generation: detail.to, digest: detail.digest };
    this.decided.push(head);
  }

  #onReject(error: HotswapError): void {
    const head = this.queue.shift();
    ok(head !== undefined, `reject ${error.code} that nobody asked for`);
    const expected = head.kind === "rollback" ? "E_NOT_FOUND" : head.variant!.fails;
    ok(expected !== undefined, `good variant ${head.variant?.name} refused: ${error.message}`);
    if (head.kind === "rollback") ok(this.stack.length < 2, "rollback refused with a snapshot to go back to");
    strictEqual(error.code, expected, error.message);
    strictEqual(error.activeGeneration, this.current, "the error names the generation still active");
    this.rejects++;
    head.outcome = { code: error.code };
    this.decided.push(head);
  }

  /** Starts a swap (or rollback) the model predicts when its event comes. */
  enqueue(kind: "swap" | "rollback", variant: Variant | undefined): QueuedSwap {
    const promise = kind === "rollback" ? this.hot.rollback() : this.hot.swap(
      this.paths.get(variant!.name)!,
      variant!.integrity === undefined ? {} : { integrity: variant!.integrity },
    );
    const entry: QueuedSwap = { kind, variant, tracked: new Tracked(promise) };
    this.queue.push(entry);
    promise.then((result) => {
      // The old generation's retired promise, known once the swap resolves.
      this.retired.set(result.generation - 1, new Tracked(result.retired));
    }, () => {
      // Refused as closed, with no event: it leaves the queue here (settleSwap checks the code).
      const at = entry.outcome === undefined ? this.queue.indexOf(entry) : -1;
      if (at !== -1) this.queue.splice(at, 1);
    });
    return entry;
  }

  /** Checks a swap's settlement against what its event decided. */
  async settleSwap(entry: QueuedSwap): Promise<void> {
    try {
      const result = await entry.tracked.promise;
      const outcome = entry.outcome;
      ok(outcome !== undefined && "generation" in outcome, "swap resolved without its commit event");
      strictEqual(result.generation, outcome.generation);
      strictEqual(result.digest, outcome.digest);
    } catch (error) {
      ok(error instanceof HotswapError, `swap rejected with ${String(error)}`);
      if (entry.outcome === undefined) {
        strictEqual(error.code, "E_CLOSED", `undecided swap rejected with ${error.code}: ${error.message}`);
        ok(this.closed, "E_CLOSED before close()");
        strictEqual(error.activeGeneration, undefined);
        const at = this.queue.indexOf(entry);
        if (at !== -1) this.queue.splice(at, 1);
      } else {
        ok("code" in entry.outcome, "swap rejected after its commit event");
        strictEqual(error.code, entry.outcome.code);
      }
    }
  }

  /** Checks that hold whenever the program pauses between commands. */
  checkQuiescent(): void {
    if (this.broken) throw this.broken;
    strictEqual(this.hot.generation, this.current);
    strictEqual(this.hot.digest, this.digests.get(this.variant));
    const stats = this.hot.stats();
    strictEqual(stats.calls, this.calls, "calls");
    strictEqual(stats.swaps, this.swaps, "swaps");
    strictEqual(stats.rejects, this.rejects, "rejects");
    strictEqual(stats.rollbacks, this.rollbacks, "rollbacks");
    for (const live of stats.generations) {
      if (this.config.drainTimeout !== 0 || !this.reports.has(live.generation)) {
        strictEqual(live.inflight, this.pendingOn(live.generation), `in flight on ${live.generation}`);
      }
    }
    if (this.config.drainTimeout !== 0) {
      // Exact drains: a generation's retired settles exactly when its last call
      // has. Inline, within the same event-loop turn; a worker's retirement
      // also waits for dispose() and the end of the worker, so there only
      // "never before" is checked here, and "eventually" at the end.
      for (const [generation, retired] of this.retired) {
        const pending = this.pendingOn(generation);
        if (pending > 0) {
          strictEqual(retired.settled, false, `retired of ${generation} with ${pending} calls in flight`);
        } else if (this.config.isolation === "inline") {
          ok(retired.settled, `retired of ${generation} drained, not settled`);
        }
      }
    }
    if (this.closing?.settled) {
      // close() drains for up to drainTimeout, like any retire.
      if (this.config.drainTimeout !== 0) {
        strictEqual(this.open.length, 0, "close() settled with calls in flight");
      }
      strictEqual(this.queue.length, 0, "close() settled with swaps undecided");
    }
  }
}

/** A call through `with()`, of the given kind. */
class CallCommand implements fc.AsyncCommand<World, World> {
  constructor(readonly kind: CallKind) {}
  check(): boolean {
    return true;
  }
  async run(world: World): Promise<void> {
    const worker = world.config.isolation === "worker";
    const gate = Promise.withResolvers<void>();
    gate.promise.catch(() => {});
    const holds = this.kind === "async" || this.kind === "thenable";
    const id = world.nextCallId++;
    const input: CallInput = !holds
      ? { kind: this.kind }
      : worker
      ? { kind: "hold", id }
      : { kind: this.kind, gate: gate.promise };
    let seen: string | undefined;
    let started: Held | undefined;
    const call = () =>
      world.hot.with((handle) => {
        seen = handle.label;
        started = handle as Held;
        return handle.run(input);
      });
    if (world.closed) {
      try {
        call();
        fail("with() ran after close()");
      } catch (error) {
        ok(error instanceof HotswapError && error.code === "E_CLOSED", String(error));
      }
      strictEqual(seen, undefined, "fn ran after close()");
      return;
    }
    const expected = world.expectedLabel();
    world.calls++;
    if (!worker && this.kind === "throw") {
      try {
        call();
        fail("the throwing call returned");
      } catch (error) {
        strictEqual((error as Error).message, expected);
      }
    } else if (!worker && (this.kind === "sync" || this.kind === "hostile")) {
      const result = call();
      ok(!(result instanceof Promise), "a synchronous result stays synchronous");
      if (this.kind === "sync") strictEqual(result, expected);
      else strictEqual((result as { label: string }).label, expected);
    } else {
      const result = call();
      ok(result instanceof Promise, `${this.kind} call returns a promise`);
      const generation = world.current;
      const tracked = new Tracked(result as Promise<unknown>);
      // The model's call ends when with()'s promise settles: the runtime's own
      // release was attached inside with(), before this, so it runs first.
      const settled = () => world.pending.set(generation, world.pendingOn(generation) - 1);
      (result as Promise<unknown>).then(settled, settled);
      world.results.push(tracked);
      world.pending.set(generation, world.pendingOn(generation) + 1);
      if (holds) {
        const release = worker
          ? (ok: boolean) => Promise.resolve(started!.release(id, ok)).catch(() => {})
          : (ok: boolean) => ok ? gate.resolve() : gate.reject(new Error("gate"));
        world.open.push({ generation, label: expected, release, result: tracked });
      } else {
        // Worker mode: every call is asynchronous; one that does not hold settles
        // at once. The worker awaits a result before sending it, so a hostile
        // `then` getter rejects the call there.
        const rejection = this.kind === "throw"
          ? expected
          : this.kind === "hostile"
          ? "hostile then"
          : undefined;
        try {
          strictEqual(await result, expected);
          strictEqual(rejection, undefined, `a ${this.kind} call resolved`);
        } catch (error) {
          ok(rejection !== undefined, `call rejected: ${String(error)}`);
          strictEqual((error as Error).message, rejection);
        }
      }
    }
    strictEqual(seen, expected, "the call saw the newest committed generation");
    await Promise.resolve();
    world.checkQuiescent();
  }
  toString(): string {
    return `call(${this.kind})`;
  }
}

/** Settles one open call, then checks its result. */
class SettleCommand implements fc.AsyncCommand<World, World> {
  constructor(readonly index: number, readonly resolve: boolean) {}
  check(world: Readonly<World>): boolean {
    return world.open.length > 0;
  }
  async run(world: World): Promise<void> {
    const [call] = world.open.splice(this.index % world.open.length, 1);
    call!.release(this.resolve);
    try {
      strictEqual(await call!.result.promise, call!.label);
      ok(this.resolve, "a rejected call resolved");
    } catch (error) {
      ok(!this.resolve, `a resolved call rejected: ${String(error)}`);
      strictEqual((error as Error).message, call!.label);
    }
    await macrotask();
    world.checkQuiescent();
  }
  toString(): string {
    return `settle(${this.index}, ${this.resolve ? "resolve" : "reject"})`;
  }
}

/** A swap to a variant, or a rollback; awaited, or left running while the program goes on. */
class SwapCommand implements fc.AsyncCommand<World, World> {
  constructor(readonly variant: Variant | undefined, readonly wait: boolean) {}
  check(): boolean {
    return true;
  }
  async run(world: World): Promise<void> {
    const entry = world.enqueue(this.variant === undefined ? "rollback" : "swap", this.variant);
    if (this.wait) await world.settleSwap(entry);
    await macrotask();
    world.checkQuiescent();
  }
  toString(): string {
    return `${this.variant === undefined ? "rollback" : `swap(${this.variant.name})`}${
      this.wait ? "" : " &"
    }`;
  }
}

/** Lets loads progress for a few event-loop turns. */
class TickCommand implements fc.AsyncCommand<World, World> {
  constructor(readonly turns: number) {}
  check(): boolean {
    return true;
  }
  async run(world: World): Promise<void> {
    for (let i = 0; i < this.turns; i++) await macrotask();
    world.checkQuiescent();
  }
  toString(): string {
    return `tick(${this.turns})`;
  }
}

/** Starts close(); later calls must throw E_CLOSED and later swaps reject with it. */
class CloseCommand implements fc.AsyncCommand<World, World> {
  check(world: Readonly<World>): boolean {
    return !world.closed;
  }
  async run(world: World): Promise<void> {
    world.closed = true;
    world.closing = new Tracked(world.hot.close());
    await macrotask();
    world.checkQuiescent();
  }
  toString(): string {
    return "close &";
  }
}

/** The commands of a program; worker mode leaves out what only inline mode can do. */
function commandsFor(
  isolation: Isolation,
  maxCommands: number,
): fc.Arbitrary<Iterable<fc.AsyncCommand<World, World>>> {
  // Polluting Object.prototype is refused inline; a worker keeps it in its own realm, and commits.
  const variants = VARIANTS.filter((variant) => isolation === "inline" || variant.name !== "pollutes");
  const call = fc.constantFrom<CallKind>("sync", "throw", "async", "async", "thenable", "hostile").map((
    kind,
  ) => new CallCommand(kind));
  const settle = fc.tuple(fc.nat(7), fc.boolean()).map(([index, resolve]) =>
    new SettleCommand(index, resolve)
  );
  const swap = fc.tuple(
    fc.oneof(
      { weight: 6, arbitrary: fc.constantFrom(...variants.filter((variant) => variant.fails === undefined)) },
      { weight: 3, arbitrary: fc.constantFrom(...variants.filter((variant) => variant.fails !== undefined)) },
      { weight: 2, arbitrary: fc.constant(undefined) },
    ),
    fc.boolean(),
  ).map(([variant, wait]) => new SwapCommand(variant, wait));
  const tick = fc.integer({ min: 1, max: 4 }).map((turns) => new TickCommand(turns));
  const close = fc.constant(new CloseCommand());
  // Weighted by repetition: fast-check picks each listed arbitrary equally often.
  const arbitraries: fc.Arbitrary<fc.AsyncCommand<World, World>>[] = [
    ...Array<typeof call>(6).fill(call),
    ...Array<typeof settle>(6).fill(settle),
    ...Array<typeof swap>(6).fill(swap),
    tick,
    tick,
    close,
  ];
  return fc.commands(arbitraries, { size: "max", maxCommands });
}

function configsFor(isolation: Isolation): fc.Arbitrary<Config> {
  return fc.record({
    isolation: fc.constant(isolation),
    // A worker whose drain times out is terminated, failing its calls with E_WORKER: exact drains only.
    drainTimeout: isolation === "inline" ? fc.constantFrom(1e6, 1e6, 1e6, 0) : fc.constant(1e6),
    rollbackDepth: fc.constantFrom(undefined, 0, 1, 3),
  });
}

/**
 * After a failed run: release every gate and start close(), so the next run
 * starts clean. It waits a few turns, not for the end: when the failure is a
 * call that never released, close() would wait for it and hide the error.
 */
async function abandon(world: World): Promise<void> {
  for (const call of world.open.splice(0)) call.release(true);
  const closing = new Tracked(world.hot.close());
  for (let i = 0; i < 20 && !closing.settled; i++) await macrotask();
}

/** Settles everything left, closes, and checks that nothing is left behind. */
async function finish(world: World): Promise<void> {
  while (world.open.length > 0) await new SettleCommand(0, true).run(world);
  for (const entry of [...world.decided, ...world.queue]) await world.settleSwap(entry);
  if (!world.closed) await new CloseCommand().run(world);
  await world.closing!.promise;
  await macrotask();
  world.checkQuiescent();
  strictEqual(world.queue.length, 0, "every swap was decided or refused as closed");
  for (const entry of world.decided) ok(entry.tracked.settled, "every swap settled");
  for (const result of world.results) ok(result.settled, "every call's promise settled");
  for (const [generation, retired] of world.retired) ok(retired.settled, `retired of ${generation} settled`);
  deepStrictEqual(world.hot.stats().generations, [], "no live generation after close()");
  strictEqual(world.hot.stats().sandboxes, 0, "no worker left after close()");
  // Every committed generation retired exactly once, the last one by close().
  deepStrictEqual(
    [...world.reports.keys()].sort((a, b) => a - b),
    Array.from({ length: world.current }, (_, i) => i + 1),
  );
  if (world.config.drainTimeout !== 0) {
    for (const report of world.reports.values()) {
      ok(report.drained, `generation ${report.generation} drained`);
    }
  }
  deepStrictEqual(
    world.hot.history.map((entry) => entry.generation),
    Array.from(
      { length: Math.min(world.current, 100) },
      (_, i) => world.current - Math.min(world.current, 100) + i + 1,
    ),
  );
  ok(!("label" in {}), "Object.prototype is clean");
}

/** Runs `runs` random programs against a fresh Hotswap each, in one isolation mode. */
async function checkModel(isolation: Isolation, runs: number, maxCommands: number): Promise<void> {
  await using fixture = await Fixture.create();
  const paths = new Map<string, string>();
  for (const variant of VARIANTS) {
    const path = fixture.path(`${variant.name}.ts`);
    if (variant.source !== undefined) await Deno.writeTextFile(path, variant.source);
    paths.set(variant.name, path);
  }
  const seed = Deno.env.get("HOTSWAP_FC_SEED");
  const path = Deno.env.get("HOTSWAP_FC_PATH");
  // What the passing runs exercised, printed with HOTSWAP_FC_SUMMARY=1 (the README quotes it).
  const totals = { runs: 0, commands: 0, calls: 0, commits: 0, rollbacks: 0, refused: 0, drainTimeouts: 0 };
  await fc.assert(
    fc.asyncProperty(configsFor(isolation), commandsFor(isolation, maxCommands), async (config, program) => {
      const hot = await registerHotswap(echo, paths.get("sync")!, {
        isolation,
        drainTimeout: config.drainTimeout,
        ...(config.rollbackDepth === undefined ? {} : { rollbackDepth: config.rollbackDepth }),
      });
      const world = new World(hot, config, paths);
      try {
        await fc.asyncModelRun(() => ({ model: world, real: world }), program);
      } catch (error) {
        await abandon(world);
        throw error;
      }
      await finish(world);
      totals.runs++;
      totals.commands += [...program].length;
      totals.commits += world.swaps;
      totals.rollbacks += world.rollbacks;
      totals.refused += world.rejects;
      totals.calls += world.calls;
      totals.drainTimeouts += world.drainTimeouts.size;
    }),
    {
      numRuns: runs,
      // A run whose drain or close hangs fails instead of hanging the suite.
      timeout: 10_000,
      ...(seed === undefined ? {} : { seed: Number(seed) }),
      ...(path === undefined ? {} : { path }),
    },
  );
  strictEqual(totals.runs, runs);
  if (Deno.env.get("HOTSWAP_FC_SUMMARY")) console.log(JSON.stringify({ isolation, ...totals }));
}

Deno.test("Hotswap behaves as its model under random calls, swaps, rollbacks and close (inline)", async () => {
  await checkModel("inline", RUNS, 40);
});

Deno.test("Hotswap behaves as its model under random calls, swaps, rollbacks and close (worker)", async () => {
  await checkModel("worker", WORKER_RUNS, 30);
});
