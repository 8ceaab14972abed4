/** publish() and resolveArtifact(), on the embedded store. */

import { deepStrictEqual, match, rejects, strictEqual } from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import type { HotswapError } from "../core/errors.ts";
import { publish, resolveArtifact } from "../core/fleet/publish.ts";
import { openStore, type Store } from "../core/store/store.ts";

const A = `sha256-${"A".repeat(43)}=`;
const B = `sha256-${"B".repeat(43)}=`;

async function withStore(fn: (store: Store) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "hotswap_publish_" });
  try {
    await using store = await openStore(`sqlite:${dir}/fleet.db`);
    await fn(store);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("publish() makes a channel's first artifact stable and only stores the next", async () => {
  await withStore(async (store) => {
    strictEqual((await publish(store, "app", new Uint8Array([1]), { digest: A })).madeStable, true);
    const second = await publish(store, "app", new Uint8Array([2]), { digest: B, label: "v2" });
    strictEqual(second.madeStable, false);
    strictEqual(second.artifact.label, "v2");
    strictEqual((await store.getChannel("app"))?.state.stable, A);
  });
});

Deno.test("publish() refuses a malformed channel name before storing anything", async () => {
  await withStore(async (store) => {
    await rejects(publish(store, "bad name", new Uint8Array([1]), { digest: A }), TypeError);
    strictEqual((await store.listArtifacts()).length, 0);
  });
});

Deno.test("resolveArtifact() finds by digest, else by a label one artifact carries, else E_NOT_FOUND", async () => {
  await withStore(async (store) => {
    await publish(store, "app", new Uint8Array([1]), { digest: A, label: "v1" });
    strictEqual((await resolveArtifact(store, "v1")).digest, A);
    // The same label on other code: the store's order must not pick what rolls out.
    await publish(store, "app", new Uint8Array([2]), { digest: B, label: "v1" });
    strictEqual((await resolveArtifact(store, A)).digest, A);
    await rejects(resolveArtifact(store, "v1"), (error: HotswapError) => {
      strictEqual(error.code, "E_NOT_FOUND");
      strictEqual(
        error.message,
        `Cannot tell which artifact "v1" is in store "${store.url}": 2 artifacts carry that label (${B}, ${A}, the latest first); name it by its digest`,
      );
      return true;
    });
    await rejects(resolveArtifact(store, "v9"), { code: "E_NOT_FOUND" });
  });
});

Deno.test("publish() stores nothing on a channel whose state cannot be read, and says how to reset it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hotswap_publish_" });
  try {
    await using store = await openStore(`sqlite:${dir}/fleet.db`);
    await publish(store, "app", new Uint8Array([1]), { digest: A, label: "v1" });
    // Garbage, as a broken tool would write it: straight into the database.
    const db = new DatabaseSync(`${dir}/fleet.db`);
    db.prepare("UPDATE channels SET state = ?, revision = revision + 1 WHERE name = ?").run(
      "{garbage",
      "app",
    );
    db.close();
    await rejects(
      publish(store, "app", new Uint8Array([2]), { digest: B, label: "v2" }),
      (error: HotswapError) => {
        strictEqual(error.code, "E_STORE");
        match(
          error.message,
          /^Cannot publish sha256-B+= to channel "app" in store "sqlite:.*": the channel's state \(revision 2\) is malformed \(.*JSON.*\), so nothing was stored; reset the channel .* with hotswap abort app --store sqlite:\S+ --stable <digest\|label>/,
        );
        return true;
      },
    );
    deepStrictEqual((await store.listArtifacts()).map((artifact) => artifact.digest), [A]);
    strictEqual(await store.getArtifact(B), undefined);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a channel whose revision was edited by hand is E_STORE, saying how to set it right", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hotswap_publish_" });
  try {
    await using store = await openStore(`sqlite:${dir}/fleet.db`);
    await publish(store, "app", new Uint8Array([1]), { digest: A, label: "v1" });
    for (const revision of ["abc", 1e300, -5, 0]) {
      const db = new DatabaseSync(`${dir}/fleet.db`);
      db.prepare("UPDATE channels SET revision = ? WHERE name = ?").run(revision, "app");
      db.close();
      // Before: "revision NaN", a false "changed 50 times in a row", or a change no host saw.
      await rejects(store.getChannel("app"), (error: HotswapError) => {
        strictEqual(error.code, "E_STORE");
        match(
          error.message,
          /its revision \(.*\) is not a whole number from 1, .*UPDATE channels SET revision = 1 WHERE name = 'app'/,
        );
        return true;
      });
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a report filed under another host's id by a hand edit is not counted twice", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hotswap_publish_" });
  try {
    await using store = await openStore(`sqlite:${dir}/fleet.db`);
    const report = {
      host: "web-1",
      generation: 1,
      digest: A,
      desired: A,
      state: "serving" as const,
      calls: 10,
      errors: 0,
      p50: 1,
      p99: 2,
      at: Date.now(),
      interval: 1_000,
    };
    await store.putReport("app", report);
    const db = new DatabaseSync(`${dir}/fleet.db`);
    db.prepare("INSERT INTO reports (channel, host, report) VALUES (?, ?, ?)").run(
      "app",
      "evil",
      JSON.stringify(report),
    );
    db.close();
    deepStrictEqual((await store.listReports("app")).map((listed) => listed.host), ["web-1"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
