/**
 * Worker isolation: each generation runs in its own Deno Worker with only
 * the permissions it is granted, and retiring it terminates the worker, so
 * its memory comes back (SPEC 6.4).
 *
 * The host sees a handle rebuilt from the worker's description of it:
 * function members become functions returning promises, data members are
 * copied once at load. Calls travel through a shared-memory ring
 * (`_rpc_channel.ts`) when their arguments and results are small plain data,
 * and by `postMessage` otherwise. A warm standby worker per permission set
 * is kept while generations use it, so a swap does not wait for a worker to
 * start.
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import type { Contract } from "./contract.ts";
import { ContractError } from "./contract.ts";
import { describeThrown, HotswapError } from "./errors.ts";
import type { GenerationRuntime } from "./generation.ts";
import type { Loader, LoadRequest } from "./loader.ts";
import type { MintedSnapshot, Snapshot } from "./snapshot.ts";
import {
  type HostMessage,
  type MemberDescriptor,
  rebuildError,
  type SerializedError,
  type WorkerMessage,
} from "./_protocol.ts";
import { createChannelBuffer, NO_PAYLOAD, OP_MESSAGE, RingReader, RingWriter } from "./_rpc_channel.ts";
import { checkWorkerOptionsFlag } from "./_worker_flag.ts";

/**
 * Deno permissions a worker generation runs with. Every kind left out is
 * denied (Deno itself would let an omitted kind inherit the host's).
 */
export type WorkerPermissions = Deno.PermissionOptionsObject;

const WORKER_MAIN = new URL("./_worker_main.ts", import.meta.url);

/**
 * Response checks the host makes before it sleeps: a worker answering a
 * small call within a few microseconds is caught without a thread wake-up.
 * Kept short because it blocks the host's event loop while it lasts.
 */
const HOST_SPIN_CHECKS = 1_000;

/** Permission kinds a worker is denied unless `permissions` grants them. */
const KINDS = ["env", "ffi", "import", "net", "read", "run", "sys", "write"] as const;

/**
 * Loads each generation in a dedicated Worker whose permissions are exactly
 * `permissions` (default: none; the snapshot itself is imported from
 * `blob:` URLs, which need no read permission). Keeps one warm standby
 * worker between loads, so a swap does not wait for a worker to start;
 * disposing the loader terminates it.
 */
export class WorkerLoader implements Loader {
  /** Said of a load abandoned at its deadline. */
  readonly abandoned =
    "the worker was terminated (but Deno cannot stop a synchronous loop: such a thread keeps a core busy until the process exits)";
  readonly #permissions: WorkerPermissions | undefined;
  readonly #pool = new WorkerPool();

  /**
   * @param permissions What generations may do; kinds left out are denied.
   */
  constructor(permissions: WorkerPermissions | undefined) {
    this.#permissions = permissions;
  }

  /** Generation workers alive now, the standby included. */
  get live(): number {
    return this.#pool.live;
  }

  /** Resolves once the standby being started, if any, is ready or dead. */
  ready(): Promise<void> {
    return this.#pool.ready();
  }

