/**
 * The rollout controller: the gate as a pure function, sticky canary
 * membership, and whole rollouts over a fleet of in-process followers on the
 * embedded store (good, failing, refused, resumed, operator abort/promote).
 */

import { deepStrictEqual, match, ok, rejects, strictEqual } from "node:assert/strict";
import { canaryBucket, desiredDigest, inCanary } from "../core/fleet/canary.ts";
import { Follower } from "../core/fleet/follower.ts";
import type { ServingMetrics } from "../core/fleet/follower_options.ts";
import { judge } from "../core/fleet/gate.ts";
import { publish } from "../core/fleet/publish.ts";
import { abort, beginRollout, promote, runRollout } from "../core/fleet/rollout.ts";
import { channelStatus } from "../core/fleet/status.ts";
import { HotswapError } from "../core/errors.ts";
import { type HostReport, openStore, type RolloutState, type Store } from "../core/store/store.ts";
import { natsMissing, NatsServer, natsTest } from "./_nats.ts";
import { report } from "./_fleet.ts";
import { describeArtifact } from "../core/_artifact_format.ts";
import { Fixture } from "./_fixtures.ts";
import { keyAndList, packEcho, type PackEchoOptions } from "./_signing.ts";

const STABLE = `sha256-${"S".repeat(43)}=`;
const GOOD = `sha256-${"G".repeat(43)}=`;
const BAD = `sha256-${"B".repeat(43)}=`;
const FORGED = `sha256-${"F".repeat(43)}=`;

function rollout(overrides: Partial<RolloutState> = {}): RolloutState {
  return {
    id: "r1",
    to: GOOD,
    from: STABLE,
    steps: [50, 100],
    step: 0,
    percent: 50,
    status: "running",
    bakeMs: 10_000,
    maxErrorRate: 0.01,
    progressDeadlineMs: 60_000,
    startedAt: 0,
    stepStartedAt: 0,
    ...overrides,
  };
}

/** 40 hosts split by rollout "r1" at 50 %. */
const HOSTS = Array.from({ length: 40 }, (_, i) => `host-${i}`);
const CANARY = HOSTS.filter((host) => inCanary(host, "r1", 50));
const REST = HOSTS.filter((host) => !inCanary(host, "r1", 50));

function fleet(canary: Partial<HostReport> = {}, stable: Partial<HostReport> = {}): HostReport[] {
  return [...CANARY.map((h) => report(h, GOOD, canary)), ...REST.map((h) => report(h, STABLE, stable))];
}

Deno.test("beginRollout() refuses a candidate of another contract than the stable one live hosts serve, and only then", async () => {
  await using fixture = await Fixture.create();
  const { key } = await keyAndList();
  await using store = await openStore(`sqlite:${fixture.path("fleet.db")}`);
  const published = async (label: string, options: PackEchoOptions = {}) => {
    const bytes = await Deno.readFile(await packEcho(fixture, label, key, options));
    const { digest } = describeArtifact(bytes, label).manifest;
    await publish(store, "app", bytes, { digest, label });
    return digest;
  };
  const stable = await published("v1");
  const other = await published("other", {
    contract: { name: "Other", version: "1.0.0", symbol: "hs_echo" },
  });
  const live = { at: Date.now(), interval: 60_000 };
  await store.putReport("app", report("h1", stable, live));
  await rejects(beginRollout(store, "app", other), (error: HotswapError) => {
    strictEqual(error.code, "E_CONTRACT");
    ok(
      error.message.includes(
        `packed for contract Other (hs_echo), and the channel serves Echo (hs_echo) (stable ${stable})`,
      ),
    );
    return true;
  });
  strictEqual((await store.getChannel("app"))?.state.rollout, undefined, "nothing started");
  // The version is the contract module's business: hosts check the handle, not the manifest's version.
  const major = await published("v2", { contract: { name: "Echo", version: "2.0.0", symbol: "hs_echo" } });
  strictEqual((await beginRollout(store, "app", major, { steps: [100] })).state.rollout?.to, major);
  await abort(store, "app");
  // No host serving the stable (none up, or all refusing it: a wrong stable): nothing to protect.
  await store.deleteReport("app", "h1");
  strictEqual((await beginRollout(store, "app", other)).state.rollout?.to, other);
  await abort(store, "app");
  await store.putReport(
    "app",
    report("h1", "", {
      ...live,
      generation: 0,
      desired: stable,
      state: "refused",
      refused: { digest: stable, code: "E_SIGNATURE", message: "scope" },
    }),
  );
  strictEqual((await beginRollout(store, "app", other)).state.rollout?.to, other);
});

