/**
 * Minting: a snapshot's modules turned into fresh `blob:` URLs, each local
 * import rewritten to the URL of the module it names, so what runs is exactly
 * the bytes that were hashed. Used by `Snapshot.mint()` in the host and by a
 * generation's process, which receives the modules over its channel and
 * mints them itself; so it imports nothing host-only (no parser, no files).
 *
 * `import.meta` describes the module's file, as if Deno had imported the
 * file itself (`url`, `filename`, `dirname`, `main: false`, `resolve()`),
 * not the `blob:` URL: each occurrence, where the import scanner's parse
 * found it ({@linkcode MintSource.importMeta}), becomes a hidden name exactly
 * as long ({@linkcode META_LOCAL}), bound by an import added after the
 * module's last line, so no line or column of the module moves. The object
 * comes from one more `blob:` module a mint, so each minted instance of a
 * module has its own, as each imported module has.
 *
 * @module
 */

import { pathToFileURL } from "node:url";
import type { MintedSnapshot } from "./snapshot.ts";
import { type ColumnShift, columnShifts, rewrite } from "./_source_map.ts";
import { fileHref, nameFile } from "./_stack_format.ts";

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
  /**
   * Where each `import.meta` is, in source order: the import scanner's
   * positions (`ScanResult.importMeta`), as nothing here parses. Left out,
   * the module has none (a module minted from text written for it).
   */
  readonly importMeta?: readonly MetaRange[] | undefined;
}

/** Where one `import.meta` stands in a module's text: `import` to the end of `meta`. */
export interface MetaRange {
  readonly start: number;
  readonly end: number;
}

/**
 * What `import.meta` becomes in a generation's module, in the script path
 * (`_script_transform.ts`) and in minted modules alike: 11 characters, as
 * many as `import.meta`. Any name holding `__hs_` is the runtime's own.
 */
export const META_LOCAL = "__hs_meta__";

/**
 * `import.meta` of a module read from `path`, as Deno makes it for an
 * imported file: a null-prototype object with `url`, `main` (`false`: a
 * generation is never the main module), `resolve`, `filename` and `dirname`.
 * `resolve` joins a relative specifier (`./`, `../`, `/`) to `url`, returns
 * a URL as the URL it is, and refuses a bare specifier as Deno does with no
 * import map. Self-contained: its text is the source of the objects minted
 * modules import (see {@linkcode mintModules}).
 */
