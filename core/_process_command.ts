/**
 * How a generation's process is started: the `deno run` flags (exactly the
 * generation's permissions, plus what keeps loading from touching anything
 * of the host's), its private working directory, and the checks that the
 * host may start it at all, made without ever prompting.
 *
 * Flags, and why (measured on Deno 2.9.6):
 * - `--no-prompt`: a permission the generation lacks is denied at once, never
 *   asked of whoever sits at the host's terminal.
 * - `--no-config`, `--no-lock`: no deno.json is picked up from the
 *   directories around, and no lockfile is written: loading never writes the
 *   host's lockfile.
 * - `--no-remote`, `--no-npm`: without them `deno run` imports from its
 *   default list of hosts (esm.sh, jsr.io, deno.land, ...) and downloads npm
 *   packages with no permission at all. With `import` granted, the hosts are
 *   given to `--allow-import`, and npm is allowed when `import` is `true` or
 *   lists `registry.npmjs.org`.
 * - `--v8-flags=--max-old-space-size=<memoryLimit>`: the heap cap. Memory
 *   outside the heap is watched by the process's watchdog thread.
 *
 * The runtime's own program is the main module, which `deno run` loads
 * without read permission; the generation cannot read those files (a
 * dynamic import of a file the program did not load needs read permission).
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import { HotswapError } from "./errors.ts";
import { absoluteGrant, grantFlag, hostHolds } from "./_host_grants.ts";
import { privateDirectory } from "./_private_directory.ts";
import type { WorkerPermissions } from "./options.ts";
import type { ProcessCommand } from "./_process_host.ts";

/**
 * The program every generation process runs. Resolved when first needed, not
 * when this module loads: a generation may import the library (for
 * `implement()`), and its modules run from `blob:` URLs, against which a
 * relative URL does not resolve.
 */
const processMain = (): URL => new URL("./_process_main.ts", import.meta.url);

/** Permission kinds, each denied unless `permissions` grants it. */
const KINDS = ["env", "ffi", "import", "net", "read", "run", "sys", "write"] as const;
type Kind = typeof KINDS[number];
/** Where npm packages come from: naming it in `import` allows `npm:` specifiers. */
const NPM_REGISTRY = "registry.npmjs.org";

/**
 * Throws `E_PERMISSION` unless the host may run the Deno executable. Asks
 * with `querySync`, which never prompts.
 *
 * @param entry The generation's entry, for the message.
 */
export function assertCanSpawn(entry: string): void {
  const command = Deno.execPath();
  if (Deno.permissions.querySync({ name: "run", command }).state === "granted") return;
  throw new HotswapError(
    "E_PERMISSION",
    `Cannot run "${entry}" in its own process: the host may not run the Deno executable; add --allow-run=${command}`,
    { path: entry },
  );
}

/**
 * Checks `permissions` and turns them into `deno run` flags. A grant the
 * host does not hold itself is refused: process isolation must never be a
 * way for a host to hand out more than it has.
 *
 * @throws {TypeError} A malformed permission set.
 * @throws {HotswapError} `E_PERMISSION` for a grant the host lacks.
 */
export function permissionFlags(permissions: WorkerPermissions | undefined, entry: string): string[] {
  if (permissions !== undefined && (typeof permissions !== "object" || permissions === null)) {
    throw new TypeError(
      `Cannot start a process: permissions must be an object such as { net: ["127.0.0.1"] }, got ${
        JSON.stringify(permissions)
      }`,
    );
  }
  const granted = (permissions ?? {}) as Partial<Record<Kind, unknown>>;
  for (const kind of Object.keys(granted)) {
    if (!(KINDS as readonly string[]).includes(kind)) {
      throw new TypeError(
        `Cannot start a process: ${JSON.stringify(kind)} is not a permission kind; use ${KINDS.join(", ")}`,
      );
    }
  }
  const flags: string[] = [];
  let npm = false;
  let remote = false;
  for (const kind of KINDS) {
    const value = granted[kind];
    if (value === undefined || value === false) continue;
    if (value === true) {
      assertHostHolds(kind, undefined, entry);
      flags.push(`--allow-${kind}`);
      if (kind === "import") npm = remote = true;
      continue;
    }
    if (
      !Array.isArray(value) ||
      value.some((item) => typeof item !== "string" || item === "" || item.includes(","))
    ) {
      throw new TypeError(
        `Cannot start a process: permissions.${kind} must be true, false or a list of non-empty names without commas, got ${
          JSON.stringify(value)
        }`,
      );
    }
    if (value.length === 0) continue;
    const items = (value as string[]).map((item) => absoluteGrant(kind, item));
    for (const item of items) assertHostHolds(kind, item, entry);
    flags.push(`--allow-${kind}=${items.join(",")}`);
    if (kind === "import") {
      remote = true;
      npm = items.includes(NPM_REGISTRY);
    }
  }
  if (!npm) flags.push("--no-npm");
  if (!remote) {
    // The runtime's own program must still load when it comes from a remote
    // host: allow that host only, and only from the cache the host filled.
    const main = processMain();
    if (main.protocol === "file:") flags.push("--no-remote");
    else flags.push(`--allow-import=${main.host}`, "--cached-only");
  }
  return flags;
}

/**
 * The full command of a generation process: `deno run`, the flags, the
 * program, and a private working directory when the host may make one.
 */
export function processCommand(flags: readonly string[], memoryLimitMiB: number): ProcessCommand {
  const directory = privateDirectory();
  const main = processMain();
  return {
    args: [
      "run",
      "--no-prompt",
      "--no-config",
      "--no-lock",
      // Each generation is new code at new blob: URLs: V8's compiled code of it
      // would be written into DENO_DIR's code cache for good, and never read.
      "--no-code-cache",
      `--v8-flags=--max-old-space-size=${Math.max(1, Math.floor(memoryLimitMiB))}`,
      ...flags,
      main.protocol === "file:" ? fileURLToPath(main) : main.href,
    ],
    cwd: directory.path,
    cleanup: directory.remove,
  };
}

/** Refuses a grant the host itself does not hold (import excepted: the host's own state is not queryable as granted). */
function assertHostHolds(kind: Kind, item: string | undefined, entry: string): void {
  if (hostHolds(kind, item)) return;
  const flag = grantFlag(kind, item);
  throw new HotswapError(
    "E_PERMISSION",
    `Cannot grant ${flag} to the process of "${entry}": the host does not hold it itself; add ${flag} to the host, or narrow "permissions"`,
    { path: entry },
  );
}
