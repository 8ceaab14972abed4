/**
 * A fleet of real host processes (tests/fixtures/fleet_host.ts, each a
 * followChannel() host with a trust list) on both stores: a forged artifact
 * is refused and its rollout aborts; a good one rolled out with steps 34,100
 * reaches every host although its controller and one canary host are killed
 * mid-rollout and started again; on NATS, a server restart leaves the hosts
 * serving, and they catch up.
 */

import { match, strictEqual } from "node:assert/strict";
import { inCanary } from "../core/fleet/canary.ts";
import { publish, runRollout } from "../core/fleet/rollout.ts";
import { HotswapError } from "../core/errors.ts";
import { openStore, type Store } from "../core/store/store.ts";
import { HostProcess, now, Packer } from "./_fleet.ts";
import { natsMissing, NatsServer, natsTest } from "./_nats.ts";

const CHANNEL = "greeter/prod";
const HOSTS = 6;
const CONTROLLER = new URL("./fixtures/fleet_rollout.ts", import.meta.url).pathname;
const LOCK = new URL("./deno.lock", import.meta.url).pathname;

/** The rollout command in a process; resolves its exit code and output; `kill()` ends it. */
function controller(args: string[]) {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      `--lock=${LOCK}`,
      "--allow-read",
      "--allow-write",
      "--allow-net=127.0.0.1",
      CONTROLLER,
      ...args,
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let out = "";
  const lines: ((text: string) => void)[] = [];
  const reading = (async () => {
    for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
      out += chunk;
      for (const wake of lines.splice(0)) wake(out);
    }
  })();
  const err = new Response(child.stderr).text();
  let exited = false;
  child.status.then(() => exited = true);
  return {
    /** Resolves once the output matches `pattern` (30 s at most: the fleet may share two busy cores). */
    async until(pattern: RegExp): Promise<void> {
      const deadline = Date.now() + 30_000;
      while (!pattern.test(out)) {
        if (exited || Date.now() > deadline) {
          throw new Error(`the controller never printed ${pattern}:\n${out}${exited ? await err : ""}`);
        }
        const { promise, resolve } = Promise.withResolvers<string>();
        lines.push(resolve);
        const timer = setTimeout(() => resolve(out), 100);
        await promise;
        clearTimeout(timer);
      }
    },
    async kill(): Promise<void> {
      child.kill("SIGKILL");
      await child.status;
      await reading;
      await err;
    },
    /** Its exit code and output; killed (and failed) past 90 s. */
    async done(): Promise<{ code: number; out: string; err: string }> {
      const timer = setTimeout(() => child.kill("SIGKILL"), 90_000);
      const { code } = await child.status;
      clearTimeout(timer);
      await reading;
      return { code, out, err: await err };
    },
  };
}

async function fleetScenario(url: string, dir: string, server?: NatsServer): Promise<void> {
  const packer = await Packer.create(dir);
  const v1 = await packer.pack("v1");
  const forged = await packer.pack("forged", true);
  const v2 = await packer.pack("v2");
  let store: Store = await openStore(url);
  const hosts: HostProcess[] = [];
  const start = (i: number) =>
    new HostProcess([url, CHANNEL, `host-${i}`, packer.trustFile, `${dir}/cache-${i}`]);
  try {
    await publish(store, CHANNEL, v1.bytes, { digest: v1.digest, label: "v1" });
    await publish(store, CHANNEL, forged.bytes, { digest: forged.digest, label: "forged" });
    await publish(store, CHANNEL, v2.bytes, { digest: v2.digest, label: "v2" });
    for (let i = 0; i < HOSTS; i++) {
      await Deno.mkdir(`${dir}/cache-${i}`);
      hosts.push(start(i));
    }
    await Promise.all(hosts.map((host) => host.servingSince(v1.digest, 0)));
    // Every host has reported: the controller's canary draw sees them all.
    while ((await store.listReports(CHANNEL)).length < HOSTS) await new Promise((r) => setTimeout(r, 20));

    // A forged artifact: the canary hosts refuse it, the rollout aborts, nobody ever served it.
    const refused = await runRollout(store, CHANNEL, forged.digest, {
      steps: [34, 100],
      bakeMs: 60_000,
      pollMs: 20,
    });
    strictEqual(refused.status, "aborted");
    match(refused.rollout.reason ?? "", /refused the candidate: E_SIGNATURE/);
    strictEqual(hosts.every((host) => host.digest === v1.digest), true);

    // A good one, through a controller that is killed at the canary step and run again.
    const args = [CHANNEL, "--store", url, "--to", "v2", "--steps", "34,100", "--bake", "1500ms"];
    const first = controller(args);
    await first.until(/gate: wait: baking/);
    await first.kill();
    const rollout = (await store.getChannel(CHANNEL))?.state.rollout;
    strictEqual(rollout?.status, "running");
    strictEqual(rollout.percent, 34);
    // A canary host crashes and comes back: it must resume on the candidate.
    const canary = hosts.findIndex((_, i) => inCanary(`host-${i}`, rollout.id, 34));
    strictEqual(canary >= 0, true, "the controller draws a canary with a host in it");
    await hosts[canary]!.kill();
    const restarted = now();
    hosts[canary] = start(canary);
    await hosts[canary]!.servingSince(v2.digest, restarted);
    strictEqual(hosts[canary]!.serving[0]?.digest, v2.digest, "the restarted host's first generation");
    const second = controller(args);
    const { code, out, err } = await second.done();
    strictEqual(code, 0, `${out}\n${err}`);
    match(out, new RegExp(`resuming rollout ${rollout.id} at step 1/2`));
    await Promise.all(hosts.map((host) => host.servingSince(v2.digest, 0)));

    if (server !== undefined) {
      // The server goes away: hosts keep serving; it comes back: they catch up.
      await server.stop();
      await new Promise((resolve) => setTimeout(resolve, 500));
      strictEqual(hosts.every((host) => host.digest === v2.digest), true);
      await server.restart();
      await store[Symbol.asyncDispose]();
      store = await openStore(url);
      const v3 = await packer.pack("v3");
      await publish(store, CHANNEL, v3.bytes, { digest: v3.digest });
      let outcome;
      for (let attempt = 0; outcome === undefined; attempt++) {
        try {
          outcome = await runRollout(store, CHANNEL, v3.digest, { steps: [100], bakeMs: 0, pollMs: 20 });
        } catch (error) {
          if (attempt > 10 || !(error instanceof HotswapError) || error.code !== "E_STORE") throw error;
        }
      }
      strictEqual(outcome.status, "promoted");
      await Promise.all(hosts.map((host) => host.servingSince(v3.digest, 0)));
    }
  } finally {
    await Promise.all(hosts.map((host) => host.stop()));
    await store[Symbol.asyncDispose]();
  }
}

Deno.test("sqlite: 6 host processes: a forged artifact is refused, a good one survives a killed controller and host", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hotswap_fleet_" });
  try {
    await fleetScenario(`sqlite:${dir}/fleet.db`, dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

natsTest(
  "nats: 6 host processes: the same, and a server restart the hosts ride out",
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "hotswap_fleet_" });
    try {
      await using server = await NatsServer.start();
      await fleetScenario(server.url, dir, server);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
  await natsMissing(),
);
