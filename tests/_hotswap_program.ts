/**
 * The programs of the Hotswap property test (tests/hotswap_property_test.ts):
 * fast-check commands that act on a {@linkcode World} (the real reference and
 * its model) and check it after each step, the arbitraries that draw them,
 * and the end of a program: settle everything, close, and check that nothing
 * is left behind.
 *
 * @module
 */

import { deepStrictEqual, fail, ok, strictEqual } from "node:assert/strict";
import fc from "npm:fast-check@4.10.2";
import { HotswapError, type Isolation } from "../mod.ts";
import { macrotask } from "./_fixtures.ts";
import { type CallInput, type CallKind, type Held, type Variant, VARIANTS } from "./_hotswap_generations.ts";
import { type Config, Tracked, type World } from "./_hotswap_model.ts";

/** A call through `with()`, of the given kind. */
export class CallCommand implements fc.AsyncCommand<World, World> {
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
export class SettleCommand implements fc.AsyncCommand<World, World> {
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
export class SwapCommand implements fc.AsyncCommand<World, World> {
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
export class TickCommand implements fc.AsyncCommand<World, World> {
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
export class CloseCommand implements fc.AsyncCommand<World, World> {
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
export function commandsFor(
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

export function configsFor(isolation: Isolation): fc.Arbitrary<Config> {
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
export async function abandon(world: World): Promise<void> {
  for (const call of world.open.splice(0)) call.release(true);
  const closing = new Tracked(world.hot.close());
  for (let i = 0; i < 20 && !closing.settled; i++) await macrotask();
}

/** Settles everything left, closes, and checks that nothing is left behind. */
export async function finish(world: World): Promise<void> {
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
