/**
 * What each step of a rollout makes of a channel's state: start, resume,
 * advance, promote, abort. Pure functions of the state read from the store,
 * so `rollout.ts` only reads, decides here, and writes with compare-and-set.
 *
 * @module
 */

import { HotswapError } from "../errors.ts";
import type { ChannelEntry, ChannelState, RolloutState } from "../store/store.ts";
import { inCanary } from "./canary.ts";
import type { GateDecision } from "./gate.ts";
import type { Settings } from "./rollout_options.ts";

/**
 * What a start of the rollout of `channel` to `to` finds already there: a
 * rollout to `to` running (the controller resumes it), or `to` stable (a
 * finished rollout, seen again). `undefined`: a new rollout is to be written.
 *
 * @throws {HotswapError} `E_NOT_FOUND` when the channel has no stable generation.
 * @throws {RangeError} When a rollout to another candidate is running.
 */
export function existingStart(
  entry: ChannelEntry | undefined,
  channel: string,
  to: string,
  settings: Settings,
): ChannelEntry | undefined {
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
    return entry;
  }
  if (state.stable !== to) return undefined;
  const done: RolloutState = state.rollout?.to === to ? state.rollout : {
    ...newRollout(state.stable, to, settings, "already-stable"),
    status: "promoted",
    endedAt: Date.now(),
  };
  return { state: { ...state, rollout: done }, revision: entry.revision };
}

/** A rollout from `from` to `to` at its first step. */
export function newRollout(from: string, to: string, settings: Settings, id: string): RolloutState {
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
export function pickId(hosts: readonly string[], firstStep: number): string {
  let id = crypto.randomUUID();
  if (hosts.length === 0) return id;
  for (let draw = 0; draw < 64; draw++) {
    const inside = hosts.filter((host) => inCanary(host, id, firstStep)).length;
    if (inside > 0 && (inside < hosts.length || firstStep >= 100 || hosts.length === 1)) return id;
    id = crypto.randomUUID();
  }
  return id;
}

/** The state after the gate's pass (the next step, or promotion after the last) or abort. */
export function afterGate(
  state: ChannelState,
  rollout: RolloutState,
  decision: GateDecision,
  now: number,
): ChannelState {
  if (decision.verdict === "abort") return aborted(state, rollout, decision.reason, now);
  if (rollout.step + 1 >= rollout.steps.length) return promoted(rollout, "every step passed", now);
  const step = rollout.step + 1;
  return { ...state, rollout: { ...rollout, step, percent: rollout.steps[step]!, stepStartedAt: now } };
}

/** The state once `rollout` is promoted: its candidate is stable. */
export function promoted(rollout: RolloutState, reason: string, now: number): ChannelState {
  return { stable: rollout.to, rollout: { ...rollout, status: "promoted", endedAt: now, reason } };
}

/** The state once `rollout` is aborted: every host back on stable. */
export function aborted(
  state: ChannelState,
  rollout: RolloutState,
  reason: string,
  now: number,
): ChannelState {
  return { ...state, rollout: { ...rollout, status: "aborted", percent: 0, endedAt: now, reason } };
}

/**
 * The running rollout of a channel's state.
 *
 * @param action What the caller would do to it, for the message.
 * @throws {HotswapError} `E_NOT_FOUND` when no rollout is running.
 */
export function runningRollout(state: ChannelState, channel: string, action: string): RolloutState {
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
