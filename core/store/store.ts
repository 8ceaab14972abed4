/**
 * The fleet store (SPEC section 13): where artifacts, each channel's desired
 * state, the hosts' reports and the rollout state live, behind one interface
 * with two adapters, `sqlite:<file>` (embedded, for the processes of one
 * machine) and `nats://host:port` (NATS JetStream). {@linkcode openStore}
 * picks the adapter by URL and imports it only then, so a program on SQLite
 * never downloads the NATS client.
 *
 * Records are validated when read: another process wrote them.
 *
 * @module
 */

/** An artifact as the store lists it. */
export interface ArtifactInfo {
  /** The generation digest the artifact's manifest signs, `sha256-<base64>`. */
  readonly digest: string;
  /** The manifest's label, if any (`rollout --to <label>` finds it by this). */
  readonly label?: string;
  /** Size of the artifact in bytes. */
  readonly size: number;
  /** When it was first published (epoch ms). */
  readonly publishedAt: number;
}

/** Where a rollout is: running a step, or ended one way or the other. */
export type RolloutStatus = "running" | "promoted" | "aborted";

/** A rollout of a channel from its stable generation to a candidate, step by step. */
export interface RolloutState {
  /** Random id; with the host id it decides canary membership (see `core/fleet/canary.ts`). */
  readonly id: string;
  /** The candidate's digest. */
  readonly to: string;
  /** The stable digest when the rollout started. */
  readonly from: string;
  /** Percentages of hosts on the candidate, step by step, the last 100. */
  readonly steps: readonly number[];
  /** Index in `steps` of the step running now (or last run). */
  readonly step: number;
  /** Percentage of hosts that should run the candidate now: `steps[step]`, 0 once aborted. */
  readonly percent: number;
  /** Running, promoted (the candidate is stable) or aborted (every host back on stable). */
  readonly status: RolloutStatus;
  /** Milliseconds each step runs before the gate judges it. */
  readonly bakeMs: number;
  /** The canary's highest acceptable error rate (errors / calls). */
  readonly maxErrorRate: number;
  /** The canary's highest acceptable p99 latency in ms, if gated on latency. */
  readonly maxP99Ms?: number;
  /** Milliseconds the canary hosts of a step have to load the candidate before the rollout aborts. */
  readonly progressDeadlineMs: number;
  /** When the rollout started (epoch ms). */
  readonly startedAt: number;
  /** When the current step started (epoch ms). */
  readonly stepStartedAt: number;
  /** When it was promoted or aborted (epoch ms). */
  readonly endedAt?: number;
  /** Why it was aborted, or who promoted it. */
  readonly reason?: string;
}

/** The desired state of a channel. */
export interface ChannelState {
  /** The digest every host outside a canary runs; absent until the first publish. */
  readonly stable?: string;
  /** The rollout in progress, or the last one. */
  readonly rollout?: RolloutState;
}

/** A channel's state with the revision a compare-and-set must name. */
export interface ChannelEntry {
  /** The state. */
  readonly state: ChannelState;
  /** Increases with every write; opaque otherwise. */
  readonly revision: number;
}

/** What a host is doing about its channel. */
export type HostState = "starting" | "loading" | "serving" | "refused";

/** Why a host refused an artifact. */
export interface Refusal {
  /** The refused artifact. */
  readonly digest: string;
  /** The error's code, such as `E_SIGNATURE`. */
  readonly code: string;
  /** The error's message. */
  readonly message: string;
}

