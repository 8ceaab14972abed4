/**
 * The host's end of the worker channel holds against anything a generation
 * sends (SPEC 6.4): it cannot post at all (forged and malformed messages,
 * floods: refused in the worker, which serves on), and a write to the shared
 * call ring ends only that worker, with `E_WORKER`, while the host keeps
 * serving and nothing is left running.
 *
 * The attacking generations run in a real worker with no permissions; each
 * attack hangs its own call, so the call can only end by the host's verdict.
 * The last tests drive the host's end of the rings (core/_worker_channel.ts)
 * directly, playing the worker's part with the other ends of the same rings.
 *
 * @module
 */

import { deepStrictEqual, match, ok, rejects, strictEqual, throws } from "node:assert/strict";
import fc from "npm:fast-check@4.10.2";
import { defineContract, type Hotswap, HotswapError, registerHotswap, type Remote } from "../mod.ts";
import { PendingCalls, type RequestKind } from "../core/_pending_calls.ts";
import type { HostMessage } from "../core/_protocol.ts";
import {
  createChannelBuffer,
  NO_PAYLOAD,
  OP_MESSAGE,
  OP_RESULT,
  RingReader,
  RingWriter,
  SLOT_BYTES,
  SLOT_COUNT,
} from "../core/_rpc_channel.ts";
import { WorkerChannel } from "../core/_worker_channel.ts";
import { protocolShapedMessage } from "./_arbitraries.ts";
import { Fixture } from "./_fixtures.ts";

interface Target {
  label: string;
  attack(plan: unknown): Promise<unknown>;
  ping(): Promise<string>;
}

const target = defineContract<Target>({
  name: "Target",
  version: "1.0.0",
  symbol: "hs_target",
  shape: { label: "string", attack: "function", ping: "function" },
});

const GOOD = `export const hs_target = {
  label: "good",
  attack: () => "nothing",
  ping: () => "pong",
};`;

/** A generation whose attack() runs `body` (with `plan` in scope), then never answers. */
function hostile(body: string, topLevel = ""): string {
  return `const post = (message: unknown) => (self as unknown as { postMessage(m: unknown): void }).postMessage(message);
${topLevel}
export const hs_target = {
  label: "hostile",
  attack(plan: unknown) {
    ${body}
    return new Promise(() => {});
  },
  ping: () => "pong",
};`;
}

async function setup(fixture: Fixture): Promise<Hotswap<Remote<Target>>> {
  const entry = await fixture.write({ "good.ts": GOOD });
  // An attack call that is never answered holds its generation's drain: keep that short.
  return await registerHotswap(target, entry, { isolation: "worker", drainTimeout: 100 });
}

/**
 * Swaps to `source`, runs its attack, and checks that the generation could
 * not post: its attack rejects `NotCapable` (the worker's lockdown), and the
 * same worker goes on serving.
 */
async function expectRefusedPost(
  hot: Hotswap<Remote<Target>>,
  fixture: Fixture,
  source: string,
): Promise<void> {
  await hot.swap(await fixture.write({ [`attack_${crypto.randomUUID()}.ts`]: source }));
  await rejects(hot.with((h) => h.attack(null)), (error) => {
    ok(error instanceof Error && error.name === "NotCapable", String(error));
    match(error.message, /postMessage is not available to a generation in a worker/);
    return true;
  });
  strictEqual(await hot.with((h) => h.ping()), "pong", "the generation serves on");
}

