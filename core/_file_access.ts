/**
 * How the graph walk reaches a generation's files: on disk, where every file
 * must resolve inside the roots and be readable without a prompt, or in
 * memory, for an artifact whose files were read (with the artifact) once.
 * The walk itself, the import scanner, the elision rules and the digest are
 * the same for both, so an artifact hashes exactly as its files on disk did.
 *
 * @module
 */

import { HotswapError } from "./errors.ts";
import { assertReadable, isReadableDirectory, nameAFileIn, type Roots } from "./roots.ts";

/** Who imports a file: the importing module and the specifier as written. */
export interface Importer {
  /** The importing file. */
  readonly path: string;
  /** The specifier as written. */
  readonly specifier: string;
}

/** A strategy of the graph walk (`GraphReader`) for finding and reading files. */
export interface FileAccess {
  /**
   * Checks where `path` may be read from and resolves it to the file it names.
   *
   * @returns The file's real path, the key of everything else.
   * @throws {HotswapError} Outside the roots, not readable, or missing.
   */
  locate(path: string, importer: Importer | undefined): string;
  /**
   * The size of a located file, refusing anything but a regular file.
   *
   * @throws {HotswapError} Missing, or not a regular file.
   */
  size(path: string, realPath: string, importer: Importer | undefined): number;
  /** The bytes of a located file, read once. */
  read(realPath: string): Uint8Array;
  /**
   * Refuses an import the walk does not follow (nothing of it runs) that
   * names a missing file, where that can be known.
   */
  checkUnfollowed(path: string, importer: Importer): void;
}

/**
 * Files on disk, inside `roots`. Read with the synchronous APIs on purpose:
 * on Deno 2.9 each async file operation costs about 50-70 us (a thread-pool
 * round trip) against 3-5 us synchronously for a small module, so a whole
 * graph is read faster, and blocks the event loop for less time in total.
 */
export class DiskFiles implements FileAccess {
  readonly #roots: Roots;

  constructor(roots: Roots) {
    this.#roots = roots;
  }

  /** Checks roots and permission, resolves symlinks. */
  locate(path: string, importer: Importer | undefined): string {
    const roots = this.#roots;
    const what = importer ? `"${importer.specifier}" imported by "${importer.path}"` : `"${path}"`;
    // An import resolves against its importer's real path: under a root that
    // is a symlink (`current -> releases/v2`, the entry's own directory or
    // one given), it lies inside the root's real directory, not under the link.
    const lexically = roots.lexicalRootOf(path) !== undefined;
    if (!lexically && !roots.holdsReal(path)) {
      throw new HotswapError(
        "E_OUTSIDE_ROOTS",
        `Cannot load ${what}: it resolves to "${path}", outside the roots ${roots.describe()}; move the file inside a root or add its directory to roots`,
        { path },
      );
    }
    assertReadable(path, lexically ? roots.lexical : roots.real, path);
    let realPath: string;
    try {
      realPath = Deno.realPathSync(path);
    } catch (error) {
      throw unreadable(path, importer, error);
    }
    if (!roots.holdsReal(realPath)) {
      // An entry linked to a directory (`current -> releases/v2`): what is
      // wrong is that it is no module file, not where the directory lies.
      if (importer === undefined && isReadableDirectory(realPath)) {
        throw new HotswapError(
          "E_NOT_FOUND",
          `Cannot load "${path}": it is a directory, not a module file; ${nameAFileIn(path)}`,
          { path },
        );
      }
      throw new HotswapError(
        "E_OUTSIDE_ROOTS",
        `Cannot load ${what}: it is a symlink to "${realPath}", outside the roots ${roots.describe()}; replace the link with the file or add "${realPath}"'s directory to roots`,
        { path },
      );
    }
    if (realPath !== path) assertReadable(realPath, roots.real, realPath);
    return realPath;
  }

  size(path: string, realPath: string, importer: Importer | undefined): number {
    let info: Deno.FileInfo;
    try {
      info = Deno.statSync(realPath);
    } catch (error) {
      throw unreadable(path, importer, error);
    }
    if (!info.isFile) {
      // Never read a FIFO, socket or device: a read could block the host forever.
      throw new HotswapError(
        importer ? "E_IMPORT" : "E_NOT_FOUND",
        `Cannot load "${path}"${importer ? ` (imported by "${importer.path}")` : ""}: ${
          info.isDirectory
            ? `it is a directory, not a module file; ${nameAFileIn(path)}`
            : "it is not a regular file (a FIFO, socket or device); name a module file"
        }`,
        { path },
      );
    }
    return info.size;
  }

  read(realPath: string): Uint8Array {
    try {
      return Deno.readFileSync(realPath);
    } catch (error) {
      throw unreadable(realPath, undefined, error);
    }
  }

  /** Deno would still refuse a missing file when loading from disk: say so, if allowed to look. */
  checkUnfollowed(path: string, importer: Importer): void {
    if (Deno.permissions.querySync({ name: "read", path }).state !== "granted") return;
    try {
      Deno.statSync(path);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) throw notFound(path, importer, error);
    }
  }
}

/**
 * Files already in memory, by absolute (virtual) path: an artifact's, placed
 * under the artifact's own path. Nothing here touches the disk, so loading an
 * artifact needs read permission on the artifact file only.
 */
export class MemoryFiles implements FileAccess {
  readonly #files: ReadonlyMap<string, Uint8Array>;
  readonly #container: string;
  readonly #read = new Set<string>();

  /**
   * @param files Bytes by absolute path.
   * @param container What holds the files, for messages (the artifact's path).
   */
  constructor(files: ReadonlyMap<string, Uint8Array>, container: string) {
    this.#files = files;
    this.#container = container;
  }

  /** Paths of the files the walk read. */
  get visited(): ReadonlySet<string> {
    return this.#read;
  }

  locate(path: string, importer: Importer | undefined): string {
    if (this.#files.has(path)) return path;
    const what = importer === undefined
      ? `"${path}"`
      : `"${importer.specifier}" imported by "${importer.path}"`;
    throw new HotswapError(
      importer === undefined ? "E_NOT_FOUND" : "E_IMPORT",
      `Cannot load ${what}: "${this.#container}" holds no such file; pack the generation again`,
      { path },
    );
  }

  size(_path: string, realPath: string): number {
    return this.#files.get(realPath)!.byteLength;
  }

  read(realPath: string): Uint8Array {
    this.#read.add(realPath);
    return this.#files.get(realPath)!;
  }

  /** An artifact holds only what runs; a file nothing runs is not in it and need not be. */
  checkUnfollowed(): void {}
}

/**
 * The error for a file the walk cannot reach: the operating system's
 * refusal (the file's or a directory's mode or owner: `E_PERMISSION`, with
 * what to change), else the file is not there (see {@linkcode notFound}).
 */
function unreadable(path: string, importer: Importer | undefined, error: unknown): HotswapError {
  if (!(error instanceof Deno.errors.PermissionDenied)) return notFound(path, importer, error);
  return new HotswapError(
    "E_PERMISSION",
    `Cannot read "${path}"${
      importer === undefined ? "" : ` (imported by "${importer.path}")`
    }: the operating system refuses it (${error.message}); give the host's user read access to the file and search access to its directories (chmod, chown)`,
    { path, cause: error },
  );
}

/** The error for a file that is not there, worded for an entry or for an import. */
export function notFound(path: string, importer: Importer | undefined, error: unknown): HotswapError {
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