/** What a host reports every `reportInterval`. */
export interface HostReport {
  /** The host's id. */
  readonly host: string;
  /** The host's generation number now serving (0 before the first load). */
  readonly generation: number;
  /** The digest it serves ("" before the first load). */
  readonly digest: string;
  /** The digest the channel wants it to run, as it last read the channel. */
  readonly desired: string;
  /** Serving what the channel wants, loading it, or refusing it. */
  readonly state: HostState;
  /** Calls on the serving generation since it started serving. */
  readonly calls: number;
  /** Of those, calls that threw or rejected. */
  readonly errors: number;
  /** Median latency of recent calls, in ms. */
  readonly p50: number;
  /** 99th percentile latency of recent calls, in ms. */
  readonly p99: number;
  /** When the report was made (epoch ms). */
  readonly at: number;
  /** Milliseconds until the next report, so readers can tell a host that is gone. */
  readonly interval: number;
  /** The latest artifact this host refused while the channel wanted it. */
  readonly refused?: Refusal;
}

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
   * Stores an artifact under its digest. Idempotent: the same digest twice
   * keeps the first (artifacts are immutable).
   *
   * @param bytes The artifact (`.hsgen`).
   * @param meta Its digest and label, read from its manifest by the caller.
   * @returns What the store lists for it.
   */
  putArtifact(bytes: Uint8Array, meta: { digest: string; label?: string | undefined }): Promise<ArtifactInfo>;
  /** The artifact's bytes, or `undefined` when no artifact has that digest. */
  getArtifact(digest: string): Promise<Uint8Array | undefined>;
  /** Every artifact, oldest first. */
  listArtifacts(): Promise<ArtifactInfo[]>;
  /** A channel's state and revision, or `undefined` for a channel never written. */
  getChannel(channel: string): Promise<ChannelEntry | undefined>;
  /**
   * Writes a channel's state if its revision is still `revision` (0: if the
   * channel does not exist yet).
   *
   * @returns The new revision, or `undefined` when another writer came first.
   */
  setChannel(channel: string, state: ChannelState, revision: number): Promise<number | undefined>;
  /** Writes a host's report, replacing its previous one. */
  putReport(channel: string, report: HostReport): Promise<void>;
  /** Removes a host's report (a host leaving the fleet). */
  deleteReport(channel: string, host: string): Promise<void>;
  /** The latest report of every host of the channel. */
  listReports(channel: string): Promise<HostReport[]>;
  /**
   * Follows a channel, level-triggered: yields its current state first, then
   * again whenever its revision differs from the last one yielded. Changes in
   * between may be skipped (only the latest matters), and after a lost
   * connection the current state is read again, so a watcher never depends on
   * having seen every notification. While the store is unreachable nothing is
   * yielded. Ends when `signal` aborts or the store is closed.
   */
  watch(channel: string, options?: WatchChannelOptions): AsyncIterableIterator<ChannelEntry | undefined>;
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
    // imports this file download the NATS client, SQLite users included.
    const adapter = new URL("./nats.ts", import.meta.url).href;
    const { NatsStore }: typeof import("./nats.ts") = await import(adapter);
    return await NatsStore.open(url, options.connectTimeout ?? 5_000);
  }
  throw new TypeError(
    `Cannot open store "${url}": the URL must be "sqlite:<file>" or "nats://host:port"`,
  );
}

const NAME = /^[A-Za-z0-9_-]+(?:[./:][A-Za-z0-9_-]+)*$/;
const DIGEST = /^sha256-[A-Za-z0-9+/]{43}=$/;

/**
 * Checks a channel or host name: letters, digits, `_` and `-`, in tokens
 * joined by `.`, `/` or `:`, at most 200 characters.
 *
 * @throws {TypeError} Any other name.
 */
export function checkName(kind: "channel" | "host", name: unknown): string {
  if (typeof name !== "string" || name.length > 200 || !NAME.test(name)) {
    throw new TypeError(
      `Invalid ${kind} name ${
        JSON.stringify(name)
      }: use letters, digits, "_" and "-", in parts joined by ".", "/" or ":" (at most 200 characters)`,
    );
  }
  return name;
}

/**
 * Checks a digest: `sha256-<base64>` as artifacts and snapshots name it.
 *
 * @throws {TypeError} Anything else.
 */
export function checkDigest(digest: unknown): string {
  if (typeof digest !== "string" || !DIGEST.test(digest)) {
    throw new TypeError(`Invalid digest ${JSON.stringify(digest)}: expected "sha256-<base64>"`);
  }
  return digest;
}