export function importMeta(url: string, filename: string, dirname: string): ImportMeta {
  return {
    __proto__: null,
    url,
    main: false,
    resolve: function (specifier: string): string {
      const text = `${specifier}`;
      if (/^\.{0,2}\//.test(text)) return new URL(text, url).href;
      try {
        return new URL(text).href;
      } catch {
        throw new TypeError(`Import "${text}" not a dependency`);
      }
    },
    filename,
    dirname,
  } as ImportMeta;
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
  const shifts = new Map<string, readonly ColumnShift[]>();
  const metas = modules.map((module) => module.importMeta ?? []);
  const metaUrl = mintMeta(modules, metas);
  for (const [index, module] of modules.entries()) {
    const replacements = module.imports.map((local) => {
      const url = local.module === undefined ? EMPTY_MODULE : urls[local.module]!;
      return { start: local.start, end: local.end, text: local.quoted ? JSON.stringify(url) : url };
    });
    if (guard !== undefined && module.computedImports !== undefined && module.computedImports.length > 0) {
      for (const start of module.computedImports) {
        replacements.push({ start, end: start + "import".length, text: guard });
      }
    }
    const ranges = metas[index]!;
    if (ranges.length > 0) {
      const local = metaLocal(module.source);
      for (const { start, end } of ranges) {
        replacements.push({ start, end, text: metaText(module.source.slice(start, end), local) });
      }
      // After the last line: an import binds before any of the module runs, and moves nothing.
      const end = module.source.length;
      replacements.push({ start: end, end, text: `\n;import { m${index} as ${local} } from "${metaUrl}";` });
    }
    replacements.sort((a, b) => a.start - b.start);
    // Only JavaScript: Deno would apply the map to its transpiled output.
    // A module with a map of its own (compiled output) keeps that one.
    const mapped = module.mediaType === "text/javascript" && !HAS_SOURCE_MAP.test(module.source);
    const fileUrl = mapped ? pathToFileURL(module.path).href : undefined;
    const text = rewrite(module.source, replacements, fileUrl);
    const url = URL.createObjectURL(new Blob([text], { type: module.mediaType }));
    urls.push(url);
    // Deno's own map of TypeScript leads frames to the rewritten text: its columns are moved back.
    if (!mapped) {
      const moved = columnShifts(module.source, replacements);
      if (moved.length > 0) shifts.set(url, moved);
    }
    files.set(url, module.path);
    // Deno prints the map's source URL percent-decoded.
    if (fileUrl !== undefined) files.set(decodeURIComponent(fileUrl), module.path);
  }
  let revoked = false;
  return {
    url: urls[urls.length - 1]!,
    files,
    shifts,
    thenable: modules[modules.length - 1]!.exportsThen !== false,
    unblob(text) {
      for (const [url, path] of files) {
        if (text.includes(url)) text = nameFile(text, url, fileHref(path), shifts.get(url));
      }
      return text;
    },
    revoke() {
      if (revoked) return;
      revoked = true;
      for (const url of urls) URL.revokeObjectURL(url);
      if (metaUrl !== undefined) URL.revokeObjectURL(metaUrl);
    },
  };
}

/** The arguments of {@linkcode importMeta} for the file at `path`: its URL, path and directory. */
export function metaArguments(path: string): [url: string, filename: string, dirname: string] {
  // As `node:path`'s `dirname` (which the process's program does not import).
  const separator = Deno.build.os === "windows" ? /[\\/][^\\/]*$/ : /\/[^/]*$/;
  const cut = path.search(separator);
  const dirname = cut === -1
    ? "."
    : cut === 0 || /^[A-Za-z]:$/.test(path.slice(0, cut))
    ? path.slice(0, cut + 1)
    : path.slice(0, cut);
  return [pathToFileURL(path).href, path, dirname];
}

/**
 * The module that makes `import.meta` of each module using it (export
 * `m<index>`), or `undefined` when none does. It imports nothing, and each
 * module imports it last: it has run before that module's body does. (Only
 * in an import cycle can a module's function run earlier, called by a
 * module it imports; its `import.meta` then throws a ReferenceError.)
 */
function mintMeta(
  modules: readonly MintSource[],
  metas: readonly (readonly MetaRange[])[],
): string | undefined {
  const lines: string[] = [];
  for (const [index, { path }] of modules.entries()) {
    if (metas[index]!.length === 0) continue;
    const args = metaArguments(path).map((text) => JSON.stringify(text));
    lines.push(`export const m${index} = importMeta(${args.join(", ")});`);
  }
  if (lines.length === 0) return undefined;
  const text = `const importMeta = ${importMeta};\n${lines.join("\n")}\n`;
  return URL.createObjectURL(new Blob([text], { type: "text/javascript" }));
}

/** {@linkcode META_LOCAL}, or a name as long that `source` does not hold when it holds that one. */
function metaLocal(source: string): string {
  if (!source.includes(META_LOCAL)) return META_LOCAL;
  for (let n = 0; n < 36 * 36; n++) {
    const name = `__hs_meta${n.toString(36).padStart(2, "_")}`;
    if (!source.includes(name)) return name;
  }
  return META_LOCAL; // a text holding 1,297 such names: the import then fails, as it should
}

/**
 * The text that replaces one `import.meta` (written `text`, maybe with
 * spaces, comments or line breaks between its words): `local`, then the
 * rest blanked with its line breaks kept, so that lines stay and what
 * follows on the last line keeps its column.
 */
export function metaText(text: string, local: string): string {
  const lineBreak = text.search(/[\n\r\u2028\u2029]/);
  if (lineBreak === -1) return local.padEnd(text.length);
  return local + text.slice(lineBreak).replace(/[^\n\r\u2028\u2029]/g, " ");
}
