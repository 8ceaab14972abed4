/**
 * The host's end of one generation process: spawning it, what its frames
 * mean, and turning every way a process can end (exit, signal, crash, out
 * of memory, protocol violation, `callTimeout`, kill) into one `E_WORKER`
 * reason. The pipes are `_process_channel.ts`; which requests wait for which
 * answer is kept by `_pending_calls.ts` (shared with worker isolation).
 *
 * Everything the process writes is input from an adversary: frames are
 * bounded, each is checked before a field is read, replies must match a
 * pending request, and any violation kills the process. What it prints is
 * handled by `_process_output.ts`.
 *
 * @module
 */

import { HotswapError } from "./errors.ts";
import { decodeValue, encodeValue } from "./_codec.ts";
import { decodeErrorRecord } from "./_codec_decoder.ts";
import { payloadText } from "./_frames.ts";
import { ProcessChannel } from "./_process_channel.ts";
import {
  ABORT,
  CALL,
  ERROR,
  HOOK,
  HOOK_DISPOSE,
  HOOK_HANDOFF,
  INIT,
  LOAD,
  LOADED,
  type LoadPayload,
  LOG,
  LOG_ERR,
  MAX_LOG_LINE,
  PROBE,
  READY,
  RESULT,
} from "./_process_protocol.ts";
import { type Pending, PendingCalls } from "./_pending_calls.ts";
import type { MemberDescriptor } from "./_protocol.ts";
import { checkLoadedPayload, checkSerializedError, ProtocolViolation } from "./_worker_messages.ts";
import { ProcessOutput } from "./_process_output.ts";

/** How long a process whose stdout ended may take to exit before it is killed. */
const EOF_GRACE = 100;
/** How long the host waits for a dead process's last stderr bytes, to quote them. */
const STDERR_GRACE = 250;
/**
 * How long a process ended by an unload may take to exit by itself (ending
 * what its generation spawned, see `_process_main.ts`) before it is
 * SIGKILLed: one whose thread never yields needs the signal.
 */
const END_GRACE = 500;

/** What `load` resolves to once the handle is verified in the process. */
export interface ProcessLoaded {
  readonly handle: MemberDescriptor;
  readonly hooks: { readonly handoff: boolean; readonly dispose: boolean };
}

/** How to start a process: the `deno` arguments and its working directory. */
export interface ProcessCommand {
  readonly args: readonly string[];
  readonly cwd: string;
  /** Removes the working directory once the process has ended (when it was made for it). */
  readonly cleanup: () => Promise<void>;
}

/** One generation process and its channel. */
export class GenerationProcess {
  readonly #child: Deno.ChildProcess;
  readonly #channel: ProcessChannel;
  readonly #calls: PendingCalls;
  readonly #ready = Promise.withResolvers<void>();
  readonly #died = Promise.withResolvers<HotswapError>();
  readonly #closed: Promise<void>;
  readonly #callTimeout: number | undefined;
  #eof: ReturnType<typeof setTimeout> | undefined;
  #dead: HotswapError | undefined;
  /** The SIGKILL of a process given time to end by itself (see `end`). */
  #endTimer: ReturnType<typeof setTimeout> | undefined;
  #loaded = false;
  /** The entry of the generation it runs, for messages; empty while a standby. */
  #entry = "";
  readonly #output = new ProcessOutput();

