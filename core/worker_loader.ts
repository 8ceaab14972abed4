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
import { ContractError } from "./contract.ts";
import { contractAdvice } from "./handle.ts";
import { describeThrown, HotswapError } from "./errors.ts";
import type { GenerationRuntime } from "./generation.ts";
import type { Loader, LoadRequest } from "./loader.ts";
import type { WorkerPermissions } from "./options.ts";
import type { Snapshot } from "./snapshot.ts";
import { checkWorkerOptionsFlag } from "./_worker_flag.ts";
import { type Loaded, type WorkerHost, workerMain } from "./_worker_host.ts";
import { IMPORT_GUARD, processWideImport } from "./_worker_lockdown.ts";
import { WorkerPool } from "./_worker_pool.ts";
import { buildRemoteHandle, RemoteCalls } from "./_remote_handle.ts";

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
  /** Closing ends a load in progress: its worker is terminated. */
  readonly endsOnAbort = true;
  /** Said of a load abandoned at its deadline. */
  readonly abandoned =
    "the worker was terminated (but Deno cannot stop a synchronous loop: such a thread keeps a core busy until the process exits)";
  readonly #permissions: WorkerPermissions | undefined;
  readonly #pool: WorkerPool;

  /**
   * @param permissions What generations may do; kinds left out are denied.
   * @param callTimeout Milliseconds a call may take before it rejects `E_TIMEOUT` (no limit when undefined).
   */
  constructor(permissions: WorkerPermissions | undefined, callTimeout: number | undefined) {
    this.#permissions = permissions;
    this.#pool = new WorkerPool(callTimeout);
  }

  /** Generation workers alive now, the standby included. */
  get live(): number {
    return this.#pool.live;
  }

  /** Resolves once the standby being started, if any, is ready or dead. */
  ready(): Promise<void> {
    return this.#pool.ready();
  }

  /** Starts the standby the next load takes (see {@linkcode Loader.boot}); never rejects. */
  async boot(): Promise<void> {
    // Without the flag, a worker given permissions ends the process; without read access to its
    // code, it dies at once: in both cases the load refuses instead, saying why.
    if (!(await checkWorkerOptionsFlag()).enabled) return;
    let granted;
    try {
      assertWorkerEntryReadable("");
      granted = grantedPermissions(this.#permissions);
    } catch {
      return;
    }
    await this.#pool.boot(granted);
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
    refuseProcessWideImports(snapshot, granted);
    // Computed imports go through the worker's guard (see _worker_lockdown.ts).
    const minted = snapshot.mint(IMPORT_GUARD);
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
    const calls = new RemoteCalls();
    const handle = buildRemoteHandle(
      description,
      calls.track((member, args) => host.call(member, args)),
    ) as T;
    const problems = request.contract.check(handle);
    if (problems.length > 0) {
      throw refuse(
        new ContractError(
          `Cannot accept "${snapshot.entry}": its handle, as rebuilt in the host, does not match contract ${request.contract.name}@${request.contract.version}: ${
            problems.join("; ")
          }; ${contractAdvice(request.contract, problems)}`,
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
      idle: () => calls.idle(),
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
            `Cannot finish a call on generation ${context.generation} ("${snapshot.entry}"): its worker was terminated when the generation was unloaded (drained, or past drainTimeout); make the call finish within drainTimeout or raise it, and return the call's promise from with(), so that the drain counts it`,
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

/**
 * Refuses a snapshot that imports, by name, an export of a Node built-in
 * that acts on the host process from a worker (see `_worker_lockdown.ts`):
 * such a binding is taken before the worker's lockdown can replace it.
 */
function refuseProcessWideImports(snapshot: Snapshot, granted: Deno.PermissionOptionsObject): void {
  for (const module of snapshot.modules) {
    const found = processWideImport(module.externals ?? [], granted.import === true);
    if (found === undefined) continue;
    throw new HotswapError(
      "E_IMPORT",
      found.startsWith("the inline module")
        ? `Cannot run "${snapshot.entry}" in a worker: "${module.path}" imports ${found}, whose own imports the runtime never sees (one could act on the host process, or make it fetch); put that code in a file of the generation, or grant every import (permissions.import: true)`
        : `Cannot run "${snapshot.entry}" in a worker: "${module.path}" imports ${found}, which would act on the host process from a worker (a worker shares it); import the module's default export, whose members the worker locks, or run the generation with isolation "process"`,
      { path: module.path },
    );
  }
}

/** The worker's own code must be readable by the host, or the worker dies before it starts. */
function assertWorkerEntryReadable(entry: string): void {
  const main = workerMain();
  if (main.protocol !== "file:") return;
  const directory = fileURLToPath(new URL(".", main));
  if (Deno.permissions.querySync({ name: "read", path: directory }).state === "granted") return;
  throw new HotswapError(
    "E_PERMISSION",
    `Cannot run "${entry}" in a worker: the host cannot read the runtime's worker code in "${directory}"; add --allow-read=${directory}`,
    { path: entry },
  );
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
