/**
 * One generation worker: starting it, the messages it posts, and every way
 * a worker can end turned into rejections. The rings are read and written
 * by `_worker_channel.ts`; which requests wait for which answer is kept by
 * `_pending_calls.ts` (shared with process isolation).
 *
 * Everything the worker sends is input from an adversary (SPEC 6.4): each
 * message is validated before a field is read, a reply nobody waits for is
 * a violation, and any violation terminates that worker with `E_WORKER`
 * rather than throw, hang or grow in the host.
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import type { Contract } from "./contract.ts";
import { describeThrown, HotswapError } from "./errors.ts";
import { missingGrants } from "./_host_grants.ts";
import { decodeValue } from "./_codec.ts";
import type { LoadRequest } from "./loader.ts";
import type { MintedSnapshot } from "./snapshot.ts";
import { type Pending, PendingCalls, type RequestKind } from "./_pending_calls.ts";
import { type HostMessage, MAX_WORKER_RESULT, type WorkerMessage } from "./_protocol.ts";
import { createChannelBuffer } from "./_rpc_channel.ts";
import { type IdentifiedMessage, WorkerChannel } from "./_worker_channel.ts";
import { checkWorkerMessage, cut, ProtocolViolation } from "./_worker_messages.ts";

/** The program a generation worker runs; resolved when needed (see `processMain` in `_process_command.ts`). */
export const workerMain = (): URL => new URL("./_worker_main.ts", import.meta.url);

/** What the worker reports once the handle is verified. */
export type Loaded = Extract<WorkerMessage, { t: "loaded" }>;

/**
 * One worker and its channel.
 */
