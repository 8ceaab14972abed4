/**
 * How a generation's stacks are formatted where it runs apart from the host
 * (a worker, a process): as V8 does (`Name: message`, then one `at` line a
 * frame), with two changes. Frames name the generation's files instead of
 * the `blob:` URLs its modules were minted at, for the stacks the
 * generation logs or reads itself (those that reach the host are renamed
 * there too). And a huge message is cut: Deno's own formatter panics,
 * ending the process, on a message of about 2^29 characters (measured on
 * 2.9.6).
 *
 * Imports nothing host-only.
 *
 * @module
 */

/** Longest message a stack trace repeats. */
const STACK_MESSAGE_LIMIT = 16 * 1024;

/** Minted URL to file path, for the frames; set at each load. */
let fileNames: readonly (readonly [string, string])[] = [];

/**
 * Names the files of the generation loading here, for the frames of every
 * stack formatted from now on.
 *
 * @param files Minted URL (and source-map URL) to file path.
 */
export function nameFrames(files: ReadonlyMap<string, string>): void {
  fileNames = [...files];
}

/** `text` with the minted URLs it names replaced by the files they were minted from. */
export function nameFiles(text: string): string {
  for (let i = 0; i < fileNames.length; i++) {
    const [url, path] = fileNames[i]!;
    if (text.includes(url)) text = text.replaceAll(url, path);
  }
  return text;
}

/**
 * `Error.prepareStackTrace`: formats a stack as V8 does, frames renamed and the message cut.
 *
 * @param error The error whose stack is made.
 * @param frames Its call sites.
 * @returns The stack text.
 */
export function formatStack(error: unknown, frames: readonly { toString(): string }[]): string {
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
  for (const frame of frames) stack += `\n    at ${nameFiles(String(frame))}`;
  return stack;
}
