/**
 * The rollout controller: publish an artifact to a channel, move the channel
 * from its stable generation to a candidate in steps, gate each step on the
 * hosts' reports, promote or abort (SPEC section 13).
 *
 * All of a rollout's state is in the store, under the channel, and every
 * transition is a compare-and-set on the channel's revision. So a
 * controller that is killed resumes where it was when run again, two
 * controllers of one channel cannot both take a step, and `promote`/`abort`
 * from another terminal take effect on the running controller at its next
 * poll. Learnt from Argo Rollouts and Flagger (steps, bake, analysis,
 * abort sends the weight to 0) and Kubernetes (a progress deadline).
 *
 * @module
 */

import { HotswapError } from "../errors.ts";
import {
  type ArtifactInfo,
  type ChannelEntry,
  type ChannelState,
  checkDigest,
  checkName,
  type RolloutState,
  type Store,
} from "../store/store.ts";
import { inCanary } from "./canary.ts";
import { type GateDecision, isLive, judge } from "./gate.ts";

/** Options of {@linkcode runRollout}. */
export interface RolloutOptions {
  /**
   * Percentages of hosts on the candidate, step by step; the last must be 100.
   *
   * @default {[10, 50, 100]}
   */
  steps?: readonly number[];
  /**
   * Milliseconds each step runs before the gate judges it.
   *
   * @default {30000}
   */
  bakeMs?: number;
  /**
   * The canary's highest acceptable error rate.
   *
   * @default {0.01}
   */
  maxErrorRate?: number;
  /** The canary's highest acceptable p99 in ms; not gated on latency when left out. */
  maxP99Ms?: number;
  /**
   * Milliseconds a step's canary hosts have to load the candidate.
   *
   * @default {60000}
   */
  progressDeadlineMs?: number;
  /**
   * Milliseconds between two looks at the reports.
   *
   * @default {100}
   */
  pollMs?: number;
  /** Stops the controller (the rollout stays as it is in the store, to resume). */
  signal?: AbortSignal;
  /** Told of each transition and each change of the gate's verdict. */
  onProgress?: (event: RolloutEvent) => void;
}

/** What {@linkcode RolloutOptions.onProgress} hears. */
export type RolloutEvent =
  | { readonly type: "start" | "resume"; readonly rollout: RolloutState }
  | { readonly type: "step"; readonly rollout: RolloutState }
  | { readonly type: "gate"; readonly rollout: RolloutState; readonly decision: GateDecision };

/** How a rollout ended. */
export interface RolloutOutcome {
  /** `promoted`: the candidate is stable; `aborted`: every host is back on stable. */
  readonly status: "promoted" | "aborted";
  /** The rollout as stored at the end. */
  readonly rollout: RolloutState;
}

const DEFAULT_STEPS: readonly number[] = [10, 50, 100];
const DEFAULT_BAKE_MS = 30_000;
const DEFAULT_MAX_ERROR_RATE = 0.01;
const DEFAULT_PROGRESS_DEADLINE_MS = 60_000;
const DEFAULT_POLL_MS = 100;
/** Compare-and-set retries before giving up on a channel that changes under every write. */
const MAX_CAS_ATTEMPTS = 50;

/** What {@linkcode publish} did. */
export interface PublishResult {
  /** The artifact as the store lists it. */
  readonly artifact: ArtifactInfo;
  /** Whether it became the channel's stable generation (the channel had none). */
  readonly madeStable: boolean;
}

/**
 * Stores an artifact by digest and, on a channel with no stable generation,
 * makes it stable.
 *
 * @param store The fleet's store.
 * @param channel The channel.
 * @param bytes The artifact.
 * @param meta Its digest and label, from its manifest.
 * @returns The stored artifact and whether it became stable.
 */
export async function publish(
  store: Store,
  channel: string,
  bytes: Uint8Array,
  meta: { digest: string; label?: string | undefined },
): Promise<PublishResult> {
  checkName("channel", channel);
  const artifact = await store.putArtifact(bytes, meta);
  const entry = await update(
    store,
    channel,
    (state) => state.stable === undefined ? { ...state, stable: meta.digest } : undefined,
  );
  return { artifact, madeStable: entry !== undefined };
}

/**
 * Finds an artifact by digest or label (the latest published with that label).
 *
 * @throws {HotswapError} `E_NOT_FOUND` when none matches.
 */
