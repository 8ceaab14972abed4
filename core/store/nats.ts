/**
 * The NATS JetStream store, `nats://host:port`: artifacts in an Object
 * Store, the artifact index, channel states and host reports in KV buckets.
 * A KV watcher on the channels bucket wakes this process's watches; after a
 * reconnection every watch re-reads its channel (a change made while this
 * client was away sent it nothing), and every watch re-reads every 5 s
 * whatever happens.
 *
 * Keys: KV keys allow a narrow alphabet, so a channel, host or digest is
 * written as one base64url token; a host's report lives under
 * `<channel>.<host>`, so one channel's reports are listed by prefix.
 *
 * Everything only NATS needs stays in this one file: `openStore` imports it
 * by a path Deno cannot see ahead, so a host needs read permission for each
 * file it alone imports, and FLEET.md grants this one. What it shares with
 * the SQLite adapter (`_records.ts`, `_watches.ts`) loads with the program.
 *
 * @module
 */

import { connect, type NatsConnection } from "npm:@nats-io/transport-node@3.4.0";
import { jetstream, type JetStreamManager } from "npm:@nats-io/jetstream@3.4.0";
import { type KV, Kvm } from "npm:@nats-io/kv@3.4.0";
import { type ObjectStore, Objm } from "npm:@nats-io/obj@3.4.0";
import { within } from "../deadline.ts";
import { HotswapError } from "../errors.ts";
import { type ArtifactInfo, type ChannelEntry, type ChannelState, checkDigest, checkName } from "./schema.ts";
import type { HostReport, Store, WatchChannelOptions } from "./store.ts";
import {
  closedError,
  parseArtifactInfo,
  parseChannelState,
  parseReport,
  storeError,
  unreadableChannelError,
} from "./_records.ts";
import { ChannelWatches, sleep } from "./_watches.ts";

const CHANNELS = "hotswap_channels";
const REPORTS = "hotswap_reports";
const INDEX = "hotswap_artifact_index";
const ARTIFACTS = "hotswap_artifacts";
const RECHECK_MS = 5_000;
/** Milliseconds one KV request may take (JetStream answers in well under one here). */
const REQUEST_TIMEOUT = 2_000;
/**
 * Milliseconds an artifact's transfer may take. The Object Store moves chunks
 * through a consumer that has no deadline of its own; a transfer stalled by a
 * server restart is given up, and the follower tries again at its next tick.
 */
const ARTIFACT_TIMEOUT = 10_000;
/** Between two tries to re-create a KV watcher that ended. */
const REWATCH_MS = 1_000;

const encoder = new TextEncoder();

/** A store in NATS JetStream; open it with `openStore("nats://host:port")`. */
export class NatsStore implements Store {
  /** The URL it was opened with. */
  readonly url: string;
  readonly #nc: NatsConnection;
  /** Lists a bucket's keys (see {@linkcode NatsStore.#keys}). */
  readonly #jsm: JetStreamManager;
  readonly #channels: KV;
  readonly #reports: KV;
  readonly #index: KV;
  readonly #artifacts: ObjectStore;
  readonly #closed = new AbortController();
  readonly #watches: ChannelWatches;
  /** The status loop and the channel watcher loops, awaited at dispose. */
  readonly #background = new Set<Promise<void>>();
  #watcherStop: (() => void) | undefined;

  private constructor(
    url: string,
    nc: NatsConnection,
    jsm: JetStreamManager,
    buckets: { channels: KV; reports: KV; index: KV; artifacts: ObjectStore },
  ) {
    this.url = url;
    this.#nc = nc;
    this.#jsm = jsm;
    this.#channels = buckets.channels;
    this.#reports = buckets.reports;
    this.#index = buckets.index;
    this.#artifacts = buckets.artifacts;
    const source = {
      start: () => this.#startWatcher(),
      stop: () => Promise.resolve(this.#watcherStop?.()),
    };
    this.#watches = new ChannelWatches(url, source, RECHECK_MS, this.#closed.signal);
    // A reconnection may have hidden changes: every watch re-reads.
    const pulse = this.#watches.pulse;
    this.#track(
      (async () => {
        for await (const status of nc.status()) {
          if (status.type === "reconnect") pulse.notify();
        }
      })().catch(() => {}),
    );
  }

