/**
 * The threat table of SPEC 11, cell by cell: a hostile generation tries each
 * row's attack in each isolation mode, inside a host process of its own (an
 * attack may end or hang its host), and the test asserts what the table
 * says happens. Every host must also exit by itself after `close()`: a
 * leaked worker, process or timer would keep it alive past the watchdog.
 *
 * SECURITY.md shows the table these cases back.
 *
 * @module
 */

import { match, ok, strictEqual } from "node:assert/strict";
import type { Isolation } from "../mod.ts";
import { REPO, runToEnd } from "./_child.ts";
import { Fixture } from "./_fixtures.ts";

/** What the host printed and how it ended. */
interface HostRun {
  /** Reports, by key, as the host printed them. */
  readonly reports: Readonly<Record<string, unknown>>;
  /** Exit code, or undefined when a signal ended it. */
  readonly code: number | undefined;
  /** The signal that ended it, if one did. */
  readonly signal: Deno.Signal | null;
  /** Whether the watchdog had to kill it (it did not exit by itself). */
  readonly hung: boolean;
  readonly stdout: string;
  readonly stderr: string;
}

/** One row of the table: a generation's attack, and what each mode must make of it. */
interface Attack {
  readonly name: string;
  /** Body of `attack(dir)`, a method of the generation's handle; `dir` is the host's working directory. */
  readonly body: string;
  /** Flags of the host beyond read access to the fixture and the repository. */
  readonly hostFlags?: readonly string[];
  /** Options of registerHotswap beyond the isolation. */
  readonly options?: Record<string, unknown>;
  /** What the host does right after the attack, as TypeScript (with `report` in scope). */
  readonly after?: string;
  /** Text written to the host's stdin. */
  readonly stdin?: string;
  /** More files of the fixture, by name. */
  readonly files?: Readonly<Record<string, string>>;
  /** Prepares the fixture beyond files (symlinks). */
  readonly setup?: (fixture: Fixture) => Promise<void>;
  readonly expect: Partial<Record<Isolation, (run: HostRun) => void>>;
}

const HOST = (modUrl: string) =>
  `import { defineContract, registerHotswap } from ${JSON.stringify(modUrl)};
const [isolation, options] = [Deno.args[0], JSON.parse(Deno.args[1]!)];
const report = (key: string, value: unknown) => console.log(JSON.stringify([key, value]));
const contract = defineContract<{ attack(dir: string): unknown; ping(): unknown }>({
  name: "Hostile", version: "1.0.0", symbol: "hs_hostile", shape: { attack: "function", ping: "function" },
});
const hot = await registerHotswap(contract, "attack.ts", { isolation, ...options });
report("cwd", Deno.cwd());
try {
  report("attack", await hot.with((h) => h.attack(Deno.cwd())));
} catch (error) {
  report("refused", (error as { code?: string }).code ?? (error as Error).name);
  report("message", String((error as Error).message).slice(0, 300));
}
report("cwd after", Deno.cwd());
__AFTER__
try {
  report("ping", await hot.with((h) => h.ping()));
} catch (error) {
  report("ping refused", (error as { code?: string }).code ?? (error as Error).name);
}
await hot.close();
report("closed", hot.stats().sandboxes);
`;

/** Milliseconds a host may take before the watchdog kills it. */
const WATCHDOG = 20_000;

async function runHost(fixture: Fixture, attack: Attack, isolation: Isolation): Promise<HostRun> {
  await attack.setup?.(fixture);
  await fixture.write({
    ...attack.files,
    "host.ts": HOST(new URL("../mod.ts", import.meta.url).href).replace("__AFTER__", attack.after ?? ""),
    "attack.ts": `export const hs_hostile = {
  async attack(dir: string) {
    ${attack.body}
  },
  ping: () => "pong",
};`,
  });
  const { code, signal, killed, stdout, stderr } = await runToEnd([
    "run",
    "--no-prompt",
    "--no-lock",
    `--allow-read=${fixture.dir},${REPO}`,
    // An attack that needs more (all of `run`) says so in its own flags.
    ...(attack.hostFlags?.some((flag) => flag.startsWith("--allow-run"))
      ? []
      : [`--allow-run=${Deno.execPath()}`]),
    "--unstable-worker-options",
    ...(attack.hostFlags ?? []),
    "host.ts",
    isolation,
    JSON.stringify(optionsFor(attack, isolation)),
  ], {
    cwd: fixture.dir,
    env: { NO_COLOR: "1" },
    ...(attack.stdin === undefined ? {} : { stdin: attack.stdin }),
    timeout: WATCHDOG,
  });
  const reports: Record<string, unknown> = {};
  for (const line of stdout.split("\n")) {
    if (!line.startsWith("[")) continue;
    const [key, value] = JSON.parse(line) as [string, unknown];
    reports[key] = value;
  }
  return { reports, code: signal === null ? code : undefined, signal, hung: killed, stdout, stderr };
}

