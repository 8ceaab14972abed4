/**
 * A generation's own `error` and `unhandledrejection` listeners on its
 * worker's global, called through a guard. In Deno such a listener that
 * throws ends the worker, and Deno prints the throw on the process's
 * stderr, the host's, raw: control sequences in its message reach the
 * host's terminal unescaped (measured on 2.9.6), past every escape the
 * worker runtime puts on its console. Through the guard, the throw is
 * handed to `onThrow` instead, which reports it as the crash it is.
 *
 * Installed by the worker runtime before any generation code runs; the
 * methods and handler properties it replaces cannot be put back.
 *
 * @module
 */

const WATCHED: ReadonlySet<string> = new Set(["error", "unhandledrejection"]);
const apply = Reflect.apply;

/**
 * Guards every `error` and `unhandledrejection` listener later added to
 * `globalThis`, by `addEventListener` or by the `onerror` and
 * `onunhandledrejection` properties.
 *
 * @param onThrow Told what a listener threw; the listener's event goes on to the next listener.
 */
export function guardErrorListeners(onThrow: (thrown: unknown) => void): void {
  const prototype = EventTarget.prototype;
  const add = prototype.addEventListener;
  const remove = prototype.removeEventListener;
  /** Each listener's guard, by event type and capture: a listener removed must find the guard added. */
  const guards = new WeakMap<object, Map<string, EventListener>>();
  const guardOf = (listener: EventListenerOrEventListenerObject, key: string): EventListener => {
    let byKey = guards.get(listener);
    if (byKey === undefined) guards.set(listener, byKey = new Map());
    let guard = byKey.get(key);
    if (guard === undefined) {
      guard = function (this: unknown, event: Event): unknown {
        try {
          return typeof listener === "function"
            ? apply(listener, this, [event])
            : apply(listener.handleEvent, listener, [event]);
        } catch (thrown) {
          onThrow(thrown);
          return undefined;
        }
      };
      byKey.set(key, guard);
    }
    return guard;
  };
  const guarded = (
    target: unknown,
    type: unknown,
    listener: EventListenerOrEventListenerObject | null,
    options: boolean | EventListenerOptions | undefined,
  ): EventListenerOrEventListenerObject | null => {
    // A bare `addEventListener(…)` in a module is called on `undefined`, which Deno takes as the global.
    if ((target ?? globalThis) !== globalThis || !WATCHED.has(String(type))) return listener;
    if (listener === null || (typeof listener !== "function" && typeof listener !== "object")) {
      return listener;
    }
    const capture = typeof options === "boolean" ? options : Boolean(options?.capture);
    return guardOf(listener, `${String(type)} ${capture}`);
  };
  const replacements = {
    addEventListener: function addEventListener(
      this: EventTarget,
      type: string,
      listener: EventListenerOrEventListenerObject | null,
      options?: boolean | AddEventListenerOptions,
    ): void {
      apply(add, this, [type, guarded(this, type, listener, options), options]);
    },
    removeEventListener: function removeEventListener(
      this: EventTarget,
      type: string,
      listener: EventListenerOrEventListenerObject | null,
      options?: boolean | EventListenerOptions,
    ): void {
      apply(remove, this, [type, guarded(this, type, listener, options), options]);
    },
  };
  // Deno's worker global holds its own copies of both as well as the prototype's.
  const owners: object[] = [prototype];
  for (let owner: object | null = globalThis; owner !== null; owner = Object.getPrototypeOf(owner)) {
    if (owner !== prototype && Object.hasOwn(owner, "addEventListener")) owners.push(owner);
  }
  for (const owner of owners) {
    for (const [name, value] of Object.entries(replacements)) {
      Object.defineProperty(owner, name, { value, writable: false, enumerable: true, configurable: false });
    }
  }
  for (const type of WATCHED) guardHandlerProperty(`on${type}`, onThrow);
}

/**
 * The `on<type>` property of the global: its setter is given a guard of the
 * handler, and its getter answers the handler as it was set.
 */
function guardHandlerProperty(name: string, onThrow: (thrown: unknown) => void): void {
  let owner: object | null = globalThis;
  while (owner !== null && !Object.hasOwn(owner, name)) owner = Object.getPrototypeOf(owner);
  if (owner === null) return;
  const descriptor = Object.getOwnPropertyDescriptor(owner, name)!;
  const { get, set } = descriptor;
  if (get === undefined || set === undefined || !descriptor.configurable) return;
  const handlers = new WeakMap<object, unknown>();
  Object.defineProperty(owner, name, {
    get(this: unknown): unknown {
      const current = apply(get, this, []);
      return typeof current === "function" ? handlers.get(current) ?? current : current;
    },
    set(this: unknown, value: unknown): void {
      if (typeof value !== "function") {
        apply(set, this, [value]);
        return;
      }
      // A handler's result counts (an `onerror` returning true cancels the event): passed on.
      const guard = function (this: unknown, ...args: unknown[]): unknown {
        try {
          return apply(value, this, args);
        } catch (thrown) {
          onThrow(thrown);
          return undefined;
        }
      };
      handlers.set(guard, value);
      apply(set, this, [guard]);
    },
    enumerable: descriptor.enumerable === true,
    configurable: false,
  });
}
