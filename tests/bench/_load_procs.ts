/**
 * The load harness's view of a server's processes: their resident memory,
 * what their stderr last said, and stopping them all.
 *
 * Deno lets a program read `/proc/<pid>/status` only with all permissions,
 * so a `sh` child reads it (the harness may run processes).
 *
 * @module
 */

/** A process tree's resident memory. */
export interface TreeMemory {
  /** Sum of VmRSS, KiB. */
  rssKiB: number;
  /** The processes summed, the root first, then its descendants, with their command names (`/proc/<pid>/comm`). */
  processes: { pid: number; comm: string }[];
}

/** Lists the root and its descendants, one `pid comm VmRSS-KiB` line each. */
const TREE_SCRIPT = `tree() {
  echo "$1"
  for child in $(cat /proc/"$1"/task/*/children 2>/dev/null); do tree "$child"; done
}
for pid in $(tree "$1"); do
  comm=$(cat /proc/"$pid"/comm 2>/dev/null) || continue
  rss=$(sed -n 's/^VmRSS:[[:space:]]*\\([0-9]*\\) kB$/\\1/p' /proc/"$pid"/status 2>/dev/null)
  echo "$pid $comm \${rss:-0}"
done`;

/**
 * Reads the VmRSS of `pid` and its descendants.
 *
 * @returns The sum, or `undefined` when the process is gone or /proc cannot be read.
 */
export async function treeMemory(pid: number): Promise<TreeMemory | undefined> {
  try {
    const { success, stdout } = await new Deno.Command("sh", {
      args: ["-c", TREE_SCRIPT, "sh", String(pid)],
      stdin: "null",
      stderr: "null",
      signal: AbortSignal.timeout(5_000),
    }).output();
    if (!success) return undefined;
    const rows = new TextDecoder().decode(stdout).trim().split("\n").filter((row) => row !== "")
      .map((row) => row.split(" "));
    if (rows.length === 0 || Number(rows[0]![0]) !== pid) return undefined;
    return {
      rssKiB: rows.reduce((sum, row) => sum + (Number(row.at(-1)) || 0), 0),
      processes: rows.map((row) => ({ pid: Number(row[0]), comm: row.slice(1, -1).join(" ") })),
    };
  } catch {
    return undefined;
  }
}

/** Keeps the last few KiB a process writes to stderr, draining the pipe so it never blocks. */
export class StderrTail {
  #text = "";
  readonly done: Promise<void>;

  constructor(stream: ReadableStream<Uint8Array>) {
    this.done = (async () => {
      try {
        for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
          this.#text = (this.#text + chunk).slice(-4_000);
        }
      } catch { /* the process is gone */ }
    })();
  }

  /** The last lines written. */
  lines(count = 8): string {
    return this.#text.trimEnd().split("\n").slice(-count).join("\n");
  }
}

/**
 * Stops a server: SIGTERM, then SIGKILL after `graceMs`; then SIGKILLs any
 * of `children` (processes seen under it) still alive with the same command
 * name, which should not happen.
 *
 * @returns A warning when something had to be killed, else `undefined`.
 */
export async function stopServer(
  server: Deno.ChildProcess,
  children: readonly { pid: number; comm: string }[],
  graceMs = 5_000,
): Promise<string | undefined> {
  const warnings: string[] = [];
  try {
    server.kill("SIGTERM");
  } catch { /* already gone */ }
  let timer: ReturnType<typeof setTimeout> | undefined;
  const exited = await Promise.race([
    server.status.then(() => true),
    new Promise<false>((resolve) => timer = setTimeout(() => resolve(false), graceMs)),
  ]);
  clearTimeout(timer);
  if (!exited) {
    warnings.push(`server ${server.pid} ignored SIGTERM for ${graceMs} ms: killed`);
    try {
      server.kill("SIGKILL");
    } catch { /* gone meanwhile */ }
    await server.status;
  }
  if (children.length > 0) {
    // Give the children a moment to see their parent go.
    await new Promise((resolve) => setTimeout(resolve, 200));
    const { stdout } = await new Deno.Command("sh", {
      args: [
        "-c",
        'for pid; do comm=$(cat /proc/"$pid"/comm 2>/dev/null) && echo "$pid $comm"; done',
        "sh",
        ...children.map((child) => String(child.pid)),
      ],
      stdin: "null",
      stderr: "null",
    }).output();
    for (const row of new TextDecoder().decode(stdout).split("\n").filter((line) => line !== "")) {
      const [pid, ...comm] = row.split(" ");
      if (!children.some((child) => child.pid === Number(pid) && child.comm === comm.join(" "))) continue;
      try {
        Deno.kill(Number(pid), "SIGKILL");
        warnings.push(`child process ${pid} outlived the server: killed`);
      } catch { /* gone meanwhile */ }
    }
  }
  return warnings.length === 0 ? undefined : warnings.join("; ");
}