export async function resolveArtifact(store: Store, target: string): Promise<ArtifactInfo> {
  const artifacts = await store.listArtifacts();
  const byDigest = artifacts.find((artifact) => artifact.digest === target);
  if (byDigest !== undefined) return byDigest;
  const byLabel = artifacts.filter((artifact) => artifact.label === target).at(-1);
  if (byLabel !== undefined) return byLabel;
  throw new HotswapError(
    "E_NOT_FOUND",
    `Cannot find artifact "${target}" in store "${store.url}": no digest or label matches; publish it first, or list them with "hotswap status"`,
  );
}

/**
 * Starts a rollout of `channel` to `to`, or resumes the one running to it,
 * and drives it until the candidate is stable or the rollout aborts.
 *
 * @param store The fleet's store.
 * @param channel The channel.
 * @param to The candidate's digest (already published).
 * @param options Steps, bake time, limits.
 * @returns How it ended.
 * @throws {HotswapError} `E_NOT_FOUND` for a channel without a stable
 *   generation or an unknown artifact; `E_STORE` when the store fails.
 * @throws {RangeError} Steps or limits out of range, or a rollout to
 *   another candidate already running.
 */
export async function runRollout(
  store: Store,
  channel: string,
  to: string,
  options: RolloutOptions = {},
): Promise<RolloutOutcome> {
  const { signal, onProgress } = options;
  const pollMs = options.pollMs ?? DEFAULT_POLL_MS;
  let entry = await beginRollout(store, channel, to, options);
  let rollout = entry.state.rollout!;
  let lastReason: string | undefined;
  // Each turn either ends the rollout, takes a step, or waits pollMs: the
  // progress deadline bounds how long a step can wait.
  while (true) {
    signal?.throwIfAborted();
    if (rollout.status !== "running") return { status: rollout.status, rollout };
    const reports = await store.listReports(channel);
    const decision = judge(rollout, reports, Date.now());
    const reason = decision.verdict === "pass" ? "pass" : decision.reason;
    if (reason !== lastReason) onProgress?.({ type: "gate", rollout, decision });
    lastReason = reason;
    if (decision.verdict !== "wait") {
      const next = await transition(store, channel, entry, decision);
      if (next !== undefined) {
        entry = next;
        rollout = next.state.rollout!;
        if (rollout.status === "running") onProgress?.({ type: "step", rollout });
        continue;
      }
    } else {
      await sleep(pollMs, signal);
    }
    // Re-read: a transition lost to another writer, or an operator's promote/abort.
    const fresh = await store.getChannel(channel);
    const current = fresh?.state.rollout;
    if (fresh === undefined || current === undefined || current.id !== rollout.id) {
      throw new HotswapError(
        "E_NOT_FOUND",
        `Cannot follow the rollout of "${channel}" to ${to}: it was replaced in the store by another`,
      );
    }
    entry = fresh;
    rollout = current;
  }
}

/**
 * Creates the rollout of `channel` to `to` in the store, or finds the one
 * already running to it (a controller run again resumes).
 *
 * @returns The channel's entry holding the running rollout.
 */
export async function beginRollout(
  store: Store,
  channel: string,
  to: string,
  options: RolloutOptions = {},
): Promise<ChannelEntry> {
  checkName("channel", channel);
  checkDigest(to);
  const settings = resolveSettings(options);
  // The index, not the bytes: an artifact is published whole (bytes, then index entry).
  if (!(await store.listArtifacts()).some((artifact) => artifact.digest === to)) {
    throw new HotswapError(
      "E_NOT_FOUND",
      `Cannot roll out ${to} on "${channel}": the store has no such artifact; publish it first`,
    );
  }
  for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
    const entry = await store.getChannel(channel);
    const state = entry?.state ?? {};
    if (state.stable === undefined || entry === undefined) {
      throw new HotswapError(
        "E_NOT_FOUND",
        `Cannot roll out on "${channel}": it has no stable generation yet; publish an artifact to it first`,
      );
    }
    const running = state.rollout?.status === "running" ? state.rollout : undefined;
    if (running !== undefined) {
      if (running.to !== to) {
        throw new RangeError(
          `Cannot roll out ${to} on "${channel}": a rollout to ${running.to} is running (rollout ${running.id}); promote or abort it first`,
        );
      }
      options.onProgress?.({ type: "resume", rollout: running });
      return entry;
    }
    if (state.stable === to) {
      // Already stable: a finished rollout, seen again.
      const done: RolloutState = state.rollout?.to === to ? state.rollout : {
        ...newRollout(state.stable, to, settings, "already-stable"),
        status: "promoted",
        endedAt: Date.now(),
      };
      return { state: { ...state, rollout: done }, revision: entry.revision };
    }
    const hosts = (await store.listReports(channel)).filter((r) => isLive(r, Date.now())).map((r) => r.host);
    const rollout = newRollout(state.stable, to, settings, pickId(hosts, settings.steps[0]!));
    const next: ChannelState = { ...state, rollout };
    const revision = await store.setChannel(channel, next, entry.revision);
    if (revision !== undefined) {
      options.onProgress?.({ type: "start", rollout });
      return { state: next, revision };
    }
  }
  throw contention(store, channel);
}

