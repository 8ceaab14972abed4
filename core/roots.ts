/**
 * Roots: the directories a generation's files must live in (SPEC 6.1), and
 * the host read-permission check that never prompts (SPEC 6.2).
 *
 * @module
 */

import { dirname, isAbsolute, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { HotswapError, messageOf } from "./errors.ts";

/** A path given by a user: a string (relative to the working directory) or a `file:` URL. */
export type PathLike = string | URL;

/** Turns a user-given path into an absolute, normalised path. */
export function toAbsolutePath(path: PathLike): string {
  if (path instanceof URL) {
    if (path.protocol !== "file:") {
      throw new TypeError(
        `Cannot load "${path.href}": only local files can be generations; pass a path or a file: URL`,
      );
    }
    return fileURLToPath(path);
  }
  if (typeof path !== "string" || path === "") {
    throw new TypeError(`Cannot load ${JSON.stringify(path)}: pass a module path such as "so/Handles.ts"`);
  }
  if (path.startsWith("file:")) return fileURLToPath(path);
  return resolve(path);
}

/** Whether `path` is `dir` or lies below it (both absolute and normalised). */
export function isInside(path: string, dir: string): boolean {
  const rel = relative(dir, path);
  return rel === "" || (!rel.startsWith(`..${sep}`) && rel !== ".." && !isAbsolute(rel));
}

/** The allowed directories, both as written (lexical) and as resolved through symlinks. */
export class Roots {
  /** Absolute roots as given. */
  readonly lexical: readonly string[];
  /** The same roots with symlinks resolved. */
  readonly real: readonly string[];

  private constructor(lexical: readonly string[], real: readonly string[]) {
    this.lexical = lexical;
    this.real = real;
  }

  /**
   * Resolves roots; without any, the entry's directory is the only root.
   *
   * @throws {HotswapError} `E_PERMISSION` when a root is not readable, `E_NOT_FOUND` when missing.
   */
  static resolve(roots: readonly PathLike[] | undefined, entry: string): Roots {
    const defaulted = roots === undefined || roots.length === 0;
    const lexical = defaulted ? [dirname(entry)] : roots.map(toAbsolutePath);
    const real: string[] = [];
    for (const root of lexical) {
      try {
        assertReadable(root, lexical, root);
      } catch (error) {
        // A directory given as the entry makes its parent the default root: a
        // host that may read only the directory must not be told to grant the
        // parent. Asked only now, as every read passes here (a readable parent
        // lets the read itself say that the entry is a directory).
        if (defaulted && isReadableDirectory(entry)) {
          throw new HotswapError(
            "E_NOT_FOUND",
            `Cannot load "${entry}": it is a directory, not a module file; ${nameAFileIn(entry)}`,
            { path: entry },
          );
        }
        throw error;
      }
      try {
        real.push(Deno.realPathSync(root));
      } catch (error) {
        if (defaulted) {
          // No roots were given: the root is the entry's own directory, and the path is what is wrong.
          throw new HotswapError(
            "E_NOT_FOUND",
            `Cannot load "${entry}": its directory "${root}" does not exist or cannot be resolved (${
              messageOf(error)
            }); check the path${whereRelativePathsStart()}`,
            { path: entry, cause: error },
          );
        }
        throw new HotswapError(
          "E_NOT_FOUND",
          `Cannot use root "${root}": it does not exist or cannot be resolved (${
            messageOf(error)
          }); create it or fix the roots option`,
          { path: root, cause: error },
        );
      }
    }
    return new Roots(lexical, real);
  }

  /** The root (as given) that lexically holds `path`, if any. */
  lexicalRootOf(path: string): string | undefined {
    return this.lexical.find((root) => isInside(path, root));
  }

  /** Whether a resolved (real) path is inside a resolved root. */
  holdsReal(realPath: string): boolean {
    return this.real.some((root) => isInside(realPath, root));
  }

  /** The roots for a message: `"/a", "/b"`. */
  describe(): string {
    return this.lexical.map((root) => `"${root}"`).join(", ");
  }
}

/**
 * Checks that the host may read `path` without prompting.
 *
 * @param path The file or directory to read.
 * @param grant The directories to suggest for `--allow-read`.
 * @param subject The path to name in the message.
 * @throws {HotswapError} `E_PERMISSION` with the exact flag to add.
 */
export function assertReadable(path: string, grant: readonly string[], subject: string): void {
  const { state } = Deno.permissions.querySync({ name: "read", path });
  if (state === "granted") return;
  throw new HotswapError(
    "E_PERMISSION",
    `Cannot read "${subject}": the host has no read permission for it (${
      state === "denied" ? "denied" : "not granted"
    }); run the host with --allow-read=${grant.join(",")}`,
    { path: subject },
  );
}

/** Whether `path` is a directory the host may read (asked without a prompt). */
export function isReadableDirectory(path: string): boolean {
  if (Deno.permissions.querySync({ name: "read", path }).state !== "granted") return false;
  try {
    return Deno.statSync(path).isDirectory;
  } catch {
    return false;
  }
}

/**
 * What to say of a directory given where a module file was expected: a few
 * of its module files by name, when the host may list it.
 */
export function nameAFileIn(directory: string): string {
  const files: string[] = [];
  try {
    if (Deno.permissions.querySync({ name: "read", path: directory }).state === "granted") {
      for (const entry of Deno.readDirSync(directory)) {
        if (entry.isFile && /\.(?:[mc]?[jt]sx?)$/.test(entry.name)) files.push(entry.name);
      }
    }
  } catch {
    // Not listed: the general advice will do.
  }
  if (files.length === 0) return "name a module file in it";
  const shown = files.sort().slice(0, 3).map((name) => `"${join(directory, name)}"`).join(", ");
  return `name one of its module files, such as ${shown}`;
}

/** ` (relative paths start at <cwd>)`, or nothing when the host may not know its working directory. */
function whereRelativePathsStart(): string {
  try {
    return ` (relative paths start at ${Deno.cwd()})`;
  } catch {
    return "";
  }
}