  private constructor(child: Deno.ChildProcess, command: ProcessCommand, callTimeout: number | undefined) {
    this.#child = child;
    this.#callTimeout = callTimeout;
    this.#calls = new PendingCalls(callTimeout, (call) => this.#timeOut(call));
    this.#channel = new ProcessChannel(child, {
      frame: (type, id, arg, payload) => this.#receive(type, id, arg, payload),
      violation: (what) => this.#die(this.#violation(what)),
      end: () => this.#channelClosed(),
      stderr: (chunk) => this.#output.keepStderr(chunk),
    });
    // Observed here, so a process that dies before anyone awaits it is no unhandled rejection.
    this.#ready.promise.catch(() => {});
    this.#closed = this.#watch().finally(command.cleanup);
  }

  /**
   * Starts a process and sends it `INIT`.
   *
   * @param command The `deno` arguments and working directory.
   * @param memoryLimit Bytes the generation may use beyond the runtime's own.
   * @param callTimeout Milliseconds a call may take, or `undefined`.
   * @throws {Error} What `Deno.Command.spawn` throws.
   */
  static spawn(
    command: ProcessCommand,
    memoryLimit: number,
    callTimeout: number | undefined,
  ): GenerationProcess {
    const child = new Deno.Command(Deno.execPath(), {
      args: [...command.args],
      cwd: command.cwd,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
      // DENO_EMIT_CACHE_MODE is left as the host has it: "disable" keeps each
      // generation's emitted JavaScript out of DENO_DIR, but also makes every
      // spawn transpile the process's own runtime (cold spawn 44 -> 61 ms; under
      // a swap every 100 ms, write to new code 29 -> 165 ms median, measured).
      env: { NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" },
    }).spawn();
    const process = new GenerationProcess(child, command, callTimeout);
    process.#channel.send(INIT, 0, 0, JSON.stringify({ memoryLimit }));
    return process;
  }

  /** The process id. */
  get pid(): number {
    return this.#child.pid;
  }

  /** Resolves once the process listens; rejects if it dies first. */
  get ready(): Promise<void> {
    return this.#ready.promise;
  }

  /** Resolves with the reason once the process is dead, whoever ended it. */
  get died(): Promise<HotswapError> {
    return this.#died.promise;
  }

  /** Resolves once the process has exited, its pipes are closed and its directory removed. */
  get closed(): Promise<void> {
    return this.#closed;
  }

  /** Whether the process was killed or died. */
  get dead(): boolean {
    return this.#dead !== undefined;
  }

  /** Why it died, once dead. */
  get deathReason(): HotswapError | undefined {
    return this.#dead;
  }

  /** Imports the snapshot in the process and resolves the handle there. */
  load(payload: LoadPayload): Promise<ProcessLoaded> {
    this.#entry = payload.entry;
    let text: string;
    try {
      text = encodeValue(payload);
    } catch (error) {
      return Promise.reject(
        new HotswapError(
          "E_INIT",
          `Cannot send the state handed over to "${payload.entry}" to its process: ${
            error instanceof Error ? error.message : String(error)
          }; handoff() must return plain data (structured-cloneable)`,
          { path: payload.entry, cause: error },
        ),
      );
    }
    return this.#request(LOAD, 0, text) as Promise<ProcessLoaded>;
  }

  /**
   * Calls the handle function with index `member`.
   *
   * @returns The function's result, or its error rebuilt.
   */
  call(member: number, args: unknown[]): Promise<unknown> {
    if (this.#dead !== undefined) return Promise.reject(this.#dead);
    let text: string;
    try {
      text = encodeValue(args);
    } catch (error) {
      // Arguments that cannot be copied fail as postMessage would, before anything is sent.
      return Promise.reject(error);
    }
    const full = this.#full();
    if (full !== undefined) return Promise.reject(full);
    const call = Promise.withResolvers<unknown>();
    this.#channel.send(CALL, this.#calls.open("call", call), member, text);
    return call.promise;
  }

  /** Runs the module's `handoff` or `dispose` export in the process. */
  hook(name: "handoff" | "dispose"): Promise<unknown> {
    return this.#request(HOOK, name === "dispose" ? HOOK_DISPOSE : HOOK_HANDOFF, "");
  }

  /**
   * Whether the process answers a probe within `ms`: its event loop is free,
   * so it is not stuck in synchronous code (an `await` that takes long is no
   * hang). `false` for a dead process.
   */
  async answers(ms: number): Promise<boolean> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<false>((resolve) => timer = setTimeout(() => resolve(false), ms));
    try {
      return await Promise.race([this.#request(PROBE, 0, "").then(() => true, () => false), late]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Aborts the generation's signal in the process. */
  abort(reason: string): void {
    if (this.#dead === undefined) this.#channel.send(ABORT, 0, 0, reason);
  }

  /** SIGKILLs the process; pending calls reject with `reason`. Idempotent. */
  kill(reason: HotswapError): void {
    this.#die(reason);
  }

  /**
   * Ends the process as an unload does: pending calls reject with `reason`
   * at once, and its stdin closes, so that it ends the processes its
   * generation spawned and exits; SIGKILLed if it has not within
   * {@linkcode END_GRACE} ms. Idempotent.
   */
  end(reason: HotswapError): void {
    if (this.#dead !== undefined) return;
    this.#channel.endInput();
    this.#die(reason, END_GRACE);
  }

  #request(type: typeof LOAD | typeof HOOK | typeof PROBE, arg: number, text: string): Promise<unknown> {
    if (this.#dead !== undefined) return Promise.reject(this.#dead);
    const full = this.#full();
    if (full !== undefined) return Promise.reject(full);
    const request = Promise.withResolvers<unknown>();
    this.#channel.send(type, this.#calls.open(type === LOAD ? "load" : "control", request), arg, text);
    return request.promise;
  }

  /** A process that stopped reading its stdin must not make the host queue without bound. */
  #full(): HotswapError | undefined {
    const queued = this.#channel.backlog();
    if (queued === undefined) return undefined;
    return new HotswapError(
      "E_WORKER",
      `${this.#what()} is not reading its channel (${
        Math.round(queued / 1048576)
      } MiB queued): the call was refused; set callTimeout so a process that stops answering is restarted`,
      { path: this.#entry || undefined },
    );
  }

  /** The call ran past callTimeout: a process that does not answer is killed, as it may be stuck in a loop. */
  #timeOut(call: Pending): void {
    const timeout = new HotswapError(
      "E_TIMEOUT",
      `A call to "${this.#entry}" ran longer than callTimeout (${this.#callTimeout} ms): its process was killed; make the call return sooner or raise callTimeout`,
      { path: this.#entry },
    );
    call.reject(timeout);
    this.#die(
      new HotswapError(
        "E_WORKER",
        `The process of "${this.#entry}" was killed because a call ran longer than callTimeout (${this.#callTimeout} ms); calls running there were lost`,
        { path: this.#entry, cause: timeout },
      ),
    );
  }

  /**
   * Its stdout ended. An exiting process does that just before its status
   * arrives, which then names the exit; a process that closed its stdout
   * and lives on can no longer answer, and is killed.
   */
  #channelClosed(): void {
    if (this.#dead !== undefined) return;
    this.#eof = setTimeout(() => {
      this.#eof = undefined;
      this.#die(this.#violation("it closed its end of the channel"));
    }, EOF_GRACE);
  }

  #receive(type: number, id: number, arg: number, payload: Uint8Array): void {
    // A dead process is not listened to: its channel stops at the next chunk, this at the next frame.
    if (this.#dead !== undefined) return;
    switch (type) {
      case RESULT:
        // Decoded before the request is taken: a value that does not decode
        // is a violation, and the death that follows rejects the request.
        this.#calls.resolve(id, decodeValue(payloadText(payload)), "a result");
        return;
      case ERROR:
        this.#calls.reject(id, checkSerializedError(decodeErrorRecord(payloadText(payload))));
        return;
      case LOADED: {
        // Checked before the request is taken, as above: a request taken
        // and then refused would be left out of the rejections at death.
        const { handle, hooks, files } = checkLoadedPayload(decodeValue(payloadText(payload)), id);
        const pending = this.#calls.take(id, "loaded", "a loaded reply");
        if (pending === undefined) return;
        this.#output.files = files;
        this.#loaded = true;
        pending.resolve({ handle, hooks } satisfies ProcessLoaded);
        return;
      }
      case READY:
        this.#ready.resolve();
        return;
      case LOG:
        if (payload.length > MAX_LOG_LINE) {
          throw new ProtocolViolation(`a console line of ${payload.length} bytes`);
        }
        this.#output.log(arg === LOG_ERR, payloadText(payload), this.#entry);
        return;
      default:
        throw new ProtocolViolation(`a frame of unknown type ${type}`);
    }
  }

  /** Follows the process to its end, then releases everything it held. */
  async #watch(): Promise<void> {
    const status = await this.#child.status;
    clearTimeout(this.#endTimer);
    // The pipes close with the process, unless something it started still
    // holds them: wait a moment for the last bytes, not for that.
    const grace = Promise.withResolvers<void>();
    const timer = setTimeout(grace.resolve, STDERR_GRACE);
    await Promise.race([this.#channel.drained, grace.promise]);
    clearTimeout(timer);
    let reason: HotswapError;
    try {
      reason = this.#exitReason(status);
    } catch {
      // Describing the death must never keep the process from being released.
      reason = new HotswapError("E_WORKER", `${this.#what()} ended`, { path: this.#entry || undefined });
    }
    this.#die(reason);
    await this.#channel.close();
  }

  #exitReason(status: Deno.CommandStatus): HotswapError {
    const tail = this.#output.stderrTail();
    const how = status.signal !== null ? `was killed by ${status.signal}` : `exited with code ${status.code}`;
    let why = "";
    if (/hotswap: resident memory/.test(tail)) why = " (it passed memoryLimit)";
    else if (/out of memory|heap limit/i.test(tail)) why = " (it ran out of heap: memoryLimit)";
    return new HotswapError(
      "E_WORKER",
      `${this.#what()} ${how}${why}${
        tail === "" ? "" : `; its last output: ${tail}`
      }; calls running there were rejected`,
      { path: this.#entry || undefined },
    );
  }

  #violation(what: string): HotswapError {
    return new HotswapError(
      "E_WORKER",
      `${this.#what()} broke the channel protocol (${what}): it was killed, and calls running there were rejected`,
      { path: this.#entry || undefined },
    );
  }

  #die(reason: HotswapError, grace = 0): void {
    if (this.#dead !== undefined) return;
    this.#dead = reason;
    this.#channel.stop();
    clearTimeout(this.#eof);
    this.#eof = undefined;
    const kill = () => {
      try {
        this.#child.kill("SIGKILL");
      } catch {
        // It has exited already.
      }
    };
    if (grace === 0) kill();
    else this.#endTimer = setTimeout(kill, grace);
    this.#ready.reject(reason);
    this.#calls.rejectAll(reason);
    this.#died.resolve(reason);
  }

  #what(): string {
    if (this.#entry === "") return "A standby generation process";
    return this.#loaded ? `The process of "${this.#entry}"` : `The process loading "${this.#entry}"`;
  }
}
