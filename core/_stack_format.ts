/**
 * How a generation's stacks are formatted where it runs apart from the host
 * (a worker, a process): as V8 does (`Name: message`, then one `at` line a
 * frame), with two changes. Frames name the generation's files (by their
 * `file:` URLs, as Deno does) instead of the `blob:` URLs its modules were
 * minted at, for the stacks the generation logs or reads itself (those that
 * reach the host are renamed there too). And a huge message is cut: Deno's
 * own formatter panics, ending the process, on a message of about 2^29
 * characters (measured on 2.9.6).
 *
 * Imports nothing host-only.
 *
 * @module
 */

import { type ColumnShift, originalColumn } from "./_source_map.ts";

/**
 * A path as Deno's call sites give a local module's file (not `node:path`,
 * which the process's program does not import).
 */
const ABSOLUTE_PATH = /^(?:\/|[A-Za-z]:[\\/])/;

/** Longest message a stack trace repeats. */
const STACK_MESSAGE_LIMIT = 16 * 1024;

/** Minted URL to the `file:` URL of its file, and its column shifts; set at each load. */
let fileNames: readonly (readonly [url: string, href: string, shifts: readonly ColumnShift[] | undefined])[] =
  [];

/**
 * Names the files of the generation loading here, for the frames of every
 * stack formatted from now on.
 *
 * @param files Minted URL (and source-map URL) to file path.
 * @param shifts Minted URL to where its columns moved (see `_source_map.ts`).
 */
export function nameFrames(
  files: ReadonlyMap<string, string>,
  shifts: ReadonlyMap<string, readonly ColumnShift[]> = new Map(),
): void {
  fileNames = [...files].map(([url, path]) => [url, fileHref(path), shifts.get(url)]);
}

/** `text` with the minted URLs it names replaced by the `file:` URLs of the files they were minted from. */
export function nameFiles(text: string): string {
  for (let i = 0; i < fileNames.length; i++) {
    const [url, href, shifts] = fileNames[i]!;
    if (text.includes(url)) text = nameFile(text, url, href, shifts);
  }
  return text;
}

/**
 * `text` with `url` replaced by `href`, and the column of each
 * `url:line:column` it holds moved back where the file has it.
 *
 * @param text A stack, a message.
 * @param url A minted URL.
 * @param href What names the file instead.
 * @param shifts Where the minted module's columns moved, if they did.
 */
export function nameFile(
  text: string,
  url: string,
  href: string,
  shifts: readonly ColumnShift[] | undefined,
): string {
  if (shifts === undefined || shifts.length === 0) return text.replaceAll(url, href);
  const at = new RegExp(`${url.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}(?::(\\d+):(\\d+))?`, "g");
  return text.replace(
    at,
    (_match, line?: string, column?: string) =>
      line === undefined ? href : `${href}:${line}:${originalColumn(shifts, Number(line), Number(column))}`,
  );
}

/**
 * How Deno's stacks name the file at an absolute path: its `file:` URL,
 * percent-decoded (`file:///srv/my app/x.ts`).
 *
 * @param path An absolute path.
 * @returns The name.
 */
export function fileHref(path: string): string {
  return path.startsWith("/") ? `file://${path}` : `file:///${path.replaceAll("\\", "/")}`;
}

/**
 * `Error.prepareStackTrace`: formats a stack as V8 does, frames renamed and the message cut.
 *
 * @param error The error whose stack is made.
 * @param frames Its call sites.
 * @returns The stack text.
 */
export function formatStack(
  error: unknown,
  frames: readonly { toString(): string; getFileName?(): unknown }[],
): string {
  let head: string;
  try {
    const { name, message } = error as { name?: unknown; message?: unknown };
    const text = String(message ?? "");
    const shown = text.length > STACK_MESSAGE_LIMIT ? `${text.slice(0, STACK_MESSAGE_LIMIT)}… (cut)` : text;
    head = shown === "" ? String(name ?? "Error") : `${String(name ?? "Error")}: ${shown}`;
  } catch {
    head = "Error";
  }
  let stack = head;
  for (const frame of frames) stack += `\n    at ${asDenoPrints(frame)}`;
  return stack;
}

/**
 * A frame as Deno prints it by default, naming its module's file by its
 * `file:` URL: a module of the generation is named by its minted URL, and
 * Deno hands `prepareStackTrace` call sites that name any other local file
 * by its path.
 */
function asDenoPrints(frame: { toString(): string; getFileName?(): unknown }): string {
  const text = nameFiles(String(frame));
  let file: unknown;
  try {
    file = frame.getFileName?.();
  } catch {
    return text;
  }
  if (typeof file !== "string" || !ABSOLUTE_PATH.test(file)) return text;
  return text.replace(`${file}:`, `${fileHref(file)}:`);
}