Deno.test("inCanary() keeps a host in as the percentage grows, and splits hosts near the percentage", () => {
  const hosts = Array.from({ length: 2000 }, (_, i) => `h${i}`);
  let previous: string[] = [];
  for (const percent of [1, 10, 34, 50, 99, 100]) {
    const inside = hosts.filter((host) => inCanary(host, "rollout-a", percent));
    ok(previous.every((host) => inside.includes(host)), `a host left the canary at ${percent} %`);
    ok(Math.abs(inside.length / hosts.length * 100 - percent) < 3, `${inside.length} hosts at ${percent} %`);
    previous = inside;
  }
  strictEqual(previous.length, hosts.length);
  strictEqual(hosts.filter((host) => inCanary(host, "rollout-a", 0)).length, 0);
  // Another rollout draws another canary.
  const a = hosts.filter((host) => inCanary(host, "rollout-a", 10));
  const b = hosts.filter((host) => inCanary(host, "rollout-b", 10));
  ok(a.filter((host) => b.includes(host)).length < a.length / 2);
  ok(canaryBucket("h1", "x") >= 0 && canaryBucket("h1", "x") < 10_000);
});

Deno.test("desiredDigest() gives canary hosts the candidate while the rollout runs, stable otherwise", () => {
  const running = { stable: STABLE, rollout: rollout() };
  deepStrictEqual(CANARY.map((h) => desiredDigest(running, h)), CANARY.map(() => GOOD));
  deepStrictEqual(REST.map((h) => desiredDigest(running, h)), REST.map(() => STABLE));
  const aborted = { stable: STABLE, rollout: rollout({ status: "aborted", percent: 0 }) };
  ok(HOSTS.every((h) => desiredDigest(aborted, h) === STABLE));
  strictEqual(desiredDigest(undefined, "h"), undefined);
  strictEqual(desiredDigest({}, "h"), undefined);
});

Deno.test("judge() waits while canary hosts load the candidate, and aborts past the progress deadline", () => {
  const loading = fleet();
  loading[0] = report(CANARY[0]!, STABLE, { state: "loading" });
  const waiting = judge(rollout(), loading, 20_000);
  strictEqual(waiting.verdict, "wait");
  ok(waiting.verdict === "wait" && waiting.reason.includes(CANARY[0]!));
  const late = judge(rollout({ progressDeadlineMs: 5_000 }), loading, 20_000);
  strictEqual(late.verdict, "abort");
  ok(late.verdict === "abort" && /progress deadline/.test(late.reason));
});

