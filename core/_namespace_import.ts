/**
 * Importing a generation's entry for its module namespace, in the host's
 * isolate, a worker or a generation's process alike (it imports nothing).
 *
 * `import()` adopts a namespace that exports `then` as a thenable: the import
 * hangs, or resolves to whatever `then` passes on. Such an entry is imported
 * through a module that re-exports its namespace as one binding, which hands
 * the namespace over untouched. Any other entry is imported directly: the
 * wrapper is one more module per swap, and Deno never frees a module (it cost
 * 1.3 to 2 ms of a 7 ms inline swap of the sample app, measured).
 *
 * @module
 */

/**
 * The namespace of the module at `url`, in a box: an async function would
 * adopt a thenable namespace it returned, as `import()` does.
 *
 * @param url The minted entry URL.
 * @param thenable Whether the entry may export `then` (`MintedSnapshot.thenable`).
 */
export async function importNamespace(
  url: string,
  thenable: boolean,
): Promise<{ namespace: Record<string, unknown> }> {
  if (!thenable) return { namespace: await import(url) };
  const wrapper = URL.createObjectURL(
    new Blob([`import * as namespace from ${JSON.stringify(url)};\nexport { namespace };`], {
      type: "text/javascript",
    }),
  );
  try {
    return await import(wrapper);
  } finally {
    URL.revokeObjectURL(wrapper);
  }
}
