/**
 * Snapshots: a generation's whole local module graph read once, checked
 * against roots and permissions, hashed, and kept in memory (SPEC 6.1-6.3).
 *
 * Deno caches modules by URL, so re-importing an entry (even with a new query
 * string) re-runs nothing below it. A snapshot therefore never imports the
 * files themselves: {@linkcode Snapshot.mint} rewrites every local import to a
 * fresh `blob:` URL holding the bytes that were hashed, and inline loading
 * may instead evaluate each module's text, rewritten by the scanner
 * ({@linkcode SnapshotModule.script}), as a script. What runs is exactly
 * what was verified, later edits on disk cannot reach a loaded generation,
 * and loading needs no permission beyond reading the files once.
 *
 * Stack frames: a JavaScript module is minted with an inline source map that
 * names its file, so frames read `file:///…/f.js:N:C` inline and in workers.
 * TypeScript and JSX are transpiled by Deno, which (measured on 2.9.6) then
 * applies an inline map to its own output instead of chaining it, which gives
 * wrong lines; left alone, Deno's own map gives the right line and column in
 * a frame naming the `blob:` URL, which {@linkcode MintedSnapshot.files}
 * maps back to the file.
 *
 * @module
 */

import { HotswapError } from "./errors.ts";
import type { Provenance } from "./artifact.ts";
import { DiskFiles, type FileAccess } from "./_file_access.ts";
import {
  type ExternalImport,
  GraphReader,
  isStackOverflow,
  type LocalImport,
  Unparsable,
} from "./_graph_reader.ts";
import { SCANNER_NAME } from "./_import_scanner.ts";
import { type MetaRange, mintModules } from "./_mint.ts";
import type { ScriptText } from "./_script_transform.ts";
import type { ColumnShift } from "./_source_map.ts";
import type { Roots } from "./roots.ts";

/** Default cap on the bytes of one generation's graph. */
export const DEFAULT_MAX_SNAPSHOT_BYTES = 16 * 1024 * 1024;

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
  /** Where each `import(…)` with a computed specifier starts (its `import` keyword), in order. */
  readonly computedImports: readonly number[];
  /** Whether its namespace may export `then` (see `MintSource.exportsThen`). */
  readonly exportsThen: boolean;
  /**
   * Where each `import.meta` is (see `ScanResult.importMeta`), in source
   * order; empty for JSON. Minting rewrites them, with no parser of its own.
   */
  readonly importMeta: readonly MetaRange[];
  /** This module's digest, which also covers its local imports. */
  readonly digest: string;
  /** Imports of modules outside the snapshot that Deno evaluates; unknown when left out. */
  readonly externals?: readonly ExternalImport[];
  /**
   * The module as a function body, for an inline load that evaluates the
   * graph as scripts (see `_script_graph.ts`); left out when it cannot be one.
   */
  readonly script?: ScriptText | undefined;
}

/** URLs minted for one instance of a snapshot; revoke them once unloaded. */
export interface MintedSnapshot {
  /** The entry module's URL, to pass to `import()`. */
  readonly url: string;
  /**
   * Maps each minted URL back to the file it holds, and so does the file URL
   * (as Deno prints it) that a JavaScript module's source map names.
   */
  readonly files: ReadonlyMap<string, string>;
  /**
   * Where the columns of a minted TypeScript module moved, by its URL: a
   * rewritten specifier is longer than the one written (see `_source_map.ts`).
   */
  readonly shifts: ReadonlyMap<string, readonly ColumnShift[]>;
  /**
   * Whether the entry may export `then`, and must be imported through a
   * wrapper module (see `_namespace_import.ts`).
   */
  readonly thenable: boolean;
  /**
   * Writes each file's `file:` URL, as Deno's own stacks name a module,
   * where `text` (a stack) names it by its minted URL or by its source map's
   * file URL as Deno prints that (percent-decoded). Lines and columns are
   * the file's own.
   */
  unblob(text: string): string;
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
  /** Who signed it, for a snapshot read from a verified artifact. */
  readonly provenance: Provenance | undefined;

  /** Built by {@linkcode readSnapshot}, or by an artifact's verification (with `provenance`). */
  constructor(entry: string, modules: readonly SnapshotModule[], bytes: number, provenance?: Provenance) {
    this.entry = entry;
    this.modules = modules;
    this.digest = modules[modules.length - 1]!.digest;
    this.bytes = bytes;
    this.provenance = provenance;
  }

  /** The absolute paths of every file in the graph. */
  get files(): string[] {
    return this.modules.map((module) => module.path);
  }

