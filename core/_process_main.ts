/**
 * The program a generation's process runs (`deno run` with exactly the
 * generation's permissions). It reads frames from stdin and writes frames to
 * stdout; nothing else may use those: the generation's console output is
 * sent to the host as `LOG` frames, and stderr is left to Deno's own
 * diagnostics (uncaught errors, out-of-memory reports), which the host
 * quotes when the process dies.
 *
 * On `LOAD` it mints the snapshot's modules into `blob:` URLs itself, with
 * the same rewrite as `Snapshot.mint()`, and a {@linkcode Guest} (shared
 * with worker isolation) imports, verifies and describes the handle and
 * invokes its members.
 *
 * A watchdog thread kills the process when its resident memory passes the
 * limit (memory outside the V8 heap, which `--max-old-space-size` does not
 * cap) or when the host is gone; a thread, because a generation spinning in
 * a synchronous loop stops this program's event loop but not another
 * isolate's.
 *
 * @module
 */

import { formatWithOptions, inspect } from "node:util";
import { assertEncodable, decodeValue, encodeValue } from "./_codec.ts";
import { FrameReader, FrameWriter, HEADER_BYTES, payloadText } from "./_frames.ts";
import { Guest, uncopiedResult } from "./_guest.ts";
import { mintModules } from "./_mint.ts";
import { COMPUTED_IMPORT, defineComputedImport } from "./_computed_import.ts";
import { type NodeProcess, whenNodeProcessReached } from "./_node_process.ts";
import { formatStack, nameFrames } from "./_stack_format.ts";
import {
  ABORT,
  CALL,
  ERROR,
  HOOK,
  HOOK_DISPOSE,
  INIT,
  type InitPayload,
  LOAD,
  LOADED,
  type LoadPayload,
  LOG,
  LOG_ERR,
  LOG_OUT,
  MAX_HOST_FRAME,
  MAX_LOG_LINE,
  MAX_PROCESS_FRAME,
  PROBE,
  READY,
  RESULT,
} from "./_process_protocol.ts";

/**
 * Resident memory the watchdog thread itself adds (measured: 10-15 MB on
 * Deno 2.9.6), allowed on top of the baseline taken before it starts.
 */
const WATCHDOG_BYTES = 24 * 1024 * 1024;
/** How often the watchdog samples resident memory, in milliseconds. */
const WATCHDOG_INTERVAL = 10;

// Captured before generation code runs: it may replace any of these, and
// this program must keep its channel and its way out.
const stdin = Deno.stdin;
const stdout = Deno.stdout;
const read = stdin.read.bind(stdin);
const writeSync = stdout.writeSync.bind(stdout);
const denoExit = Deno.exit.bind(Deno);
/**
 * The processes the generation spawned with `Deno.Command` and not yet
 * reaped. Deno kills a child when its handle is dropped, but an exit drops
 * nothing, and the host's SIGKILL neither: ended here before this process
 * exits, or they would outlive the generation (reparented to init).
 */
