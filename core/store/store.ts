/**
 * The fleet store (SPEC section 13): where artifacts, each channel's desired
 * state, the hosts' reports and the rollout state live, behind one interface
 * with two adapters, `sqlite:<file>` (embedded, for the processes of one
 * machine) and `nats://host:port` (NATS JetStream). {@linkcode openStore}
 * picks the adapter by URL and imports it only then, so a program on SQLite
 * never downloads the NATS client.
 *
 * Records are validated when read: another process wrote them. What they
 * hold is in `schema.ts`, re-exported here.
 *
 * @module
 */

import type { ArtifactInfo, ChannelEntry, ChannelState, HostReport } from "./schema.ts";
import { withinTimerLimit } from "../_timer_limit.ts";

export {
  type ArtifactInfo,
  type ChannelEntry,
  type ChannelState,
  checkDigest,
  checkName,
  type HostReport,
  type HostState,
  type Refusal,
  type RolloutState,
  type RolloutStatus,
} from "./schema.ts";

/** Options of {@linkcode Store.watch}. */
export interface WatchChannelOptions {
  /** Ends the iteration. */
  signal?: AbortSignal;
}

/**
 * Artifacts, desired state, reports and rollouts of a fleet, shared by the
 * hosts and the controller. Writes that two writers could race on (the
 * channel state) are compare-and-set on a revision; the rest are idempotent
 * or per-writer (a host writes only its own report).
 */
