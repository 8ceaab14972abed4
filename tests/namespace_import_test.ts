/**
 * `importNamespace()` (core/_namespace_import.ts): an entry that may export
 * `then` is imported through a wrapper module, so its namespace comes back
 * untouched instead of being adopted as a thenable; any other entry is
 * imported directly. Entries are real `blob:` modules.
 *
 * @module
 */

import { deepStrictEqual, ok, rejects, strictEqual } from "node:assert/strict";
import { importNamespace } from "../core/_namespace_import.ts";

/** Mints `source` as a JavaScript module, runs `body` with its URL, then revokes it. */
async function withModule(source: string, body: (url: string) => Promise<void>): Promise<void> {
  const url = URL.createObjectURL(new Blob([source], { type: "text/javascript" }));
  try {
    await body(url);
  } finally {
    URL.revokeObjectURL(url);
  }
}

/** Records the URLs created and revoked while `body` runs. */
async function watchObjectUrls(body: () => Promise<void>): Promise<{ created: string[]; revoked: string[] }> {
  const created: string[] = [];
  const revoked: string[] = [];
  const { createObjectURL, revokeObjectURL } = URL;
  URL.createObjectURL = (blob: Blob) => {
    const url = createObjectURL(blob);
    created.push(url);
    return url;
  };
  URL.revokeObjectURL = (url: string) => {
    revoked.push(url);
    revokeObjectURL(url);
  };
  try {
    await body();
  } finally {
    URL.createObjectURL = createObjectURL;
    URL.revokeObjectURL = revokeObjectURL;
  }
  return { created, revoked };
}

const THENABLE = `export let calls = 0;
export function then(resolve) { calls++; resolve("adopted"); }
export const value = 1;
`;

Deno.test("importNamespace() with thenable true hands over a namespace exporting then, never calling it", async () => {
  await withModule(THENABLE, async (url) => {
    const { namespace } = await importNamespace(url, true);
    deepStrictEqual(Object.keys(namespace), ["calls", "then", "value"]);
    strictEqual(typeof namespace.then, "function");
    strictEqual(namespace.value, 1);
    strictEqual(namespace.calls, 0, "then was never called");
  });
});

Deno.test("importNamespace() with thenable false imports directly: a then export would be adopted", async () => {
  // This is what the wrapper prevents, and shows that no wrapper was used.
  await withModule(THENABLE, async (url) => {
    deepStrictEqual(await importNamespace(url, false), { namespace: "adopted" });
  });
});

Deno.test("importNamespace() with thenable false returns a plain namespace, minting no module of its own", async () => {
  await withModule("export const value = 2;\nexport default 3;\n", async (url) => {
    let namespace: Record<string, unknown> | undefined;
    const urls = await watchObjectUrls(async () => {
      ({ namespace } = await importNamespace(url, false));
    });
    deepStrictEqual(urls, { created: [], revoked: [] });
    deepStrictEqual({ ...namespace }, { default: 3, value: 2 });
    strictEqual(namespace, await import(url), "the module's own namespace");
  });
});

Deno.test("importNamespace() with thenable true returns the module's own namespace and revokes its wrapper", async () => {
  await withModule("export const value = 4;\n", async (url) => {
    let namespace: Record<string, unknown> | undefined;
    const urls = await watchObjectUrls(async () => {
      ({ namespace } = await importNamespace(url, true));
    });
    strictEqual(urls.created.length, 1, "one wrapper module");
    deepStrictEqual(urls.revoked, urls.created);
    strictEqual(namespace, await import(url), "the same instance, not a copy");
  });
});

Deno.test("importNamespace() rejects with the entry's error, and still revokes its wrapper", async () => {
  await withModule('throw new RangeError("top-level failure");\n', async (url) => {
    for (const thenable of [true, false]) {
      const urls = await watchObjectUrls(async () => {
        await rejects(importNamespace(url, thenable), (error) => {
          ok(error instanceof RangeError);
          strictEqual(error.message, "top-level failure");
          return true;
        });
      });
      deepStrictEqual(urls.revoked, urls.created, `thenable ${thenable}`);
    }
  });
});
