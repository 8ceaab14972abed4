/**
 * The host side of a fleet: follow a channel of a store, load the
 * generation the channel wants for this host (stable, or the candidate when
 * the host is in the canary), report every `reportInterval`.
 *
 * The follower is level-triggered: whenever it looks (a watch event, or each
 * report tick), it computes what this host should run from the channel's
 * current state and converges on it, so it never depends on having seen
 * every notification, and a host that restarts simply reads the current
 * state. When the store is unreachable it keeps serving what it has and
 * tries again at the next tick. An artifact that fails to load (a bad
 * signature, a broken module) is reported as refused, which the rollout
 * gate turns into an abort, and not tried again while the channel still
 * wants it.
 *
 * @module
 */

import { describeThrown, HotswapError } from "../errors.ts";
import { type ChannelEntry, checkName, type Refusal, type Store } from "../store/store.ts";
import { desiredDigest } from "./canary.ts";
import { ArtifactCache } from "./_artifact_cache.ts";
import { hostReport } from "./_host_report.ts";
import {
  type FollowerOptions,
  type LoadStep,
  NO_METRICS,
  reportIntervalOf,
  type ServingMetrics,
} from "./follower_options.ts";

/** How many of the digests a host served it remembers as places an aborted rollout may return it to. */
const SERVED_KEPT = 64;