  /**
   * Loads a generation in its own worker.
   *
   * @throws {HotswapError} `E_UNSUPPORTED` without `--unstable-worker-options`;
   *   `E_PERMISSION` when the host cannot start the worker or grant the
   *   permissions; `E_IMPORT`, `E_SYMBOL`, `E_INIT` or `E_CONTRACT` as inline
   *   loading does; `E_WORKER` when the worker dies while loading.
   */
  async load<T>(request: LoadRequest<T>, signal: AbortSignal): Promise<GenerationRuntime<T>> {
    const { snapshot, context } = request;
    const flag = await checkWorkerOptionsFlag();
    if (!flag.enabled) {
      throw new HotswapError(
        "E_UNSUPPORTED",
        `Cannot run "${snapshot.entry}" in a worker: giving a worker its own permissions needs Deno's --unstable-worker-options flag (without it Deno ends the process), and ${flag.evidence}; ${flag.fix}`,
        { path: snapshot.entry },
      );
    }
    assertWorkerEntryReadable(snapshot.entry);
    const granted = grantedPermissions(this.#permissions);
    const minted = snapshot.mint();
    const pool = this.#pool;
    let worker: WorkerHost | undefined;
    const refuse = (failure: HotswapError) => {
      worker?.terminate(failure);
      minted.revoke();
      // The failed load used up the standby; the generation still serving may swap again.
      pool.refillSoon(granted);
      return failure;
    };
    // Abandoned at the deadline: the worker, whatever it is doing, must not live on.
    const abandon = () => worker?.terminate(loadAbandoned(snapshot));
    signal.addEventListener("abort", abandon, { once: true });
    let loaded: Loaded;
    try {
      worker = await pool.take(granted, snapshot.entry);
      signal.throwIfAborted();
      loaded = await worker.load(request, minted);
    } catch (error) {
      throw refuse(signal.aborted ? loadAbandoned(snapshot) : loadFailure(error, snapshot));
    } finally {
      signal.removeEventListener("abort", abandon);
    }
    const host = worker;
    const { handle: description, hooks } = loaded;
    const handle = buildHandle(description, host) as T;
    const problems = request.contract.check(handle);
    if (problems.length > 0) {
      throw refuse(
        new ContractError(
          `Cannot accept "${snapshot.entry}": its handle, as rebuilt in the host, does not match contract ${request.contract.name}@${request.contract.version}: ${
            problems.join("; ")
          }; make the handle match the contract`,
          problems,
          { path: snapshot.entry },
        ),
      );
    }
    pool.refillSoon(granted);
    const forwardAbort = () => {
      const reason: unknown = context.signal.reason;
      host.abort(reason instanceof Error ? reason.message : String(reason));
    };
    context.signal.addEventListener("abort", forwardAbort, { once: true });
    let unloaded = false;
    return {
      handle,
      handoff: () => {
        // A dead worker has no state left to hand over; refusing would make it impossible to swap out.
        if (!hooks.handoff || host.dead) return Promise.resolve(undefined);
        return host.hook("handoff");
      },
      dispose: async () => {
        if (hooks.dispose && !host.dead) await host.hook("dispose");
      },
      unload: () => {
        if (unloaded) return;
        unloaded = true;
        context.signal.removeEventListener("abort", forwardAbort);
        host.terminate(
          new HotswapError(
            "E_WORKER",
            `Cannot finish a call on generation ${context.generation} ("${snapshot.entry}"): its worker was terminated when the generation was unloaded; return the call's promise from with() so the drain waits for it, or raise drainTimeout`,
            { path: snapshot.entry },
          ),
        );
        minted.revoke();
      },
    };
  }

  /** Terminates the standby. Generations keep their workers until they are unloaded. */
  [Symbol.asyncDispose](): Promise<void> {
    this.#pool.close();
    return Promise.resolve();
  }
}

/** What the worker reports once the handle is verified. */
type Loaded = Extract<WorkerMessage, { t: "loaded" }>;

interface Pending {
  resolve(value: unknown): void;
  reject(reason: unknown): void;
}

/**
 * One worker and its channel: call bookkeeping, ordering of messages among
 * ring records, and turning every way a worker can end into rejections.
 */
class WorkerHost {
  readonly #worker: Worker;
  readonly #requests: RingWriter;
  readonly #responses: RingReader;
  readonly #pending = new Map<number, Pending>();
  /** Records waiting for room in the request ring, in call order; `bytes` undefined for a marker. */
  readonly #overflow: { id: number; op: number; bytes: Uint8Array | undefined }[] = [];
  readonly #ready = Promise.withResolvers<void>();
  #nextId = 1;
  #pumping = false;
  #dead: HotswapError | undefined;
  /** The entry of the generation it runs, for messages; empty while a standby. */
  #entry = "";
  /** Tells the pool this worker is gone. */
  readonly #onEnd: () => void;