const spawned = new Set<Deno.ChildProcess>();
// Every method used on them captured: the generation shares this realm, and
// a no-op ChildProcess.prototype.kill or Set.prototype.add would leave its
// children running.
const apply = Reflect.apply;
const addSpawned = Set.prototype.add;
const forgetSpawned = Set.prototype.delete;
const eachSpawned = Set.prototype.forEach;
const killChild = Deno.ChildProcess.prototype.kill;
const then = Promise.prototype.then;
const killSpawned = (): void => {
  apply(eachSpawned, spawned, [(child: Deno.ChildProcess) => {
    try {
      apply(killChild, child, ["SIGKILL"]);
    } catch {
      // Exited meanwhile.
    }
  }]);
};
const exit = (code: number): never => {
  killSpawned();
  return denoExit(code);
};
const exitSoon = setTimeout;
const spawn = Deno.Command.prototype.spawn;
// A getter the generation could replace on the prototype: one answering at
// once would make this forget a child still running.
const statusOf = Object.getOwnPropertyDescriptor(Deno.ChildProcess.prototype, "status")!.get!;
function trackedSpawn(this: Deno.Command): Deno.ChildProcess {
  const child: Deno.ChildProcess = apply(spawn, this, []);
  apply(addSpawned, spawned, [child]);
  const forget = () => void apply(forgetSpawned, spawned, [child]);
  apply(then, apply(statusOf, child, []), [forget, forget]);
  return child;
}
Object.defineProperty(Deno.Command.prototype, "spawn", {
  value: trackedSpawn,
  writable: false,
  configurable: false,
});
trackCommands();
// A generation's own Deno.exit ends what it spawned too, and so does `close()`,
// which Deno's own version turns into an exit that passes by `Deno.exit`
// (on a timer: the call returns first, as a window's close does).
Object.defineProperty(Deno, "exit", { value: exit, writable: false, configurable: false });
let closing = false;
Object.defineProperty(globalThis, "close", {
  value: function close(): void {
    if (closing) return;
    closing = true;
    exitSoon(() => exit(0), 0);
  },
  writable: false,
  configurable: false,
});
const stringify = JSON.stringify;
const parse = JSON.parse;
const utf8 = new TextEncoder();

// Written synchronously: measured here, an asynchronous write to a pipe
// costs the process 20-30 µs more CPU per round trip (a thread-pool hop).
// The host reads its end continuously, so a full pipe only means the host
// is busy, and waiting for it is the backpressure wanted.
const writer = new FrameWriter((bytes) => {
  try {
    let at = 0;
    while (at < bytes.length) at += writeSync(bytes.subarray(at));
    return Promise.resolve();
  } catch (error) {
    return Promise.reject(error);
  }
}, () => {
  // The host closed the channel: nobody is left to serve.
  exit(0);
});

const guest = new Guest({
  succeed(id, value) {
    let text: string;
    try {
      text = bounded(encodeValue(value), "The result");
    } catch (error) {
      guest.fail(id, uncopiedResult(error));
      return;
    }
    writer.frame(RESULT, id, 0, text);
  },
  fail(id, error) {
    writer.frame(ERROR, id, 0, stringify(error));
  },
}, assertEncodable);

redirectConsole();
// Captured first: the watchdog runs in a worker, which the generation may not start (see below).
const WatchdogWorker = globalThis.Worker;
/**
 * Sets Node's process up as a generation may meet it (see `keepChannelAndCache`),
 * if the generation has not reached it yet; idempotent.
 */
let setUpNodeProcess = (): void => {};
/** What `node:worker_threads`' Worker becomes, as `Worker` did, without write permission. */
let refuseNodeWorker: (() => never) | undefined;
keepChannelAndCache();
// Stacks the generation logs or reads name its files, not blob: URLs; see `_stack_format.ts`.
Error.prepareStackTrace = formatStack;
// Ctrl-C at the host's terminal signals the whole process group, this
// process included, and so do systemd (KillMode=control-group), GNU timeout
// and `kill -- -<pgid>` with SIGTERM or SIGHUP: the host decides when its
// generations end (a graceful close drains them first; a host that dies
// closes the channel, and this process ends at once), so these are ignored
// here. Before, a group SIGTERM killed this process under a request the
// host was still draining.
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) Deno.addSignalListener(signal, () => {});

const frames = new FrameReader(MAX_HOST_FRAME, (type, id, arg, payload) => {
  switch (type) {
    case INIT:
      startWatchdog(parse(payloadText(payload)) as InitPayload);
      writer.frame(READY, 0, 0, "");
      return;
    case LOAD:
      load(id, payloadText(payload)).catch((error) => guest.fail(id, error));
      return;
    case CALL: {
      let args: unknown;
      try {
        args = decodeValue(payloadText(payload));
        if (!Array.isArray(args)) throw new TypeError("The arguments of a call are not an array");
      } catch (error) {
        guest.fail(id, error);
        return;
      }
      guest.invoke(id, arg, args);
      return;
    }
    case HOOK:
      guest.hook(id, arg === HOOK_DISPOSE ? "dispose" : "handoff");
      return;
    case ABORT:
      guest.abort(payloadText(payload));
      return;
    case PROBE:
      writer.frame(RESULT, id, 0, "");
      return;
  }
});