  /**
   * Mints fresh `blob:` URLs for every module (see `_mint.ts`, shared with
   * process isolation, whose child mints the same way), so each call yields a module
   * graph V8 has never evaluated (a new generation, even from equal bytes).
   * A JavaScript module gets an inline source map naming its file (see the
   * module documentation); the digest covers the file's bytes only.
   *
   * @param guard When given, the name of a global function every `import(…)`
   *   with a computed specifier is sent through instead (worker isolation).
   */
  mint(guard?: string): MintedSnapshot {
    return mintModules(this.modules, guard);
  }
}

let elision: Promise<boolean> | undefined;
const ELISION_PROBE = `import { type T } from "hotswap-elision-probe:";\nexport {};\n`;

/**
 * Asks Deno's transpiler whether it drops an import whose bindings are all
 * types (TypeScript's default elision) or keeps it (`verbatimModuleSyntax`
 * in the host's config, which blobs follow too). The probe's import cannot
 * resolve, so it loads only when the import was dropped. Asked once per
 * process, from a `data:` URL: Deno caches a module's emitted JavaScript in
 * DENO_DIR by its URL, and a `blob:` URL, new in every process, left one
 * more file there at every start of a host.
 */
function importElision(): Promise<boolean> {
  elision ??= (async () => {
    try {
      await import(`data:application/typescript;base64,${btoa(ELISION_PROBE)}`);
      return true;
    } catch {
      return false;
    }
  })();
  return elision;
}

/**
 * Reads a generation's graph from `entry`: every local file it imports
 * (statically or by `import("literal")`) that Deno will load; type-only
 * imports, and imports Deno's transpiler drops, excluded.
 *
 * @throws {HotswapError} `E_NOT_FOUND`, `E_OUTSIDE_ROOTS`, `E_PERMISSION` or `E_IMPORT`.
 */
export function readSnapshot(entry: string, options: ReadSnapshotOptions): Promise<Snapshot> {
  return readGraph(entry, new DiskFiles(options.roots), options.maxBytes);
}

/**
 * The walk of {@linkcode readSnapshot} over any file access: the disk, or an
 * artifact's files in memory, hashed alike.
 *
 * @throws {HotswapError} Whatever `files` refuses, or `E_IMPORT`.
 */
export async function readGraph(entry: string, files: FileAccess, maxBytes?: number): Promise<Snapshot> {
  const elideUnused = await importElision();
  const reader = new GraphReader(files, maxBytes ?? DEFAULT_MAX_SNAPSHOT_BYTES, elideUnused);
  try {
    reader.visit(entry, undefined);
  } catch (error) {
    if (error instanceof Unparsable) throw await syntaxError(error);
    if (isStackOverflow(error)) throw reader.overflow(entry, error);
    throw error;
  }
  return new Snapshot(entry, reader.modules, reader.bytes);
}

/** Never resolves: an import of it stops Deno after parsing, before any evaluation. */
const PARSE_ONLY = `import "hotswap-parse-only:";`;

/**
 * Explains a source the import scanner rejected. Deno's own parser is asked
 * too (the probe's first import cannot resolve, so nothing in it is ever
 * evaluated): when Deno would run the module, the scanner is at fault, and
 * the message says so rather than blame the code.
 */
async function syntaxError({ path, source, mediaType, error }: Unparsable): Promise<HotswapError> {
  const where = `${path}:${error.line}:${error.column}`;
  // Deno runs such a TypeScript file (not JavaScript), dropping all that
  // follows the `/*`: almost always a file caught mid-write, or a comment
  // never closed. Refused, as the rest of the module would be silently
  // missing, and said so rather than blamed on the scanner.
  if (/^Unterminated comment\b/.test(error.reason)) {
    return new HotswapError(
      "E_IMPORT",
      `Cannot parse "${path}": the comment opened at ${where} is never closed, so everything after it would be dropped; close the comment (or, if the file is still being written, swap again once it is whole)`,
      { path, cause: error },
    );
  }
  const url = URL.createObjectURL(new Blob([PARSE_ONLY + source], { type: mediaType }));
  let denoParses = true;
  try {
    await import(url);
  } catch (probe) {
    // Anything but a SyntaxError means Deno parsed and compiled the module,
    // then stopped at an import it could not resolve: the probe's, or a
    // relative one (a `blob:` URL is no base for it).
    denoParses = !(probe instanceof Error && /\bSyntaxError\b/.test(`${probe.name}: ${probe.message}`));
  } finally {
    URL.revokeObjectURL(url);
  }
  const message = denoParses
    ? `Cannot read the imports of "${path}": ${SCANNER_NAME} rejects it (${error.reason} at ${where}) although Deno parses it; write that construct another way, and report it as a bug of the import scanner`
    : `Cannot parse "${path}": SyntaxError: ${error.reason} at ${where}; fix the syntax error`;
  return new HotswapError("E_IMPORT", message, { path, cause: error });
}
