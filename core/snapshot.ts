/**
 * Snapshots: a generation's whole local module graph read once, checked
 * against roots and permissions, hashed, and kept in memory (SPEC 6.1-6.3).
 *
 * Files are read with the synchronous APIs on purpose: on Deno 2.9 each
 * async file operation costs about 50-70 us (a thread-pool round trip)
 * against 3-5 us synchronously for a small module, so a whole graph is read
 * faster, and blocks the event loop for less time in total, synchronously.
 *
 * Deno caches modules by URL, so re-importing an entry (even with a new query
 * string) re-runs nothing below it. A snapshot therefore never imports the
 * files themselves: {@linkcode Snapshot.mint} rewrites every local import to a
 * fresh `blob:` URL holding the bytes that were hashed. What runs is exactly
 * what was verified, later edits on disk cannot reach a loaded generation,
 * and loading needs no permission beyond reading the files once.
 *
 * @module
 */

import { init as initLexer, parse as lexModule } from "es-module-lexer";
import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import { extname } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { describeThrown, HotswapError } from "./errors.ts";
import { assertReadable, type Roots } from "./roots.ts";

/** Default cap on the bytes of one generation's graph. */
export const DEFAULT_MAX_SNAPSHOT_BYTES = 16 * 1024 * 1024;

/** A local import inside a module: where its specifier sits and which module it names. */
interface LocalImport {
  /** Start of the text to replace (specifier, or quoted literal for `import()`). */
  readonly start: number;
  readonly end: number;
  /** `import("…")` literals keep their quotes in the replaced range. */
  readonly quoted: boolean;
  /** Index of the imported module in {@linkcode Snapshot.modules}. */
  readonly module: number;
}

/** One file of a snapshot. */
export interface SnapshotModule {
  /** Absolute path, with symlinks resolved. */
  readonly path: string;
  /** The decoded text that was hashed. */
  readonly source: string;
  /** Content type the blob is minted with, so Deno picks the right transpiler. */
  readonly mediaType: string;
  /** Local imports, in source order. */
  readonly imports: readonly LocalImport[];
  /** This module's digest, which also covers its local imports. */
  readonly digest: string;
}

/** URLs minted for one instance of a snapshot; revoke them once unloaded. */
export interface MintedSnapshot {
  /** The entry module's URL, to pass to `import()`. */
  readonly url: string;
  /** Maps each minted URL back to the file it holds. */
  readonly files: ReadonlyMap<string, string>;
  /** Frees the blobs. Idempotent. */
  revoke(): void;
}

/** Options of {@linkcode readSnapshot}. */
export interface ReadSnapshotOptions {
  /** Directories every file must resolve into. */
  roots: Roots;
  /** Cap on the total bytes of the graph. */
  maxBytes?: number;
}

/** A generation's module graph, frozen in memory. */
export class Snapshot {
  /** The entry file (absolute path as given, before symlink resolution). */
  readonly entry: string;
  /** Modules in dependency order: every module after the ones it imports; the entry last. */
  readonly modules: readonly SnapshotModule[];
  /** `sha256-<base64>` over the entry's bytes and, recursively, its local imports. */
  readonly digest: string;
  /** Total bytes read. */
  readonly bytes: number;

  /** Built by {@linkcode readSnapshot}. */
  constructor(entry: string, modules: readonly SnapshotModule[], bytes: number) {
    this.entry = entry;
    this.modules = modules;
    this.digest = modules[modules.length - 1]!.digest;
    this.bytes = bytes;
  }

  /** The absolute paths of every file in the graph. */
  get files(): string[] {
    return this.modules.map((module) => module.path);
  }

  /**
   * Mints fresh `blob:` URLs for every module, so each call yields a module
   * graph V8 has never evaluated (a new generation, even from equal bytes).
   */
  mint(): MintedSnapshot {
    const urls: string[] = [];
    const files = new Map<string, string>();
    for (const module of this.modules) {
      let text = "";
      let at = 0;
      for (const local of module.imports) {
        const url = urls[local.module]!;
        text += module.source.slice(at, local.start) + (local.quoted ? JSON.stringify(url) : url);
        at = local.end;
      }
      text += module.source.slice(at);
      const url = URL.createObjectURL(new Blob([text], { type: module.mediaType }));
      urls.push(url);
      files.set(url, module.path);
    }
    let revoked = false;
    return {
      url: urls[urls.length - 1]!,
      files,
      revoke() {
        if (revoked) return;
        revoked = true;
        for (const url of urls) URL.revokeObjectURL(url);
      },
    };
  }
}

const MEDIA_TYPES: Readonly<Record<string, string>> = {
  ".ts": "application/typescript",
  ".mts": "application/typescript",
  ".tsx": "text/tsx",
  ".js": "text/javascript",
  ".mjs": "text/javascript",
  ".jsx": "text/jsx",
  ".json": "application/json",
};

let lexerReady: Promise<void> | undefined;

