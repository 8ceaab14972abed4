/**
 * The processes of one process loader: every one it started (so closing the
 * loader can wait until each has exited and released its pipes and
 * directory), how many are alive, and the warm standby that lets a swap, or
 * a restart, skip a process's start (SPEC 6.5). It belongs to its loader:
 * closing the loader kills the standby.
 *
 * @module
 */

import { HotswapError } from "./errors.ts";
import { GenerationProcess, type ProcessCommand } from "./_process_host.ts";

/** The standby and bookkeeping of one loader's processes. */
export class ProcessPool {
  readonly #command: () => ProcessCommand;
  readonly #memoryLimit: number;
  readonly #callTimeout: number | undefined;
  readonly #all = new Set<GenerationProcess>();
  #live = 0;
  #closed = false;
  #standby: GenerationProcess | undefined;
  #refill: ReturnType<typeof setTimeout> | undefined;

  /**
   * @param command Makes the command of a new process (a fresh directory each time).
   * @param memoryLimit Bytes a generation may use.
   * @param callTimeout Milliseconds a call may take, or `undefined`.
   */
  constructor(command: () => ProcessCommand, memoryLimit: number, callTimeout: number | undefined) {
    this.#command = command;
    this.#memoryLimit = memoryLimit;
    this.#callTimeout = callTimeout;
  }

  /** Processes alive now, the standby included. */
  get live(): number {
    return this.#live;
  }

  /** Settles once the standby, started or about to be, is ready or dead. */
  async ready(): Promise<void> {
    // A refill runs one task after the load that asked for it.
    if (this.#refill !== undefined) await new Promise<void>((resolve) => setTimeout(resolve, 0));
    await this.#standby?.ready.catch(() => {});
  }

  /**
   * A process that listens: the standby if it started, else a new one.
   *
   * @throws {HotswapError} `E_CLOSED` once closed; `E_WORKER` when the new process dies before it listens.
   */
  async take(): Promise<GenerationProcess> {
    this.#assertOpen();
    const standby = this.#standby;
    this.#standby = undefined;
    if (standby !== undefined) {
      try {
        await standby.ready;
        return standby;
      } catch {
        // It died while idle (nothing ran in it), or close() killed it: start a fresh one below.
      }
    }
    // Checked again: close() may have come while the standby was awaited,
    // and a process started after it would never be waited for.
    this.#assertOpen();
    const process = this.#spawn();
    await process.ready;
    return process;
  }

  #assertOpen(): void {
    if (this.#closed) {
      throw new HotswapError("E_CLOSED", "Cannot start a generation process: its loader is closed");
    }
  }

  /**
   * Starts a standby for the next load, after the current task:
   * `Deno.Command.spawn()` blocks the calling thread for a few milliseconds
   * (5 ms measured here), which must not delay the swap committing now.
   */
  refillSoon(): void {
    if (this.#closed || this.#refill !== undefined) return;
    this.#refill = setTimeout(() => {
      this.#refill = undefined;
      if (this.#closed || this.#standby !== undefined) return;
      try {
        this.#standby = this.#spawn();
      } catch {
        // The next load spawns again and reports why.
      }
    }, 0);
  }

  /**
   * Kills the standby, and any process still alive, then waits until every
   * process started has exited and released what it held. Idempotent.
   */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#refill);
    this.#refill = undefined;
    this.#standby = undefined;
    const closing = new HotswapError("E_CLOSED", "The generation process was stopped: its loader closed");
    const all = [...this.#all];
    for (const process of all) process.end(closing);
    await Promise.all(all.map((process) => process.closed));
  }

  #spawn(): GenerationProcess {
    const process = GenerationProcess.spawn(this.#command(), this.#memoryLimit, this.#callTimeout);
    this.#live++;
    this.#all.add(process);
    const gone = () => {
      this.#live--;
      this.#all.delete(process);
    };
    process.closed.then(gone, gone);
    return process;
  }
}
