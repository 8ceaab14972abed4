/**
 * `swap(path, { signal, handoff })` (SPEC 5): an abort cancels a queued or
 * loading swap without changing anything, and `handoff: false` is the way
 * out of a generation whose `handoff()` always hangs or throws.
 *
 * The generations here are inline and talk to the test through `globalThis`:
 * their factories wait on a gate the test opens, so every schedule is fixed.
 *
 * @module
 */

import { deepStrictEqual, rejects, strictEqual } from "node:assert/strict";
import { HotswapError, registerHotswap } from "../mod.ts";
import { echo, echoModule, Fixture } from "./_fixtures.ts";

interface Probe {
  events: string[];
  gate: Promise<void>;
  /** Called by a factory once it started. */
  started(): void;
}

const probe = globalThis as unknown as { hotswapSwapOptionsProbe?: Probe };

/** A generation whose factory logs, then waits for the probe's gate; its dispose logs too. */
function gatedModule(label: string): string {
  return `const probe = (globalThis as any).hotswapSwapOptionsProbe;
probe.events.push("import ${label}");
export async function hs_echo(ctx: { signal: AbortSignal }) {
  probe.events.push("factory ${label}");
  probe.started();
  await probe.gate;
  probe.events.push("factory ${label} done, signal " + (ctx.signal.aborted ? "aborted: " + ctx.signal.reason : "live"));
  return { label: "${label}", run: (input: unknown) => ["${label}", input] };
}
export function dispose() { probe.events.push("dispose ${label}"); }
`;
}

function withProbe(): { probe: Probe; started: Promise<void>; open: () => void; [Symbol.dispose](): void } {
  const gate = Promise.withResolvers<void>();
  const started = Promise.withResolvers<void>();
  const value: Probe = { events: [], gate: gate.promise, started: started.resolve };
  probe.hotswapSwapOptionsProbe = value;
  return {
    probe: value,
    started: started.promise,
    open: () => gate.resolve(),
    [Symbol.dispose]: () => delete probe.hotswapSwapOptionsProbe,
  };
}

Deno.test("Hotswap.swap() with an already aborted signal rejects with its reason and loads nothing", async () => {
  await using fixture = await Fixture.create();
  const entry = await fixture.write({ "v1.ts": echoModule("v1"), "v2.ts": echoModule("v2") });
  await using hot = await registerHotswap(echo, entry);
  const reason = new Error("not now");
  await rejects(
    hot.swap(fixture.path("v2.ts"), { signal: AbortSignal.abort(reason) }),
    (error) => error === reason,
  );
  strictEqual(hot.generation, 1);
  strictEqual(hot.stats().rejects, 0);
});

Deno.test("Hotswap.swap() aborted while queued never loads, and the swap before it commits", async () => {
  await using fixture = await Fixture.create();
  using gate = withProbe();
  const entry = await fixture.write({
    "v1.ts": echoModule("v1"),
    "slow.ts": gatedModule("slow"),
    "b.ts": gatedModule("b"),
  });
  await using hot = await registerHotswap(echo, entry);
  const rejected: string[] = [];
  hot.addEventListener("reject", (event) => rejected.push(event.detail.error.code));

  const slow = hot.swap(fixture.path("slow.ts"));
  const controller = new AbortController();
  const queued = hot.swap(fixture.path("b.ts"), { signal: controller.signal });
  const reason = new DOMException("operator changed their mind", "AbortError");
  controller.abort(reason);
  // Rejected at once, while the swap ahead of it is still loading.
  await rejects(queued, (error) => error === reason);
  gate.open();
  strictEqual((await slow).generation, 2);
  strictEqual(hot.with((h) => h.label), "slow");
  deepStrictEqual(gate.probe.events, ["import slow", "factory slow", "factory slow done, signal live"]);
  deepStrictEqual(rejected, []);
  strictEqual(hot.stats().rejects, 0);
});

Deno.test("Hotswap.swap() aborted while loading rejects at once, changes nothing, and discards the late generation", async () => {
  await using fixture = await Fixture.create();
  using gate = withProbe();
  const entry = await fixture.write({
    "v1.ts": echoModule("v1"),
    "b.ts": gatedModule("b"),
    "v3.ts": echoModule("v3"),
  });
  await using hot = await registerHotswap(echo, entry);
  const digest = hot.digest;
  const controller = new AbortController();
  const loading = hot.swap(fixture.path("b.ts"), { signal: controller.signal });
  // Queued right behind it: must wait until the abandoned load is discarded.
  const next = hot.swap(fixture.path("v3.ts"));
  await gate.started;
  controller.abort("cancelled");
  await rejects(loading, (error) => error === "cancelled");
  strictEqual(hot.generation, 1);
  strictEqual(hot.digest, digest);
  strictEqual(hot.with((h) => h.label), "v1");

  gate.open();
  const result = await next;
  // The late generation saw the abort through its context's signal and was disposed, never served.
  deepStrictEqual(gate.probe.events, [
    "import b",
    "factory b",
    "factory b done, signal aborted: cancelled",
    "dispose b",
  ]);
  strictEqual(result.generation, 2);
  strictEqual(hot.with((h) => h.label), "v3");
  deepStrictEqual(hot.history.map((info) => info.generation), [1, 2]);
});

