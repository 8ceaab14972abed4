/**
 * Minting: a snapshot's modules turned into fresh `blob:` URLs, each local
 * import rewritten to the URL of the module it names, so what runs is exactly
 * the bytes that were hashed. Used by `Snapshot.mint()` in the host and by a
 * generation's process, which receives the modules over its channel and
 * mints them itself; so it imports nothing host-only (no parser, no files).
 *
 * @module
 */

import { pathToFileURL } from "node:url";
import type { MintedSnapshot } from "./snapshot.ts";
import { rewrite } from "./_source_map.ts";

/** What minting needs of one module: its text, type and local imports. */
export interface MintSource {
  /** Absolute path, named in stack frames and messages. */
  readonly path: string;
  /** The text that was hashed. */
  readonly source: string;
  /** Content type the blob is minted with, so Deno picks the right transpiler. */
  readonly mediaType: string;
  /**
   * Local imports, in source order; `module` indexes the modules given to
   * {@linkcode mintModules}, and is left out for an import the transpiler drops.
   */
  readonly imports: readonly {
    readonly start: number;
    readonly end: number;
    readonly quoted: boolean;
    readonly module?: number | undefined;
  }[];
  /** Where each `import(…)` with a computed specifier starts (its `import` keyword). */
  readonly computedImports?: readonly number[] | undefined;
  /** Whether its namespace may export `then`; unknown (left out) counts as yes. */
  readonly exportsThen?: boolean | undefined;
}

/**
 * Where an import the transpiler drops is sent. Deno resolves every import
 * not marked `type` when a module loads, even one it then drops (measured on
 * 2.9.6), and a relative specifier cannot resolve from a `blob:` URL; the
 * module is never evaluated, so nothing needs to be in it.
 */
const EMPTY_MODULE = "data:text/javascript,";

const HAS_SOURCE_MAP = /^[ \t]*\/\/[#@][ \t]*sourceMappingURL=/m;

/**
 * Mints fresh `blob:` URLs for `modules` (dependencies before dependents,
 * the entry last), so each call yields a module graph V8 has never
 * evaluated. A JavaScript module gets an inline source map naming its file;
 * TypeScript keeps Deno's own map, whose frames name the `blob:` URL that
 * `files` maps back.
 *
 * @param modules The snapshot's modules, in dependency order.
 * @param guard The name of a global function that every `import(…)` with a
 *   computed specifier calls instead: its \`import\` keyword becomes this name,
 *   and the call keeps its arguments. Left out, such imports stay as written.
 * @returns The entry's URL, the URL-to-file map, and a way to free the blobs.
 */
export function mintModules(modules: readonly MintSource[], guard?: string): MintedSnapshot {
  const urls: string[] = [];
  const files = new Map<string, string>();
  for (const module of modules) {
    const replacements = module.imports.map((local) => {
      const url = local.module === undefined ? EMPTY_MODULE : urls[local.module]!;
      return { start: local.start, end: local.end, text: local.quoted ? JSON.stringify(url) : url };
    });
    if (guard !== undefined && module.computedImports !== undefined && module.computedImports.length > 0) {
      for (const start of module.computedImports) {
        replacements.push({ start, end: start + "import".length, text: guard });
      }
      replacements.sort((a, b) => a.start - b.start);
    }
    // Only JavaScript: Deno would apply the map to its transpiled output.
    // A module with a map of its own (compiled output) keeps that one.
    const mapped = module.mediaType === "text/javascript" && !HAS_SOURCE_MAP.test(module.source);
    const fileUrl = mapped ? pathToFileURL(module.path).href : undefined;
    const text = rewrite(module.source, replacements, fileUrl);
    const url = URL.createObjectURL(new Blob([text], { type: module.mediaType }));
    urls.push(url);
    files.set(url, module.path);
    // Deno prints the map's source URL percent-decoded.
    if (fileUrl !== undefined) files.set(decodeURIComponent(fileUrl), module.path);
  }
  let revoked = false;
  return {
    url: urls[urls.length - 1]!,
    files,
    thenable: modules[modules.length - 1]!.exportsThen !== false,
    unblob(text) {
      for (const [url, path] of files) text = text.replaceAll(url, path);
      return text;
    },
    revoke() {
      if (revoked) return;
      revoked = true;
      for (const url of urls) URL.revokeObjectURL(url);
    },
  };
}
