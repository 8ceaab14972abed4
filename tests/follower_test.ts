/**
 * Follower: what a host loads, reports and refuses, on the embedded store.
 */

import { deepStrictEqual, rejects, strictEqual, throws } from "node:assert/strict";
import { Follower } from "../core/fleet/follower.ts";
import { publish } from "../core/fleet/publish.ts";
import { HotswapError } from "../core/errors.ts";
import { openStore, type Store } from "../core/store/store.ts";

const A = `sha256-${"A".repeat(43)}=`;
const B = `sha256-${"B".repeat(43)}=`;

async function withStore(fn: (store: Store) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "hotswap_follower_" });
  try {
    await using store = await openStore(`sqlite:${dir}/fleet.db`);
    await fn(store);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Waits for `check` to hold, 5 s at most. */
async function eventually(check: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`never: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

Deno.test("Follower waits for a channel's first generation, loads it, and reports serving", async () => {
  await withStore(async (store) => {
    const loaded: [number, string][] = [];
    await using follower = Follower.start({
      store,
      channel: "app",
      host: "h1",
      reportInterval: 20,
      load: (bytes, digest) => {
        loaded.push([bytes[0]!, digest]);
        return Promise.resolve();
      },
      metrics: () => ({ generation: 1, calls: 10, errors: 1, p50: 0.5, p99: 2 }),
    });
    await publish(store, "app", new Uint8Array([7]), { digest: A });
    strictEqual(await follower.ready(), A);
    deepStrictEqual(loaded, [[7, A]]);
    await eventually(
      async () => (await store.listReports("app"))[0]?.state === "serving",
      "a serving report",
    );
    const [report] = await store.listReports("app");
    strictEqual(report?.digest, A);
    strictEqual(report?.errors, 1);
    strictEqual(report?.interval, 20);
  });
});

Deno.test("Follower says once that its channel has no generation yet, then loads the first one published", async () => {
  await withStore(async (store) => {
    const told: HotswapError[] = [];
    await using follower = Follower.start({
      store,
      channel: "app/prdo",
      host: "h1",
      reportInterval: 20,
      load: () => Promise.resolve(),
      onError: (error) => told.push(error as HotswapError),
    });
    await eventually(() => told.length > 0, "a word on the empty channel");
    strictEqual(told[0]?.code, "E_NOT_FOUND");
    strictEqual(
      told[0]?.message,
      `Channel "app/prdo" in store "${store.url}" has no generation yet: waiting until one is published there (hotswap publish <file>.hsgen --store ${store.url} --channel app/prdo); check the channel's name if one was`,
    );
    // Ticks go on finding it empty: said once, not at every tick.
    const reportAt = async () => (await store.listReports("app/prdo"))[0]?.at ?? 0;
    await eventually(async () => (await reportAt()) > 0, "a report");
    const first = await reportAt();
    await eventually(async () => (await reportAt()) >= first + 40, "two more ticks");
    strictEqual(told.length, 1);
    await publish(store, "app/prdo", new Uint8Array([7]), { digest: A });
    strictEqual(await follower.ready(), A);
  });
});

Deno.test("Follower reports a refused artifact, keeps serving, and does not load it again", async () => {
  await withStore(async (store) => {
    await publish(store, "app", new Uint8Array([1]), { digest: A });
    let attempts = 0;
    await using follower = Follower.start({
      store,
      channel: "app",
      host: "h1",
      reportInterval: 20,
      load: (_bytes, digest) => {
        if (digest !== B) return Promise.resolve();
        attempts++;
        return Promise.reject(new HotswapError("E_SIGNATURE", "Cannot load: unknown key"));
      },
    });
    await follower.ready();
    await store.putArtifact(new Uint8Array([2]), { digest: B });
    const entry = await store.getChannel("app");
    await store.setChannel("app", { stable: B }, entry!.revision);
    await eventually(
      async () => (await store.listReports("app"))[0]?.state === "refused",
      "a refused report",
    );
    const [report] = await store.listReports("app");
    deepStrictEqual(report?.refused, { digest: B, code: "E_SIGNATURE", message: "Cannot load: unknown key" });
    strictEqual(report?.digest, A);
    strictEqual(follower.digest, A);
    // Several ticks later it has not tried again.
    await new Promise((resolve) => setTimeout(resolve, 100));
    strictEqual(attempts, 1);
  });
});

Deno.test("Follower.ready() rejects E_CLOSED when closed before anything served, and the report is removed", async () => {
  await withStore(async (store) => {
    const follower = Follower.start({ store, channel: "app", host: "h1", load: () => Promise.resolve() });
    await follower[Symbol.asyncDispose]();
    await rejects(follower.ready(), (error: HotswapError) => error.code === "E_CLOSED");
    deepStrictEqual(await store.listReports("app"), []);
    await follower[Symbol.asyncDispose]();
  });
});