/**
 * Makes the running rollout's candidate stable at once, skipping the steps left.
 *
 * @returns The rollout as promoted.
 * @throws {HotswapError} `E_NOT_FOUND` when no rollout is running.
 */
export async function promote(
  store: Store,
  channel: string,
  reason = "promoted by an operator",
): Promise<RolloutState> {
  const entry = await update(store, channel, (state) => {
    const rollout = running(state, channel, "promote");
    return { stable: rollout.to, rollout: { ...rollout, status: "promoted", endedAt: Date.now(), reason } };
  });
  return entry!.state.rollout!;
}

/**
 * Aborts the running rollout: every host goes back to the stable generation.
 *
 * @returns The rollout as aborted.
 * @throws {HotswapError} `E_NOT_FOUND` when no rollout is running.
 */
export async function abort(
  store: Store,
  channel: string,
  reason = "aborted by an operator",
): Promise<RolloutState> {
  const entry = await update(store, channel, (state) => {
    const rollout = running(state, channel, "abort");
    return { ...state, rollout: { ...rollout, status: "aborted", percent: 0, endedAt: Date.now(), reason } };
  });
  return entry!.state.rollout!;
}

interface Settings {
  readonly steps: readonly number[];
  readonly bakeMs: number;
  readonly maxErrorRate: number;
  readonly maxP99Ms: number | undefined;
  readonly progressDeadlineMs: number;
}

function resolveSettings(options: RolloutOptions): Settings {
  const steps = options.steps ?? DEFAULT_STEPS;
  if (
    !Array.isArray(steps) || steps.length === 0 || steps.length > 100 ||
    !steps.every((step, i) =>
      Number.isFinite(step) && step > 0 && step <= 100 && (i === 0 || step > steps[i - 1]!)
    ) ||
    steps.at(-1) !== 100
  ) {
    throw new RangeError(
      `Cannot roll out: steps must rise from above 0 to exactly 100, as in 10,50,100; got ${String(steps)}`,
    );
  }
  const bakeMs = options.bakeMs ?? DEFAULT_BAKE_MS;
  const maxErrorRate = options.maxErrorRate ?? DEFAULT_MAX_ERROR_RATE;
  const progressDeadlineMs = options.progressDeadlineMs ?? DEFAULT_PROGRESS_DEADLINE_MS;
  if (!(bakeMs >= 0 && Number.isFinite(bakeMs))) {
    throw new RangeError(`Cannot roll out: bake must be at least 0 ms, got ${bakeMs}`);
  }
  if (!(maxErrorRate >= 0 && maxErrorRate <= 1)) {
    throw new RangeError(`Cannot roll out: the maximum error rate must be within 0-1, got ${maxErrorRate}`);
  }
  if (options.maxP99Ms !== undefined && !(options.maxP99Ms > 0 && Number.isFinite(options.maxP99Ms))) {
    throw new RangeError(`Cannot roll out: the maximum p99 must be above 0 ms, got ${options.maxP99Ms}`);
  }
  if (!(progressDeadlineMs > 0 && Number.isFinite(progressDeadlineMs))) {
    throw new RangeError(
      `Cannot roll out: the progress deadline must be above 0 ms, got ${progressDeadlineMs}`,
    );
  }
  return { steps, bakeMs, maxErrorRate, maxP99Ms: options.maxP99Ms, progressDeadlineMs };
}