/**
 * Reads a generation's graph from `entry`: every local file it imports
 * (statically or by `import("literal")`), type-only imports excluded.
 *
 * @throws {HotswapError} `E_NOT_FOUND`, `E_OUTSIDE_ROOTS`, `E_PERMISSION` or `E_IMPORT`.
 */
export async function readSnapshot(entry: string, options: ReadSnapshotOptions): Promise<Snapshot> {
  lexerReady ??= initLexer();
  await lexerReady;
  const reader = new GraphReader(options.roots, options.maxBytes ?? DEFAULT_MAX_SNAPSHOT_BYTES);
  try {
    reader.visit(entry, undefined);
  } catch (error) {
    if (error instanceof Unparsable) throw await syntaxError(error);
    if (isStackOverflow(error)) throw reader.tooDeep(entry, error);
    throw error;
  }
  return new Snapshot(entry, reader.modules, reader.bytes);
}

/** Depth-first walk that emits modules after their imports. */
class GraphReader {
  readonly modules: SnapshotModule[] = [];
  bytes = 0;
  readonly #roots: Roots;
  readonly #maxBytes: number;
  readonly #indexByPath = new Map<string, number>();
  /** Real paths on the current DFS path, to name a cycle. */
  readonly #stack: string[] = [];

  constructor(roots: Roots, maxBytes: number) {
    this.#roots = roots;
    this.#maxBytes = maxBytes;
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
    const mediaType = MEDIA_TYPES[extension];
    if (mediaType === undefined) {
      throw new HotswapError(
        "E_IMPORT",
        `Cannot load "${realPath}": "${extension || "(no extension)"}" is not a module type; use one of ${
          Object.keys(MEDIA_TYPES).join(", ")
        }`,
        { path: realPath },
      );
    }
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
    const imports = mediaType === "application/json" ? [] : this.#imports(realPath, source, mediaType);
    const childDigests = [...new Set(imports.map((local) => local.module))]
      .map((index) => this.modules[index]!.digest);
    const digest = digestOf(bytes, childDigests);
    return { path: realPath, source, mediaType, imports, digest };
  }

  #imports(realPath: string, source: string, mediaType: string): LocalImport[] {
    let records;
    try {
      [records] = lexModule(source, realPath);
    } catch (error) {
      if (isStackOverflow(error)) throw error;
      throw new Unparsable(realPath, source, mediaType, error);
    }
    const base = pathToFileURL(realPath);
    const imports: LocalImport[] = [];
    for (const record of records) {
      if (record.type === "import-meta") continue;
      if (record.type === "dynamic" ? record.probablyTypeOnly : record.typeOnly) continue;
      const specifier = record.specifier;
      if (specifier === undefined || !isLocalSpecifier(specifier)) continue;
      const child = fileURLToPath(new URL(specifier, base));
      const module = this.visit(child, { path: realPath, specifier });
      imports.push({
        start: record.start,
        end: record.end,
        quoted: record.type === "dynamic",
        module,
      });
    }
    return imports.sort((a, b) => a.start - b.start);
  }

  /**
   * Explains a stack overflow of the depth-first walk. The files on the path
   * it had walked are still on `#stack`: an overflow unwinds without popping.
   */
  tooDeep(entry: string, error: unknown): HotswapError {
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

function isStackOverflow(error: unknown): boolean {
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

/** A module the import lexer could not read; explained asynchronously by {@linkcode syntaxError}. */
class Unparsable {
  constructor(
    readonly path: string,
    readonly source: string,
    readonly mediaType: string,
    readonly lexerError: unknown,
  ) {}
}

/** Never resolves: an import of it stops Deno after parsing, before any evaluation. */
const PARSE_ONLY = `import "hotswap-parse-only:";`;

/**
 * Explains a source the import lexer could not read, with Deno's own parser:
 * the lexer's positions are unreliable for unbalanced brackets. The probe
 * module's first import cannot resolve, so nothing in it is ever evaluated.
 */
async function syntaxError({ path, source, mediaType, lexerError }: Unparsable): Promise<HotswapError> {
  const url = URL.createObjectURL(new Blob([PARSE_ONLY + source], { type: mediaType }));
  let reason = describeThrown(lexerError).replace(/^Error: Parse error .*/, "unbalanced brackets or quotes");
  try {
    await import(url);
  } catch (error) {
    const text = error instanceof Error ? error.message : "";
    if (/SyntaxError|Expected|expected|Unexpected|Unterminated/.test(text)) {
      const at = new RegExp(`${url}:(\\d+):(\\d+)`).exec(text);
      const line = Number(at?.[1] ?? 0);
      const column = Number(at?.[2] ?? 0) - (line === 1 ? PARSE_ONLY.length : 0);
      reason = `${text.split("\n", 1)[0]}${at ? ` at ${path}:${line}:${column}` : ""}`;
    }
  } finally {
    URL.revokeObjectURL(url);
  }
  return new HotswapError("E_IMPORT", `Cannot parse "${path}": ${reason}; fix the syntax error`, {
    path,
    cause: lexerError,
  });
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
