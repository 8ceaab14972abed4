/**
 * The frame of the catalogue of hostile and broken generations (issue 6),
 * whose cases live in tests/catalogue_*_test.ts, one file per family. Each
 * case swaps a serving generation to a bad one and checks the expected code
 * and message, that the refusal was announced, and that the old generation
 * still serves with the same number and digest; or, where the runtime
 * accepts the generation, that the new one serves and retires cleanly.
 *
 * Cases are rows of a table run once per isolation mode ({@linkcode MODES});
 * where the outcome differs by mode, `expect` gives one per mode. A case that
 * talks to its generation through `globalThis` runs inline only. In worker
 * mode every case also ends with no generation worker alive.
 *
 * @module
 */

import { deepStrictEqual, match, ok, strictEqual } from "node:assert/strict";
import {
  type Hotswap,
  HotswapError,
  type HotswapErrorCode,
  type HotswapOptions,
  type Isolation,
  registerHotswap,
  type RetireReport,
} from "../mod.ts";
import { runSteps, STEPS_HOST } from "./_child.ts";
import { type Echo, echo, echoModule, Fixture } from "./_fixtures.ts";

/** Isolation modes the catalogue runs in. */
export const MODES: readonly Isolation[] = ["inline", "worker"];

/** The swap is refused with `code`, the message matches `message`, and the old generation serves. */
export interface Refused {
  readonly code: HotswapErrorCode;
  readonly message: RegExp;
}

/** The swap commits and the new generation's `run(1)` returns `result`. */
export interface Accepted {
  readonly result: unknown;
}

/** What comes of swapping to a case's generation. */
export type Expectation = Refused | Accepted;

/** What a case's `after` checks see. */
export interface Context {
  readonly fixture: Fixture;
  readonly hot: Hotswap<Echo>;
  readonly mode: Isolation;
  /** The retire report of generation 1, for accepted swaps. */
  readonly retired?: RetireReport;
}

/** One row of the catalogue. */
export interface Case {
  /** What the generation does, as the test name. */
  readonly name: string;
  /** Writes the bad generation's files; returns the path to swap to. */
  readonly write?: (fixture: Fixture) => Promise<string>;
  /** The outcome, the same in every mode or per mode. */
  readonly expect?: Expectation | Partial<Record<Isolation, Expectation>>;
  /** Options of registerHotswap (besides isolation). */
  readonly options?: HotswapOptions;
  /** Source of generation 1 when the hostile part lives in the running generation. */
  readonly first?: string;
  /** Extra checks once the expectation holds. */
  readonly after?: (context: Context) => Promise<void> | void;
  /** A case with its own flow instead of register, swap, check. */
  readonly run?: (mode: Isolation) => Promise<void>;
  /** Modes the case applies to (default: all). */
  readonly modes?: readonly Isolation[];
  /** Needs POSIX file types (FIFOs, symlinks). */
  readonly posix?: boolean;
}

/** The global object, to hand a generation what the test shares with it (inline mode only). */
export function globals(): Record<string, unknown> {
  return globalThis as unknown as Record<string, unknown>;
}

/** The first load in each mode, once per test process; see {@linkcode register}. */
const warmedUp = new Map<Isolation, Promise<void>>();

/** Loads and closes a good echo in `mode` with the default `loadTimeout`. */
async function warmUp(mode: Isolation): Promise<void> {
  await using fixture = await Fixture.create();
  await using _hot = await registerHotswap(echo, await fixture.write({ "good.ts": echoModule("good") }), {
    isolation: mode,
  });
}

/**
 * Registers generation 1 (`first`, or a good echo labelled "good") from the
 * fixture's good.ts. The mode's first load in the process is made before,
 * with the default `loadTimeout`: with a cold emit cache (the runtime's own
 * files just edited) a worker's first start transpiles them, which took
 * longer than the 250 ms a case gives the load it tests.
 */
export async function register(
  fixture: Fixture,
  mode: Isolation,
  options: HotswapOptions = {},
  first?: string,
): Promise<Hotswap<Echo>> {
  if (!warmedUp.has(mode)) warmedUp.set(mode, warmUp(mode));
  await warmedUp.get(mode);
  return await registerHotswap(echo, await fixture.write({ "good.ts": first ?? echoModule("good") }), {
    ...options,
    isolation: mode,
  });
}

