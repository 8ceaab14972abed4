/** ArtifactCache: a follower's artifacts, fetched once, the serving one never evicted. */

import { deepStrictEqual, rejects, strictEqual } from "node:assert/strict";
import { ArtifactCache } from "../core/fleet/_artifact_cache.ts";
import type { Store } from "../core/store/store.ts";

function digest(n: number): string {
  return `sha256-${String(n).padStart(43, "A")}=`;
}

/** A store that serves `artifacts` and counts the fetches; the rest of Store is never called. */
function storeOf(artifacts: Map<string, Uint8Array>, fetched: string[], fail = false): Store {
  return {
    getArtifact(digest: string) {
      fetched.push(digest);
      return fail ? Promise.reject(new Error("unreachable")) : Promise.resolve(artifacts.get(digest));
    },
  } as Partial<Store> as Store;
}

Deno.test("ArtifactCache fetches an artifact once", async () => {
  const fetched: string[] = [];
  const cache = new ArtifactCache(storeOf(new Map([[digest(1), new Uint8Array([1])]]), fetched), () => {});
  deepStrictEqual(await cache.get(digest(1), ""), new Uint8Array([1]));
  deepStrictEqual(await cache.get(digest(1), ""), new Uint8Array([1]));
  deepStrictEqual(fetched, [digest(1)]);
});

Deno.test("ArtifactCache keeps four artifacts, never evicting the one serving", async () => {
  const fetched: string[] = [];
  const artifacts = new Map(Array.from({ length: 6 }, (_, i) => [digest(i), new Uint8Array([i])]));
  const cache = new ArtifactCache(storeOf(artifacts, fetched), () => {});
  for (let i = 0; i < 6; i++) await cache.get(digest(i), digest(0));
  fetched.length = 0;
  await cache.get(digest(0), digest(0));
  await cache.get(digest(5), digest(0));
  deepStrictEqual(fetched, []);
  await cache.get(digest(1), digest(0));
  deepStrictEqual(fetched, [digest(1)]);
});

Deno.test("ArtifactCache tells onError of a failing store and returns undefined; a missing artifact throws", async () => {
  const errors: unknown[] = [];
  const failing = new ArtifactCache(storeOf(new Map(), [], true), (error) => void errors.push(error));
  strictEqual(await failing.get(digest(1), ""), undefined);
  strictEqual(errors.length, 1);
  const empty = new ArtifactCache(storeOf(new Map(), []), () => {});
  await rejects(empty.get(digest(1), ""), { code: "E_NOT_FOUND" });
});

Deno.test("ArtifactCache fetches a forgotten artifact again: it may have been published again", async () => {
  const fetched: string[] = [];
  const artifacts = new Map([[digest(1), new Uint8Array([1])]]);
  const cache = new ArtifactCache(storeOf(artifacts, fetched), () => {});
  deepStrictEqual(await cache.get(digest(1), ""), new Uint8Array([1]));
  artifacts.set(digest(1), new Uint8Array([2]));
  cache.forget(digest(1));
  deepStrictEqual(await cache.get(digest(1), ""), new Uint8Array([2]));
  deepStrictEqual(fetched, [digest(1), digest(1)]);
});