async function load(id: number, text: string): Promise<void> {
  const request = decodeValue(text) as LoadPayload;
  defineComputedImport();
  const minted = mintModules(request.modules, COMPUTED_IMPORT);
  nameFrames(minted.files, minted.shifts);
  // A module naming anything outside the snapshot may reach Node's process without the global.
  if (request.modules.some((module) => /\b(node|npm|jsr|https?|data|blob):/.test(module.source))) {
    setUpNodeProcess();
  }
  const loaded = await guest.load({
    ...request,
    url: minted.url,
    thenable: minted.thenable,
    files: minted.files,
  });
  // The files let the host name them where Deno's own diagnostics on stderr print a `blob:` URL.
  writer.frame(
    LOADED,
    id,
    0,
    bounded(encodeValue({ ...loaded, files: [...minted.files] }), "The handle's description"),
  );
}

/**
 * Refuses a payload larger than the host accepts: sent, it would be a
 * protocol violation and the host would kill this process.
 *
 * @throws {RangeError} Naming the sizes.
 */
function bounded(text: string, what: string): string {
  // Most texts are short enough that even 3 bytes per character fit.
  if (text.length * 3 <= MAX_PROCESS_FRAME - HEADER_BYTES) return text;
  const bytes = utf8.encode(text).length;
  if (bytes <= MAX_PROCESS_FRAME - HEADER_BYTES) return text;
  throw new RangeError(
    `${what} takes ${Math.ceil(bytes / 1048576)} MiB, more than the ${
      MAX_PROCESS_FRAME / 1048576
    } MiB a process may send the host at once; return less per call`,
  );
}

/**
 * Sends the generation's console output to the host as `LOG` frames, so it
 * cannot corrupt the channel on stdout. `log`, `info`, `debug`, `error`,
 * `warn`, `dir` and `dirxml` are formatted here. The others (`table`,
 * `count`, `time*`, `group*`, `trace`, `assert`) write to stdout themselves
 * in Deno 2.9.6, which is the channel: the first call of one makes a Node
 * `Console` writing to the host's frames, and from then on every method
 * goes through it (so that `group` indents what `log` prints). Made on
 * first use: loading `node:console` costs a process about 12 ms at start
 * (measured), and most generations never call these.
 */
function redirectConsole(): void {
  /** Console methods that write to stdout themselves in Deno 2.9.6. */
  const CONSOLE_WRITERS = [
    "table",
    "count",
    "countReset",
    "time",
    "timeLog",
    "timeEnd",
    "group",
    "groupCollapsed",
    "groupEnd",
    "trace",
    "assert",
    "clear",
  ] as const;
  const format = (args: unknown[]) => formatWithOptions({ colors: false }, ...args);
  const replace = (name: string, value: (...args: unknown[]) => void) => {
    Object.defineProperty(console, name, { value, writable: true, configurable: true, enumerable: true });
  };
  for (const name of ["log", "info", "debug"]) replace(name, (...args) => sendLog(LOG_OUT, format(args)));
  for (const name of ["error", "warn"]) replace(name, (...args) => sendLog(LOG_ERR, format(args)));
  const dir = (item: unknown, options?: unknown) =>
    sendLog(LOG_OUT, inspect(item, { ...(options as object | undefined), colors: false }));
  replace("dir", dir as (...args: unknown[]) => void);
  replace("dirxml", (...args) => sendLog(LOG_OUT, format(args)));
  for (const name of CONSOLE_WRITERS) {
    replace(name, (...args) => {
      // Every method from now on, `log` included: a group indents what it prints.
      const nodeConsole = frameConsole();
      for (const [method, call] of Object.entries(nodeConsole)) {
        if (typeof call === "function") replace(method, call.bind(nodeConsole));
      }
      (console as unknown as Record<string, (...args: unknown[]) => void>)[name]!(...args);
    });
  }
}

