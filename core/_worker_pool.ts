/**
 * The workers of one worker loader: how many are alive, and the warm standby
 * that lets a swap skip a worker's start (SPEC 6.4). It belongs to its
 * loader, never to the process: closing the loader stops the standby.
 *
 * @module
 */

import { HotswapError } from "./errors.ts";
import { WorkerHost } from "./_worker_host.ts";

/**
 * How long a standby's start waits after the load that used the last one.
 * Starting it at once competes with the new generation's first calls: the
 * `Worker` constructor blocks the host 6-9 ms and the new isolate's boot
 * takes a core. Measured under load (bench:load, a swap every 100 ms):
 * write to new code 26-32 ms median at 0 ms, 15.6-16.6 ms at 40 ms; at
 * 250 ms the next swap often found no standby (p90 65-80 ms).
 *
 * Starting workers from a worker of their own, so that the constructor
 * blocks that thread instead, was tried: on Deno 2.9.6 a worker started by
 * a worker runs its first line 0.5-1 s after its constructor returns (a
 * one-line module, the starting thread otherwise idle), far longer than
 * the block it would spare.
 */
const REFILL_DELAY_MS = 40;

/**
 * How long a load waits for a worker to start before its deadline is armed
 * anyway: a start takes 10-80 ms, or 1.3-2.3 s when `deno test` first
 * type-checks the worker's program; past this, something is wrong and the
 * load's own deadline decides.
 */
const BOOT_LIMIT_MS = 30_000;

/**
 * The workers of one loader: a count of those alive, and one warm standby
 * for the next load. A standby is started for the permission set of the
 * last load (a loader's permissions do not change between loads).
 */
export class WorkerPool {
  #live = 0;
  #closed = false;
  readonly #callTimeout: number | undefined;
  /** The warm worker, possibly still starting, with the permissions it was started with. */
  #standby: { readonly host: WorkerHost; readonly key: string } | undefined;
  /** A standby's start, waiting for REFILL_DELAY_MS. */
  #refill: {
    readonly timer: ReturnType<typeof setTimeout>;
    readonly permissions: Deno.PermissionOptionsObject;
  } | undefined;

  /** @param callTimeout Milliseconds a call on one of its workers may take. */
  constructor(callTimeout: number | undefined) {
    this.#callTimeout = callTimeout;
  }

  /** Workers alive now, the standby included. */
  get live(): number {
    return this.#live;
  }

  /** Settles once the standby, started now if its start was waiting, is ready or dead. */
  async ready(): Promise<void> {
    this.#refillNow();
    await this.#standby?.host.ready.catch(() => {});
  }

  /**
   * Settles once a standby with `permissions` is ready or dead, starting one
   * now if none is there or waiting (a failure to start is left for
   * {@linkcode take} to report). Bounded by {@linkcode BOOT_LIMIT_MS}.
   */
  async boot(permissions: Deno.PermissionOptionsObject): Promise<void> {
    if (this.#closed) return;
    if (this.#standby === undefined && this.#refill === undefined) {
      try {
        this.#standby = { host: this.#spawn(permissions, ""), key: JSON.stringify(permissions) };
      } catch {
        return;
      }
    }
    this.#refillNow();
    const ready = this.#standby?.host.ready.catch(() => {});
    if (ready === undefined) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([ready, new Promise<void>((resolve) => timer = setTimeout(resolve, BOOT_LIMIT_MS))]);
    clearTimeout(timer);
  }

  /** A ready worker with `permissions`: the standby if it has them and starts, else a new one. */
  async take(permissions: Deno.PermissionOptionsObject, entry: string): Promise<WorkerHost> {
    const standby = this.#standby;
    this.#standby = undefined;
    if (standby !== undefined) {
      if (standby.key === JSON.stringify(permissions)) {
        try {
          await standby.host.ready;
          return standby.host;
        } catch {
          // It died while idle (nothing ran in it): start a fresh one below.
        }
      } else {
        standby.host.terminate(new HotswapError("E_CLOSED", "The standby worker had other permissions"));
      }
    }
    const host = this.#spawn(permissions, entry);
    await host.ready;
    return host;
  }

  /**
   * Starts a standby for the next load, REFILL_DELAY_MS after this one: not
   * while the swap that is committing now serves its first calls.
   */
  refillSoon(permissions: Deno.PermissionOptionsObject): void {
    if (this.#closed || this.#refill !== undefined) return;
    this.#refill = { timer: setTimeout(() => this.#refillNow(), REFILL_DELAY_MS), permissions };
  }

  /** Starts the waiting standby now, if one is waiting and none is there. */
  #refillNow(): void {
    const refill = this.#refill;
    if (refill === undefined) return;
    clearTimeout(refill.timer);
    this.#refill = undefined;
    if (this.#closed || this.#standby !== undefined) return;
    try {
      this.#standby = { host: this.#spawn(refill.permissions, ""), key: JSON.stringify(refill.permissions) };
    } catch {
      // The load that took the last worker had the same permissions, so this is rare; the next load reports it.
    }
  }

  /** Terminates the standby and starts no other. Idempotent. */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#refill?.timer);
    this.#refill = undefined;
    this.#standby?.host.terminate(
      new HotswapError("E_CLOSED", "The standby worker was stopped: its loader closed"),
    );
    this.#standby = undefined;
  }

  #spawn(permissions: Deno.PermissionOptionsObject, entry: string): WorkerHost {
    const host = WorkerHost.spawn(permissions, entry, () => this.#live--, this.#callTimeout);
    this.#live++;
    return host;
  }
}
