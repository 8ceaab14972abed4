/**
 * Model-based property test of the Hotswap state machine (issue 6), in both
 * isolation modes. fast-check draws a program of commands (sync and async
 * `with()` calls settled in random order, good and bad swaps and rollbacks,
 * awaited or left running while later commands go on, event-loop turns,
 * close) and runs it against a real Hotswap and a small model of what it
 * must do. Worker mode runs fewer programs (each starts workers), with exact
 * drains only, and checks that no worker is left after close().
 *
 * The generations it swaps between are in tests/_hotswap_generations.ts, the
 * model in tests/_hotswap_model.ts, the commands and the end-of-program
 * checks in tests/_hotswap_program.ts.
 *
 * Invariants:
 * 1. Every call runs on exactly one generation: the newest committed one when
 *    it started (its handle's label names variant, number and handed-off
 *    state); no call ever sees a generation that failed or is still loading.
 * 2. Generation numbers rise by one per commit; swaps are decided in call
 *    order; a good swap commits, a bad one rejects with its code and names
 *    the generation still active; rollback recommits the previous snapshot
 *    (its digest) or rejects `E_NOT_FOUND`; after close() everything not yet
 *    decided rejects `E_CLOSED`.
 * 3. `retired` of a generation settles exactly when its last call settles:
 *    never before, and (inline) within the same event-loop turn after; with
 *    a drainTimeout of 0 it reports `drained: false` only after a
 *    `drain-timeout` event that counted the calls still running.
 * 4. `stats()` counts calls, swaps, rejects, rollbacks and per-generation
 *    in-flight calls as the model does; `with()` keeps sync results sync.
 * 5. Every promise the runtime hands out settles, and after close() nothing is
 *    left: no live generation, every retire report in, and no timer or
 *    resource (the test sanitizers are on).
 *
 * Reproduce a failure with the seed and path fast-check prints:
 * `HOTSWAP_FC_SEED=<seed> HOTSWAP_FC_PATH=<path> deno test -A tests/hotswap_property_test.ts`.
 * `HOTSWAP_FC_RUNS` and `HOTSWAP_FC_WORKER_RUNS` override the number of runs
 * (default 500 and 150); `HOTSWAP_FC_SUMMARY=1` prints what the runs exercised.
 */

import { strictEqual } from "node:assert/strict";
import fc from "npm:fast-check@4.10.2";
import { type Isolation, registerHotswap } from "../mod.ts";
import { echo, Fixture } from "./_fixtures.ts";
import { VARIANTS } from "./_hotswap_generations.ts";
import { World } from "./_hotswap_model.ts";
import { abandon, commandsFor, configsFor, finish } from "./_hotswap_program.ts";

const RUNS = Number(Deno.env.get("HOTSWAP_FC_RUNS") ?? 500);
/** Worker programs cost a worker start each: fewer runs. */
const WORKER_RUNS = Number(Deno.env.get("HOTSWAP_FC_WORKER_RUNS") ?? 150);

/** Runs `runs` random programs against a fresh Hotswap each, in one isolation mode. */
async function checkModel(isolation: Isolation, runs: number, maxCommands: number): Promise<void> {
  await using fixture = await Fixture.create();
  const paths = new Map<string, string>();
  for (const variant of VARIANTS) {
    const path = fixture.path(`${variant.name}.ts`);
    if (variant.source !== undefined) await Deno.writeTextFile(path, variant.source);
    paths.set(variant.name, path);
  }
  const seed = Deno.env.get("HOTSWAP_FC_SEED");
  const path = Deno.env.get("HOTSWAP_FC_PATH");
  // What the passing runs exercised, printed with HOTSWAP_FC_SUMMARY=1 (the README quotes it).
  const totals = { runs: 0, commands: 0, calls: 0, commits: 0, rollbacks: 0, refused: 0, drainTimeouts: 0 };
  await fc.assert(
    fc.asyncProperty(configsFor(isolation), commandsFor(isolation, maxCommands), async (config, program) => {
      const hot = await registerHotswap(echo, paths.get("sync")!, {
        isolation,
        drainTimeout: config.drainTimeout,
        ...(config.rollbackDepth === undefined ? {} : { rollbackDepth: config.rollbackDepth }),
      });
      const world = new World(hot, config, paths);
      try {
        await fc.asyncModelRun(() => ({ model: world, real: world }), program);
      } catch (error) {
        await abandon(world);
        throw error;
      }
      await finish(world);
      totals.runs++;
      totals.commands += [...program].length;
      totals.commits += world.swaps;
      totals.rollbacks += world.rollbacks;
      totals.refused += world.rejects;
      totals.calls += world.calls;
      totals.drainTimeouts += world.drainTimeouts.size;
    }),
    {
      numRuns: runs,
      // A run whose drain or close hangs fails instead of hanging the suite.
      timeout: 10_000,
      ...(seed === undefined ? {} : { seed: Number(seed) }),
      ...(path === undefined ? {} : { path }),
    },
  );
  strictEqual(totals.runs, runs);
  if (Deno.env.get("HOTSWAP_FC_SUMMARY")) console.log(JSON.stringify({ isolation, ...totals }));
}

Deno.test("Hotswap behaves as its model under random calls, swaps, rollbacks and close (inline)", async () => {
  await checkModel("inline", RUNS, 40);
});

Deno.test("Hotswap behaves as its model under random calls, swaps, rollbacks and close (worker)", async () => {
  await checkModel("worker", WORKER_RUNS, 30);
});