export interface Store extends AsyncDisposable {
  /** The URL the store was opened with. */
  readonly url: string;
  /**
   * Stores an artifact under its digest, the digest of its files. The same
   * digest again replaces it: the same files published anew (signed by
   * another key, with another label or sequence), so that an envelope the
   * hosts refused can be corrected; what runs is the same either way.
   *
   * @param bytes The artifact (`.hsgen`).
   * @param meta Its digest and label, read from its manifest by the caller.
   * @returns What the store lists for it.
   *
   * @example Store an artifact, then the same files signed anew
   * ```ts
   * import { openStore } from "@hotswap/runtime/store";
   * import { deepStrictEqual, strictEqual } from "node:assert/strict";
   *
   * const dir = await Deno.makeTempDir();
   * {
   *   await using store = await openStore(`sqlite:${dir}/fleet.db`);
   *   const digest = "sha256-" + "A".repeat(43) + "=";
   *   const first = await store.putArtifact(new Uint8Array([1, 2, 3]), { digest, label: "v1" });
   *   const again = await store.putArtifact(new Uint8Array([4, 5]), { digest, label: "v1-resigned" });
   *   strictEqual(first.size, 3);
   *   strictEqual(again.label, "v1-resigned");
   *   deepStrictEqual(await store.getArtifact(digest), new Uint8Array([4, 5]));
   * }
   * await Deno.remove(dir, { recursive: true });
   * ```
   */
  putArtifact(bytes: Uint8Array, meta: { digest: string; label?: string | undefined }): Promise<ArtifactInfo>;
  /**
   * The artifact's bytes, or `undefined` when no artifact has that digest.
   *
   * @example Read an artifact back
   * ```ts
   * import { openStore } from "@hotswap/runtime/store";
   * import { deepStrictEqual, strictEqual } from "node:assert/strict";
   *
   * const dir = await Deno.makeTempDir();
   * {
   *   await using store = await openStore(`sqlite:${dir}/fleet.db`);
   *   const digest = "sha256-" + "A".repeat(43) + "=";
   *   strictEqual(await store.getArtifact(digest), undefined);
   *   await store.putArtifact(new Uint8Array([1, 2, 3]), { digest });
   *   deepStrictEqual(await store.getArtifact(digest), new Uint8Array([1, 2, 3]));
   * }
   * await Deno.remove(dir, { recursive: true });
   * ```
   */
  getArtifact(digest: string): Promise<Uint8Array | undefined>;
  /**
   * Every artifact, oldest first.
   *
   * @example List artifacts with their labels
   * ```ts
   * import { openStore } from "@hotswap/runtime/store";
   * import { strictEqual } from "node:assert/strict";
   *
   * const dir = await Deno.makeTempDir();
   * {
   *   await using store = await openStore(`sqlite:${dir}/fleet.db`);
   *   const digest = "sha256-" + "A".repeat(43) + "=";
   *   await store.putArtifact(new Uint8Array([1]), { digest, label: "v1" });
   *   const [artifact] = await store.listArtifacts();
   *   strictEqual(artifact?.label, "v1");
   * }
   * await Deno.remove(dir, { recursive: true });
   * ```
   */
  listArtifacts(): Promise<ArtifactInfo[]>;
  /**
   * A channel's state and revision, or `undefined` for a channel never written.
   *
   * @example Read a channel
   * ```ts
   * import { openStore } from "@hotswap/runtime/store";
   * import { strictEqual } from "node:assert/strict";
   *
   * const dir = await Deno.makeTempDir();
   * {
   *   await using store = await openStore(`sqlite:${dir}/fleet.db`);
   *   const digest = "sha256-" + "A".repeat(43) + "=";
   *   strictEqual(await store.getChannel("app"), undefined);
   *   await store.setChannel("app", { stable: digest }, 0);
   *   strictEqual((await store.getChannel("app"))?.state.stable, digest);
   * }
   * await Deno.remove(dir, { recursive: true });
   * ```
   */
  getChannel(channel: string): Promise<ChannelEntry | undefined>;
  /**
   * Writes a channel's state if its revision is still `revision` (0: if the
   * channel does not exist yet).
   *
   * @returns The new revision, or `undefined` when another writer came first.
   *
   * @example Compare-and-set on the revision
   * ```ts
   * import { openStore } from "@hotswap/runtime/store";
   * import { strictEqual } from "node:assert/strict";
   *
   * const dir = await Deno.makeTempDir();
   * {
   *   await using store = await openStore(`sqlite:${dir}/fleet.db`);
   *   const digest = "sha256-" + "A".repeat(43) + "=";
   *   const revision = await store.setChannel("app", { stable: digest }, 0);
   *   strictEqual(typeof revision, "number");
   *   // A second writer naming the same revision loses.
   *   strictEqual(await store.setChannel("app", {}, 0), undefined);
   * }
   * await Deno.remove(dir, { recursive: true });
   * ```
   */
  setChannel(channel: string, state: ChannelState, revision: number): Promise<number | undefined>;
  /**
   * Writes a host's report, replacing its previous one.
   *
   * @example Report what a host serves
   * ```ts
   * import { openStore } from "@hotswap/runtime/store";
   * import { strictEqual } from "node:assert/strict";
   *
   * const dir = await Deno.makeTempDir();
   * {
   *   await using store = await openStore(`sqlite:${dir}/fleet.db`);
   *   const report = {
   *     host: "h1", generation: 1, digest: "", desired: "", state: "starting" as const,
   *     calls: 0, errors: 0, p50: 0, p99: 0, at: Date.now(), interval: 1_000,
   *   };
   *   await store.putReport("app", report);
   *   await store.putReport("app", { ...report, calls: 5 });
   *   strictEqual((await store.listReports("app"))[0]?.calls, 5);
   * }
   * await Deno.remove(dir, { recursive: true });
   * ```
   */
  putReport(channel: string, report: HostReport): Promise<void>;
  /**
   * Removes a host's report (a host leaving the fleet).
   *
   * @example A host leaves the fleet
   * ```ts
   * import { openStore } from "@hotswap/runtime/store";
   * import { strictEqual } from "node:assert/strict";
   *
   * const dir = await Deno.makeTempDir();
   * {
   *   await using store = await openStore(`sqlite:${dir}/fleet.db`);
   *   await store.putReport("app", {
   *     host: "h1", generation: 1, digest: "", desired: "", state: "starting",
   *     calls: 0, errors: 0, p50: 0, p99: 0, at: Date.now(), interval: 1_000,
   *   });
   *   await store.deleteReport("app", "h1");
   *   strictEqual((await store.listReports("app")).length, 0);
   * }
   * await Deno.remove(dir, { recursive: true });
   * ```
   */
  deleteReport(channel: string, host: string): Promise<void>;
  /**
   * The latest report of every host of the channel.
   *
   * @example List the hosts of a channel
   * ```ts
   * import { openStore } from "@hotswap/runtime/store";
   * import { deepStrictEqual } from "node:assert/strict";
   *
   * const dir = await Deno.makeTempDir();
   * {
   *   await using store = await openStore(`sqlite:${dir}/fleet.db`);
   *   for (const host of ["h2", "h1"]) {
   *     await store.putReport("app", {
   *       host, generation: 1, digest: "", desired: "", state: "starting",
   *       calls: 0, errors: 0, p50: 0, p99: 0, at: Date.now(), interval: 1_000,
   *     });
   *   }
   *   deepStrictEqual((await store.listReports("app")).map((report) => report.host), ["h1", "h2"]);
   * }
   * await Deno.remove(dir, { recursive: true });
   * ```
   */
  listReports(channel: string): Promise<HostReport[]>;
  /**
   * Follows a channel, level-triggered: yields its current state first, then
   * again whenever its revision differs from the last one yielded. Changes in
   * between may be skipped (only the latest matters), and after a lost
   * connection the current state is read again, so a watcher never depends on
   * having seen every notification. While the store is unreachable nothing is
   * yielded. Ends when `signal` aborts or the store is closed.
   *
   * @example See a channel change
   * ```ts
   * import { openStore } from "@hotswap/runtime/store";
   * import { strictEqual } from "node:assert/strict";
   *
   * const dir = await Deno.makeTempDir();
   * {
   *   await using store = await openStore(`sqlite:${dir}/fleet.db`);
   *   const digest = "sha256-" + "A".repeat(43) + "=";
   *   const stop = new AbortController();
   *   const changes = store.watch("app", { signal: stop.signal });
   *   strictEqual((await changes.next()).value, undefined); // never written yet
   *   await store.setChannel("app", { stable: digest }, 0);
   *   strictEqual((await changes.next()).value?.state.stable, digest);
   *   stop.abort();
   *   strictEqual((await changes.next()).done, true);
   * }
   * await Deno.remove(dir, { recursive: true });
   * ```
   */
  watch(channel: string, options?: WatchChannelOptions): AsyncIterableIterator<ChannelEntry | undefined>;
}

