/**
 * Warming the import scanner's parser up, for `Hotswap.warm()`. Every swap
 * parses the files that changed, with Babel's parser: JavaScript, which V8
 * optimises only once it has run often. A server swaps a few times an hour,
 * so each swap parsed with cold code: under the load of `deno task
 * bench:load`, 1.5–5 ms for the sample app's 2 KiB entry, where the same
 * parse takes 0.3–1 ms once the parser has run a few hundred times. Parsing
 * the generation's own files over and over, before any swap, gets it there.
 * Each round also edits a copy of each file, inside a string and then a
 * statement, as most swaps read a file: from its last scan
 * (`_token_edit.ts`) or its last tree (`_incremental_parse.ts`), code that
 * otherwise first runs at the first swap.
 *
 * It runs on the process's off-thread reader (see `_off_thread_reader.ts`),
 * which reads generations, and on the serving thread only when no reader
 * can start there. Once per isolate (V8's optimised code is shared
 * by every reference), and bounded: {@linkcode WARM_UP_BUDGET_MS} of parsing in all, in slices of about
 * {@linkcode WARM_UP_SLICE_MS} with a timer turn between them, so that a
 * server already serving keeps answering. The results are thrown away: the
 * scan cache and what any swap reads are untouched.
 *
 * @module
 */

import { scanFresh } from "./_import_scanner.ts";
import { sourceSyntaxOf } from "./_graph_reader.ts";
import { reparse } from "./_incremental_parse.ts";
import { scriptText, spliceScript } from "./_script_transform.ts";
import { parseProgram, type SourceSyntax } from "./_source_parser.ts";
import { applyTokenEdit, findTokenEdit } from "./_token_edit.ts";
import type { SnapshotModule } from "./snapshot.ts";

/** Milliseconds of parsing a warm-up may spend, in all. */
export const WARM_UP_BUDGET_MS = 250;
/**
 * How long a slice of the warm-up parses before it lets other work run (a
 * slice ends after the parse that crosses it: one parse of a large file,
 * while still cold, takes longer).
 */
export const WARM_UP_SLICE_MS = 4;

/** The isolate's warm-up, once started. */
let warming: Promise<void> | undefined;

/**
 * Parses `modules` (their JavaScript and TypeScript; JSON is not parsed by
 * Babel) round after round until {@linkcode WARM_UP_BUDGET_MS} is spent, the
 * first time it is called in this isolate; later calls share that run.
 *
 * @param modules The files of a generation, whose syntax the next swaps will most likely parse.
 * @returns Resolves when the warm-up is over.
 */
export function warmScanner(modules: readonly SnapshotModule[]): Promise<void> {
  const sources: { source: string; syntax: SourceSyntax }[] = [];
  for (const { path, source } of modules) {
    const syntax = sourceSyntaxOf(path);
    if (syntax !== undefined) sources.push({ source, syntax });
  }
  if (sources.length === 0) return Promise.resolve();
  warming ??= parseFor(sources, WARM_UP_BUDGET_MS);
  return warming;
}

async function parseFor(
  sources: readonly { source: string; syntax: SourceSyntax }[],
  budget: number,
): Promise<void> {
  let spent = 0;
  let next = 0;
  while (spent < budget) {
    const start = performance.now();
    do {
      const { source, syntax } = sources[next++ % sources.length]!;
      try {
        scanFresh(source, syntax);
        editCopy(source, syntax);
      } catch {
        // Refused at its read already, with the reason (an artifact's files are scanned too): nothing to learn.
      }
    } while (performance.now() - start < WARM_UP_SLICE_MS);
    spent += performance.now() - start;
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
}

/**
 * Edits a copy of `source` as a swap reads an edited file: inside a string
 * (from the last scan), then a statement (from the last tree). Nothing of it
 * is kept: the scanner's caches and trees are not touched.
 */
function editCopy(source: string, syntax: SourceSyntax): void {
  const text = `${source}\n;"hotswap warm-up";\n`;
  const program = parseProgram(text, syntax);
  const script = syntax === "ts" || syntax === "js" ? scriptText(text, program) : undefined;
  const edited = `${source}\n;"hotswap warm-up, edited";\n`;
  const edit = findTokenEdit({ source: text, syntax, program }, edited);
  if (edit === undefined) return;
  if (script !== undefined) spliceScript(script, edit.start, edit.oldText, edit.newText);
  applyTokenEdit(program, edit);
  reparse({ source: edited, syntax, program }, `${source}\n;["hotswap warm-up, edited"];\n`);
}