/**
 * Follows a channel for one host. Create with {@linkcode Follower.start};
 * dispose to stop (its report is removed from the store).
 *
 * @example Follow a channel on the embedded store
 * ```ts
 * import { Follower, publish } from "@hotswap/runtime/fleet";
 * import { openStore } from "@hotswap/runtime/store";
 * import { strictEqual } from "node:assert/strict";
 *
 * const dir = await Deno.makeTempDir();
 * {
 *   await using store = await openStore(`sqlite:${dir}/fleet.db`);
 *   const digest = "sha256-" + "A".repeat(43) + "=";
 *   await publish(store, "app", new Uint8Array([1]), { digest });
 *   const loaded: string[] = [];
 *   await using follower = Follower.start({
 *     store, channel: "app", host: "h1", load: async (_bytes, d) => void loaded.push(d),
 *   });
 *   strictEqual(await follower.ready(), digest);
 *   strictEqual(loaded[0], digest);
 * }
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export class Follower implements AsyncDisposable {
  /** The channel followed. */
  readonly channel: string;
  /** This host's id. */
  readonly host: string;
  readonly #store: Store;
  readonly #load: (bytes: Uint8Array, digest: string, step: LoadStep) => Promise<void>;
  readonly #metrics: () => ServingMetrics;
  readonly #interval: number;
  readonly #onError: (error: unknown) => void;
  readonly #stop = new AbortController();
  readonly #cache: ArtifactCache;
  readonly #refused = new Map<string, Refusal>();
  readonly #ready = Promise.withResolvers<string>();
  #entry: ChannelEntry | undefined;
  #serving = "";
  /** The digests this host served, to which an aborted rollout may roll it back. */
  readonly #servedBefore = new Set<string>();
  /**
   * The stable digest of the rollout this host started into, serving its
   * candidate first; an abort may take it back there too. A host's sequence
   * check starts afresh at a restart anyway (it is kept in memory).
   */
  #startedBeside: string | undefined;
  #loading = false;
  /** Whether onError was told the channel has no generation yet. */
  #toldEmpty = false;
  /** Whether the last read of the channel succeeded: a failed one says nothing of what it holds. */
  #readOk = false;
  /** Serialises convergence: one load at a time, each on the latest state. */
  #converging: Promise<void> = Promise.resolve();
  #timer: ReturnType<typeof setInterval> | undefined;
  #watching: Promise<void>;
  #reporting: Promise<void> = Promise.resolve();
  #ticking = false;
  #closing: Promise<void> | undefined;

  private constructor(options: FollowerOptions) {
    this.channel = checkName("channel", options.channel);
    this.host = checkName("host", options.host);
    this.#store = options.store;
    this.#load = options.load;
    this.#metrics = options.metrics ?? (() => NO_METRICS);
    this.#interval = reportIntervalOf(options);
    this.#onError = options.onError ?? (() => {});
    this.#cache = new ArtifactCache(this.#store, this.#onError);
    // Nobody may be waiting on ready(): a rejection there must not end the host.
    this.#ready.promise.catch(() => {});
    this.#watching = this.#watch();
    this.#timer = setInterval(() => this.#tick(), this.#interval);
  }

  /**
   * Starts following: watches the channel, loads what it wants for this
   * host, reports every `reportInterval`.
   *
   * @param options The store, channel, host id and the `load` callback.
   * @returns The follower; {@linkcode Follower.ready} tells when it serves.
   * @throws {TypeError} A malformed channel or host name.
   * @throws {RangeError} A `reportInterval` that is not above 0.
   *
   * @example Start, and stop, following a channel
   * ```ts
   * import { Follower, publish } from "@hotswap/runtime/fleet";
   * import { openStore } from "@hotswap/runtime/store";
   * import { strictEqual } from "node:assert/strict";
   *
   * const dir = await Deno.makeTempDir();
   * {
   *   await using store = await openStore(`sqlite:${dir}/fleet.db`);
   *   const digest = "sha256-" + "A".repeat(43) + "=";
   *   await publish(store, "app", new Uint8Array([1]), { digest });
   *   const follower = Follower.start({ store, channel: "app", host: "h1", load: () => Promise.resolve() });
   *   await follower.ready();
   *   strictEqual((await store.listReports("app"))[0]?.host, "h1");
   *   await follower[Symbol.asyncDispose]();
   * }
   * await Deno.remove(dir, { recursive: true });
   * ```
   */
  static start(options: FollowerOptions): Follower {
    return new Follower(options);
  }

  /**
   * Resolves with the digest first served, once one is; rejects when the
   * first generation the channel wants is refused, or the follower is closed
   * before anything serves. A channel with no generation yet is waited for.
   *
   * @returns The digest first served.
   *
   * @example Wait until the host serves
   * ```ts
   * import { Follower, publish } from "@hotswap/runtime/fleet";
   * import { openStore } from "@hotswap/runtime/store";
   * import { strictEqual } from "node:assert/strict";
   *
   * const dir = await Deno.makeTempDir();
   * {
   *   await using store = await openStore(`sqlite:${dir}/fleet.db`);
   *   const digest = "sha256-" + "A".repeat(43) + "=";
   *   await publish(store, "app", new Uint8Array([1]), { digest });
   *   await using follower = Follower.start({ store, channel: "app", host: "h1", load: () => Promise.resolve() });
   *   strictEqual(await follower.ready(), digest);
   * }
   * await Deno.remove(dir, { recursive: true });
   * ```
   */
  ready(): Promise<string> {
    return this.#ready.promise;
  }

  /**
   * The digest this host serves ("" before the first load).
   *
   * @example What the host serves
   * ```ts
   * import { Follower, publish } from "@hotswap/runtime/fleet";
   * import { openStore } from "@hotswap/runtime/store";
   * import { strictEqual } from "node:assert/strict";
   *
   * const dir = await Deno.makeTempDir();
   * {
   *   await using store = await openStore(`sqlite:${dir}/fleet.db`);
   *   const digest = "sha256-" + "A".repeat(43) + "=";
   *   await publish(store, "app", new Uint8Array([1]), { digest });
   *   await using follower = Follower.start({ store, channel: "app", host: "h1", load: () => Promise.resolve() });
   *   strictEqual(follower.digest, "");
   *   await follower.ready();
   *   strictEqual(follower.digest, digest);
   * }
   * await Deno.remove(dir, { recursive: true });
   * ```
   */
  get digest(): string {
    return this.#serving;
  }

  /**
   * The digest the channel wants this host to run, as last read.
   *
   * @example What the channel wants of the host
   * ```ts
   * import { Follower, publish } from "@hotswap/runtime/fleet";
   * import { openStore } from "@hotswap/runtime/store";
   * import { strictEqual } from "node:assert/strict";
   *
   * const dir = await Deno.makeTempDir();
   * {
   *   await using store = await openStore(`sqlite:${dir}/fleet.db`);
   *   const digest = "sha256-" + "A".repeat(43) + "=";
   *   await publish(store, "app", new Uint8Array([1]), { digest });
   *   await using follower = Follower.start({ store, channel: "app", host: "h1", load: () => Promise.resolve() });
   *   await follower.ready();
   *   strictEqual(follower.desired, digest);
   * }
   * await Deno.remove(dir, { recursive: true });
   * ```
   */
  get desired(): string | undefined {
    return desiredDigest(this.#entry?.state, this.host);
  }

  /**
   * Stops watching and reporting, and removes this host's report. Idempotent.
   *
   * @example A host that leaves is no longer reported
   * ```ts
   * import { Follower, publish } from "@hotswap/runtime/fleet";
   * import { openStore } from "@hotswap/runtime/store";
   * import { strictEqual } from "node:assert/strict";
   *
   * const dir = await Deno.makeTempDir();
   * {
   *   await using store = await openStore(`sqlite:${dir}/fleet.db`);
   *   const digest = "sha256-" + "A".repeat(43) + "=";
   *   await publish(store, "app", new Uint8Array([1]), { digest });
   *   {
   *     await using follower = Follower.start({ store, channel: "app", host: "h1", load: () => Promise.resolve() });
   *     await follower.ready();
   *   }
   *   strictEqual((await store.listReports("app")).length, 0);
   * }
   * await Deno.remove(dir, { recursive: true });
   * ```
   */
  [Symbol.asyncDispose](): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#stop.abort();
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#ready.reject(
      new HotswapError(
        "E_CLOSED",
        `Cannot follow "${this.channel}": the follower of host "${this.host}" was closed`,
      ),
    );
    await this.#watching;
    await this.#converging;
    await this.#reporting;
    // A host that leaves on purpose leaves the gate's view at once.
    await this.#store.deleteReport(this.channel, this.host).catch(() => {});
  }

  async #watch(): Promise<void> {
    try {
      for await (const entry of this.#store.watch(this.channel, { signal: this.#stop.signal })) {
        this.#entry = entry;
        this.#readOk = true;
        await this.#converge();
      }
    } catch (error) {
      // The store was closed under the follower: the ticks keep trying.
      if (!this.#stop.signal.aborted) this.#onError(error);
    }
  }

  /**
   * Report tick: re-read the channel (the catch-up for a missed
   * notification), converge, report. A tick still running (a store that
   * answers slowly) makes the next one skip, so nothing piles up.
   */
  #tick(): void {
    if (this.#stop.signal.aborted || this.#ticking) return;
    this.#ticking = true;
    this.#reporting = (async () => {
      try {
        const entry = await this.#store.getChannel(this.channel);
        if (entry === undefined || entry.revision !== this.#entry?.revision) this.#entry = entry;
        this.#readOk = true;
      } catch (error) {
        this.#readOk = false;
        this.#onError(error);
      }
      await this.#converge();
      await this.#report();
    })().finally(() => this.#ticking = false);
  }

  #converge(): Promise<void> {
    this.#converging = this.#converging.then(() => this.#convergeOnce());
    return this.#converging;
  }

  async #convergeOnce(): Promise<void> {
    // Bounded: each turn either loads the latest wanted digest or stops; a
    // new want that arrives during a load is taken by the next converge().
    for (let turn = 0; turn < 4 && !this.#stop.signal.aborted; turn++) {
      const wanted = this.desired;
      // A refusal is kept only while the channel wants that digest: wanted again later (a new
      // rollout, perhaps of the same files published again, signed anew), it is tried again.
      for (const digest of this.#refused.keys()) if (digest !== wanted) this.#refused.delete(digest);
      if (wanted === undefined && this.#serving === "" && this.#readOk && !this.#toldEmpty) {
        // Said once: a host waiting on a channel nothing was published to (a
        // mistyped name, say) would otherwise wait in silence.
        this.#toldEmpty = true;
        this.#onError(
          new HotswapError(
            "E_NOT_FOUND",
            `Channel "${this.channel}" in store "${this.#store.url}" has no generation yet: waiting until one is published there (hotswap publish <file>.hsgen --store ${this.#store.url} --channel ${this.channel}); check the channel's name if one was`,
          ),
        );
      }
      if (wanted === undefined || wanted === this.#serving || this.#refused.has(wanted)) return;
      this.#loading = true;
      const rolloutAtStart = this.#entry?.state.rollout?.id;
      try {
        const kept = this.#cache.has(wanted);
        let bytes = await this.#cache.get(wanted, this.#serving);
        if (bytes === undefined) return;
        const state = this.#entry?.state;
        // Back to stable after an aborted rollout: an explicit rollback, so an
        // artifact older than the candidate is accepted (SPEC 12). Only back to
        // what this host served before, or to the stable of the rollout it
        // started into (a host restarted during a rollout came up on its
        // candidate): whoever can write the store must not mark a rollout
        // aborted to send a running host to any older signed artifact.
        const rollback = state?.rollout?.status === "aborted" && wanted === state.stable &&
          (this.#servedBefore.has(wanted) || wanted === this.#startedBeside);
        // The first load, on a candidate: its rollout's stable is where an abort may take this host back.
        if (this.#serving === "" && state?.rollout?.status === "running" && wanted !== state.stable) {
          this.#startedBeside = state.stable;
        }
        try {
          await this.#load(bytes, wanted, { rollback });
        } catch (error) {
          // Kept from before: the artifact may have been published again since, the same
          // files signed anew (a higher sequence), which is what the store holds now.
          if (!kept) throw error;
          this.#cache.forget(wanted);
          bytes = await this.#cache.get(wanted, this.#serving);
          if (bytes === undefined) throw error;
          await this.#load(bytes, wanted, { rollback });
        }
        this.#served(wanted);
        this.#ready.resolve(wanted);
      } catch (error) {
        if (await this.#rolledOutAnew(wanted, rolloutAtStart)) continue;
        this.#refuse(wanted, error);
      } finally {
        this.#loading = false;
      }
      // Tell the controller now rather than at the next tick: a gate waits on this.
      await this.#report();
    }
  }

  /** Notes the digest now serving, most recent last, the oldest forgotten past `SERVED_KEPT`. */
  #served(digest: string): void {
    this.#serving = digest;
    this.#servedBefore.delete(digest);
    this.#servedBefore.add(digest);
    for (const old of this.#servedBefore) {
      if (this.#servedBefore.size <= SERVED_KEPT) break;
      this.#servedBefore.delete(old);
    }
  }

  /**
   * Whether a new rollout to `digest` began while a load of it ran and
   * failed: perhaps of the same files published again, signed anew, that
   * the load did not see. Its refusal would be taken for a verdict on that
   * rollout; the next turn loads what the store holds now instead.
   */
  async #rolledOutAnew(digest: string, rolloutAtStart: string | undefined): Promise<boolean> {
    let entry: ChannelEntry | undefined;
    try {
      entry = await this.#store.getChannel(this.channel);
    } catch {
      return false;
    }
    const rollout = entry?.state.rollout;
    if (
      rollout === undefined || rollout.id === rolloutAtStart ||
      desiredDigest(entry?.state, this.host) !== digest
    ) {
      return false;
    }
    this.#entry = entry;
    this.#cache.forget(digest);
    return true;
  }

  #refuse(digest: string, error: unknown): void {
    const code = error instanceof HotswapError ? error.code : "E_IMPORT";
    const message = error instanceof Error ? error.message : describeThrown(error);
    this.#refused.set(digest, { digest, code, message });
    // Fetched again when wanted again: the same files may have been published again, signed anew.
    this.#cache.forget(digest);
    this.#onError(error);
    if (this.#serving === "") this.#ready.reject(error);
  }

  async #report(): Promise<void> {
    const wanted = this.desired;
    const refused = wanted === undefined ? undefined : this.#refused.get(wanted);
    let metrics = NO_METRICS;
    try {
      metrics = this.#metrics();
    } catch (error) {
      this.#onError(error);
    }
    const report = hostReport({
      host: this.host,
      serving: this.#serving,
      wanted,
      refused,
      loading: this.#loading,
      metrics,
      interval: this.#interval,
    }, Date.now());
    try {
      await this.#store.putReport(this.channel, report);
    } catch (error) {
      // Unreachable: keep serving; the next tick reports again.
      this.#onError(error);
    }
  }
}
