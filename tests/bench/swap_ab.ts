/**
 * A/B of `SIGHUP` swaps under load between checkouts of this repository
 * (`deno task bench:ab <checkout>...`): the same measurement, run in turn
 * against each checkout (say this one and a `git worktree` holding a
 * change), round after round, so that the machine's drift falls on all of
 * them alike. `bench:load` compares runners; this compares code.
 *
 * Each run serves the sample app in one process, as demo/server.ts does
 * (`registerHotswap`, `warm()`, `swapOnSignal("SIGHUP")`, `Deno.serve`),
 * while a child process keeps 4 request loops on `/` and 2 on
 * `/slow?ms=300` running. Every 100-120 ms it edits so/app_logic.ts and
 * sends itself SIGHUP, `--edits` times. Per run it reports, in ms:
 *
 * - `commit`: write → the swap committed (median);
 * - `first`: write → the client read a response from the new code (median and p90);
 * - `steady p99` and `after p99`: `GET /` latency of requests started away
 *   from any edit, and within 50 ms after one; `ratio` is after / steady.
 *
 * It then prints the median of each figure over the rounds, per checkout.
 *
 * Usage: deno task bench:ab [--rounds 3] [--edits 100] <checkout> [<checkout>...]
 *
 * @module
 */

import { parseArgs } from "node:util";
import { join, resolve } from "node:path";
import { type Answer, loadClient } from "./_load_client.ts";
import { measureInChild } from "./_checkout_child.ts";

const { values, positionals } = parseArgs({
  args: Deno.args,
  allowPositionals: true,
  options: {
    rounds: { type: "string", default: "3" },
    edits: { type: "string", default: "100" },
    child: { type: "boolean", default: false },
  },
});
const EDITS = Number(values.edits);

/** The figures of one run. */
interface Run {
  commit: number;
  first: number;
  firstP90: number;
  steadyP99: number;
  afterP99: number;
  ratio: number;
}

const quantile = (samples: number[], q: number): number =>
  samples.toSorted((a, b) => a - b)[Math.floor((samples.length - 1) * q)] ?? NaN;

/** One run against the checkout at `repo`, in this process. */
async function measure(repo: string): Promise<Run> {
  const dir = await Deno.makeTempDir({ prefix: "hotswap_ab_" });
  try {
    for (const sub of ["so", "types"]) {
      await Deno.mkdir(join(dir, sub));
      for (const entry of Deno.readDirSync(join(repo, sub))) {
        if (entry.isFile) await Deno.copyFile(join(repo, sub, entry.name), join(dir, sub, entry.name));
      }
    }
    const { registerHotswap } = await import(join(repo, "mod.ts"));
    const { httpApp } = await import(join(repo, "types/mod.ts"));
    const entry = join(dir, "so/app.ts");
    const logic = join(dir, "so/app_logic.ts");
    await using hot = await registerHotswap(httpApp, entry);
    await hot.warm();
    type App = { handle(request: unknown): Promise<{ body: string; status?: number }> };
    await using server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      async (request) => {
        const headers = Object.fromEntries(request.headers);
        const answer = await hot.with((app: App) =>
          app.handle({ method: request.method, url: request.url, headers, body: "" })
        );
        return new Response(answer.body, { status: answer.status ?? 200 });
      },
    );
    const until = Date.now() + 1_500 + EDITS * 120 + 500;
    const answers = loadClient(server.addr.port, until);
    const original = Deno.readTextFileSync(logic);
    let committed = Promise.withResolvers<number>();
    const commits: number[] = [];
    using _swaps = await hot.swapOnSignal("SIGHUP", entry, {
      onSwap: (outcome: { ok: boolean; error?: unknown }) => {
        if (!outcome.ok) console.error(outcome.error);
        committed.resolve(performance.timeOrigin + performance.now());
      },
    });
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const writes: [number, number][] = [];
    for (let version = 2; version < EDITS + 2; version++) {
      const text = original.replace(/VERSION = "v\d+"/, `VERSION = "v${version}"`);
      committed = Promise.withResolvers<number>();
      const at = performance.timeOrigin + performance.now();
      writes.push([at, version]);
      Deno.writeTextFileSync(logic, text);
      Deno.kill(Deno.pid, "SIGHUP");
      commits.push((await committed.promise) - at);
      await new Promise((resolve) => setTimeout(resolve, 100 + Math.random() * 20));
    }
    const seen = await answers;
    const first: number[] = [];
    for (const [at, version] of writes) {
      const answers = seen.filter(([, end, v]) => end >= at && v >= version).map(([, end]) => end);
      if (answers.length > 0) first.push(answers.reduce((a, b) => Math.min(a, b)) - at);
    }
    const during = seen.filter(([start]) => start >= writes[0]![0] && start <= writes.at(-1)![0]);
    const latency = (samples: Answer[]) => samples.map(([start, end]) => end - start);
    const after = latency(during.filter(([start]) => writes.some(([at]) => start >= at && start < at + 50)));
    const steady = latency(
      during.filter(([start]) => !writes.some(([at]) => start >= at - 5 && start < at + 100)),
    );
    const afterP99 = quantile(after, 0.99);
    const steadyP99 = quantile(steady, 0.99);
    return {
      commit: quantile(commits, 0.5),
      first: quantile(first, 0.5),
      firstP90: quantile(first, 0.9),
      steadyP99,
      afterP99,
      ratio: afterP99 / steadyP99,
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

if (values.child) {
  console.log(JSON.stringify(await measure(resolve(positionals[0]!))));
} else {
  const checkouts = positionals.length > 0 ? positionals.map((path) => resolve(path)) : [Deno.cwd()];
  const runs = new Map<string, Run[]>(checkouts.map((checkout) => [checkout, []]));
  console.log(
    `${values.rounds} rounds of ${EDITS} SIGHUP swaps under load per checkout (Deno ${Deno.version.deno})`,
  );
  for (let round = 1; round <= Number(values.rounds); round++) {
    for (const checkout of checkouts) {
      const run = await measureInChild<Run>(import.meta.filename!, checkout, ["--edits", String(EDITS)]);
      runs.get(checkout)!.push(run);
      console.log(`round ${round} ${checkout}: ${format(run)}`);
    }
  }
  console.log("median over the rounds:");
  for (const [checkout, list] of runs) {
    const median = Object.fromEntries(
      (Object.keys(list[0]!) as (keyof Run)[]).map((
        key,
      ) => [key, quantile(list.map((run) => run[key]), 0.5)]),
    ) as unknown as Run;
    console.log(`${checkout}: ${format(median)}`);
  }
}

function format(run: Run): string {
  return `commit ${run.commit.toFixed(2)}, first ${run.first.toFixed(2)} / p90 ${run.firstP90.toFixed(2)}, ` +
    `steady p99 ${run.steadyP99.toFixed(2)}, after p99 ${run.afterP99.toFixed(2)}, ratio ${
      run.ratio.toFixed(2)
    }x`;
}
