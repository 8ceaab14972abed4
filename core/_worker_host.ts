/**
 * One generation worker and the host's end of its channel: call bookkeeping,
 * the order of messages among ring records, and every way a worker can end
 * turned into rejections.
 *
 * Everything the worker sends is input from an adversary (SPEC 6.4): each
 * message is validated before a field is read, the response ring is read a
 * bounded number of records at a time and checked for an impossible head,
 * a reply nobody waits for is a violation, and any violation terminates that
 * worker with \`E_WORKER\` rather than throw, hang or grow in the host.
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import type { Contract } from "./contract.ts";
import { describeThrown, HotswapError } from "./errors.ts";
import type { LoadRequest } from "./loader.ts";
import type { MintedSnapshot } from "./snapshot.ts";
import { type HostMessage, rebuildError, type SerializedError, type WorkerMessage } from "./_protocol.ts";
import {
  createChannelBuffer,
  NO_PAYLOAD,
  OP_MESSAGE,
  RingReader,
  RingWriter,
  SLOT_COUNT,
} from "./_rpc_channel.ts";
import { checkWorkerMessage } from "./_worker_messages.ts";

/** The program a generation worker runs. */
export const WORKER_MAIN: URL = new URL("./_worker_main.ts", import.meta.url);

/**
 * Response checks the host makes before it sleeps: a worker answering a
 * small call within a few microseconds is caught without a thread wake-up.
 * Kept short because it blocks the host's event loop while it lasts.
 */
const HOST_SPIN_CHECKS = 1_000;
/** Call ids whose caller gave up (callTimeout) and whose late reply is still welcome. */
const MAX_ABANDONED_IDS = 10_000;

/** What the worker reports once the handle is verified. */
export type Loaded = Extract<WorkerMessage, { t: "loaded" }>;

/** A request waiting for its answer, and which answer it may get. */
interface Pending {
  readonly kind: "load" | "call" | "control";
  resolve(value: unknown): void;
  reject(reason: unknown): void;
  /** The callTimeout timer of a call, when there is one. */
  timer?: ReturnType<typeof setTimeout>;
}

/**
 * One worker and its channel.
 */
export class WorkerHost {
  readonly #worker: Worker;
  readonly #requests: RingWriter;
  readonly #responses: RingReader;
  readonly #pending = new Map<number, Pending>();
  /** Records waiting for room in the request ring, in call order; `bytes` undefined for a marker. */
  readonly #overflow: { id: number; op: number; bytes: Uint8Array | undefined }[] = [];
  readonly #ready = Promise.withResolvers<void>();
  #readySeen = false;
  /** Ids of calls that timed out: their late answers are dropped, not violations. */
  readonly #abandoned = new Set<number>();
  readonly #callTimeout: number | undefined;
  #nextId = 1;
  #pumping = false;
  #dead: HotswapError | undefined;
  /** The entry of the generation it runs, for messages; empty while a standby. */
  #entry = "";
  /** Tells the pool this worker is gone. */
  readonly #onEnd: () => void;

  private constructor(
    worker: Worker,
    buffer: SharedArrayBuffer,
    onEnd: () => void,
    callTimeout: number | undefined,
  ) {
    this.#worker = worker;
    this.#onEnd = onEnd;
    this.#callTimeout = callTimeout;
    this.#requests = new RingWriter(buffer, "request");
    this.#responses = new RingReader(buffer, "response");
    // Observed here so a worker that dies before anyone awaits it is no unhandled rejection.
    this.#ready.promise.catch(() => {});
    worker.onmessage = (event: MessageEvent<unknown>) => this.#receive(event.data);
    worker.onerror = (event: ErrorEvent) => {
      // Without preventDefault Deno rethrows a worker's uncaught error in the host and ends it.
      event.preventDefault();
      this.#die(this.#crashError(event.message));
    };
    worker.onmessageerror = () => {
      this.#die(new HotswapError("E_WORKER", `${this.#what()} sent a message the host cannot read`));
    };
    worker.postMessage({ t: "init", buffer } satisfies HostMessage);
  }

