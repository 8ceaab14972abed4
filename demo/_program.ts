/**
 * What demo/main.ts and demo/server.ts do alike as programs: print to
 * stdout (failures that end them to stderr), read their command line, load
 * the first generation or exit, swap and watch while printing what came of
 * it, and stop on SIGINT or SIGTERM.
 *
 * @module
 */

import {
  type Contract,
  type GraphWatcher,
  type HandleOf,
  type Hotswap,
  type Isolation,
  registerHotswap,
  watchGraph,
} from "../mod.ts";
import { type NumberFlag, parseProgramArgs, type ProgramArgs, usageError } from "./_cli.ts";
import { displayPath, Output, shouldColor } from "./_output.ts";

/** Where a program loads its first generation from, and how. */
export interface FirstGeneration {
  readonly path: string;
  readonly isolation: Isolation;
  readonly roots: readonly string[] | undefined;
  readonly trust: string | undefined;
}

/** One of the demo programs: its name and help, and where it prints. */
export class Program {
  /** Ordinary output: swaps, refused swaps, retirements. */
  readonly out: Output;
  /** Failures that end the program. */
  readonly fatal: Output;
  readonly #name: string;
  readonly #usage: string;

  /**
   * Names a program.
   *
   * @param name Its path, such as `demo/main.ts`, for messages.
   * @param usage Its `--help` text.
   */
  constructor(name: string, usage: string) {
    this.#name = name;
    this.#usage = usage;
    this.out = new Output(shouldColor(Deno.stdout));
    this.fatal = new Output(shouldColor(Deno.stderr), console.error);
  }

