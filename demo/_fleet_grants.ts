/**
 * What a fleet host (`demo/server.ts --store …`) must be granted beyond
 * `deno task serve`'s read of the repository: its store's file, its trust
 * list, its cache. Checked before anything opens, so that a host started
 * without them (`deno task serve --store …` included) says at once the
 * whole command that runs it, every grant in it, ready to paste.
 *
 * @module
 */

import { dirname, resolve } from "node:path";
import type { Isolation } from "../mod.ts";
import type { FleetArgs } from "./_cli.ts";
import { shellQuoted } from "../core/_shell_quote.ts";

/** The grants a fleet host needs, and the `--cache` to add for a host given none. */
export interface FleetGrants {
  readonly read: readonly string[];
  readonly write: readonly string[];
  readonly net: readonly string[];
  /** The Deno executable, for process isolation. */
  readonly run: readonly string[];
  /**
   * A cache for a host given none, beside a SQLite store or in the current
   * directory: the temporary directory would need a grant of its own, and
   * each host removes what it wrote there.
   */
  readonly cache: string | undefined;
}

/** What a host following `fleet` needs: read and write of a SQLite store's directory and of its cache, read of its trust list. */
export function fleetGrants(fleet: FleetArgs, trust: string | undefined, isolation: Isolation): FleetGrants {
  // SQLite writes its -wal and -shm files beside the database: the directory it is in.
  const storeDir = fleet.store.startsWith("sqlite:")
    ? grantable(dirname(resolve(fleet.store.slice("sqlite:".length))))
    : undefined;
  const cache = fleet.cache === undefined ? resolve(storeDir ?? ".", `cache-${fleet.host}`) : undefined;
  const cacheDir = grantable(resolve(fleet.cache ?? cache!));
  const dirs = [...(storeDir === undefined ? [] : [storeDir]), cacheDir];
  const nats = fleet.store.startsWith("nats://") ? new URL(fleet.store).host : undefined;
  return {
    read: [...dirs, ...(trust === undefined ? [] : [grantable(resolve(trust))])],
    write: dirs,
    net: ["127.0.0.1", ...(nats === undefined || nats.startsWith("127.0.0.1") ? [] : [nats])],
    run: isolation === "process" ? [Deno.execPath()] : [],
    cache,
  };
}

/** A path Deno's comma-separated flag can name: one with a comma is granted by its nearest directory without one. */
function grantable(path: string): string {
  while (path.includes(",") && dirname(path) !== path) path = dirname(path);
  return path;
}

/** The paths of `grants` this run lacks, as `read of …`, `write of …`. */
export function lacking(grants: FleetGrants): string[] {
  const lacks: string[] = [];
  for (const name of ["read", "write"] as const) {
    for (const path of grants[name]) {
      // A cache not made yet is created by the host: what counts is its directory's grant then.
      if (Deno.permissions.querySync({ name, path }).state !== "granted") lacks.push(`${name} of ${path}`);
    }
  }
  return lacks;
}

/**
 * The `deno run` command that grants a fleet host all it needs, with the
 * read of the repository's `so`, `core` and `deno.json` that `deno task
 * serve` has, shell-quoted.
 */
export function fleetHostCommand(grants: FleetGrants, args: readonly string[]): string {
  const flags = [
    "--no-prompt",
    `--allow-read=${["so", "core", "deno.json", ...grants.read].join(",")}`,
    `--allow-write=${grants.write.join(",")}`,
    `--allow-net=${grants.net.join(",")}`,
    ...(grants.run.length === 0 ? [] : [`--allow-run=${grants.run.join(",")}`]),
  ];
  const cache = grants.cache === undefined ? [] : ["--cache", grants.cache];
  return ["deno", "run", ...flags, "demo/server.ts", ...args, ...cache].map(shellQuoted).join(" ");
}
