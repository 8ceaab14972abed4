/**
 * followChannel(): real hot-swap references following a channel of the
 * embedded store, with signed artifacts (SPEC 12) rolled out by the
 * controller: a good one reaches every host, a forged one is refused by the
 * hosts and the rollout aborts, a restarted host resumes the channel.
 */

import { deepStrictEqual, match, ok, rejects, strictEqual } from "node:assert/strict";
import { defineContract } from "../core/contract.ts";
import { registerHotswap } from "../mod.ts";
import { packArtifact } from "../core/artifact.ts";
import { generateSigningKey } from "../core/signature.ts";
import { type FleetHost, followChannel } from "../core/fleet/host.ts";
import { publish } from "../core/fleet/publish.ts";
import { runRollout } from "../core/fleet/rollout.ts";
import { runToEnd } from "./_child.ts";
import { type ChannelState, openStore, type Store } from "../core/store/store.ts";
import type { TrustList } from "../core/trust.ts";

interface Greeter {
  greet(name: string): string;
}
const greeter = defineContract<Greeter>({
  name: "FleetGreeter",
  version: "1.0.0",
  symbol: "hs_greeter",
  shape: { greet: "function" },
});

interface Fixture {
  dir: string;
  store: Store;
  trust: TrustList;
  /** Packs `export const hs_greeter = { greet: () => "<word> " + name }` signed by the trusted key (or another). */
  pack(word: string, sequence: number, forged?: boolean): Promise<{ bytes: Uint8Array; digest: string }>;
}

