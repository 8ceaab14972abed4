/**
 * Reading an artifact: its one file from disk (read permission on that file
 * alone), and its files walked in memory into a snapshot, with the refusals
 * that name the artifact.
 *
 * @module
 */

import { join } from "node:path";
import type { ArtifactFile } from "./_artifact_format.ts";
import { MemoryFiles } from "./_file_access.ts";
import { HotswapError, messageOf } from "./errors.ts";
import { assertReadable, type Roots } from "./roots.ts";
import { SignatureError } from "./signature.ts";
import { readGraph, type Snapshot } from "./snapshot.ts";

/** What to do about an artifact that changed after it was packed. */
export const AGAIN = "get the artifact again from its publisher, or pack it again";

/**
 * Walks an artifact's files in memory: the graph of `entry`, which must use
 * every file, each with the digest written beside it.
 */
export async function walkFiles(
  container: string,
  entry: string,
  files: readonly ArtifactFile[],
  maxBytes: number,
  subject: string,
): Promise<Snapshot> {
  const total = files.reduce((sum, file) => sum + file.bytes.byteLength, 0);
  if (total > maxBytes) {
    throw new HotswapError(
      "E_IMPORT",
      `${subject}: its files hold ${total} bytes, more than the generation's limit of ${maxBytes}; shrink the generation or raise the maxSnapshotBytes option`,
      { path: container },
    );
  }
  const byPath = new Map(files.map((file) => [join(container, file.path), file]));
  const memory = new MemoryFiles(new Map([...byPath].map(([path, file]) => [path, file.bytes])), container);
  let snapshot: Snapshot;
  try {
    snapshot = await readGraph(join(container, entry), memory, maxBytes);
  } catch (error) {
    // The packer walked these very bytes: a walk that fails now means they
    // changed. The failure's own advice (fix the syntax…) is not for a reader
    // of an artifact, so only what failed is quoted.
    const failure = messageOf(error);
    const what = failure.lastIndexOf("; ") > 0 ? failure.slice(0, failure.lastIndexOf("; ")) : failure;
    throw refusal(
      "tampered",
      container,
      `${subject}: tampered: its files no longer form the graph that was signed (${what}); ${AGAIN}`,
      error,
    );
  }
  const unused = [...byPath.keys()].find((path) => !memory.visited.has(path));
  if (unused !== undefined) {
    throw refusal(
      "tampered",
      container,
      `${subject}: tampered: it holds "${unused}", which its graph does not use; ${AGAIN}`,
    );
  }
  for (const module of snapshot.modules) {
    if (byPath.get(module.path)!.digest !== module.digest) {
      throw refusal(
        "tampered",
        container,
        `${subject}: tampered: "${module.path}" hashes to ${module.digest}, not the ${
          byPath.get(module.path)!.digest
        } written beside it; ${AGAIN}`,
      );
    }
  }
  return snapshot;
}

/** Reads the artifact file, with read permission on that file alone. */
export function readArtifactFile(
  path: string,
  options: { readonly roots: Roots | undefined; readonly maxBytes: number },
): Uint8Array {
  const { roots } = options;
  if (roots !== undefined && roots.lexicalRootOf(path) === undefined) {
    throw new HotswapError(
      "E_OUTSIDE_ROOTS",
      `Cannot load "${path}": the artifact is outside the roots ${roots.describe()}; move it inside a root or add its directory to roots`,
      { path },
    );
  }
  assertReadable(path, [path], path);
  if (roots !== undefined) {
    // Where it really is: a link inside a root to a file outside it is outside, as a module's is.
    let realPath: string | undefined;
    try {
      realPath = Deno.realPathSync(path);
    } catch {
      // Missing or a loop: the stat below says so.
    }
    if (realPath !== undefined && !roots.holdsReal(realPath)) {
      throw new HotswapError(
        "E_OUTSIDE_ROOTS",
        `Cannot load "${path}": it is a symlink to "${realPath}", outside the roots ${roots.describe()}; replace the link with the file or add "${realPath}"'s directory to roots`,
        { path },
      );
    }
  }
  let info: Deno.FileInfo;
  try {
    info = Deno.statSync(path);
  } catch (error) {
    throw new HotswapError(
      "E_NOT_FOUND",
      `Cannot load "${path}": no such file; check the path (relative paths start at ${Deno.cwd()})`,
      { path, cause: error },
    );
  }
  if (!info.isFile) {
    throw new HotswapError("E_NOT_FOUND", `Cannot load "${path}": it is not a file; name a .hsgen file`, {
      path,
    });
  }
  // Base64 adds a third; the manifest and JSON syntax a little more.
  const limit = Math.ceil(options.maxBytes * 4 / 3) + 1024 * 1024;
  if (info.size > limit) {
    throw new HotswapError(
      "E_IMPORT",
      `Cannot load "${path}": the artifact is ${info.size} bytes, more than a generation of maxSnapshotBytes (${options.maxBytes}) can take; raise the maxSnapshotBytes option`,
      { path },
    );
  }
  return Deno.readFileSync(path);
}

export function refusal(
  reason: SignatureError["reason"],
  path: string,
  message: string,
  cause?: unknown,
): SignatureError {
  return new SignatureError(reason, message, { path, ...(cause === undefined ? {} : { cause }) });
}

/** Sets the artifact's path on a refusal raised without one. */
export function withPath<T>(path: string, run: () => T): T {
  try {
    return run();
  } catch (error) {
    throw named(error, path);
  }
}

export async function withPathAsync<T>(path: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    throw named(error, path);
  }
}

function named(error: unknown, path: string): unknown {
  if (error instanceof HotswapError && error.path === undefined) {
    Object.defineProperty(error, "path", { value: path, enumerable: true, configurable: true });
  }
  return error;
}
