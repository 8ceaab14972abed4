/**
 * What a fleet host (`demo/server.ts --store …`) must be granted beyond
 * `deno task serve`'s read of the repository: its store's file, its trust
 * list, its cache. Checked before anything opens, so that a host started
 * without them (`deno task serve --store …` included) says at once the
 * whole command that runs it, instead of one missing flag at a time.
 *
 * @module
 */

import { dirname, resolve } from "node:path";
import type { FleetArgs } from "./_cli.ts";

/** Paths each access is missing for (empty lists when all is granted), and the `--cache` to add, if any. */
export interface MissingGrants {
  readonly read: readonly string[];
  readonly write: readonly string[];
  /** A cache beside a SQLite store, for a host given none: the temporary directory needs its own grant. */
  readonly cache: string | undefined;
}

/** The grants a host following `fleet` lacks: read and write of a SQLite store's directory and of `--cache`, read of `--trust`. */
export function missingFleetGrants(fleet: FleetArgs, trust: string | undefined): MissingGrants {
  const read: string[] = [];
  const write: string[] = [];
  // SQLite writes its -wal and -shm files beside the database: the directory it is in.
  const storeDir = fleet.store.startsWith("sqlite:")
    ? dirname(resolve(fleet.store.slice("sqlite:".length)))
    : undefined;
  const dirs = [
    ...(storeDir === undefined ? [] : [storeDir]),
    ...(fleet.cache === undefined ? [] : [resolve(fleet.cache)]),
  ];
  for (const path of dirs) {
    if (!granted("read", path)) read.push(path);
    if (!granted("write", path)) write.push(path);
  }
  if (trust !== undefined && !granted("read", resolve(trust))) read.push(resolve(trust));
  const lacking = read.length + write.length > 0;
  // One per host: a host removes each artifact it wrote there once loaded.
  const cache = lacking && fleet.cache === undefined && storeDir !== undefined
    ? `${storeDir}/cache-${fleet.host}`
    : undefined;
  return { read, write, cache };
}

function granted(name: "read" | "write", path: string): boolean {
  return Deno.permissions.querySync({ name, path }).state === "granted";
}

/**
 * The `deno run` command that grants a fleet host what it lacks, with the
 * read of the repository's `so`, `core` and `deno.json` that `deno task serve` has.
 */
export function fleetHostCommand(missing: MissingGrants, args: readonly string[]): string {
  const read = ["so", "core", "deno.json", ...missing.read];
  const write = missing.write.length === 0 ? "" : ` --allow-write=${missing.write.join(",")}`;
  const cache = missing.cache === undefined ? [] : ["--cache", missing.cache];
  return `deno run --no-prompt --allow-read=${read.join(",")}${write} --allow-net=127.0.0.1 demo/server.ts ${
    [...args, ...cache].join(" ")
  }`;
}