function newRollout(from: string, to: string, settings: Settings, id: string): RolloutState {
  const now = Date.now();
  return {
    id,
    to,
    from,
    steps: settings.steps,
    step: 0,
    percent: settings.steps[0]!,
    status: "running",
    bakeMs: settings.bakeMs,
    maxErrorRate: settings.maxErrorRate,
    ...(settings.maxP99Ms === undefined ? {} : { maxP99Ms: settings.maxP99Ms }),
    progressDeadlineMs: settings.progressDeadlineMs,
    startedAt: now,
    stepStartedAt: now,
  };
}

/**
 * Draws a rollout id whose first step puts at least one of the live hosts in
 * the canary, and not all of them when the step is under 100 %: with a
 * handful of hosts a pure draw could test the candidate on none (6 hosts at
 * 34 %: 8 % of draws). Membership stays a pure function of the ids; only the
 * draw is steered. At most 64 draws.
 */
function pickId(hosts: readonly string[], firstStep: number): string {
  let id = crypto.randomUUID();
  if (hosts.length === 0) return id;
  for (let draw = 0; draw < 64; draw++) {
    const inside = hosts.filter((host) => inCanary(host, id, firstStep)).length;
    if (inside > 0 && (inside < hosts.length || firstStep >= 100 || hosts.length === 1)) return id;
    id = crypto.randomUUID();
  }
  return id;
}

/** Applies the gate's pass or abort to the stored rollout; `undefined` when another writer came first. */
async function transition(
  store: Store,
  channel: string,
  entry: ChannelEntry,
  decision: GateDecision,
): Promise<ChannelEntry | undefined> {
  const rollout = entry.state.rollout!;
  const now = Date.now();
  let state: ChannelState;
  if (decision.verdict === "abort") {
    state = {
      ...entry.state,
      rollout: { ...rollout, status: "aborted", percent: 0, endedAt: now, reason: decision.reason },
    };
  } else if (rollout.step + 1 >= rollout.steps.length) {
    state = {
      stable: rollout.to,
      rollout: { ...rollout, status: "promoted", endedAt: now, reason: "every step passed" },
    };
  } else {
    const step = rollout.step + 1;
    state = {
      ...entry.state,
      rollout: { ...rollout, step, percent: rollout.steps[step]!, stepStartedAt: now },
    };
  }
  const revision = await store.setChannel(channel, state, entry.revision);
  return revision === undefined ? undefined : { state, revision };
}

/**
 * Read-modify-write of a channel with compare-and-set, retried when another
 * writer came first; `change` returning `undefined` writes nothing.
 */
async function update(
  store: Store,
  channel: string,
  change: (state: ChannelState) => ChannelState | undefined,
): Promise<ChannelEntry | undefined> {
  checkName("channel", channel);
  for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
    const entry = await store.getChannel(channel);
    const next = change(entry?.state ?? {});
    if (next === undefined) return undefined;
    const revision = await store.setChannel(channel, next, entry?.revision ?? 0);
    if (revision !== undefined) return { state: next, revision };
  }
  throw contention(store, channel);
}

function running(state: ChannelState, channel: string, action: string): RolloutState {
  const rollout = state.rollout;
  if (rollout === undefined || rollout.status !== "running") {
    throw new HotswapError(
      "E_NOT_FOUND",
      `Cannot ${action} on "${channel}": no rollout is running${
        rollout === undefined ? "" : ` (the last one, to ${rollout.to}, was ${rollout.status})`
      }`,
    );
  }
  return rollout;
}

function contention(store: Store, channel: string): HotswapError {
  return new HotswapError(
    "E_STORE",
    `Cannot write channel "${channel}" in store "${store.url}": another writer changed it ${MAX_CAS_ATTEMPTS} times in a row; try again`,
  );
}

/** Resolves after `ms`, or rejects with the signal's reason when it aborts. */
function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  if (signal?.aborted) return Promise.reject(signal.reason);
  const { promise, resolve, reject } = Promise.withResolvers<void>();
  const onAbort = () => {
    clearTimeout(timer);
    reject(signal!.reason);
  };
  const timer = setTimeout(() => {
    signal?.removeEventListener("abort", onAbort);
    resolve();
  }, ms);
  signal?.addEventListener("abort", onAbort, { once: true });
  return promise;
}
