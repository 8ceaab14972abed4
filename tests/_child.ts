/**
 * The one way tests run a subprocess. {@linkcode Child} is a running `deno`
 * whose output is read line by line as it arrives, so a test awaits the line
 * it expects (bounded by a timeout) instead of sleeping;
 * {@linkcode runToEnd} runs one to its end and hands back all it printed;
 * {@linkcode runSteps} runs a host program of tests/fixtures/ that prints one
 * JSON object per step.
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import { readLines } from "../demo/_cli.ts";

/** The repository root, where `deno task` would run the demos. */
export const REPO: string = fileURLToPath(new URL("..", import.meta.url));

/** One line of output and the stream it came from. */
export interface Line {
  /** `out` for stdout, `err` for stderr. */
  readonly stream: "out" | "err";
  /** The text, without its newline. */
  readonly text: string;
}

/** Options of {@linkcode Child.spawn}. */
export interface SpawnOptions {
  /** Working directory (default: the repository root). */
  cwd?: string;
  /** Extra environment variables. */
  env?: Record<string, string>;
  /** The program to run instead of `deno` (such as `script`, to give the child a terminal). */
  program?: string;
}

/** A running `deno` subprocess with piped stdio. Dispose it to kill and reap it. */
export class Child implements AsyncDisposable {
  /** Every line seen so far, stdout and stderr interleaved as they arrived. */
  readonly lines: Line[] = [];
  readonly #process: Deno.ChildProcess;
  readonly #stdin: WritableStreamDefaultWriter<Uint8Array>;
  readonly #pumps: Promise<void>;
  #stdinClosed = false;
  #outputEnded = false;
  /** Wakes every pending wait when a line arrives or the output ends. */
  readonly #waiters = new Set<() => void>();
  /** Where the next {@linkcode Child.waitFor} starts looking. */
  #cursor = 0;

  private constructor(process: Deno.ChildProcess) {
    this.#process = process;
    this.#stdin = process.stdin.getWriter();
    this.#pumps = Promise.all([this.#pump(process.stdout, "out"), this.#pump(process.stderr, "err")]).then(
      () => {
        this.#outputEnded = true;
        this.#notify();
      },
    );
  }

  /**
   * Runs `deno <args>` (or another program's).
   *
   * @param args Arguments after the `deno` executable.
   * @param options Working directory and environment.
   * @returns The running child.
   */
  static spawn(args: string[], options: SpawnOptions = {}): Child {
    const process = new Deno.Command(options.program ?? Deno.execPath(), {
      args,
      cwd: options.cwd ?? REPO,
      ...(options.env === undefined ? {} : { env: options.env }),
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    return new Child(process);
  }

  /** The child's process id. */
  get pid(): number {
    return this.#process.pid;
  }

  /** Settles with the exit status once the child has exited and all its output is read. */
  get status(): Promise<Deno.CommandStatus> {
    // The process can be reaped before its last lines are through the pipes:
    // a test reading `lines` right after the status must see all of them.
    return this.#pumps.then(() => this.#process.status);
  }

  /** The lines of one stream, as text. */
  text(stream: Line["stream"]): string[] {
    return this.lines.filter((line) => line.stream === stream).map((line) => line.text);
  }

  /**
   * Waits for the next line (after the last one matched) that matches, and
   * moves the cursor past it, so successive waits read the output in order.
   *
   * @param pattern What the line must match.
   * @param timeout Milliseconds to wait before failing with the output so far.
   * @returns The line's regexp match.
   */
  waitFor(pattern: RegExp, timeout = 10_000): Promise<RegExpMatchArray> {
    return this.#await(pattern, timeout, true);
  }

  /**
   * Waits for any line, earlier or later, that matches; the cursor stays.
   * For lines whose order against others is not part of the contract, such
   * as a retirement that completes asynchronously after a swap.
   *
   * @param pattern What the line must match.
   * @param timeout Milliseconds to wait before failing with the output so far.
   * @returns The line's regexp match.
   */
  waitForAnywhere(pattern: RegExp, timeout = 10_000): Promise<RegExpMatchArray> {
    return this.#await(pattern, timeout, false);
  }

  async #await(pattern: RegExp, timeout: number, ordered: boolean): Promise<RegExpMatchArray> {
    let index = ordered ? this.#cursor : 0;
    const found: { match: RegExpMatchArray | null } = { match: null };
    const seen = () => {
      for (; found.match === null && index < this.lines.length; index++) {
        found.match = this.lines[index]!.text.match(pattern);
      }
      return found.match !== null;
    };
    await this.until(seen, `print a line matching ${pattern}`, timeout);
    if (ordered) this.#cursor = index;
    return found.match!;
  }

  /**
   * Waits until `done()` holds, checked now and after each line that
   * arrives: for a state the lines build up (such as the address a server
   * printed) rather than one line. The cursor stays.
   *
   * @param done The condition.
   * @param what What the child should do, for the failure: "print its address".
   * @param timeout Milliseconds to wait before failing with the output so far.
   */
  async until(done: () => boolean, what: string, timeout = 10_000): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const expired = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), timeout);
    });
    try {
      while (!done()) {
        if (this.#outputEnded) throw this.#failure(`did not ${what} before it exited`);
        const arrived = Promise.withResolvers<void>();
        this.#waiters.add(arrived.resolve);
        const outcome = await Promise.race([arrived.promise, expired]);
        this.#waiters.delete(arrived.resolve);
        if (outcome === "timeout") throw this.#failure(`did not ${what} within ${timeout} ms`);
      }
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Writes text to the child's stdin.
   *
   * @param text What to write.
   */
  async write(text: string): Promise<void> {
    await this.#stdin.write(new TextEncoder().encode(text));
  }

  /** Closes the child's stdin (end of input). */
  async closeStdin(): Promise<void> {
    if (this.#stdinClosed) return;
    this.#stdinClosed = true;
    await this.#stdin.close().catch(() => {
      // The child may have exited and closed its end already: nothing left to close.
    });
  }

  /**
   * Sends a signal.
   *
   * @param signal The signal.
   */
  kill(signal: Deno.Signal): void {
    this.#process.kill(signal);
  }

  /** Kills the child if it still runs, then reaps it and its pipes. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.closeStdin();
    try {
      this.#process.kill("SIGKILL");
    } catch {
      // It has exited already: there is nothing to kill, only to reap.
    }
    await this.#process.status;
    await this.#pumps;
  }

  async #pump(stream: ReadableStream<Uint8Array>, name: Line["stream"]): Promise<void> {
    for await (const text of readLines(stream)) {
      this.lines.push({ stream: name, text });
      this.#notify();
    }
  }

  #notify(): void {
    for (const wake of this.#waiters) wake();
    this.#waiters.clear();
  }

  #failure(what: string): Error {
    const tail = this.lines.slice(-30).map((line) => `  ${line.stream}| ${line.text}`).join("\n");
    return new Error(`Child ${this.pid} ${what}; its last output:\n${tail}`);
  }
}

/** Options of {@linkcode runToEnd}. */
export interface RunOptions extends SpawnOptions {
  /** Text written to the child's stdin before it is closed (default: closed at once). */
  stdin?: string;
  /** Milliseconds before the child is killed with SIGKILL (default 60,000). */
  timeout?: number;
}

/** How a child run to its end ended, and all it printed. */
export interface Finished {
  /** The exit code (with a signal, what Deno reports for it). */
  readonly code: number;
  /** The signal that ended it, if one did. */
  readonly signal: Deno.Signal | null;
  /** Whether the timeout had to kill it (it did not exit by itself). */
  readonly killed: boolean;
  /** Its stdout, each line ended by `\n`. */
  readonly stdout: string;
  /** Its stderr, each line ended by `\n`. */
  readonly stderr: string;
}

/**
 * Runs `deno <args>` (or another program's) to its end.
 *
 * @param args Arguments after the `deno` executable.
 * @param options Working directory, environment, stdin and timeout.
 * @returns How it ended and what it printed.
 */
export async function runToEnd(args: string[], options: RunOptions = {}): Promise<Finished> {
  await using child = Child.spawn(args, options);
  if (options.stdin !== undefined) {
    await child.write(options.stdin).catch(() => {
      // The child exited without reading its input: what it printed says why.
    });
  }
  await child.closeStdin();
  let killed = false;
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
      killed = true;
    } catch {
      // It exited just now; a pipe it left to a process of its own is what holds the run up.
    }
  }, options.timeout ?? 60_000);
  try {
    const { code, signal } = await child.status;
    const text = (stream: Line["stream"]) => child.text(stream).map((line) => `${line}\n`).join("");
    return { code, signal, killed, stdout: text("out"), stderr: text("err") };
  } finally {
    clearTimeout(timer);
  }
}