/** The NATS connect timeout of `openStore`'s options, defaulted and checked. */
function connectTimeoutOf(url: string, ms: number | undefined): number {
  if (ms === undefined) return 5_000;
  if (typeof ms !== "number") {
    throw new TypeError(
      `Cannot open store "${url}": connectTimeout must be a number of milliseconds, got ${
        typeof ms === "string" ? `the string ${JSON.stringify(ms)}` : String(ms)
      }`,
    );
  }
  if (!(ms > 0 && Number.isFinite(ms))) {
    throw new RangeError(`Cannot open store "${url}": connectTimeout must be above 0 ms, got ${String(ms)}`);
  }
  return withinTimerLimit(`Cannot open store "${url}": connectTimeout`, ms);
}

/** Options of {@linkcode openStore}. */
export interface OpenStoreOptions {
  /**
   * NATS: milliseconds to wait for the first connection.
   *
   * @default {5000}
   */
  connectTimeout?: number;
}

/**
 * Opens the store at `url`: `sqlite:<file>` (created when missing) or
 * `nats://host:port`.
 *
 * @param url Where the store is.
 * @param options Connection options.
 * @returns The open store; dispose it to close.
 * @throws {TypeError} A URL of neither form.
 * @throws {TypeError} A `connectTimeout` that is not a number.
 * @throws {RangeError} A `connectTimeout` that is not above 0, or longer than a timer can wait.
 * @throws {HotswapError} `E_STORE` when it cannot be opened.
 *
 * @example Publish an artifact's bytes, read them back
 * ```ts
 * import { openStore } from "@hotswap/runtime/store";
 * import { deepStrictEqual } from "node:assert/strict";
 *
 * const dir = await Deno.makeTempDir();
 * {
 *   await using store = await openStore(`sqlite:${dir}/fleet.db`);
 *   const digest = "sha256-" + "A".repeat(43) + "=";
 *   await store.putArtifact(new Uint8Array([1, 2, 3]), { digest });
 *   deepStrictEqual(await store.getArtifact(digest), new Uint8Array([1, 2, 3]));
 * }
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function openStore(url: string, options: OpenStoreOptions = {}): Promise<Store> {
  if (typeof url !== "string") {
    throw new TypeError(`Cannot open a store: URL must be a string, got ${typeof url}`);
  }
  if (url.startsWith("sqlite:")) {
    const file = url.slice("sqlite:".length);
    if (file === "") throw new TypeError(`Cannot open store "${url}": name a file, as in "sqlite:fleet.db"`);
    const { SqliteStore } = await import("./sqlite.ts");
    return SqliteStore.open(file);
  }
  if (url.startsWith("nats://")) {
    // A specifier Deno cannot see ahead: a literal one makes every program that
    // imports this file download the NATS client, SQLite users included. Typed by
    // hand, not as `typeof import("./nats.ts")`, which `deno check` would follow too.
    const adapter = new URL("./nats.ts", import.meta.url).href;
    const { NatsStore }: { NatsStore: { open(url: string, connectTimeout: number): Promise<Store> } } =
      await import(adapter);
    return await NatsStore.open(url, connectTimeoutOf(url, options.connectTimeout));
  }
  throw new TypeError(
    `Cannot open store "${url}": the URL must be "sqlite:<file>" or "nats://host:port"`,
  );
}
