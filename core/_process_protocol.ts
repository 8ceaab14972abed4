/**
 * The messages between the host and a generation's process, as frame types
 * (see `_frames.ts`) and payloads. Values in payloads are written with
 * `_codec.ts`. Imported on both sides, so it imports nothing host-only.
 *
 * Host to process: `INIT` once, then `LOAD` once, then any number of `CALL`,
 * `HOOK`, `ABORT` and `PROBE`. Process to host: `READY` once, then one `LOADED`,
 * `RESULT` or `ERROR` per `LOAD`, `CALL` or `HOOK` (same id), and `LOG`
 * whenever the generation writes to its console.
 *
 * @module
 */

import type { MetaRange, MintSource } from "./_mint.ts";
import type { ContractFields } from "./_protocol.ts";

/** Payload: JSON {@linkcode InitPayload}. Starts the memory watchdog. */
export const INIT = 1;
/** Payload: {@linkcode LoadPayload}, encoded. Answered by `LOADED` or `ERROR`. */
export const LOAD = 2;
/** Argument: the function's index. Payload: the arguments array, encoded. */
export const CALL = 3;
/** Argument: {@linkcode HOOK_HANDOFF} or {@linkcode HOOK_DISPOSE}. Answered by `RESULT` or `ERROR`. */
export const HOOK = 4;
/** Payload: the reason, as text. Aborts the factory's signal; not answered. */
export const ABORT = 5;
/**
 * No payload. Answered at once by an empty `RESULT` (same id) from the
 * process's event loop: a process that does not answer is stuck in
 * synchronous code.
 */
export const PROBE = 6;

/** The process listens. No payload. */
export const READY = 16;
/** Payload: {@linkcode LoadedPayload}, encoded. */
export const LOADED = 17;
/** Payload: the value, encoded. */
export const RESULT = 18;
/** Payload: JSON `SerializedError`. */
export const ERROR = 19;
/** Argument: {@linkcode LOG_OUT} or {@linkcode LOG_ERR}. Payload: the formatted line, as text. */
export const LOG = 20;

export const HOOK_HANDOFF = 0;
export const HOOK_DISPOSE = 1;
export const LOG_OUT = 0;
export const LOG_ERR = 1;

/**
 * Largest frame the host accepts from a process: a result, a log line or a
 * handle description. Larger ones are protocol violations.
 */
export const MAX_PROCESS_FRAME = 64 * 1024 * 1024;
/** Longest console line a process sends; longer ones are cut there, and refused by the host. */
export const MAX_LOG_LINE = 64 * 1024;
/** Largest frame a process accepts from the host (a snapshot is the largest). */
export const MAX_HOST_FRAME = 1024 * 1024 * 1024;

/** What `INIT` carries. */
export interface InitPayload {
  /**
   * Bytes the generation may use: the V8 heap cap, and how far resident
   * memory may grow past what the process used before loading it.
   */
  readonly memoryLimit: number;
}

/** What `LOAD` carries: the snapshot's modules and the factory's context. */
export interface LoadPayload {
  readonly entry: string;
  /**
   * The modules, each with where its `import.meta` is: the process has no
   * parser, and mints them at the host's positions.
   */
  readonly modules: readonly (MintSource & { readonly importMeta: readonly MetaRange[] })[];
  readonly contract: ContractFields;
  readonly generation: number;
  readonly digest: string;
  readonly previous: unknown;
}

/** What `LOADED` carries; the host validates it as a worker's `loaded` message. */
export interface LoadedPayload {
  readonly handle: unknown;
  readonly hooks: unknown;
  /** `[minted URL, file path]` pairs, to name files in the process's stderr. */
  readonly files: unknown;
}
