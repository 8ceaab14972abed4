/**
 * A generation served by a process, as the host sees it: the handle rebuilt
 * from the process's description, calls routed to whichever process serves
 * it now, and the restart policy. When the process dies (crash, exit, out of
 * memory, `callTimeout`, protocol violation) the generation is loaded again
 * from the same snapshot, with the same context, in a fresh process (the
 * standby when there is one), at most `maxRestarts` times in any minute;
 * past that, and when a restart cannot bring the same handle back, every
 * call rejects `E_WORKER` until a swap replaces the generation.
 *
 * @module
 */

import { within } from "./deadline.ts";
import { HotswapError, messageOf } from "./errors.ts";
import type { GenerationRuntime } from "./generation.ts";
import type { GenerationProcess } from "./_process_host.ts";
import type { ProcessPool } from "./_process_pool.ts";
import type { LoadPayload } from "./_process_protocol.ts";
import type { MemberDescriptor } from "./_protocol.ts";
import { buildRemoteHandle, RemoteCalls } from "./_remote_handle.ts";

/** The window over which `maxRestarts` counts restarts. */
const RESTART_WINDOW = 60_000;
/**
 * How long a process whose `handoff()` ran past `loadTimeout` has to answer a
 * probe before it counts as hung: long enough for a healthy one on a starved
 * machine, and what a hung one adds to the refusal.
 */
const PROBE_WAIT = 2_000;

/** What a {@linkcode ProcessGeneration} needs besides its first process. */
export interface ProcessGenerationOptions {
  readonly pool: ProcessPool;
  /** What was sent to load it, sent again to restart it. */
  readonly payload: LoadPayload;
  /** The handle's description from the first load; a restart must describe the same. */
  readonly descriptor: MemberDescriptor;
  readonly hooks: { readonly handoff: boolean; readonly dispose: boolean };
  readonly maxRestarts: number;
  /** Milliseconds a restart's load may take. */
  readonly loadTimeout: number;
  /**
   * Milliseconds a call may take, `undefined` for no limit. A call waiting
   * for a restart waits at most this long, then runs with this limit of its
   * own: up to twice it in all.
   */
  readonly callTimeout: number | undefined;
  /** Reports a restart that serves again. */
  readonly onRestart: (reason: string, restarts: number) => void;
  /** Aborted when the generation is retired or its load failed. */
  readonly signal: AbortSignal;
}

/** The runtime of a process generation: handle, hooks, restarts, unload. */
export class ProcessGeneration<T> implements GenerationRuntime<T> {
  /** The handle callers see: function members call into the current process. */
  readonly handle: T;
  readonly #options: ProcessGenerationOptions;
  #process: GenerationProcess;
  /** The process whose death was handled last, so each death counts once. */
  #handled: GenerationProcess | undefined;
  #restarting: Promise<GenerationProcess> | undefined;
  #broken: HotswapError | undefined;
  #unloaded = false;
  /** The handle's calls, counted until they settle. */
  readonly #calls = new RemoteCalls();
  /** No longer serving (see `retiring`): a death is not restarted. */
  #retiring = false;
  readonly #restarts: number[] = [];

