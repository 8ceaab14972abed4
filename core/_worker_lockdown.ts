/**
 * What a generation in a worker must not reach, taken away before its code
 * runs (SPEC 6.4 and 11). A Deno Worker shares its process with the host, so
 * some of the `Deno` namespace acts on the host itself, whatever the worker's
 * permissions: killing its own process id, `chdir`, the terminal's stdin,
 * signal listeners, the Cache API (which writes to DENO_DIR), and an
 * `import()` of a computed `npm:`/`jsr:` specifier (which makes the host
 * fetch from the registry). Each is replaced by a function that throws
 * `Deno.errors.NotCapable`, defined non-configurable so the generation
 * cannot put the original back; `Deno[Deno.internal]`, which leads to the
 * runtime's internals, is deleted; and stack traces are formatted by a
 * function that cuts huge messages (Deno's own formatter panics on them).
 *
 * Computed imports are rewritten by the host when it mints the snapshot
 * (their `import` keyword becomes {@linkcode IMPORT_GUARD}), and the ways to
 * write code at run time (`eval`, the `Function` constructors, a nested
 * `Worker`) are closed unless the generation may import (`permissions.import`),
 * since such code could hold an `import()` the host never saw.
 *
 * What this cannot stop, because it ends or stalls the whole process from
 * inside V8 or Deno (a fatal out-of-memory, a Deno panic, a synchronous loop
 * that Worker.terminate() cannot interrupt), is listed in SECURITY.md; process
 * isolation is the boundary for those.
 *
 * Imports nothing host-only.
 *
 * @module
 */

/** The global function computed `import(…)` calls are minted to call instead. */
export const IMPORT_GUARD = "__hotswapImport";

const NotCapable = Deno.errors.NotCapable;

function refuse(what: string, instead: string): never {
  throw new NotCapable(
    `${what} is not available to a generation in a worker: it would act on the host process; ${instead}`,
  );
}

function lock(owner: object, key: PropertyKey, value: unknown): void {
  Object.defineProperty(owner, key, { value, writable: false, enumerable: true, configurable: false });
}

function lockGetter(owner: object, key: PropertyKey, get: () => unknown): void {
  Object.defineProperty(owner, key, { get, enumerable: true, configurable: false });
}

const USE_PROCESS = 'run it with isolation "process", whose generation has a process of its own';

/**
 * Takes away what would reach the host. Call once, before any generation
 * code runs in this worker.
 */
export function lockDown(): void {
  const deno = Deno;
  const host = deno.pid;
  const kill = deno.kill.bind(deno);
  lock(deno, "kill", (pid: number, signal?: Deno.Signal) => {
    // Pid 0 and negative pids signal process groups, the host's included.
    if (pid === host || pid <= 0) refuse(`Deno.kill(${pid})`, USE_PROCESS);
    return kill(pid, signal);
  });
  lock(deno, "chdir", () => refuse("Deno.chdir", `${USE_PROCESS}, or use absolute paths`));
  lock(deno, "addSignalListener", () => refuse("Deno.addSignalListener", USE_PROCESS));
  lock(deno, "removeSignalListener", () => refuse("Deno.removeSignalListener", USE_PROCESS));
  lockGetter(deno, "stdin", () => refuse("Deno.stdin (the host's standard input)", USE_PROCESS));
  lockGetter(globalThis, "caches", () => refuse("The Cache API (it writes to DENO_DIR)", USE_PROCESS));
  delete (deno as unknown as Record<symbol, unknown>)[(deno as unknown as { internal: symbol }).internal];
  // Deno's own stack formatting panics (ending the process) on an error
  // whose message is about 2^29 characters long (measured on 2.9.6). A
  // formatter of V8's is used instead, which cuts the message.
  lock(Error, "prepareStackTrace", formatStack);

  const permissions = deno.permissions;
  const mayImportAll = permissions.querySync({ name: "import" }).state === "granted";
  lock(globalThis, IMPORT_GUARD, (specifier: unknown, options?: ImportCallOptions) => {
    const text = String(specifier);
    const host = importHost(text);
    const granted = mayImportAll ||
      (host !== undefined && permissions.querySync({ name: "import", host }).state === "granted");
    if (!granted) {
      return Promise.reject(
        new NotCapable(
          `Cannot import ${
            JSON.stringify(text).slice(0, 200)
          }: an import whose specifier is computed at run time would make the host fetch it; import it by a literal specifier, or grant permissions.import for its host`,
        ),
      );
    }
    return import(text, options);
  });
  // Code made at run time would hold imports the guard never sees.
  if (!mayImportAll) closeCodeGeneration();
}

/**
 * The host an import fetches from, for the permission check; `undefined`
 * for what has none to check (`data:`, `blob:` and other modules, which may
 * hold imports of their own, are allowed only with every import granted).
 */
function importHost(specifier: string): string | undefined {
  if (specifier.startsWith("npm:")) return "registry.npmjs.org";
  if (specifier.startsWith("jsr:")) return "jsr.io";
  if (!/^https?:/.test(specifier)) return undefined;
  try {
    return new URL(specifier).host;
  } catch {
    return undefined;
  }
}

/** Longest message a stack trace repeats. */
const STACK_MESSAGE_LIMIT = 16 * 1024;

/** Formats a stack as V8 does (`Name: message` then one `at` line a frame), the message cut. */
function formatStack(error: unknown, frames: readonly { toString(): string }[]): string {
  let head: string;
  try {
    const { name, message } = error as { name?: unknown; message?: unknown };
    const text = String(message ?? "");
    const shown = text.length > STACK_MESSAGE_LIMIT ? `${text.slice(0, STACK_MESSAGE_LIMIT)}… (cut)` : text;
    head = shown === "" ? String(name ?? "Error") : `${String(name ?? "Error")}: ${shown}`;
  } catch {
    head = "Error";
  }
  let stack = head;
  for (const frame of frames) stack += `\n    at ${frame}`;
  return stack;
}

/** Closes `eval`, the `Function` constructors and nested workers: code made at run time could import anything. */
function closeCodeGeneration(): void {
  const instead =
    "code made at run time could import what the host never saw; grant permissions.import to allow it";
  // A function, not an arrow: \`new\` must reach the refusal too.
  const forbidden = (what: string) =>
    function () {
      refuse(what, instead);
    };
  lock(globalThis, "eval", forbidden("eval"));
  lock(globalThis, "Worker", forbidden("A nested Worker"));
  const constructors = [
    function () {},
    async function () {},
    function* () {},
    async function* () {},
  ].map((fn) => Object.getPrototypeOf(fn) as { constructor: unknown });
  for (const prototype of constructors) {
    const original = prototype.constructor as { name: string; prototype: unknown };
    const blocked = new Proxy(original as unknown as object, {
      apply: forbidden(`The ${original.name} constructor`),
      construct: forbidden(`The ${original.name} constructor`),
    });
    lock(prototype, "constructor", blocked);
    if (original.name === "Function") lock(globalThis, "Function", blocked);
  }
}