// The host's checks of what reaches it (what a forged message would meet) are
// driven directly in tests/worker_messages_test.ts and by the ring tests below.
Deno.test("worker channel: a generation cannot post the host anything, protocol-shaped or not", async () => {
  await using fixture = await Fixture.create();
  await using hot = await setup(fixture);
  const forgeries = [
    "null",
    "42",
    '"text"',
    "[1, 2]",
    '{ t: "nonsense" }',
    '{ t: "result" }',
    "{ t: 7 }",
    '{ t: "result", id: 4294967295, value: "forged" }',
    '{ t: "error", id: 4294967295, error: { name: "Error", message: "forged" } }',
    '{ t: "error", id: 1, error: null }',
    '{ t: "error", id: 1, error: { name: 42, message: {} } }',
    '{ t: "error", id: 1, error: { name: "Error", message: "m", code: "E_MADE_UP" } }',
    '{ t: "loaded", id: 1, handle: { kind: "function", index: -1 }, hooks: { handoff: false, dispose: false } }',
    '{ t: "ready" }',
  ];
  for (const forged of forgeries) await expectRefusedPost(hot, fixture, hostile(`post(${forged});`));
  // Nor through the prototype chain, where a locked own property might have left the original.
  await expectRefusedPost(
    hot,
    fixture,
    hostile(`for (let o: object | null = self; o !== null; o = Object.getPrototypeOf(o)) {
      const own = Object.getOwnPropertyDescriptor(o, "postMessage")?.value;
      if (typeof own === "function") own.call(self, { t: "result", id: 4294967295, encoded: "1" });
    }`),
  );
  await hot.warm();
  strictEqual(hot.stats().sandboxes, 2, "no worker ended, none was started but the standby");
});

Deno.test("worker channel: an error with a 16-million-character message reaches the host cut short", async () => {
  await using fixture = await Fixture.create();
  await using hot = await setup(fixture);
  await hot.swap(await fixture.write({ "huge.ts": hostile('throw new RangeError("x".repeat(2 ** 24));') }));
  const error = await hot.with((h) => h.attack(null)).then(() => undefined, (error: unknown) => error);
  ok(error instanceof RangeError, String(error));
  ok(error.message.length < 20_000, `message cut to ${error.message.length} characters`);
  match(error.message, /more characters cut\)$/);
  ok((error.stack ?? "").length < 100_000);
  strictEqual(await hot.with((h) => h.ping()), "pong", "an honest error ends nothing");
});

Deno.test("worker channel: a generation that tries to forge its loaded reply is refused at load, its worker terminated", async () => {
  await using fixture = await Fixture.create();
  await using hot = await setup(fixture);
  const forgeLoaded = (handle: string) =>
    `for (let id = 1; id < 64; id++) post({ t: "loaded", id, handle: ${handle}, hooks: { handoff: false, dispose: false } });
await new Promise(() => {});`;
  for (
    const handle of [
      "null",
      '{ kind: "object", members: {} }',
      '{ kind: "object", members: { label: { kind: "value", value: 1 } } }',
    ]
  ) {
    const entry = await fixture.write({
      [`loaded_${crypto.randomUUID()}.ts`]: hostile("", forgeLoaded(handle)),
    });
    await rejects(hot.swap(entry), (error) => {
      ok(error instanceof HotswapError, String(error));
      // Its top-level code throws at the first post: the lockdown runs before it.
      strictEqual(error.code, "E_IMPORT", error.message);
      match(error.message, /NotCapable: postMessage is not available/);
      return true;
    });
    await hot.warm();
    strictEqual(hot.stats().sandboxes, 2, "the refused generation's worker is gone");
    strictEqual(await hot.with((h) => h.ping()), "pong");
  }
});

Deno.test("worker channel: a message flood stops at its first post, the event loop keeps ticking", async () => {
  await using fixture = await Fixture.create();
  await using hot = await setup(fixture);
  using lag = watchEventLoop();
  const body = `const big = "x".repeat(1_000);
    for (let i = 0; i < 20_000; i++) post({ t: "result", id: 4294967295 - (i % 1000), value: big });`;
  await expectRefusedPost(hot, fixture, hostile(body));
  // A liveness bound, not a speed target: the defect this guards against
  // starved host timers for 13 s. Measured on a quiet machine: 16-41 ms worst
  // (a Worker's constructor alone blocks the host 6-9 ms); CPU contention
  // stretches it, so the bound leaves room for that.
  ok(lag.worst < 1_000, `the host's event loop stalled ${lag.worst.toFixed(0)} ms`);
});