/** The attack's options a mode takes: none inline, no process-only ones in a worker. */
function optionsFor(attack: Attack, isolation: Isolation): Record<string, unknown> {
  if (isolation === "inline") return {};
  const { memoryLimit, maxRestarts, ...rest } = attack.options ?? {};
  return isolation === "process" ? { ...rest, memoryLimit, maxRestarts } : rest;
}

/** The host lived on and closed cleanly: nothing left running, exit 0 by itself. */
function survived(run: HostRun): void {
  strictEqual(run.hung, false, `the host did not exit by itself: ${run.stderr}`);
  strictEqual(
    run.reports["closed"],
    0,
    `no worker or process left after close(): ${JSON.stringify(run.reports)}`,
  );
  strictEqual(run.code, 0, run.stderr);
}

/** The host lived on, and the generation still answers. */
function servedAndClosed(run: HostRun): void {
  strictEqual(run.reports["ping"], "pong", JSON.stringify(run.reports) + run.stderr);
  survived(run);
}

/** The attack was refused with `code`; the host lived on (the generation may be gone with its worker). */
function refusedWith(code: string, generationLives = true): (run: HostRun) => void {
  return (run) => {
    strictEqual(run.reports["refused"], code, JSON.stringify(run.reports) + run.stderr);
    (generationLives ? servedAndClosed : survived)(run);
  };
}

/** The generation's output and its error's message reached the host with no control character left. */
function reachesTerminalEscaped(run: HostRun): void {
  const output = run.stdout + run.stderr;
  // deno-lint-ignore no-control-regex -- finding control characters is the point
  ok(!/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/.test(output), JSON.stringify(output));
  for (const what of ["log", "error", "format", "column", "row", "primitive"]) {
    ok(
      output.includes(`${what}\\x1b]0;PWNED\\x07\\x1b[?1049h\\x1b[6n`),
      `${what}: ${JSON.stringify(output)}`,
    );
  }
  strictEqual(run.reports["refused"], "Error");
  ok(String(run.reports["message"]).startsWith("thrown\\x1b]0;PWNED\\x07"), JSON.stringify(run.reports));
  servedAndClosed(run);
}

/** The generation's error, whatever class it reached, did not come out as one of the runtime's. */
function notForged(run: HostRun): void {
  strictEqual(run.reports["refused"], "E_WORKER", JSON.stringify(run.reports) + run.stderr);
  const [name] = run.reports["forged"] as [string, string | undefined];
  ok(name !== "HotswapError", JSON.stringify(run.reports));
  servedAndClosed(run);
}

function endedHost(run: HostRun): void {
  ok(run.code !== 0 || run.signal !== null, `the attack ended the host: ${JSON.stringify(run)}`);
  strictEqual(run.reports["closed"], undefined);
}

