/**
 * What a generation in a worker must not reach, taken away before its code
 * runs (SPEC 6.4 and 11). A Deno Worker shares its process with the host, so
 * some of the `Deno` namespace acts on the host itself, whatever the worker's
 * permissions: signalling its own process id or one of its threads,
 * `chdir`, the terminal's stdin,
 * signal listeners, the Cache API (which writes to DENO_DIR), and an
 * `import()` of a computed `npm:`/`jsr:` specifier (which makes the host
 * fetch from the registry). Each is replaced by a function that throws
 * `Deno.errors.NotCapable`, defined non-configurable so the generation
 * cannot put the original back; what it prints reaches the host's terminal
 * with control characters escaped (`_worker_output.ts`);
 * `Deno[Deno.internal]`, which leads to the runtime's internals, is deleted;
 * and stack traces are formatted by a function that cuts huge messages
 * (Deno's own formatter panics on them).
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

import { type NodeProcess, whenNodeProcessReached } from "./_node_process.ts";
import { formatStack } from "./_stack_format.ts";
import { escapeNodeOutput, escapeOutput } from "./_worker_output.ts";

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

/** The largest pid Deno's `kill` takes as it is (an i32). */
const MAX_PID = 0x7fffffff;
// Captured when the runtime loads, before a generation's code can replace it.
const isInteger = Number.isInteger;

/**
 * The processes this worker's generation spawned with `Deno.Command`, until
 * they are reaped: the only pids it may signal. A Worker shares the host's
 * process, and on Linux a signal sent to any of the host's thread ids
 * (`Deno.pid + 1`, …) reaches the whole host, so no pid can be judged safe
 * by itself. A child's own `kill()` (Deno's or Node's) needs no pid.
 */
const children = new Set<number>();

/** Commands made through the locked `Deno.Command`, whose options were checked. */
const checked = new WeakSet<object>();
// Captured: the generation shares this realm, and a replaced
// Function.prototype.call would hand it the original methods, a replaced
// WeakSet.prototype.has would answer for it.
const apply = Reflect.apply;
const isChecked = WeakSet.prototype.has;
const markChecked = WeakSet.prototype.add;
// The pid set above all: a Set.prototype.has answering true let a generation signal its host.
const isChild = Set.prototype.has;
const addChild = Set.prototype.add;
const forgetChild = Set.prototype.delete;
const then = Promise.prototype.then;

function trackChildren(deno: typeof Deno): void {
  // A detached child is not killed when the worker ends (Deno kills only
  // the others): it would outlive the generation, reparented to init.
  const Command = deno.Command;
  lock(
    deno,
    "Command",
    class extends Command {
      constructor(command: string | URL, options?: Deno.CommandOptions) {
        // Read once, into a copy Deno reads too: a getter cannot answer false here and true there.
        const read = options === undefined || options === null ? options : { ...options };
        if (read?.detached) {
          throw new NotCapable(
            `A detached process is not available to a generation in a worker: it would outlive the generation; ${USE_PROCESS}`,
          );
        }
        super(command, read);
        apply(markChecked, checked, [this]);
      }
    },
  );
  // The original constructor stays reachable (the subclass's prototype chain
  // leads to it): a command it made, whose options nobody checked, runs nothing.
  const unchecked = (command: object) => {
    if (!apply(isChecked, checked, [command])) {
      throw new NotCapable(
        `A Deno.Command made other than by new Deno.Command is not available to a generation in a worker; ${USE_PROCESS}`,
      );
    }
  };
  for (const method of ["output", "outputSync"] as const) {
    const original = Command.prototype[method] as (this: Deno.Command) => unknown;
    lock(Command.prototype, method, function (this: Deno.Command) {
      unchecked(this);
      return apply(original, this, []);
    });
  }
  // Deno kills a child when the worker that spawned it ends, unless it was
  // unref()'d: then it outlived the generation, reparented to init. Children
  // keep that kill (on the prototype: calling the original through it would
  // get round an own property); the worker's loop staying alive costs nothing.
  lock(deno.ChildProcess.prototype, "unref", function unref(): void {});
  const prototype = Command.prototype;
  const spawn = prototype.spawn;
  lock(prototype, "spawn", function (this: Deno.Command): Deno.ChildProcess {
    unchecked(this);
    const child: Deno.ChildProcess = apply(spawn, this, []);
    const pid = child.pid;
    apply(addChild, children, [pid]);
    // Reaped when its status settles: only then could the pid name another process, or a thread.
    const forget = () => void apply(forgetChild, children, [pid]);
    apply(then, child.status, [forget, forget]);
    return child;
  });
}

