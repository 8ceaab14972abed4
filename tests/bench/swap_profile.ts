/**
 * Where the serving thread spends a SIGHUP swap, by function, under load
 * (`deno task bench:profile`): demo/server.ts serves the sample app (inline,
 * as `deno task bench:load` runs it) under V8's sampling profiler
 * (`--cpu-prof`, one sample every `--interval` µs), while a child process
 * keeps 4 request loops on `/` running and this process edits the app and
 * signals the server every 100 ms, `--edits` times.
 *
 * Only samples whose stack holds a frame of the swap's own path count
 * (the reader's message, the signal swapper, the swap queue, the loader,
 * the commit and the demo's `onSwap`), from the 11th edit on, so that the
 * runtime's one-off work (lazy modules, the first compiles) is left out.
 * It prints, per swap, the time spent in each function and what it called
 * (inclusive), then in each function alone (self): a native call shows as
 * the JavaScript function that made it.
 *
 * The reader's own thread is not profiled (`--cpu-prof` samples the main
 * thread only); `deno task bench:phases` times its read.
 *
 * Usage: deno task bench:profile [--edits 80] [--interval 25] [--top 40]
 *
 * @module
 */

import { parseArgs } from "node:util";
import { join } from "node:path";
import { prepareApp } from "./_load_runners.ts";
import { loadClient } from "./_load_client.ts";

const REPO = new URL("../../", import.meta.url).pathname;
const { values } = parseArgs({
  args: Deno.args,
  options: {
    edits: { type: "string", default: "80" },
    interval: { type: "string", default: "25" },
    top: { type: "string", default: "40" },
  },
});
const EDITS = Number(values.edits);
const SKIPPED_EDITS = 10;
const EDIT_EVERY = 100;
if (!(EDITS > SKIPPED_EDITS)) throw new Error(`--edits must be more than ${SKIPPED_EDITS}`);

/** Frames of the swap's path: a sample with none of them is a request's, or idle. */
const SWAP_PATH =
  /\/core\/(inline_loader|signal_swap|_swapper|_swap_queue|_load_generation|_lineage|_off_thread_reader)\.ts$|\/demo\/server\.ts:onSwap$/;

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const app = await prepareApp("string");
const profiles = await Deno.makeTempDir({ prefix: "hotswap_profile_" });
const port = freePort();
try {
  const started = performance.now();
  const server = new Deno.Command(Deno.execPath(), {
    cwd: app.dir,
    stdin: "null",
    stdout: "null",
    stderr: "inherit",
    args: [
      "run",
      "--no-code-cache",
      "--cpu-prof",
      `--cpu-prof-dir=${profiles}`,
      `--cpu-prof-interval=${Number(values.interval)}`,
      `--allow-read=${REPO},${app.dir}`,
      `--allow-write=${profiles}`,
      "--allow-net=127.0.0.1",
      join(REPO, "demo/server.ts"),
      "--port",
      String(port),
      app.path("entry"),
    ],
    env: { NO_COLOR: "1", DENO_EMIT_CACHE_MODE: "disable" },
  }).spawn();
  try {
    await serving(port);
    const load = loadClient(port, Date.now() + 1_000 + EDITS * EDIT_EVERY + 500);
    await sleep(1_000);
    const firstEdit = performance.now() - started;
    for (let k = 1; k <= EDITS; k++) {
      const file = k % 2 === 1 ? "logic" : "entry";
      Deno.writeTextFileSync(app.path(file), app.source(file, k + 1));
      server.kill("SIGHUP");
      await sleep(EDIT_EVERY);
    }
    await load;
    server.kill("SIGTERM");
    const status = await server.status;
    if (!status.success) throw new Error(`the server exited with ${status.code}`);
    const [file] = [...Deno.readDirSync(profiles)].filter((entry) => entry.name.endsWith(".cpuprofile"));
    if (file === undefined) throw new Error("the server wrote no profile");
    const profile: Profile = JSON.parse(await Deno.readTextFile(join(profiles, file.name)));
    report(profile, firstEdit + SKIPPED_EDITS * EDIT_EVERY, EDITS - SKIPPED_EDITS, Number(values.top));
  } finally {
    try {
      server.kill("SIGKILL");
    } catch { /* exited */ }
    await server.status;
  }
} finally {
  await Deno.remove(app.dir, { recursive: true });
  await Deno.remove(profiles, { recursive: true });
}

/** Prints the swap path's inclusive and self time per swap, from `skipMs` into the profile on. */
function report(profile: Profile, skipMs: number, swaps: number, top: number): void {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parentOf = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parentOf.set(child, node.id);
  const label = ({ callFrame: { functionName, url, lineNumber } }: ProfileNode) =>
    `${functionName || "(anonymous)"} ${url.replace(`file://${REPO}`, "") || "(native)"}:${lineNumber + 1}`;
  const onPath = ({ callFrame: { functionName, url } }: ProfileNode) =>
    SWAP_PATH.test(url) || SWAP_PATH.test(`${url}:${functionName}`);
  const inclusive = new Map<string, number>();
  const self = new Map<string, number>();
  let clock = 0;
  let onSwapPath = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    clock += profile.timeDeltas[i] ?? 0;
    if (clock < skipMs * 1_000) continue;
    const weight = profile.timeDeltas[i + 1] ?? Number(values.interval);
    const stack: ProfileNode[] = [];
    for (let id: number | undefined = profile.samples[i]; id !== undefined; id = parentOf.get(id)) {
      stack.push(byId.get(id)!);
    }
    if (!stack.some(onPath)) continue;
    onSwapPath += weight;
    self.set(label(stack[0]!), (self.get(label(stack[0]!)) ?? 0) + weight);
    for (const name of new Set(stack.map(label))) inclusive.set(name, (inclusive.get(name) ?? 0) + weight);
  }
  const perSwap = (us: number) => (us / 1_000 / swaps).toFixed(3).padStart(7);
  console.log(
    `Serving thread, swap path: ${
      perSwap(onSwapPath).trim()
    } ms a swap, over ${swaps} SIGHUP swaps under load ` +
      `(samples every ${values.interval} µs; edits ${SKIPPED_EDITS + 1}-${EDITS})`,
  );
  console.log("\nms/swap  inclusive");
  for (const [name, us] of [...inclusive].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    if (name.startsWith("(root)")) continue;
    console.log(`${perSwap(us)}  ${name}`);
  }
  console.log("\nms/swap  self");
  for (const [name, us] of [...self].sort((a, b) => b[1] - a[1]).slice(0, Math.ceil(top / 2))) {
    console.log(`${perSwap(us)}  ${name}`);
  }
}

async function serving(port: number): Promise<void> {
  const deadline = performance.now() + 30_000;
  while (performance.now() < deadline) {
    try {
      await (await fetch(`http://127.0.0.1:${port}/`)).text();
      return;
    } catch {
      await sleep(50);
    }
  }
  throw new Error("the server did not answer within 30 s");
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr;
  listener.close();
  return port;
}