async function withFixture(fn: (fixture: Fixture) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "hotswap_fleet_host_" });
  try {
    const key = await generateSigningKey();
    const stranger = await generateSigningKey();
    const trust: TrustList = {
      version: 1,
      keys: [{ keyid: key.keyid, publicKey: key.publicKey }],
      revoked: [],
    };
    await using store = await openStore(`sqlite:${dir}/fleet.db`);
    await fn({
      dir,
      store,
      trust,
      async pack(word, sequence, forged = false) {
        const src = `${dir}/src-${word}`;
        await Deno.mkdir(src, { recursive: true });
        await Deno.writeTextFile(
          `${src}/greeter.ts`,
          `export const hs_greeter = { greet: (n: string) => "${word} " + n };`,
        );
        const packed = await packArtifact(`${src}/greeter.ts`, {
          contract: greeter,
          key: forged ? stranger : key,
          label: word,
          sequence,
        });
        return { bytes: packed.bytes, digest: packed.manifest.digest };
      },
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function startHosts(fixture: Fixture, count: number): Promise<FleetHost<Greeter>[]> {
  const hosts: FleetHost<Greeter>[] = [];
  for (let i = 0; i < count; i++) {
    hosts.push(
      await followChannel(greeter, {
        store: fixture.store,
        channel: "greeter/prod",
        host: `host-${i}`,
        trust: fixture.trust,
        reportInterval: 50,
        cacheDir: `${fixture.dir}/cache-${i}`,
      }),
    );
  }
  return hosts;
}

async function converge(hosts: FleetHost<Greeter>[], word: string): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!hosts.every((host) => host.hot.with((h) => h.greet("x")) === `${word} x`)) {
    if (Date.now() > deadline) {
      throw new Error(`hosts say ${hosts.map((host) => host.hot.with((h) => h.greet("x"))).join(", ")}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function closeAll(hosts: FleetHost<Greeter>[]): Promise<void> {
  for (const host of hosts) await host[Symbol.asyncDispose]();
}

Deno.test("followChannel() hosts load the published stable, then the candidate a rollout promotes", async () => {
  await withFixture(async (fixture) => {
    const v1 = await fixture.pack("hello", 1);
    const v2 = await fixture.pack("hi", 2);
    for (const dir of [0, 1, 2]) await Deno.mkdir(`${fixture.dir}/cache-${dir}`);
    strictEqual(
      (await publish(fixture.store, "greeter/prod", v1.bytes, { digest: v1.digest })).madeStable,
      true,
    );
    await publish(fixture.store, "greeter/prod", v2.bytes, { digest: v2.digest });
    const hosts = await startHosts(fixture, 3);
    try {
      await converge(hosts, "hello");
      const outcome = await runRollout(fixture.store, "greeter/prod", v2.digest, {
        steps: [34, 100],
        bakeMs: 0,
        pollMs: 10,
      });
      strictEqual(outcome.status, "promoted");
      await converge(hosts, "hi");
      ok(hosts.every((host) => host.hot.digest === v2.digest));
    } finally {
      await closeAll(hosts);
    }
  });
});

Deno.test("registerHotswap() follows a channel with no host given (SPEC 5's form), each under an id of its own", async () => {
  await withFixture(async (fixture) => {
    const v1 = await fixture.pack("v1", 1);
    await publish(fixture.store, "greeter/prod", v1.bytes, { digest: v1.digest });
    const hosts = [];
    try {
      for (let i = 0; i < 2; i++) {
        // No --allow-sys here: no hostname to use, so a pid and a random part.
        hosts.push(
          await registerHotswap(greeter, {
            store: fixture.store,
            channel: "greeter/prod",
            trust: fixture.trust,
            cacheDir: `${fixture.dir}/cache-${i}`,
          }),
        );
      }
      for (const hot of hosts) strictEqual(hot.with((h) => h.greet("x")), "v1 x");
      const ids = (await fixture.store.listReports("greeter/prod")).map((report) => report.host);
      strictEqual(new Set(ids).size, 2, ids.join(", "));
      for (const id of ids) match(id, new RegExp(`^deno:${Deno.pid}:[0-9a-f]{8}$`));
    } finally {
      for (const hot of hosts) await hot.close();
    }
    await rejects(
      registerHotswap(
        greeter,
        { store: fixture.store, channel: "greeter/prod", reportIntervall: 50 } as never,
      ),
      /Cannot follow a channel: unknown option "reportIntervall" \(did you mean "reportInterval"\?\)/,
    );
  });
});

Deno.test("followChannel() hosts refuse a forged artifact, and the rollout aborts back to stable", async () => {
  await withFixture(async (fixture) => {
    const v1 = await fixture.pack("hello", 1);
    const forged = await fixture.pack("evil", 2, true);
    for (const dir of [0, 1, 2]) await Deno.mkdir(`${fixture.dir}/cache-${dir}`);
    await publish(fixture.store, "greeter/prod", v1.bytes, { digest: v1.digest });
    await publish(fixture.store, "greeter/prod", forged.bytes, { digest: forged.digest });
    const hosts = await startHosts(fixture, 3);
    try {
      const outcome = await runRollout(fixture.store, "greeter/prod", forged.digest, {
        steps: [34, 100],
        bakeMs: 60_000,
        pollMs: 10,
      });
      strictEqual(outcome.status, "aborted");
      ok(/refused the candidate: E_SIGNATURE/.test(outcome.rollout.reason ?? ""), outcome.rollout.reason);
      await converge(hosts, "hello");
    } finally {
      await closeAll(hosts);
    }
  });
});

Deno.test("followChannel() hosts verify a rollout back to the artifact they served before: an older sequence is refused", async () => {
  await withFixture(async (fixture) => {
    const v1 = await fixture.pack("hello", 1);
    const v2 = await fixture.pack("hi", 2);
    for (const dir of [0, 1]) await Deno.mkdir(`${fixture.dir}/cache-${dir}`);
    await publish(fixture.store, "greeter/prod", v1.bytes, { digest: v1.digest });
    await publish(fixture.store, "greeter/prod", v2.bytes, { digest: v2.digest });
    const hosts = await startHosts(fixture, 2);
    try {
      const forward = await runRollout(fixture.store, "greeter/prod", v2.digest, {
        steps: [100],
        bakeMs: 0,
        pollMs: 10,
      });
      strictEqual(forward.status, "promoted");
      await converge(hosts, "hi");
      // A new rollout to what served before is no rollback: the hosts hold it to the trust list's rules
      // (here the sequence, which went down), instead of bringing it back from memory unchecked.
      const back = await runRollout(fixture.store, "greeter/prod", v1.digest, {
        steps: [100],
        bakeMs: 0,
        pollMs: 10,
      });
      strictEqual(back.status, "aborted");
      ok(/refused the candidate: E_SIGNATURE.*replayed/.test(back.rollout.reason ?? ""), back.rollout.reason);
      await converge(hosts, "hi");
    } finally {
      await closeAll(hosts);
    }
  });
});

Deno.test("followChannel() hosts take an artifact published again signed by a trusted key, after refusing it", async () => {
  await withFixture(async (fixture) => {
    const v1 = await fixture.pack("hello", 1);
    const untrusted = await fixture.pack("hi", 2, true);
    for (const dir of [0, 1]) await Deno.mkdir(`${fixture.dir}/cache-${dir}`);
    await publish(fixture.store, "greeter/prod", v1.bytes, { digest: v1.digest });
    await publish(fixture.store, "greeter/prod", untrusted.bytes, { digest: untrusted.digest });
    const hosts = await startHosts(fixture, 2);
    try {
      const refused = await runRollout(fixture.store, "greeter/prod", untrusted.digest, {
        steps: [100],
        bakeMs: 0,
        pollMs: 10,
      });
      strictEqual(refused.status, "aborted");
      await converge(hosts, "hello");
      // The same files, signed by the trusted key: the same digest, published again.
      const signed = await fixture.pack("hi", 2);
      strictEqual(signed.digest, untrusted.digest);
      await publish(fixture.store, "greeter/prod", signed.bytes, { digest: signed.digest });
      const again = await runRollout(fixture.store, "greeter/prod", signed.digest, {
        steps: [100],
        bakeMs: 0,
        pollMs: 10,
      });
      strictEqual(again.status, "promoted", again.rollout.reason);
      await converge(hosts, "hi");
    } finally {
      await closeAll(hosts);
    }
  });
});

/** Writes the channel's state as whoever can write the store may, and waits until every host has reported since. */
async function writeChannel(
  fixture: Fixture,
  hosts: FleetHost<Greeter>[],
  state: ChannelState,
): Promise<void> {
  const entry = await fixture.store.getChannel("greeter/prod");
  ok(entry !== undefined);
  ok((await fixture.store.setChannel("greeter/prod", state, entry.revision)) !== undefined);
  const since = Date.now();
  const deadline = since + 5_000;
  for (;;) {
    const reports = await fixture.store.listReports("greeter/prod");
    const fresh = reports.filter((report) => report.at > since && report.state !== "loading");
    if (fresh.length >= hosts.length) return;
    if (Date.now() > deadline) throw new Error(`hosts did not report: ${JSON.stringify(reports)}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

Deno.test("followChannel() hosts refuse a signed artifact the store holds under another digest, before it serves", async () => {
  await withFixture(async (fixture) => {
    const v1 = await fixture.pack("hello", 1);
    const v2 = await fixture.pack("hi", 2);
    const named = await fixture.pack("named", 3);
    await Deno.mkdir(`${fixture.dir}/cache-0`);
    await publish(fixture.store, "greeter/prod", v1.bytes, { digest: v1.digest });
    const hosts = await startHosts(fixture, 1);
    try {
      await converge(hosts, "hello");
      // Validly signed bytes, stored under a digest they do not hash to.
      await fixture.store.putArtifact(v2.bytes, { digest: named.digest });
      await writeChannel(fixture, hosts, { stable: named.digest });
      const [report] = await fixture.store.listReports("greeter/prod");
      strictEqual(report?.state, "refused");
      strictEqual(report?.refused?.code, "E_INTEGRITY");
      // What it reports serving is what serves.
      strictEqual(report?.digest, v1.digest);
      strictEqual(hosts[0]!.hot.digest, v1.digest);
      strictEqual(hosts[0]!.hot.with((h) => h.greet("x")), "hello x");
      // Nothing of it is left in the cache directory.
      deepStrictEqual(await Array.fromAsync(Deno.readDir(`${fixture.dir}/cache-0`)), []);
    } finally {
      await closeAll(hosts);
    }
  });
});

Deno.test("followChannel() hosts go back after an aborted rollout only to what they served: a store marking one aborted cannot downgrade them", async () => {
  await withFixture(async (fixture) => {
    const old = await fixture.pack("old", 1);
    const v2 = await fixture.pack("hello", 2);
    const v3 = await fixture.pack("hi", 3);
    await Deno.mkdir(`${fixture.dir}/cache-0`);
    await fixture.store.putArtifact(old.bytes, { digest: old.digest });
    await publish(fixture.store, "greeter/prod", v2.bytes, { digest: v2.digest });
    await publish(fixture.store, "greeter/prod", v3.bytes, { digest: v3.digest });
    const hosts = await startHosts(fixture, 1);
    try {
      const forward = await runRollout(fixture.store, "greeter/prod", v3.digest, {
        steps: [100],
        bakeMs: 0,
        pollMs: 10,
      });
      strictEqual(forward.status, "promoted");
      await converge(hosts, "hi");
      const entry = await fixture.store.getChannel("greeter/prod");
      const aborted = { ...entry!.state.rollout!, status: "aborted" as const, reason: "forged" };
      // An artifact this host never served, with a rollout marked aborted: no rollback, the sequence check holds.
      await writeChannel(fixture, hosts, { stable: old.digest, rollout: { ...aborted, from: old.digest } });
      const [refused] = await fixture.store.listReports("greeter/prod");
      strictEqual(refused?.refused?.code, "E_SIGNATURE", JSON.stringify(refused));
      match(refused?.refused?.message ?? "", /replayed/);
      strictEqual(hosts[0]!.hot.with((h) => h.greet("x")), "hi x");
      // Back to the one it served before it: an explicit rollback, taken.
      await writeChannel(fixture, hosts, { stable: v2.digest, rollout: { ...aborted, from: v2.digest } });
      await converge(hosts, "hello");
    } finally {
      await closeAll(hosts);
    }
  });
});

Deno.test("followChannel() hosts: one that served a single generation cannot be downgraded by a forged abort; one restarted into a rollout goes back to its stable", async () => {
  await withFixture(async (fixture) => {
    const old = await fixture.pack("old", 1);
    const v2 = await fixture.pack("hello", 2);
    const v3 = await fixture.pack("hi", 3);
    for (const dir of [0, 1]) await Deno.mkdir(`${fixture.dir}/cache-${dir}`);
    await fixture.store.putArtifact(old.bytes, { digest: old.digest });
    await publish(fixture.store, "greeter/prod", v2.bytes, { digest: v2.digest });
    await publish(fixture.store, "greeter/prod", v3.bytes, { digest: v3.digest });
    const now = Date.now();
    const rollout = {
      id: "r1",
      to: v3.digest,
      from: v2.digest,
      steps: [100],
      step: 0,
      percent: 100,
      status: "running" as const,
      bakeMs: 60_000,
      maxErrorRate: 0.01,
      progressDeadlineMs: 60_000,
      startedAt: now,
      stepStartedAt: now,
    };
    // The host starts while a rollout to v3 runs, in its canary: it has served v3 alone.
    const entry = await fixture.store.getChannel("greeter/prod");
    await fixture.store.setChannel("greeter/prod", { stable: v2.digest, rollout }, entry!.revision);
    const hosts = await startHosts(fixture, 1);
    try {
      await converge(hosts, "hi");
      // A forged abort back to an artifact it never served, nor started beside: refused as replayed.
      await writeChannel(fixture, hosts, {
        stable: old.digest,
        rollout: { ...rollout, from: old.digest, status: "aborted", reason: "forged" },
      });
      const [refused] = await fixture.store.listReports("greeter/prod");
      strictEqual(refused?.refused?.code, "E_SIGNATURE", JSON.stringify(refused));
      match(refused?.refused?.message ?? "", /replayed/);
      strictEqual(hosts[0]!.hot.with((h) => h.greet("x")), "hi x");
      // The real abort of the rollout it started into: back to that rollout's stable, an older sequence.
      await writeChannel(fixture, hosts, {
        stable: v2.digest,
        rollout: { ...rollout, status: "aborted", reason: "gate" },
      });
      await converge(hosts, "hello");
    } finally {
      await closeAll(hosts);
    }
  });
});

Deno.test("followChannel() rejects when the channel's first generation is refused", async () => {
  await withFixture(async (fixture) => {
    const forged = await fixture.pack("evil", 1, true);
    await publish(fixture.store, "greeter/prod", forged.bytes, { digest: forged.digest });
    await rejects(
      followChannel(greeter, {
        store: fixture.store,
        channel: "greeter/prod",
        host: "h1",
        trust: fixture.trust,
      }),
      (error: Error & { code?: string }) => error.code === "E_SIGNATURE",
    );
  });
});

Deno.test("registerHotswap(contract, { store, channel, host, trust }) follows the channel; close() stops following", async () => {
  await withFixture(async (fixture) => {
    const v1 = await fixture.pack("hello", 1);
    await publish(fixture.store, "greeter/prod", v1.bytes, { digest: v1.digest });
    const { registerHotswap } = await import("../mod.ts");
    const hot = await registerHotswap(greeter, {
      store: `sqlite:${fixture.dir}/fleet.db`,
      channel: "greeter/prod",
      host: "solo",
      trust: fixture.trust,
      reportInterval: 50,
    });
    strictEqual(hot.digest, v1.digest);
    strictEqual(hot.with((h) => h.greet("ada")), "hello ada");
    const v2 = await fixture.pack("hi", 2);
    await publish(fixture.store, "greeter/prod", v2.bytes, { digest: v2.digest });
    const swapped = new Promise<void>((resolve) =>
      hot.addEventListener("swap", () => resolve(), { once: true })
    );
    const outcome = await runRollout(fixture.store, "greeter/prod", v2.digest, { steps: [100], bakeMs: 0 });
    strictEqual(outcome.status, "promoted");
    await swapped;
    strictEqual(hot.with((h) => h.greet("ada")), "hi ada");
    // Closing the reference stops the follower and closes the store it opened: the sanitizers see no leak.
    await hot.close();
    const generation = hot.generation;
    const v3 = await fixture.pack("hey", 3);
    await publish(fixture.store, "greeter/prod", v3.bytes, { digest: v3.digest });
    await runRollout(fixture.store, "greeter/prod", v3.digest, { steps: [100], bakeMs: 0 });
    strictEqual(hot.generation, generation, "a closed reference follows nothing");
  });
});

Deno.test("followChannel() without a cacheDir, on a host that may not write the temporary directory: E_PERMISSION", async () => {
  await withFixture(async (fixture) => {
    const v1 = await fixture.pack("hello", 1);
    await publish(fixture.store, "greeter/prod", v1.bytes, { digest: v1.digest });
    await Deno.writeTextFile(`${fixture.dir}/trust.json`, JSON.stringify(fixture.trust));
    const core = new URL("../core/", import.meta.url).pathname;
    await Deno.writeTextFile(
      `${fixture.dir}/host.ts`,
      `import { followChannel } from ${JSON.stringify(`${core}fleet/host.ts`)};
import { defineContract } from ${JSON.stringify(`${core}contract.ts`)};
const greeter = defineContract({ name: "FleetGreeter", version: "1.0.0", symbol: "hs_greeter", shape: { greet: "function" } });
try {
  await followChannel(greeter, { store: "sqlite:${fixture.dir}/fleet.db", channel: "greeter/prod", host: "h", trust: "${fixture.dir}/trust.json" });
  console.log("followed");
} catch (error) {
  console.log((error as { code?: string }).code, (error as Error).message);
}
Deno.exit(0);
`,
    );
    const { code, stdout, stderr } = await runToEnd([
      "run",
      "--no-prompt",
      `--allow-read=${fixture.dir},${core}`,
      `--allow-write=${fixture.dir}`,
      `${fixture.dir}/host.ts`,
    ]);
    strictEqual(code, 0, stderr);
    ok(stdout.startsWith("E_PERMISSION Cannot keep the channel's artifacts"), stdout + stderr);
    ok(/grant --allow-write=\S+, or give a cacheDir/.test(stdout), stdout);
  });
});
