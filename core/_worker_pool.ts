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
  #refill: ReturnType<typeof setTimeout> | undefined;

  /** @param callTimeout Milliseconds a call on one of its workers may take. */
  constructor(callTimeout: number | undefined) {
    this.#callTimeout = callTimeout;
  }

  /** Workers alive now, the standby included. */
  get live(): number {
    return this.#live;
  }

  /** Settles once the standby, started or about to be, is ready or dead. */
  async ready(): Promise<void> {
    // A refill runs one task after the load that asked for it.
    if (this.#refill !== undefined) await new Promise<void>((resolve) => setTimeout(resolve, 0));
    await this.#standby?.host.ready.catch(() => {});
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
   * Starts a standby for the next load, after the current task: Deno's
   * \`Worker\` constructor blocks the calling thread until the new isolate
   * exists (6-9 ms measured here), which must not delay the swap that
   * is committing now.
   */
  refillSoon(permissions: Deno.PermissionOptionsObject): void {
    if (this.#closed || this.#refill !== undefined) return;
    this.#refill = setTimeout(() => {
      this.#refill = undefined;
      if (this.#closed || this.#standby !== undefined) return;
      try {
        this.#standby = { host: this.#spawn(permissions, ""), key: JSON.stringify(permissions) };
      } catch {
        // The load that took the last worker had the same permissions, so this is rare; the next load reports it.
      }
    }, 0);
  }

  /** Terminates the standby and starts no other. Idempotent. */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#refill);
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
