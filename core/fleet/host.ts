/**
 * A hot-swap reference that follows a channel of a fleet store: the glue
 * between {@linkcode Follower} (what to run, reports) and a
 * {@linkcode Hotswap} (running it). Each artifact the follower fetches is
 * written to a private cache directory and loaded as a `.hsgen` path, so it
 * goes through exactly the checks of section 12 (trust list, scope, expiry,
 * sequence, digest) that a path would, going back to stable after an
 * aborted rollout included: that is a swap marked as an explicit rollback
 * (allowed below the highest sequence), never `rollback()` from memory,
 * which would skip the trust list as it is now (a key revoked since).
 *
 * @module
 */

import type { Contract } from "../contract.ts";
import { HotswapError } from "../errors.ts";
import { adoptResource, type GenerationStats, type Hotswap } from "../hotswap.ts";
import type { HandleOf, Isolation } from "../isolation.ts";
import { HOTSWAP_OPTIONS, type HotswapOptions } from "../options.ts";
import { refuseUnknownOptions } from "../_known_options.ts";
import { checkName } from "../store/schema.ts";
import { defaultHostId } from "./_default_host.ts";
import { openPath } from "../_open_path.ts";
import { openStore, type Store } from "../store/store.ts";
import { Follower } from "./follower.ts";
import type { LoadStep, ServingMetrics } from "./follower_options.ts";

/** Options of {@linkcode followChannel}: those of `registerHotswap`, and the fleet's. */
export interface FleetHostOptions extends HotswapOptions {
  /** The store: a URL (`sqlite:<file>`, `nats://host:port`) or an open store (not closed with the host). */
  store: string | Store;
  /** The channel to follow. */
  channel: string;
  /**
   * This host's id, unique in the fleet. The canary draw hashes it: keep it
   * across restarts. Default: `<hostname>:<pid>` with `--allow-sys=hostname`,
   * else `deno:<pid>:<random>`, which a restart changes.
   */
  host?: string;
  /**
   * Milliseconds between two reports.
   *
   * @default {1000}
   */
  reportInterval?: number;
  /** Where fetched artifacts are written to be loaded, created if missing (default: a new temporary directory, removed on close). */
  cacheDir?: string;
  /**
   * Told of failures the host survives: the store unreachable, an artifact
   * refused; and once, `E_NOT_FOUND`, that the channel has no generation yet.
   */
  onError?: (error: unknown) => void;
}

const FLEET_HOST_OPTIONS: readonly string[] = [
  ...HOTSWAP_OPTIONS,
  "store",
  "channel",
  "host",
  "reportInterval",
  "cacheDir",
  "onError",
];

/** A reference following a channel; dispose it (or close `hot`) to stop following and close the reference. */
export interface FleetHost<T> extends AsyncDisposable {
  /** The reference serving the channel's generation. */
  readonly hot: Hotswap<T>;
  /** The follower: what the channel wants, what it reports. */
  readonly follower: Follower;
}

