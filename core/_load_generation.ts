/**
 * Loading the generation that would follow the current one, short of its
 * commit: read the snapshot (or take a kept one), check the integrity pin,
 * ask the outgoing generation for its state, and run the loader, all under
 * the swap's abort signal. Nothing here changes what serves: on any failure
 * the reference stays as it was.
 *
 * @module
 */

import type { Contract } from "./contract.ts";
import { type Outcome, within } from "./deadline.ts";
import { describeThrown, HotswapError } from "./errors.ts";
import { Generation } from "./generation.ts";
import { type Loader, loadWithin, type SnapshotSource } from "./loader.ts";
import type { Snapshot } from "./snapshot.ts";
import type { GenerationInfo } from "./stats.ts";
import type { Emit } from "./_listeners.ts";

/** The strategies a reference is built with: where snapshots come from, and how they run. */
export interface Strategies {
  /** Reads (and verifies) a generation by path. */
  readonly source: SnapshotSource;
  /** Runs a snapshot in the isolation mode. */
  readonly loader: Loader;
}

/** What loading needs of the reference it loads for. */
export interface LoadContext<T> extends Strategies {
  /** The contract every generation must meet, typed as `with()` sees the handle. */
  readonly contract: Contract<T>;
  /** Bounds the load, and the outgoing generation's `handoff()`, in milliseconds. */
  readonly loadTimeout: number;
  /** Announces `restart` events of the loaded generation. */
  readonly emit: Emit;
  /**
   * Aborted when the reference closes: the factory of a load in progress
   * sees it through its context's signal, and a worker or process loading
   * is ended at once rather than run out its `loadTimeout`; the swap
   * rejects with the reason.
   */
  readonly closing: AbortSignal;
}

/** What a load of a generation is asked to do. */
export interface LoadPlan {
  /** Pin of the new generation's digest. */
  readonly integrity: string | undefined;
  /** An explicit rollback: the source may go below the highest sequence. */
  readonly rollback?: boolean;
  readonly signal: AbortSignal | undefined;
  /** Whether to ask the outgoing generation's `handoff()` for state. */
  readonly handoff: boolean;
  readonly via: GenerationInfo["via"];
}

/**
 * Loads the generation after `outgoing` from a path (read through the
 * source) or a kept snapshot (a rollback), not yet committed.
 *
 * @returns The loaded generation; the caller commits it or retires it.
 * @throws {HotswapError} Why it cannot serve; an abort rejects with the signal's reason.
 */
export async function loadGeneration<T>(
  context: LoadContext<T>,
  from: string | Snapshot,
  outgoing: Generation<T> | undefined,
  plan: LoadPlan,
): Promise<Generation<T>> {
  const { signal } = plan;
  const snapshot = typeof from === "string"
    ? await context.source.read(from, { rollback: plan.rollback === true })
    : from;
  checkIntegrity(snapshot, plan.integrity);
  signal?.throwIfAborted();
  const number = (outgoing?.number ?? 0) + 1;
  const previous = outgoing === undefined || !plan.handoff
    ? undefined
    : await handoff(outgoing, snapshot, context.loadTimeout);
  signal?.throwIfAborted();
  // Closed while this read or asked for the handoff: no load starts (one started now would never be told).
  context.closing.throwIfAborted();
  const controller = new AbortController();
  // An abort during the load, or the reference closing, reaches the factory through its context's signal.
  const forward = () => controller.abort(signal!.reason);
  signal?.addEventListener("abort", forward, { once: true });
  const { closing } = context;
  const forwardClosing = () => controller.abort(closing.reason);
  closing.addEventListener("abort", forwardClosing, { once: true });
  try {
    const runtime = await loadWithin<T>(
      context.loader,
      {
        contract: context.contract,
        snapshot,
        context: { generation: number, digest: snapshot.digest, previous, signal: controller.signal },
        onRestart: (reason, restarts) => context.emit("restart", { generation: number, reason, restarts }),
      },
      context.loadTimeout,
      context.closing,
    );
    return new Generation(number, snapshot, runtime, controller);
  } catch (error) {
    controller.abort(error);
    // A factory that gave up because the swap was aborted, or the reference closed: report that, not E_INIT.
    if (signal?.aborted) throw signal.reason;
    if (closing.aborted) throw closing.reason;
    throw error;
  } finally {
    signal?.removeEventListener("abort", forward);
    closing.removeEventListener("abort", forwardClosing);
  }
}

