/**
 * Bounding a promise by a deadline without leaving a timer or an unhandled
 * rejection behind.
 *
 * @module
 */

/** How a promise ended within its deadline, or that it did not. */
export type Outcome<T> =
  | { readonly status: "fulfilled"; readonly value: T }
  | { readonly status: "rejected"; readonly reason: unknown }
  | { readonly status: "timeout" }
  | { readonly status: "aborted"; readonly reason: unknown };

/**
 * Waits for `promise` at most `ms` milliseconds, and no longer than until
 * `signal` aborts. Never rejects: a rejection (even one that arrives after
 * the deadline) is observed, and the timer and listener are removed as soon
 * as the wait ends.
 *
 * @param promise The work to wait for.
 * @param ms The deadline in milliseconds.
 * @param signal Ends the wait early, with the signal's reason.
 * @returns The outcome.
 */
export async function within<T>(promise: Promise<T>, ms: number, signal?: AbortSignal): Promise<Outcome<T>> {
  if (signal?.aborted) {
    promise.catch(() => {});
    return { status: "aborted", reason: signal.reason };
  }
  let timer: ReturnType<typeof setTimeout> | undefined;
  let onAbort: (() => void) | undefined;
  const deadline = new Promise<Outcome<T>>((resolve) => {
    timer = setTimeout(() => resolve({ status: "timeout" }), ms);
    if (signal !== undefined) {
      onAbort = () => resolve({ status: "aborted", reason: signal.reason });
      signal.addEventListener("abort", onAbort, { once: true });
    }
  });
  const settled = promise.then(
    (value): Outcome<T> => ({ status: "fulfilled", value }),
    (reason): Outcome<T> => ({ status: "rejected", reason }),
  );
  try {
    return await Promise.race([settled, deadline]);
  } finally {
    clearTimeout(timer);
    if (onAbort !== undefined) signal!.removeEventListener("abort", onAbort);
  }
}
