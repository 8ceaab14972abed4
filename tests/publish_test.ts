/** publish() and resolveArtifact(), on the embedded store. */

import { rejects, strictEqual } from "node:assert/strict";
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

Deno.test("resolveArtifact() finds by digest, else the latest with the label, else E_NOT_FOUND", async () => {
  await withStore(async (store) => {
    await publish(store, "app", new Uint8Array([1]), { digest: A, label: "v1" });
    await publish(store, "app", new Uint8Array([2]), { digest: B, label: "v1" });
    strictEqual((await resolveArtifact(store, A)).digest, A);
    strictEqual((await resolveArtifact(store, "v1")).digest, B);
    await rejects(resolveArtifact(store, "v9"), { code: "E_NOT_FOUND" });
  });
});
