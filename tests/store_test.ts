/**
 * One contract suite, run against both store adapters: artifacts by digest,
 * compare-and-set on channels (a real race), reports, and watches that
 * catch up instead of relying on every notification.
 */

import { deepStrictEqual, ok, rejects, strictEqual } from "node:assert/strict";
import { type ChannelEntry, type ChannelState, openStore, type Store } from "../core/store/store.ts";
import type { HostReport } from "../core/store/store.ts";
import { natsMissing, NatsServer, natsTest } from "./_nats.ts";

const DIGEST_A = `sha256-${"A".repeat(43)}=`;
const DIGEST_B = `sha256-${"B".repeat(43)}=`;

/** A place for stores: `open()` gives a new connection to the same store. */
interface Backend extends AsyncDisposable {
  open(): Promise<Store>;
  /** NATS only: stop and start the server. */
  restart?(): Promise<void>;
}

async function sqliteBackend(): Promise<Backend> {
  const dir = await Deno.makeTempDir({ prefix: "hotswap_store_" });
  return {
    open: () => openStore(`sqlite:${dir}/fleet.db`),
    [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }),
  };
}

async function natsBackend(): Promise<Backend> {
  const server = await NatsServer.start();
  return {
    open: () => openStore(server.url),
    restart: async () => {
      await server.stop();
      await server.restart();
    },
    [Symbol.asyncDispose]: () => server[Symbol.asyncDispose](),
  };
}

function report(host: string, at: number): HostReport {
  return {
    host,
    generation: 1,
    digest: DIGEST_A,
    desired: DIGEST_A,
    state: "serving",
    calls: 10,
    errors: 1,
    p50: 0.5,
    p99: 2,
    at,
    interval: 1000,
  };
}

