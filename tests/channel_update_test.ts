/**
 * updateChannel() and writeChannel(): compare-and-set writes of a channel, on
 * the embedded store; readChannel() and resetUnreadable(): a malformed state
 * seen, and reset.
 */

import { deepStrictEqual, match, ok, rejects, strictEqual } from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { readChannel, resetUnreadable, updateChannel, writeChannel } from "../core/fleet/_channel_update.ts";
import type { HotswapError } from "../core/errors.ts";
import { openStore, type Store } from "../core/store/store.ts";

const A = `sha256-${"A".repeat(43)}=`;
const B = `sha256-${"B".repeat(43)}=`;

async function withStore(fn: (store: Store) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "hotswap_channel_update_" });
  try {
    await using store = await openStore(`sqlite:${dir}/fleet.db`);
    await fn(store);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("updateChannel() writes what the change makes of the entry read, or nothing", async () => {
  await withStore(async (store) => {
    const written = await updateChannel(
      store,
      "app",
      (entry) => entry === undefined ? { stable: A } : undefined,
    );
    strictEqual(written?.state.stable, A);
    strictEqual(
      await updateChannel(store, "app", (entry) => entry === undefined ? { stable: B } : undefined),
      undefined,
    );
    strictEqual((await store.getChannel("app"))?.state.stable, A);
  });
});

Deno.test("updateChannel() reads again and changes again when another writer came first", async () => {
  await withStore(async (store) => {
    await store.setChannel("app", { stable: A }, 0);
    let calls = 0;
    const written = await updateChannel(store, "app", async (entry) => {
      calls++;
      // The first time, another writer changes the channel between the read and the write.
      if (calls === 1) await store.setChannel("app", { stable: B }, entry!.revision);
      return { stable: entry!.state.stable! };
    });
    strictEqual(calls, 2);
    strictEqual(written?.state.stable, B);
  });
});

Deno.test("updateChannel() gives up with E_STORE when another writer wins every time", async () => {
  await withStore(async (store) => {
    await store.setChannel("app", { stable: A }, 0);
    await rejects(
      updateChannel(store, "app", async (entry) => {
        await store.setChannel("app", entry!.state, entry!.revision);
        return entry!.state;
      }),
      { code: "E_STORE" },
    );
  });
});

Deno.test("writeChannel() writes once, only over the revision read", async () => {
  await withStore(async (store) => {
    await store.setChannel("app", { stable: A }, 0);
    const entry = (await store.getChannel("app"))!;
    const written = await writeChannel(store, "app", entry, { stable: B });
    strictEqual(written?.state.stable, B);
    strictEqual(await writeChannel(store, "app", entry, { stable: A }), undefined);
  });
});

/** Writes `text` as the channel's state, as a broken tool would: straight into the database, revision + 1. */
function forgeState(file: string, channel: string, text: string): number {
  const db = new DatabaseSync(file);
  try {
    db.exec("PRAGMA busy_timeout = 5000");
    const row = db.prepare(
      "UPDATE channels SET state = ?, revision = revision + 1 WHERE name = ? RETURNING revision",
    ).get(text, channel);
    return Number(row?.revision);
  } finally {
    db.close();
  }
}

async function withStoreFile(fn: (store: Store, file: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "hotswap_channel_update_" });
  try {
    await using store = await openStore(`sqlite:${dir}/fleet.db`);
    await fn(store, `${dir}/fleet.db`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("readChannel() answers a malformed state with its revision and reason instead of failing", async () => {
  await withStoreFile(async (store, file) => {
    deepStrictEqual(await readChannel(store, "app"), { entry: undefined, unreadable: undefined });
    await store.setChannel("app", { stable: A }, 0);
    strictEqual((await readChannel(store, "app")).entry?.state.stable, A);
    const revision = forgeState(file, "app", "{garbage");
    // Every other reader still fails, saying how to reset it.
    await rejects(store.getChannel("app"), (error: HotswapError) => {
      strictEqual(error.code, "E_STORE");
      match(
        error.message,
        /Cannot read channel "app" .*malformed .*hotswap abort app --store sqlite:.* --stable/,
      );
      return true;
    });
    const { entry, unreadable } = await readChannel(store, "app");
    strictEqual(entry, undefined);
    strictEqual(unreadable?.revision, revision);
    match(unreadable?.reason ?? "", /JSON/);
  });
});

Deno.test("resetUnreadable() writes { stable } over a malformed state, and leaves a readable one alone", async () => {
  await withStoreFile(async (store, file) => {
    strictEqual((await resetUnreadable(store, "app", A)).reset, false);
    strictEqual(await store.getChannel("app"), undefined);
    await store.setChannel("app", { stable: A }, 0);
    const readable = await resetUnreadable(store, "app", B);
    strictEqual(readable.reset, false);
    strictEqual(readable.entry?.state.stable, A);
    // Well-formed JSON of the wrong shape is malformed too.
    const revision = forgeState(file, "app", `{"stable":42}`);
    const outcome = await resetUnreadable(store, "app", B);
    ok(outcome.reset);
    strictEqual(outcome.from, revision);
    strictEqual(outcome.entry.revision, revision + 1);
    deepStrictEqual(await store.getChannel("app"), { state: { stable: B }, revision: revision + 1 });
  });
});

Deno.test("resetUnreadable() writes only over the revision it read: a malformed state written meanwhile is read again, a repaired one kept", async () => {
  await withStoreFile(async (store, file) => {
    await store.setChannel("app", { stable: A }, 0);
    forgeState(file, "app", "{garbage");
    // A store whose first write of the channel comes after another writer's.
    const racing = (meanwhile: string): Store => {
      let first = true;
      return {
        url: store.url,
        getChannel: (channel) => store.getChannel(channel),
        setChannel: (channel, state, revision) => {
          if (first) forgeState(file, channel, meanwhile);
          first = false;
          return store.setChannel(channel, state, revision);
        },
      } as Pick<Store, "url" | "getChannel" | "setChannel"> as Store;
    };
    const again = await resetUnreadable(racing("{more garbage"), "app", B);
    ok(again.reset);
    strictEqual(again.from, again.entry.revision - 1);
    strictEqual((await store.getChannel("app"))?.state.stable, B);
    forgeState(file, "app", "{garbage");
    const repaired = await resetUnreadable(racing(JSON.stringify({ stable: A })), "app", B);
    strictEqual(repaired.reset, false);
    strictEqual(repaired.entry?.state.stable, A);
    strictEqual((await store.getChannel("app"))?.state.stable, A);
  });
});
