/**
 * Processes a worker or process generation spawns end with it: closing the
 * reference leaves none behind, unref()'d ones included (they were
 * reparented to init and ran on, found by an audit).
 *
 * @module
 */

import { match, ok, rejects, strictEqual } from "node:assert/strict";
import { defineContract, type Isolation, registerHotswap } from "../mod.ts";
import { Fixture } from "./_fixtures.ts";

interface Spawner {
  spawn(unref: boolean): number;
}

const spawner = defineContract<Spawner>({
  name: "Spawner",
  version: "1.0.0",
  symbol: "hs_spawner",
  shape: { spawn: "function" },
});

/** The first of `paths` that is a file. */
function program(...paths: string[]): string | undefined {
  return paths.find((path) => {
    try {
      return Deno.statSync(path).isFile;
    } catch {
      return false;
    }
  });
}

/** coreutils' cat: with no arguments, copies its stdin. */
const CAT = program("/usr/bin/cat", "/bin/cat");

/** A program that waits a minute: coreutils' sleep. */
const SLEEP = program("/usr/bin/sleep", "/bin/sleep");

const SPAWNER = `export const hs_spawner = {
  spawn(unref: boolean): number {
    const child = new Deno.Command(${JSON.stringify(SLEEP)}, {
      args: ["61"],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    // Through the prototype: an own property locked on the child would not stop this call.
    if (unref) Deno.ChildProcess.prototype.unref.call(child);
    // And the runtime's own kill of it made a no-op: it must hold its own copy.
    Object.defineProperty(Deno.ChildProcess.prototype, "kill", { value: () => {}, configurable: true });
    return child.pid;
  },
};
`;

/** Whether `pid` names a live process (a zombie counts as gone); `ps`, as /proc needs --allow-all. */
async function alive(pid: number): Promise<boolean> {
  const { success, stdout } = await new Deno.Command("ps", { args: ["-o", "stat=", "-p", String(pid)] })
    .output();
  return success && !new TextDecoder().decode(stdout).trim().startsWith("Z");
}

/**
 * Waits until `done()` holds, at most `ms`; says whether it did. Polled: the
 * end of a process that is not the test's own child raises no event here.
 */
async function until(done: () => Promise<boolean>, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!(await done())) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return true;
}

Deno.test({
  name: "worker mode: a detached process, which would outlive the generation, is refused",
  ignore: Deno.build.os !== "linux" || SLEEP === undefined,
  fn: async () => {
    await using fixture = await Fixture.create();
    const entry = await fixture.write({
      "spawner.ts": SPAWNER.replace('stderr: "null",', 'stderr: "null",\n      detached: true,'),
      // The original constructor, the locked one's prototype: its commands run nothing.
      "original.ts": SPAWNER.replace("new Deno.Command(", "new (Object.getPrototypeOf(Deno.Command))(")
        .replace('stderr: "null",', 'stderr: "null",\n      detached: true,'),
    });
    await using hot = await registerHotswap(spawner, entry, {
      isolation: "worker",
      permissions: { run: [SLEEP!] },
    });
    await rejects(
      hot.with((h) => h.spawn(false)),
      /A detached process is not available to a generation in a worker: it would outlive the generation/,
    );
    await hot.swap(fixture.path("original.ts"));
    await rejects(
      hot.with((h) => h.spawn(false)),
      /A Deno.Command made other than by new Deno.Command is not available to a generation in a worker/,
    );
  },
});