/** The generation serving is `generation` and `run(1)` returns `result`. */
export async function expectServing(hot: Hotswap<Echo>, generation: number, result: unknown): Promise<void> {
  strictEqual(hot.generation, generation);
  deepStrictEqual(await hot.with((h) => h.run(1)), result);
}

/** Swapping to `path` is refused as `expected`, announced once, and the good generation serves on. */
export async function expectRefused(
  hot: Hotswap<Echo>,
  path: string,
  expected: Refused,
): Promise<HotswapError> {
  const generation = hot.generation;
  const digest = hot.digest;
  const announced: HotswapError[] = [];
  const listener = (event: CustomEvent<{ error: HotswapError }>) => announced.push(event.detail.error);
  hot.addEventListener("reject", listener);
  let caught: unknown;
  try {
    await hot.swap(path);
  } catch (error) {
    caught = error;
  } finally {
    hot.removeEventListener("reject", listener);
  }
  ok(caught instanceof HotswapError, `expected a HotswapError, got ${String(caught)}`);
  strictEqual(caught.code, expected.code, caught.message);
  match(caught.message, expected.message);
  strictEqual(caught.activeGeneration, generation);
  deepStrictEqual(announced, [caught]);
  strictEqual(hot.digest, digest);
  await expectServing(hot, generation, ["good", 1]);
  return caught;
}

/** What a host process made of one path: `[generation serving, code or "ok", run(1)]`. */
export type HostOutcome = [generation: unknown, code: unknown, result: unknown];

/**
 * Swaps in a host process of its own (tests/fixtures/host.ts, reading only
 * the fixture), for a generation that would end or spoil the test process;
 * the host must exit 0.
 *
 * @param fixture Where the generations are.
 * @param args The host's arguments: its options, the first path, the paths to swap to.
 * @returns What it made of each path, and the steps as it printed them.
 */
export async function swapInHost(
  fixture: Fixture,
  args: string[],
): Promise<{ outcomes: HostOutcome[]; steps: Record<string, unknown>[] }> {
  const { steps, code, stderr } = await runSteps(STEPS_HOST, [`--allow-read=${fixture.dir}`], args);
  strictEqual(code, 0, stderr);
  return { outcomes: steps.map((step) => [step.generation, step.code ?? "ok", step.result]), steps };
}

function expectationFor(entry: Case, mode: Isolation): Expectation | undefined {
  const expect = entry.expect;
  if (expect === undefined || "code" in expect || "result" in expect) {
    return expect as Expectation | undefined;
  }
  return (expect as Partial<Record<Isolation, Expectation>>)[mode];
}

/** Register, swap to the case's generation, check the outcome; no worker may outlive the reference. */
async function swapCase(entry: Case, mode: Isolation): Promise<void> {
  const expected = expectationFor(entry, mode)!;
  await using fixture = await Fixture.create();
  const hot = await register(fixture, mode, entry.options, entry.first);
  try {
    const path = await entry.write!(fixture);
    if ("code" in expected) {
      await expectRefused(hot, path, expected);
      await entry.after?.({ fixture, hot, mode });
      return;
    }
    const { generation, retired } = await hot.swap(path);
    strictEqual(generation, 2);
    deepStrictEqual(await hot.with((h) => h.run(1)), expected.result);
    await entry.after?.({ fixture, hot, mode, retired: await retired });
  } finally {
    await hot.close();
    strictEqual(hot.stats().sandboxes, 0, "no generation worker outlives its reference");
  }
}

/**
 * Registers one test per case and mode, named `[mode] case name`. A worker
 * that outlives its test fails it: the resource sanitizer reports it.
 *
 * @param cases The rows of one family.
 */
export function catalogue(cases: readonly Case[]): void {
  for (const mode of MODES) {
    for (const entry of cases) {
      if (entry.modes !== undefined && !entry.modes.includes(mode)) continue;
      if (entry.run === undefined && expectationFor(entry, mode) === undefined) {
        throw new Error(`Catalogue case "${entry.name}" has no expectation for ${mode} mode`);
      }
      Deno.test({
        name: `[${mode}] ${entry.name}`,
        ignore: entry.posix === true && Deno.build.os === "windows",
        fn: () => entry.run ? entry.run(mode) : swapCase(entry, mode),
      });
    }
  }
}
