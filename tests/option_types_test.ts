/**
 * Types tell the truth (SPEC 5) about options too: an option that does not
 * apply in the isolation a registration names (`permissions` and
 * `callTimeout` inline, `memoryLimit` and `maxRestarts` anywhere but in a
 * process) is a type error, as it is a `TypeError` at run time. The
 * `@ts-expect-error` lines are checked by `deno check` and `deno test`: were
 * the types to accept one again, its directive would be unused and the check
 * would fail. Options whose isolation the type does not pin (a
 * `HotswapOptions` value, a union) type-check as before; the run-time check
 * covers them.
 *
 * @module
 */

import { match, rejects, strictEqual } from "node:assert/strict";
import {
  type CheckedOptions,
  defineContract,
  type Hotswap,
  type HotswapOptions,
  type Isolation,
  type IsolationOf,
  type OptionsRefusedIn,
  registerHotswap,
  type Remote,
} from "../mod.ts";

interface Greeter {
  greet(name: string): string;
}

const greeter = defineContract<Greeter>({
  name: "Greeter",
  version: "1.0.0",
  symbol: "hs_greeter",
  shape: { greet: "function" },
});

/** `true` when `A` and `B` are the same type (not merely assignable). */
type Equal<A, B> = (<V>() => V extends A ? 1 : 2) extends (<V>() => V extends B ? 1 : 2) ? true : false;

/** Never loaded: the options are refused before the entry is read. */
const ENTRY = "never_read.ts";

/** The options registrations refuse, each a type error and a `TypeError` naming the option. */
Deno.test("registerHotswap() refuses an option of another isolation, in its types and at run time", async () => {
  const twoModes = "inline" as "inline" | "worker";
  const refusals: [Promise<unknown>, RegExp][] = [
    // @ts-expect-error memoryLimit applies to isolation "process" only
    [registerHotswap(greeter, ENTRY, { isolation: "worker", memoryLimit: 64 }), /memoryLimit/],
    // @ts-expect-error maxRestarts applies to isolation "process" only
    [registerHotswap(greeter, ENTRY, { isolation: "worker", maxRestarts: 2 }), /maxRestarts/],
    // @ts-expect-error memoryLimit applies to isolation "process" only (inline is the default)
    [registerHotswap(greeter, ENTRY, { memoryLimit: 64 }), /memoryLimit/],
    // @ts-expect-error maxRestarts applies to isolation "process" only
    [registerHotswap(greeter, ENTRY, { isolation: "inline", maxRestarts: 2 }), /maxRestarts/],
    // @ts-expect-error callTimeout applies to isolation "worker" or "process" only
    [registerHotswap(greeter, ENTRY, { callTimeout: 100 }), /callTimeout/],
    // @ts-expect-error permissions apply to isolation "worker" or "process" only
    [registerHotswap(greeter, ENTRY, { permissions: { read: true } }), /permissions/],
    // @ts-expect-error memoryLimit applies in neither mode of the union
    [registerHotswap(greeter, ENTRY, { isolation: twoModes, memoryLimit: 64 }), /memoryLimit/],
  ];
  for (const [refusal, name] of refusals) {
    await rejects(refusal, (error) => error instanceof TypeError && name.test(error.message));
  }
});