/** Sends one line of the generation's output to the host, as a `LOG` frame (cut when too long). */
function sendLog(level: number, text: string): void {
  writer.frame(
    LOG,
    0,
    level,
    text.length > MAX_LOG_LINE / 3 ? `${text.slice(0, MAX_LOG_LINE / 3 - 64)}… (cut)` : text,
  );
}

/** A Node `Console` whose stdout and stderr are `LOG` frames to the host, one per write. */
function frameConsole(): Record<string, ((...args: unknown[]) => void) | undefined> {
  const node = (globalThis as { process?: NodeProcess & { stdout?: unknown; stderr?: unknown } }).process;
  const { Console } = node?.getBuiltinModule?.("node:console") as {
    Console: new (options: object) => Record<string, (...args: unknown[]) => void>;
  };
  // Node's process.stdout and stderr, which reaching `process` made LOG frames (see `keepChannelAndCache`).
  return new Console({ stdout: node?.stdout, stderr: node?.stderr, colorMode: false });
}

/** A Node `Writable` whose every write is a `LOG` frame to the host, its last newline dropped. */
function frameStream(node: NodeProcess, level: number): unknown {
  const { Writable } = node.getBuiltinModule?.("node:stream") as {
    Writable: new (options: object) => unknown;
  };
  return new Writable({
    write(chunk: unknown, _encoding: string, done: () => void) {
      sendLog(level, String(chunk).replace(/\n$/, ""));
      done();
    },
  });
}

/**
 * Takes from the generation what is not its own in this process: stdin and
 * stdout carry the runtime's channel (a read would steal the host's frames,
 * a write would corrupt them; console output goes to the host as log frames),
 * and the Cache API and `localStorage` write to the DENO_DIR this process
 * shares with the host, without any permission (measured on 2.9.6), unless
 * the generation may write anywhere; so would a nested worker's.
 */
function keepChannelAndCache(): void {
  // A function, not an arrow: `new Worker()` must reach the refusal too.
  const refuse = (what: string, instead: string) =>
    function (): never {
      throw new Deno.errors.NotCapable(`${what} is not available to a generation in a process: ${instead}`);
    };
  const lockGetter = (owner: object, key: string, get: () => unknown) =>
    Object.defineProperty(owner, key, { get, enumerable: true, configurable: false });
  lockGetter(Deno, "stdin", refuse("Deno.stdin", "it carries the runtime's channel to the host"));
  lockGetter(Deno, "stdout", refuse("Deno.stdout", "it carries the runtime's channel; use console.log"));
  if (Deno.permissions.querySync({ name: "write" }).state !== "granted") {
    lockGetter(
      globalThis,
      "caches",
      refuse("The Cache API", "it writes to DENO_DIR; grant permissions.write to use it"),
    );
    // Kept in DENO_DIR too, and read again by the next generation process: a write, and a channel between them.
    lockGetter(
      globalThis,
      "localStorage",
      refuse(
        "localStorage",
        "it writes to DENO_DIR; use sessionStorage, or grant permissions.write to use it",
      ),
    );
    // A nested worker has a global of its own, Cache API included, which these locks do not reach.
    const refuseWorker = refuse(
      "A Worker",
      "it would have a Cache API of its own, which writes to DENO_DIR; grant permissions.write to use workers",
    );
    Object.defineProperty(globalThis, "Worker", {
      value: refuseWorker,
      writable: false,
      configurable: false,
    });
    refuseNodeWorker = refuseWorker;
  }
  // Node's process too, when the generation first reaches it (see `_node_process.ts`): its
  // stdout and stderr write to the channel's file descriptors otherwise; and Node's Worker.
  setUpNodeProcess = whenNodeProcessReached((node) => {
    if (node === undefined) return;
    // Node's abort() ends the process by SIGABRT, past `Deno.exit`: what the generation spawned first.
    const abort = (node as { abort?: () => never }).abort;
    if (typeof abort === "function") {
      Object.defineProperty(node, "abort", {
        value: function abortProcess(): never {
          killSpawned();
          return apply(abort, node, []);
        },
        writable: false,
        configurable: false,
      });
    }
    for (const [name, level] of [["stdout", LOG_OUT], ["stderr", LOG_ERR]] as const) {
      Object.defineProperty(node, name, {
        value: frameStream(node, level),
        writable: false,
        configurable: false,
      });
    }
    const threads = node.getBuiltinModule?.("node:worker_threads") as object | undefined;
    if (threads !== undefined && refuseNodeWorker !== undefined) {
      Object.defineProperty(threads, "Worker", {
        value: refuseNodeWorker,
        writable: false,
        configurable: false,
      });
    }
  });
}