Deno.test("judge() aborts when a host goes silent during the rollout in the canary or on the candidate", () => {
  const crashed = fleet();
  // Its last report came during the rollout; it has said nothing for 10 s since.
  crashed[0] = report(CANARY[0]!, GOOD, { at: 10_000 });
  const decision = judge(rollout(), crashed, 20_000);
  ok(
    decision.verdict === "abort" &&
      decision.reason.startsWith(`host "${CANARY[0]}" stopped reporting 10 s ago, serving the candidate`),
    JSON.stringify(decision),
  );
  // Dead before it could load the candidate: still the canary's.
  crashed[0] = report(CANARY[0]!, STABLE, { at: 10_000 });
  ok(/in the canary/.test((judge(rollout(), crashed, 20_000) as { reason: string }).reason));
  // A stable host that goes silent is not the candidate's doing, nor is a host gone before the rollout.
  const quiet = fleet();
  quiet[CANARY.length] = report(REST[0]!, STABLE, { at: 10_000 });
  strictEqual(judge(rollout(), quiet, 20_000).verdict, "pass");
  quiet[0] = report(CANARY[0]!, STABLE, { at: 1_000 });
  strictEqual(judge(rollout({ startedAt: 2_000, stepStartedAt: 2_000 }), quiet, 20_000).verdict, "pass");
  // Silent since before this step put it in the canary: the reason says so.
  quiet[0] = report(CANARY[0]!, GOOD);
  const earlier = judge(rollout({ step: 1, percent: 100, stepStartedAt: 15_000 }), quiet, 20_000);
  ok(
    earlier.verdict === "abort" &&
      earlier.reason.includes(
        `"${REST[0]}" stopped reporting 10 s ago, serving the stable generation, before this step`,
      ),
    JSON.stringify(earlier),
  );
});

Deno.test("judge() waits for the bake time, then passes a healthy canary", () => {
  strictEqual(judge(rollout(), fleet(), 5_000).verdict, "wait");
  const decision = judge(rollout(), fleet(), 20_000);
  strictEqual(decision.verdict, "pass");
  deepStrictEqual(decision.canary.hosts, CANARY);
  strictEqual(decision.canary.calls, CANARY.length * 1000);
  deepStrictEqual(decision.stable.hosts, REST);
});

Deno.test("judge() passes a canary only on reports made after the bake: one that died on its first call is not passed", () => {
  // It reported once on loading the candidate, with no calls, then died: within a short bake it still counts as live.
  const reports = fleet();
  reports[0] = report(CANARY[0]!, GOOD, { at: 100, calls: 0, interval: 1_000 });
  const short = rollout({ bakeMs: 5_000 });
  const waiting = judge(short, reports, 5_000);
  ok(
    waiting.verdict === "wait" &&
      waiting.reason.includes(`host "${CANARY[0]}" to report since the bake ended`),
    JSON.stringify(waiting),
  );
  const dead = judge(short, reports, 5_200);
  ok(dead.verdict === "abort" && dead.reason.includes("stopped reporting"), JSON.stringify(dead));
  // Its next report, after the bake, is the one judged.
  reports[0] = report(CANARY[0]!, GOOD, { at: 5_100, interval: 1_000 });
  strictEqual(judge(short, reports, 5_200).verdict, "pass");
});

Deno.test("judge() aborts on a canary error rate above the limit and above stable's", () => {
  const failing = judge(rollout(), fleet({ errors: 200 }), 20_000);
  strictEqual(failing.verdict, "abort");
  ok(failing.verdict === "abort" && /error rate 20\.0 %/.test(failing.reason), JSON.stringify(failing));
  // Stable fails as much: the candidate is not to blame.
  strictEqual(judge(rollout(), fleet({ errors: 200 }, { errors: 250 }), 20_000).verdict, "pass");
  // Within the limit.
  strictEqual(judge(rollout(), fleet({ errors: 5 }), 20_000).verdict, "pass");
});

Deno.test("judge() aborts on a canary p99 above the limit, only when a limit is set", () => {
  const slow = fleet({ p99: 80 }, { p99: 10 });
  strictEqual(judge(rollout(), slow, 20_000).verdict, "pass");
  const decision = judge(rollout({ maxP99Ms: 50 }), slow, 20_000);
  ok(decision.verdict === "abort" && /p99 80\.0 ms/.test(decision.reason));
  strictEqual(judge(rollout({ maxP99Ms: 50 }), fleet({ p99: 80 }, { p99: 90 }), 20_000).verdict, "pass");
});

