/**
 * Length-prefixed frames over a byte stream (the pipes between the host and
 * a generation's process). A frame is a 16-byte header, `[u32 body length]
 * [u8 type][3 bytes zero][u32 id][u32 argument]` (little-endian; the length
 * counts the 12 header bytes after it plus the payload), then the payload,
 * UTF-8 text.
 *
 * Writes are coalesced: a frame goes out at once when no write is in
 * flight, and while one is, the next frames collect behind it and go out
 * together, so a burst of calls costs a few system calls rather than one
 * each. Reads accept
 * any chunking and refuse a length outside the reader's bounds.
 *
 * Imported on both sides of the channel, so it imports nothing host-only.
 *
 * @module
 */

/** Bytes of a frame before its payload. */
export const HEADER_BYTES = 16;
/** Bytes after the length field that every frame has. */
const FIXED_BODY = HEADER_BYTES - 4;
const INITIAL_CAPACITY = 64 * 1024;
/** A buffer grown past this for one large frame is dropped once written, not kept. */
const KEEP_CAPACITY = 1024 * 1024;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A frame that does not fit the reader's bounds: the stream cannot be trusted past it. */
export class FrameError extends Error {
  /** @param message What was wrong. */
  constructor(message: string) {
    super(message);
    this.name = "FrameError";
  }
}

/**
 * Queues frames and writes them in batches through `sink`, one write at a
 * time. `sink` must resolve once the bytes are written (or rejects, which
 * ends the writer).
 */
export class FrameWriter {
  readonly #sink: (bytes: Uint8Array) => Promise<void>;
  readonly #onError: (error: unknown) => void;
  #buffer = new Uint8Array(INITIAL_CAPACITY);
  #view = new DataView(this.#buffer.buffer);
  /** The buffer of the write in flight, reused once it completes. */
  #spare: Uint8Array<ArrayBuffer> | undefined = new Uint8Array(INITIAL_CAPACITY);
  #used = 0;
  #writing = false;
  #failed = false;

  /**
   * @param sink Writes one batch; resolves when written.
   * @param onError Told once when a write fails; later frames are dropped.
   */
  constructor(sink: (bytes: Uint8Array) => Promise<void>, onError: (error: unknown) => void) {
    this.#sink = sink;
    this.#onError = onError;
  }

  /** Bytes queued and not yet handed to the sink. */
  get queued(): number {
    return this.#used;
  }