  /**
   * Connects to the server at `url` and opens (creating when missing) the
   * buckets. The client reconnects on its own for as long as the store is open.
   *
   * @throws {HotswapError} `E_STORE` when the server cannot be reached within `connectTimeout` ms.
   */
  static async open(url: string, connectTimeout: number): Promise<NatsStore> {
    const { host } = new URL(url);
    if (host === "") {
      throw new TypeError(`Cannot open store "${url}": name a server, as in "nats://127.0.0.1:4222"`);
    }
    let nc: NatsConnection | undefined;
    try {
      nc = await connect({
        servers: host,
        name: "hotswap",
        timeout: connectTimeout,
        maxReconnectAttempts: -1,
        reconnectTimeWait: 250,
      });
      // Requests fail after REQUEST_TIMEOUT rather than JetStream's 5 s, so a
      // host whose server is gone learns it (and keeps serving) sooner.
      const js = jetstream(nc, { timeout: REQUEST_TIMEOUT });
      const kvm = new Kvm(js);
      const objm = new Objm(js);
      const [channels, reports, index, artifacts] = await Promise.all([
        createOrJoin(() => kvm.create(CHANNELS, { history: 5 })),
        createOrJoin(() => kvm.create(REPORTS, { history: 1 })),
        createOrJoin(() => kvm.create(INDEX, { history: 1 })),
        createOrJoin(() => objm.create(ARTIFACTS)),
      ]);
      return new NatsStore(url, nc, await js.jetstreamManager(false), {
        channels,
        reports,
        index,
        artifacts,
      });
    } catch (error) {
      await nc?.close().catch(() => {});
      // What to do depends on how far it got: no server at all, or one without JetStream.
      const { hostname, port } = new URL(url);
      throw storeError(
        url,
        "connect",
        error,
        nc === undefined
          ? `start nats-server with JetStream there (nats-server -js -a ${hostname} -p ${
            port || 4222
          }), or fix the URL`
          : "run nats-server with JetStream enabled (-js), with room for its streams",
      );
    }
  }

  async putArtifact(
    bytes: Uint8Array,
    meta: { digest: string; label?: string | undefined },
  ): Promise<ArtifactInfo> {
    checkDigest(meta.digest);
    const key = token(meta.digest);
    return await this.#use("publish an artifact", async () => {
      // Bytes first, index second: a reader that finds the index entry finds the bytes. The same
      // files published again (signed anew, another label or sequence) replace the artifact.
      await bounded(this.#artifacts.putBlob({ name: meta.digest }, bytes), "storing the bytes");
      const info: ArtifactInfo = {
        digest: meta.digest,
        ...(meta.label === undefined ? {} : { label: meta.label }),
        size: bytes.byteLength,
        publishedAt: Date.now(),
      };
      await this.#index.put(key, JSON.stringify(info));
      return info;
    });
  }

  async getArtifact(digest: string): Promise<Uint8Array | undefined> {
    checkDigest(digest);
    return await this.#use("read an artifact", async () => {
      const bytes = await bounded(this.#artifacts.getBlob(digest), "fetching the bytes");
      return bytes === null ? undefined : new Uint8Array(bytes);
    });
  }

  async listArtifacts(): Promise<ArtifactInfo[]> {
    return await this.#use("list artifacts", async () => {
      const infos: ArtifactInfo[] = [];
      for (const key of await this.#keys(INDEX, ">")) {
        const entry = await this.#index.get(key);
        if (entry === null || entry.operation !== "PUT") continue;
        try {
          infos.push(parseArtifactInfo(entry.json()));
        } catch {
          continue;
        }
      }
      return infos.sort((a, b) => a.publishedAt - b.publishedAt || (a.digest < b.digest ? -1 : 1));
    });
  }

  async getChannel(channel: string): Promise<ChannelEntry | undefined> {
    checkName("channel", channel);
    const entry = await this.#use("read the channel", () => this.#channels.get(token(channel)));
    if (entry === null || entry.operation !== "PUT") return undefined;
    try {
      return { revision: entry.revision, state: parseChannelState(entry.json()) };
    } catch (error) {
      throw unreadableChannelError(this.url, channel, entry.revision, error);
    }
  }

  async setChannel(channel: string, state: ChannelState, revision: number): Promise<number | undefined> {
    checkName("channel", channel);
    const key = token(channel);
    const value = encoder.encode(JSON.stringify(state));
    return await this.#use("write the channel", async () => {
      try {
        // JetStream checks the key's last sequence on the server: of two
        // writers naming the same revision, the second is refused.
        return revision === 0
          ? await this.#channels.create(key, value)
          : await this.#channels.update(key, value, revision);
      } catch (error) {
        if (isConflict(error)) return undefined;
        throw error;
      }
    });
  }

  async putReport(channel: string, report: HostReport): Promise<void> {
    checkName("channel", channel);
    checkName("host", report.host);
    await this.#use(
      "write a report",
      () => this.#reports.put(reportKey(channel, report.host), JSON.stringify(report)),
    );
  }

  async deleteReport(channel: string, host: string): Promise<void> {
    checkName("channel", channel);
    checkName("host", host);
    await this.#use("remove a report", () => this.#reports.delete(reportKey(channel, host)));
  }

  async listReports(channel: string): Promise<HostReport[]> {
    checkName("channel", channel);
    return await this.#use("list reports", async () => {
      const keys = await this.#keys(REPORTS, `${token(channel)}.*`);
      const entries = await Promise.all(keys.map((key) => this.#reports.get(key)));
      const reports: HostReport[] = [];
      for (const entry of entries) {
        if (entry === null || entry.operation !== "PUT") continue;
        // One host's malformed report must not hide the others'; one filed under
        // another host's key (a hand edit) must not count twice.
        try {
          const report = parseReport(entry.json());
          if (entry.key === reportKey(channel, report.host)) reports.push(report);
        } catch {
          continue;
        }
      }
      return reports.sort((a, b) => (a.host < b.host ? -1 : a.host > b.host ? 1 : 0));
    });
  }

  watch(channel: string, options: WatchChannelOptions = {}): AsyncIterableIterator<ChannelEntry | undefined> {
    checkName("channel", channel);
    return this.#watches.watch(() => this.getChannel(channel), options);
  }

  /**
   * Follows the channels bucket while any watch runs. A watcher the server
   * ended (its consumer lost) is created again, every second at most.
   *
   * @returns Settles once the watcher is subscribed, or failed to be.
   */
  #startWatcher(): Promise<void> {
    const stopped = new AbortController();
    const signal = AbortSignal.any([stopped.signal, this.#closed.signal]);
    let current: { stop(): void } | undefined;
    this.#watcherStop = () => {
      stopped.abort();
      current?.stop();
    };
    const { promise: ready, resolve: subscribed } = Promise.withResolvers<void>();
    this.#track((async () => {
      while (!signal.aborted) {
        try {
          const watcher = await this.#channels.watch({ include: "updates" });
          current = watcher;
          if (signal.aborted) watcher.stop();
          subscribed();
          // Changes made while no watcher was subscribed: every watch re-reads.
          this.#watches.pulse.notify();
          for await (const _entry of watcher) this.#watches.pulse.notify();
        } catch {
          // Unreachable: the status loop notifies on reconnection.
        }
        subscribed();
        current = undefined;
        await sleep(REWATCH_MS, signal);
      }
      subscribed();
    })());
    return ready;
  }

  /** Ends every watch, closes the connection. Idempotent. */
  async [Symbol.asyncDispose](): Promise<void> {
    if (this.#closed.signal.aborted) return;
    this.#closed.abort();
    await this.#watches.close();
    await this.#nc.close().catch(() => {});
    await Promise.all(this.#background);
  }

  /** Keeps `task` until it ends, so dispose can wait for it. */
  #track(task: Promise<void>): void {
    this.#background.add(task);
    const forget = () => void this.#background.delete(task);
    task.then(forget, forget);
  }

  /**
   * The keys of `bucket` that match `filter`, read from its stream's count of
   * messages per subject: one JetStream request per page of subjects, each
   * bounded by {@linkcode REQUEST_TIMEOUT}. Not `KV.keys()`: its consumer
   * stops once a message arrives with nothing pending after it, and while
   * hosts rewrite their reports every 200 ms that may never happen
   * (`deno task bench:fleet` hung in `listReports` in 4 of 80 runs).
   * A deleted key's marker is counted too: its `get()` is not a `PUT`.
   */
  async #keys(bucket: string, filter: string): Promise<string[]> {
    const prefix = `$KV.${bucket}.`;
    const info = await this.#jsm.streams.info(`KV_${bucket}`, { subjects_filter: `${prefix}${filter}` });
    return Object.keys(info.state.subjects ?? {}).map((subject) => subject.slice(prefix.length));
  }

  async #use<R>(action: string, fn: () => Promise<R>): Promise<R> {
    if (this.#closed.signal.aborted) throw closedError(this.url, action);
    try {
      return await fn();
    } catch (error) {
      if (error instanceof HotswapError || error instanceof TypeError) throw error;
      throw storeError(this.url, action, error);
    }
  }
}

