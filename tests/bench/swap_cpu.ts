/**
 * CPU per change (`deno task bench:cpu`), by thread: what one change of the
 * sample app costs the server's process tree on every thread, for our
 * runners and `bun --hot`, with no load. On two cores shared with the load,
 * every millisecond a swap spends on any thread is taken from the requests
 * or from the client, so this is the budget behind write → new code and the
 * after-edit p99 of `deno task bench:load`.
 *
 * Per runner, after a warm-up: pairs of windows of `--window` ms, one with
 * a change (written, and signalled where the runner swaps on SIGHUP; each
 * checked served by one request at the window's end), one without (the same
 * request only). The CPU each thread used in a window is read from
 * `/proc/<pid>/task/<tid>/schedstat` (Linux; through `sh`, as Deno lets a
 * program read `/proc` only with all permissions); a change's cost is the
 * mean of the windows with a change less the mean of those without.
 * Threads are grouped: the server's main thread; its workers (ours: the
 * reader, or a generation's worker); the VM's own threads (V8's platform
 * workers, which compile and collect; Bun's JIT and heap helpers); other
 * processes under it (process isolation's generations); the rest.
 *
 * Usage: deno task bench:cpu [--changes n] [--window ms] [--only name]...
 *
 * @module
 */

import { parseArgs } from "node:util";
import {
  answeringVersion,
  type AppCopy,
  ensureBun,
  prepareApp,
  type RunnerName,
  serverCommand,
  SIGNALLED,
} from "./_load_runners.ts";
import { stopServer } from "./_load_procs.ts";

const RUNNERS = [
  "hotswap",
  "hotswap-worker",
  "hotswap-process",
  "bun-hot",
] as const satisfies readonly RunnerName[];

const { values } = parseArgs({
  args: Deno.args,
  options: {
    changes: { type: "string", default: "40" },
    window: { type: "string", default: "150" },
    only: { type: "string", multiple: true },
  },
});
const CHANGES = Number(values.changes);
const WINDOW = Number(values.window);
if (!Number.isSafeInteger(CHANGES) || CHANGES < 1) {
  throw new RangeError("--changes must be a whole number of at least 1");
}
if (!Number.isFinite(WINDOW) || WINDOW < 50) throw new RangeError("--window must be at least 50 (ms)");
const chosen = (values.only ?? [...RUNNERS]) as (typeof RUNNERS)[number][];
for (const name of chosen) {
  if (!(RUNNERS as readonly string[]).includes(name)) {
    console.error(`Unknown runner ${name}; choose from ${RUNNERS.join(", ")}`);
    Deno.exit(2);
  }
}

/** Each thread of a process and its descendants: `pid tid cpu-ns comm`, one per line. */
const THREADS_SCRIPT = `tree() {
  echo "$1"
  for child in $(cat /proc/"$1"/task/*/children 2>/dev/null); do tree "$child"; done
}
for pid in $(tree "$1"); do
  for task in /proc/"$pid"/task/*; do
    ns=$(cut -d' ' -f1 "$task"/schedstat 2>/dev/null) || continue
    echo "$pid \${task##*/} $ns $(cat "$task"/comm 2>/dev/null)"
  done
done`;

/** CPU time used so far, in ms, by thread id, with each thread's group. */
type Threads = Map<string, { group: string; ms: number }>;

async function threads(root: number): Promise<Threads> {
  const { stdout } = await new Deno.Command("sh", {
    args: ["-c", THREADS_SCRIPT, "sh", String(root)],
    stdin: "null",
    stderr: "null",
  }).output();
  const found: Threads = new Map();
  for (const row of new TextDecoder().decode(stdout).split("\n")) {
    const [pid, tid, ns, ...comm] = row.split(" ");
    if (ns === undefined || !/^\d+$/.test(ns)) continue;
    found.set(tid!, { group: groupOf(Number(pid), Number(tid), comm.join(" "), root), ms: Number(ns) / 1e6 });
  }
  return found;
}

