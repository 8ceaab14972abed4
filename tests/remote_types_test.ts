/**
 * Types tell the truth (SPEC 5): in a worker, `with()` receives a
 * `Remote<T>` whose function members return promises; inline it receives `T`.
 * The `@ts-expect-error` lines are checked by `deno check` (part of the test
 * task): were the types to lie again, they would stop being errors and the
 * check would fail.
 *
 * @module
 */

import { strictEqual } from "node:assert/strict";
import {
  defineContract,
  type HandleOf,
  type Hotswap,
  type HotswapOptions,
  type Isolation,
  registerHotswap,
  type Remote,
} from "../mod.ts";
import { Fixture } from "./_fixtures.ts";

interface Greeter {
  prefix: string;
  greet(name: string): string;
  later(name: string): Promise<string>;
  nested: { shout(name: string): string };
}

const greeter = defineContract<Greeter>({
  name: "Greeter",
  version: "1.0.0",
  symbol: "hs_greeter",
  shape: { prefix: "string", greet: "function", later: "function", nested: { shout: "function" } },
});

const GENERATION = `export const hs_greeter = {
  prefix: "hi",
  greet: (name: string) => "hi " + name,
  later: async (name: string) => "later " + name,
  nested: { shout: (name: string) => name.toUpperCase() },
};`;

Deno.test("with() in worker isolation is typed with Remote<T>: calls are promises, data is plain", async () => {
  await using fixture = await Fixture.create();
  const entry = await fixture.write({ "greeter.ts": GENERATION });
  await using hot = await registerHotswap(greeter, entry, { isolation: "worker" });

  // @ts-expect-error a remote call returns a Promise, not the plain result
  const wrong: string = hot.with((h) => h.greet("a"));
  strictEqual((wrong as unknown) instanceof Promise, true);
  strictEqual(await wrong, "hi a");

  const greeting: string = await hot.with((h) => h.greet("a"));
  const later: string = await hot.with((h) => h.later("b")); // no Promise<Promise<…>>
  const shout: string = await hot.with((h) => h.nested.shout("c"));
  const prefix: string = hot.with((h) => h.prefix); // data members are copied at load
  strictEqual(greeting, "hi a");
  strictEqual(later, "later b");
  strictEqual(shout, "C");
  strictEqual(prefix, "hi");
});

Deno.test("with() inline is typed with T: calls return their values", async () => {
  await using fixture = await Fixture.create();
  const entry = await fixture.write({ "greeter.ts": GENERATION });
  await using hot = await registerHotswap(greeter, entry);

  const greeting: string = hot.with((h) => h.greet("a"));
  strictEqual(greeting, "hi a");
  // @ts-expect-error an inline async member still returns a Promise
  const wrong: string = hot.with((h) => h.later("b"));
  strictEqual(await wrong, "later b");
});

Deno.test("an isolation known only at run time gives the union of both handle types", async () => {
  await using fixture = await Fixture.create();
  const entry = await fixture.write({ "greeter.ts": GENERATION });
  const isolation = "inline" as Isolation; // as if read from a flag
  await using hot = await registerHotswap(greeter, entry, { isolation });
  const handle: HandleOf<Greeter, Isolation> extends Greeter | Remote<Greeter> ? true : false = true;
  strictEqual(handle, true);
  // @ts-expect-error it may be a Promise
  const wrong: string = hot.with((h) => h.greet("a"));
  strictEqual(await wrong, "hi a");
  const greeting: string = await hot.with((h) => h.greet("a"));
  strictEqual(greeting, "hi a");
});

Deno.test("options held in a HotswapOptions value leave the isolation open: with() may get either handle", async () => {
  await using fixture = await Fixture.create();
  const entry = await fixture.write({ "greeter.ts": GENERATION });
  const options: HotswapOptions = { isolation: "worker", callTimeout: 5_000 }; // as if read from a config file
  await using hot = await registerHotswap(greeter, entry, options);
  const handle: typeof hot extends Hotswap<Greeter | Remote<Greeter>> ? true : false = true;
  strictEqual(handle, true);
  // @ts-expect-error it may be a Promise
  const wrong: string = hot.with((h) => h.greet("a"));
  strictEqual(await wrong, "hi a");
  const greeting: string = await hot.with((h) => h.greet("a"));
  strictEqual(greeting, "hi a");
});
