/**
 * The walk behind `readSnapshot`: every local file of a
 * generation's graph located inside the roots, read once, decoded, scanned
 * for the imports Deno will load, and hashed, dependencies first.
 *
 * Files are read with the synchronous APIs on purpose: on Deno 2.9 each
 * async file operation costs about 50-70 us (a thread-pool round trip)
 * against 3-5 us synchronously for a small module, so a whole graph is read
 * faster, and blocks the event loop for less time in total, synchronously.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import { extname } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { HotswapError } from "./errors.ts";
import { ScanError, scanImports, type SourceSyntax } from "./_import_scanner.ts";
import { assertReadable, type Roots } from "./roots.ts";
import type { SnapshotModule } from "./snapshot.ts";

/** A local import inside a module: where its specifier sits and which module it names. */
export interface LocalImport {
  /** Start of the text to replace (specifier, or quoted literal for `import()`). */
  readonly start: number;
  readonly end: number;
  /** `import("…")` literals keep their quotes in the replaced range. */
  readonly quoted: boolean;
  /**
   * Index of the imported module in `Snapshot.modules`, or `undefined` for an
   * import the transpiler drops, which only has to resolve (to an empty module).
   */
  readonly module: number | undefined;
}

/** Content type (so Deno picks the right transpiler) and syntax, by extension. */
const MODULE_KINDS: Readonly<Record<string, { mediaType: string; syntax: SourceSyntax | "json" }>> = {
  ".ts": { mediaType: "application/typescript", syntax: "ts" },
  ".mts": { mediaType: "application/typescript", syntax: "ts" },
  ".tsx": { mediaType: "text/tsx", syntax: "tsx" },
  ".js": { mediaType: "text/javascript", syntax: "js" },
  ".mjs": { mediaType: "text/javascript", syntax: "js" },
  ".jsx": { mediaType: "text/jsx", syntax: "jsx" },
  ".json": { mediaType: "application/json", syntax: "json" },
};

/** Depth-first walk that emits modules after their imports. */
export class GraphReader {
  readonly modules: SnapshotModule[] = [];
  bytes = 0;
  readonly #roots: Roots;
  readonly #maxBytes: number;
  readonly #elideUnused: boolean;
  readonly #indexByPath = new Map<string, number>();
  /** Real paths on the current DFS path, to name a cycle. */
  readonly #stack: string[] = [];
  /** The module being scanned; still set when a stack overflow unwinds through the scan. */
  #scanning: { path: string; source: string; syntax: SourceSyntax } | undefined;

  constructor(roots: Roots, maxBytes: number, elideUnused: boolean) {
    this.#roots = roots;
    this.#maxBytes = maxBytes;
    this.#elideUnused = elideUnused;
  }

  visit(path: string, importer: Importer | undefined): number {
    const realPath = this.#locate(path, importer);
    const known = this.#indexByPath.get(realPath);
    if (known !== undefined) return known;
    if (this.#stack.includes(realPath)) throw this.#cycleError(realPath, importer);
    this.#stack.push(realPath);
    const bytes = this.#read(path, realPath, importer);
    const module = this.#build(realPath, bytes);
    this.#stack.pop();
    this.modules.push(module);
    this.#indexByPath.set(realPath, this.modules.length - 1);
    return this.modules.length - 1;
  }

  /** Checks roots and permission, resolves symlinks, checks it is a file. */
  #locate(path: string, importer: Importer | undefined): string {
    const roots = this.#roots;
    const what = importer ? `"${importer.specifier}" imported by "${importer.path}"` : `"${path}"`;
    if (roots.lexicalRootOf(path) === undefined) {
      throw new HotswapError(
        "E_OUTSIDE_ROOTS",
        `Cannot load ${what}: it resolves to "${path}", outside the roots ${roots.describe()}; move the file inside a root or add its directory to roots`,
        { path },
      );
    }
    assertReadable(path, roots.lexical, path);
    let realPath: string;
    try {
      realPath = Deno.realPathSync(path);
    } catch (error) {
      throw notFound(path, importer, error);
    }
    if (!roots.holdsReal(realPath)) {
      throw new HotswapError(
        "E_OUTSIDE_ROOTS",
        `Cannot load ${what}: it is a symlink to "${realPath}", outside the roots ${roots.describe()}; replace the link with the file or add "${realPath}"'s directory to roots`,
        { path },
      );
    }
    if (realPath !== path) assertReadable(realPath, roots.real, realPath);
    return realPath;
  }

