/**
 * Fleet test helpers: host processes (tests/fixtures/fleet_host.ts) whose
 * output tells what they serve and since when, and signed artifacts of a
 * one-file generation.
 */

import { defineContract } from "../core/contract.ts";
import { packArtifact } from "../core/artifact.ts";
import { generateSigningKey, type SigningKey } from "../core/signature.ts";

const HOST_PROGRAM = new URL("./fixtures/fleet_host.ts", import.meta.url).pathname;
const LOCK = new URL("./deno.lock", import.meta.url).pathname;

/** The contract of tests/fixtures/fleet_host.ts. */
export const greeter = defineContract<{ greet(name: string): string }>({
  name: "FleetGreeter",
  version: "1.0.0",
  symbol: "hs_greeter",
  shape: { greet: "function" },
});

/** Wall-clock milliseconds with sub-millisecond precision, comparable across processes. */
export function now(): number {
  return performance.timeOrigin + performance.now();
}

/** Signs one-file generations in `dir` with a key a trust list at `<dir>/trust.json` trusts. */
export class Packer {
  #sequence = 0;
  private constructor(readonly dir: string, readonly key: SigningKey, readonly stranger: SigningKey) {}

  static async create(dir: string): Promise<Packer> {
    const packer = new Packer(dir, await generateSigningKey(), await generateSigningKey());
    await Deno.writeTextFile(
      packer.trustFile,
      JSON.stringify({
        version: 1,
        keys: [{ keyid: packer.key.keyid, publicKey: packer.key.publicKey }],
        revoked: [],
      }),
    );
    return packer;
  }

  get trustFile(): string {
    return `${this.dir}/trust.json`;
  }

  /** Packs `greet: (n) => "<word> " + n`; `forged` signs with a key the trust list does not hold. */
  async pack(word: string, forged = false): Promise<{ bytes: Uint8Array; digest: string; file: string }> {
    const src = `${this.dir}/src-${word}`;
    await Deno.mkdir(src, { recursive: true });
    await Deno.writeTextFile(
      `${src}/greeter.ts`,
      `export const hs_greeter = { greet: (n: string) => "${word} " + n };`,
    );
    const packed = await packArtifact(`${src}/greeter.ts`, {
      contract: greeter,
      key: forged ? this.stranger : this.key,
      label: word,
      sequence: ++this.#sequence,
    });
    const file = `${this.dir}/${word}.hsgen`;
    await Deno.writeFile(file, packed.bytes);
    return { bytes: packed.bytes, digest: packed.manifest.digest, file };
  }
}

/** A host process running tests/fixtures/fleet_host.ts; its stdout tells what it serves and when. */
export class HostProcess {
  readonly serving: { digest: string; at: number }[] = [];
  readonly #child: Deno.ChildProcess;
  readonly #reading: Promise<void>;
  #waiters: (() => void)[] = [];

  /** Starts `fleet_host.ts <store> <channel> <host> <trust.json> <cache dir>`. */
  constructor(args: string[]) {
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        `--lock=${LOCK}`,
        "--allow-read",
        "--allow-write",
        "--allow-net=127.0.0.1",
        HOST_PROGRAM,
        ...args,
      ],
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    this.#child = child;
    this.#reading = (async () => {
      let buffer = "";
      for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
        buffer += chunk;
        let newline;
        while ((newline = buffer.indexOf("\n")) >= 0) {
          const [word, digest, at] = buffer.slice(0, newline).split(" ");
          buffer = buffer.slice(newline + 1);
          if (word === "serving") this.serving.push({ digest: digest!, at: Number(at) });
          for (const wake of this.#waiters.splice(0)) wake();
        }
      }
    })();
  }

  get digest(): string | undefined {
    return this.serving.at(-1)?.digest;
  }

  /** When this host started serving `digest` after `since` (epoch ms), waiting up to `timeoutMs`. */
  async servingSince(digest: string, since: number, timeoutMs = 30_000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    while (true) {
      const found = this.serving.find((entry) => entry.digest === digest && entry.at >= since);
      if (found !== undefined) return found.at;
      if (Date.now() > deadline) {
        throw new Error(
          `a host never served ${digest}: it served ${this.serving.map((e) => e.digest).join(", ")}`,
        );
      }
      const { promise, resolve } = Promise.withResolvers<void>();
      this.#waiters.push(resolve);
      const timer = setTimeout(resolve, 100);
      await promise;
      clearTimeout(timer);
    }
  }

  /** Ends it gracefully (stdin closed). */
  async stop(): Promise<void> {
    try {
      await this.#child.stdin.close();
    } catch {
      // Already closed (killed).
    }
    await this.#child.status;
    await this.#reading;
  }

  /** Ends it at once, as a crash would. */
  async kill(): Promise<void> {
    this.#child.kill("SIGKILL");
    await this.#child.status;
    await this.#reading;
    await this.#child.stdin.close().catch(() => {});
  }
}
