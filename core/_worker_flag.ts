/**
 * Whether this Deno process may create a Worker with its own permissions.
 *
 * On Deno 2.9 that needs `--unstable-worker-options` (or
 * `"unstable": ["worker-options"]` in the config), and creating such a Worker
 * without it does not throw: it ends the whole process with exit code 70. So
 * the flag must be known before the first Worker, yet Deno shows a program
 * neither its flags (`Deno.args` holds only script arguments,
 * `process.execArgv` is empty) nor its unstable features. What can be read
 * without prompting:
 *
 * 1. the command line in `/proc/self/cmdline`, which Deno lets a program read
 *    only with all permissions;
 * 2. the same file of this process read by a `deno eval` child, when the host
 *    may already run `Deno.execPath()` (about 25 ms, once per process);
 * 3. the config file Deno would have discovered (`deno.json`/`deno.jsonc`
 *    from the main module's directory up), when the host may read it.
 *
 * The command line decides when it can be read; otherwise the config does,
 * only when its import map shows it is the config in effect (not put out by
 * `--no-config`, or `--config` naming another file): `import.meta.resolve`
 * answers with the map Deno actually uses. When nothing can be read, or
 * nothing shows the config is in effect, the answer is "not confirmed", and
 * worker isolation refuses rather than risk ending the process.
 *
 * @module
 */

import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const FLAG = "--unstable-worker-options";
const FEATURE = "worker-options";

/** What the check found. */
export interface FlagCheck {
  /** Whether workers may be given their own permissions. */
  readonly enabled: boolean;
  /** How that was decided, for messages: what was read, or what could not be. */
  readonly evidence: string;
  /** What to do when it is not enabled. */
  readonly fix: string;
}

const ENABLE = `run deno with ${FLAG}, or add "unstable": ["worker-options"] to deno.json`;

let cached: Promise<FlagCheck> | undefined;

/** Checks once per process whether `--unstable-worker-options` is in effect. */
export function checkWorkerOptionsFlag(): Promise<FlagCheck> {
  cached ??= detect();
  return cached;
}

async function detect(): Promise<FlagCheck> {
  const argv = readOwnCommandLine() ?? await probeCommandLine();
  if (argv !== undefined) return await fromCommandLine(argv);
  // The command line is unknown: a config in effect can confirm the feature, never rule it out.
  const config = await discoverConfig();
  // Only a config shown to be the one in effect may enable it: a wrong "yes"
  // ends the whole process (exit 70), a wrong "no" is an E_UNSUPPORTED with a fix.
  if (config !== undefined && config.unstable.includes(FEATURE) && config.inEffect === true) {
    return enabledBy(config.path);
  }
  return {
    enabled: false,
    evidence:
      `the runtime cannot confirm it, as Deno does not show a program its flags: it could not read the command line, and ${
        config === undefined
          ? "found no deno.json it may read"
          : config.inEffect === false
          ? `${config.path} is not in effect (its import map is not the one Deno uses: --no-config or another --config)`
          : config.unstable.includes(FEATURE)
          ? `${config.path} enables it, but nothing shows it is the config in effect (--no-config or --config would override it; give it an "imports" entry the runtime can check, or let it read the command line)`
          : `${config.path} does not enable it`
      }`,
    fix:
      `${ENABLE}; when deno already runs with ${FLAG}, let the runtime see it: grant --allow-run=${Deno.execPath()} (it asks a deno eval child), or put "unstable": ["${FEATURE}"] in a deno.json the host may read, beside an "imports" map by which the runtime sees that deno.json is in effect`,
  };
}

async function fromCommandLine(argv: readonly string[]): Promise<FlagCheck> {
  // Arguments after "--" belong to the script.
  const end = argv.indexOf("--");
  const flags = end === -1 ? argv : argv.slice(0, end);
  if (flags.includes(FLAG)) return { enabled: true, evidence: `the command line has ${FLAG}`, fix: "" };
  if (flags.includes("--no-config")) {
    return {
      enabled: false,
      evidence: `the command line has neither ${FLAG} nor a config (--no-config)`,
      fix: `run deno with ${FLAG}`,
    };
  }
  const named = configArgument(flags);
  const config = named === undefined ? await discoverConfig() : await readConfig(resolve(named));
  if (config !== undefined && config.unstable.includes(FEATURE)) return enabledBy(config.path);
  return {
    enabled: false,
    evidence: `the command line has no ${FLAG}${
      config === undefined ? "" : ` and ${config.path} does not enable "${FEATURE}"`
    }`,
    fix: ENABLE,
  };
}

function enabledBy(path: string): FlagCheck {
  return { enabled: true, evidence: `${path} has "unstable": ["${FEATURE}"]`, fix: "" };
}

function configArgument(flags: readonly string[]): string | undefined {
  for (let i = 0; i < flags.length; i++) {
    const flag = flags[i]!;
    if (flag === "--config" || flag === "-c") return flags[i + 1];
    if (flag.startsWith("--config=")) return flag.slice("--config=".length);
  }
  return undefined;
}