for (const isolation of ["worker", "process"] as const satisfies readonly Isolation[]) {
  Deno.test({
    name:
      `${isolation} mode: processes the generation spawned, unref()'d ones too, end when the reference closes`,
    ignore: Deno.build.os !== "linux" || SLEEP === undefined,
    fn: async () => {
      await using fixture = await Fixture.create();
      const entry = await fixture.write({ "spawner.ts": SPAWNER });
      const hot = await registerHotswap(spawner, entry, {
        isolation,
        permissions: { run: [SLEEP!] },
      });
      const pids: number[] = [];
      try {
        pids.push(await hot.with((h) => h.spawn(false)), await hot.with((h) => h.spawn(true)));
        for (const pid of pids) ok(await alive(pid), `child ${pid} should run before close()`);
      } finally {
        await hot.close();
      }
      const survivors: number[] = [];
      for (const pid of pids) if (!(await until(async () => !(await alive(pid)), 5_000))) survivors.push(pid);
      // Killed before failing: a failed run leaves nothing behind either.
      for (const pid of survivors) await new Deno.Command("kill", { args: ["-9", String(pid)] }).output();
      ok(survivors.length === 0, `children ${survivors.join(", ")} still ran after close()`);
    },
  });
}

/** Pids of running processes whose command line is exactly `args` (`ps`). */
async function pidsRunning(args: string): Promise<number[]> {
  const { stdout } = await new Deno.Command("ps", { args: ["-eo", "pid=,stat=,args="] }).output();
  return new TextDecoder().decode(stdout).split("\n").map((line) => line.trim().split(/\s+/))
    .filter(([, stat, ...rest]) => stat !== undefined && !stat.startsWith("Z") && rest.join(" ") === args)
    .map(([pid]) => Number(pid));
}

/** How a refused generation's top level starts a child running `SLEEP <seconds>`. */
const STARTS: readonly { readonly how: string; readonly start: (seconds: string) => string }[] = [
  {
    how: "spawned",
    start: (seconds) =>
      `new Deno.Command(${
        JSON.stringify(SLEEP)
      }, { args: ["${seconds}"], stdin: "null", stdout: "null", stderr: "null" }).spawn();`,
  },
  {
    // Not awaited: the output would come in a minute; the module refuses itself at once.
    how: "started with output(), which spawn() never sees,",
    start: (seconds) => `new Deno.Command(${JSON.stringify(SLEEP)}, { args: ["${seconds}"] }).output();`,
  },
  {
    // Deno's shorthand, which makes its command with the original constructor.
    how: "started with Deno.spawnAndWait()",
    start: (seconds) => `Deno.spawnAndWait(${JSON.stringify(SLEEP)}, ["${seconds}"]);`,
  },
  {
    // A status that settles at once would have the runtime forget the child.
    how: "spawned with ChildProcess.prototype.status replaced",
    start: (seconds) =>
      `Object.defineProperty(Deno.ChildProcess.prototype, "status", { get: () => Promise.resolve({ success: true, code: 0, signal: null }), configurable: true });
new Deno.Command(${JSON.stringify(SLEEP)}, { args: ["${seconds}"] }).spawn();`,
  },
];

for (const { how, start } of STARTS) {
  Deno.test({
    name: `process mode: what a refused generation ${how} at its top level ends with its process`,
    ignore: Deno.build.os !== "linux" || SLEEP === undefined,
    fn: async () => {
      await using fixture = await Fixture.create();
      // A duration no other process runs with: how the test finds the child it cannot be told of.
      const seconds = `61.${Math.floor(Math.random() * 1e6)}`;
      const good = await fixture.write({ "spawner.ts": SPAWNER });
      const refused = await fixture.write({
        "refused.ts": `${start(seconds)}\nexport const hs_spawner = { spawn: "not a function" };\n`,
      });
      await using hot = await registerHotswap(spawner, good, {
        isolation: "process",
        permissions: { run: [SLEEP!] },
      });
      await rejects(hot.swap(refused), (error: Error & { code?: string }) => error.code === "E_CONTRACT");
      let left: number[] = [];
      await until(async () => (left = await pidsRunning(`${SLEEP} ${seconds}`)).length === 0, 5_000);
      for (const pid of left) await new Deno.Command("kill", { args: ["-9", String(pid)] }).output();
      ok(left.length === 0, `the refused generation's child ${left.join(", ")} still ran`);
    },
  });
}

