/**
 * The seed's demo, as GHC.Hotswap's: every interval it prints the current
 * generation's data and calls its function; it reads module paths from
 * stdin and swaps to each one while the loop keeps running.
 *
 *     deno task demo                       # = deno run --allow-read=so demo/main.ts so/Handles.ts
 *     deno run --allow-read=so demo/main.ts --help
 *
 * @module
 */

import type { Isolation } from "../mod.ts";
import { soHandles } from "../types/mod.ts";
import { ISOLATION_HELP, pause, readLines } from "./_cli.ts";
import { displayPath, shortDigest } from "./_output.ts";
import { escapeControls } from "../core/_escape_controls.ts";
import { Program } from "./_program.ts";

const USAGE = `Usage: deno run --allow-read=<dirs> demo/main.ts [options] <module>

Loads <module>, a generation exporting hs_soHandles (such as so/Handles.ts),
prints its data every interval and calls its someFn(7). Type the path of
another generation and press Enter to swap to it while the loop runs; a
broken one is refused and the current generation keeps running.
End of input (Ctrl-D) or Ctrl-C closes gracefully: calls drain, exit 0.

Options:
  --interval <ms>      milliseconds between ticks (default 1000)
${ISOLATION_HELP}
  --root <dir>         a directory generations may load from; repeatable
                       (default: each module's own directory)
  --watch              swap again when a file of the current generation changes
  --trust <file>       load only .hsgen artifacts signed by a key of this
                       trust list (hotswap keygen, trust add, pack); a
                       plain module path is then refused as unsigned
  -h, --help           show this help

Permissions: the demo reads files, and in process isolation runs deno.
\`deno task demo\` grants --allow-read=so,core,deno.json (generations, and
what worker isolation needs), --allow-run=<the deno executable> (process
isolation) and --no-prompt, so a missing permission is a denial, never a
prompt. To swap to modules elsewhere, grant their directory too:
  deno run --no-prompt --allow-read=so,/tmp/my-copy demo/main.ts so/Handles.ts
A path outside the grant is refused with E_PERMISSION, naming the flag to add.
An artifact needs read access to its .hsgen file only (and --trust to the
trust list file): --allow-read=so,core,deno.json,app.hsgen,trust.json`;

interface DemoOptions {
  readonly path: string;
  readonly interval: number;
  readonly isolation: Isolation;
  readonly roots: readonly string[] | undefined;
  readonly watch: boolean;
  readonly trust: string | undefined;
}

const program = new Program("demo/main.ts", USAGE);

function parseOptions(args: string[]): DemoOptions {
  const { positionals, number: interval, isolation, roots, watch, trust } = program.parseArgs(args, {
    name: "interval",
    fallback: 1000,
    min: 1,
    max: 86_400_000,
  });
  if (positionals.length !== 1) {
    program.usageError(
      positionals.length === 0
        ? "Missing <module>: name the first generation, such as so/Handles.ts"
        : `Expected one <module>, got ${positionals.length}: ${positionals.join(" ")}`,
    );
  }
  return { path: positionals[0]!, interval, isolation, roots, watch, trust };
}

async function main(args: string[]): Promise<never> {
  const options = parseOptions(args);
  // A refused swap is ordinary output; failures that end the program go to stderr.
  const out = program.out;

  const hot = await program.register(soHandles, options);
  hot.addEventListener("retire", (event) => out.retired(event.detail));
  program.reportStrayErrors(hot);

  const info = hot.info();
  out.line(
    "demo",
    "info",
    displayPath(info.path),
    `gen ${info.generation}`,
    out.paint("info", shortDigest(info.digest)),
    `${info.isolation}, every ${options.interval} ms${options.watch ? ", watching" : ""}`,
  );
  out.text("Type a module path and Enter to swap; Ctrl-D or Ctrl-C to stop.", "dim");

  const stop = new AbortController();

  async function tick(): Promise<void> {
    try {
      await hot.with(async (handle) => {
        // Read inside with(): the generation is the one this call was captured on.
        out.line(
          `gen ${hot.generation}`,
          "info",
          out.paint("dim", shortDigest(hot.digest)),
          escapeControls(String(handle.someData)),
        );
        // In worker isolation a function member returns a promise; inline it returns nothing.
        await handle.someFn(7);
      });
    } catch (error) {
      // A generation whose someFn throws must not stop the loop: say so and tick on.
      out.failed(error, "tick");
    }
  }

  /** Generations with a tick's call still running: a someFn that never returns must not stop the demo. */
  const stuck = new Set<number>();

  async function ticks(): Promise<void> {
    while (!stop.signal.aborted) {
      const generation = hot.generation;
      if (!stuck.has(generation)) {
        const call = tick();
        // Waited for one interval at most: past that, the loop ticks on, and
        // resumes on the next generation as soon as a fix is swapped in.
        const settled = await Promise.race([call.then(() => true), pause(options.interval, stop.signal)]);
        if (settled !== true && !stop.signal.aborted) {
          stuck.add(generation);
          out.line(
            `gen ${generation}`,
            "bad",
            `someFn(7) has not returned after ${options.interval} ms: no more ticks on this generation; swap in a fix`,
          );
          call.finally(() => stuck.delete(generation));
        }
      }
      await pause(options.interval, stop.signal);
    }
  }

  const watcher = options.watch ? await program.watch(hot) : undefined;

  let ticking: Promise<void> = Promise.resolve();
  let closing: Promise<never> | undefined;

  function shutdown(reason: string): Promise<never> {
    closing ??= (async () => {
      out.line("stop", "dim", `${reason}: letting calls on generation ${hot.generation} drain`);
      stop.abort();
      await ticking;
      await watcher?.close();
      await hot.close();
      out.line("closed", "dim", "bye");
      // Exit explicitly: a generation's never-settling top-level await would
      // otherwise end the process with code 1 once the event loop idles (SPEC 10).
      Deno.exit(0);
    })();
    return closing;
  }

  // Listen before the first tick prints: whoever sees output may already send Ctrl-C.
  program.onStop((signal) => {
    shutdown(signal).catch((error) => {
      console.error("Closing failed:", error);
      Deno.exit(1);
    });
  });

  ticking = ticks();
  out.text("Next module to use:");
  for await (const line of readLines(Deno.stdin.readable)) {
    const path = line.trim();
    if (closing !== undefined) break;
    if (path !== "") await program.swap(hot, path, "stdin");
    out.text("Next module to use:");
  }
  return await shutdown("end of input");
}

if (import.meta.main) await main(Deno.args);
