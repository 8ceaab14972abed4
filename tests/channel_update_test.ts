/** updateChannel() and writeChannel(): compare-and-set writes of a channel, on the embedded store. */

import { rejects, strictEqual } from "node:assert/strict";
import { updateChannel, writeChannel } from "../core/fleet/_channel_update.ts";
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