/**
 * Starts the watchdog thread. Its limit is the resident memory now, before
 * any generation code ran, plus `memoryLimit` and the thread's own share.
 * Deno lets a process signal itself without run permission.
 */
function startWatchdog({ memoryLimit }: InitPayload): void {
  const limit = Deno.memoryUsage().rss + memoryLimit + WATCHDOG_BYTES;
  const source = `
const limit = ${limit};
const parent = ${Deno.ppid};
const encoder = new TextEncoder();
const end = (why) => {
  try { Deno.stderr.writeSync(encoder.encode("hotswap: " + why + "\\n")); } catch {}
  Deno.kill(Deno.pid, "SIGKILL");
};
setInterval(() => {
  // Re-parented: the host is gone, and this process must not outlive it.
  if (Deno.ppid !== parent) end("the host process is gone");
  const rss = Deno.memoryUsage().rss;
  if (rss > limit) end("resident memory " + Math.round(rss / 1048576) + " MiB passed the limit of " + Math.round(limit / 1048576) + " MiB");
}, ${WATCHDOG_INTERVAL});
`;
  new WatchdogWorker(`data:text/javascript,${encodeURIComponent(source)}`, {
    type: "module",
    name: "hotswap memory watchdog",
  });
}

const chunk = new Uint8Array(256 * 1024);
for (;;) {
  const count = await read(chunk);
  if (count === null) break;
  frames.push(chunk.subarray(0, count));
  // Answers of calls that returned at once go out before the next read is
  // started, which would delay them by a thread hop.
  writer.flush();
}
// The host closed stdin: it unloaded this generation or is gone.
exit(0);

/**
 * Commands a generation makes, kept with their options:
 *
 * - `output()` (and `Deno.spawnAndWait()`, which is `output()`) starts its
 *   child without `spawn()`, so the child escaped the tracking above and
 *   outlived the generation. Here it spawns, tracked, what Deno's would.
 * - This process's stdin and stdout carry the runtime's channel with the
 *   host: a child that inherited them (Deno's default for `spawn()`) read
 *   the host's frames and wrote into the replies, and the host ended the
 *   generation for a broken protocol. They default to "null" here, and
 *   "inherit" is refused with the reason; stderr may be inherited.
 *
 * Options are read when the command runs, as Deno reads them (inherited and
 * getter options included). A command made by the original constructor
 * (Deno's own, `node:child_process`'s, or one a generation reaches through
 * the subclass's prototype) runs as Deno runs it: its `spawn()` tracked,
 * its `output()` not. `outputSync()` blocks this process until its child
 * ends, so only a SIGKILL meanwhile leaves that child behind (SECURITY.md).
 */