/**
 * Loads the generation the channel wants for this host, then follows the
 * channel: swaps when the desired state changes, reports every
 * `reportInterval`. Resolves once the first generation serves.
 *
 * @typeParam T The handle type of the contract.
 * @typeParam I The isolation mode.
 * @param contract The contract every generation must meet.
 * @param options The store, channel, host id, and `registerHotswap`'s options (`trust` above all).
 * @returns The reference and its follower.
 * @throws {HotswapError} When the first generation the channel wants is refused, or the store cannot be opened.
 *
 * @example A host serving a channel's signed generation
 * ```ts
 * import { defineContract, generateSigningKey, packArtifact } from "@hotswap/runtime";
 * import { followChannel, publish } from "@hotswap/runtime/fleet";
 * import { openStore } from "@hotswap/runtime/store";
 * import { strictEqual } from "node:assert/strict";
 *
 * const greeter = defineContract<{ greet(name: string): string }>({
 *   name: "Greeter", version: "1.0.0", symbol: "hs_greeter", shape: { greet: "function" },
 * });
 * const dir = await Deno.makeTempDir();
 * {
 *   const key = await generateSigningKey();
 *   await Deno.writeTextFile(`${dir}/greeter.ts`, 'export const hs_greeter = { greet: (n: string) => "hello " + n };');
 *   const { bytes, manifest } = await packArtifact(`${dir}/greeter.ts`, { contract: greeter, key, label: "v1" });
 *   await using store = await openStore(`sqlite:${dir}/fleet.db`);
 *   await publish(store, "app", bytes, { digest: manifest.digest });
 *   await using host = await followChannel(greeter, {
 *     store, channel: "app", host: "web-1", cacheDir: dir,
 *     trust: { version: 1, keys: [{ keyid: key.keyid, publicKey: key.publicKey }], revoked: [] },
 *   });
 *   strictEqual(host.hot.with((h) => h.greet("ada")), "hello ada");
 * }
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function followChannel<T, I extends Isolation = "inline">(
  contract: Contract<T>,
  options: FleetHostOptions & { readonly isolation?: I },
): Promise<FleetHost<HandleOf<T, I>>> {
  refuseUnknownOptions(options, FLEET_HOST_OPTIONS, "Cannot follow a channel");
  const {
    store: storeOption,
    channel,
    host: givenHost,
    reportInterval,
    cacheDir,
    onError,
    ...hotswapOptions
  } = options;
  // Checked before the store opens, which a bad name would otherwise leave open.
  const host = checkName("host", givenHost ?? defaultHostId());
  const ownStore = typeof storeOption === "string";
  const store = ownStore ? await openStore(storeOption) : storeOption;
  const ownCache = cacheDir === undefined;
  let cache: string | undefined;
  let hot: Hotswap<HandleOf<T, I>> | undefined;
  let follower: Follower | undefined;

  const load = async (bytes: Uint8Array, digest: string, step: LoadStep): Promise<void> => {
    cache ??= cacheDir === undefined ? await privateCache() : await madeDir(cacheDir);
    const file = `${cache}/${fileName(digest)}.hsgen`;
    await Deno.writeFile(file, bytes, { mode: 0o600 });
    try {
      // Pinned to the digest the channel names: other bytes stored under it
      // are refused before anything commits, so the host never serves code
      // other than what it reports.
      if (hot === undefined) hot = await openPath(contract, file, { ...hotswapOptions, integrity: digest });
      else await hot.swap(file, { rollback: step.rollback, integrity: digest });
    } catch (error) {
      if (error instanceof HotswapError && error.code === "E_INTEGRITY") {
        throw new HotswapError(
          "E_INTEGRITY",
          `Cannot serve ${digest} on channel "${channel}": the store holds other files under that digest (${error.message}); publish the artifact again`,
          { path: error.path, cause: error },
        );
      }
      throw error;
    } finally {
      // Loaded or refused, the file is not read again: a generation keeps its snapshot in memory.
      await Deno.remove(file).catch(() => {});
    }
  };

  const metrics = (): ServingMetrics => {
    if (hot === undefined) return { generation: 0, calls: 0, errors: 0, p50: 0, p99: 0 };
    const serving = hot.stats().generations.find((g) => g.generation === hot!.generation) as
      | (GenerationStats & Partial<Pick<ServingMetrics, "errors" | "p50" | "p99">>)
      | undefined;
    return {
      generation: hot.generation,
      calls: serving?.calls ?? 0,
      errors: serving?.errors ?? 0,
      p50: serving?.p50 ?? 0,
      p99: serving?.p99 ?? 0,
    };
  };

  /** Stops following: the follower, then the store and cache this host opened (not the reference). */
  const release = async (): Promise<void> => {
    await follower?.[Symbol.asyncDispose]();
    if (ownStore) await store[Symbol.asyncDispose]();
    if (ownCache && cache !== undefined) await Deno.remove(cache, { recursive: true }).catch(() => {});
  };
  const close = async (): Promise<void> => {
    await release();
    await hot?.close();
  };

  try {
    follower = Follower.start({
      store,
      channel,
      host,
      load,
      metrics,
      ...(reportInterval === undefined ? {} : { reportInterval }),
      ...(onError === undefined ? {} : { onError }),
    });
    await follower.ready();
  } catch (error) {
    await close();
    throw error;
  }
  const serving = hot!;
  // Closing the reference stops the following first, whoever closes it.
  adoptResource(serving, { [Symbol.asyncDispose]: release });
  return { hot: serving, follower, [Symbol.asyncDispose]: () => serving.close() };
}

/** `dir`, created (owner only) if it does not exist yet. */
async function madeDir(dir: string): Promise<string> {
  try {
    await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  } catch (error) {
    if (!(error instanceof Deno.errors.NotCapable || error instanceof Deno.errors.PermissionDenied)) {
      throw error;
    }
    throw new HotswapError(
      "E_PERMISSION",
      `Cannot keep the channel's artifacts in cacheDir "${dir}": ${error.message}; grant --allow-write=${dir}, or give a cacheDir the host may write`,
      { path: dir, cause: error },
    );
  }
  return dir;
}

/**
 * A fresh temporary directory for the artifacts a host fetches.
 *
 * @throws {HotswapError} `E_PERMISSION` naming the flag or the option, when the host may not write there.
 */
async function privateCache(): Promise<string> {
  try {
    return await Deno.makeTempDir({ prefix: "hotswap_fleet_" });
  } catch (error) {
    if (!(error instanceof Deno.errors.NotCapable || error instanceof Deno.errors.PermissionDenied)) {
      throw error;
    }
    let dir = "/tmp";
    try {
      dir = Deno.env.get("TMPDIR") ?? dir;
    } catch {
      // No env permission either: the usual place is named.
    }
    throw new HotswapError(
      "E_PERMISSION",
      `Cannot keep the channel's artifacts: the host may not write to the temporary directory (${error.message}); grant --allow-write=${dir}, or give a cacheDir the host may write`,
      { cause: error },
    );
  }
}

/** A digest as a file name: base64url. */
function fileName(digest: string): string {
  return digest.replaceAll("+", "-").replaceAll("/", "_").replaceAll("=", "");
}
