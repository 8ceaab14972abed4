/**
 * What the demo programs print: one short line per event, a fixed-width
 * label first so the lines align, colour only when a person is watching.
 *
 * @module
 */

import { isAbsolute, relative } from "node:path";
import type { HotswapError, RetireReport, SwapResult } from "../mod.ts";
import { escapeControls } from "../core/_escape_controls.ts";

/** Width of the label column; every label fits in it. */
const LABEL_WIDTH = 7;

/** The colours a line may use. */
export type Tone = "plain" | "dim" | "info" | "good" | "warn" | "bad";

const SGR: Readonly<Record<Tone, string>> = {
  plain: "",
  dim: "\x1b[2m",
  info: "\x1b[36m",
  good: "\x1b[32m",
  warn: "\x1b[33m",
  bad: "\x1b[1;31m",
};

/**
 * Whether to colour what goes to `stream`: only for a terminal, and never
 * when `NO_COLOR` is set (`Deno.noColor` reads it without env permission).
 *
 * @param stream The stream the lines go to.
 * @returns `true` to colour.
 */
export function shouldColor(stream: { isTerminal(): boolean }): boolean {
  return stream.isTerminal() && !Deno.noColor;
}

/**
 * The first characters of a digest, enough to tell generations apart:
 * `sha256-a36/w/Oz`.
 *
 * @param digest A `sha256-<base64>` digest.
 * @returns The algorithm and the first 8 characters of the hash.
 */
export function shortDigest(digest: string): string {
  return digest.slice(0, "sha256-".length + 8);
}

/**
 * A path as a person wants to read it: relative to the working directory
 * when it lies inside it, absolute otherwise.
 *
 * @param path An absolute path.
 * @returns The shorter form.
 */
export function displayPath(path: string): string {
  const rel = relative(Deno.cwd(), path);
  return rel === "" || rel.startsWith("..") || isAbsolute(rel) ? path : rel;
}

/** Prints aligned, optionally coloured lines to stdout (or another writer). */
export class Output {
  readonly #color: boolean;
  readonly #write: (line: string) => void;

  /**
   * Creates a printer.
   *
   * @param color Whether to use ANSI colours.
   * @param write Where a finished line goes (default `console.log`, which the
   *   generations' own output also uses, so the two never reorder).
   */
  constructor(color: boolean, write: (line: string) => void = console.log) {
    this.#color = color;
    this.#write = write;
  }

  /**
   * Colours `text` with `tone`, or returns it unchanged without colour.
   *
   * @param tone The colour.
   * @param text The text.
   * @returns The text, wrapped in ANSI codes when colour is on.
   */
  paint(tone: Tone, text: string): string {
    return this.#color && tone !== "plain" ? `${SGR[tone]}${text}\x1b[0m` : text;
  }

  /**
   * Prints one line: the label padded to a fixed width, then the fields
   * separated by two spaces.
   *
   * @param label A short word such as `swap`.
   * @param tone The label's colour.
   * @param fields The rest of the line.
   */
  line(label: string, tone: Tone, ...fields: string[]): void {
    const padded = label.padEnd(LABEL_WIDTH);
    // One space after the padded label, two between fields: columns line up and stay tight.
    this.#write(`${this.paint(tone, padded)} ${fields.join("  ")}`.trimEnd());
  }

  /**
   * Prints a line as it is, unaligned: prompts and hints.
   *
   * @param text The line.
   * @param tone Its colour.
   */
  text(text: string, tone: Tone = "plain"): void {
    this.#write(this.paint(tone, text));
  }

  /**
   * Reports a committed swap: `swap   gen 1 → 2  sha256-…  path  3 ms  (stdin)`.
   *
   * @param result What `swap()` resolved to.
   * @param path The new generation's entry.
   * @param ms How long the swap took, when known.
   * @param via What asked for it.
   */
  swapped(result: SwapResult, path: string, ms: number | undefined, via: string): void {
    // Generations are numbered one more per commit, so the one replaced is always the one before.
    this.line(
      "swap",
      "good",
      `gen ${result.generation - 1} → ${result.generation}`,
      this.paint("info", shortDigest(result.digest)),
      displayPath(path),
      this.paint("dim", `${ms === undefined ? "" : `${Math.round(ms)} ms  `}(${via})`),
    );
  }

  /**
   * Reports a refused swap or any other failure: its code, then its message.
   *
   * @param error What was thrown.
   * @param via What asked for the swap, when it was one.
   */
  failed(error: unknown, via?: string): void {
    // A runtime failure has a code; anything else (a generation's own error) is named by its class.
    const code = (error as Partial<HotswapError> | undefined)?.code ??
      (error instanceof Error ? error.name : undefined);
    const message = error instanceof Error ? error.message : String(error);
    // A generation's own words: they must not drive the operator's terminal.
    this.line(
      "error",
      "bad",
      ...(code === undefined ? [] : [this.paint("bad", escapeControls(String(code)))]),
      escapeControls(message),
      ...(via === undefined ? [] : [this.paint("dim", `(${via})`)]),
    );
  }

  /**
   * Reports an old generation's retirement.
   *
   * @param report The retire report.
   */
  retired(report: RetireReport): void {
    const waited = `${Math.round(report.waitedMs)} ms`;
    this.line(
      "retire",
      report.drained ? "dim" : "warn",
      `gen ${report.generation}`,
      report.drained
        ? this.paint("dim", `drained after ${waited}`)
        : `still busy after ${waited}: unloaded anyway`,
      ...(report.disposeError === undefined
        ? []
        : [`dispose() failed: ${escapeControls(String(report.disposeError))}`]),
    );
  }
}
