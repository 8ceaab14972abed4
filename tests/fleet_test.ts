/**
 * A fleet of 6 real `demo/server.ts` hosts under request load, on both
 * stores, driven by the `hotswap` command itself (core/cli/main.ts in a
 * process of its own, so it can be killed and run again). One fleet per
 * store serves every phase in turn; each phase starts with every host on the
 * stable generation, and checks that again before the next:
 *
 * - a forged artifact is refused by the canary hosts and the rollout aborts;
 * - a candidate whose handler throws on 1 request in 5 is aborted at the
 *   canary step by the error-rate gate, and every host returns to stable;
 * - a good candidate rolled out with steps 34,100 reaches every host with no
 *   failed request, although its controller is killed at the canary step and
 *   run again (it resumes), and a canary host and a stable host are killed
 *   and restarted meanwhile (each comes back on its own generation);
 * - on NATS, the server stops: the hosts keep serving; it comes back: they
 *   catch up with a rollout made after it returned.
 */

import { deepStrictEqual, match, ok, strictEqual } from "node:assert/strict";
import { inCanary } from "../core/fleet/canary.ts";
import { publish } from "../core/fleet/publish.ts";
import { runRollout } from "../core/fleet/rollout.ts";
import { HotswapError } from "../core/errors.ts";
import { openStore, type Store } from "../core/store/store.ts";
import { Child, REPO, runToEnd } from "./_child.ts";
import { FleetServer, type LoadMark, type Packed, Packer, RequestLoad, shortDigest } from "./_fleet.ts";
import { natsMissing, NatsServer, natsTest } from "./_nats.ts";

const CHANNEL = "app/prod";
const HOSTS = 6;
const CLI = `${REPO}core/cli/main.ts`;
const LOCK = new URL("./deno.lock", import.meta.url).pathname;

/** `hotswap <args>` as the arguments of `deno`, with the permissions of `deno task hotswap`. */
function hotswap(args: string[]): string[] {
  return [
    "run",
    "--no-prompt",
    `--lock=${LOCK}`,
    "--frozen",
    "--allow-read",
    "--allow-write",
    "--allow-net=127.0.0.1",
    CLI,
    ...args,
  ];
}

/** How the `hotswap` processes run: without colour. */
const PLAIN = { env: { NO_COLOR: "1" } };

/** Asserts that every host serves `digest` by its own `GET /_hotswap`, and that the channel wants it there. */
async function allServe(hosts: readonly FleetServer[], digest: string): Promise<void> {
  await Promise.all(hosts.map((host) => host.servingDigest(digest)));
  for (const host of hosts) {
    const status = await host.status();
    deepStrictEqual(
      {
        host: status.fleet.host,
        digest: status.digest,
        serving: status.fleet.serving,
        desired: status.fleet.desired,
      },
      { host: host.host, digest, serving: digest, desired: digest },
    );
  }
}

/** The requests that failed since `mark`, for a message. */
function failedSince(load: RequestLoad, mark: LoadMark): string {
  return load.failures.slice(mark.failed).map((f) => `${f.host} ${f.status} ${f.body.trim()}`).join("\n");
}

/** Starts hosts; if one fails to start, the others are stopped before the error is thrown. */
async function startHosts(ids: readonly number[], start: (i: number) => Promise<FleetServer>) {
  const settled = await Promise.allSettled(ids.map(start));
  const started = settled.flatMap((outcome) => outcome.status === "fulfilled" ? [outcome.value] : []);
  const failed = settled.find((outcome) => outcome.status === "rejected");
  if (failed !== undefined) {
    await Promise.all(started.map((host) => host.kill()));
    throw failed.reason;
  }
  return started;
}

