/**
 * The walk behind `readSnapshot`: every local file of a
 * generation's graph located (on disk inside the roots, or in an artifact's
 * memory: see {@linkcode FileAccess}), read once, decoded, scanned for the
 * imports Deno will load, and hashed, dependencies first.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { createHash, type Hash } from "node:crypto";
import { extname } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { HotswapError, messageOf } from "./errors.ts";
import { ScanError, scanImports, type SourceSyntax } from "./_import_scanner.ts";
import type { FileAccess, Importer } from "./_file_access.ts";
import { type KeptFile, RecentReads } from "./_recent_reads.ts";
import type { SnapshotModule } from "./snapshot.ts";

/** A local import inside a module: where its specifier sits and which module it names. */
export interface LocalImport {
  /** Start of the text to replace (specifier, or quoted literal for `import()`). */
  readonly start: number;
  readonly end: number;
  /** `import("…")` literals keep their quotes in the replaced range. */
  readonly quoted: boolean;
  /** The specifier as written (its value, unquoted). */
  readonly specifier?: string;
  /** The bindings it takes by name (see `ImportRecord.names`). */
  readonly names?: readonly string[] | undefined;
  /**
   * Index of the imported module in `Snapshot.modules`, or `undefined` for an
   * import the transpiler drops, which only has to resolve (to an empty module).
   */
  readonly module: number | undefined;
}

/** An import of a module outside the snapshot (`node:`, `npm:`, `jsr:`, a URL or a bare name) that Deno evaluates. */
export interface ExternalImport {
  readonly specifier: string;
  /** The bindings it takes by name (see `ImportRecord.names`). */
  readonly names?: readonly string[] | undefined;
  /** Whether it is an `import()`, evaluated when called rather than with the module. */
  readonly dynamic: boolean;
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

/** The syntax the import scanner parses a file with, by its extension; `undefined` for JSON and the rest. */
export function sourceSyntaxOf(path: string): SourceSyntax | undefined {
  const kind = moduleKindOf(extname(path).toLowerCase());
  return kind === undefined || kind.syntax === "json" ? undefined : kind.syntax;
}

/** The kind of a module by its (lower-case) extension; own keys only, so `.constructor` is no kind. */
function moduleKindOf(extension: string): { mediaType: string; syntax: SourceSyntax | "json" } | undefined {
  return Object.hasOwn(MODULE_KINDS, extension) ? MODULE_KINDS[extension] : undefined;
}

/** Strict: a file that is not UTF-8 is refused, not read with replacement characters. */
const UTF8 = new TextDecoder("utf-8", { fatal: true });

/** What this thread's reads found of each file, reused for the same bytes. */
const recentReads = new RecentReads();

/** Depth-first walk that emits modules after their imports. */
export class GraphReader {
  readonly modules: SnapshotModule[] = [];
  bytes = 0;
  readonly #files: FileAccess;
  readonly #maxBytes: number;
  readonly #elideUnused: boolean;
  readonly #indexByPath = new Map<string, number>();
  /** Real paths on the current DFS path, to name a cycle. */
  readonly #stack: string[] = [];
  /** The module being scanned; still set when a stack overflow unwinds through the scan. */
  #scanning: { path: string; source: string; syntax: SourceSyntax } | undefined;

  constructor(files: FileAccess, maxBytes: number, elideUnused: boolean) {
    this.#files = files;
    this.#maxBytes = maxBytes;
    this.#elideUnused = elideUnused;
  }

  visit(path: string, importer: Importer | undefined): number {
    const realPath = this.#files.locate(path, importer);
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

  #read(
    path: string,
    realPath: string,
    importer: Importer | undefined,
  ): Uint8Array {
    const size = this.#files.size(path, realPath, importer);
    if (this.bytes + size > this.#maxBytes) {
      throw new HotswapError(
        "E_IMPORT",
        `Cannot load "${path}": it is ${formatBytes(size)}, and the generation would exceed its ${
          formatBytes(this.#maxBytes)
        } limit; shrink the module or raise the maxSnapshotBytes option`,
        { path },
      );
    }
    const bytes = this.#files.read(realPath);
    this.bytes += bytes.byteLength;
    return bytes;
  }