export const ATTACKS: readonly Attack[] = [
  {
    name: "use a permission it was not granted (read /etc/hostname)",
    body: 'return Deno.readTextFileSync("/etc/hostname").length > 0;',
    hostFlags: ["--allow-read=/etc/hostname"],
    expect: {
      inline: (run) => {
        strictEqual(run.reports["attack"], true, "inline code has the host's permissions");
        servedAndClosed(run);
      },
      worker: refusedWith("NotCapable"),
      process: refusedWith("NotCapable"),
    },
  },
  {
    name: "end the host with Deno.exit",
    body: "Deno.exit(7);",
    expect: {
      inline: (run) => strictEqual(run.code, 7),
      // Only the worker ends: its calls reject E_WORKER until a swap replaces it.
      worker: refusedWith("E_WORKER", false),
      // Only the child ends; it is restarted from the same snapshot and serves on.
      process: refusedWith("E_WORKER"),
    },
  },
  {
    name: "flood the host through the exit it announces (Deno.exit with a code whose text is 64 MiB)",
    body: 'Deno.exit({ toString: () => "x".repeat(2 ** 26) } as unknown as number);',
    expect: {
      worker: (run) => {
        ok(
          String(run.reports["message"]).includes("ended itself with Deno.exit(object)"),
          JSON.stringify(run.reports),
        );
        refusedWith("E_WORKER", false)(run);
      },
    },
  },
  {
    name: "hang the host with a synchronous loop in a call",
    body:
      "const until = Date.now() + 2_000; while (Date.now() < until) { /* spin */ }\n    return 'finished';",
    options: { callTimeout: 300 },
    expect: {
      inline: (run) => {
        strictEqual(run.reports["attack"], "finished", "the host waited for the loop: nothing can stop it");
        servedAndClosed(run);
      },
      // The host's event loop stays free; the worker's thread spins on (Deno
      // cannot stop it), so calls queued behind the loop time out too.
      worker: refusedWith("E_TIMEOUT", false),
      // The child is SIGKILLed at callTimeout and restarted: the next call is served.
      process: refusedWith("E_TIMEOUT"),
    },
  },
  {
    name: "change the process's working directory (Deno.chdir)",
    body: "Deno.chdir(`${dir}/sub`); return Deno.cwd();",
    files: { "sub/keep.txt": "" },
    options: { permissions: { read: ["."] } },
    expect: {
      inline: (run) => {
        ok(String(run.reports["cwd after"]).endsWith("/sub"), "inline code moves the host");
        servedAndClosed(run);
      },
      worker: refusedWith("NotCapable"),
      process: (run) => {
        ok(String(run.reports["attack"]).endsWith("/sub"), "the child moved its own working directory");
        strictEqual(run.reports["cwd after"], run.reports["cwd"], "the host's working directory stays");
        servedAndClosed(run);
      },
    },
  },
  {
    name: "end the host by killing its own process (Deno.kill(Deno.pid))",
    body: 'Deno.kill(Deno.pid, "SIGKILL");\n    return "alive";',
    expect: {
      inline: (run) => strictEqual(run.signal, "SIGKILL"),
      worker: refusedWith("NotCapable"),
      process: refusedWith("E_WORKER"),
    },
  },
  {
    name: "end the host by killing it after making Set.prototype.has answer true (the runtime's pid check)",
    body: `Set.prototype.has = () => true;
    Deno.kill(Deno.pid, "SIGKILL");
    return "alive";`,
    expect: {
      inline: (run) => strictEqual(run.signal, "SIGKILL"),
      worker: refusedWith("NotCapable"),
      process: refusedWith("E_WORKER"),
    },
  },
  {
    name:
      "end the host with Node's process.kill, taken from the runtime by replacing Function.prototype.call",
    body: `const node = (globalThis as { process: { kill: (...a: unknown[]) => unknown } }).process;
    let leaked: ((...a: unknown[]) => unknown) | undefined;
    const call = Function.prototype.call;
    Function.prototype.call = function (this: (...a: unknown[]) => unknown, ...a: unknown[]) {
      leaked ??= this;
      return Reflect.apply(this, a[0], a.slice(1));
    };
    try { node.kill(Deno.pid, 0); } catch { /* refused */ }
    Function.prototype.call = call;
    if (leaked !== undefined) Reflect.apply(leaked, node, [Deno.pid, "SIGKILL"]);
    return "alive";`,
    // Only a worker's runtime wraps process.kill (inline code needs no trick; a process has its own pid).
    expect: {
      worker: (run) => {
        strictEqual(run.reports["attack"], "alive");
        servedAndClosed(run);
      },
    },
  },
  {
    name:
      "end the host by killing its own process with a pid Deno converts (a fraction, 2^32 + pid, a bigint)",
    body: `for (const pid of [Deno.pid + 0.5, Deno.pid + 2 ** 32, BigInt(Deno.pid)]) {
      try { Deno.kill(pid as number, "SIGKILL"); } catch { /* refused */ }
    }
    return "alive";`,
    expect: {
      inline: (run) => strictEqual(run.signal, "SIGKILL"),
      worker: (run) => {
        strictEqual(run.reports["attack"], "alive");
        servedAndClosed(run);
      },
      process: refusedWith("E_WORKER"),
    },
  },
  {
    name: "end the host by signalling one of its threads (Deno.kill(Deno.pid + 1…3), run granted)",
    // On Linux a signal sent to a thread id ends the thread's whole process. A child it spawned
    // it may still signal, by pid.
    body: `for (let k = 1; k <= 3; k++) {
      try { Deno.kill(Deno.pid + k, "SIGTERM"); } catch { /* refused */ }
    }
    const child = new Deno.Command(${JSON.stringify(Deno.execPath())}, {
      args: ["eval", "setTimeout(() => {}, 30_000)"], stdout: "null", stderr: "null",
    }).spawn();
    Deno.kill(child.pid, "SIGKILL");
    return "alive, child " + (await child.status).signal;`,
    // Deno lets a worker signal another process only with all of `run`.
    hostFlags: ["--allow-run"],
    options: { permissions: { run: true } },
    expect: {
      worker: (run) => {
        strictEqual(run.reports["attack"], "alive, child SIGKILL", JSON.stringify(run.reports) + run.stderr);
        servedAndClosed(run);
      },
    },
  },
  {
    name: "make the host parse a huge result: a getter that answers small, then a DAG of 16.7 million arrays",
    // The encoder checks the value is plain JSON, then JSON.stringify reads the getter again.
    body: `let reads = 0;
    let dag: unknown = 1;
    for (let i = 0; i < 23; i++) dag = [dag, dag];
    return { get value() { return ++reads === 1 ? 1 : dag; } };`,
    expect: {
      process: (run) => {
        strictEqual(run.reports["refused"], "RangeError", JSON.stringify(run.reports) + run.stderr);
        match(String(run.reports["message"]), /holds more than 4000000 arrays and objects/);
        servedAndClosed(run);
      },
    },
  },
  {
    name: "forge the runtime's own errors (E_CLOSED) with the class reached through hooks it runs",
    // The first call hooks `Error.prototype.name` and `Error.prepareStackTrace`, then returns
    // a function, which cannot cross: the runtime's own error for it passes through both hooks.
    // The second throws an error of the class it caught, with a code that speaks of the host.
    body:
      `const scope = globalThis as unknown as { caught?: new (code: string, message: string) => Error; calls?: number };
    scope.calls = (scope.calls ?? 0) + 1;
    if (scope.calls === 1) {
      const grab = (error: unknown) => {
        if (error instanceof Error && error.constructor !== Error) scope.caught ??= error.constructor as never;
      };
      Object.defineProperty(Error.prototype, "name", { configurable: true, get: () => "Error", set(this: unknown) { grab(this); } });
      try {
        (Error as unknown as { prepareStackTrace: unknown }).prepareStackTrace = (error: unknown) => (grab(error), "forged");
      } catch { /* locked, in a worker */ }
      return () => {};
    }
    if (scope.caught === undefined) return "no class caught";
    throw new scope.caught("E_CLOSED", "the runtime is closed");`,
    after: `try {
  await hot.with((h) => h.attack(Deno.cwd()));
  report("forged", ["no error"]);
} catch (error) {
  report("forged", [(error as Error).constructor.name, (error as { code?: string }).code]);
}`,
    expect: { worker: notForged, process: notForged },
  },
  {
    name: "end the host by killing its own process through Node's process.kill",
    body:
      '(globalThis as unknown as { process: { kill(pid: number, signal: string): void } }).process.kill(Deno.pid, "SIGKILL");\n    return "alive";',
    expect: {
      inline: (run) => strictEqual(run.signal, "SIGKILL"),
      worker: refusedWith("NotCapable"),
      process: refusedWith("E_WORKER"),
    },
  },
  {
    name: "read the operator's input through Node's process.stdin",
    body:
      'const stdin = (globalThis as unknown as { process: { stdin: { once(e: string, f: (d: unknown) => void): void } } }).process.stdin;\n    return await new Promise((resolve) => stdin.once("data", (data) => resolve(String(data))));',
    stdin: "swap so/Handles.ts\n",
    expect: {
      inline: (run) => {
        strictEqual(run.reports["attack"], "swap so/Handles.ts\n", "inline code reads the host's stdin");
        survived(run);
      },
      worker: refusedWith("NotCapable"),
    },
  },
  {
    name: "start a node:worker_threads Worker, which the worker's lockdown would not reach",
    body:
      'const threads = (globalThis as unknown as { process: { getBuiltinModule(id: string): { Worker: new (code: string, options: object) => { terminate(): void } } } }).process.getBuiltinModule("node:worker_threads");\n    new threads.Worker("", { eval: true }).terminate();\n    return "started";',
    expect: {
      inline: (run) => {
        strictEqual(run.reports["attack"], "started");
        servedAndClosed(run);
      },
      worker: refusedWith("NotCapable"),
      // Its Cache API would write DENO_DIR: refused unless the generation may write.
      process: refusedWith("NotCapable"),
    },
  },
  {
    name: "take over the host's signals (Deno.addSignalListener)",
    body: 'Deno.addSignalListener("SIGTERM", () => {});\n    return "listening";',
    expect: {
      inline: (run) => {
        strictEqual(run.reports["attack"], "listening", "inline code shares the host's signals");
        // The host exits all the same: the listener is unref'd in Deno.
        strictEqual(run.hung, false);
      },
      worker: refusedWith("NotCapable"),
      process: (run) => {
        strictEqual(run.reports["attack"], "listening", "the child's own signals");
        servedAndClosed(run);
      },
    },
  },
  {
    name: "read the operator's input (Deno.stdin)",
    body:
      "const buffer = new Uint8Array(64);\n    const read = await Deno.stdin.read(buffer);\n    return new TextDecoder().decode(buffer.subarray(0, read ?? 0));",
    stdin: "swap so/Handles.ts\n",
    expect: {
      inline: (run) => {
        strictEqual(run.reports["attack"], "swap so/Handles.ts\n", "inline code reads the host's stdin");
        servedAndClosed(run);
      },
      worker: refusedWith("NotCapable"),
      process: refusedWith("NotCapable"),
    },
  },
  {
    name: "drive the host's terminal (control sequences in its output and its error's message)",
    // Sets the window title, switches to the alternate screen, and asks the terminal for the
    // cursor's position, which a terminal answers by typing into the host's stdin.
    body: `const sequence = "\\x1b]0;PWNED\\x07\\x1b[?1049h\\x1b[6n";
    console.log("log" + sequence);
    console.error("error" + sequence);
    console.log("%s", "format" + sequence);
    // Deno prints a table's row and column names as they are (its cells it escapes).
    console.table([{ ["column" + sequence]: 1 }], ["column" + sequence]);
    console.table({ ["row" + sequence]: { a: 1 } });
    console.table("primitive" + sequence);
    try { Deno.stdout.writeSync(new TextEncoder().encode("stdout" + sequence + "\\n")); } catch { /* refused */ }
    throw new Error("thrown" + sequence);`,
    expect: {
      inline: (run) => {
        ok(run.stdout.includes("log\x1b]0;PWNED\x07"), "inline code writes to the host's terminal");
        servedAndClosed(run);
      },
      worker: reachesTerminalEscaped,
      process: reachesTerminalEscaped,
    },
  },
  {
    name: "make the host fetch a package (computed import of npm:)",
    body:
      'const name = ["npm:", "is-number@7.0.0"].join("");\n    return typeof (await import(name)).default;',
    expect: {
      inline: (run) => {
        strictEqual(run.reports["attack"], "function", "inline code imports whatever it likes");
        servedAndClosed(run);
      },
      worker: refusedWith("NotCapable"),
      // Deno's own refusal: the child runs with --no-npm unless imports are granted. Its code crosses with it.
      process: refusedWith("ERR_MODULE_NOT_FOUND"),
    },
  },
  {
    name: "make the host write its cache (Cache API)",
    body:
      'const cache = await caches.open("hostile");\n    await cache.put("https://example.invalid/", new Response("x"));\n    return "cached";',
    expect: {
      inline: (run) => {
        strictEqual(run.reports["attack"], "cached");
        servedAndClosed(run);
      },
      worker: refusedWith("NotCapable"),
      process: refusedWith("NotCapable"),
    },
  },
  {
    name: "make the host write its DENO_DIR through a nested worker's Cache API",
    body:
      'const worker = new Worker("data:text/javascript,caches.open(\\"h\\").then((c) => c.put(\\"https://example.invalid/\\", new Response(\\"x\\")))", { type: "module" });\n    worker.terminate();\n    return "started";',
    expect: { worker: refusedWith("NotCapable"), process: refusedWith("NotCapable") },
  },
  {
    name: "make the host write its DENO_DIR (localStorage)",
    body:
      'const storage = (globalThis as { localStorage?: Storage }).localStorage;\n    if (storage === undefined) return "no localStorage";\n    storage.setItem("hostile", "x");\n    return "stored";',
    expect: {
      worker: (run) => {
        strictEqual(run.reports["attack"], "no localStorage", "Deno gives workers no localStorage");
        servedAndClosed(run);
      },
      process: refusedWith("NotCapable"),
    },
  },
  {
    name: "read through a symlink inside a granted directory",
    body: "return Deno.readTextFileSync(`${dir}/granted/link`).length > 0;",
    setup: async (fixture) => {
      await Deno.mkdir(fixture.path("granted"));
      await Deno.symlink("/etc/hostname", fixture.path("granted/link"));
    },
    options: { permissions: { read: ["granted"] } },
    hostFlags: ["--allow-read=/etc/hostname"],
    expect: {
      // Deno checks the path as given and follows the link: documented, not stopped.
      worker: (run) => {
        strictEqual(run.reports["attack"], true, JSON.stringify(run.reports));
        servedAndClosed(run);
      },
      process: (run) => {
        strictEqual(run.reports["attack"], true, JSON.stringify(run.reports));
        servedAndClosed(run);
      },
    },
  },
  {
    name: "exhaust the host's memory through the channel (a message flood)",
    body:
      'for (let i = 0; i < 20_000; i++) (self as unknown as Worker).postMessage({ t: "result", id: 4294967295, value: "x".repeat(1_000) });\n    return new Promise(() => {});',
    // The runtime posts with a function it captured: the generation's postMessage is locked.
    expect: { worker: refusedWith("NotCapable") },
  },
  {
    name: "exhaust the host's memory through the channel (a console flood)",
    body: 'for (let i = 0; i < 20_000; i++) console.log("x".repeat(1_000));\n    return "flooded";',
    expect: {
      process: (run) => {
        strictEqual(run.reports["attack"], "flooded");
        servedAndClosed(run);
      },
    },
  },
  {
    name: "exhaust memory outside the V8 heap (a 1 GiB ArrayBuffer)",
    body: "const bytes = new Uint8Array(2 ** 30);\n    bytes.fill(1);\n    return bytes.length;",
    options: { memoryLimit: 128 },
    expect: {
      inline: (run) => {
        strictEqual(run.reports["attack"], 2 ** 30, "the host's own memory");
        servedAndClosed(run);
      },
      // A gap: Deno has no memory cap per Worker, and ArrayBuffers are off the V8 heap anyway.
      worker: (run) => {
        strictEqual(run.reports["attack"], 2 ** 30, "the process's memory: no cap");
        servedAndClosed(run);
      },
      // The RSS watchdog kills the child past memoryLimit; it is restarted and serves on.
      process: refusedWith("E_WORKER"),
    },
  },
  {
    name: "end the host with a Deno panic (the stack of a 2^29-character message)",
    body: 'const error = new Error("x".repeat(2 ** 29 - 24));\n    return error.stack!.length > 0;',
    expect: {
      inline: endedHost,
      // The worker's stacks are formatted by the runtime, which cuts such a message.
      worker: (run) => {
        strictEqual(run.reports["attack"], true);
        servedAndClosed(run);
      },
      process: refusedWith("E_WORKER"),
    },
  },
  {
    name: "end the host with a fatal out-of-memory",
    body: "const keep: number[][] = [];\n    for (;;) keep.push(new Array(1_000_000).fill(keep.length));",
    hostFlags: ["--v8-flags=--max-old-space-size=128"],
    expect: {
      inline: endedHost,
      // A gap Deno leaves: a Worker's fatal OOM ends the whole process (SECURITY.md).
      worker: endedHost,
      process: refusedWith("E_WORKER"),
    },
  },
];

for (const attack of ATTACKS) {
  for (const [isolation, expect] of Object.entries(attack.expect) as [Isolation, (run: HostRun) => void][]) {
    Deno.test(`hostile generation, ${isolation}: ${attack.name}`, async () => {
      await using fixture = await Fixture.create();
      expect(await runHost(fixture, attack, isolation));
    });
  }
}