  private constructor(worker: Worker, buffer: SharedArrayBuffer, onEnd: () => void) {
    this.#worker = worker;
    this.#onEnd = onEnd;
    this.#requests = new RingWriter(buffer, "request");
    this.#responses = new RingReader(buffer, "response");
    // Observed here so a worker that dies before anyone awaits it is no unhandled rejection.
    this.#ready.promise.catch(() => {});
    worker.onmessage = (event: MessageEvent<WorkerMessage>) => this.#receive(event.data);
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
   * @throws {HotswapError} `E_PERMISSION` when the host cannot grant them.
   */
  static spawn(permissions: Deno.PermissionOptionsObject, entry: string, onEnd: () => void): WorkerHost {
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
    return new WorkerHost(worker, createChannelBuffer(), onEnd);
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
    return this.#send((id) => ({
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
    this.#pending.set(id, { resolve, reject });
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
    return this.#send((id) => ({ t: "hook", id, name }));
  }

  /** Aborts the generation's signal in the worker. */
  abort(reason: string): void {
    if (this.#dead !== undefined) return;
    this.#send((id) => ({ t: "abort", id, reason })).catch(() => {});
  }

  /** Terminates the worker; pending calls reject with `reason`. Idempotent. */
  terminate(reason: HotswapError): void {
    this.#die(reason);
  }

  /** Posts a control message in order among the calls; settles with the worker's answer. */
  #send(build: (id: number) => HostMessage): Promise<unknown> {
    if (this.#dead !== undefined) return Promise.reject(this.#dead);
    const id = this.#id();
    const { promise, resolve, reject } = Promise.withResolvers<unknown>();
    this.#pending.set(id, { resolve, reject });
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

  #drain(ring: RingReader): void {
    while (ring.available) {
      const id = ring.id();
      const value = ring.payload();
      ring.advance();
      const pending = this.#pending.get(id);
      if (pending === undefined) continue;
      this.#pending.delete(id);
      pending.resolve(value === NO_PAYLOAD ? undefined : value);
    }
  }

  #receive(message: WorkerMessage): void {
    switch (message.t) {
      case "ready":
        this.#ready.resolve();
        return;
      case "loaded":
        this.#settle(message.id, message, undefined);
        return;
      case "result":
        this.#settle(message.id, message.value, undefined);
        return;
      case "error":
        this.#settle(message.id, undefined, message.error);
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

  #settle(id: number, value: unknown, error: SerializedError | undefined): void {
    const pending = this.#pending.get(id);
    if (pending === undefined) return;
    this.#pending.delete(id);
    if (error === undefined) pending.resolve(value);
    else pending.reject(rebuildError(error));
  }

  #die(reason: HotswapError): void {
    if (this.#dead !== undefined) return;
    this.#dead = reason;
    this.#worker.terminate();
    this.#onEnd();
    this.#ready.reject(reason);
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    this.#overflow.length = 0;
    for (const call of pending) call.reject(reason);
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

/**
 * The workers of one loader: a count of those alive, and one warm standby
 * for the next load. A standby is started for the permission set of the
 * last load (a loader's permissions do not change between loads).
 */
class WorkerPool {
  #live = 0;
  #closed = false;
  /** The warm worker, possibly still starting, with the permissions it was started with. */
  #standby: { readonly host: WorkerHost; readonly key: string } | undefined;
  #refill: ReturnType<typeof setTimeout> | undefined;

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
    const host = WorkerHost.spawn(permissions, entry, () => this.#live--);
    this.#live++;
    return host;
  }
}

/** Rebuilds the handle in the host from the worker's description. */
function buildHandle(descriptor: MemberDescriptor, host: WorkerHost): unknown {
  switch (descriptor.kind) {
    case "value":
      return descriptor.value;
    case "function": {
      const member = descriptor.index;
      return (...args: unknown[]): Promise<unknown> => host.call(member, args);
    }
    case "object": {
      const object: Record<string, unknown> = {};
      for (const [key, member] of Object.entries(descriptor.members)) {
        const value = buildHandle(member, host);
        if (typeof value === "function") Object.defineProperty(value, "name", { value: key });
        // defineProperty, as "__proto__" must stay an own property.
        Object.defineProperty(object, key, { value, enumerable: true, writable: true, configurable: true });
      }
      return object;
    }
  }
}

/** The full permission set of a worker: kinds left out are denied, never inherited. */
function grantedPermissions(permissions: WorkerPermissions | undefined): Deno.PermissionOptionsObject {
  if (permissions !== undefined && (typeof permissions !== "object" || permissions === null)) {
    throw new TypeError(
      `Cannot start a worker: permissions must be an object such as { net: ["127.0.0.1"] }, got ${
        JSON.stringify(permissions)
      }`,
    );
  }
  for (const kind of Object.keys(permissions ?? {})) {
    if (!(KINDS as readonly string[]).includes(kind)) {
      throw new TypeError(
        `Cannot start a worker: ${JSON.stringify(kind)} is not a permission kind; use ${KINDS.join(", ")}`,
      );
    }
  }
  const granted: Record<string, unknown> = {};
  for (const kind of KINDS) granted[kind] = permissions?.[kind] ?? false;
  return granted as Deno.PermissionOptionsObject;
}

/** The worker's own code must be readable by the host, or the worker dies before it starts. */
function assertWorkerEntryReadable(entry: string): void {
  if (WORKER_MAIN.protocol !== "file:") return;
  const directory = fileURLToPath(new URL(".", WORKER_MAIN));
  if (Deno.permissions.querySync({ name: "read", path: directory }).state === "granted") return;
  throw new HotswapError(
    "E_PERMISSION",
    `Cannot run "${entry}" in a worker: the host cannot read the runtime's worker code in "${directory}"; add --allow-read=${directory}`,
    { path: entry },
  );
}

function contractFields<T>(contract: Contract<T>): Extract<HostMessage, { t: "load" }>["contract"] {
  return { name: contract.name, version: contract.version, symbol: contract.symbol, shape: contract.shape };
}

function loadFailure(reason: unknown, snapshot: Snapshot): HotswapError {
  if (reason instanceof HotswapError) return reason;
  return new HotswapError(
    "E_INIT",
    `Cannot initialise "${snapshot.entry}" in its worker: ${describeThrown(reason)}; fix the module's handle`,
    { path: snapshot.entry, cause: reason },
  );
}

function loadAbandoned(snapshot: Snapshot): HotswapError {
  return new HotswapError("E_WORKER", `The load of "${snapshot.entry}" was abandoned`, {
    path: snapshot.entry,
  });
}
