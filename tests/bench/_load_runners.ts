/**
 * The servers the load harness compares: the app's temporary copy they all
 * serve, the texts of its edits, the command of each runner, and the pinned
 * Bun it installs for `bun-hot`.
 *
 * @module
 */

import { join } from "node:path";

/** Every runner, in the order they run by default. */
export const RUNNERS = [
  "hotswap",
  "hotswap-worker",
  "hotswap-process",
  "hotswap-watch",
  "watch",
  "watch-hmr",
  "bun-hot",
] as const;

/** One way of serving the app while it is edited. */
export type RunnerName = typeof RUNNERS[number];

/** The runners that swap only when sent SIGHUP after each write. */
export const SIGNALLED: ReadonlySet<RunnerName> = new Set(["hotswap", "hotswap-worker", "hotswap-process"]);

/** The runners that restart the program on a change instead of swapping it. */
export const RESTARTS: ReadonlySet<RunnerName> = new Set(["watch", "watch-hmr"]);

/** The Bun that `bun-hot` runs, installed from npm by the harness. */
export const BUN_VERSION = "1.4.5";

/** The header the entry's own version travels in (see {@linkcode prepareApp}). */
export const ENTRY_VERSION_HEADER = "x-entry-version";

const REPO = new URL("../../", import.meta.url).pathname;

/** The request conversion of demo/server.ts, so every baseline server does the same work. */
const CONVERT = `async (request) => {
  // Converts the request as demo/server.ts does, so both servers do the same work.
  const headers = Object.fromEntries(request.headers);
  const answer = await app.handle({ method: request.method, url: request.url, headers, body: await request.text() });
  return new Response(answer.body, { status: answer.status ?? 200, headers: answer.headers });
}`;

const APP = `import { hs_httpApp } from "./so/app.ts";
const app = hs_httpApp({ generation: 1, digest: "", previous: undefined, signal: new AbortController().signal });`;

/** A plain Deno server importing the app statically, for `deno run --watch` / `--watch-hmr`. */
const BASELINE_SERVER = `${APP}
const port = Number(Deno.args[0]);
Deno.serve({ hostname: "127.0.0.1", port, onListen: () => {} }, ${CONVERT});
`;

/** The same server on Bun.serve, for `bun --hot` (which re-runs it on a change, keeping the listener). */
const BUN_SERVER = `${APP}
const port = Number(Bun.argv[2]);
Bun.serve({ hostname: "127.0.0.1", port, fetch: ${CONVERT} });
`;

/**
 * Appended to the entry's copy, whose own `hs_httpApp` is renamed: the
 * entry's version, sent with every answer, so an edit of the entry alone
 * shows in the responses as an edit of the logic does (the body names the
 * logic's `VERSION`).
 */
const ENTRY_MARKER = `
// Added by tests/bench/load.ts: the entry's own version, bumped by the harness's edits of this file.
const ENTRY_VERSION = "v1";

/** The app, with the entry's version on every answer. */
export function hs_httpApp(ctx: GenerationContext): HttpApp {
  const app = appOfThisEntry(ctx);
  return {
    ...app,
    handle: async (request) => {
      const answer = await app.handle(request);
      return { ...answer, headers: { ...answer.headers, "${ENTRY_VERSION_HEADER}": ENTRY_VERSION } };
    },
  };
}
`;

/** A temporary copy of the app, and the texts of its edits. */
export interface AppCopy {
  readonly dir: string;
  /** The file an edit of `file` writes. */
  path(file: "logic" | "entry"): string;
  /** The text of `file` at `version`: the logic's `VERSION`, or the entry's `ENTRY_VERSION`. */
  source(file: "logic" | "entry", version: number): string;
}

function replaceOnce(text: string, pattern: RegExp, replacement: string, what: string): string {
  if (!pattern.test(text)) {
    throw new Error(`The load harness cannot find ${what}; update tests/bench/_load_runners.ts`);
  }
  return text.replace(pattern, replacement);
}

/**
 * Copies the app (and what its type-only imports name) into a fresh directory, at version 1.
 *
 * @param edit `"string"`: an edit changes the version string alone (inside one token); `"code"`: each
 *   edit of a file switches its version between a string and a template with a substitution, so that
 *   each edit changes the statement's code.
 */