Deno.test("worker channel: a generation that writes the shared call ring ends its worker, never hangs the host", async () => {
  await using fixture = await Fixture.create();
  await using hot = await setup(fixture);
  using lag = watchEventLoop();
  // The generation patches its realm's Atomics to catch the ring's memory
  // when the worker's runtime touches it, then writes `plan` into it.
  const topLevel = `let control: Int32Array | undefined;
const original = Atomics.store;
try {
  (Atomics as { store: typeof Atomics.store }).store = function (array: Int32Array, index: number, value: number) {
    if (array.buffer instanceof SharedArrayBuffer) control ??= array;
    return original.call(Atomics, array, index, value);
  } as typeof Atomics.store;
} catch { /* the runtime froze Atomics: nothing to catch the ring with */ }`;
  const body = `const writes = plan as [number, number][];
    if (control === undefined) { post({ t: "exit", how: "ring out of reach" }); return new Promise(() => {}); }
    const bytes = new Uint8Array(control.buffer);
    for (const [at, value] of writes) {
      if (at < 16) Atomics.store(control, at, value); else bytes[at % bytes.length] = value;
      Atomics.notify(control, at % 16);
    }`;
  const source = hostile(body, topLevel);
  await hot.swap(await fixture.write({ "ring.ts": source }));
  // Forge the response head far ahead of the host: an impossible backlog.
  const reached = await hot.with((h) => h.attack([[4, 1_000_000]])).then(
    () => "answered",
    (error: HotswapError) => error.message,
  );
  match(reached, /ring out of reach|response ring|broke the runtime's protocol|ended itself/);
  await hot.swap(fixture.path("good.ts"));

  // Random writes into the control block and the response ring (fast-check).
  await fc.assert(
    fc.asyncProperty(
      fc.array(
        fc.tuple(fc.integer({ min: 0, max: 65_599 }), fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 })),
        {
          minLength: 1,
          maxLength: 20,
        },
      ),
      async (writes) => {
        await hot.swap(await fixture.write({ "ring.ts": source }));
        const call = hot.with((h) => h.attack(writes)).then(() => "answered", (error: unknown) => error);
        // A harmless write leaves the attack pending forever: bound the wait by a clean swap.
        const { retired } = await hot.swap(fixture.path("good.ts"));
        const report = await retired;
        const outcome = await Promise.race([call, Promise.resolve("pending")]);
        ok(
          outcome === "answered" || outcome === "pending" || outcome instanceof HotswapError,
          String(outcome),
        );
        strictEqual(await hot.with((h) => h.ping()), "pong");
        ok(report.generation > 0);
      },
    ),
    { numRuns: 15 },
  );
  await hot.warm();
  strictEqual(hot.stats().sandboxes, 2, "every attacker's worker is gone");
  // A liveness bound, not a speed target: the defect this guards against
  // starved host timers for 13 s. Measured on a quiet machine: 16-41 ms worst
  // (a Worker's constructor alone blocks the host 6-9 ms); CPU contention
  // stretches it, so the bound leaves room for that.
  ok(lag.worst < 1_000, `the host's event loop stalled ${lag.worst.toFixed(0)} ms`);
});

/** Measures how late a 10 ms timer chain fires while the test runs: the host's worst event-loop stall. */
function watchEventLoop(): { readonly worst: number; [Symbol.dispose](): void } {
  let worst = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let last = performance.now();
  const tick = () => {
    const now = performance.now();
    worst = Math.max(worst, now - last - 10);
    last = now;
    timer = setTimeout(tick, 10);
  };
  timer = setTimeout(tick, 10);
  return {
    get worst() {
      return worst;
    },
    [Symbol.dispose]() {
      clearTimeout(timer);
    },
  };
}

