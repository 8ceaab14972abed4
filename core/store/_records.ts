/**
 * What the store adapters share about records: reading those another
 * process wrote (every field type-checked), and the errors of a store,
 * `E_STORE` and `E_CLOSED`.
 *
 * @module
 */

import { HotswapError } from "../errors.ts";
import type {
  ArtifactInfo,
  ChannelState,
  HostReport,
  HostState,
  Refusal,
  RolloutState,
  RolloutStatus,
} from "./schema.ts";

/** An `E_STORE` error naming the store and the operation. */
export function storeError(url: string, action: string, cause: unknown, fix?: string): HotswapError {
  const reason = cause instanceof Error ? cause.message : String(cause);
  return new HotswapError(
    "E_STORE",
    `Cannot ${action} in store "${url}": ${reason}${fix ? `; ${fix}` : ""}`,
    {
      cause,
    },
  );
}

/** What an unreadable channel's error carries for the one way out: a reset at its revision. */
export interface UnreadableChannel {
  /** The channel. */
  readonly channel: string;
  /** The revision whose state cannot be read: a reset writes over exactly this one. */
  readonly revision: number;
  /** Why it cannot be read, such as a JSON syntax error. */
  readonly reason: string;
}

const UNREADABLE: unique symbol = Symbol("unreadable channel");

/**
 * The `E_STORE` error of a channel whose stored state does not parse (a broken
 * tool, or someone with write access to the store, wrote it). Its message says
 * how to reset it; {@linkcode unreadableChannel} reads the revision a reset
 * must name, as the state cannot be read again to find it.
 */
export function unreadableChannelError(
  url: string,
  channel: string,
  revision: number,
  cause: unknown,
): HotswapError {
  const reason = cause instanceof Error ? cause.message : String(cause);
  const error = new HotswapError(
    "E_STORE",
    `Cannot read channel "${channel}" in store "${url}": its state (revision ${revision}) is malformed (${reason}); reset it to a published artifact with hotswap abort ${channel} --store ${url} --stable <digest|label>`,
    { cause },
  );
  const detail: UnreadableChannel = { channel, revision, reason };
  Object.defineProperty(error, UNREADABLE, { value: detail });
  return error;
}

/** The unreadable channel an error of {@linkcode unreadableChannelError} is about, else `undefined`. */
export function unreadableChannel(error: unknown): UnreadableChannel | undefined {
  if (typeof error !== "object" || error === null || !(UNREADABLE in error)) return undefined;
  return error[UNREADABLE] as UnreadableChannel;
}

/** The `E_CLOSED` error of a store used after it was closed. */
export function closedError(url: string, action: string): HotswapError {
  return new HotswapError("E_CLOSED", `Cannot ${action}: store "${url}" is closed; open it again`);
}

// Records come from other processes: read every field with its type checked.

type Json = Record<string, unknown>;

function record(value: unknown, what: string): Json {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new TypeError(`Malformed ${what}: not an object`);
  }
  return value as Json;
}

function str(o: Json, key: string, what: string): string {
  const value = o[key];
  if (typeof value !== "string") throw new TypeError(`Malformed ${what}: "${key}" is not a string`);
  return value;
}

function num(o: Json, key: string, what: string): number {
  const value = o[key];
  if (typeof value !== "number" || !Number.isFinite(value)) {
    throw new TypeError(`Malformed ${what}: "${key}" is not a finite number`);
  }
  return value;
}

function optional<T>(o: Json, key: string, read: (o: Json, key: string, what: string) => T, what: string) {
  return o[key] === undefined || o[key] === null ? {} : { [key]: read(o, key, what) };
}

const STATUSES: readonly string[] = ["running", "promoted", "aborted"];
const HOST_STATES: readonly string[] = ["starting", "loading", "serving", "refused"];

/** Reads a channel state written by any process; throws `TypeError` on a malformed one. */
export function parseChannelState(value: unknown): ChannelState {
  const o = record(value, "channel state");
  const state: { stable?: string; rollout?: RolloutState } = {};
  if (o.stable !== undefined && o.stable !== null) state.stable = str(o, "stable", "channel state");
  if (o.rollout !== undefined && o.rollout !== null) state.rollout = parseRollout(o.rollout);
  return state;
}

function parseRollout(value: unknown): RolloutState {
  const what = "rollout state";
  const o = record(value, what);
  const steps = o.steps;
  if (
    !Array.isArray(steps) || steps.length === 0 || steps.length > 100 ||
    !steps.every((step) => typeof step === "number" && step > 0 && step <= 100)
  ) {
    throw new TypeError(`Malformed ${what}: "steps" is not a list of percentages`);
  }
  const status = str(o, "status", what);
  if (!STATUSES.includes(status)) throw new TypeError(`Malformed ${what}: unknown status "${status}"`);
  const step = num(o, "step", what);
  if (!Number.isInteger(step) || step < 0 || step >= steps.length) {
    throw new TypeError(`Malformed ${what}: "step" is out of range`);
  }
  return {
    id: str(o, "id", what),
    to: str(o, "to", what),
    from: str(o, "from", what),
    steps: steps as number[],
    step,
    percent: num(o, "percent", what),
    status: status as RolloutStatus,
    bakeMs: num(o, "bakeMs", what),
    maxErrorRate: num(o, "maxErrorRate", what),
    ...optional(o, "maxP99Ms", num, what),
    progressDeadlineMs: num(o, "progressDeadlineMs", what),
    startedAt: num(o, "startedAt", what),
    stepStartedAt: num(o, "stepStartedAt", what),
    ...optional(o, "endedAt", num, what),
    ...optional(o, "reason", str, what),
  };
}

/** Reads a host report written by any process; throws `TypeError` on a malformed one. */
export function parseReport(value: unknown): HostReport {
  const what = "host report";
  const o = record(value, what);
  const state = str(o, "state", what);
  if (!HOST_STATES.includes(state)) throw new TypeError(`Malformed ${what}: unknown state "${state}"`);
  let refused: Refusal | undefined;
  if (o.refused !== undefined && o.refused !== null) {
    const r = record(o.refused, what);
    refused = {
      digest: str(r, "digest", what),
      code: str(r, "code", what),
      message: str(r, "message", what),
    };
  }
  return {
    host: str(o, "host", what),
    generation: num(o, "generation", what),
    digest: str(o, "digest", what),
    desired: str(o, "desired", what),
    state: state as HostState,
    calls: num(o, "calls", what),
    errors: num(o, "errors", what),
    p50: num(o, "p50", what),
    p99: num(o, "p99", what),
    at: num(o, "at", what),
    interval: num(o, "interval", what),
    ...(refused === undefined ? {} : { refused }),
  };
}

/** Reads an artifact listing entry. */
export function parseArtifactInfo(value: unknown): ArtifactInfo {
  const what = "artifact record";
  const o = record(value, what);
  return {
    digest: str(o, "digest", what),
    ...optional(o, "label", str, what),
    size: num(o, "size", what),
    publishedAt: num(o, "publishedAt", what),
  };
}