/** The next value of a watch, or a failure after `ms`. */
async function next(
  watch: AsyncIterator<ChannelEntry | undefined>,
  ms = 5_000,
): Promise<ChannelEntry | undefined> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no watch event within ${ms} ms`)), ms);
  });
  try {
    const result = await Promise.race([watch.next(), timeout]);
    if (result.done) throw new Error("the watch ended");
    return result.value;
  } finally {
    clearTimeout(timer);
  }
}

/** Writes `state` on `channel` over whatever is there, retrying a lost compare-and-set. */
async function force(store: Store, channel: string, state: ChannelState): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const current = await store.getChannel(channel);
    const revision = await store.setChannel(channel, state, current?.revision ?? 0);
    if (revision !== undefined) return revision;
  }
  throw new Error("could not write the channel in 100 attempts");
}

/** `promise`, or a failure naming `what` after `ms`. */
async function bounded<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

function contract(name: string, backend: () => Promise<Backend>, test: typeof natsTest, missing?: string) {
  test(
    `${name}: artifacts are stored by digest and listed with their label; the same digest again replaces it`,
    async () => {
      await using place = await backend();
      await using store = await place.open();
      strictEqual(await store.getArtifact(DIGEST_A), undefined);
      const info = await store.putArtifact(new Uint8Array([1, 2, 3]), { digest: DIGEST_A, label: "v1" });
      strictEqual(info.digest, DIGEST_A);
      strictEqual(info.label, "v1");
      strictEqual(info.size, 3);
      // The same files published again (signed anew, say, after a refusal) replace the artifact:
      // otherwise the store would go on serving the envelope the hosts refused.
      const again = await store.putArtifact(new Uint8Array([9]), { digest: DIGEST_A, label: "other" });
      strictEqual(again.label, "other");
      deepStrictEqual(await store.getArtifact(DIGEST_A), new Uint8Array([9]));
      await store.putArtifact(new Uint8Array([1, 2, 3]), { digest: DIGEST_A, label: "v1" });
      deepStrictEqual(await store.getArtifact(DIGEST_A), new Uint8Array([1, 2, 3]));
      await store.putArtifact(new Uint8Array(256 * 1024).fill(7), { digest: DIGEST_B });
      await using other = await place.open();
      deepStrictEqual((await other.listArtifacts()).map((a) => [a.digest, a.label]), [
        [DIGEST_A, "v1"],
        [DIGEST_B, undefined],
      ]);
      strictEqual((await other.getArtifact(DIGEST_B))?.byteLength, 256 * 1024);
      await rejects(store.putArtifact(new Uint8Array(), { digest: "md5-x" }), TypeError);
    },
    missing,
  );

  test(`${name}: setChannel() is a compare-and-set on the revision`, async () => {
    await using place = await backend();
    await using store = await place.open();
    strictEqual(await store.getChannel("app/prod"), undefined);
    const first = await store.setChannel("app/prod", { stable: DIGEST_A }, 0);
    ok(first !== undefined && first > 0);
    strictEqual(await store.setChannel("app/prod", { stable: DIGEST_B }, 0), undefined, "created twice");
    const second = await store.setChannel("app/prod", { stable: DIGEST_B }, first);
    ok(second !== undefined && second > first);
    strictEqual(await store.setChannel("app/prod", { stable: DIGEST_A }, first), undefined, "stale revision");
    deepStrictEqual(await store.getChannel("app/prod"), { state: { stable: DIGEST_B }, revision: second });
    await rejects(store.setChannel("bad name!", {}, 0), TypeError);
  }, missing);

  test(
    `${name}: of writers racing from one revision exactly one wins, and none is lost on retry`,
    async () => {
      await using place = await backend();
      const stores = await Promise.all([place.open(), place.open(), place.open()]);
      try {
        const start = await stores[0]!.setChannel("race", { stable: DIGEST_A }, 0);
        const results = await Promise.all(
          stores.map((store, i) => store.setChannel("race", { stable: i % 2 ? DIGEST_A : DIGEST_B }, start!)),
        );
        strictEqual(results.filter((revision) => revision !== undefined).length, 1);
        // Read-modify-write with retry: 3 writers × 5 increments end at 15.
        const bump = async (store: Store) => {
          for (let done = 0, attempts = 0; done < 5 && attempts < 500; attempts++) {
            const entry = await store.getChannel("count");
            const n = entry?.state.stable === undefined ? 0 : Number(entry.state.stable.slice(7, 9));
            const state = { stable: `sha256-${String(n + 1).padStart(2, "0")}${"C".repeat(41)}=` };
            if (await store.setChannel("count", state, entry?.revision ?? 0) !== undefined) done++;
          }
        };
        await Promise.all(stores.map(bump));
        strictEqual((await stores[0]!.getChannel("count"))?.state.stable?.slice(7, 9), "15");
      } finally {
        for (const store of stores) await store[Symbol.asyncDispose]();
      }
    },
    missing,
  );

  test(`${name}: reports are kept per host and channel, listed, and removed`, async () => {
    await using place = await backend();
    await using store = await place.open();
    const now = Date.now();
    await store.putReport("app/prod", report("h1", now));
    await store.putReport("app/prod", report("h2", now));
    await store.putReport("app/prod", { ...report("h1", now + 1), calls: 20 });
    await store.putReport("app/dev", report("h3", now));
    await using other = await place.open();
    const reports = await other.listReports("app/prod");
    deepStrictEqual(reports.map((r) => [r.host, r.calls]), [["h1", 20], ["h2", 10]]);
    deepStrictEqual(reports[0], { ...report("h1", now + 1), calls: 20 });
    await store.deleteReport("app/prod", "h1");
    deepStrictEqual((await other.listReports("app/prod")).map((r) => r.host), ["h2"]);
    deepStrictEqual((await other.listReports("app")).map((r) => r.host), []);
  }, missing);

  test(`${name}: watch() yields the current state, then each change another connection makes`, async () => {
    await using place = await backend();
    await using writer = await place.open();
    await using reader = await place.open();
    const controller = new AbortController();
    const watch = reader.watch("app/prod", { signal: controller.signal });
    try {
      strictEqual(await next(watch), undefined, "a channel never written");
      const r1 = await writer.setChannel("app/prod", { stable: DIGEST_A }, 0);
      deepStrictEqual(await next(watch), { state: { stable: DIGEST_A }, revision: r1 });
      // Other channels and reports do not wake it with a false change.
      await writer.setChannel("app/dev", { stable: DIGEST_B }, 0);
      await writer.putReport("app/prod", report("h1", Date.now()));
      const r2 = await writer.setChannel("app/prod", { stable: DIGEST_B }, r1!);
      deepStrictEqual(await next(watch), { state: { stable: DIGEST_B }, revision: r2 });
    } finally {
      controller.abort();
      strictEqual((await watch.next()).done, true, "an aborted watch ends");
    }
  }, missing);

  test(`${name}: a watcher that was away reads the latest state, not every change`, async () => {
    await using place = await backend();
    await using writer = await place.open();
    const r1 = await writer.setChannel("app/prod", { stable: DIGEST_A }, 0);
    {
      await using reader = await place.open();
      const watch = reader.watch("app/prod");
      deepStrictEqual(await next(watch), { state: { stable: DIGEST_A }, revision: r1 });
      // Two changes while the reader does not iterate: it sees the latest only.
      const r2 = await writer.setChannel("app/prod", { stable: DIGEST_B }, r1!);
      const r3 = await writer.setChannel("app/prod", { stable: DIGEST_A }, r2!);
      deepStrictEqual(await next(watch), { state: { stable: DIGEST_A }, revision: r3 });
      await watch.return?.();
    }
    // A host that restarts: a new connection, changes made while it was gone.
    await force(writer, "app/prod", { stable: DIGEST_B });
    await using back = await place.open();
    const watch = back.watch("app/prod");
    deepStrictEqual((await next(watch))?.state, { stable: DIGEST_B });
    await watch.return?.();
  }, missing);

  test(`${name}: disposing the store ends its watches and refuses later calls`, async () => {
    await using place = await backend();
    const store = await place.open();
    const watch = store.watch("app/prod");
    strictEqual(await next(watch), undefined);
    const pending = watch.next();
    await store[Symbol.asyncDispose]();
    strictEqual((await pending).done, true);
    await store[Symbol.asyncDispose]();
    await rejects(
      store.getChannel("app/prod"),
      (error: Error & { code?: string }) => error.code === "E_CLOSED",
    );
  }, missing);

  test(`${name}: reports are listed while their hosts keep rewriting them`, async () => {
    await using place = await backend();
    await using reader = await place.open();
    await using writer = await place.open();
    const hosts = ["web-1", "web-2", "web-3"];
    for (const host of hosts) await writer.putReport("app/prod", report(host, 0));
    // Hosts report every few hundred ms; here without a pause, so that every listing overlaps writes.
    let writing = true;
    const rewrites = (async () => {
      for (let at = 1; writing; at++) {
        await writer.putReport("app/prod", report(hosts[at % hosts.length]!, at));
      }
    })();
    try {
      for (let i = 0; i < 100; i++) {
        const listed = await bounded(reader.listReports("app/prod"), 3_000, `listing ${i + 1}`);
        deepStrictEqual(listed.map((entry) => entry.host), hosts);
      }
    } finally {
      writing = false;
      await rewrites;
    }
  }, missing);
}

contract("sqlite", sqliteBackend, (name, fn) => Deno.test(name, fn));

const missing = await natsMissing();
contract("nats", natsBackend, natsTest, missing);

natsTest("nats: a watch survives a server restart and catches up on what changed meanwhile", async () => {
  await using place = await natsBackend();
  await using reader = await place.open();
  const watch = reader.watch("app/prod");
  strictEqual(await next(watch), undefined);
  await place.restart!();
  // A change made by a new client right after the restart, maybe before the
  // reader is back: the reader must read it once it reconnects.
  await using writer = await place.open();
  const revision = await writer.setChannel("app/prod", { stable: DIGEST_A }, 0);
  deepStrictEqual(await next(watch, 10_000), { state: { stable: DIGEST_A }, revision });
  await watch.return?.();
}, missing);

natsTest(
  "nats: a store whose server is down fails with E_STORE, and works again once it is back",
  async () => {
    await using server = await NatsServer.start();
    await using store = await openStore(server.url);
    await store.setChannel("app/prod", { stable: DIGEST_A }, 0);
    await server.stop();
    await rejects(
      store.getChannel("app/prod"),
      (error: Error & { code?: string }) => error.code === "E_STORE",
    );
    await server.restart();
    for (let attempt = 0;; attempt++) {
      try {
        deepStrictEqual((await store.getChannel("app/prod"))?.state, { stable: DIGEST_A });
        break;
      } catch (error) {
        if (attempt > 50) {
          throw error;
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  },
  missing,
);

Deno.test("openStore() refuses a URL of no known kind", async () => {
  await rejects(openStore("redis://127.0.0.1"), TypeError);
  await rejects(openStore("sqlite:"), TypeError);
});

Deno.test("openStore() of a SQLite file in a directory that does not exist says to create it", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await rejects(
      openStore(`sqlite:${dir}/nodir/fleet.db`),
      new RegExp(
        `unable to open database file.*its directory "${dir}/nodir" does not exist: create it \\(mkdir -p`,
      ),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("openStore() refuses a NATS connectTimeout a timer cannot wait, before connecting", async () => {
  await rejects(openStore("nats://127.0.0.1:1", { connectTimeout: 0 }), /connectTimeout must be above 0 ms/);
  await rejects(
    // @ts-expect-error: a string is not a number of milliseconds
    openStore("nats://127.0.0.1:1", { connectTimeout: "5000" }),
    /connectTimeout must be a number of milliseconds, got the string "5000"/,
  );
  await rejects(
    openStore("nats://127.0.0.1:1", { connectTimeout: 2 ** 31 }),
    /Cannot open store "nats:\/\/127.0.0.1:1": connectTimeout must be at most 2147483647 ms/,
  );
});

Deno.test("openStore() of a NATS server that is not there says how to start one", async () => {
  // Port 1 on loopback: nothing listens there, so the connection is refused at once.
  await rejects(
    openStore("nats://127.0.0.1:1", { connectTimeout: 2_000 }),
    (error: Error & { code?: string }) => {
      strictEqual(error.code, "E_STORE");
      ok(
        error.message.startsWith('Cannot connect in store "nats://127.0.0.1:1": ') &&
          error.message.endsWith(
            "; start nats-server with JetStream there (nats-server -js -a 127.0.0.1 -p 1), or fix the URL",
          ),
        error.message,
      );
      return true;
    },
  );
});

Deno.test("sqlite: a host's report gives up soon while another process holds the write lock, as others wait for it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hotswap_store_lock_" });
  try {
    await using store = await openStore(`sqlite:${dir}/fleet.db`);
    // Another process takes the write lock and holds it for a second.
    const holder = new Deno.Command(Deno.execPath(), {
      args: [
        "eval",
        `import { DatabaseSync } from "node:sqlite";
const db = new DatabaseSync(${JSON.stringify(`${dir}/fleet.db`)});
db.exec("BEGIN EXCLUSIVE");
console.log("locked");
setTimeout(() => { db.exec("ROLLBACK"); db.close(); }, 1_000);`,
      ],
      stdout: "piped",
    }).spawn();
    const reader = holder.stdout.getReader();
    strictEqual(new TextDecoder().decode((await reader.read()).value).trim(), "locked");
    reader.releaseLock();
    // The report runs on a host's serving thread: it must not wait the lock out.
    await rejects(
      store.putReport("app/prod", report("web-1", Date.now())),
      (error: Error & { code?: string }) => error.code === "E_STORE" && /locked/.test(error.message),
    );
    // The channel's writer does wait it out.
    strictEqual(await store.setChannel("app/prod", { stable: DIGEST_A }, 0), 1);
    await holder.output();
    await store.putReport("app/prod", report("web-1", Date.now()));
    strictEqual((await store.listReports("app/prod")).length, 1);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