export async function prepareApp(edit: "string" | "code" = "string"): Promise<AppCopy> {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "hotswap_load_" }));
  try {
    for (const sub of ["so", "types", "core"]) {
      await Deno.mkdir(join(dir, sub));
      for await (const entry of Deno.readDir(join(REPO, sub))) {
        if (entry.isFile && entry.name.endsWith(".ts")) {
          await Deno.copyFile(join(REPO, sub, entry.name), join(dir, sub, entry.name));
        }
      }
    }
    const paths = { logic: join(dir, "so", "app_logic.ts"), entry: join(dir, "so", "app.ts") };
    const logic = replaceOnce(
      await Deno.readTextFile(paths.logic),
      /VERSION = "v\d+"/,
      'VERSION = "v1"',
      'VERSION = "v<n>" in so/app_logic.ts',
    );
    const entry = replaceOnce(
      await Deno.readTextFile(paths.entry),
      /export function hs_httpApp\(/,
      "function appOfThisEntry(",
      "export function hs_httpApp( in so/app.ts",
    ) + ENTRY_MARKER;
    await Deno.writeTextFile(paths.logic, logic);
    await Deno.writeTextFile(paths.entry, entry);
    await Deno.writeTextFile(join(dir, "baseline_server.ts"), BASELINE_SERVER);
    await Deno.writeTextFile(join(dir, "bun_server.ts"), BUN_SERVER);
    return {
      dir,
      path: (file) => paths[file],
      source: (file, version) => {
        // Each file takes every other version (logic even, entry odd): its form alternates with each of its edits.
        const literal = edit === "code" && Math.floor(version / 2) % 2 === 1
          ? `\`v\${${version}}\``
          : `"v${version}"`;
        return file === "logic"
          ? logic.replace(/VERSION = "v\d+"/, `VERSION = ${literal}`)
          : entry.replace(/ENTRY_VERSION = "v\d+"/, `ENTRY_VERSION = ${literal}`);
      },
    };
  } catch (error) {
    await Deno.remove(dir, { recursive: true });
    throw error;
  }
}

/**
 * Reads the version that answered: the larger of the body's (`from v<n>` on
 * `/`, `"version":"v<n>"` on `/slow`) and the entry's header.
 */
