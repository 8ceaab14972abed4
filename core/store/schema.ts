/**
 * What the fleet store holds (SPEC section 13): artifacts, each channel's
 * desired state with its rollout, and the hosts' reports; and the checks of
 * the names and digests that key them. Import it from
 * `@hotswap/runtime/store`.
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

const NAME = /^[A-Za-z0-9_-]+(?:[./:][A-Za-z0-9_-]+)*$/;
const DIGEST = /^sha256-[A-Za-z0-9+/]{43}=$/;

/**
 * Checks a channel or host name: letters, digits, `_` and `-`, in tokens
 * joined by `.`, `/` or `:`, at most 200 characters.
 *
 * @param kind Which name it is, for the message.
 * @param name The name to check.
 * @returns The name.
 * @throws {TypeError} Any other name.
 *
 * @example Channel names may have parts
 * ```ts
 * import { checkName } from "@hotswap/runtime/store";
 * import { strictEqual, throws } from "node:assert/strict";
 *
 * strictEqual(checkName("channel", "app/prod"), "app/prod");
 * throws(() => checkName("host", "web 1"), TypeError);
 * ```
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
 * @param digest The digest to check.
 * @returns The digest.
 * @throws {TypeError} Anything else.
 *
 * @example Only SHA-256 digests in base64
 * ```ts
 * import { checkDigest } from "@hotswap/runtime/store";
 * import { strictEqual, throws } from "node:assert/strict";
 *
 * const digest = "sha256-" + "A".repeat(43) + "=";
 * strictEqual(checkDigest(digest), digest);
 * throws(() => checkDigest("md5-abc"), TypeError);
 * ```
 */
export function checkDigest(digest: unknown): string {
  if (typeof digest !== "string" || !DIGEST.test(digest)) {
    throw new TypeError(`Invalid digest ${JSON.stringify(digest)}: expected "sha256-<base64>"`);
  }
  return digest;
}
