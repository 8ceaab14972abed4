/**
 * `registerHotswap`: options in, a loader chosen for the isolation mode, the
 * first generation committed. The reference itself (core/hotswap.ts) only
 * ever sees the loader interface.
 *
 * @module
 */

import type { Contract } from "./contract.ts";
import type { Hotswap } from "./hotswap.ts";
import type { FleetHostOptions } from "./fleet/host.ts";
import type { HandleOf, IsolationOf } from "./isolation.ts";
import type { CheckedOptions, HotswapOptions } from "./options.ts";
import { openPath } from "./_open_path.ts";
import type { PathLike } from "./roots.ts";

/**
 * Loads the first generation of `path`, verified against `contract`, and
 * returns the reference that serves it and swaps in later ones. Or, given a
 * fleet store and channel instead of a path, follows that channel (SPEC 13):
 * see the second signature.
 *
 * @typeParam T The handle type of the contract.
 * @typeParam O The type of `options`. Its `isolation` ({@linkcode IsolationOf})
 *   decides what `with()` receives: `T` inline, {@linkcode Remote}`<T>` in a
 *   worker or process; an option that does not apply there is a type error
 *   ({@linkcode CheckedOptions}).
 * @param contract The contract every generation must meet.
 * @param path The first generation's entry file (relative to the working directory, or a `file:` URL).
 * @param options Roots, isolation, permissions, integrity pin and timeouts.
 * @returns The reference, serving generation 1.
 * @throws {HotswapError} When the first generation cannot be loaded.
 * @throws {TypeError} When an option is malformed.
 *
 * @example Register, call, close
 * ```ts
 * import { defineContract, registerHotswap } from "@hotswap/runtime";
 * import { strictEqual } from "node:assert/strict";
 *
 * const contract = defineContract<{ greet(name: string): string }>({
 *   name: "Greeter", version: "1.0.0", symbol: "hs_greeter", shape: { greet: "function" },
 * });
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/greeter.ts`, 'export const hs_greeter = { greet: (n: string) => "hi " + n };');
 * const hot = await registerHotswap(contract, `${dir}/greeter.ts`);
 * strictEqual(hot.with((h) => h.greet("ada")), "hi ada");
 * await hot.close();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export function registerHotswap<T, O extends HotswapOptions = { readonly isolation?: "inline" }>(
  contract: Contract<T>,
  path: PathLike,
  options?: CheckedOptions<O>,
): Promise<Hotswap<HandleOf<T, IsolationOf<O>>>>;
/**
 * Follows a channel of a fleet store (SPEC 13): loads the generation the
 * channel wants for this host (a signed artifact, checked against `trust`),
 * swaps whenever the channel's desired state changes, reports calls, errors
 * and latency every `reportInterval`, and keeps serving what it has while the
 * store is unreachable. Closing the reference stops following.
 *
 * @typeParam T The handle type of the contract.
 * @typeParam O The type of `channel`; its `isolation` decides what `with()` receives, as in the first signature.
 * @param contract The contract every generation must meet.
 * @param channel The store (`sqlite:<file>`, `nats://host:port`), channel, host id, and the options of a path registration.
 * @returns The reference, serving the channel's generation for this host.
 * @throws {HotswapError} When the store cannot be opened or the first generation is refused.
 *
 * @example Follow a channel of an embedded store
 * ```ts ignore
 * import { registerHotswap } from "@hotswap/runtime";
 * import { httpApp } from "@hotswap/runtime/types";
 *
 * await using hot = await registerHotswap(httpApp, {
 *   store: "sqlite:fleet.db",
 *   channel: "app/prod",
 *   host: "web-1", // kept across restarts; default <hostname>:<pid>:<random>
 *   trust: "trust.json",
 * });
 * ```
 */
export function registerHotswap<T, O extends FleetHostOptions>(
  contract: Contract<T>,
  channel: CheckedOptions<O, FleetHostOptions>,
): Promise<Hotswap<HandleOf<T, IsolationOf<O>>>>;
export async function registerHotswap<T>(
  contract: Contract<T>,
  source: PathLike | FleetHostOptions,
  options: HotswapOptions = {},
): Promise<Hotswap<unknown>> {
  if (typeof source === "object" && !(source instanceof URL)) {
    // Loaded on first use: programs that never follow a channel never load the fleet code.
    const { followChannel } = await import("./fleet/host.ts");
    return (await followChannel(contract, source)).hot;
  }
  return await openPath(contract, source, options);
}