export class WorkerHost {
  readonly #worker: Worker;
  readonly #calls: PendingCalls;
  readonly #channel: WorkerChannel;
  readonly #ready = Promise.withResolvers<void>();
  #readySeen = false;
  readonly #callTimeout: number | undefined;
  #dead: HotswapError | undefined;
  /** The entry of the generation it runs, for messages; empty while a standby. */
  #entry = "";
  /** The loaded generation's names of its minted URLs, to name files in a crash. */
  #unblob: (text: string) => string = (text) => text;
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
    this.#calls = new PendingCalls(callTimeout, (call) => this.#timeOut(call));
    this.#channel = new WorkerChannel(buffer, {
      calls: this.#calls,
      post: (message) => worker.postMessage(message),
      violation: (what) => this.#violation(what),
      failed: (error) => {
        this.#die(
          new HotswapError("E_WORKER", `${this.#what()}: the response loop failed: ${describeThrown(error)}`),
        );
      },
    });
    // Observed here so a worker that dies before anyone awaits it is no unhandled rejection.
    this.#ready.promise.catch(() => {});
    worker.onmessage = (event: MessageEvent<unknown>) => this.#receive(event.data);
    worker.onerror = (event: ErrorEvent) => {
      // Without preventDefault Deno rethrows a worker's uncaught error in the host and ends it.
      event.preventDefault();
      // The error object stays in the worker: its message and where it was thrown are what cross.
      const where = typeof event.filename === "string" && event.filename !== ""
        ? this.#unblob(`${event.filename}:${event.lineno}:${event.colno}`)
        : undefined;
      // Cut as every text from the worker is: a rejection with a 256 MiB reason makes a message that long.
      this.#die(this.#crashError(cut(String(event.message)), where === undefined ? undefined : cut(where)));
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
      worker = new Worker(workerMain(), {
        type: "module",
        name: "hotswap generation",
        deno: { permissions },
      });
    } catch (error) {
      // The flags to add, as process isolation names them; the whole set only when none is found missing.
      const missing = missingGrants(permissions);
      throw new HotswapError(
        "E_PERMISSION",
        missing.length > 0
          ? `Cannot start a worker for "${entry}": it is to be granted ${
            missing.join(" ")
          }, which the host does not hold itself, and a worker can only receive permissions the host has; add ${
            missing.join(" ")
          } to the host, or narrow "permissions"`
          : `Cannot start a worker for "${entry}" with permissions ${JSON.stringify(permissions)}: ${
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
    this.#unblob = minted.unblob;
    return this.#send("load", (id) => ({
      t: "load",
      id,
      url: minted.url,
      thenable: minted.thenable,
      entry: snapshot.entry,
      files: [...minted.files],
      shifts: [...minted.shifts],
      externals: snapshot.modules.some((module) =>
        module.externals === undefined || module.externals.length > 0
      ),
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
    const call = Promise.withResolvers<unknown>();
    const id = this.#calls.open("call", call);
    try {
      this.#channel.call(id, member, args);
    } catch (error) {
      // Arguments that cannot be cloned: fail like postMessage, before anything is sent.
      this.#calls.cancel(id);
      return Promise.reject(error);
    }
    return call.promise;
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
  #send(kind: Exclude<RequestKind, "call">, build: (id: number) => IdentifiedMessage): Promise<unknown> {
    if (this.#dead !== undefined) return Promise.reject(this.#dead);
    const request = Promise.withResolvers<unknown>();
    const id = this.#calls.open(kind, request);
    try {
      this.#channel.send(build(id));
    } catch (error) {
      this.#calls.cancel(id);
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
    return request.promise;
  }

  /** A call ran past callTimeout: its caller stops waiting; the worker's late answer is dropped. */
  #timeOut(call: Pending): void {
    call.reject(
      new HotswapError(
        "E_TIMEOUT",
        `${this.#what()} did not answer a call within callTimeout (${this.#callTimeout} ms); the call may still be running there, and the worker goes on serving (the call is not stopped: a promise that never settles stays pending, and Deno cannot stop a synchronous loop); make the call return sooner, or raise callTimeout`,
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
    let posted = data;
    try {
      posted = decodeLoaded(data);
    } catch (error) {
      this.#violation(`sent ${error instanceof ProtocolViolation ? error.message : describeThrown(error)}`);
      return;
    }
    const checked = checkWorkerMessage(posted);
    if (!checked.ok) {
      this.#violation(`sent ${checked.problem}`);
      return;
    }
    try {
      this.#handle(checked.message);
    } catch (error) {
      if (!(error instanceof ProtocolViolation)) throw error;
      this.#violation(`sent ${error.message}`);
    }
  }

  #handle(message: WorkerMessage): void {
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
        this.#calls.take(message.id, "loaded", "a loaded reply")?.resolve(message);
        return;
      case "result": {
        let value: unknown;
        try {
          value = decodeValue(message.encoded);
        } catch (error) {
          throw new ProtocolViolation(`a result that does not decode (${describeThrown(error)})`);
        }
        this.#calls.resolve(message.id, value, "a result");
        return;
      }
      case "error":
        this.#calls.reject(message.id, message.error);
        return;
      case "crash":
        this.#die(this.#crashError(message.what, message.where));
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

  #die(reason: HotswapError): void {
    if (this.#dead !== undefined) return;
    this.#dead = reason;
    // Messages the worker queued before it ended are never read.
    this.#worker.onmessage = null;
    this.#worker.terminate();
    this.#onEnd();
    this.#ready.reject(reason);
    this.#calls.rejectAll(reason);
    this.#channel.close();
  }

  #crashError(message: string, where?: string): HotswapError {
    const path = this.#entry || undefined;
    if (this.#entry === "" && /Requires read access/.test(message)) {
      return new HotswapError(
        "E_PERMISSION",
        `Cannot start a generation worker: ${message}; grant the host read access to the runtime's own files (--allow-read=${
          fileURLToPath(new URL(".", workerMain()))
        })`,
        { path },
      );
    }
    // As text, since the value cannot cross (SPEC 5): the worker's error, with where it was thrown.
    const cause = new Error(message);
    cause.stack = where === undefined ? message : `${message}\n    at ${where}`;
    return new HotswapError(
      "E_WORKER",
      `${this.#what()} crashed: ${message}${
        where === undefined ? "" : ` at ${where}`
      }; calls running there were rejected, and later calls are too until a swap or rollback replaces it`,
      { path, cause },
    );
  }

  #what(): string {
    return this.#entry === "" ? "A standby generation worker" : `The worker of "${this.#entry}"`;
  }
}

/**
 * A loaded reply as posted, its description decoded from the codec's text
 * (see `PostedWorkerMessage`); any other message as it is.
 *
 * @throws {ProtocolViolation} When the text is not there, too long, or not the codec's.
 */
function decodeLoaded(data: unknown): unknown {
  if (typeof data !== "object" || data === null || (data as { t?: unknown }).t !== "loaded") return data;
  const { id, encoded } = data as { id?: unknown; encoded?: unknown };
  if (typeof encoded !== "string" || encoded.length > MAX_WORKER_RESULT) {
    throw new ProtocolViolation(
      "a loaded reply whose description is not encoded text within the channel's limit",
    );
  }
  let payload: unknown;
  try {
    payload = decodeValue(encoded);
  } catch (error) {
    throw new ProtocolViolation(
      `a loaded reply whose description does not decode (${describeThrown(error)})`,
    );
  }
  const { handle, hooks } = (typeof payload === "object" && payload !== null ? payload : {}) as Record<
    string,
    unknown
  >;
  return { t: "loaded", id, handle, hooks };
}

function contractFields<T>(contract: Contract<T>): Extract<HostMessage, { t: "load" }>["contract"] {
  return { name: contract.name, version: contract.version, symbol: contract.symbol, shape: contract.shape };
}
