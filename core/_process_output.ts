/**
 * What a generation process prints, as the host handles it. Its console
 * output arrives as `LOG` frames and is forwarded to the host's console with
 * control characters escaped (so it cannot drive the host's terminal) and
 * at most a budget of bytes per second (so a flood costs the host bounded
 * time). Its stderr, where only Deno's own diagnostics go (an uncaught
 * error, an out-of-memory report, the watchdog's reason), is kept as a
 * bounded tail and quoted when the process dies.
 *
 * @module
 */

import { escapeControls } from "./_escape_controls.ts";

/** Bytes of the process's stderr kept for messages (its last ones). */
const STDERR_TAIL = 8 * 1024;
/** Characters of that tail quoted in a message. */
const QUOTED_TAIL = 1_500;
/** Console output forwarded per second per process; the rest is dropped and counted. */
const LOG_BUDGET = 1024 * 1024;

/** The output of one process: a stderr tail and the console forwarding budget. */
export class ProcessOutput {
  /** Minted URL to file path as the process reported them, to name files in its stderr. */
  files: readonly (readonly [string, string])[] = [];
  readonly #stderr = new Uint8Array(STDERR_TAIL);
  #stderrBytes = 0;
  #window = 0;
  #bytes = 0;
  #dropped = 0;

  /**
   * Forwards a console line, escaped, within the per-second budget.
   *
   * @param error Whether it goes to the host's stderr (else stdout).
   * @param text The formatted line.
   * @param entry The generation's entry, to name it when output is dropped.
   */
  log(error: boolean, text: string, entry: string): void {
    const now = Math.floor(performance.now() / 1000);
    if (now !== this.#window) {
      if (this.#dropped > 0) {
        printSafely(true, `[hotswap] ${this.#dropped} bytes of console output from "${entry}" were dropped`);
      }
      this.#window = now;
      this.#bytes = 0;
      this.#dropped = 0;
    }
    this.#bytes += text.length;
    if (this.#bytes > LOG_BUDGET) {
      this.#dropped += text.length;
      return;
    }
    printSafely(error, escapeControls(text));
  }

  /** Keeps the last bytes of stderr. */
  keepStderr(bytes: Uint8Array): void {
    const tail = this.#stderr;
    if (bytes.length >= tail.length) {
      tail.set(bytes.subarray(bytes.length - tail.length));
      this.#stderrBytes = tail.length;
      return;
    }
    const keep = Math.min(this.#stderrBytes, tail.length - bytes.length);
    tail.copyWithin(0, this.#stderrBytes - keep, this.#stderrBytes);
    tail.set(bytes, keep);
    this.#stderrBytes = keep + bytes.length;
  }

  /** The last lines the process wrote to stderr, files named, escaped, for a message. */
  stderrTail(): string {
    let text = new TextDecoder().decode(this.#stderr.subarray(0, this.#stderrBytes)).trim();
    if (text === "") return "";
    // Cut before files are named, and after each: the process chose the names, and a name
    // met many times would otherwise make the text grow with every one.
    const tail = (text: string) => text.length > QUOTED_TAIL ? `…${text.slice(-QUOTED_TAIL)}` : text;
    text = tail(text);
    for (const [url, path] of this.files) if (text.includes(url)) text = tail(text.replaceAll(url, path));
    return escapeControls(text);
  }
}

function printSafely(error: boolean, text: string): void {
  try {
    if (error) console.error(text);
    else console.log(text);
  } catch {
    // The host's own output is closed: nothing to forward to.
  }
}