/** tests/fixtures/host.ts: registers its first path, swaps to each further one, prints a step each. */
export const STEPS_HOST: string = fileURLToPath(new URL("./fixtures/host.ts", import.meta.url));

/** What a host of tests/fixtures/ printed, one JSON object per step, and how it ended. */
export interface Steps<Step> {
  readonly steps: Step[];
  readonly code: number;
  readonly stderr: string;
}

/**
 * Runs a host program of tests/fixtures/ (such as {@linkcode STEPS_HOST})
 * with `NO_COLOR`, and reads the steps it printed: its stdout lines that
 * hold a JSON object.
 *
 * @param script The host program's path.
 * @param flags Flags of `deno run`, such as permissions.
 * @param args The program's own arguments.
 * @returns The steps, exit code and stderr.
 */
export async function runSteps<Step = Record<string, unknown>>(
  script: string,
  flags: readonly string[],
  args: readonly string[],
): Promise<Steps<Step>> {
  const { code, stdout, stderr } = await runToEnd(["run", ...flags, script, ...args], {
    env: { NO_COLOR: "1" },
  });
  const steps = stdout.split("\n").filter((line) => line.startsWith("{")).map((line) =>
    JSON.parse(line) as Step
  );
  return { steps, code, stderr };
}

/**
 * Copies files into a directory.
 *
 * @param files Source paths relative to the repository root.
 * @param dir The destination directory (created).
 */
export async function copyInto(files: readonly string[], dir: string): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  for (const file of files) {
    await Deno.copyFile(`${REPO}${file}`, `${dir}/${file.split("/").at(-1)}`);
  }
}

/**
 * Replaces a file atomically (write a sibling, rename it over), as editors
 * do, so a reader never sees it half written.
 *
 * @param path The file.
 * @param text Its new content.
 */
export async function replaceFile(path: string, text: string): Promise<void> {
  const temporary = `${path}.${crypto.randomUUID()}.tmp`;
  await Deno.writeTextFile(temporary, text);
  await Deno.rename(temporary, path);
}