Deno.test("registerHotswap() says why inline calls take no callTimeout, and workers no maxRestarts", async () => {
  const options: HotswapOptions = { callTimeout: 100 };
  await rejects(registerHotswap(greeter, ENTRY, options), (error: TypeError) => {
    match(error.message, /inline calls run on the host's thread, where they cannot be timed out/);
    match(error.message, /use isolation "worker" or "process"/);
    return true;
  });
  await rejects(
    registerHotswap(greeter, ENTRY, { isolation: "worker", ...{ maxRestarts: 2 } as HotswapOptions }),
    (error: TypeError) => {
      match(error.message, /maxRestarts applies to isolation "process" only/);
      match(error.message, /swap/);
      strictEqual(/memory/.test(error.message), false, error.message);
      return true;
    },
  );
});

/** Registrations that type-check, with the handle type each gives; type-checked, never called. */
async function validForms(options: HotswapOptions, mode: Isolation, store: string): Promise<void> {
  const inline = await registerHotswap(greeter, ENTRY);
  const inlineSaid = await registerHotswap(greeter, ENTRY, { isolation: "inline", drainTimeout: 1_000 });
  const worker = await registerHotswap(greeter, ENTRY, {
    isolation: "worker",
    callTimeout: 5_000,
    permissions: { read: ["data"] },
  });
  const process = await registerHotswap(greeter, ENTRY, {
    isolation: "process",
    memoryLimit: 128,
    maxRestarts: 3,
    callTimeout: 5_000,
    permissions: { read: true },
  });
  // Options whose isolation is not known: unchanged, the run-time check covers them.
  const broad = await registerHotswap(greeter, ENTRY, options);
  const spreadInline = await registerHotswap(greeter, ENTRY, { ...options, isolation: "inline" });
  const spreadWorker = await registerHotswap(greeter, ENTRY, { isolation: "worker", ...options });
  const spreadProcess = await registerHotswap(greeter, ENTRY, { ...options, isolation: "process" as const });
  const fromFlag = await registerHotswap(greeter, ENTRY, {
    isolation: mode,
    memoryLimit: 64,
    callTimeout: 10,
  });
  const twoModes = "worker" as "inline" | "worker";
  const either = await registerHotswap(greeter, ENTRY, { isolation: twoModes, callTimeout: 10 });
  const held = { isolation: "worker" as const, callTimeout: 10 };
  const fromVariable = await registerHotswap(greeter, ENTRY, held);
  const fleet = await registerHotswap(greeter, {
    store,
    channel: "app/prod",
    host: "web-1",
    trust: "trust.json",
  });
  const fleetWorker = await registerHotswap(greeter, {
    store,
    channel: "app/prod",
    host: "web-1",
    isolation: "worker",
    callTimeout: 10,
  });
  const fleetProcess = await registerHotswap(greeter, {
    store,
    channel: "app/prod",
    host: "web-1",
    isolation: "process",
    memoryLimit: 64,
  });

  const checks: [
    Equal<typeof inline, Hotswap<Greeter>>,
    Equal<typeof inlineSaid, Hotswap<Greeter>>,
    Equal<typeof worker, Hotswap<Remote<Greeter>>>,
    Equal<typeof process, Hotswap<Remote<Greeter>>>,
    Equal<typeof broad, Hotswap<Greeter | Remote<Greeter>>>,
    Equal<typeof spreadInline, Hotswap<Greeter>>,
    Equal<typeof spreadWorker, Hotswap<Greeter | Remote<Greeter>>>,
    Equal<typeof spreadProcess, Hotswap<Remote<Greeter>>>,
    Equal<typeof fromFlag, Hotswap<Greeter | Remote<Greeter>>>,
    Equal<typeof either, Hotswap<Greeter | Remote<Greeter>>>,
    Equal<typeof fromVariable, Hotswap<Remote<Greeter>>>,
    Equal<typeof fleet, Hotswap<Greeter>>,
    Equal<typeof fleetWorker, Hotswap<Remote<Greeter>>>,
    Equal<typeof fleetProcess, Hotswap<Remote<Greeter>>>,
  ] = [true, true, true, true, true, true, true, true, true, true, true, true, true, true];
  void checks;

  // The fleet form checks its options the same way.
  // @ts-expect-error memoryLimit applies to isolation "process" only
  await registerHotswap(greeter, {
    store,
    channel: "app/prod",
    host: "web-1",
    isolation: "worker",
    memoryLimit: 64,
  });
  // @ts-expect-error callTimeout applies to isolation "worker" or "process" only
  await registerHotswap(greeter, { store, channel: "app/prod", host: "web-1", callTimeout: 10 });
  // A misspelt option is still an excess property, and a misspelt mode is not a mode.
  // @ts-expect-error "callTimout" is not an option
  await registerHotswap(greeter, ENTRY, { isolation: "worker", callTimout: 10 });
  // @ts-expect-error "wrker" is not an isolation mode
  await registerHotswap(greeter, ENTRY, { isolation: "wrker" });
}

/** A wrapper generic in the isolation passes it through to the handle type. */
function openIn<I extends Isolation>(
  isolation: I,
): Promise<Hotswap<I extends "inline" ? Greeter : Remote<Greeter>>> {
  return registerHotswap(greeter, ENTRY, { isolation });
}

Deno.test("the option types resolve as documented", () => {
  const checks: [
    Equal<IsolationOf<{ isolation: "worker" }>, "worker">,
    Equal<IsolationOf<{ isolation?: "worker" }>, "worker" | "inline">,
    Equal<IsolationOf<{ drainTimeout: number }>, "inline">,
    Equal<IsolationOf<HotswapOptions>, Isolation>,
    Equal<IsolationOf<{ isolation: "worker" } | { isolation: "process" }>, "worker" | "process">,
    Equal<OptionsRefusedIn<"inline">, "permissions" | "callTimeout" | "memoryLimit" | "maxRestarts">,
    Equal<OptionsRefusedIn<"worker">, "memoryLimit" | "maxRestarts">,
    Equal<OptionsRefusedIn<"inline" | "worker">, "memoryLimit" | "maxRestarts">,
    Equal<OptionsRefusedIn<"process">, never>,
    Equal<OptionsRefusedIn<Isolation>, never>,
  ] = [true, true, true, true, true, true, true, true, true, true];
  strictEqual(checks.every(Boolean), true);
  const ok: CheckedOptions<{ isolation: "worker"; callTimeout: number }> = {
    isolation: "worker",
    callTimeout: 1,
  };
  strictEqual(ok.callTimeout, 1);
  strictEqual(typeof validForms, "function");
  strictEqual(typeof openIn, "function");
});

Deno.test("types: with only the handle type given, the options are inline's, as the handle type says", () => {
  // Type-checked, never run: the calls only have to compile, or not.
  const check = async () => {
    interface Greeter {
      greet(name: string): string;
    }
    const greeter = defineContract<Greeter>({
      name: "Greeter",
      version: "1.0.0",
      symbol: "hs_greeter",
      shape: { greet: "function" },
    });
    // @ts-expect-error isolation "worker" with the handle type alone: with() would be typed inline
    await registerHotswap<Greeter>(greeter, "g.ts", { isolation: "worker" });
    const hot = await registerHotswap<Greeter>(greeter, "g.ts", { drainTimeout: 1_000 });
    const greeting: string = hot.with((h) => h.greet("ada"));
    return greeting;
  };
  strictEqual(typeof check, "function");
});
