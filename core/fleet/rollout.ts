/**
 * The rollout controller: move a channel from its stable generation to a
 * candidate in steps, gate each step on the hosts' reports, promote or abort
 * (SPEC section 13). Publishing the candidate first is `publish.ts`.
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
  type ChannelEntry,
  type ChannelState,
  checkDigest,
  checkName,
  type HostReport,
  type RolloutState,
  type Store,
} from "../store/store.ts";
import { type GateDecision, isLive, judge } from "./gate.ts";
import { updateChannel, writeChannel } from "./_channel_update.ts";
import { checkRolloutContract } from "./_contract_match.ts";
import { pollMsOf, resolveSettings, type RolloutOptions } from "./rollout_options.ts";
import {
  aborted,
  afterGate,
  existingStart,
  newRollout,
  pickId,
  promoted,
  runningRollout,
} from "./_rollout_state.ts";

// Importable from here too, as it was before publishing had a file of its own.
export { publish, type PublishResult } from "./publish.ts";

/** How a rollout ended. */
export interface RolloutOutcome {
  /** `promoted`: the candidate is stable; `aborted`: every host is back on stable. */
  readonly status: "promoted" | "aborted";
  /** The rollout as stored at the end. */
  readonly rollout: RolloutState;
}

/**
 * Starts a rollout of `channel` to `to`, or resumes the one running to it,
 * and drives it until the candidate is stable or the rollout aborts. A
 * store that fails once the rollout runs is asked again every 0.5 s (a
 * `store` event says so), for as long as it takes or until `signal` aborts.
 *
 * @param store The fleet's store.
 * @param channel The channel.
 * @param to The candidate's digest (already published).
 * @param options Steps, bake time, limits.
 * @returns How it ended.
 * @throws {HotswapError} `E_NOT_FOUND` for a channel without a stable
 *   generation or an unknown artifact; `E_STORE` when the store fails
 *   before the rollout could start or resume.
 * @throws {RangeError} Steps or limits out of range, or a rollout to
 *   another candidate already running.
 *
 * @example Roll out to a fleet with no hosts yet
 * ```ts
 * import { publish, runRollout } from "@hotswap/runtime/fleet";
 * import { openStore } from "@hotswap/runtime/store";
 * import { strictEqual } from "node:assert/strict";
 *
 * const dir = await Deno.makeTempDir();
 * {
 *   await using store = await openStore(`sqlite:${dir}/fleet.db`);
 *   const v1 = "sha256-" + "A".repeat(43) + "=", v2 = "sha256-" + "B".repeat(43) + "=";
 *   await publish(store, "app", new Uint8Array([1]), { digest: v1 });
 *   await publish(store, "app", new Uint8Array([2]), { digest: v2 });
 *   // No host reports: every step passes once baked.
 *   const outcome = await runRollout(store, "app", v2, { steps: [50, 100], bakeMs: 0 });
 *   strictEqual(outcome.status, "promoted");
 * }
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function runRollout(
  store: Store,
  channel: string,
  to: string,
  options: RolloutOptions = {},
): Promise<RolloutOutcome> {
  const { signal, onProgress } = options;
  const pollMs = pollMsOf(options);
  let entry = await beginRollout(store, channel, to, options);
  let rollout = entry.state.rollout!;
  let lastReason: string | undefined;
  /**
   * Reports from `graceSince` on, older than `graceFrom`, count as made at
   * `graceFrom`: those hosts get their reporting window again. This command
   * has not watched the hosts before it ran (killed and run again, perhaps
   * just after the store came back): from its start, each host that
   * reported during the rollout gets a window. After the store failed and
   * answered again, those reporting until shortly before the failure do:
   * they could not report meanwhile, and their silence is no sign of a
   * dead host.
   */
  let graceFrom = Date.now();
  let graceSince = rollout.startedAt;
  /**
   * When this command's write of the current step reached the store. The
   * step's start is stamped before the write, which a busy store (a locked
   * SQLite file) can hold for seconds while no host sees the step: its bake
   * is counted from the later of the two.
   */
  let stepLandedAt = 0;
  let storeDownAt = 0;
  let storeFailing = false;
  // Each turn either ends the rollout, takes a step, or waits pollMs: the
  // progress deadline bounds how long a step can wait.
  while (true) {
    signal?.throwIfAborted();
    if (rollout.status !== "running") return { status: rollout.status, rollout };
    try {
      const reports = await store.listReports(channel);
      if (storeFailing) {
        storeFailing = false;
        graceFrom = Date.now();
        graceSince = storeDownAt - REPORTED_BEFORE_MS;
        onProgress?.({ type: "store", rollout, error: undefined });
      }
      const now = Date.now();
      const seen = reports.map((report) =>
        report.at < graceFrom && report.at >= graceSince ? { ...report, at: graceFrom } : report
      );
      const judged = stepLandedAt > rollout.stepStartedAt
        ? { ...rollout, stepStartedAt: stepLandedAt }
        : rollout;
      const decision = provisional(judge(judged, seen, now), reports, seen, now);
      const reason = decision.verdict === "pass" ? "pass" : decision.reason;
      if (reason !== lastReason) onProgress?.({ type: "gate", rollout, decision });
      lastReason = reason;
      if (decision.verdict !== "wait") {
        const next = await writeChannel(
          store,
          channel,
          entry,
          afterGate(entry.state, rollout, decision, Date.now()),
        );
        if (next !== undefined) {
          stepLandedAt = Date.now();
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
    } catch (error) {
      // The store is down or busy for a while: the rollout is where the store says; ask again.
      if (!(error instanceof HotswapError) || error.code !== "E_STORE") throw error;
      if (!storeFailing) {
        storeDownAt = Date.now();
        onProgress?.({ type: "store", rollout, error });
      }
      storeFailing = true;
      await sleep(Math.max(pollMs, STORE_RETRY_MS), signal);
      try {
        const fresh = await store.getChannel(channel);
        const current = fresh?.state.rollout;
        if (fresh !== undefined && current !== undefined && current.id === rollout.id) {
          entry = fresh;
          rollout = current;
        }
      } catch (again) {
        if (!(again instanceof HotswapError) || again.code !== "E_STORE") throw again;
      }
    }
  }
}

/**
 * A report given a reporting window (see `graceFrom` in {@linkcode runRollout})
 * keeps its host from counting as silent, but is no evidence the candidate
 * is well: its calls may be those of a host dead since. While any such
 * report is live, a pass is only a wait for those hosts to report again.
 */
function provisional(
  decision: GateDecision,
  reports: readonly HostReport[],
  seen: readonly HostReport[],
  now: number,
): GateDecision {
  if (decision.verdict !== "pass") return decision;
  const stale = seen.filter((report, i) => report !== reports[i] && isLive(report, now)).map((r) => r.host);
  if (stale.length === 0) return decision;
  const shown = stale.slice(0, 5).map((host) => `"${host}"`).join(", ") +
    (stale.length > 5 ? ` and ${stale.length - 5} more` : "");
  return {
    verdict: "wait",
    reason: `waiting for ${stale.length === 1 ? "host" : "hosts"} ${shown} to report again: ${
      stale.length === 1 ? "its last report predates" : "their last reports predate"
    } this controller's start or the store's return, so they are no evidence yet`,
    canary: decision.canary,
    stable: decision.stable,
  };
}

/** Milliseconds between tries of a store that failed. */
const STORE_RETRY_MS = 500;
/** How recent a host's report must have been when the store failed for its silence to be excused. */
const REPORTED_BEFORE_MS = 10_000;

/**
 * Creates the rollout of `channel` to `to` in the store, or finds the one
 * already running to it (a controller run again resumes).
 *
 * @param store The fleet's store.
 * @param channel The channel.
 * @param to The candidate's digest (already published).
 * @param options Steps, bake time, limits; `onProgress` hears "start" or "resume".
 * @returns The channel's entry holding the running rollout.
 * @throws {HotswapError} `E_NOT_FOUND` for a channel without a stable
 *   generation or an unknown artifact; `E_CONTRACT` for a candidate packed
 *   for another contract (name or symbol) than the stable artifact that
 *   live hosts serve, which they would refuse.
 * @throws {RangeError} Steps or limits out of range, or a rollout to
 *   another candidate already running.
 *
 * @example Start a rollout, then resume it
 * ```ts
 * import { beginRollout, publish } from "@hotswap/runtime/fleet";
 * import { openStore } from "@hotswap/runtime/store";
 * import { strictEqual } from "node:assert/strict";
 *
 * const dir = await Deno.makeTempDir();
 * {
 *   await using store = await openStore(`sqlite:${dir}/fleet.db`);
 *   const v1 = "sha256-" + "A".repeat(43) + "=", v2 = "sha256-" + "B".repeat(43) + "=";
 *   await publish(store, "app", new Uint8Array([1]), { digest: v1 });
 *   await publish(store, "app", new Uint8Array([2]), { digest: v2 });
 *   const started = await beginRollout(store, "app", v2, { steps: [50, 100] });
 *   const resumed = await beginRollout(store, "app", v2);
 *   strictEqual(resumed.state.rollout?.id, started.state.rollout?.id);
 *   strictEqual(resumed.state.rollout?.percent, 50);
 * }
 * await Deno.remove(dir, { recursive: true });
 * ```
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
  let existing: ChannelEntry | undefined;
  const written = await updateChannel(store, channel, async (entry) => {
    existing = existingStart(entry, channel, to, settings);
    if (existing !== undefined) return undefined;
    const live = (await store.listReports(channel)).filter((r) => isLive(r, Date.now()));
    const hosts = live.map((r) => r.host);
    const state = entry!.state;
    // Only a new rollout: one already running resumes whatever it was started to.
    const servingStable = live.some((report) => report.state === "serving" && report.digest === state.stable);
    await checkRolloutContract(store, channel, state.stable!, to, servingStable);
    return { ...state, rollout: newRollout(state.stable!, to, settings, pickId(hosts, settings.steps[0]!)) };
  });
  if (written === undefined) {
    const rollout = existing!.state.rollout!;
    if (rollout.status === "running") options.onProgress?.({ type: "resume", rollout });
    return existing!;
  }
  options.onProgress?.({ type: "start", rollout: written.state.rollout! });
  return written;
}

/**
 * Makes the running rollout's candidate stable at once, skipping the steps left.
 *
 * @param store The fleet's store.
 * @param channel The channel.
 * @param reason Who promoted it, shown by `hotswap status` (default: "promoted by an operator").
 * @returns The rollout as promoted.
 * @throws {HotswapError} `E_NOT_FOUND` when no rollout is running.
 *
 * @example Promote before the steps are done
 * ```ts
 * import { beginRollout, promote, publish } from "@hotswap/runtime/fleet";
 * import { openStore } from "@hotswap/runtime/store";
 * import { strictEqual } from "node:assert/strict";
 *
 * const dir = await Deno.makeTempDir();
 * {
 *   await using store = await openStore(`sqlite:${dir}/fleet.db`);
 *   const v1 = "sha256-" + "A".repeat(43) + "=", v2 = "sha256-" + "B".repeat(43) + "=";
 *   await publish(store, "app", new Uint8Array([1]), { digest: v1 });
 *   await publish(store, "app", new Uint8Array([2]), { digest: v2 });
 *   await beginRollout(store, "app", v2);
 *   strictEqual((await promote(store, "app")).status, "promoted");
 *   strictEqual((await store.getChannel("app"))?.state.stable, v2);
 * }
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function promote(store: Store, channel: string, reason?: string): Promise<RolloutState> {
  const why = reason ?? "promoted by an operator";
  return await end(store, channel, "promote", (_state, rollout) => promoted(rollout, why, Date.now()));
}

/**
 * Aborts the running rollout: every host goes back to the stable generation.
 *
 * @param store The fleet's store.
 * @param channel The channel.
 * @param reason Why, shown by `hotswap status` and the rollout command (default: "aborted by an operator").
 * @returns The rollout as aborted.
 * @throws {HotswapError} `E_NOT_FOUND` when no rollout is running.
 *
 * @example Abort: every host back on stable
 * ```ts
 * import { abort, beginRollout, publish } from "@hotswap/runtime/fleet";
 * import { openStore } from "@hotswap/runtime/store";
 * import { strictEqual } from "node:assert/strict";
 *
 * const dir = await Deno.makeTempDir();
 * {
 *   await using store = await openStore(`sqlite:${dir}/fleet.db`);
 *   const v1 = "sha256-" + "A".repeat(43) + "=", v2 = "sha256-" + "B".repeat(43) + "=";
 *   await publish(store, "app", new Uint8Array([1]), { digest: v1 });
 *   await publish(store, "app", new Uint8Array([2]), { digest: v2 });
 *   await beginRollout(store, "app", v2);
 *   const rollout = await abort(store, "app", "the canary is slow");
 *   strictEqual(rollout.percent, 0);
 *   strictEqual((await store.getChannel("app"))?.state.stable, v1);
 * }
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function abort(store: Store, channel: string, reason?: string): Promise<RolloutState> {
  const why = reason ?? "aborted by an operator";
  return await end(store, channel, "abort", (state, rollout) => aborted(state, rollout, why, Date.now()));
}

/** Ends the running rollout as an operator asked: `promote` and `abort`. */
async function end(
  store: Store,
  channel: string,
  action: string,
  ending: (state: ChannelState, rollout: RolloutState) => ChannelState,
): Promise<RolloutState> {
  const entry = await updateChannel(store, channel, (current) => {
    const state = current?.state ?? {};
    return ending(state, runningRollout(state, channel, action));
  });
  return entry!.state.rollout!;
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
