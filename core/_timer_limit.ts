/**
 * The longest delay a timer can wait. A `setTimeout` of more fires after
 * 1 ms (Deno 2.9.6 prints a TimeoutOverflowWarning and goes on): a
 * `drainTimeout` of 2 ** 31 ms ended the calls it was meant to wait for. A
 * duration option beyond it is refused, as `Infinity` is.
 *
 * @module
 */

/** Milliseconds: 2 ** 31 - 1, about 24.8 days. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Refuses a duration a timer cannot wait.
 *
 * @param subject What refuses it, as `Cannot register: drainTimeout`.
 * @param ms The duration, already known to be a finite number.
 * @returns `ms`.
 * @throws {RangeError} When `ms` is over {@linkcode MAX_TIMER_MS}.
 */
export function withinTimerLimit(subject: string, ms: number): number {
  if (ms > MAX_TIMER_MS) {
    throw new RangeError(
      `${subject} must be at most ${MAX_TIMER_MS} ms (about 24.8 days, the longest a timer can wait), got ${ms}`,
    );
  }
  return ms;
}