/**
 * How the outgoing generation's `handoff()` ended. A state returned at once
 * (an inline module's plain function) needs no deadline, and arms no timer:
 * that timer was 0.04 ms of the serving thread's swap idle, 0.09 ms under
 * `deno task bench:load`. A promise is bounded by `loadTimeout`.
 */
function handoffOutcome<T>(
  outgoing: Generation<T>,
  loadTimeout: number,
): Outcome<unknown> | Promise<Outcome<unknown>> {
  try {
    const state = outgoing.handoff();
    return isThenable(state)
      ? within(Promise.resolve(state), loadTimeout)
      : { status: "fulfilled", value: state };
  } catch (reason) {
    return { status: "rejected", reason };
  }
}

/** Whether awaiting `value` would wait for it: what `await` treats as a promise. */
function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (typeof value === "object" || typeof value === "function") && value !== null &&
    typeof (value as { then?: unknown }).then === "function";
}

/** Asks the outgoing generation for its state, bounded by `loadTimeout` so a stuck handoff() cannot block the swap queue. */
async function handoff<T>(
  outgoing: Generation<T>,
  snapshot: Snapshot,
  loadTimeout: number,
): Promise<unknown> {
  const outcome = await handoffOutcome(outgoing, loadTimeout);
  if (outcome.status === "fulfilled") return outcome.value;
  if (outcome.status === "timeout") {
    // A sandbox stuck in a loop is dealt with as after a call past callTimeout, so that the generation,
    // which stays active, answers its next call (a process: restarted); one only slow keeps its state.
    const became = await outgoing.hung(`its handoff() did not settle within loadTimeout (${loadTimeout} ms)`);
    throw new HotswapError(
      "E_TIMEOUT",
      `Cannot hand state from generation ${outgoing.number} to "${snapshot.entry}": handoff() of "${outgoing.snapshot.entry}" did not settle within loadTimeout (${loadTimeout} ms)${
        became === undefined ? "" : `, so ${became}`
      }; make handoff() return its state promptly, and to replace this generation meanwhile, swap or roll back with { handoff: false }`,
      { path: outgoing.snapshot.entry },
    );
  }
  throw new HotswapError(
    "E_INIT",
    `Cannot hand state from generation ${outgoing.number} to "${snapshot.entry}": handoff() of "${outgoing.snapshot.entry}" threw ${
      describeThrown(outcome.reason)
    }; fix handoff() in the running generation's module, and to replace this generation meanwhile, swap or roll back with { handoff: false }`,
    { path: outgoing.snapshot.entry, cause: outcome.reason },
  );
}

function checkIntegrity(snapshot: Snapshot, integrity: string | undefined): void {
  if (checkIntegrityPin(integrity) === undefined || integrity === snapshot.digest) return;
  const fix = /^sha256-[A-Za-z0-9+/]{43}=$/.test(integrity!)
    ? "the files changed since they were pinned: review them and pin the new digest"
    : 'and the pin is no SHA-256 digest in SRI form ("sha256-" and 44 base64 characters): pin what hot.digest or `hotswap inspect` gives';
  throw new HotswapError(
    "E_INTEGRITY",
    `Cannot accept "${snapshot.entry}": its digest is ${snapshot.digest} but the integrity pin is ${integrity}; ${fix}`,
    { path: snapshot.entry },
  );
}

/**
 * An `integrity` option as given, checked before anything is read: a pin
 * that is not even a string is a mistake in the call, not a change in the
 * files. (A string that no digest can equal is refused as a mismatch,
 * `E_INTEGRITY`, whose message says what a pin looks like.)
 *
 * @throws {TypeError} When `integrity` is neither undefined nor a string.
 */
export function checkIntegrityPin(integrity: unknown): string | undefined {
  if (integrity === undefined || typeof integrity === "string") return integrity;
  throw new TypeError(
    `Cannot check integrity: the pin must be a "sha256-<base64>" string, as hot.digest gives, got ${
      integrity === null ? "null" : typeof integrity
    }`,
  );
}