Deno.test({
  name:
    "process mode: output() answers as Deno's does (piped output, null stdin, a refused piped stdin); spawn() never inherits the channel",
  ignore: Deno.build.os !== "linux" || SLEEP === undefined || CAT === undefined,
  fn: async () => {
    await using fixture = await Fixture.create();
    const entry = await fixture.write({
      "runner.ts": `export const hs_runner = {
  async spawn(program: string, stdout: "inherit" | undefined): Promise<string> {
    try {
      // With Deno's defaults, cat would read the host's frames and echo them into the replies.
      const child = new Deno.Command(program, { ...(stdout ? { stdout } : {}), stderr: "null" }).spawn();
      return String((await child.status).code);
    } catch (error) {
      return (error as Error).name + ": " + (error as Error).message;
    }
  },
  async run(program: string, args: string[], stdin: "piped" | undefined): Promise<string> {
    try {
      const { code, stdout, stderr } = await new Deno.Command(program, { args, ...(stdin ? { stdin } : {}) }).output();
      return code + " " + stdout.length + " " + stderr.length;
    } catch (error) {
      return (error as Error).name + ": " + (error as Error).message;
    }
  },
};
`,
    });
    type Runner = {
      run(program: string, args: string[], stdin: "piped" | undefined): Promise<string>;
      spawn(program: string, stdout: "inherit" | undefined): Promise<string>;
    };
    const runner = defineContract<Runner>({
      name: "Runner",
      version: "1.0.0",
      symbol: "hs_runner",
      shape: { run: "function", spawn: "function" },
    });
    await using hot = await registerHotswap(runner, entry, {
      isolation: "process",
      permissions: { run: [SLEEP!, CAT!] },
      // A cat reading the channel would wait for ever: the call fails instead.
      callTimeout: 10_000,
    });
    match(await hot.with((h) => h.run(SLEEP!, ["--version"], undefined)), /^0 [1-9]\d* 0$/);
    // stdin "null": cat reads nothing and ends. Inherited, it would read the generation's channel from the host.
    strictEqual(await hot.with((h) => h.run(CAT!, [], undefined)), "0 0 0");
    match(
      await hot.with((h) => h.run(CAT!, [], "piped")),
      /^TypeError: Piped stdin is not supported for this function/,
    );
    // spawn(): stdin and stdout, this process's channel with the host, are never inherited.
    strictEqual(await hot.with((h) => h.spawn(CAT!, undefined)), "0");
    match(
      await hot.with((h) => h.spawn(CAT!, "inherit")),
      /^NotCapable: stdout: "inherit" is not available to a generation in a process: this process's stdout carries the runtime's channel/,
    );
  },
});

for (
  const [how, ending, said] of [
    ["close()", "close();", /exited with code 0/],
    ["process.abort()", '(await import("node:process")).default.abort();', /killed by SIGABRT/],
  ] as const
) {
  Deno.test({
    name:
      `process mode: a generation that ends its process with ${how} ends what it spawned, and is restarted`,
    ignore: Deno.build.os !== "linux" || SLEEP === undefined,
    fn: async () => {
      await using fixture = await Fixture.create();
      const entry = await fixture.write({
        "spawner.ts": SPAWNER.replace(
          "    return child.pid;",
          `    setTimeout(async () => { ${ending} }, 0);\n    return child.pid;`,
        ),
      });
      await using hot = await registerHotswap(spawner, entry, {
        isolation: "process",
        permissions: { run: [SLEEP!] },
      });
      const restarted = new Promise<string>((resolve) =>
        hot.addEventListener("restart", ({ detail }) => resolve(detail.reason), { once: true })
      );
      const pid = await hot.with((h) => h.spawn(false));
      match(await restarted, said, "the host names how the process ended, not a broken protocol");
      const gone = await until(async () => !(await alive(pid)), 5_000);
      if (!gone) await new Deno.Command("kill", { args: ["-9", String(pid)] }).output();
      ok(gone, `child ${pid} still ran after its generation's process ended by ${how}`);
      strictEqual(typeof await hot.with((h) => h.spawn(false)), "number", "the restarted process serves");
    },
  });
}