/** Reads `/proc/self/cmdline` when Deno allows it without a prompt (all permissions granted). */
function readOwnCommandLine(): string[] | undefined {
  if (Deno.build.os !== "linux") return undefined;
  const names = ["read", "write", "net", "env", "run", "ffi", "sys"] as const;
  if (!names.every((name) => Deno.permissions.querySync({ name }).state === "granted")) return undefined;
  try {
    return splitCommandLine(Deno.readTextFileSync("/proc/self/cmdline"));
  } catch {
    return undefined;
  }
}

/** Asks a `deno eval` child (which has all permissions) for this process's command line. */
async function probeCommandLine(): Promise<string[] | undefined> {
  if (Deno.build.os === "windows") return undefined;
  const deno = Deno.execPath();
  if (Deno.permissions.querySync({ name: "run", command: deno }).state !== "granted") return undefined;
  const script = `const pid = Number(Deno.args[0]);
try { console.log(JSON.stringify(Deno.readTextFileSync("/proc/" + pid + "/cmdline").split("\\0").slice(0, -1))); }
catch { const out = new Deno.Command("ps", { args: ["-o", "command=", "-p", String(pid)] }).outputSync();
  console.log(JSON.stringify(new TextDecoder().decode(out.stdout).trim().split(/\\s+/))); }`;
  try {
    const { success, stdout } = await new Deno.Command(deno, {
      args: ["eval", "--no-config", "--quiet", script, String(Deno.pid)],
      stdin: "null",
      stdout: "piped",
      stderr: "null",
    }).output();
    if (!success) return undefined;
    const argv: unknown = JSON.parse(new TextDecoder().decode(stdout));
    return Array.isArray(argv) && argv.length > 0 ? argv.map(String) : undefined;
  } catch {
    return undefined;
  }
}

function splitCommandLine(text: string): string[] {
  const argv = text.split("\0");
  if (argv.at(-1) === "") argv.pop();
  return argv;
}

/** A config file as far as the flag is concerned. */
interface Config {
  readonly path: string;
  readonly unstable: readonly string[];
  /** Whether its import map is the one in use: `undefined` when it maps nothing to tell by. */
  readonly inEffect: boolean | undefined;
}

/**
 * The config Deno discovers: the nearest deno.json or deno.jsonc from the
 * main module's directory up (Deno 2.9 starts there, not at the working
 * directory: a deno.json in the working directory alone is ignored,
 * measured). One the host may not read is passed over.
 */
async function discoverConfig(): Promise<Config | undefined> {
  let directory: string;
  try {
    const main = new URL(Deno.mainModule);
    directory = main.protocol === "file:" ? dirname(fileURLToPath(main)) : Deno.cwd();
  } catch {
    return undefined;
  }
  for (;;) {
    for (const name of ["deno.json", "deno.jsonc"]) {
      const path = join(directory, name);
      const config = await readConfig(path);
      if (config !== undefined) return config;
    }
    const parent = dirname(directory);
    if (parent === directory) return undefined;
    directory = parent;
  }
}

async function readConfig(path: string): Promise<Config | undefined> {
  if (Deno.permissions.querySync({ name: "read", path }).state !== "granted") return undefined;
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch {
    return undefined;
  }
  try {
    const config = JSON.parse(stripJsonc(text)) as { unstable?: unknown; imports?: unknown } | null;
    const unstable = config?.unstable;
    return {
      path,
      unstable: Array.isArray(unstable) ? unstable.map(String) : [],
      inEffect: importMapInEffect(config?.imports, path),
    };
  } catch {
    // Deno itself refuses a config it cannot parse; treat it as not enabling anything.
    return { path, unstable: [], inEffect: undefined };
  }
}

/**
 * Whether the import map of the config at `path` is the one Deno resolves
 * with: its first plain entry must resolve, from here, to what it maps to.
 *
 * @returns `undefined` when the map has no entry to tell by.
 */
function importMapInEffect(imports: unknown, path: string): boolean | undefined {
  if (typeof imports !== "object" || imports === null) return undefined;
  const entry = Object.entries(imports).find(([key, value]) =>
    typeof value === "string" && !key.endsWith("/") && !/^[./]|^[a-z][a-z0-9+.-]*:/i.test(key)
  );
  if (entry === undefined) return undefined;
  const [key, value] = entry as [string, string];
  let expected: string;
  try {
    expected = new URL(value, pathToFileURL(path)).href;
  } catch {
    return undefined;
  }
  try {
    const resolved = import.meta.resolve(key);
    return resolved === expected || resolved.startsWith(value);
  } catch {
    return false;
  }
}

/** Removes JSONC comments and trailing commas, leaving strings untouched. */
function stripJsonc(text: string): string {
  let out = "";
  for (let i = 0; i < text.length; i++) {
    const char = text[i]!;
    if (char === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === "\\" ? 2 : 1;
      out += text.slice(i, j + 1);
      i = j;
    } else if (char === "/" && text[i + 1] === "/") {
      while (i < text.length && text[i] !== "\n") i++;
      out += "\n";
    } else if (char === "/" && text[i + 1] === "*") {
      const close = text.indexOf("*/", i + 2);
      i = close === -1 ? text.length : close + 1;
    } else {
      out += char;
    }
  }
  return out.replace(/,(\s*[}\]])/g, "$1");
}
