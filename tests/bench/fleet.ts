/**
 * Fleet benchmarks (SPEC 13), on both stores: 20 host processes follow a
 * channel; we time, from the hosts' own output,
 *
 * - publish → every host serving: a rollout to a new signed artifact with
 *   one step of 100 % and no bake, from the controller's first write to the
 *   last host serving it (target under 1 s);
 * - gate trip → every host back on stable: a rollout whose first step puts
 *   half the hosts on the candidate, then the abort a tripped gate writes,
 *   from that write to the last canary host serving stable again (target
 *   under 500 ms).
 *
 * Run: deno task bench:fleet [--hosts 20] [--rounds 5]
 */

import { parseArgs } from "node:util";
import { inCanary } from "../../core/fleet/canary.ts";
import { abort, beginRollout, publish, runRollout } from "../../core/fleet/rollout.ts";
import { openStore, type Store } from "../../core/store/store.ts";
import { natsMissing, NatsServer } from "../_nats.ts";
import { HostProcess, now, Packer } from "../_fleet.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { hosts: { type: "string", default: "20" }, rounds: { type: "string", default: "5" } },
});
const HOSTS = Number(values.hosts);
const ROUNDS = Number(values.rounds);
const CHANNEL = "bench/prod";

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

async function run(name: string, url: string, dir: string): Promise<void> {
  const packer = await Packer.create(dir);
  const pack = (word: string) => packer.pack(word);
  await using store: Store = await openStore(url);
  const first = await pack("v0");
  await publish(store, CHANNEL, first.bytes, { digest: first.digest });
  const hosts: HostProcess[] = [];
  for (let i = 0; i < HOSTS; i++) {
    await Deno.mkdir(`${dir}/cache-${i}`, { recursive: true });
    hosts.push(new HostProcess([url, CHANNEL, `host-${i}`, packer.trustFile, `${dir}/cache-${i}`]));
  }
  try {
    await Promise.all(hosts.map((host) => host.servingSince(first.digest, 0)));
    const deploy: number[] = [];
    const trip: number[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      // publish → every host serving, no bake.
      const next = await pack(`v${round}`);
      const started = now();
      await publish(store, CHANNEL, next.bytes, { digest: next.digest });
      await runRollout(store, CHANNEL, next.digest, { steps: [100], bakeMs: 0, pollMs: 10 });
      const served = await Promise.all(hosts.map((host) => host.servingSince(next.digest, started)));
      deploy.push(Math.max(...served) - started);

      // gate trip → every host back on stable.
      const candidate = await pack(`c${round}`);
      await publish(store, CHANNEL, candidate.bytes, { digest: candidate.digest });
      const begun = now();
      const entry = await beginRollout(store, CHANNEL, candidate.digest, {
        steps: [50, 100],
        bakeMs: 60_000,
      });
      const rollout = entry.state.rollout!;
      const canary = hosts.filter((_, i) => inCanary(`host-${i}`, rollout.id, 50));
      await Promise.all(canary.map((host) => host.servingSince(candidate.digest, begun)));
      const tripped = now();
      await abort(store, CHANNEL, "benchmark: gate tripped");
      const back = await Promise.all(canary.map((host) => host.servingSince(next.digest, tripped)));
      trip.push(Math.max(...back) - tripped);
    }
    console.log(
      `${name}: ${HOSTS} hosts, ${ROUNDS} rounds: publish -> all serving: median ${
        median(deploy).toFixed(0)
      } ms, max ${Math.max(...deploy).toFixed(0)} ms; gate trip -> all on stable: median ${
        median(trip).toFixed(0)
      } ms, max ${Math.max(...trip).toFixed(0)} ms`,
    );
  } finally {
    await Promise.all(hosts.map((host) => host.stop()));
  }
}

const sqliteDir = await Deno.makeTempDir({ prefix: "hotswap_fleet_bench_" });
try {
  await run("sqlite", `sqlite:${sqliteDir}/fleet.db`, sqliteDir);
} finally {
  await Deno.remove(sqliteDir, { recursive: true });
}
const missing = await natsMissing();
if (missing !== undefined) console.log(`nats: skipped (${missing})`);
else {
  await using server = await NatsServer.start();
  const natsDir = await Deno.makeTempDir({ prefix: "hotswap_fleet_bench_" });
  try {
    await run("nats", server.url, natsDir);
  } finally {
    await Deno.remove(natsDir, { recursive: true });
  }
}
