/**
 * Process isolation, the security boundary (SPEC 6.5): each generation runs
 * in a child `deno run` whose permissions are exactly the generation's, with
 * a V8 heap cap and a resident-memory watchdog from `memoryLimit`, its own
 * working directory, and stdin and stdout used only as the runtime's framed
 * channel. The snapshot travels over that channel and is minted into
 * `blob:` URLs in the child. A process that crashes, exits, runs out of
 * memory or overruns `callTimeout` is SIGKILLed, which stops even a
 * synchronous loop, and a serving generation is restarted from the same
 * snapshot. A warm standby process keeps swaps from waiting for a spawn.
 *
 * @module
 */

import { ContractError } from "./contract.ts";
import { contractAdvice } from "./handle.ts";
import { describeThrown, HotswapError } from "./errors.ts";
import type { GenerationRuntime } from "./generation.ts";
import type { Loader, LoadRequest } from "./loader.ts";
import type { WorkerPermissions } from "./options.ts";
import type { Snapshot } from "./snapshot.ts";
import { assertCanSpawn, permissionFlags, processCommand } from "./_process_command.ts";
import { ProcessGeneration } from "./_process_generation.ts";
import type { GenerationProcess, ProcessLoaded } from "./_process_host.ts";
import { ProcessPool } from "./_process_pool.ts";
import type { LoadPayload } from "./_process_protocol.ts";

/** The options of a {@linkcode ProcessLoader}, as resolved by `registerHotswap`. */
export interface ProcessLoaderOptions {
  /** What generations may do; kinds left out are denied. */
  readonly permissions: WorkerPermissions | undefined;
  /** MiB a generation may use. */
  readonly memoryLimit: number;
  /** Milliseconds a call may take, or `undefined` for no limit. */
  readonly callTimeout: number | undefined;
  /** Restarts of a serving generation allowed per minute. */
  readonly maxRestarts: number;
  /** Milliseconds a restart's load may take. */
  readonly loadTimeout: number;
}

/**
 * Loads each generation in its own `deno` process. Keeps one warm standby
 * process between loads; disposing the loader kills it and waits until
 * every process it started has exited.
 */
export class ProcessLoader implements Loader {
  /** Closing ends a load in progress: its process is killed. */
  readonly endsOnAbort = true;
  /** Said of a load abandoned at its deadline. */
  readonly abandoned = "its process was killed";
  readonly #options: ProcessLoaderOptions;
  readonly #pool: ProcessPool;
  /** The permission flags, checked at the first load (a loader's permissions never change). */
  #flags: string[] | undefined;

  /** @param options Permissions, limits and the restart policy. */
  constructor(options: ProcessLoaderOptions) {
    this.#options = options;
    this.#pool = new ProcessPool(
      () => processCommand(this.#flags!, options.memoryLimit),
      options.memoryLimit * 1024 * 1024,
      options.callTimeout,
    );
  }

  /** Generation processes alive now, the standby included. */
  get live(): number {
    return this.#pool.live;
  }

  /** Resolves once the standby being started, if any, is ready or dead. */
  ready(): Promise<void> {
    return this.#pool.ready();
  }

  /**
   * Loads a generation in its own process.
   *
   * @throws {HotswapError} `E_PERMISSION` when the host may not run Deno or
   *   lacks a permission it grants; `E_IMPORT`, `E_SYMBOL`, `E_INIT` or
   *   `E_CONTRACT` as inline loading does; `E_WORKER` when the process dies
   *   while loading.
   * @throws {TypeError} Malformed `permissions`.
   */
  async load<T>(request: LoadRequest<T>, signal: AbortSignal): Promise<GenerationRuntime<T>> {
    const { contract, snapshot, context } = request;
    assertCanSpawn(snapshot.entry);
    this.#flags ??= permissionFlags(this.#options.permissions, snapshot.entry);
    const pool = this.#pool;
    const payload: LoadPayload = {
      entry: snapshot.entry,
      modules: snapshot.modules.map((
        { path, source, mediaType, imports, exportsThen, importMeta, computedImports },
      ) => ({
        path,
        source,
        mediaType,
        exportsThen,
        importMeta,
        computedImports,
        // An undefined `module` is left out, so the payload stays plain JSON.
        imports: imports.map(({ start, end, quoted, module }) =>
          module === undefined ? { start, end, quoted } : { start, end, quoted, module }
        ),
      })),
      contract: {
        name: contract.name,
        version: contract.version,
        symbol: contract.symbol,
        shape: contract.shape,
      },
      generation: context.generation,
      digest: context.digest,
      previous: context.previous,
    };
    let process: GenerationProcess | undefined;
    // Ended, not killed: the process ends what the generation spawned (see GenerationProcess.end).
    const refuse = (failure: HotswapError) => {
      process?.end(failure);
      // The failed load used up the standby; the generation still serving may swap again.
      pool.refillSoon();
      return failure;
    };
    // Abandoned at the deadline: the process, whatever it is doing, must not live on.
    const abandon = () => process?.end(loadAbandoned(snapshot));
    signal.addEventListener("abort", abandon, { once: true });
    let loaded: ProcessLoaded;
    try {
      process = await pool.take();
      signal.throwIfAborted();
      loaded = await process.load(payload);
    } catch (error) {
      throw refuse(signal.aborted ? loadAbandoned(snapshot) : loadFailure(error, snapshot));
    } finally {
      signal.removeEventListener("abort", abandon);
    }
    const runtime = new ProcessGeneration<T>(process, {
      pool,
      payload,
      descriptor: loaded.handle,
      hooks: loaded.hooks,
      maxRestarts: this.#options.maxRestarts,
      loadTimeout: this.#options.loadTimeout,
      callTimeout: this.#options.callTimeout,
      onRestart: request.onRestart,
      signal: context.signal,
    });
    const problems = contract.check(runtime.handle);
    if (problems.length > 0) {
      runtime.unload();
      throw refuse(
        new ContractError(
          `Cannot accept "${snapshot.entry}": its handle, as rebuilt in the host, does not match contract ${contract.name}@${contract.version}: ${
            problems.join("; ")
          }; ${contractAdvice(contract, problems)}`,
          problems,
          { path: snapshot.entry },
        ),
      );
    }
    pool.refillSoon();
    return runtime;
  }

  /** Kills the standby and waits until every process this loader started has exited. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.#pool.close();
  }
}

function loadFailure(reason: unknown, snapshot: Snapshot): HotswapError {
  if (reason instanceof HotswapError) return reason;
  return new HotswapError(
    "E_WORKER",
    `Cannot start a process for "${snapshot.entry}": ${describeThrown(reason)}`,
    { path: snapshot.entry, cause: reason },
  );
}

function loadAbandoned(snapshot: Snapshot): HotswapError {
  return new HotswapError("E_WORKER", `The load of "${snapshot.entry}" was abandoned`, {
    path: snapshot.entry,
  });
}
