/**
 * Node's `process` as a worker or a generation process meets it: Deno sets
 * it up the first time something reads `globalThis.process`, which costs the
 * thread 11-23 ms (measured on 2.9.6; in every new worker that delayed a
 * worker swap's new code by about 40 ms under load). The runtime's locks on
 * Node's built-ins are therefore applied when the generation first reaches
 * it, not at start. Imports nothing host-only.
 *
 * @module
 */

/** What the runtime uses of Node's `process`. */
export interface NodeProcess {
  getBuiltinModule?(id: string): unknown;
}

/**
 * Arranges for `setUp` to run once with Node's `process`: at the first read
 * of `globalThis.process` (the property is redefined, non-configurable, to
 * see it), or when the returned function is called, whichever comes first.
 * Call it before any generation code runs.
 *
 * @param setUp Locks what must be locked on Node's built-ins.
 * @returns Runs `setUp` now, if it has not run; for code that may reach
 *   `process` without reading the global (an import of a `node:` module).
 */
export function whenNodeProcessReached(setUp: (nodeProcess: NodeProcess | undefined) => void): () => void {
  const descriptor = Object.getOwnPropertyDescriptor(globalThis, "process");
  const read = descriptor?.get?.bind(globalThis) ?? (() => descriptor?.value);
  let done = false;
  const now = (): void => {
    if (done) return;
    done = true;
    setUp(read() as NodeProcess | undefined);
  };
  Object.defineProperty(globalThis, "process", {
    get() {
      now();
      return read();
    },
    enumerable: descriptor?.enumerable ?? true,
    configurable: false,
  });
  return now;
}