Deno.test("judge() aborts at once when a host refuses the candidate, bake or not", () => {
  const reports = fleet();
  reports[0] = report(CANARY[0]!, STABLE, {
    state: "refused",
    refused: { digest: GOOD, code: "E_SIGNATURE", message: "unknown key" },
  });
  const decision = judge(rollout(), reports, 1_000);
  ok(
    decision.verdict === "abort" && decision.reason.includes("E_SIGNATURE: unknown key"),
    JSON.stringify(decision),
  );
  // Reported before this rollout began: an earlier rollout's refusal, no verdict on this one.
  const earlier = judge(rollout({ startedAt: 21_000, stepStartedAt: 21_000, bakeMs: 0 }), reports, 21_000);
  strictEqual(earlier.verdict, "wait", JSON.stringify(earlier));
});

Deno.test("judge() ignores hosts whose last report is stale since before the rollout", () => {
  const reports = fleet();
  reports[0] = report(CANARY[0]!, STABLE, { at: 0 });
  strictEqual(judge(rollout({ startedAt: 5_000, stepStartedAt: 5_000 }), reports, 20_000).verdict, "pass");
});

/** An in-process fleet: followers whose `load` records the digest, refuses FORGED, and whose metrics fail on BAD. */
class Fleet implements AsyncDisposable {
  readonly followers = new Map<string, Follower>();
  readonly stores: Store[] = [];
  constructor(readonly open: () => Promise<Store>) {}

  async add(host: string): Promise<Follower> {
    const store = await this.open();
    this.stores.push(store);
    let serving = "";
    let since = 0;
    const follower = Follower.start({
      store,
      channel: "app",
      host,
      reportInterval: 50,
      load: (_bytes, digest) => {
        if (digest === FORGED) {
          return Promise.reject(new HotswapError("E_SIGNATURE", `Cannot load "${digest}": unknown key`));
        }
        serving = digest;
        since = Date.now();
        return Promise.resolve();
      },
      metrics: (): ServingMetrics => {
        const calls = Math.round((Date.now() - since) / 2);
        return { generation: 1, calls, errors: serving === BAD ? Math.round(calls / 5) : 0, p50: 1, p99: 3 };
      },
    });
    this.followers.set(host, follower);
    return follower;
  }

  digests(): string[] {
    return [...this.followers.values()].map((follower) => follower.digest);
  }

