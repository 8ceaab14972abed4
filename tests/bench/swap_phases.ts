/**
 * Where the time of a swap goes, phase by phase, while the server is under
 * load (`deno task bench:phases`). The sample app is served in this process
 * through a hot reference, as demo/server.ts serves it; a child process keeps
 * 4 request loops on `/` and 2 on `/slow?ms=300` running. For each edit it
 * times, on the serving thread:
 *
 * - `signal`: from `Deno.kill(Deno.pid, "SIGHUP")` to the listener running;
 * - `read`: reading, scanning and hashing the graph (`readSnapshot`);
 * - `script`: compiling and evaluating the graph as scripts, as an inline
 *   swap does when the graph allows (`core/_script_graph.ts`);
 * - `mint`: rewriting imports and minting `blob:` URLs, and `import`: Deno's
 *   transpile, caching and evaluation of every module, which an inline swap
 *   does instead for a graph that cannot run as scripts (and a generation's
 *   worker or process always does);
 * - `swap`: a whole `hot.swap()` of the same files (read, script or mint and
 *   import, factory, contract check, commit);
 * - `first`: from the write to the first response the client read from the
 *   new code (signal and swap included);
 * - `hup commit` and `hup first`: the same edits swapped by
 *   `hot.swapOnSignal("SIGHUP", …)` instead, as demo/server.ts swaps: from
 *   the write to the commit, and to the first response from the new code.
 *   The reader takes the signal and reads the files while this thread
 *   serves; `signal` + `swap` is the same path with the signal taken here.
 *
 * The read, script, mint and import phases are timed on a second load of
 * the same files, 50 ms after the swap, so that `first` is not slowed by them.
 *
 * It runs itself twice: once as Deno runs by default, once with
 * `--no-code-cache` and `DENO_EMIT_CACHE_MODE=disable`, which stop Deno from
 * writing each generation's emitted JavaScript and V8 code cache into
 * DENO_DIR. It also reports how much DENO_DIR grew per `import` of minted
 * modules (a swap on the script path writes nothing there).
 *
 * Usage: deno task bench:phases [--edits n]
 */

import { parseArgs } from "node:util";
import { join } from "node:path";
import { loadClient } from "./_load_client.ts";

const REPO = new URL("../../", import.meta.url).pathname;
const { values } = parseArgs({
  args: Deno.args,
  options: { edits: { type: "string", default: "40" }, child: { type: "string" } },
});
const EDITS = Number(values.edits);

/** One configuration of the Deno that serves. */
interface Mode {
  name: string;
  flags: string[];
  env: Record<string, string>;
}

const MODES: Mode[] = [
  { name: "deno defaults", flags: [], env: {} },
  {
    name: "--no-code-cache, DENO_EMIT_CACHE_MODE=disable",
    flags: ["--no-code-cache"],
    env: { DENO_EMIT_CACHE_MODE: "disable" },
  },
];

type Phase = "signal" | "read" | "script" | "mint" | "import" | "swap" | "first" | "hup commit" | "hup first";
const PHASES: Phase[] = [
  "signal",
  "read",
  "script",
  "mint",
  "import",
  "swap",
  "first",
  "hup commit",
  "hup first",
];