  /**
   * @param process The process that loaded the generation.
   * @param options Pool, payload, descriptor and policy.
   */
  constructor(process: GenerationProcess, options: ProcessGenerationOptions) {
    this.#process = process;
    this.#options = options;
    this.handle = buildRemoteHandle(
      options.descriptor,
      this.#calls.track((member, args) => this.call(member, args)),
    ) as T;
    this.#follow(process);
    options.signal.addEventListener("abort", this.#forwardAbort, { once: true });
  }

  /**
   * Calls the function member with index `member` on the process serving
   * now, waiting for a restart in progress.
   */
  call(member: number, args: unknown[]): Promise<unknown> {
    const process = this.#process;
    if (!process.dead) return process.call(member, args);
    const serving = this.#serving();
    const timeout = this.#options.callTimeout;
    if (timeout === undefined) return serving.then((next) => next.call(member, args));
    // callTimeout bounds what the caller waits, a restart included: a restart
    // may take up to loadTimeout, which is no licence to hold the call that long.
    const { payload } = this.#options;
    const expired = Promise.withResolvers<never>();
    const timer = setTimeout(() =>
      expired.reject(
        new HotswapError(
          "E_TIMEOUT",
          `A call to "${payload.entry}" waited longer than callTimeout (${timeout} ms) for its process to restart; it was not sent; retry later, or raise callTimeout`,
          { path: payload.entry },
        ),
      ), timeout);
    return Promise.race([serving, expired.promise]).then(
      (next) => {
        clearTimeout(timer);
        return next.call(member, args);
      },
      (error) => {
        clearTimeout(timer);
        throw error;
      },
    );
  }

  /** Calls the module's `handoff()` in the process; a dead generation hands over nothing. */
  handoff(): Promise<unknown> {
    if (!this.#options.hooks.handoff || this.#broken !== undefined || this.#process.dead) {
      return Promise.resolve(undefined);
    }
    return this.#process.hook("handoff");
  }

  /**
   * The generation kept the host waiting past a deadline (its `handoff()`
   * past `loadTimeout`). A process that then does not answer a probe within
   * {@linkcode PROBE_WAIT} ms is stuck in synchronous code: it is treated as
   * one with a call past `callTimeout` is, SIGKILLed and, since it still
   * serves, restarted from its snapshot, so that its next call is answered
   * rather than left to `callTimeout`. One that answers is only slow (an
   * `await` that takes long), and keeps its state and its calls.
   *
   * @param why What kept the host waiting, as "its handoff() did not settle within …".
   * @returns What became of the process, for the message; `undefined` when nothing was done.
   */
  async hung(why: string): Promise<string | undefined> {
    const process = this.#process;
    if (this.#unloaded || process.dead) return undefined;
    if (await process.answers(PROBE_WAIT)) return undefined;
    // Replaced or ended while the probe waited: nothing of this process is left to deal with.
    if (this.#unloaded || process.dead || process !== this.#process) return undefined;
    const { payload } = this.#options;
    process.kill(
      new HotswapError(
        "E_WORKER",
        `The process of "${payload.entry}" was killed because ${why}: it may be stuck in a loop, and was dealt with as after a call past callTimeout; calls running there were lost`,
        { path: payload.entry },
      ),
    );
    // Now rather than when `died` is observed, to say whether a restart started.
    this.#onDeath(process);
    if (this.#restarting !== undefined) {
      return "its process was killed and restarted from its snapshot, as after a call past callTimeout (the state it held since is lost)";
    }
    return `its process was killed, and is not restarted (${this.#broken?.message ?? "it no longer serves"})`;
  }

  /** Calls the module's `dispose()` in the process, if it has one and still runs. */
  async dispose(): Promise<void> {
    if (this.#options.hooks.dispose && this.#broken === undefined && !this.#process.dead) {
      await this.#process.hook("dispose");
    }
  }

  /**
   * The generation no longer serves, and drains: should its process die
   * now, it is not restarted (SPEC 6.5 restarts a generation that serves),
   * so its factory never runs again after it was replaced.
   */
  retiring(): void {
    this.#retiring = true;
  }

  /** Resolves once no call the handle made is pending (see `GenerationRuntime.idle`). */
  idle(): Promise<void> {
    return this.#calls.idle();
  }

  /**
   * Ends the process, and with it the processes its generation spawned
   * (see `GenerationProcess.end`); calls still running reject `E_WORKER`.
   * Idempotent. Resolves once the process has exited and its directory is removed.
   */
  unload(): Promise<void> {
    if (!this.#unloaded) {
      this.#unloaded = true;
      this.#options.signal.removeEventListener("abort", this.#forwardAbort);
      this.#process.end(this.#unloadedError());
    }
    return this.#process.closed;
  }

  readonly #forwardAbort = (): void => {
    const reason: unknown = this.#options.signal.reason;
    this.#process.abort(messageOf(reason));
  };

  /** The process that serves once the current death is dealt with. */
  #serving(): Promise<GenerationProcess> {
    if (this.#unloaded) return Promise.reject(this.#unloadedError());
    this.#onDeath(this.#process);
    if (this.#broken !== undefined) return Promise.reject(this.#broken);
    return this.#restarting ?? Promise.reject(this.#process.deathReason);
  }

  #follow(process: GenerationProcess): void {
    process.died.then(() => this.#onDeath(process));
  }

  /** Starts a restart for the death of `process`, or gives up; once per process. */
  #onDeath(process: GenerationProcess): void {
    if (process !== this.#process || this.#handled === process || this.#unloaded) return;
    this.#handled = process;
    const reason = process.deathReason!;
    if (this.#retiring) {
      const { payload } = this.#options;
      this.#broken = new HotswapError(
        "E_WORKER",
        `The process of "${payload.entry}" (generation ${payload.generation}) ended while it drained after a swap: a generation that no longer serves is not restarted. ${reason.message}`,
        { path: payload.entry, cause: reason },
      );
      return;
    }
    if (!this.#count(reason)) return;
    const restarting = this.#restart(reason);
    this.#restarting = restarting;
    // Callers observe it through call(); nobody may be waiting.
    restarting.catch(() => {});
  }

  /**
   * Counts one more restart within the window; past `maxRestarts` marks the
   * generation broken instead.
   *
   * @returns Whether a restart may go ahead.
   */
  #count(reason: HotswapError): boolean {
    const now = performance.now();
    while (this.#restarts.length > 0 && now - this.#restarts[0]! > RESTART_WINDOW) this.#restarts.shift();
    const { maxRestarts, payload } = this.#options;
    if (this.#restarts.length >= maxRestarts) {
      this.#broken = new HotswapError(
        "E_WORKER",
        `The process of "${payload.entry}" (generation ${payload.generation}) ended ${
          this.#restarts.length + 1
        } times within a minute, more than maxRestarts (${maxRestarts}) allows: it is not restarted again, and calls reject until a swap or rollback replaces it. Last: ${reason.message}`,
        { path: payload.entry, cause: reason },
      );
      return false;
    }
    this.#restarts.push(now);
    return true;
  }

  /** Loads the snapshot again in a fresh process until one serves, or the policy gives up. */
  async #restart(reason: HotswapError): Promise<GenerationProcess> {
    const { pool } = this.#options;
    for (;;) {
      const attempt = await this.#attempt(reason);
      if (this.#unloaded) {
        attempt.process?.end(this.#unloadedError());
        throw this.#unloadedError();
      }
      if (attempt.process !== undefined) {
        const next = attempt.process;
        this.#process = next;
        this.#restarting = undefined;
        this.#follow(next);
        if (this.#options.signal.aborted) this.#forwardAbort();
        pool.refillSoon();
        this.#options.onRestart(reason.message, this.#restarts.length);
        return next;
      }
      if (this.#broken !== undefined) throw this.#broken;
      // A failed restart is one more death: it counts, and the policy decides again.
      reason = attempt.failure;
      if (!this.#count(reason)) throw this.#broken!;
    }
  }

  /** One restart: a process that serves the same handle, or why not (setting #broken when retrying is futile). */
  async #attempt(
    reason: HotswapError,
  ): Promise<
    { process: GenerationProcess; failure?: undefined } | { process?: undefined; failure: HotswapError }
  > {
    const { pool, payload, loadTimeout } = this.#options;
    let next: GenerationProcess | undefined;
    let failure: HotswapError;
    try {
      next = await pool.take();
      const outcome = await within(next.load(payload), loadTimeout);
      if (outcome.status === "fulfilled") {
        if (sameShape(outcome.value.handle, this.#options.descriptor)) return { process: next };
        failure = this.#broken = new HotswapError(
          "E_WORKER",
          `Cannot restart the process of "${payload.entry}": the same snapshot built a handle of another shape this time, which the host cannot map its calls to; calls reject until a swap or rollback replaces it`,
          { path: payload.entry, cause: reason },
        );
      } else if (outcome.status === "rejected") {
        failure = asWorkerError(outcome.reason, payload.entry);
      } else {
        failure = new HotswapError(
          "E_WORKER",
          `Cannot restart the process of "${payload.entry}": loading took longer than loadTimeout (${loadTimeout} ms)`,
          { path: payload.entry },
        );
      }
    } catch (error) {
      failure = asWorkerError(error, payload.entry);
      // The loader closed: no process will ever be started again.
      if (error instanceof HotswapError && error.code === "E_CLOSED") this.#broken = failure;
    }
    next?.end(failure);
    return { failure };
  }

  #unloadedError(): HotswapError {
    const { payload } = this.#options;
    return new HotswapError(
      "E_WORKER",
      `Cannot finish a call on generation ${payload.generation} ("${payload.entry}"): its process was killed when the generation was unloaded (drained, or past drainTimeout); make the call finish within drainTimeout or raise it, and return the call's promise from with(), so that the drain counts it`,
      { path: payload.entry },
    );
  }
}

function asWorkerError(error: unknown, entry: string): HotswapError {
  if (error instanceof HotswapError && error.code === "E_WORKER") return error;
  return new HotswapError(
    "E_WORKER",
    `Cannot restart the process of "${entry}": ${messageOf(error)}`,
    { path: entry, cause: error },
  );
}

/** Whether two descriptions have the same functions at the same places (data may differ). */
function sameShape(a: MemberDescriptor, b: MemberDescriptor): boolean {
  if (a.kind !== b.kind) return false;
  if (a.kind === "function") return a.index === (b as typeof a).index;
  if (a.kind === "value") return true;
  const other = (b as typeof a).members;
  const keys = Object.keys(a.members);
  if (keys.length !== Object.keys(other).length) return false;
  return keys.every((key) => Object.hasOwn(other, key) && sameShape(a.members[key]!, other[key]!));
}