/**
 * `pid` when the generation may signal it: a process it spawned.
 *
 * @throws {TypeError} A pid Deno would convert (a fraction, past 2^31, a
 *   bigint): `Deno.pid + 0.5` and `2 ** 32 + Deno.pid` reached the host.
 * @throws {Deno.errors.NotCapable} Any other process, the host, its threads or a process group.
 */
function killable(pid: unknown, what: string): number {
  if (typeof pid !== "number" || !isInteger(pid) || pid > MAX_PID) {
    throw new TypeError(
      `${what}: the pid must be an integer up to ${MAX_PID}, not ${
        typeof pid === "number" ? pid : typeof pid
      }`,
    );
  }
  if (!apply(isChild, children, [pid])) {
    throw new NotCapable(
      `${what}(${pid}) is not available to a generation in a worker: it may signal by pid only the processes it spawned with Deno.Command (the host's own threads have pids too, and a signal to one ends the host); call kill() on the child (a node:child_process one too), or ${USE_PROCESS}`,
    );
  }
  return pid;
}

/**
 * Takes away what would reach the host. Call once, before any generation
 * code runs in this worker.
 */
export function lockDown(): void {
  const deno = Deno;
  const kill = deno.kill.bind(deno);
  trackChildren(deno);
  lock(deno, "kill", (pid: number, signal?: Deno.Signal) => kill(killable(pid, "Deno.kill"), signal));
  lock(deno, "chdir", () => refuse("Deno.chdir", `${USE_PROCESS}, or use absolute paths`));
  lock(deno, "addSignalListener", () => refuse("Deno.addSignalListener", USE_PROCESS));
  lock(deno, "removeSignalListener", () => refuse("Deno.removeSignalListener", USE_PROCESS));
  lockGetter(deno, "stdin", () => refuse("Deno.stdin (the host's standard input)", USE_PROCESS));
  lockGetter(globalThis, "caches", () => refuse("The Cache API (it writes to DENO_DIR)", USE_PROCESS));
  // The host's terminal: what the generation prints reaches it with control characters escaped.
  escapeOutput();
  const permissions = deno.permissions;
  const mayImportAll = permissions.querySync({ name: "import" }).state === "granted";
  lockNodeOnFirstUse(!mayImportAll);
  // The runtime posts with the function it captured first; a generation's own
  // messages could only be forged replies or a flood, which a synchronous
  // loop would go on sending after the host terminated the worker.
  for (let owner: object | null = globalThis; owner !== null; owner = Object.getPrototypeOf(owner)) {
    if (!Object.hasOwn(owner, "postMessage")) continue;
    lock(owner, "postMessage", () => {
      throw new NotCapable(
        "postMessage is not available to a generation in a worker: the channel to the host is the runtime's; return what the host should see from the handle's functions",
      );
    });
  }
  delete (deno as unknown as Record<symbol, unknown>)[(deno as unknown as { internal: symbol }).internal];
  // Deno's own stack formatting panics (ending the process) on an error
  // whose message is about 2^29 characters long (measured on 2.9.6): see `_stack_format.ts`.
  lock(Error, "prepareStackTrace", formatStack);

  lock(globalThis, IMPORT_GUARD, (specifier: unknown, options?: ImportCallOptions) => {
    const text = String(specifier);
    // A file of the generation's own would be read from disk as it is now, not as it was verified,
    // and resolved from here (the runtime's directory) rather than from the module importing it.
    if (/^\s*(?:\.{0,2}\/|file:)/i.test(text)) {
      return Promise.reject(
        new TypeError(
          `Cannot import ${
            JSON.stringify(text).slice(0, 200)
          }: an import of a local file whose specifier is computed at run time is not part of the generation's verified snapshot; import it by a literal specifier (import("./x.ts")), so that it is read, hashed and loaded with the rest`,
        ),
      );
    }
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
    // What it imports may reach Node's process (a node: module, a package): locked first.
    lockNodeBuiltins();
    return import(text, options);
  });
  // Code made at run time would hold imports the guard never sees.
  if (!mayImportAll) closeCodeGeneration();
}

