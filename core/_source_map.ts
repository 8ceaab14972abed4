/**
 * Rewrites a module's text at given ranges and describes the result with an
 * inline source map, so stack frames in the rewritten text name the original
 * file, line and column. Lines never move (a replaced specifier holds no line
 * break), columns shift only after a replacement on its own line.
 *
 * @module
 */

/** Text to put in place of `source.slice(start, end)`. */
export interface Replacement {
  readonly start: number;
  readonly end: number;
  readonly text: string;
}

/** What ECMAScript counts as a line break, hence V8's line numbers. */
const LINE_BREAK = /\r\n?|[\n\u2028\u2029]/g;
/**
 * Where a segment starts: a word, or any other visible character (Unicode
 * spaces and line breaks end a word, as ASCII ones do). A stack
 * frame's column is the start of a token, and a source map gives the column
 * of the segment at or before it, so every token start gets a segment.
 */
const TOKEN = /(?:[\w$]|(?![\s\uFEFF])[\u0080-\uffff])+|\S/g;

/**
 * Applies `replacements` (sorted, not overlapping) to `source`; with
 * `sourceUrl`, appends a `//# sourceMappingURL=data:` comment whose map sends
 * every token of the result back to its place in `sourceUrl`.
 *
 * @param source The original text.
 * @param replacements What to replace, in source order.
 * @param sourceUrl The URL stack frames should name, or `undefined` for no map.
 * @returns The rewritten text.
 */
export function rewrite(
  source: string,
  replacements: readonly Replacement[],
  sourceUrl: string | undefined,
): string {
  let text = "";
  let at = 0;
  for (const { start, end, text: replacement } of replacements) {
    text += source.slice(at, start) + replacement;
    at = end;
  }
  text += source.slice(at);
  if (sourceUrl === undefined) return text;
  const original = new Positions(source);
  const generated = new Positions(text);
  // [generated line, generated column, source line, source column], 0-based, in order.
  const segments: [number, number, number, number][] = [];
  const add = (offset: number, shift: number) => {
    segments.push([...generated.at(offset + shift), ...original.at(offset)]);
  };
  let next = 0;
  let shift = 0;
  TOKEN.lastIndex = 0;
  for (let match = TOKEN.exec(source); match !== null; match = TOKEN.exec(source)) {
    let offset = match.index;
    while (next < replacements.length && replacements[next]!.start <= offset) {
      const { start, end, text: replacement } = replacements[next++]!;
      add(start, shift);
      shift += replacement.length - (end - start);
      if (offset < end) {
        // A token inside the replaced text: resume after it.
        TOKEN.lastIndex = end;
        offset = -1;
      }
    }
    if (offset !== -1) add(offset, shift);
  }
  const map = JSON.stringify({ version: 3, sources: [sourceUrl], names: [], mappings: encode(segments) });
  return `${text}\n//# sourceMappingURL=data:application/json;base64,${base64(map)}\n`;
}

/** Offset to line and column, for offsets asked in increasing order. */
/**
 * Where columns move on a line of a rewritten text: `[line, column, delta]`
 * (1-based, as stack frames count), each column at or past `column` in the
 * rewritten line being `delta` further right than in the original.
 */
export type ColumnShift = readonly [line: number, column: number, delta: number];

/**
 * The column shifts `replacements` make in `source`, for a module whose
 * frames name the rewritten text (TypeScript, which keeps Deno's own map):
 * see {@linkcode originalColumn}.
 *
 * @param source The original text.
 * @param replacements What {@linkcode rewrite} replaced, in source order.
 * @returns One shift per replacement that changed a line's length.
 */
export function columnShifts(source: string, replacements: readonly Replacement[]): ColumnShift[] {
  const positions = new Positions(source);
  const shifts: ColumnShift[] = [];
  let line = -1;
  let moved = 0;
  for (const { start, end, text } of replacements) {
    const delta = text.length - (end - start);
    if (delta === 0 || text.includes("\n")) continue;
    const [at, column] = positions.at(end);
    if (at !== line) [line, moved] = [at, 0];
    moved += delta;
    shifts.push([line + 1, column + moved + 1, delta]);
  }
  return shifts;
}

/**
 * The column in the original text of a frame's column in the rewritten one.
 *
 * @param shifts The module's shifts ({@linkcode columnShifts}).
 * @param line The frame's line (1-based).
 * @param column The frame's column (1-based).
 */
export function originalColumn(shifts: readonly ColumnShift[], line: number, column: number): number {
  let original = column;
  for (const [at, from, delta] of shifts) if (at === line && column >= from) original -= delta;
  return original;
}

class Positions {
  readonly #starts: number[] = [0];
  #line = 0;

  constructor(text: string) {
    LINE_BREAK.lastIndex = 0;
    for (let match = LINE_BREAK.exec(text); match !== null; match = LINE_BREAK.exec(text)) {
      this.#starts.push(match.index + match[0].length);
    }
  }

  at(offset: number): [number, number] {
    while (this.#line + 1 < this.#starts.length && this.#starts[this.#line + 1]! <= offset) this.#line++;
    return [this.#line, offset - this.#starts[this.#line]!];
  }
}

function encode(segments: readonly (readonly [number, number, number, number])[]): string {
  let out = "";
  let line = 0, prevGenCol = 0, prevSrcLine = 0, prevSrcCol = 0;
  let first = true;
  for (const [genLine, genCol, srcLine, srcCol] of segments) {
    if (genLine !== line) {
      out += ";".repeat(genLine - line);
      line = genLine;
      prevGenCol = 0;
      first = true;
    } else if (!first && genCol === prevGenCol) {
      continue; // the same position again: it adds nothing
    }
    if (!first) out += ",";
    out += vlq(genCol - prevGenCol) + "A" + vlq(srcLine - prevSrcLine) + vlq(srcCol - prevSrcCol);
    prevGenCol = genCol;
    prevSrcLine = srcLine;
    prevSrcCol = srcCol;
    first = false;
  }
  return out;
}

const DIGITS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

function vlq(value: number): string {
  let rest = value < 0 ? (-value << 1) | 1 : value << 1;
  let out = "";
  do {
    let digit = rest & 31;
    rest >>>= 5;
    if (rest > 0) digit |= 32;
    out += DIGITS[digit];
  } while (rest > 0);
  return out;
}

function base64(text: string): string {
  let binary = "";
  for (const byte of new TextEncoder().encode(text)) binary += String.fromCharCode(byte);
  return btoa(binary);
}
