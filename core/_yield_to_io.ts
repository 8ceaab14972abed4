/**
 * A turn of the event loop that lets I/O in: what a swap awaits between two
 * stretches of work on the serving thread, so that requests which arrived
 * meanwhile are answered (on the generation still serving) instead of
 * waiting for the whole swap.
 *
 * Microtasks, `setImmediate` and a `MessageChannel` message do not do it:
 * Deno runs them without polling its sockets. A timer does, but
 * `setTimeout(0)` waits 2 ms. An operation that completes on Deno's thread
 * pool makes the event loop wait, and poll its I/O, for the microseconds it
 * takes: a SHA-256 of one byte, which asks for no permission.
 * `tests/bench/io_yield.ts` (Deno 2.9.6, 4 request loops in another
 * process, 300 awaits between 1 ms pieces of busy work): the first three let
 * no request in; `setTimeout(0)` let 4,734 in, for 2.2 ms each; the digest
 * 168-203, for 9-40 µs when the pool's thread is awake and 100-120 µs after
 * it idled.
 *
 * It is a matter of timing, not a guarantee: the runtime polls its I/O only
 * if it gets to wait before the pool answers. At the first await after the
 * pool's thread idled, as a swap's first is, it did 3 times in 4 (one
 * request at a time, an idle machine); back to back, or with the cores
 * contended, some requests waited tens or hundreds of awaits, as they wait
 * 60 `setImmediate` turns (tokio then polls its I/O every 61 ticks).
 *
 * @module
 */

// Captured when the runtime loads: a generation that replaces `crypto` must not reach the swap.
const subtle = crypto.subtle;
const digest = subtle.digest.bind(subtle);
const ONE_BYTE = new Uint8Array(1);

/**
 * Resolves once Deno's thread pool has hashed one byte. Usually the event
 * loop polls its I/O meanwhile, and a request that had arrived by then is
 * handed to its handler first; not always (see above).
 */
export async function yieldToIo(): Promise<void> {
  await digest("SHA-256", ONE_BYTE);
}