Deno.test("Hotswap.swap() with handoff: false swaps out a generation whose handoff() never settles", async () => {
  await using fixture = await Fixture.create();
  const entry = await fixture.write({
    "stuck.ts": echoModule("stuck", "export function handoff() { return new Promise(() => {}); }"),
    "v2.ts": `export function hs_echo(ctx: { previous: unknown }) {
  return { label: "v2 got " + String(ctx.previous), run: (input: unknown) => input };
}`,
  });
  await using hot = await registerHotswap(echo, entry, { loadTimeout: 50 });
  await rejects(
    hot.swap(fixture.path("v2.ts")),
    (error) => error instanceof HotswapError && error.code === "E_TIMEOUT",
  );
  strictEqual(hot.generation, 1);
  const { generation } = await hot.swap(fixture.path("v2.ts"), { handoff: false });
  strictEqual(generation, 2);
  strictEqual(hot.with((h) => h.label), "v2 got undefined");
});

Deno.test("Hotswap.swap() with handoff: false swaps out a generation whose handoff() always throws", async () => {
  await using fixture = await Fixture.create();
  const entry = await fixture.write({
    "throws.ts": echoModule("throws", "export function handoff() { throw new Error('no state for you'); }"),
    "v2.ts": echoModule("v2"),
  });
  await using hot = await registerHotswap(echo, entry);
  await rejects(
    hot.swap(fixture.path("v2.ts")),
    (error) => error instanceof HotswapError && error.code === "E_INIT",
  );
  strictEqual((await hot.swap(fixture.path("v2.ts"), { handoff: false })).generation, 2);
});

for (
  const [isolation, hang] of [
    // Inline, a load cannot be stopped: its factory sees the close through its context's signal.
    [
      "inline",
      "export function hs_echo(ctx: { signal: AbortSignal }) { return new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason))); }",
    ],
    // A worker or a process is ended, whatever it runs.
    ["worker", "await new Promise(() => {});\nexport const hs_echo = {};"],
    ["process", "await new Promise(() => {});\nexport const hs_echo = {};"],
  ] as const
) {
  Deno.test(`Hotswap.close() (${isolation}) while a load hangs: the load ends at once, its swap rejects E_CLOSED`, async () => {
    await using fixture = await Fixture.create();
    const hot = await registerHotswap(echo, await fixture.write({ "v1.ts": echoModule("v1") }), {
      isolation,
      // Past it the swap would reject E_TIMEOUT instead.
      loadTimeout: 60_000,
    });
    const rejected: unknown[] = [];
    hot.addEventListener("reject", (event) => rejected.push(event.detail.error));
    const swapping = hot.swap(await fixture.write({ "hang.ts": hang }));
    // Closed once the load has begun.
    await new Promise((resolve) => setTimeout(resolve, 50));
    await hot.close();
    await rejects(swapping, (error: HotswapError) => error.code === "E_CLOSED");
    deepStrictEqual(rejected, []);
    strictEqual(hot.stats().sandboxes, 0);
  });
}

Deno.test("Hotswap.close() while a swap still waits for the outgoing handoff(): no load starts after it", async () => {
  await using fixture = await Fixture.create();
  const hot = await registerHotswap(
    echo,
    await fixture.write({
      "v1.ts": `${
        echoModule("v1")
      }export function handoff() { return new Promise((resolve) => setTimeout(resolve, 200)); }\n`,
    }),
    { isolation: "worker", loadTimeout: 10_000, permissions: { write: [fixture.dir] } },
  );
  // Says so if its load ever starts, then hangs until loadTimeout.
  const marker = fixture.path("started");
  const swapping = hot.swap(
    await fixture.write({
      "hang.ts": `Deno.writeTextFileSync(${
        JSON.stringify(marker)
      }, "");\nawait new Promise(() => {});\nexport const hs_echo = {};`,
    }),
  );
  await new Promise((resolve) => setTimeout(resolve, 50));
  await hot.close();
  await rejects(swapping, (error: HotswapError) => error.code === "E_CLOSED");
  strictEqual(hot.stats().sandboxes, 0);
  await rejects(Deno.stat(marker), Deno.errors.NotFound);
});