  /**
   * Queues one frame: written now, or with the next batch if a write is in flight.
   *
   * @param type Message type, 0-255.
   * @param id Request id, 0-2^32-1.
   * @param arg Type-specific number, 0-2^32-1.
   * @param payload Text of the payload.
   */
  frame(type: number, id: number, arg: number, payload: string): void {
    if (this.#failed) return;
    this.#reserve(HEADER_BYTES + payload.length * 3);
    const start = this.#used;
    const { written } = encoder.encodeInto(payload, this.#buffer.subarray(start + HEADER_BYTES));
    const view = this.#view;
    view.setUint32(start, FIXED_BODY + written, true);
    view.setUint32(start + 4, type & 0xff, true);
    view.setUint32(start + 8, id, true);
    view.setUint32(start + 12, arg, true);
    this.#used = start + HEADER_BYTES + written;
    // With no write in flight the frame goes out at once (the latency of a
    // lone call); during one, frames collect and follow it in one write.
    if (!this.#writing) this.#flush();
  }

  #reserve(bytes: number): void {
    const needed = this.#used + bytes;
    if (needed <= this.#buffer.length) return;
    let capacity = this.#buffer.length * 2;
    while (capacity < needed) capacity *= 2;
    const grown = new Uint8Array(capacity);
    grown.set(this.#buffer.subarray(0, this.#used));
    this.#buffer = grown;
    this.#view = new DataView(grown.buffer);
  }

  /**
   * Writes what is queued now instead of after the current task, unless a
   * write is in flight (then it follows that one).
   */
  flush(): void {
    this.#flush();
  }

  #flush(): void {
    if (this.#writing || this.#used === 0 || this.#failed) return;
    const batch = this.#buffer.subarray(0, this.#used);
    const next = this.#spare ?? new Uint8Array(INITIAL_CAPACITY);
    this.#spare = undefined;
    this.#buffer = next;
    this.#view = new DataView(next.buffer);
    this.#used = 0;
    this.#writing = true;
    this.#sink(batch).then(
      () => {
        this.#writing = false;
        if (batch.buffer.byteLength <= KEEP_CAPACITY) this.#spare = new Uint8Array(batch.buffer);
        this.#flush();
      },
      (error) => {
        this.#writing = false;
        this.#failed = true;
        this.#used = 0;
        this.#onError(error);
      },
    );
  }
}

/** Receives one frame; `payload` is valid only during the call. */
export type FrameHandler = (type: number, id: number, arg: number, payload: Uint8Array) => void;

/**
 * Splits a byte stream into frames. Bytes may arrive in any chunking; a
 * frame whose length is below the header or above `maxBody` throws
 * {@linkcode FrameError} and the reader accepts nothing after it. A frame
 * split across chunks is assembled in one buffer of its declared size, so
 * a large frame costs one copy, not one per chunk.
 */
export class FrameReader {
  readonly #maxBody: number;
  readonly #onFrame: FrameHandler;
  /** Length bytes of a frame whose length field itself was split. */
  readonly #head = new Uint8Array(4);
  #headFilled = 0;
  /** A frame being assembled from several chunks, and how much of it has arrived. */
  #frame: Uint8Array | undefined;
  #filled = 0;
  #broken = false;

  /**
   * @param maxBody Largest frame body accepted, in bytes.
   * @param onFrame Called for every complete frame, in order.
   */
  constructor(maxBody: number, onFrame: FrameHandler) {
    this.#maxBody = maxBody;
    this.#onFrame = onFrame;
  }

  /**
   * Feeds the next chunk of the stream, calling the handler for each frame it completes.
   *
   * @throws {FrameError} On a frame length out of bounds.
   */
  push(chunk: Uint8Array): void {
    if (this.#broken) throw new FrameError("The stream was already refused");
    let at = 0;
    while (at < chunk.length) {
      const frame = this.#frame;
      if (frame !== undefined) {
        const take = Math.min(frame.length - this.#filled, chunk.length - at);
        frame.set(chunk.subarray(at, at + take), this.#filled);
        this.#filled += take;
        at += take;
        if (this.#filled === frame.length) {
          this.#frame = undefined;
          this.#dispatch(frame, 0);
        }
        continue;
      }
      if (this.#headFilled > 0 || chunk.length - at < 4) {
        const take = Math.min(4 - this.#headFilled, chunk.length - at);
        this.#head.set(chunk.subarray(at, at + take), this.#headFilled);
        this.#headFilled += take;
        at += take;
        if (this.#headFilled < 4) return;
        this.#headFilled = 0;
        this.#start(u32(this.#head, 0));
        this.#frame!.set(this.#head);
        this.#filled = 4;
        continue;
      }
      const body = u32(chunk, at);
      if (chunk.length - at >= 4 + body && this.#fits(body)) {
        this.#dispatch(chunk, at);
        at += 4 + body;
        continue;
      }
      this.#start(body);
      const take = Math.min(4 + body, chunk.length - at);
      this.#frame!.set(chunk.subarray(at, at + take));
      this.#filled = take;
      at += take;
    }
  }

  #fits(body: number): boolean {
    if (body >= FIXED_BODY && body <= this.#maxBody) return true;
    this.#broken = true;
    throw new FrameError(`A frame declared ${body} bytes, outside ${FIXED_BODY}-${this.#maxBody}`);
  }

  /** Starts assembling a frame of `body` bytes after its length field. */
  #start(body: number): void {
    this.#fits(body);
    this.#frame = new Uint8Array(4 + body);
  }

  #dispatch(bytes: Uint8Array, at: number): void {
    const end = at + 4 + u32(bytes, at);
    this.#onFrame(
      bytes[at + 4]!,
      u32(bytes, at + 8),
      u32(bytes, at + 12),
      bytes.subarray(at + HEADER_BYTES, end),
    );
  }
}

/** The little-endian unsigned 32-bit number at `at` (read by hand: a DataView per chunk is garbage). */
function u32(bytes: Uint8Array, at: number): number {
  return (bytes[at]! | bytes[at + 1]! << 8 | bytes[at + 2]! << 16) + bytes[at + 3]! * 0x1000000;
}

/** Decodes a frame payload as text (invalid UTF-8 becomes U+FFFD, as in any text the host reads). */
export function payloadText(payload: Uint8Array): string {
  return payload.length === 0 ? "" : decoder.decode(payload);
}
