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
  | { readonly status: "timeout" };

/**
 * Waits for `promise` at most `ms` milliseconds. Never rejects: a rejection
 * (even one that arrives after the deadline) is observed, and the timer is
 * cleared as soon as the promise settles.
 *
 * @param promise The work to wait for.
 * @param ms The deadline in milliseconds.
 * @returns The outcome.
 */
export async function within<T>(promise: Promise<T>, ms: number): Promise<Outcome<T>> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<Outcome<T>>((resolve) => {
    timer = setTimeout(() => resolve({ status: "timeout" }), ms);
  });
  const settled = promise.then(
    (value): Outcome<T> => ({ status: "fulfilled", value }),
    (reason): Outcome<T> => ({ status: "rejected", reason }),
  );
  try {
    return await Promise.race([settled, deadline]);
  } finally {
    clearTimeout(timer);
  }
}