function groupOf(pid: number, tid: number, comm: string, root: number): string {
  if (pid !== root) return "other processes";
  if (tid === root) return "main thread";
  if (/^worker-\d+$/.test(comm)) return "workers";
  if (/^(V8 |JIT|Heap|JSC)/.test(comm)) return "VM threads";
  return "rest";
}

/** The CPU each group used between two readings; threads that ended meanwhile are left out. */
function used(before: Threads, after: Threads): Map<string, number> {
  const groups = new Map<string, number>();
  for (const [tid, { group, ms }] of after) {
    groups.set(group, (groups.get(group) ?? 0) + ms - (before.get(tid)?.ms ?? 0));
  }
  return groups;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function versionAt(base: string): Promise<number> {
  const response = await fetch(base, { signal: AbortSignal.timeout(5_000) });
  return answeringVersion(await response.text(), response.headers) ?? 0;
}

async function measure(
  name: (typeof RUNNERS)[number],
  app: AppCopy,
  bun: string | undefined,
): Promise<Map<string, number>> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const server = serverCommand(name, app, port, { denoDefaults: false, bun }).spawn();
  void server.stderr.cancel();
  const base = `http://127.0.0.1:${port}/`;
  try {
    const started = performance.now();
    for (;;) {
      try {
        await versionAt(base);
        break;
      } catch (error) {
        if (performance.now() - started > 30_000) {
          throw new Error(`${name} did not answer within 30 s`, { cause: error });
        }
        await sleep(50);
      }
    }
    let version = 1;
    const change = async () => {
      version++;
      const file = version % 2 === 0 ? "logic" : "entry";
      await Deno.writeTextFile(app.path(file), app.source(file, version));
      if (SIGNALLED.has(name)) server.kill("SIGHUP");
    };
    // Warm-up: a few changes, and the reader or standby up.
    for (let i = 0; i < 5; i++) {
      await change();
      await sleep(WINDOW);
      while (await versionAt(base) < version) await sleep(10);
    }
    const withChange: Map<string, number>[] = [];
    const without: Map<string, number>[] = [];
    for (let i = 0; i < CHANGES * 2; i++) {
      const changing = i % 2 === 0;
      const before = await threads(server.pid);
      if (changing) await change();
      await sleep(WINDOW);
      if (await versionAt(base) < version) {
        throw new Error(`${name}: the change was not served within the ${WINDOW} ms window; raise --window`);
      }
      (changing ? withChange : without).push(used(before, await threads(server.pid)));
    }
    const groups = new Set([...withChange, ...without].flatMap((window) => [...window.keys()]));
    const mean = (windows: Map<string, number>[], group: string) =>
      windows.reduce((sum, window) => sum + (window.get(group) ?? 0), 0) / windows.length;
    return new Map([...groups].map((group) => [group, mean(withChange, group) - mean(without, group)]));
  } finally {
    await stopServer(server, []);
  }
}

const bunInstall = chosen.includes("bun-hot") ? await ensureBun() : undefined;
const bun = bunInstall !== undefined && "path" in bunInstall ? bunInstall.path : undefined;
if (bunInstall !== undefined && "skipped" in bunInstall) {
  console.log(`bun-hot skipped: ${bunInstall.skipped}`);
}
console.log(`CPU per change, no load: ${CHANGES} changes and ${CHANGES} windows without, ${WINDOW} ms each`);
try {
  for (const name of chosen) {
    if (name === "bun-hot" && bun === undefined) continue;
    const app = await prepareApp();
    try {
      const groups = await measure(name, app, bun);
      const total = [...groups.values()].reduce((sum, ms) => sum + ms, 0);
      const parts = [...groups].filter(([, ms]) => Math.abs(ms) >= 0.01).sort((a, b) => b[1] - a[1])
        .map(([group, ms]) => `${group} ${ms.toFixed(2)}`);
      console.log(`- ${name}: ${total.toFixed(2)} ms (${parts.join(", ")})`);
    } finally {
      await Deno.remove(app.dir, { recursive: true });
    }
  }
} finally {
  if (bunInstall !== undefined && "cleanup" in bunInstall) await bunInstall.cleanup();
}