Deno.test("worker channel: random and protocol-shaped messages a generation tries to post never hurt the host (fast-check)", async () => {
  await using fixture = await Fixture.create();
  await using hot = await setup(fixture);
  using lag = watchEventLoop();
  const source = hostile("for (const message of plan as unknown[]) post(message);");
  const shaped = protocolShapedMessage();
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.oneof(fc.anything(), shaped), { minLength: 1, maxLength: 8 }),
      async (plan) => {
        await hot.swap(await fixture.write({ "fuzz.ts": source }));
        const call = hot.with((h) => h.attack(plan)).then(() => "answered", (error: unknown) => error);
        // Retiring the attacker ends its worker within drainTimeout, so the call settles either way.
        const { retired } = await hot.swap(fixture.path("good.ts"));
        await retired;
        const outcome = await call;
        ok(outcome === "answered" || outcome instanceof Error, String(outcome));
        strictEqual(await hot.with((h) => h.ping()), "pong");
      },
    ),
    { numRuns: 25 },
  );
  await hot.warm();
  strictEqual(hot.stats().sandboxes, 2, "no attacker's worker is left");
  // A liveness bound, not a speed target: the defect this guards against
  // starved host timers for 13 s. Measured on a quiet machine: 16-41 ms worst
  // (a Worker's constructor alone blocks the host 6-9 ms); CPU contention
  // stretches it, so the bound leaves room for that.
  ok(lag.worst < 1_000, `the host's event loop stalled ${lag.worst.toFixed(0)} ms`);
});

/**
 * A {@linkcode WorkerChannel} with the worker's ends of its rings: the test
 * reads requests and writes answers itself, in this thread.
 */
function channelRig(): {
  channel: WorkerChannel;
  calls: PendingCalls;
  open(kind: RequestKind): { id: number; promise: Promise<unknown> };
  requests: RingReader;
  responses: RingWriter;
  buffer: SharedArrayBuffer;
  posted: HostMessage[];
  violation: Promise<string>;
  [Symbol.dispose](): void;
} {
  const buffer = createChannelBuffer();
  const calls = new PendingCalls(undefined, () => {});
  const posted: HostMessage[] = [];
  const violation = Promise.withResolvers<string>();
  // As the host does on a violation, less rejecting the calls (the tests' own promises).
  const end = (what: string) => {
    violation.resolve(what);
    channel.close();
  };
  const channel: WorkerChannel = new WorkerChannel(buffer, {
    calls,
    post(message) {
      // Fails as postMessage does for what cannot be cloned.
      structuredClone(message);
      posted.push(message);
    },
    violation: end,
    failed: (error) => end(`failed: ${String(error)}`),
  });
  // Deno does not count the reading loop's Atomics.waitAsync as pending
  // work: this timer keeps the event loop running until the rig is disposed.
  const keepAlive = setInterval(() => {}, 1_000);
  return {
    channel,
    calls,
    open(kind) {
      const request = Promise.withResolvers<unknown>();
      return { id: calls.open(kind, request), promise: request.promise };
    },
    requests: new RingReader(buffer, "request"),
    responses: new RingWriter(buffer, "response"),
    buffer,
    posted,
    violation: violation.promise,
    [Symbol.dispose]() {
      clearInterval(keepAlive);
      end("disposed");
    },
  };
}

/** The next request record, taken. */
function takeRequest(requests: RingReader): { id: number; op: number; payload: unknown } {
  ok(requests.available, "a request record is waiting");
  const record = { id: requests.id(), op: requests.op(), payload: requests.payload() };
  requests.advance();
  return record;
}

Deno.test("WorkerChannel sends a call in a record and resolves it from the response ring", async () => {
  using rig = channelRig();
  const call = rig.open("call");
  rig.channel.call(call.id, 2, [1, "one"]);
  deepStrictEqual(takeRequest(rig.requests), { id: call.id, op: 2, payload: [1, "one"] });
  ok(rig.responses.write(call.id, OP_RESULT, { sum: 2 }));
  deepStrictEqual(await call.promise, { sum: 2 });
  const empty = rig.open("call");
  rig.channel.call(empty.id, 0, []);
  takeRequest(rig.requests);
  rig.responses.write(empty.id, OP_RESULT, NO_PAYLOAD);
  strictEqual(await empty.promise, undefined, "a record without a payload answers undefined");
  strictEqual(rig.posted.length, 0, "nothing went by message");
});