/** Waits for an Object Store transfer at most {@linkcode ARTIFACT_TIMEOUT}. */
async function bounded<T>(transfer: Promise<T>, what: string): Promise<T> {
  const outcome = await within(transfer, ARTIFACT_TIMEOUT);
  if (outcome.status === "fulfilled") return outcome.value;
  if (outcome.status === "rejected") throw outcome.reason;
  throw new Error(`${what} took longer than ${ARTIFACT_TIMEOUT / 1000} s`);
}

/** A name as one KV key token: base64url, no padding. */
function token(name: string): string {
  const bytes = encoder.encode(name);
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

function reportKey(channel: string, host: string): string {
  return `${token(channel)}.${token(host)}`;
}

/** JetStream's "wrong last sequence" (10071): a compare-and-set that lost. */
function isConflict(error: unknown): boolean {
  if (typeof error !== "object" || error === null) return false;
  const { code, message } = error as { code?: unknown; message?: unknown };
  return code === "10071" || code === 10071 ||
    (typeof message === "string" && /wrong last sequence|key exists/i.test(message));
}

/** How often opening a bucket is tried while other clients create it at the same moment. */
const CREATE_ATTEMPTS = 5;

/**
 * Creates a bucket, or joins the one another client is creating right now:
 * hosts starting together against a fresh server race to create the same
 * streams, and the server refuses all but one ("subjects overlap with an
 * existing stream"); once that one exists, creating it again with the same
 * configuration simply opens it.
 */
async function createOrJoin<T>(create: () => Promise<T>): Promise<T> {
  for (let attempt = 1;; attempt++) {
    try {
      return await create();
    } catch (error) {
      const racing = error instanceof Error && /overlap|already in use|already exists/i.test(error.message);
      if (!racing || attempt >= CREATE_ATTEMPTS) throw error;
      await new Promise((resolve) => setTimeout(resolve, 10 * attempt));
    }
  }
}