/**
 * The exports of Node's built-ins that act on the whole process from a
 * worker, as `Deno.kill` and `Deno.stdin` do: Node's `process.kill` and
 * `process.stdin` do not go through `Deno`, and a `node:worker_threads`
 * Worker starts without this lockdown (so it is closed as the global
 * `Worker` is, unless every import is granted). Their default exports'
 * members are locked before any generation code can reach them (see
 * {@linkcode lockNodeOnFirstUse}); an import by name (or of the namespace)
 * takes them at link time, so {@linkcode processWideImport} refuses it when
 * the snapshot is loaded.
 */
const PROCESS_WIDE_EXPORTS: Readonly<Record<string, { names: readonly string[]; unlessImportAll?: true }>> = {
  process: { names: ["kill", "stdin"] },
  v8: { names: ["setFlagsFromString"] },
  worker_threads: { names: ["Worker"], unlessImportAll: true },
};

/**
 * The first import in `externals` that would reach the host through a Node
 * built-in, described for the refusal; `undefined` when there is none.
 *
 * @param externals A module's imports of modules outside the snapshot.
 * @param mayImportAll Whether the generation may import anything (its code may then start workers).
 */
export function processWideImport(
  externals: readonly { readonly specifier: string; readonly names?: readonly string[] | undefined }[],
  mayImportAll: boolean,
): string | undefined {
  for (const { specifier, names } of externals) {
    // A module written in its own specifier: its imports are never read, so neither these checks
    // nor the guard of computed imports reach them (`import { kill } from "node:process"` inside).
    if (/^(data|blob):/i.test(specifier) && !mayImportAll) {
      return `the inline module "${specifier.slice(0, 60)}…"`;
    }
    const builtin = specifier.startsWith("node:") ? specifier.slice("node:".length) : specifier;
    const wide = Object.hasOwn(PROCESS_WIDE_EXPORTS, builtin) ? PROCESS_WIDE_EXPORTS[builtin] : undefined;
    if (wide === undefined || (wide.unlessImportAll && mayImportAll)) continue;
    const taken = names === undefined ? wide.names : wide.names.filter((name) => names.includes(name));
    if (taken.length > 0) {
      return `${names === undefined ? "the namespace of" : taken.join(", ") + " from"} "${specifier}"`;
    }
  }
  return undefined;
}

/** Locks Node's built-ins now, if not yet; a no-op before {@linkcode lockDown}. */
let lockNodeNow: () => void = () => {};

/**
 * Locks the members of Node's built-ins that {@linkcode PROCESS_WIDE_EXPORTS}
 * names, on their default exports (and closes `node:worker_threads`' Worker
 * unless every import is granted), at the latest now: see `_node_process.ts`
 * for why not at {@linkcode lockDown}. Idempotent.
 */
export function lockNodeBuiltins(): void {
  lockNodeNow();
}

/** Arms the locks of Node's built-ins, for when the generation first reaches Node's `process`. */
function lockNodeOnFirstUse(closeThreads: boolean): void {
  lockNodeNow = whenNodeProcessReached((node) => lockNode(node, closeThreads));
}

function lockNode(node: NodeProcess | undefined, closeThreads: boolean): void {
  // Default exports, as `require()` and `process.getBuiltinModule()` give them.
  const nodeBuiltin = (name: string) =>
    node?.getBuiltinModule?.(`node:${name}`) as Record<string, unknown> | undefined;
  const nodeProcess = nodeBuiltin("process");
  if (nodeProcess !== undefined) {
    const kill = nodeProcess.kill as (pid: number, signal?: string | number) => boolean;
    lock(nodeProcess, "kill", (pid: number, signal?: string | number) =>
      // Signal 0 only asks whether the process exists (node's `child.kill(0)` does).
      apply(kill, nodeProcess, [
        signal === 0 || signal === "0" ? pid : killable(pid, "process.kill"),
        signal,
      ]));
    lockGetter(nodeProcess, "stdin", () => refuse("process.stdin (the host's standard input)", USE_PROCESS));
    escapeNodeOutput(nodeProcess);
  }
  const v8 = nodeBuiltin("v8");
  if (v8 !== undefined) {
    lock(
      v8,
      "setFlagsFromString",
      () => refuse("v8.setFlagsFromString (V8's flags are the process's)", USE_PROCESS),
    );
  }
  const workerThreads = closeThreads ? nodeBuiltin("worker_threads") : undefined;
  // Its workers start without this lockdown.
  if (workerThreads !== undefined) {
    lock(workerThreads, "Worker", function () {
      refuse(
        "A node:worker_threads Worker",
        "code made at run time could import what the host never saw; grant permissions.import to allow it",
      );
    });
  }
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
