/**
 * The host's end of the shared-memory channel to one generation worker:
 * writing requests into the request ring in call order (an overflow queue
 * when it is full, a marker record for what goes by `postMessage`), and the
 * loop that reads answers from the response ring.
 *
 * Apart from `_worker_host.ts` because it is the hot path and the part that
 * reads memory a hostile generation can write (SPEC 6.4): the response ring
 * is read at most one ring's worth per pass, a head no honest writer could
 * publish is a violation, every record is decoded within its slot, and only
 * answers to requests in the {@linkcode PendingCalls} table are accepted.
 * It reports violations and never throws them into the host.
 *
 * @module
 */

import { describeThrown } from "./errors.ts";
import type { PendingCalls } from "./_pending_calls.ts";
import type { HostMessage } from "./_protocol.ts";
import { NO_PAYLOAD, OP_MESSAGE, RingReader, RingWriter, SLOT_COUNT } from "./_rpc_channel.ts";
import { ProtocolViolation } from "./_worker_messages.ts";

/**
 * Response checks the host makes before it sleeps: a worker answering a
 * small call within a few microseconds is caught without a thread wake-up.
 * Kept short because it blocks the host's event loop while it lasts.
 */
const HOST_SPIN_CHECKS = 1_000;

/**
 * Wake-ups in a row that found no answer, past which the host stops
 * spinning and waits a millisecond before it sleeps again. An honest worker
 * wakes the host only to answer; a generation that floods `Atomics.notify`
 * on the ring (it can reach the ring through its realm's built-ins) cost the
 * host's thread 1.2 s of CPU in 3 s without this, measured.
 */
const EMPTY_WAKES = 64;

/** A host message that answers to an id, so it gets a marker record. */
export type IdentifiedMessage = Extract<HostMessage, { id: number }>;

/** What the channel needs from the host that owns it. */
export interface WorkerChannelHost {
  /** The requests waiting; answers are taken from it, and the reading loop runs while it is not empty. */
  readonly calls: PendingCalls;
  /** Posts a message to the worker; throws what `postMessage` throws. */
  post(message: HostMessage): void;
  /** The worker broke the protocol: `what` completes "The worker of … ". */
  violation(what: string): void;
  /** The reading loop failed: a bug of this runtime, which ends the worker too. */
  failed(error: unknown): void;
}

/** The host's end of the rings of one worker. */
export class WorkerChannel {
  readonly #requests: RingWriter;
  readonly #responses: RingReader;
  readonly #host: WorkerChannelHost;
  /** Records waiting for room in the request ring, in call order; `bytes` undefined for a marker. */
  readonly #overflow: { id: number; op: number; bytes: Uint8Array | undefined }[] = [];
  #reading = false;
  #closed = false;

  /**
   * @param buffer The channel's shared memory, also sent to the worker.
   * @param host The owner: its pending requests and where to report.
   */
  constructor(buffer: SharedArrayBuffer, host: WorkerChannelHost) {
    this.#requests = new RingWriter(buffer, "request");
    this.#responses = new RingReader(buffer, "response");
    this.#host = host;
  }

  /**
   * Sends call `id`: its arguments in a record when they fit, else by
   * message, with a marker record that keeps its place among the calls.
   *
   * @throws {DOMException} When the arguments cannot be cloned; nothing was sent then.
   */
  call(id: number, member: number, args: unknown[]): void {
    if (this.#overflow.length === 0 && this.#requests.write(id, member, args)) {
      this.#read();
      return;
    }
    // Encoded now, not when there is room: the arguments are captured at
    // call time, as structured cloning would capture them.
    const bytes = this.#requests.encode(args);
    if (bytes !== undefined) {
      this.#queue(id, member, bytes);
    } else {
      this.#host.post({ t: "call", id, member, args });
      this.#queue(id, OP_MESSAGE, undefined);
    }
    this.#read();
  }

  /**
   * Posts a message in order among the calls.
   *
   * @throws {DOMException} When it cannot be cloned; nothing was sent then.
   */
  send(message: IdentifiedMessage): void {
    this.#host.post(message);
    this.#queue(message.id, OP_MESSAGE, undefined);
    this.#read();
  }

  /** Drops what waits for room and stops reading. Idempotent. */
  close(): void {
    this.#closed = true;
    this.#overflow.length = 0;
    // The reading loop may sleep on the ring: wake it so it sees the end.
    this.#responses.wake();
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

  /** Starts the reading loop unless it runs; deferred so a burst of calls is written first. */
  #read(): void {
    if (this.#reading) return;
    this.#reading = true;
    queueMicrotask(() => {
      this.#readLoop().catch((error) => this.#host.failed(error));
    });
  }

  async #readLoop(): Promise<void> {
    const ring = this.#responses;
    const calls = this.#host.calls;
    /** Wake-ups in a row that found nothing (see {@linkcode EMPTY_WAKES}). */
    let empty = 0;
    try {
      while (calls.size > 0 && !this.#closed) {
        if (this.#overflow.length > 0) {
          const unread = this.#requests.unread;
          if (unread < 0 || unread > SLOT_COUNT) {
            this.#host.violation(
              `moved its request ring's tail ${unread} records behind the host's head, which no honest reader can`,
            );
            return;
          }
          this.#flush();
        }
        if (ring.available) {
          empty = 0;
          this.#drain(ring, calls);
          continue;
        }
        const flooded = empty > EMPTY_WAKES;
        if (flooded) {
          await new Promise((resolve) => setTimeout(resolve, 1));
          if (ring.available) continue;
        } else if (ring.spin(this.#overflow.length > 0 ? HOST_SPIN_CHECKS * 20 : HOST_SPIN_CHECKS)) {
          // Records waiting for room mean a burst in progress: spin longer, as
          // sleeping would leave the worker idle until the host wakes.
          continue;
        }
        // With records waiting for room, wake every millisecond to see whether the worker made some.
        const waiting = this.#overflow.length > 0;
        const sleep = ring.sleep(waiting ? 1 : undefined);
        if (sleep === undefined) continue;
        await sleep;
        // Woken with no time limit and nothing to read: a notify without an answer.
        if (!waiting && !ring.available) empty++;
      }
    } finally {
      this.#reading = false;
    }
  }

  /**
   * Takes the answers waiting in the response ring: at most one ring's worth
   * per pass, so a worker that keeps forging its head cannot keep the host
   * in this loop, and only answers to requests the host made.
   */
  #drain(ring: RingReader, calls: PendingCalls): void {
    const backlog = ring.backlog();
    if (backlog < 0 || backlog > SLOT_COUNT) {
      this.#host.violation(
        `moved its response ring ${backlog} records ahead of the host, which no honest writer can`,
      );
      return;
    }
    for (let taken = 0; taken < backlog && !this.#closed; taken++) {
      const id = ring.id();
      let value: unknown;
      try {
        value = ring.payload();
        ring.advance();
        calls.resolve(id, value === NO_PAYLOAD ? undefined : value, "a response record");
      } catch (error) {
        this.#host.violation(
          error instanceof ProtocolViolation
            ? `sent ${error.message}`
            : `wrote a response record the host cannot decode (${describeThrown(error)})`,
        );
        return;
      }
    }
  }
}