async function fleetScenario(
  t: Deno.TestContext,
  url: string,
  dir: string,
  nats?: NatsServer,
): Promise<void> {
  const packer = await Packer.create(dir);
  const v1 = await packer.packApp("v1");
  const forged = await packer.packApp("forged", { forged: true });
  const bad = await packer.packApp("bad", { failEvery: 5 });
  const v2 = await packer.packApp("v2");
  let store: Store = await openStore(url);
  const hosts: FleetServer[] = [];
  const start = (i: number) =>
    FleetServer.start({ store: url, channel: CHANNEL, host: `host-${i}`, trust: packer.trustFile, dir });
  const rollout = (to: Packed, bake: string) =>
    hotswap(["rollout", CHANNEL, "--store", url, "--to", to.label, "--steps", "34,100", "--bake", bake]);
  let load: RequestLoad | undefined;
  let codes: number[] = [];
  try {
    for (const artifact of [v1, forged, bad, v2]) {
      await publish(store, CHANNEL, artifact.bytes, { digest: artifact.digest, label: artifact.label });
    }
    hosts.push(...await startHosts([...Array(HOSTS).keys()], start));
    for (const host of hosts) deepStrictEqual(host.served, [shortDigest(v1.digest)]);
    // Every host has reported, so the controller's canary draw sees them all.
    const deadline = Date.now() + 10_000;
    while ((await store.listReports(CHANNEL)).length < HOSTS) {
      ok(Date.now() < deadline, "every host reports within 10 s");
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    load = new RequestLoad(hosts);
    const traffic = load;

    await t.step("a forged artifact is refused by the canary hosts and the rollout aborts", async () => {
      const mark = traffic.mark();
      const { code, stderr } = await runToEnd(rollout(forged, "60s"), PLAIN);
      strictEqual(code, 1, stderr);
      match(stderr, /rollout aborted, every host back on .*refused the candidate: E_SIGNATURE/);
      ok(hosts.some((host) => host.lines.some((line) => /^error +E_SIGNATURE/.test(line))));
      for (const host of hosts) deepStrictEqual(host.served, [shortDigest(v1.digest)], host.host);
      strictEqual(failedSince(traffic, mark), "");
    });

    await t.step(
      "a candidate failing 1 request in 5 is aborted at the canary step; every host returns to stable",
      async () => {
        const mark = traffic.mark();
        const { code, stderr } = await runToEnd(rollout(bad, "1s"), PLAIN);
        strictEqual(code, 1, stderr);
        match(
          stderr,
          /rollout aborted, every host back on .*: the canary's error rate .* is above the limit 1\.0 %/,
        );
        const aborted = (await store.getChannel(CHANNEL))?.state.rollout;
        strictEqual(aborted?.status, "aborted");
        strictEqual(aborted.step, 0, "aborted at the first (canary) step");
        const canary = new Set(
          hosts.filter((host) => inCanary(host.host, aborted.id, 34)).map((host) => host.host),
        );
        ok(canary.size > 0 && canary.size < HOSTS, `the canary is some of the hosts: ${[...canary]}`);
        await allServe(hosts, v1.digest);
        for (const host of hosts) {
          deepStrictEqual(
            host.served,
            canary.has(host.host)
              ? [v1, bad, v1].map((artifact) => shortDigest(artifact.digest))
              : [shortDigest(v1.digest)],
            host.host,
          );
        }
        // What failed is the bad generation's own 500s, on the canary hosts only.
        const failures = traffic.failures.slice(mark.failed);
        ok(failures.length > 0, "the canary answered some requests with the bad generation");
        ok(
          failures.every((failure) => failure.status === 500 && canary.has(failure.host)),
          failedSince(traffic, mark),
        );
      },
    );

    await t.step(
      "a good candidate reaches every host through a killed controller and killed hosts; no request fails",
      async () => {
        const mark = traffic.mark();
        {
          // Killed (when disposed) at the canary step, as a crashed controller would be.
          await using first = Child.spawn(rollout(v2, "1500ms"), PLAIN);
          await first.waitFor(/gate: wait: baking/, 30_000);
        }
        const running = (await store.getChannel(CHANNEL))?.state.rollout;
        strictEqual(running?.status, "running");
        strictEqual(running.percent, 34);
        // A canary host and a stable host crash and come back: each resumes what the channel wants for it.
        const canary = hosts.findIndex((host) => inCanary(host.host, running.id, 34));
        const stable = hosts.findIndex((host) => !inCanary(host.host, running.id, 34));
        await hosts[canary]!.servingDigest(v2.digest);
        for (const i of [canary, stable]) {
          await traffic.pause(i);
          await hosts[i]!.kill();
        }
        const [back, alsoBack] = await startHosts([canary, stable], start);
        hosts[canary] = back!;
        hosts[stable] = alsoBack!;
        traffic.resume(canary);
        traffic.resume(stable);
        deepStrictEqual(hosts[canary]!.served, [shortDigest(v2.digest)], "the restarted canary host");
        deepStrictEqual(hosts[stable]!.served, [shortDigest(v1.digest)], "the restarted stable host");

        const { code, stdout, stderr } = await runToEnd(rollout(v2, "1500ms"), PLAIN);
        strictEqual(code, 0, `${stdout}\n${stderr}`);
        match(stdout, new RegExp(`resuming rollout ${running.id} at step 1/2`));
        await allServe(hosts, v2.digest);
        strictEqual(failedSince(traffic, mark), "");
        deepStrictEqual([...new Set(traffic.answered.slice(mark.ok))].sort(), ["v1\n", "v2\n"]);
      },
    );

    if (nats !== undefined) {
      await t.step("nats-server stops: the hosts keep serving; it comes back: they catch up", async () => {
        const mark = traffic.mark();
        const seen = hosts.map((host) => host.lines.length);
        await nats.stop();
        // Each host has found the store gone (its report or its read failed), and still serves.
        await Promise.all(hosts.map((host, i) =>
          host.until(
            () => host.lines.slice(seen[i]).some((line) => /^error +E_STORE/.test(line)),
            "find the store gone",
          )
        ));
        for (const host of hosts) strictEqual(await (await fetch(host.base)).text(), "v2\n");
        await nats.restart();
        await store[Symbol.asyncDispose]();
        store = await openStore(url);
        const v3 = await packer.packApp("v3");
        // JetStream may take a moment after the restart to answer: retry what fails with E_STORE.
        let outcome;
        for (let attempt = 0; outcome === undefined; attempt++) {
          try {
            await publish(store, CHANNEL, v3.bytes, { digest: v3.digest, label: v3.label });
            outcome = await runRollout(store, CHANNEL, v3.digest, { steps: [100], bakeMs: 0, pollMs: 20 });
          } catch (error) {
            if (attempt > 10 || !(error instanceof HotswapError) || error.code !== "E_STORE") throw error;
          }
        }
        strictEqual(outcome.status, "promoted");
        await allServe(hosts, v3.digest);
        strictEqual(failedSince(traffic, mark), "");
      });
    }
  } finally {
    await load?.stop();
    codes = await Promise.all(hosts.map((host) => host.stop()));
    await store[Symbol.asyncDispose]();
  }
  deepStrictEqual(codes, hosts.map(() => 0), "every host exits 0 on SIGTERM");
}

Deno.test("sqlite: 6 demo/server.ts hosts under load: forged, failing and good candidates, killed controller and hosts", async (t) => {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "hotswap_fleet_" }));
  try {
    await fleetScenario(t, `sqlite:${dir}/fleet.db`, dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

natsTest(
  "nats: 6 demo/server.ts hosts under load: the same, and a server restart the hosts ride out",
  async (t) => {
    const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "hotswap_fleet_" }));
    try {
      await using server = await NatsServer.start();
      await fleetScenario(t, server.url, dir, server);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
  await natsMissing(),
);

Deno.test("demo/server.ts --store: a host waits for an empty channel, serves its first artifact, and leaves the store on SIGTERM", async () => {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "hotswap_fleet_" }));
  try {
    const packer = await Packer.create(dir);
    const url = `sqlite:${dir}/fleet.db`;
    await using store = await openStore(url);
    const options = { store: url, channel: CHANNEL, trust: packer.trustFile, dir };
    // Stopped before anything served: nothing to finish, exit 0.
    const early = FleetServer.spawn({ ...options, host: "early" });
    await early.until(() => early.lines.some((line) => line.startsWith("follow ")), "print its follow line");
    strictEqual(await early.stop(), 0);
    match(early.lines.join("\n"), /SIGTERM before the first generation served: exiting/);

    const host = FleetServer.spawn({ ...options, host: "waiting" });
    await host.until(() => host.lines.some((line) => line.startsWith("follow ")), "print its follow line");
    strictEqual(host.base, "", "it does not listen before the channel has a generation");
    const v1 = await packer.packApp("v1");
    await publish(store, CHANNEL, v1.bytes, { digest: v1.digest, label: v1.label });
    await host.until(() => host.base !== "", "listen once the channel has a generation");
    await allServe([host], v1.digest);
    strictEqual(await (await fetch(host.base)).text(), "v1\n");
    deepStrictEqual((await store.listReports(CHANNEL)).map((report) => report.host), ["waiting"]);
    strictEqual(await host.stop(), 0);
    deepStrictEqual(await store.listReports(CHANNEL), [], "a host that stops removes its report");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("demo/server.ts: --store needs --channel and takes no module; its flags need --store", async () => {
  const cases: [string[], RegExp][] = [
    [["--store", "sqlite:x.db", "--host", "h"], /--store needs --channel <name>/],
    [
      ["--store", "sqlite:x.db", "--channel", "c", "--host", "h", "so/app.ts"],
      /takes no module; got so\/app\.ts/,
    ],
    [
      ["--store", "sqlite:x.db", "--channel", "c", "--host", "h", "--watch"],
      /--watch cannot go with --store/,
    ],
    [["--channel", "c", "so/app.ts"], /--channel goes with --store <url>/],
    [
      ["--store", "sqlite:x.db", "--channel", "c", "--host", "h", "--report-interval", "0"],
      /--report-interval/,
    ],
  ];
  for (const [args, message] of cases) {
    const { code, stderr } = await runToEnd(["run", "--no-prompt", "demo/server.ts", ...args]);
    strictEqual(code, 2, `${args.join(" ")}: ${stderr}`);
    match(stderr, message);
  }
});
