/**
 * The events a reference dispatches, and the listeners that receive them.
 * Listeners are the user's code running inside the runtime's: each one is
 * wrapped so that what it throws is reported, never escaping into
 * `dispatchEvent`'s caller or Deno's global error handler (which would end
 * the host process).
 *
 * @module
 */

import type { HotswapEventMap } from "./events.ts";

/** Dispatches one event of a reference; what its listeners throw stays in them. */
export type Emit = <K extends keyof HotswapEventMap>(type: K, detail: HotswapEventMap[K]["detail"]) => void;

/**
 * The guarded wrapper registered for each listener, so that adding the same
 * listener twice registers one wrapper (EventTarget drops the duplicate by
 * identity) and removing it finds the wrapper to remove.
 */
export class ListenerGuards {
  readonly #wrappers = new WeakMap<object, Map<string, EventListener>>();

  /**
   * The wrapper to register for `listener`: the same one each time for one
   * type and phase.
   *
   * @param target What the listener's `this` is.
   */
  wrap(
    target: EventTarget,
    type: string,
    listener: EventListenerOrEventListenerObject,
    options: boolean | EventListenerOptions | undefined,
  ): EventListener {
    const key = listenerKey(type, options);
    let wrappers = this.#wrappers.get(listener);
    if (wrappers === undefined) this.#wrappers.set(listener, wrappers = new Map());
    let guarded = wrappers.get(key);
    if (guarded === undefined) wrappers.set(key, guarded = guardListener(target, type, listener));
    return guarded;
  }

  /** The wrapper registered for `listener` with this type and phase, if any. */
  find(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options: boolean | EventListenerOptions | undefined,
  ): EventListener | undefined {
    // `null` was never added (EventTarget ignores it), so nothing is found.
    if (listener === null) return undefined;
    return this.#wrappers.get(listener)?.get(listenerKey(type, options));
  }
}

/** Identifies a registration as EventTarget does: by type and capture phase. */
function listenerKey(type: string, options: boolean | EventListenerOptions | undefined): string {
  const capture = typeof options === "boolean" ? options : options?.capture === true;
  return `${capture ? "capture" : "bubble"}:${type}`;
}

/**
 * Wraps a user's listener so that what it throws, or a promise it returns
 * that rejects, is reported on the console instead of reaching Deno's global
 * error handling, which would end the host process.
 */
function guardListener(
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
