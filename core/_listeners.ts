/**
 * Listeners are the user's code running inside the runtime's: each one is
 * wrapped so that what it throws is reported, never escaping into
 * `dispatchEvent`'s caller or Deno's global error handler (which would end
 * the host process).
 *
 * @module
 */

/** Identifies a registration as EventTarget does: by type and capture phase. */
export function listenerKey(type: string, options: boolean | EventListenerOptions | undefined): string {
  const capture = typeof options === "boolean" ? options : options?.capture === true;
  return `${capture ? "capture" : "bubble"}:${type}`;
}

/**
 * Wraps a user's listener so that what it throws, or a promise it returns
 * that rejects, is reported on the console instead of reaching Deno's global
 * error handling, which would end the host process.
 */
export function guardListener(
  target: EventTarget,
  type: string,
  listener: EventListenerOrEventListenerObject,
): EventListener {
  const report = (error: unknown) => {
    console.error(`A "${type}" listener of a hot-swap reference threw; the runtime carries on:`, error);
  };
  return (event: Event) => {
    try {
      const result: unknown = typeof listener === "function"
        ? listener.call(target, event)
        : listener.handleEvent(event);
      if (result instanceof Promise) Promise.prototype.then.call(result, undefined, report);
    } catch (error) {
      report(error);
    }
  };
}