  /** Waits until every follower serves `digest`, 5 s at most. */
  async converge(digest: string): Promise<void> {
    const deadline = Date.now() + 5_000;
    while (!this.digests().every((d) => d === digest)) {
      if (Date.now() > deadline) throw new Error(`hosts serve ${this.digests().join(", ")}, not ${digest}`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    for (const follower of this.followers.values()) await follower[Symbol.asyncDispose]();
    for (const store of this.stores) await store[Symbol.asyncDispose]();
  }
}

async function withFleet(
  open: (dir: string) => Promise<Store>,
  fn: (store: Store, hosts: Fleet) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "hotswap_rollout_" });
  try {
    await using store = await open(dir);
    await using hosts = new Fleet(() => open(dir));
    for (const digest of [STABLE, GOOD, BAD, FORGED]) {
      const { madeStable } = await publish(store, "app", new TextEncoder().encode(digest), {
        digest,
        label: digest[7],
      });
      strictEqual(madeStable, digest === STABLE);
    }
    for (let i = 0; i < 6; i++) await hosts.add(`host-${i}`);
    await hosts.converge(STABLE);
    // Every host has reported at least once: the controller sees the fleet.
    while ((await store.listReports("app")).filter((r) => r.digest === STABLE).length < 6) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await fn(store, hosts);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const sqlite = (dir: string) => openStore(`sqlite:${dir}/fleet.db`);
const FAST = { bakeMs: 150, pollMs: 20, steps: [34, 100] };

Deno.test("runRollout() takes a good candidate through every step to stable on every host", async () => {
  await withFleet(sqlite, async (store, hosts) => {
    const steps: number[] = [];
    const outcome = await runRollout(store, "app", GOOD, {
      ...FAST,
      onProgress: (event) => {
        if (event.type !== "gate") steps.push(event.rollout.percent);
      },
    });
    strictEqual(outcome.status, "promoted");
    deepStrictEqual(steps, [34, 100]);
    strictEqual((await store.getChannel("app"))?.state.stable, GOOD);
    await hosts.converge(GOOD);
  });
});

Deno.test("runRollout() aborts a candidate whose canary fails one call in five: every host back on stable", async () => {
  await withFleet(sqlite, async (store, hosts) => {
    const outcome = await runRollout(store, "app", BAD, FAST);
    strictEqual(outcome.status, "aborted");
    strictEqual(outcome.rollout.step, 0, "stopped at the canary step");
    ok(/error rate/.test(outcome.rollout.reason ?? ""), outcome.rollout.reason);
    strictEqual((await store.getChannel("app"))?.state.stable, STABLE);
    await hosts.converge(STABLE);
  });
});

Deno.test("runRollout() aborts when a canary host refuses the artifact", async () => {
  await withFleet(sqlite, async (store, hosts) => {
    const outcome = await runRollout(store, "app", FORGED, { ...FAST, bakeMs: 60_000 });
    strictEqual(outcome.status, "aborted");
    ok(/refused the candidate: E_SIGNATURE/.test(outcome.rollout.reason ?? ""), outcome.rollout.reason);
    await hosts.converge(STABLE);
  });
});

Deno.test("runRollout() run again after its controller stopped resumes the same rollout", async () => {
  await withFleet(sqlite, async (store, hosts) => {
    const controller = new AbortController();
    const first = runRollout(store, "app", GOOD, {
      ...FAST,
      bakeMs: 400,
      signal: controller.signal,
      onProgress: (event) => {
        if (
          event.type === "gate" && event.decision.verdict === "wait" && /baking/.test(event.decision.reason)
        ) {
          controller.abort(new Error("controller killed"));
        }
      },
    });
    await rejects(first, /controller killed/);
    const stored = (await store.getChannel("app"))?.state.rollout;
    strictEqual(stored?.status, "running");
    const events: string[] = [];
    const outcome = await runRollout(store, "app", GOOD, {
      ...FAST,
      onProgress: (event) => void events.push(event.type),
    });
    strictEqual(events[0], "resume");
    strictEqual(outcome.rollout.id, stored.id);
    strictEqual(outcome.status, "promoted");
    await hosts.converge(GOOD);
    // Run once more: nothing left to do.
    strictEqual((await runRollout(store, "app", GOOD, FAST)).status, "promoted");
  });
});

Deno.test("runRollout() run again gives the hosts a reporting window, but no pass on their old reports", async () => {
  // A controller killed while the store was down, run again just after it came back: the hosts'
  // last reports are old, perhaps because they could not report, perhaps because they died.
  const dir = await Deno.makeTempDir({ prefix: "hotswap_rollout_" });
  try {
    await using store = await openStore(`sqlite:${dir}/fleet.db`);
    for (const digest of [STABLE, GOOD]) {
      await publish(store, "app", new TextEncoder().encode(digest), { digest });
    }
    const begun = await beginRollout(store, "app", GOOD, { steps: [100], bakeMs: 100 });
    const now = Date.now();
    // The bake is long over: judged on the report alone, the step would pass at once.
    const rollout = { ...begun.state.rollout!, startedAt: now - 30_000, stepStartedAt: now - 30_000 };
    ok(await store.setChannel("app", { ...begun.state, rollout }, begun.revision) !== undefined);
    const report: HostReport = {
      host: "web-1",
      generation: 2,
      digest: GOOD,
      desired: GOOD,
      state: "serving",
      calls: 10,
      errors: 0,
      p50: 1,
      p99: 2,
      at: now - 20_000,
      interval: 100,
    };
    await store.putReport("app", report);
    strictEqual(judge(rollout, [report], now).verdict, "abort", "judged on the stored report, it is silent");
    strictEqual(judge(rollout, [{ ...report, at: now }], now).verdict, "pass", "re-stamped, it would pass");
    const decisions: string[] = [];
    const outcome = await runRollout(store, "app", GOOD, {
      pollMs: 20,
      onProgress: (event) => {
        if (event.type === "gate") {
          decisions.push(
            `${event.decision.verdict}: ${"reason" in event.decision ? event.decision.reason : ""}`,
          );
        }
      },
    });
    // First a window for the host to report again, then, as it never does, the abort: never a pass.
    match(decisions[0]!, /^wait: waiting for host "web-1" to report again/);
    strictEqual(outcome.status, "aborted");
    match(decisions.at(-1)!, /^abort: host "web-1" stopped reporting/);
    ok(!decisions.some((decision) => decision.startsWith("pass")), decisions.join("\n"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("abort() and promote() from another client end the rollout the controller runs", async () => {
  await withFleet(sqlite, async (store, hosts) => {
    const running = runRollout(store, "app", GOOD, { ...FAST, bakeMs: 60_000 });
    while ((await store.getChannel("app"))?.state.rollout?.status !== "running") {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await rejects(beginRollout(store, "app", BAD, FAST), RangeError);
    const aborted = await abort(store, "app", "stopped by the test");
    strictEqual(aborted.percent, 0);
    const outcome = await running;
    strictEqual(outcome.status, "aborted");
    strictEqual(outcome.rollout.reason, "stopped by the test");
    await hosts.converge(STABLE);
    await rejects(abort(store, "app"), (error: HotswapError) => error.code === "E_NOT_FOUND");

    const again = runRollout(store, "app", GOOD, { ...FAST, bakeMs: 60_000 });
    while ((await store.getChannel("app"))?.state.rollout?.status !== "running") {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await promote(store, "app");
    strictEqual((await again).status, "promoted");
    await hosts.converge(GOOD);
    const status = await channelStatus(store, "app");
    strictEqual(status.stable, GOOD);
    strictEqual(status.hosts.length, 6);
    ok(status.hosts.every((host) => host.live && host.wants === GOOD));
  });
});

Deno.test("a follower that restarts mid-rollout comes back on the generation the channel wants for it", async () => {
  await withFleet(sqlite, async (store, hosts) => {
    const entry = await beginRollout(store, "app", GOOD, { ...FAST, steps: [50, 100] });
    const id = entry.state.rollout!.id;
    const host = [...hosts.followers.keys()].find((h) => inCanary(h, id, 50)) ??
      [...hosts.followers.keys()][0]!;
    const wanted = desiredDigest(entry.state, host);
    await hosts.followers.get(host)![Symbol.asyncDispose]();
    hosts.followers.delete(host);
    const back = await hosts.add(host);
    strictEqual(await back.ready(), wanted);
    await abort(store, "app");
    await hosts.converge(STABLE);
  });
});

Deno.test("runRollout() refuses a channel without a stable generation and an unknown artifact", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hotswap_rollout_" });
  try {
    await using store = await sqlite(dir);
    await rejects(runRollout(store, "app", GOOD), (error: HotswapError) => error.code === "E_NOT_FOUND");
    await publish(store, "app", new Uint8Array([1]), { digest: STABLE });
    await store.putArtifact(new Uint8Array([2]), { digest: GOOD });
    await rejects(runRollout(store, "app", BAD), (error: HotswapError) => error.code === "E_NOT_FOUND");
    await rejects(runRollout(store, "app", GOOD, { steps: [50] }), RangeError);
    await rejects(runRollout(store, "app", GOOD, { steps: [50, 10, 100] }), RangeError);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

const missing = await natsMissing();
natsTest("runRollout() on NATS: a good candidate reaches every host, a bad one is rolled back", async () => {
  await using server = await NatsServer.start();
  await withFleet(() => openStore(server.url), async (store, hosts) => {
    strictEqual((await runRollout(store, "app", BAD, FAST)).status, "aborted");
    await hosts.converge(STABLE);
    strictEqual((await runRollout(store, "app", GOOD, FAST)).status, "promoted");
    await hosts.converge(GOOD);
  });
}, missing);

natsTest("followers keep serving while the NATS server is down, and catch up once it is back", async () => {
  await using server = await NatsServer.start();
  await withFleet(() => openStore(server.url), async (store, hosts) => {
    await server.stop();
    // Several report ticks with the server gone: nothing changes, nothing throws.
    await new Promise((resolve) => setTimeout(resolve, 300));
    deepStrictEqual(hosts.digests(), hosts.digests().map(() => STABLE));
    await server.restart();
    // The controller's client reconnects on its own; its first requests may time out meanwhile.
    let outcome;
    for (let attempt = 0; outcome === undefined; attempt++) {
      try {
        outcome = await runRollout(store, "app", GOOD, FAST);
      } catch (error) {
        if (attempt > 10 || (error as HotswapError).code !== "E_STORE") throw error;
      }
    }
    strictEqual(outcome.status, "promoted");
    await hosts.converge(GOOD);
  });
}, missing);

/** A SQLite store in a temporary directory, with two artifacts published on channel "app"; the second's digest. */
async function withPublished(body: (store: Store, v2: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "hotswap_rollout_store_" });
  try {
    await using store = await openStore(`sqlite:${dir}/fleet.db`);
    const v1 = "sha256-" + "A".repeat(43) + "=", v2 = "sha256-" + "B".repeat(43) + "=";
    await publish(store, "app", new Uint8Array([1]), { digest: v1 });
    await publish(store, "app", new Uint8Array([2]), { digest: v2 });
    await body(store, v2);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("runRollout() rides out a store that fails for a while, says so, and goes on where the store says", async () => {
  await withPublished(async (store, v2) => {
    // Once the rollout has begun, its reads fail three times, then answer.
    let failures = 0;
    const down = () => {
      if (failures-- > 0) throw new HotswapError("E_STORE", "Cannot read the store: timeout");
    };
    const flaky = new Proxy(store, {
      get(target, key, receiver) {
        const value = Reflect.get(target, key, receiver);
        if (key !== "listReports" && key !== "getChannel") {
          return typeof value === "function" ? value.bind(target) : value;
        }
        return async (...args: unknown[]) => {
          down();
          return await (value as (...args: unknown[]) => Promise<unknown>).apply(target, args);
        };
      },
    }) as Store;
    const events: string[] = [];
    const outcome = await runRollout(flaky, "app", v2, {
      steps: [50, 100],
      bakeMs: 0,
      onProgress: (event) => {
        if (event.type === "start") failures = 3;
        if (event.type === "store") {
          events.push(event.error === undefined ? "store back" : `store: ${event.error.code}`);
        }
      },
    });
    strictEqual(outcome.status, "promoted");
    deepStrictEqual(events, ["store: E_STORE", "store back"]);
    strictEqual((await store.getChannel("app"))?.state.stable, v2);
  });
});

Deno.test("runRollout() counts a step's bake from when its write reached the store, not from before a slow write", async () => {
  await withPublished(async (store, v2) => {
    // Once the rollout has begun, each write of the channel waits 600 ms, as behind a locked database.
    let slow = false;
    const busy = new Proxy(store, {
      get(target, key, receiver) {
        const value = Reflect.get(target, key, receiver);
        if (key !== "setChannel") return typeof value === "function" ? value.bind(target) : value;
        return async (...args: unknown[]) => {
          if (slow) await new Promise((resolve) => setTimeout(resolve, 600));
          return await (value as (...args: unknown[]) => Promise<unknown>).apply(target, args);
        };
      },
    }) as Store;
    const bakeMs = 400;
    const steps: number[] = [];
    const outcome = await runRollout(busy, "app", v2, {
      steps: [50, 100],
      bakeMs,
      pollMs: 20,
      onProgress: (event) => {
        if (event.type === "start") slow = true;
        if (event.type === "step") steps.push(performance.now());
      },
    });
    const ended = performance.now();
    strictEqual(outcome.status, "promoted");
    strictEqual(steps.length, 1, "the second step");
    // From the second step's landing: its whole bake, then the final write (600 ms) that promotes.
    const took = ended - steps[0]!;
    ok(took >= bakeMs + 600 - 5, `promoted ${took.toFixed(0)} ms after the second step reached the store`);
  });
});
