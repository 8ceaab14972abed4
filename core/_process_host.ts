/**
 * The host's end of one generation process: spawning it, the framed channel
 * over its stdin and stdout, call bookkeeping with the `callTimeout`
 * deadline, and turning every way a process can end (exit, signal, crash,
 * out of memory, protocol violation, kill) into one `E_WORKER` reason.
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
import { FrameError, FrameReader, FrameWriter, payloadText } from "./_frames.ts";
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
  MAX_PROCESS_FRAME,
  READY,
  RESULT,
} from "./_process_protocol.ts";
import { type MemberDescriptor, rebuildError } from "./_protocol.ts";
import { checkSerializedError, checkWorkerMessage } from "./_worker_messages.ts";
import { ProcessOutput } from "./_process_output.ts";

/** Bytes read from the process's stdout at once. */
const STDOUT_BUFFER = 64 * 1024;
/** Bytes the host queues for a process that does not read them before calls are refused. */
const MAX_QUEUED = 64 * 1024 * 1024;
/** How long a process whose stdout ended may take to exit before it is killed. */
const EOF_GRACE = 100;
/** How long the host waits for a dead process's last stderr bytes, to quote them. */
const STDERR_GRACE = 250;

/** What `load` resolves to once the handle is verified in the process. */
export interface ProcessLoaded {
  readonly handle: MemberDescriptor;
  readonly hooks: { readonly handoff: boolean; readonly dispose: boolean };
}

interface Pending {
  resolve(value: unknown): void;
  reject(reason: unknown): void;
}

interface PendingCall extends Pending {
  /** `performance.now()` past which the call times out. */
  readonly deadline: number;
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
  readonly #stdin: WritableStreamDefaultWriter<Uint8Array>;
  readonly #stdout: ReadableStreamBYOBReader;
  readonly #stderrReader: ReadableStreamDefaultReader<Uint8Array>;
  readonly #writer: FrameWriter;
  readonly #calls = new Map<number, PendingCall>();
  readonly #control = new Map<number, Pending>();
  readonly #ready = Promise.withResolvers<void>();
  readonly #died = Promise.withResolvers<HotswapError>();
  readonly #closed: Promise<void>;
  readonly #callTimeout: number | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #eof: ReturnType<typeof setTimeout> | undefined;
  #nextId = 1;
  #dead: HotswapError | undefined;
  #loaded = false;
  /** The entry of the generation it runs, for messages; empty while a standby. */
  #entry = "";
  readonly #output = new ProcessOutput();

  private constructor(child: Deno.ChildProcess, command: ProcessCommand, callTimeout: number | undefined) {
    this.#child = child;
    this.#callTimeout = callTimeout;
    this.#stdin = child.stdin.getWriter();
    // A BYOB reader fills one buffer again and again; the default reader
    // allocates a fresh chunk per read (measured: a third more host CPU per call).
    this.#stdout = child.stdout.getReader({ mode: "byob" });
    this.#stderrReader = child.stderr.getReader();
    // A rejected write means the pipe is gone: the exit handling below says why.
    this.#stdin.closed.catch(() => {});
    this.#writer = new FrameWriter((bytes) => this.#stdin.write(bytes), () => {});
    // Observed here, so a process that dies before anyone awaits it is no unhandled rejection.
    this.#ready.promise.catch(() => {});
    // A pipe that fails ends its loop; the exit handling says why the process ended.
    const stdout = this.#readStdout().catch(() => {});
    const stderr = this.#readStderr().catch(() => {});
    this.#closed = this.#watch(stdout, stderr).finally(command.cleanup);
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
      env: { NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" },
    }).spawn();
    const process = new GenerationProcess(child, command, callTimeout);
    process.#writer.frame(INIT, 0, 0, JSON.stringify({ memoryLimit }));
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
    const id = this.#id();
    const { promise, resolve, reject } = Promise.withResolvers<unknown>();
    const deadline = this.#callTimeout === undefined ? Infinity : performance.now() + this.#callTimeout;
    this.#calls.set(id, { resolve, reject, deadline });
    this.#writer.frame(CALL, id, member, text);
    if (this.#timer === undefined && this.#callTimeout !== undefined) this.#arm(this.#callTimeout);
    return promise;
  }