  #build(realPath: string, bytes: Uint8Array): SnapshotModule {
    const extension = extname(realPath).toLowerCase();
    const kind = moduleKindOf(extension);
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
    const resolved = recentReads.resolvedOf(realPath);
    const kept = recentReads.take(realPath, bytes);
    const file = kept ?? this.#decode(realPath, bytes, syntax === "json", resolved);
    const { imports, computedImports, exportsThen, importMeta, externals, script } = syntax === "json"
      ? {
        imports: [],
        computedImports: [],
        exportsThen: false,
        importMeta: [],
        externals: [],
        script: undefined,
      }
      : this.#imports(realPath, file, { mediaType, syntax });
    const childDigests = [...new Set(imports.map((local) => local.module))]
      .filter((index) => index !== undefined)
      .map((index) => this.modules[index]!.digest);
    const children = childDigests.join(" ");
    if (file.digest?.children !== children) {
      file.digest = { children, value: digestOf(file.bytesHash.copy(), childDigests) };
    }
    // Kept once the whole module is read: a file whose imports fail is decoded again.
    if (kept === undefined) recentReads.keep(realPath, file);
    return {
      path: realPath,
      source: file.source,
      mediaType,
      imports,
      computedImports,
      exportsThen,
      importMeta,
      digest: file.digest.value,
      externals,
      script,
    };
  }

  /** A file whose bytes are new: decoded (a JSON module parsed once, as Deno would refuse it) and hashed. */
  #decode(
    realPath: string,
    bytes: Uint8Array,
    json: boolean,
    resolved = new Map<string, string>(),
  ): KeptFile {
    let source: string;
    try {
      source = UTF8.decode(bytes);
    } catch (error) {
      throw new HotswapError(
        "E_IMPORT",
        `Cannot load "${realPath}": it is not UTF-8 text (binary or corrupt); save it as a UTF-8 source file`,
        { path: realPath, cause: error },
      );
    }
    if (json) checkJson(realPath, source);
    // One hash of the bytes: the scan cache's key, and (with the imports' digests) the module's digest.
    const bytesHash = createHash("sha256").update(bytes);
    return {
      // A view into a larger buffer (an artifact's) is copied: kept, it would keep the whole buffer.
      bytes: bytes.byteLength === bytes.buffer.byteLength ? bytes : bytes.slice(),
      source,
      bytesHash,
      bytesDigest: bytesHash.copy().digest("base64"),
      resolved,
    };
  }

  #imports(
    realPath: string,
    file: KeptFile,
    kind: { mediaType: string; syntax: SourceSyntax },
  ): Pick<SnapshotModule, "computedImports" | "exportsThen" | "importMeta" | "script"> & {
    imports: LocalImport[];
    externals: ExternalImport[];
  } {
    const { source, bytesDigest, resolved } = file;
    const syntax = kind.syntax;
    this.#scanning = { path: realPath, source, syntax };
    let scan;
    try {
      scan = scanImports(source, syntax, { elideUnused: this.#elideUnused, path: realPath, bytesDigest });
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
    let base: URL | undefined;
    const imports: LocalImport[] = [];
    const externals: ExternalImport[] = [];
    for (const { specifier, start, end, quoted, evaluated, names } of scan.imports) {
      if (!isLocalSpecifier(specifier)) {
        if (evaluated) externals.push({ specifier, names, dynamic: quoted });
        continue;
      }
      let child = resolved.get(specifier);
      if (child === undefined) {
        base ??= pathToFileURL(realPath);
        child = fileURLToPath(new URL(specifier, base));
        resolved.set(specifier, child);
      }
      if (evaluated) {
        const module = this.visit(child, { path: realPath, specifier });
        imports.push({ start, end, quoted, specifier, names, module });
      } else {
        // Nothing of it runs: it is not followed, but it must not name a missing file.
        this.#files.checkUnfollowed(child, { path: realPath, specifier });
        imports.push({ start, end, quoted, specifier, names, module: undefined });
      }
    }
    const { computed, exportsThen, importMeta, script } = scan;
    return { imports, computedImports: computed, exportsThen, importMeta, externals, script };
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

function isLocalSpecifier(specifier: string): boolean {
  return specifier.startsWith("./") || specifier.startsWith("../") ||
    specifier.startsWith("/") || specifier.startsWith("file:");
}

export function isStackOverflow(error: unknown): boolean {
  return error instanceof RangeError && /call stack/i.test(error.message);
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
function checkJson(path: string, source: string): void {
  try {
    JSON.parse(source);
  } catch (error) {
    throw new HotswapError(
      "E_IMPORT",
      `Cannot parse "${path}": ${messageOf(error)}; fix the JSON`,
      { path, cause: error },
    );
  }
}

/** SRI digest of a module: its bytes (already in `hash`), then the raw digests of its local imports. */
function digestOf(hash: Hash, childDigests: readonly string[]): string {
  for (const digest of childDigests) hash.update(Buffer.from(digest.slice("sha256-".length), "base64"));
  return `sha256-${hash.digest("base64")}`;
}

function formatBytes(bytes: number): string {
  return bytes >= 1024 * 1024
    ? `${(bytes / 1024 / 1024).toFixed(1)} MiB`
    : `${(bytes / 1024).toFixed(1)} KiB`;
}