Deno.test("Follower.start() refuses a malformed host name or report interval", async () => {
  await withStore((store) => {
    const load = () => Promise.resolve();
    throws(() => Follower.start({ store, channel: "app", host: "bad host", load }), TypeError);
    throws(() => Follower.start({ store, channel: "app", host: "h1", load, reportInterval: 0 }), RangeError);
    return Promise.resolve();
  });
});

Deno.test("Follower reports a channel naming no digest as refused, and keeps serving", async () => {
  await withStore(async (store) => {
    await publish(store, "app", new Uint8Array([1]), { digest: A });
    await using follower = Follower.start({
      store,
      channel: "app",
      host: "h1",
      reportInterval: 20,
      load: () => Promise.resolve(),
    });
    await follower.ready();
    const entry = await store.getChannel("app");
    await store.setChannel("app", { stable: "not-a-digest" }, entry!.revision);
    await eventually(
      async () => (await store.listReports("app"))[0]?.state === "refused",
      "a refused report",
    );
    const [report] = await store.listReports("app");
    strictEqual(report?.refused?.code, "E_NOT_FOUND");
    strictEqual(report?.digest, A);
  });
});

Deno.test("Follower loads an artifact published again under the same digest, not the bytes it kept of it", async () => {
  await withStore(async (store) => {
    await publish(store, "app", new Uint8Array([1]), { digest: A });
    const loaded: number[] = [];
    await using follower = Follower.start({
      store,
      channel: "app",
      host: "h1",
      reportInterval: 20,
      load: (bytes) => {
        // The first bytes of B, loaded once, are refused later, as a replayed sequence would be.
        if (bytes[0] === 2 && loaded.length >= 3) {
          return Promise.reject(new HotswapError("E_SIGNATURE", "Cannot load: replayed sequence"));
        }
        loaded.push(bytes[0]!);
        return Promise.resolve();
      },
    });
    await follower.ready();
    const want = async (digest: string) => {
      const entry = await store.getChannel("app");
      await store.setChannel("app", { stable: digest }, entry!.revision);
      await eventually(() => follower.digest === digest, `serving ${digest}`);
    };
    await store.putArtifact(new Uint8Array([2]), { digest: B });
    await want(B);
    await want(A);
    // The same files signed anew: the store now holds other bytes under B.
    await store.putArtifact(new Uint8Array([3]), { digest: B });
    await want(B);
    deepStrictEqual(loaded, [1, 2, 1, 3]);
    strictEqual((await store.listReports("app"))[0]?.refused, undefined);
  });
});

Deno.test("Follower takes a load that failed as a new rollout of the same digest began for no verdict on it, and loads again", async () => {
  await withStore(async (store) => {
    await publish(store, "app", new Uint8Array([1]), { digest: A });
    const started = Promise.withResolvers<void>();
    const fail = Promise.withResolvers<void>();
    const loaded: number[] = [];
    await using follower = Follower.start({
      store,
      channel: "app",
      host: "h1",
      reportInterval: 20,
      load: async (bytes) => {
        if (bytes[0] === 2) {
          started.resolve();
          await fail.promise;
          throw new HotswapError("E_SIGNATURE", "Cannot load: unknown key");
        }
        loaded.push(bytes[0]!);
      },
    });
    await follower.ready();
    const rolloutTo = (id: string) => ({
      id,
      to: B,
      from: A,
      steps: [100],
      step: 0,
      percent: 100,
      status: "running" as const,
      bakeMs: 0,
      maxErrorRate: 0.01,
      progressDeadlineMs: 60_000,
      startedAt: Date.now(),
      stepStartedAt: Date.now(),
    });
    await store.putArtifact(new Uint8Array([2]), { digest: B });
    let entry = await store.getChannel("app");
    await store.setChannel("app", { stable: A, rollout: rolloutTo("r1") }, entry!.revision);
    await started.promise;
    // While that load runs: the same files published again, signed anew, and rolled out again.
    await store.putArtifact(new Uint8Array([3]), { digest: B });
    entry = await store.getChannel("app");
    await store.setChannel("app", { stable: A, rollout: rolloutTo("r2") }, entry!.revision);
    fail.resolve();
    await eventually(() => follower.digest === B, "serving B");
    deepStrictEqual(loaded, [1, 3]);
    strictEqual((await store.listReports("app"))[0]?.refused, undefined);
  });
});
