/**
 * Computed `import(…)` in inline and process generations. Their modules run
 * from minted `blob:` URLs, which are no base for a relative specifier:
 * `import("./" + name + ".ts")` failed with Deno's "relative URL with a
 * cannot-be-a-base base", naming no file and no fix. Minted with this guard
 * (see `mintModules`), such a call is refused with what to do instead, and
 * any other specifier is imported as before. A worker's guard
 * (`_worker_lockdown.ts`) refuses more, since a worker is a boundary.
 *
 * Imports nothing host-only.
 *
 * @module
 */

/** The global function computed `import(…)` calls of inline and process generations are minted to call. */
export const COMPUTED_IMPORT = "__hotswapComputedImport";

/** `./x`, `../x` or `/x`: what needs the importing module's URL as a base. */
const RELATIVE = /^\s*\.{0,2}\//;

/**
 * Defines {@linkcode COMPUTED_IMPORT} on this realm's global object, once
 * (a second copy of the runtime finds it defined, and the same).
 */
export function defineComputedImport(): void {
  if (Object.hasOwn(globalThis, COMPUTED_IMPORT)) return;
  Object.defineProperty(globalThis, COMPUTED_IMPORT, {
    value: (specifier: unknown, options?: ImportCallOptions): Promise<unknown> => {
      const text = String(specifier);
      if (RELATIVE.test(text)) {
        return Promise.reject(
          new TypeError(
            `Cannot import ${
              JSON.stringify(text).slice(0, 200)
            }: a generation's modules run from its in-memory snapshot, which is no base for a relative specifier computed at run time; import the file by a literal specifier (import("./x.ts")), so that it is read, hashed and loaded with the rest`,
          ),
        );
      }
      return import(text, options);
    },
    writable: false,
    enumerable: false,
    configurable: false,
  });
}