  /**
   * Starts a worker with exactly `permissions`.
   *
   * @param permissions The worker's permissions, every kind spelled out.
   * @param entry The generation's entry, for messages ("" for a standby).
   * @param onEnd Called once when the worker ends, however it ends.
   * @param callTimeout Milliseconds a call may take before it rejects `E_TIMEOUT`.
   * @throws {HotswapError} `E_PERMISSION` when the host cannot grant them.
   */
  static spawn(
    permissions: Deno.PermissionOptionsObject,
    entry: string,
    onEnd: () => void,
    callTimeout: number | undefined,
  ): WorkerHost {
    let worker: Worker;
    try {
      worker = new Worker(WORKER_MAIN, {
        type: "module",
        name: "hotswap generation",
        deno: { permissions },
      });
    } catch (error) {
      throw new HotswapError(
        "E_PERMISSION",
        `Cannot start a worker for "${entry}" with permissions ${JSON.stringify(permissions)}: ${
          describeThrown(error)
        }; a worker can only receive permissions the host has: grant them to the host or narrow "permissions"`,
        { path: entry, cause: error },
      );
    }
    return new WorkerHost(worker, createChannelBuffer(), onEnd, callTimeout);
  }

  /** Resolves once the worker listens; rejects if it dies first. */
  get ready(): Promise<void> {
    return this.#ready.promise;
  }

  /** Whether the worker was terminated or died. */
  get dead(): boolean {
    return this.#dead !== undefined;
  }