  /**
   * Reads the command line; `--help` prints the usage and exits 0, a mistake
   * exits 2.
   *
   * @param args The command line.
   * @param numberFlag The program's own number flag.
   * @param fleet Whether the program can follow a channel of a fleet's store.
   * @returns The flags.
   */
  parseArgs(args: string[], numberFlag: NumberFlag, fleet = false): ProgramArgs {
    return parseProgramArgs(args, this.#name, this.#usage, numberFlag, fleet);
  }

  /**
   * Prints a command-line mistake and where to find the flags, then exits 2.
   *
   * @param message What is wrong with the command line.
   */
  usageError(message: string): never {
    usageError(message, this.#name);
  }

  /**
   * Loads the first generation; a failure is printed and exits 1, since a
   * program with nothing to serve has nothing to do.
   *
   * @param contract The contract generations must meet.
   * @param first The entry, `--isolation`, `--root` and `--trust`.
   * @returns The reference serving generation 1.
   */
  async register<T>(contract: Contract<T>, first: FirstGeneration): Promise<Hotswap<HandleOf<T, Isolation>>> {
    try {
      return await registerHotswap(contract, first.path, {
        isolation: first.isolation,
        ...(first.roots === undefined ? {} : { roots: first.roots }),
        ...(first.trust === undefined ? {} : { trust: first.trust }),
      });
    } catch (error) {
      this.fatal.failed(error);
      Deno.exit(1);
    }
  }

  /**
   * Swaps `hot` to `path` and prints what came of it: a refused swap is
   * ordinary output, never an exception.
   *
   * @param hot The reference.
   * @param path The module to swap to.
   * @param via What asked for the swap (stdin, SIGHUP), printed beside it.
   */
  async swap<T>(hot: Hotswap<T>, path: string, via: string): Promise<void> {
    const started = performance.now();
    try {
      const result = await hot.swap(path);
      this.out.swapped(result, hot.info().path, performance.now() - started, via);
    } catch (error) {
      this.out.failed(error, via);
    }
  }

  /**
   * Starts `--watch` on `hot`, printing each swap it makes; a watch that
   * cannot start is fatal: the reference is closed and the program exits 1.
   *
   * @param hot The reference to keep current.
   * @returns The watcher; close it before `hot`.
   */
  async watch<T>(hot: Hotswap<T>): Promise<GraphWatcher<T>> {
    try {
      return watchGraph(hot, {
        onSwap: (outcome) => {
          const via = `watch: ${outcome.changed.map(displayPath).join(", ")}`;
          if (outcome.ok) this.out.swapped(outcome.result, hot.info().path, undefined, via);
          else this.out.failed(outcome.error, via);
        },
        onError: (error) => this.out.failed(error, "watch"),
      });
    } catch (error) {
      this.fatal.failed(error, "watch");
      await hot.close();
      Deno.exit(1);
    }
  }

  /**
   * Prints what a generation's background work lets escape, instead of
   * ending the program: an inline generation shares this process, where a
   * rejection nobody handles or a throw in a timer ends it (Deno's default).
   * Also prints each restart of a process-isolated generation. The library
   * itself installs no global handler: which is right is the program's call.
   *
   * @param hot The reference, to name the generation serving.
   */
  reportStrayErrors<T>(hot: Hotswap<T>): void {
    const where = (what: string) => `${what}, while generation ${hot.generation} served`;
    globalThis.addEventListener("unhandledrejection", (event) => {
      event.preventDefault();
      this.out.failed(event.reason, where("a rejection nobody handled"));
    });
    globalThis.addEventListener("error", (event) => {
      event.preventDefault();
      this.out.failed(event.error ?? event.message, where("an uncaught error"));
    });
    hot.addEventListener("restart", ({ detail }) => {
      this.out.line(
        "restart",
        "warn",
        `gen ${detail.generation}`,
        `${detail.reason} (restart ${detail.restarts} in the last minute)`,
      );
    });
  }

  /**
   * Calls `stop` on the first SIGINT or SIGTERM, to stop gracefully; a
   * repeat of it within a second is the same keypress (see
   * {@linkcode StopSignals}) and is ignored; one later still exits 130 at
   * once.
   *
   * @param stop Stops the program gracefully.
   */
  onStop(stop: (signal: Deno.Signal) => void): void {
    const stops = new StopSignals();
    onSignals(["SIGINT", "SIGTERM"], (signal) => {
      const meaning = stops.next();
      if (meaning === "force") {
        this.out.line("stop", "warn", `${signal} again: exiting without waiting`);
        Deno.exit(130);
      }
      if (meaning === "stop") stop(signal);
    });
  }
}

/**
 * Listens to the given signals, skipping the ones this OS cannot deliver
 * (Windows has no SIGHUP or SIGTERM listeners).
 *
 * @param signals The signals.
 * @param handler Called with the signal's name.
 * @returns Removes the listeners.
 */
export function onSignals(
  signals: readonly Deno.Signal[],
  handler: (signal: Deno.Signal) => void,
): () => void {
  const usable = Deno.build.os === "windows"
    ? signals.filter((signal) => signal === "SIGINT" || signal === "SIGBREAK")
    : signals;
  const listeners = usable.map((signal) => {
    const listener = () => handler(signal);
    Deno.addSignalListener(signal, listener);
    return [signal, listener] as const;
  });
  return () => {
    for (const [signal, listener] of listeners) Deno.removeSignalListener(signal, listener);
  };
}

/** Milliseconds within which a second stop signal counts as the same keypress. */
const ECHO_WINDOW_MS = 1_000;

/**
 * Tells what a stop signal (SIGINT, SIGTERM) means: the first one stops
 * gracefully; a later one insists on exiting at once. A repeat within a
 * second is the same Ctrl-C delivered twice: under `deno task` the terminal
 * signals the whole process group and the task runner forwards its own copy
 * to the program, a few milliseconds apart.
 */
class StopSignals {
  #first: number | undefined;

  /**
   * Classifies one more stop signal.
   *
   * @returns `"stop"` for the first, `"echo"` for a repeat within a second, `"force"` afterwards.
   */
  next(): "stop" | "echo" | "force" {
    const now = performance.now();
    if (this.#first === undefined) {
      this.#first = now;
      return "stop";
    }
    return now - this.#first < ECHO_WINDOW_MS ? "echo" : "force";
  }
}