async function child(dir: string): Promise<void> {
  const { registerHotswap } = await import(join(REPO, "mod.ts"));
  const { httpApp } = await import(join(REPO, "types/mod.ts"));
  const { readSnapshot } = await import(join(REPO, "core/snapshot.ts"));
  const { Roots } = await import(join(REPO, "core/roots.ts"));
  const { ScriptGraph } = await import(join(REPO, "core/_script_graph.ts"));
  const entry = join(dir, "so/app.ts");
  const logic = join(dir, "so/app_logic.ts");
  const hot = await registerHotswap(httpApp, entry, { roots: [dir] });
  // As demo/server.ts does before it listens: the first swaps run on a warmed-up parser.
  await hot.warm();
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (request) => {
    const headers = Object.fromEntries(request.headers);
    const answer = await hot.with((app: { handle(r: unknown): Promise<{ body: string; status?: number }> }) =>
      app.handle({ method: request.method, url: request.url, headers, body: "" })
    );
    return new Response(answer.body, { status: answer.status ?? 200 });
  });
  const until = Date.now() + 1_000 + EDITS * 2 * 200 + 1_000;
  const answers = loadClient(server.addr.port, until);
  const original = Deno.readTextFileSync(logic);
  const phases = new Map<Phase, number[]>(PHASES.map((p) => [p, []]));
  const writes: [number, number][] = [];
  let signalled = Promise.withResolvers<number>();
  Deno.addSignalListener("SIGHUP", () => signalled.resolve(performance.now()));
  const deno = denoDirSize();
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  const roots = Roots.resolve([dir], entry);
  for (let version = 2; version < EDITS + 2; version++) {
    const text = original.replace(/VERSION = "v\d+"/, `VERSION = "v${version}"`);
    writes.push([performance.timeOrigin + performance.now(), version]);
    Deno.writeTextFileSync(logic, text);
    signalled = Promise.withResolvers<number>();
    let start = performance.now();
    Deno.kill(Deno.pid, "SIGHUP");
    phases.get("signal")!.push((await signalled.promise) - start);
    start = performance.now();
    await hot.swap(entry);
    phases.get("swap")!.push(performance.now() - start);
    // The same files again, phase by phase, once the new code served (they
    // hold this thread: right after the swap they would delay its first answer).
    await new Promise((resolve) => setTimeout(resolve, 50));
    start = performance.now();
    const snapshot = await readSnapshot(entry, { roots });
    phases.get("read")!.push(performance.now() - start);
    start = performance.now();
    const scripts = ScriptGraph.compile(snapshot.modules);
    if (scripts === undefined) throw new Error("the sample app no longer runs as scripts");
    await scripts.run();
    phases.get("script")!.push(performance.now() - start);
    start = performance.now();
    const minted = snapshot.mint();
    phases.get("mint")!.push(performance.now() - start);
    start = performance.now();
    await import(minted.url);
    phases.get("import")!.push(performance.now() - start);
    minted.revoke();
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  // The same edits again, swapped by swapOnSignal: the reader takes the signal and reads at once.
  const signalWrites: [number, number][] = [];
  let committed = Promise.withResolvers<number>();
  const swaps = await hot.swapOnSignal("SIGHUP", entry, {
    onSwap: () => committed.resolve(performance.now()),
  });
  for (let version = EDITS + 2; version < 2 * EDITS + 2; version++) {
    const text = original.replace(/VERSION = "v\d+"/, `VERSION = "v${version}"`);
    committed = Promise.withResolvers<number>();
    const start = performance.now();
    signalWrites.push([performance.timeOrigin + start, version]);
    Deno.writeTextFileSync(logic, text);
    Deno.kill(Deno.pid, "SIGHUP");
    phases.get("hup commit")!.push((await committed.promise) - start);
    await new Promise((resolve) => setTimeout(resolve, 150));
  }
  swaps.close();
  const seen = await answers;
  const firstAnswers = (edits: [number, number][], phase: Phase) => {
    for (const [at, version] of edits) {
      const first = seen.find(([, end, v]) => end >= at && v >= version);
      if (first !== undefined) phases.get(phase)!.push(first[1] - at);
    }
  };
  firstAnswers(writes, "first");
  firstAnswers(signalWrites, "hup first");
  const grown = denoDirSize();
  await server.shutdown();
  await hot.close();
  console.log(JSON.stringify({
    phases: Object.fromEntries(phases),
    // Only the phase's import of minted modules writes there: the swaps run as scripts.
    denoDirFilesPerChange: (grown.files - deno.files) / EDITS,
    denoDirBytesPerChange: (grown.bytes - deno.bytes) / EDITS,
  }));
}

/** Files and bytes of what Deno writes per module: emitted JS and its caches. */
function denoDirSize(): { files: number; bytes: number } {
  const root = Deno.env.get("DENO_DIR")!;
  let files = 0;
  let bytes = 0;
  const walk = (path: string) => {
    for (const entry of Deno.readDirSync(path)) {
      const full = join(path, entry.name);
      if (entry.isDirectory) walk(full);
      else {
        files++;
        bytes += Deno.statSync(full).size;
      }
    }
  };
  walk(root);
  return { files, bytes };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? NaN;
}

function p90(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.9))] ?? NaN;
}

/** A copy of the app in a temp dir, and a DENO_DIR of its own (npm packages copied). */
async function prepare(): Promise<{ dir: string; denoDir: string }> {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "hotswap_phases_" }));
  for (const sub of ["so", "types", "core"]) {
    await Deno.mkdir(join(dir, sub));
    for await (const entry of Deno.readDir(join(REPO, sub))) {
      if (entry.isFile && entry.name.endsWith(".ts")) {
        await Deno.copyFile(join(REPO, sub, entry.name), join(dir, sub, entry.name));
      }
    }
  }
  const denoDir = join(dir, "deno_dir");
  await Deno.mkdir(denoDir);
  return { dir, denoDir };
}

if (values.child !== undefined) {
  await child(values.child);
} else if (import.meta.main) {
  console.log(`Swap phases under load, ${EDITS} edits per mode (Deno ${Deno.version.deno}); ms median / p90`);
  const rows: string[][] = [];
  for (const mode of MODES) {
    const { dir, denoDir } = await prepare();
    try {
      const run = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          ...mode.flags,
          // No lockfile: it would fetch every package the tests pin into the fresh DENO_DIR.
          "--no-lock",
          "-A",
          import.meta.filename!,
          "--edits",
          String(EDITS),
          "--child",
          dir,
        ],
        // A DENO_DIR of its own: what Deno writes per change is measured alone.
        env: {
          ...mode.env,
          DENO_DIR: denoDir,
          NPM_CONFIG_REGISTRY: Deno.env.get("NPM_CONFIG_REGISTRY") ?? "",
        },
        stdout: "piped",
        stderr: "inherit",
      }).output();
      if (!run.success) throw new Error(`${mode.name}: the serving process failed`);
      const result = JSON.parse(new TextDecoder().decode(run.stdout).trim().split("\n").at(-1)!);
      rows.push([
        mode.name,
        ...PHASES.map((p) => `${median(result.phases[p]).toFixed(2)} / ${p90(result.phases[p]).toFixed(2)}`),
        `${result.denoDirFilesPerChange.toFixed(1)} files, ${
          (result.denoDirBytesPerChange / 1024).toFixed(1)
        } KiB`,
      ]);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  }
  const header = ["mode", ...PHASES, "DENO_DIR per import"];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(" | ")} |`;
  console.log(line(header));
  console.log(`|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`);
  for (const row of rows) console.log(line(row));
}