  /** Imports the snapshot in the worker and resolves the handle there. */
  load<T>(request: LoadRequest<T>, minted: MintedSnapshot): Promise<Loaded> {
    const { contract, snapshot, context } = request;
    this.#entry = snapshot.entry;
    return this.#send("load", (id) => ({
      t: "load",
      id,
      url: minted.url,
      entry: snapshot.entry,
      files: [...minted.files],
      contract: contractFields(contract),
      generation: context.generation,
      digest: context.digest,
      previous: context.previous,
    })) as Promise<Loaded>;
  }

  /**
   * Calls the handle function with index `member`.
   *
   * @returns The function's result, or its error rebuilt.
   */
  call(member: number, args: unknown[]): Promise<unknown> {
    if (this.#dead !== undefined) return Promise.reject(this.#dead);
    const id = this.#id();
    const { promise, resolve, reject } = Promise.withResolvers<unknown>();
    const pending: Pending = { kind: "call", resolve, reject };
    if (this.#callTimeout !== undefined) {
      pending.timer = setTimeout(() => this.#timeOut(id), this.#callTimeout);
    }
    this.#pending.set(id, pending);
    if (this.#overflow.length === 0 && this.#requests.write(id, member, args)) {
      this.#pump();
      return promise;
    }
    const bytes = this.#requests.encode(args);
    if (bytes !== undefined) {
      this.#queue(id, member, bytes);
    } else {
      try {
        this.#worker.postMessage({ t: "call", id, member, args } satisfies HostMessage);
      } catch (error) {
        // Arguments that cannot be cloned: fail like postMessage, before anything is sent.
        clearTimeout(pending.timer);
        this.#pending.delete(id);
        return Promise.reject(error);
      }
      this.#queue(id, OP_MESSAGE, undefined);
    }
    this.#pump();
    return promise;
  }

  /** Runs the module's `handoff` or `dispose` export in the worker; the Hotswap bounds how long it waits. */
  hook(name: "handoff" | "dispose"): Promise<unknown> {
    return this.#send("control", (id) => ({ t: "hook", id, name }));
  }

  /** Aborts the generation's signal in the worker. */
  abort(reason: string): void {
    if (this.#dead !== undefined) return;
    this.#send("control", (id) => ({ t: "abort", id, reason })).catch(() => {});
  }

  /** Terminates the worker; pending calls reject with `reason`. Idempotent. */
  terminate(reason: HotswapError): void {
    this.#die(reason);
  }

  /** Posts a control message in order among the calls; settles with the worker's answer. */
  #send(kind: "load" | "control", build: (id: number) => HostMessage): Promise<unknown> {
    if (this.#dead !== undefined) return Promise.reject(this.#dead);
    const id = this.#id();
    const { promise, resolve, reject } = Promise.withResolvers<unknown>();
    this.#pending.set(id, { kind, resolve, reject });
    try {
      this.#worker.postMessage(build(id));
    } catch (error) {
      this.#pending.delete(id);
      return Promise.reject(
        new HotswapError(
          "E_INIT",
          `Cannot send to the worker of "${this.#entry}": ${
            describeThrown(error)
          }; handoff() must return plain data (structured-cloneable)`,
          { path: this.#entry, cause: error },
        ),
      );
    }
    this.#queue(id, OP_MESSAGE, undefined);
    this.#pump();
    return promise;
  }

  #id(): number {
    const id = this.#nextId;
    this.#nextId = this.#nextId === 0xffffffff ? 1 : this.#nextId + 1;
    return id;
  }

  #queue(id: number, op: number, bytes: Uint8Array | undefined): void {
    if (this.#overflow.length === 0 && this.#requests.writeEncoded(id, op, bytes)) return;
    this.#overflow.push({ id, op, bytes });
  }

  #flush(): void {
    const overflow = this.#overflow;
    let sent = 0;
    while (sent < overflow.length) {
      const record = overflow[sent]!;
      if (!this.#requests.writeEncoded(record.id, record.op, record.bytes)) break;
      sent++;
    }
    if (sent > 0) overflow.splice(0, sent);
  }

  /** Starts the response loop unless it runs; deferred so a burst of calls is written first. */
  #pump(): void {
    if (this.#pumping) return;
    this.#pumping = true;
    queueMicrotask(() => {
      this.#pumpLoop().catch((error) => {
        this.#die(
          new HotswapError("E_WORKER", `${this.#what()}: the response loop failed: ${describeThrown(error)}`),
        );
      });
    });
  }

  async #pumpLoop(): Promise<void> {
    const ring = this.#responses;
    try {
      while (this.#pending.size > 0 && this.#dead === undefined) {
        if (this.#overflow.length > 0) this.#flush();
        if (ring.available) {
          this.#drain(ring);
          continue;
        }
        // Records waiting for room mean a burst in progress: spin longer, as
        // sleeping would leave the worker idle until the host wakes.
        if (ring.spin(this.#overflow.length > 0 ? HOST_SPIN_CHECKS * 20 : HOST_SPIN_CHECKS)) continue;
        // With records waiting for room, wake every millisecond to see whether the worker made some.
        const sleep = ring.sleep(this.#overflow.length > 0 ? 1 : undefined);
        if (sleep !== undefined) await sleep;
      }
    } finally {
      this.#pumping = false;
    }
  }

  /**
   * Takes the answers waiting in the response ring: at most one ring's worth
   * per pass, so a worker that keeps forging its head cannot keep the host
   * in this loop, and only answers to calls the host made.
   */
  #drain(ring: RingReader): void {
    const backlog = ring.backlog();
    if (backlog < 0 || backlog > SLOT_COUNT) {
      this.#violation(
        `moved its response ring ${backlog} records ahead of the host, which no honest writer can`,
      );
      return;
    }
    for (let taken = 0; taken < backlog && this.#dead === undefined; taken++) {
      const id = ring.id();
      let value: unknown;
      try {
        value = ring.payload();
      } catch (error) {
        this.#violation(`wrote a response record the host cannot decode (${describeThrown(error)})`);
        return;
      }
      ring.advance();
      const pending = this.#answerable(id, "reply", "a response record");
      if (pending === undefined) continue;
      pending.resolve(value === NO_PAYLOAD ? undefined : value);
    }
  }

  /**
   * The request a reply answers, removed from the waiting ones; `undefined`
   * for a late answer to a timed-out call (dropped) and for anything else,
   * which is a violation that ends the worker.
   */
  #answerable(id: number, kind: Pending["kind"] | "reply", what: string): Pending | undefined {
    const pending = this.#pending.get(id);
    if (pending === undefined) {
      if (!this.#abandoned.delete(id)) {
        this.#violation(`sent ${what} for call ${id}, which nobody is waiting for`);
      }
      return undefined;
    }
    if (kind === "reply" ? pending.kind === "load" : pending.kind !== kind) {
      this.#violation(`sent ${what} for request ${id}, which asked for something else`);
      return undefined;
    }
    this.#pending.delete(id);
    clearTimeout(pending.timer);
    return pending;
  }

  /** A call ran past callTimeout: its caller stops waiting; the worker's late answer is dropped. */
  #timeOut(id: number): void {
    const pending = this.#pending.get(id);
    if (pending === undefined) return;
    this.#pending.delete(id);
    if (this.#abandoned.size < MAX_ABANDONED_IDS) this.#abandoned.add(id);
    pending.reject(
      new HotswapError(
        "E_TIMEOUT",
        `${this.#what()} did not answer a call within callTimeout (${this.#callTimeout} ms); the worker goes on (Deno cannot stop a synchronous loop in it); make the call return sooner, or raise callTimeout`,
        { path: this.#entry || undefined },
      ),
    );
  }

  /** Ends a worker that broke the protocol; nothing it sent is trusted. */
  #violation(what: string): void {
    this.#die(
      new HotswapError(
        "E_WORKER",
        `${this.#what()} ${what}: the generation broke the runtime's protocol (forged or corrupt messages), so its worker was terminated; calls on it reject until a swap or rollback replaces it`,
        { path: this.#entry || undefined },
      ),
    );
  }

  #receive(data: unknown): void {
    if (this.#dead !== undefined) return;
    const checked = checkWorkerMessage(data);
    if (!checked.ok) {
      this.#violation(`sent ${checked.problem}`);
      return;
    }
    const message = checked.message;
    switch (message.t) {
      case "ready":
        if (this.#readySeen) {
          this.#violation("said it was ready twice");
          return;
        }
        this.#readySeen = true;
        this.#ready.resolve();
        return;
      case "loaded":
        this.#answerable(message.id, "load", "a loaded reply")?.resolve(message);
        return;
      case "result":
        this.#answerable(message.id, "reply", "a result")?.resolve(message.value);
        return;
      case "error":
        this.#settle(message.id, message.error);
        return;
      case "exit":
        this.#die(
          new HotswapError(
            "E_WORKER",
            `${this.#what()} ended itself with ${message.how}; calls still running there are lost; swap in a generation that does not end its worker`,
            { path: this.#entry || undefined },
          ),
        );
        return;
    }
  }

  /** Rejects the request an error record answers, with the error rebuilt in this realm. */
  #settle(id: number, fields: SerializedError): void {
    const pending = this.#answerable(id, this.#pending.get(id)?.kind ?? "call", "an error");
    if (pending === undefined) return;
    let error: Error;
    try {
      error = rebuildError(fields);
    } catch (failure) {
      this.#violation(`sent an error record the host cannot rebuild (${describeThrown(failure)})`);
      pending.reject(this.#dead);
      return;
    }
    pending.reject(error);
  }

  #die(reason: HotswapError): void {
    if (this.#dead !== undefined) return;
    this.#dead = reason;
    // Messages the worker queued before it ended are never read.
    this.#worker.onmessage = null;
    this.#worker.terminate();
    this.#onEnd();
    this.#ready.reject(reason);
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    this.#abandoned.clear();
    this.#overflow.length = 0;
    for (const call of pending) {
      clearTimeout(call.timer);
      call.reject(reason);
    }
    // The response loop may sleep on the ring: wake it so it sees the end.
    this.#responses.wake();
  }

  #crashError(message: string): HotswapError {
    const path = this.#entry || undefined;
    if (this.#entry === "" && /Requires read access/.test(message)) {
      return new HotswapError(
        "E_PERMISSION",
        `Cannot start a generation worker: ${message}; grant the host read access to the runtime's own files (--allow-read=${
          fileURLToPath(new URL(".", WORKER_MAIN))
        })`,
        { path },
      );
    }
    return new HotswapError(
      "E_WORKER",
      `${this.#what()} crashed: ${message}; calls running there were rejected, and later calls are too until a swap or rollback replaces it`,
      { path },
    );
  }

  #what(): string {
    return this.#entry === "" ? "A standby generation worker" : `The worker of "${this.#entry}"`;
  }
}

function contractFields<T>(contract: Contract<T>): Extract<HostMessage, { t: "load" }>["contract"] {
  return { name: contract.name, version: contract.version, symbol: contract.symbol, shape: contract.shape };
}