Deno.test("WorkerChannel sends what a record cannot carry by message, with a marker record in its place", () => {
  using rig = channelRig();
  const small = rig.open("call");
  const large = rig.open("call");
  const hook = rig.open("control");
  rig.channel.call(small.id, 0, [1]);
  rig.channel.call(large.id, 1, [new Date(0)]);
  rig.channel.send({ t: "hook", id: hook.id, name: "dispose" });
  deepStrictEqual(rig.posted.map((message) => message.t), ["call", "hook"]);
  deepStrictEqual(takeRequest(rig.requests), { id: small.id, op: 0, payload: [1] });
  deepStrictEqual(takeRequest(rig.requests), { id: large.id, op: OP_MESSAGE, payload: NO_PAYLOAD });
  deepStrictEqual(takeRequest(rig.requests), { id: hook.id, op: OP_MESSAGE, payload: NO_PAYLOAD });
});

Deno.test("WorkerChannel.call() throws for arguments that cannot be cloned, and sends nothing", () => {
  using rig = channelRig();
  const call = rig.open("call");
  throws(() => rig.channel.call(call.id, 0, [() => 1]), (error: Error) => error.name === "DataCloneError");
  strictEqual(rig.requests.available, false);
  strictEqual(rig.posted.length, 0);
});

Deno.test("WorkerChannel queues a burst beyond the ring and writes it in call order as slots free", async () => {
  using rig = channelRig();
  const burst = Array.from({ length: SLOT_COUNT + 10 }, (_, i) => {
    const call = rig.open("call");
    rig.channel.call(call.id, 0, [i]);
    return call;
  });
  const seen: unknown[] = [];
  while (seen.length < burst.length) {
    if (!rig.requests.available) {
      // The rest waits in the overflow queue: the host writes it once the
      // answers below free slots, and its write wakes this sleep.
      const sleep = rig.requests.sleep();
      if (sleep !== undefined) await sleep;
      continue;
    }
    const { id, payload } = takeRequest(rig.requests);
    seen.push(payload);
    rig.responses.write(id, OP_RESULT, payload);
  }
  deepStrictEqual(seen, burst.map((_, i) => [i]));
  deepStrictEqual(await Promise.all(burst.map((call) => call.promise)), burst.map((_, i) => [i]));
});

Deno.test("WorkerChannel ends the worker for a response head no honest writer could publish", async () => {
  using rig = channelRig();
  const call = rig.open("call");
  Atomics.store(new Int32Array(rig.buffer, 0, 16), 4, 1_000_000); // the response ring's head
  rig.channel.call(call.id, 0, []);
  match(await rig.violation, /moved its response ring 1000000 records ahead of the host/);
  strictEqual(rig.calls.size, 1, "nothing was taken from a ring that cannot be trusted");
});

Deno.test("WorkerChannel ends the worker for a request tail no honest reader could publish, instead of queueing for ever", async () => {
  using rig = channelRig();
  // Forge the request ring's tail far behind the host's head: the ring would never have room again.
  Atomics.store(new Int32Array(rig.buffer, 0, 16), 1, -1_000_000);
  const calls = Array.from({ length: 3 }, () => rig.open("call"));
  for (const call of calls) rig.channel.call(call.id, 0, []);
  match(await rig.violation, /moved its request ring's tail 1000000 records behind the host's head/);
});

Deno.test("WorkerChannel ends the worker for an answer nobody is waiting for", async () => {
  using rig = channelRig();
  const call = rig.open("call");
  rig.responses.write(call.id + 1, OP_RESULT, "forged");
  rig.channel.call(call.id, 0, []);
  match(await rig.violation, /^sent a response record for request \d+, which nobody is waiting for$/);
});

Deno.test("WorkerChannel ends the worker for a response record it cannot decode", async () => {
  using rig = channelRig();
  const call = rig.open("call");
  rig.responses.write(call.id, OP_RESULT, "text");
  // The record's payload length, forged past its slot.
  new DataView(rig.buffer).setUint32(64 + SLOT_COUNT * SLOT_BYTES + 8, SLOT_BYTES);
  rig.channel.call(call.id, 0, []);
  match(await rig.violation, /wrote a response record the host cannot decode \(RangeError: .*payload length/);
});
