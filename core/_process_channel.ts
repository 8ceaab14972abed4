/**
 * The host's end of the pipes of one generation process: frames written to
 * its stdin, frames read from its stdout, and its stderr handed on as it
 * comes.
 *
 * Apart from `_process_host.ts` because it is the I/O of the hot path and
 * holds the bounds against a process that does not play along (SPEC 6.5): a
 * process that stops reading its stdin makes the host refuse calls rather
 * than queue without bound ({@linkcode ProcessChannel.backlog}), and a frame
 * out of bounds, or one the host's handler refuses, is reported as a
 * violation, never thrown into the host. What the frames mean is the host's
 * business.
 *
 * @module
 */

import { describeThrown } from "./errors.ts";
import { FrameError, type FrameHandler, FrameReader, FrameWriter } from "./_frames.ts";
import { MAX_PROCESS_FRAME } from "./_process_protocol.ts";
import { ProtocolViolation } from "./_worker_messages.ts";

/** Bytes read from the process's stdout at once. */
const STDOUT_BUFFER = 64 * 1024;
/** Bytes the host queues for a process that does not read them before calls are refused. */
const MAX_QUEUED = 64 * 1024 * 1024;

/** What the channel tells its host. */
export interface ProcessChannelEvents {
  /** A frame from stdout; may throw {@linkcode ProtocolViolation} to refuse it. */
  readonly frame: FrameHandler;
  /** Stdout broke the protocol; `what` says how. Nothing more is read from it. */
  violation(what: string): void;
  /** Stdout ended. */
  end(): void;
  /** Bytes from stderr, as they come. */
  stderr(chunk: Uint8Array): void;
}

/** The framed pipes of one process. */
export class ProcessChannel {
  readonly #stdin: WritableStreamDefaultWriter<Uint8Array>;
  readonly #stdout: ReadableStreamBYOBReader;
  readonly #stderr: ReadableStreamDefaultReader<Uint8Array>;
  readonly #writer: FrameWriter;
  readonly #events: ProcessChannelEvents;
  /** Both output pipes read to their end (or failed). */
  readonly #reading: Promise<void>;
  #stopped = false;

  /**
   * Starts reading the process's stdout and stderr.
   *
   * @param child The process, spawned with all three pipes.
   * @param events Where frames, violations and stderr go.
   */
  constructor(child: Deno.ChildProcess, events: ProcessChannelEvents) {
    this.#events = events;
    this.#stdin = child.stdin.getWriter();
    // A BYOB reader fills one buffer again and again; the default reader
    // allocates a fresh chunk per read (measured: a third more host CPU per call).
    this.#stdout = child.stdout.getReader({ mode: "byob" });
    this.#stderr = child.stderr.getReader();
    // A rejected write means the pipe is gone: the process's exit says why.
    this.#stdin.closed.catch(() => {});
    this.#writer = new FrameWriter((bytes) => this.#stdin.write(bytes), () => {});
    // A pipe that fails ends its loop; the process's exit says why.
    this.#reading = Promise.all([
      this.#readStdout().catch(() => {}),
      this.#readStderr().catch(() => {}),
    ]).then(() => {});
  }

  /** Settles once stdout and stderr have both ended. */
  get drained(): Promise<void> {
    return this.#reading;
  }

  /**
   * Bytes waiting for a process that is not reading its stdin, once past
   * the bound beyond which requests must be refused; `undefined` below it.
   */
  backlog(): number | undefined {
    const queued = this.#writer.queued;
    return queued > MAX_QUEUED ? queued : undefined;
  }

  /** Queues one frame for stdin (see {@linkcode FrameWriter.frame}). */
  send(type: number, id: number, arg: number, payload: string): void {
    this.#writer.frame(type, id, arg, payload);
  }

  /** Closes stdin once the frames queued are written: the process sees the end of its channel. */
  endInput(): void {
    this.#stdin.close().catch(() => {});
  }

  /** Reads no more frames: what a dead process still wrote is not the host's concern. */
  stop(): void {
    this.#stopped = true;
  }

  /** Closes all three pipes, ending reads still pending, and waits for the reading loops. */
  async close(): Promise<void> {
    this.#stopped = true;
    // Cancelling ends a read still pending and closes the pipe; after the end of a stream it does nothing.
    await Promise.allSettled([this.#stdin.abort(), this.#stdout.cancel(), this.#stderr.cancel()]);
    await this.#reading;
  }

  async #readStdout(): Promise<void> {
    const frames = new FrameReader(MAX_PROCESS_FRAME, this.#events.frame);
    const reader = this.#stdout;
    let buffer = new Uint8Array(STDOUT_BUFFER);
    for (;;) {
      const { value, done } = await reader.read(buffer);
      if (done || value === undefined) {
        this.#events.end();
        return;
      }
      buffer = new Uint8Array(value.buffer);
      if (this.#stopped) continue;
      try {
        frames.push(value);
      } catch (error) {
        this.#stopped = true;
        this.#events.violation(
          error instanceof FrameError || error instanceof ProtocolViolation
            ? error.message
            : `a frame the host cannot read (${describeThrown(error)})`,
        );
      }
    }
  }

  async #readStderr(): Promise<void> {
    for (;;) {
      const { value, done } = await this.#stderr.read();
      if (done) return;
      this.#events.stderr(value);
    }
  }
}
