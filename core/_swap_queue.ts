/**
 * The queue swaps run through: one at a time, in arrival order (a load must
 * not overlap the one before it, and the generation numbers follow the
 * order of the calls). A caller may stop waiting; its task still runs out.
 *
 * @module
 */

/** Runs tasks one after another; see the module doc. */
export class SwapQueue {
  #tail: Promise<unknown> = Promise.resolve();

  /**
   * Runs `task` once every task queued before it has settled.
   *
   * @param task The work; it starts after the previous task settles.
   * @param signal Rejects the returned promise with its reason as soon as it
   *   aborts. The task itself is not cut short: the queue still waits for it,
   *   since a load cannot be stopped and the next one must not overlap it.
   * @returns What `task` resolves to.
   */
  run<R>(task: () => Promise<R>, signal: AbortSignal | undefined): Promise<R> {
    const run = this.#tail.then(task);
    this.#tail = run.catch(() => {});
    return signal === undefined ? run : abortable(run, signal);
  }

  /** Settles once every task queued so far has; never rejects. */
  async idle(): Promise<void> {
    await this.#tail;
  }
}

/** Rejects with the signal's reason as soon as it aborts, else settles as `promise` does. */
function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  // An abort event fires once: a signal aborted already would never reject.
  if (signal.aborted) {
    promise.catch(() => {});
    return Promise.reject(signal.reason);
  }
  const aborted = Promise.withResolvers<never>();
  const onAbort = () => aborted.reject(signal.reason);
  signal.addEventListener("abort", onAbort, { once: true });
  return Promise.race([promise, aborted.promise]).finally(() => signal.removeEventListener("abort", onAbort));
}