export function answeringVersion(body: string, headers: Headers): number | undefined {
  const logic = Number(/(?:from |"version":")v(\d+)/.exec(body)?.[1]) || 0;
  const entry = Number(/^v(\d+)$/.exec(headers.get(ENTRY_VERSION_HEADER) ?? "")?.[1]) || 0;
  return Math.max(logic, entry) || undefined;
}

/** How the runners' servers are started. */
export interface CommandOptions {
  /** Run our runners' deno without `--no-code-cache` and `DENO_EMIT_CACHE_MODE=disable`. */
  readonly denoDefaults: boolean;
  /** The Bun executable, for `bun-hot`. */
  readonly bun: string | undefined;
}

/** The command of one runner's server, listening on `port`. */
export function serverCommand(
  name: RunnerName,
  app: AppCopy,
  port: number,
  options: CommandOptions,
): Deno.Command {
  const { dir } = app;
  const common = { cwd: dir, stdin: "null", stdout: "null", stderr: "piped" } as const;
  if (name === "bun-hot") {
    if (options.bun === undefined) throw new Error("bun-hot needs Bun, which is not installed");
    return new Deno.Command(options.bun, {
      ...common,
      args: ["--hot", join(dir, "bun_server.ts"), String(port)],
      // Bun caches only transpiled files over 50 KB; disabled anyway, as our runners' caches are.
      env: { NO_COLOR: "1", DO_NOT_TRACK: "1", BUN_RUNTIME_TRANSPILER_CACHE_PATH: "0" },
    });
  }
  const deno = Deno.execPath();
  const read = `--allow-read=${REPO},${dir}`;
  const net = "--allow-net=127.0.0.1";
  if (name === "watch" || name === "watch-hmr") {
    return new Deno.Command(deno, {
      ...common,
      args: ["run", `--${name}`, read, net, join(dir, "baseline_server.ts"), String(port)],
      env: { NO_COLOR: "1" },
    });
  }
  const isolation = name === "hotswap-worker" ? "worker" : name === "hotswap-process" ? "process" : undefined;
  return new Deno.Command(deno, {
    ...common,
    args: [
      "run",
      ...(options.denoDefaults ? [] : ["--no-code-cache"]),
      read,
      net,
      // Worker isolation needs the flag, and confirms it by asking a `deno eval` child;
      // process isolation runs each generation in its own deno.
      ...(isolation === "worker" ? ["--unstable-worker-options"] : []),
      ...(isolation === undefined ? [] : [`--allow-run=${deno}`]),
      join(REPO, "demo/server.ts"),
      "--port",
      String(port),
      ...(isolation === undefined ? [] : ["--isolation", isolation]),
      ...(name === "hotswap-watch" ? ["--watch"] : []),
      app.path("entry"),
    ],
    // Otherwise Deno writes each generation's emitted JS into DENO_DIR. Not for
    // process isolation: the host loads no generation, and its generation
    // processes would inherit it and transpile their own runtime at every
    // spawn (measured: write to new code 165 ms median instead of 29 ms).
    env: {
      NO_COLOR: "1",
      ...(options.denoDefaults || isolation === "process" ? {} : { DENO_EMIT_CACHE_MODE: "disable" }),
    },
  });
}

/** Where Bun is installed: a cache under the home directory when the harness may read it, else a temporary one. */
async function bunDirectory(): Promise<{ dir: string; temporary: boolean }> {
  const granted = (variable: string) =>
    Deno.permissions.querySync({ name: "env", variable }).state === "granted";
  const cache = (granted("XDG_CACHE_HOME") ? Deno.env.get("XDG_CACHE_HOME") : undefined) ??
    (granted("HOME") && Deno.env.get("HOME") ? join(Deno.env.get("HOME")!, ".cache") : undefined);
  if (cache !== undefined) {
    return { dir: join(cache, "hotswap-bench", `bun-${BUN_VERSION}`), temporary: false };
  }
  return { dir: await Deno.makeTempDir({ prefix: "hotswap_bun_" }), temporary: true };
}

/** Whether `path` is an ELF executable that says it is Bun {@linkcode BUN_VERSION}. */
async function isBun(path: string): Promise<boolean> {
  try {
    using file = await Deno.open(path);
    const magic = new Uint8Array(4);
    // A shim (a script, or npm's placeholder) is not the server process we want to measure.
    if (await file.read(magic) !== 4 || String.fromCharCode(...magic) !== "\x7fELF") return false;
    const { success, stdout } = await new Deno.Command(path, {
      args: ["--version"],
      stdin: "null",
      stderr: "null",
      signal: AbortSignal.timeout(10_000),
    }).output();
    return success && new TextDecoder().decode(stdout).trim() === BUN_VERSION;
  } catch {
    return false;
  }
}

/** The real Bun binary of an npm install under `dir`, not node_modules/.bin's link or a wrapper. */
async function findBun(dir: string): Promise<string | undefined> {
  const modules = join(dir, "node_modules");
  const candidates: string[] = [];
  try {
    for await (const entry of Deno.readDir(join(modules, "@oven"))) {
      if (entry.name.startsWith("bun-")) candidates.push(join(modules, "@oven", entry.name, "bin", "bun"));
    }
  } catch { /* no platform package */ }
  candidates.sort();
  // The postinstall script moves the platform binary here.
  candidates.push(join(modules, "bun", "bin", "bun.exe"));
  for (const candidate of candidates) if (await isBun(candidate)) return candidate;
  return undefined;
}

/** Bun, installed or why not. */
export type BunInstall =
  | { readonly path: string; readonly cleanup: () => Promise<void> }
  | { readonly skipped: string };

/**
 * Finds Bun {@linkcode BUN_VERSION} in the harness's cache, or installs it
 * there with `npm install --no-save --prefix <cache> bun@<version>`. Never
 * throws: a failure comes back as the reason to skip `bun-hot`.
 */
export async function ensureBun(): Promise<BunInstall> {
  let where: { dir: string; temporary: boolean };
  try {
    where = await bunDirectory();
  } catch (error) {
    return { skipped: `no directory to install Bun into: ${String(error)}` };
  }
  const { dir, temporary } = where;
  const cleanup = () => temporary ? Deno.remove(dir, { recursive: true }).catch(() => {}) : Promise.resolve();
  const found = await findBun(dir);
  if (found !== undefined) return { path: found, cleanup };
  console.log(
    `installing bun@${BUN_VERSION} with npm into ${dir}${temporary ? " (no --allow-env: temporary)" : ""}…`,
  );
  let reason: string;
  try {
    await Deno.mkdir(dir, { recursive: true });
    const { success, code, stderr } = await new Deno.Command("npm", {
      args: ["install", "--no-save", "--no-audit", "--no-fund", "--prefix", dir, `bun@${BUN_VERSION}`],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
      signal: AbortSignal.timeout(300_000),
    }).output();
    const path = success ? await findBun(dir) : undefined;
    if (path !== undefined) return { path, cleanup };
    const tail = new TextDecoder().decode(stderr).trim().split("\n").slice(-5).join("\n  ");
    reason = success
      ? `npm installed bun@${BUN_VERSION} but no working Bun binary was found under ${dir}/node_modules`
      : `npm install bun@${BUN_VERSION} exited with ${code}${tail === "" ? "" : `:\n  ${tail}`}`;
  } catch (error) {
    reason = `npm install bun@${BUN_VERSION} could not run: ${String(error)}`;
  }
  await cleanup();
  return { skipped: reason };
}