  /** Runs the module's `handoff` or `dispose` export in the process. */
  hook(name: "handoff" | "dispose"): Promise<unknown> {
    return this.#request(HOOK, name === "dispose" ? HOOK_DISPOSE : HOOK_HANDOFF, "");
  }

  /** Aborts the generation's signal in the process. */
  abort(reason: string): void {
    if (this.#dead === undefined) this.#writer.frame(ABORT, 0, 0, reason);
  }

  /** SIGKILLs the process; pending calls reject with `reason`. Idempotent. */
  kill(reason: HotswapError): void {
    this.#die(reason);
  }

  #request(type: number, arg: number, text: string): Promise<unknown> {
    if (this.#dead !== undefined) return Promise.reject(this.#dead);
    const full = this.#full();
    if (full !== undefined) return Promise.reject(full);
    const id = this.#id();
    const { promise, resolve, reject } = Promise.withResolvers<unknown>();
    this.#control.set(id, { resolve, reject });
    this.#writer.frame(type, id, arg, text);
    return promise;
  }

  /** A process that stopped reading its stdin must not make the host queue without bound. */
  #full(): HotswapError | undefined {
    if (this.#writer.queued <= MAX_QUEUED) return undefined;
    return new HotswapError(
      "E_WORKER",
      `${this.#what()} is not reading its channel (${
        Math.round(this.#writer.queued / 1048576)
      } MiB queued): the call was refused; set callTimeout so a process that stops answering is restarted`,
      { path: this.#entry || undefined },
    );
  }

  #id(): number {
    const id = this.#nextId;
    this.#nextId = this.#nextId === 0xffffffff ? 1 : this.#nextId + 1;
    return id;
  }

  /**
   * One timer for all calls: they share one timeout and are kept in the
   * order they started, so the oldest pending call has the next deadline.
   */
  #arm(delay: number): void {
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      const oldest = this.#calls.values().next();
      if (oldest.done) return;
      const left = oldest.value.deadline - performance.now();
      if (left > 0) {
        this.#arm(left);
        return;
      }
      const timeout = new HotswapError(
        "E_TIMEOUT",
        `A call to "${this.#entry}" ran longer than callTimeout (${this.#callTimeout} ms): its process was killed; make the call return sooner or raise callTimeout`,
        { path: this.#entry },
      );
      oldest.value.reject(timeout);
      this.#calls.delete(this.#calls.keys().next().value!);
      this.#die(
        new HotswapError(
          "E_WORKER",
          `The process of "${this.#entry}" was killed because a call ran longer than callTimeout (${this.#callTimeout} ms); calls running there were lost`,
          { path: this.#entry, cause: timeout },
        ),
      );
    }, delay);
  }

  async #readStdout(): Promise<void> {
    const frames = new FrameReader(MAX_PROCESS_FRAME, (type, id, arg, payload) => {
      this.#receive(type, id, arg, payload);
    });
    const reader = this.#stdout;
    let buffer = new Uint8Array(STDOUT_BUFFER);
    for (;;) {
      const { value, done } = await reader.read(buffer);
      if (done || value === undefined) {
        this.#channelClosed();
        return;
      }
      buffer = new Uint8Array(value.buffer);
      if (this.#dead !== undefined) continue;
      try {
        frames.push(value);
      } catch (error) {
        const what = error instanceof FrameError || error instanceof Violation
          ? error.message
          : `a frame the host cannot read (${error instanceof Error ? error.message : String(error)})`;
        this.#die(this.#violation(what));
      }
    }
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
    switch (type) {
      case RESULT: {
        // Decoded before the request is taken: a value that does not decode
        // is a violation, and the death that follows rejects the request.
        const value = decodeValue(payloadText(payload));
        this.#take(id).resolve(value);
        return;
      }
      case ERROR: {
        const error = rebuildError(checkSerializedError(JSON.parse(payloadText(payload))));
        this.#take(id).reject(error);
        return;
      }
      case LOADED: {
        const pending = this.#take(id);
        const decoded = decodeValue(payloadText(payload)) as Record<string, unknown> | null;
        const checked = checkWorkerMessage({
          t: "loaded",
          id,
          handle: decoded?.handle,
          hooks: decoded?.hooks,
        });
        if (!checked.ok) throw new Violation(checked.problem);
        if (checked.message.t !== "loaded") throw new Violation("a loaded reply of another kind");
        this.#output.files = fileList(decoded?.files);
        this.#loaded = true;
        pending.resolve({ handle: checked.message.handle, hooks: checked.message.hooks });
        return;
      }
      case READY:
        this.#ready.resolve();
        return;
      case LOG:
        if (payload.length > MAX_LOG_LINE) throw new Violation(`a console line of ${payload.length} bytes`);
        this.#output.log(arg === LOG_ERR, payloadText(payload), this.#entry);
        return;
      default:
        throw new Violation(`a frame of unknown type ${type}`);
    }
  }

  /** The pending call or request `id`; a reply to anything else is a violation. */
  #take(id: number): Pending {
    const call = this.#calls.get(id);
    if (call !== undefined) {
      this.#calls.delete(id);
      return call;
    }
    const pending = this.#control.get(id);
    if (pending === undefined) throw new Violation(`a reply to request ${id}, which is not pending`);
    this.#control.delete(id);
    return pending;
  }

  async #readStderr(): Promise<void> {
    for (;;) {
      const { value, done } = await this.#stderrReader.read();
      if (done) return;
      this.#output.keepStderr(value);
    }
  }

  /** Follows the process to its end, then releases everything it held. */
  async #watch(stdout: Promise<void>, stderr: Promise<void>): Promise<void> {
    const status = await this.#child.status;
    // The pipes close with the process, unless something it started still
    // holds them: wait a moment for the last bytes, not for that.
    const grace = Promise.withResolvers<void>();
    const timer = setTimeout(grace.resolve, STDERR_GRACE);
    await Promise.race([Promise.allSettled([stdout, stderr]), grace.promise]);
    clearTimeout(timer);
    this.#die(this.#exitReason(status));
    // Cancelling ends a read still pending and closes the pipe; after the end of a stream it does nothing.
    await Promise.allSettled([this.#stdin.abort(), this.#stdout.cancel(), this.#stderrReader.cancel()]);
    await Promise.allSettled([stdout, stderr]);
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

  #die(reason: HotswapError): void {
    if (this.#dead !== undefined) return;
    this.#dead = reason;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    clearTimeout(this.#eof);
    this.#eof = undefined;
    try {
      this.#child.kill("SIGKILL");
    } catch {
      // It has exited already.
    }
    this.#ready.reject(reason);
    const pending = [...this.#calls.values(), ...this.#control.values()];
    this.#calls.clear();
    this.#control.clear();
    for (const call of pending) call.reject(reason);
    this.#died.resolve(reason);
  }

  #what(): string {
    if (this.#entry === "") return "A standby generation process";
    return this.#loaded ? `The process of "${this.#entry}"` : `The process loading "${this.#entry}"`;
  }
}

/** A reply that breaks the protocol; the process is killed for it. */
class Violation extends Error {}

/** Files a loaded process may name; more are ignored (they only improve messages). */
const MAX_FILES = 10_000;

/** The `[url, path]` pairs of a loaded reply, checked: a malformed list is a violation. */
function fileList(value: unknown): (readonly [string, string])[] {
  if (!Array.isArray(value)) throw new Violation("a loaded reply without its file list");
  const files: [string, string][] = [];
  for (const pair of value.slice(0, MAX_FILES)) {
    if (
      !Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== "string" ||
      typeof pair[1] !== "string" ||
      pair[0].length === 0 || pair[0].length > 4096 || pair[1].length > 4096
    ) {
      throw new Violation("a loaded reply whose file list is not pairs of texts");
    }
    files.push([pair[0], pair[1]]);
  }
  return files;
}