  #read(
    path: string,
    realPath: string,
    importer: Importer | undefined,
  ): Uint8Array {
    let info: Deno.FileInfo;
    try {
      info = Deno.statSync(realPath);
    } catch (error) {
      throw notFound(path, importer, error);
    }
    if (!info.isFile) {
      // Never read a FIFO, socket or device: a read could block the host forever.
      throw new HotswapError(
        importer ? "E_IMPORT" : "E_NOT_FOUND",
        `Cannot load "${path}"${importer ? ` (imported by "${importer.path}")` : ""}: ${
          info.isDirectory
            ? `it is a directory, not a module file; name the file, such as "${path}/mod.ts"`
            : "it is not a regular file (a FIFO, socket or device); name a module file"
        }`,
        { path },
      );
    }
    if (this.bytes + info.size > this.#maxBytes) {
      throw new HotswapError(
        "E_IMPORT",
        `Cannot load "${path}": it is ${formatBytes(info.size)}, and the generation would exceed its ${
          formatBytes(this.#maxBytes)
        } limit; shrink the module or raise the maxSnapshotBytes option`,
        { path },
      );
    }
    const bytes = Deno.readFileSync(realPath);
    this.bytes += bytes.byteLength;
    return bytes;
  }

  #build(realPath: string, bytes: Uint8Array): SnapshotModule {
    const extension = extname(realPath).toLowerCase();
    const kind = Object.hasOwn(MODULE_KINDS, extension) ? MODULE_KINDS[extension] : undefined;
    if (kind === undefined) {
      throw new HotswapError(
        "E_IMPORT",
        `Cannot load "${realPath}": "${extension || "(no extension)"}" is not a module type; use one of ${
          Object.keys(MODULE_KINDS).join(", ")
        }`,
        { path: realPath },
      );
    }
    const { mediaType, syntax } = kind;
    let source: string;
    try {
      source = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    } catch (error) {
      throw new HotswapError(
        "E_IMPORT",
        `Cannot load "${realPath}": it is not UTF-8 text (binary or corrupt); save it as a UTF-8 source file`,
        { path: realPath, cause: error },
      );
    }
    const imports = syntax === "json"
      ? checkJson(realPath, source)
      : this.#imports(realPath, source, { mediaType, syntax });
    const childDigests = [...new Set(imports.map((local) => local.module))]
      .filter((index) => index !== undefined)
      .map((index) => this.modules[index]!.digest);
    const digest = digestOf(bytes, childDigests);
    return { path: realPath, source, mediaType, imports, digest };
  }

  #imports(
    realPath: string,
    source: string,
    kind: { mediaType: string; syntax: SourceSyntax },
  ): LocalImport[] {
    const syntax = kind.syntax;
    this.#scanning = { path: realPath, source, syntax };
    let scan;
    try {
      scan = scanImports(source, syntax, { elideUnused: this.#elideUnused });
    } catch (error) {
      if (error instanceof ScanError) throw new Unparsable(realPath, source, kind.mediaType, error);
      throw error;
    }
    this.#scanning = undefined;
    const jsxSource = scan.jsxImportSource;
    if (jsxSource !== undefined && isLocalSpecifier(jsxSource)) {
      throw new HotswapError(
        "E_IMPORT",
        `Cannot load "${realPath}": its @jsxImportSource "${jsxSource}" is a local path, which Deno extends to "${jsxSource}/jsx-runtime" after the snapshot is minted; take the JSX runtime from an npm: or jsr: package, or use the classic pragma with a local factory (/** @jsx h */ and an import of h)`,
        { path: realPath },
      );
    }
    const base = pathToFileURL(realPath);
    const imports: LocalImport[] = [];
    for (const { specifier, start, end, quoted, evaluated } of scan.imports) {
      if (!isLocalSpecifier(specifier)) continue;
      const child = fileURLToPath(new URL(specifier, base));
      if (evaluated) {
        imports.push({ start, end, quoted, module: this.visit(child, { path: realPath, specifier }) });
      } else {
        // Nothing of it runs: it is not followed. Deno would still refuse
        // a missing file when loading from disk: say so, if allowed to look.
        if (Deno.permissions.querySync({ name: "read", path: child }).state === "granted") {
          try {
            Deno.statSync(child);
          } catch (error) {
            if (error instanceof Deno.errors.NotFound) {
              throw notFound(child, { path: realPath, specifier }, error);
            }
          }
        }
        imports.push({ start, end, quoted, module: undefined });
      }
    }
    return imports;
  }

  /**
   * Explains a stack overflow. The files on the path the walk had taken are
   * still on `#stack` (an overflow unwinds without popping), and `#scanning`
   * names the module being parsed if the parser overflowed: parsed again now,
   * near the bottom of the stack, it either passes (the graph is too deep)
   * or overflows again (the module nests too deeply).
   */
  overflow(entry: string, error: unknown): HotswapError {
    const scanning = this.#scanning;
    if (scanning !== undefined) {
      try {
        scanImports(scanning.source, scanning.syntax, { elideUnused: this.#elideUnused });
      } catch (again) {
        if (!isStackOverflow(again)) throw again;
        return new HotswapError(
          "E_IMPORT",
          `Cannot parse "${scanning.path}": it nests expressions or blocks too deeply for the import scanner; split the deepest expression into named parts`,
          { path: scanning.path, cause: again },
        );
      }
    }
    return this.#tooDeep(entry, error);
  }

  #tooDeep(entry: string, error: unknown): HotswapError {
    const deepest = this.#stack.at(-1) ?? entry;
    return new HotswapError(
      "E_IMPORT",
      `Cannot load "${entry}": its import graph is too deep to read (a chain of ${this.#stack.length} modules when the stack ran out, down to "${deepest}"); flatten the chain so a module imports its dependencies side by side`,
      { path: entry, cause: error },
    );
  }

  #cycleError(realPath: string, importer: Importer | undefined): HotswapError {
    const cycle = [...this.#stack.slice(this.#stack.indexOf(realPath)), realPath];
    return new HotswapError(
      "E_IMPORT",
      `Cannot load "${importer?.path ?? realPath}": circular import ${
        cycle.map((file) => `"${file}"`).join(" -> ")
      }; snapshots load each file from an immutable URL, so break the cycle by moving the shared code into a module both import`,
      { path: realPath },
    );
  }
}

interface Importer {
  /** The importing file. */
  readonly path: string;
  /** The specifier as written. */
  readonly specifier: string;
}

function isLocalSpecifier(specifier: string): boolean {
  return specifier.startsWith("./") || specifier.startsWith("../") ||
    specifier.startsWith("/") || specifier.startsWith("file:");
}

export function isStackOverflow(error: unknown): boolean {
  return error instanceof RangeError && /call stack/i.test(error.message);
}

function notFound(path: string, importer: Importer | undefined, error: unknown): HotswapError {
  const loop = error instanceof Error && /too many (levels of )?symbolic links/i.test(error.message);
  const reason = loop ? "it is a symlink loop" : "no such file";
  if (importer === undefined) {
    return new HotswapError(
      "E_NOT_FOUND",
      `Cannot load "${path}": ${reason}; check the path (relative paths start at ${Deno.cwd()})`,
      { path, cause: error },
    );
  }
  return new HotswapError(
    "E_IMPORT",
    `Cannot load "${importer.path}": its import "${importer.specifier}" resolves to "${path}", ${reason}; fix the import or add the file`,
    { path: importer.path, cause: error },
  );
}

/** A module the import scanner rejected; explained asynchronously by `readSnapshot`. */
export class Unparsable {
  constructor(
    readonly path: string,
    readonly source: string,
    readonly mediaType: string,
    readonly error: ScanError,
  ) {}
}

/** A JSON module has no imports; its text must parse, or Deno would refuse it at import. */
function checkJson(path: string, source: string): LocalImport[] {
  try {
    JSON.parse(source);
  } catch (error) {
    throw new HotswapError(
      "E_IMPORT",
      `Cannot parse "${path}": ${error instanceof Error ? error.message : String(error)}; fix the JSON`,
      { path, cause: error },
    );
  }
  return [];
}

/** SRI digest of a module: its bytes, then the raw digests of its local imports. */
function digestOf(bytes: Uint8Array, childDigests: readonly string[]): string {
  const hash = createHash("sha256").update(bytes);
  for (const digest of childDigests) hash.update(Buffer.from(digest.slice("sha256-".length), "base64"));
  return `sha256-${hash.digest("base64")}`;
}

function formatBytes(bytes: number): string {
  return bytes >= 1024 * 1024
    ? `${(bytes / 1024 / 1024).toFixed(1)} MiB`
    : `${(bytes / 1024).toFixed(1)} KiB`;
}