function trackCommands(): void {
  const Command = Deno.Command;
  const made = new WeakMap<object, readonly [string | URL, Deno.CommandOptions | undefined]>();
  const recall = WeakMap.prototype.get;
  const remember = WeakMap.prototype.set;
  const childOutput = Deno.ChildProcess.prototype.output;
  const output = Command.prototype.output;
  const isArray = Array.isArray;
  const recalled = (command: object) =>
    apply(recall, made, [command]) as readonly [string | URL, Deno.CommandOptions | undefined] | undefined;
  // Named as Deno's is: a generation inspecting it or its commands sees "Command".
  const Tracked = class Command extends Deno.Command {
    constructor(command: string | URL, options?: Deno.CommandOptions) {
      super(command, options);
      apply(remember, made, [this, [command, options]]);
    }
  };
  /** The options Deno reads, read now, with the channel's streams never inherited. */
  const spawnOptions = (
    options: Deno.CommandOptions | undefined,
    defaults: {
      stdin: Deno.CommandOptions["stdin"];
      stdout: Deno.CommandOptions["stdout"];
      stderr: Deno.CommandOptions["stderr"];
    },
  ): Deno.CommandOptions => {
    const stdin = options?.stdin ?? defaults.stdin;
    const stdout = options?.stdout ?? defaults.stdout;
    for (const [name, value] of [["stdin", stdin], ["stdout", stdout]] as const) {
      if (value === "inherit") {
        throw new Deno.errors.NotCapable(
          `${name}: "inherit" is not available to a generation in a process: this process's ${name} carries the runtime's channel with the host; use "piped" or "null"`,
        );
      }
    }
    return {
      args: options?.args,
      cwd: options?.cwd,
      clearEnv: options?.clearEnv,
      env: options?.env,
      uid: options?.uid,
      gid: options?.gid,
      signal: options?.signal,
      windowsRawArguments: options?.windowsRawArguments,
      detached: options?.detached,
      stdin,
      stdout,
      stderr: options?.stderr ?? defaults.stderr,
      // Left undefined when not given: Deno's own defaults apply, as they would to the caller's options.
    } as Deno.CommandOptions;
  };
  Object.defineProperty(Deno, "Command", { value: Tracked, writable: false, configurable: false });
  Object.defineProperty(Tracked.prototype, "spawn", {
    value: function (this: Deno.Command): Deno.ChildProcess {
      const known = recalled(this);
      if (known === undefined) return apply(trackedSpawn, this, []);
      const [command, options] = known;
      const defaults = { stdin: "null", stdout: "null", stderr: "inherit" } as const;
      return apply(trackedSpawn, new Command(command, spawnOptions(options, defaults)), []);
    },
    writable: false,
    configurable: false,
  });
  Object.defineProperty(Command.prototype, "output", {
    value: function (this: Deno.Command): Promise<Deno.CommandOutput> {
      const known = recalled(this);
      if (known === undefined) return apply(output, this, []);
      const [command, options] = known;
      // Thrown, not rejected, as Deno's output() throws before it starts anything.
      if (options?.stdin === "piped") {
        throw new TypeError(
          "Piped stdin is not supported for this function, use 'Deno.Command.spawn()' instead",
        );
      }
      const defaults = { stdin: "null", stdout: "piped", stderr: "piped" } as const;
      const child: Deno.ChildProcess = apply(
        trackedSpawn,
        new Command(command, spawnOptions(options, defaults)),
        [],
      );
      return apply(childOutput, child, []);
    },
    writable: false,
    configurable: false,
  });
  // Deno's shorthands make their commands with the original constructor: made here with the tracked one.
  const shorthand = <R>(run: (command: Deno.Command) => R) =>
  (
    command: string | URL,
    argsOrOptions?: string[] | Deno.CommandOptions,
    options?: Deno.CommandOptions,
  ): R => {
    if (!isArray(argsOrOptions)) return run(new Tracked(command, argsOrOptions));
    if (options?.args !== undefined) {
      throw new TypeError(
        "Passing 'args' in options is not allowed when args are passed as a separate argument",
      );
    }
    return run(new Tracked(command, { ...options, args: argsOrOptions }));
  };
  for (
    const [name, run] of [
      ["spawn", (command: Deno.Command) => command.spawn()],
      ["spawnAndWait", (command: Deno.Command) => command.output()],
    ] as const
  ) {
    Object.defineProperty(Deno, name, {
      value: shorthand<unknown>(run),
      writable: false,
      configurable: false,
    });
  }
}
