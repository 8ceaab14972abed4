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

Deno.test("a Date, Map, Set, RegExp or binary data member is typed as itself in Remote<T>, as it arrives", async () => {
  interface Calendar {
    when: Date;
    tags: Map<string, number>;
    seen: Set<string>;
    pattern: RegExp;
    bytes: Uint8Array;
    next(): Date;
  }
  const calendar = defineContract<Calendar>({
    name: "Calendar",
    version: "1.0.0",
    symbol: "hs_calendar",
    shape: {
      when: "object",
      tags: "object",
      seen: "object",
      pattern: "object",
      bytes: "object",
      next: "function",
    },
  });
  await using fixture = await Fixture.create();
  const entry = await fixture.write({
    "calendar.ts": `export const hs_calendar = {
  when: new Date(0),
  tags: new Map([["a", 1]]),
  seen: new Set(["x"]),
  pattern: /ab+/,
  bytes: new Uint8Array([7]),
  next: () => new Date(1),
};`,
  });
  await using hot = await registerHotswap(calendar, entry, { isolation: "worker" });
  const time: number = hot.with((h) => h.when.getTime());
  // @ts-expect-error a copied Date's methods answer at once, not with a Promise
  const claimed: Promise<number> = hot.with((h) => h.when.getTime());
  strictEqual(claimed as unknown, 0);
  const tag: number | undefined = hot.with((h) => h.tags.get("a"));
  const seen: boolean = hot.with((h) => h.seen.has("x"));
  const matches: boolean = hot.with((h) => h.pattern.test("abb"));
  const byte: number | undefined = hot.with((h) => h.bytes[0]);
  const next: Date = await hot.with((h) => h.next());
  strictEqual(time, 0);
  strictEqual(tag, 1);
  strictEqual(seen, true);
  strictEqual(matches, true);
  strictEqual(byte, 7);
  strictEqual(next.getTime(), 1);
});
