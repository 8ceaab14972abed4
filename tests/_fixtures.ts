/**
 * Test fixtures: real generation modules written to temporary directories.
 *
 * @module
 */

import { dirname, join } from "node:path";
import { setImmediate } from "node:timers";
import { defineContract } from "../core/contract.ts";

/** A temporary directory of generation files, removed on dispose. */
export class Fixture implements AsyncDisposable {
  /** The directory, symlinks resolved. */
  readonly dir: string;

  private constructor(dir: string) {
    this.dir = dir;
  }

  /** Creates an empty fixture directory. */
  static async create(): Promise<Fixture> {
    return new Fixture(await Deno.realPath(await Deno.makeTempDir({ prefix: "hotswap_test_" })));
  }

  /** Absolute path of a file in the fixture. */
  path(name: string): string {
    return join(this.dir, name);
  }

  /** Writes `files` (name to source) and returns the path of the first. */
  async write(files: Record<string, string>): Promise<string> {
    for (const [name, source] of Object.entries(files)) {
      await Deno.mkdir(dirname(this.path(name)), { recursive: true });
      await Deno.writeTextFile(this.path(name), source);
    }
    return this.path(Object.keys(files)[0]!);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await Deno.remove(this.dir, { recursive: true });
  }
}

/** The handle most tests use: a value and a function. */
export interface Echo {
  label: string;
  run(input: unknown): unknown;
}

/** Contract of {@linkcode Echo}, exported by fixtures as `hs_echo`. */
export const echo = defineContract<Echo>({
  name: "Echo",
  version: "1.0.0",
  symbol: "hs_echo",
  shape: { label: "string", run: "function" },
});

/** Contract of a generation whose `load(name)` imports a module by a specifier it computes, exported as `hs_loader`. */
export const computedLoader = defineContract<{ load(name: string): Promise<unknown> }>({
  name: "Loader",
  version: "1.0.0",
  symbol: "hs_loader",
  shape: { load: "function" },
});

/** Source of a generation whose `run` returns `[label, input]`. */
export function echoModule(label: string, extra = ""): string {
  return `export const hs_echo = { label: ${JSON.stringify(label)}, run: (input: unknown) => [${
    JSON.stringify(label)
  }, input] };\n${extra}`;
}

/** Flushes pending microtasks a few times, to show something is still blocked. */
export async function flushMicrotasks(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
}

/** One event-loop turn: every pending microtask has run. */
export function macrotask(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
