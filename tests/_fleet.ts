/**
 * Fleet test helpers: host processes, either real `demo/server.ts` fleet
 * hosts ({@linkcode FleetServer}, with {@linkcode RequestLoad} to keep them
 * busy) or the bare followChannel() host of tests/fixtures/fleet_host.ts
 * ({@linkcode HostProcess}, for the benchmark), whose output tells what they
 * serve and since when; and signed artifacts of one-file generations.
 */

import { type Contract, defineContract } from "../core/contract.ts";
import { packArtifact } from "../core/artifact.ts";
import { generateSigningKey, type SigningKey } from "../core/signature.ts";
import { httpApp } from "../types/mod.ts";
import { Child } from "./_child.ts";
import type { HostReport } from "../core/store/store.ts";

const HOST_PROGRAM = new URL("./fixtures/fleet_host.ts", import.meta.url).pathname;
const SERVER_PROGRAM = new URL("../demo/server.ts", import.meta.url).pathname;
const LOCK = new URL("./deno.lock", import.meta.url).pathname;
const NATS_ADAPTER = new URL("../core/store/nats.ts", import.meta.url).pathname;

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
  pack(word: string, forged = false): Promise<Packed> {
    return this.#pack(
      word,
      "greeter.ts",
      `export const hs_greeter = { greet: (n: string) => "${word} " + n };`,
      greeter,
      forged,
    );
  }

  /**
   * Packs an HTTP app for demo/server.ts that answers `<word>\n`; with
   * `failEvery` its handler throws on every n-th request (inside `hot.with()`,
   * so the host counts it as an error of that generation and answers 500).
   */
  packApp(word: string, options: { failEvery?: number; forged?: boolean } = {}): Promise<Packed> {
    const failEvery = options.failEvery ?? 0;
    return this.#pack(
      word,
      "app.ts",
      `let requests = 0;
export const hs_httpApp = {
  name: ${JSON.stringify(word)},
  handle: () => {
    requests++;
    if (${failEvery} > 0 && requests % ${failEvery} === 0) throw new Error("${word}: request " + requests + " fails");
    return { headers: { "content-type": "text/plain" }, body: ${
        JSON.stringify(`${word}
`)
      } };
  },
};
`,
      httpApp,
      options.forged ?? false,
    );
  }

  async #pack<T>(
    word: string,
    name: string,
    source: string,
    contract: Contract<T>,
    forged: boolean,
  ): Promise<Packed> {
    const src = `${this.dir}/src-${word}`;
    await Deno.mkdir(src, { recursive: true });
    await Deno.writeTextFile(`${src}/${name}`, source);
    const packed = await packArtifact(`${src}/${name}`, {
      contract,
      key: forged ? this.stranger : this.key,
      label: word,
      sequence: ++this.#sequence,
    });
    const file = `${this.dir}/${word}.hsgen`;
    await Deno.writeFile(file, packed.bytes);
    return { bytes: packed.bytes, digest: packed.manifest.digest, file, label: word };
  }
}

/** A packed artifact. */
export interface Packed {
  readonly bytes: Uint8Array;
  readonly digest: string;
  /** Where it was written. */
  readonly file: string;
  readonly label: string;
}

/** A digest as demo/server.ts prints it: the algorithm and 8 characters. */
export function shortDigest(digest: string): string {
  return digest.slice(0, "sha256-".length + 8);
}

/** What `GET /_hotswap` of a fleet host says about the channel. */
export interface FleetStatus {
  readonly digest: string;
  readonly generation: number;
  readonly fleet: { readonly desired: string | null; readonly serving: string; readonly host: string };
}

/** How a {@linkcode FleetServer} is started. */
export interface FleetServerOptions {
  /** The store URL. */
  readonly store: string;
  readonly channel: string;
  readonly host: string;
  /** The trust list. */
  readonly trust: string;
  /** The directory the host may read and write (store file, trust list, cache): its only file access. */
  readonly dir: string;
}

/**
 * A real `demo/server.ts --store … --channel … --host …` process, with only
 * the permissions FLEET.md lists: read and write of one directory (store
 * file, trust list, cache), read of the NATS adapter on NATS, net on
 * loopback. Its output is read as it comes: the `serve` line gives its
 * address, each `swap` line the digest it serves from then on.
 */
export class FleetServer {
  readonly host: string;
  readonly #child: Child;
  readonly #served: string[] = [];
  #base = "";
  /** How many of the child's lines {@linkcode FleetServer.served} and {@linkcode FleetServer.base} have read. */
  #read = 0;

  private constructor(options: FleetServerOptions) {
    this.host = options.host;
    this.#child = Child.spawn([
      "run",
      `--lock=${LOCK}`,
      "--no-prompt",
      // The NATS adapter is imported on first use, by a path Deno cannot see ahead: a NATS host reads it.
      `--allow-read=${options.dir}${options.store.startsWith("nats:") ? `,${NATS_ADAPTER}` : ""}`,
      `--allow-write=${options.dir}`,
      "--allow-net=127.0.0.1",
      SERVER_PROGRAM,
      "--port=0",
      `--store=${options.store}`,
      `--channel=${options.channel}`,
      `--host=${options.host}`,
      `--trust=${options.trust}`,
      `--cache=${options.dir}/cache-${options.host}`,
      "--report-interval=200",
    ], { env: { NO_COLOR: "1" } });
  }

  /** Starts a host; it listens once the channel has a generation for it. */
  static spawn(options: FleetServerOptions): FleetServer {
    return new FleetServer(options);
  }

  /** Starts a host and waits until it serves (30 s at most: six of them may share two busy cores). */
  static async start(options: FleetServerOptions): Promise<FleetServer> {
    const server = new FleetServer(options);
    await server.until(() => server.base !== "", "print its address");
    return server;
  }

  /** Every line it printed, stdout and stderr. */
  get lines(): string[] {
    return this.#child.lines.map((line) => line.text);
  }

  /** The short digests it served, in order: the first generation, then each swap or rollback. */
  get served(): readonly string[] {
    this.#readLines();
    return this.#served;
  }

  /** `http://127.0.0.1:<port>/`, once it listens. */
  get base(): string {
    this.#readLines();
    return this.#base;
  }

  /** The short digest it serves now. */
  get serving(): string | undefined {
    return this.served.at(-1);
  }

  /** Waits until it serves `digest`. */
  servingDigest(digest: string, timeoutMs?: number): Promise<void> {
    const wanted = shortDigest(digest);
    return this.until(() => this.serving === wanted, `serve ${wanted}`, timeoutMs);
  }

  /**
   * Waits until `done()` holds, checked after each line it prints; fails
   * after `timeoutMs`, or when it exits first, with its last output.
   */
  async until(done: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
    try {
      await this.#child.until(done, what, timeoutMs);
    } catch (error) {
      throw new Error(
        `host "${this.host}", which served ${this.served.join(", ")}: ${(error as Error).message}`,
      );
    }
  }

  /** Its `GET /_hotswap`. */
  async status(): Promise<FleetStatus> {
    const response = await fetch(`${this.base}_hotswap`);
    return await response.json() as FleetStatus;
  }

  /** SIGTERM: it finishes its requests, leaves the store, exits 0. */
  async stop(): Promise<number> {
    try {
      this.#child.kill("SIGTERM");
    } catch {
      // Exited already.
    }
    const { code } = await this.#child.status;
    await this.#child[Symbol.asyncDispose]();
    return code;
  }

  /** SIGKILL, as a crash. */
  async kill(): Promise<void> {
    await this.#child[Symbol.asyncDispose]();
  }

  /** Reads the `serve` line (its address and first digest) and each `swap` line not read yet. */
  #readLines(): void {
    for (; this.#read < this.#child.lines.length; this.#read++) {
      const line = this.#child.lines[this.#read]!.text;
      const serve = /^serve +(http:\/\/127\.0\.0\.1:\d+\/) .*?(sha256-\S{8})/.exec(line);
      if (serve !== null) {
        this.#base = serve[1]!;
        this.#served.push(serve[2]!);
      }
      const swap = /^swap +gen \d+ → \d+ +(sha256-\S{8})/.exec(line);
      if (swap !== null) this.#served.push(swap[1]!);
    }
  }
}

/** A request that did not get a 200. */
export interface FailedRequest {
  readonly host: string;
  /** 0 when no response came. */
  readonly status: number;
  readonly body: string;
}

/** Where a {@linkcode RequestLoad} was: requests answered and failed so far. */
export interface LoadMark {
  readonly ok: number;
  readonly failed: number;
}

/**
 * Steady request load on a fleet: one client per host slot, one request in
 * flight each, `gapMs` between them. The slots array is read on every turn,
 * so a test may replace a host (after {@linkcode RequestLoad.pause}).
 */
export class RequestLoad {
  /** The bodies of the requests answered 200, in order. */
  readonly answered: string[] = [];
  readonly failures: FailedRequest[] = [];
  readonly #hosts: readonly (FleetServer | undefined)[];
  readonly #gapMs: number;
  readonly #paused = new Set<number>();
  readonly #inflight = new Map<number, Promise<void>>();
  readonly #stop = new AbortController();
  readonly #loops: Promise<void>[];

  constructor(hosts: readonly (FleetServer | undefined)[], gapMs = 20) {
    this.#hosts = hosts;
    this.#gapMs = gapMs;
    this.#loops = hosts.map((_, slot) => this.#loop(slot));
  }

  /** Where the counts are now, to tell a phase's requests from the rest. */
  mark(): LoadMark {
    return { ok: this.answered.length, failed: this.failures.length };
  }

  /** Stops sending to a slot, once its request in flight is answered. */
  async pause(slot: number): Promise<void> {
    this.#paused.add(slot);
    await this.#inflight.get(slot);
  }

  resume(slot: number): void {
    this.#paused.delete(slot);
  }

  async stop(): Promise<void> {
    this.#stop.abort();
    await Promise.all(this.#loops);
  }

  async #loop(slot: number): Promise<void> {
    while (!this.#stop.signal.aborted) {
      const host = this.#hosts[slot];
      if (host !== undefined && host.base !== "" && !this.#paused.has(slot)) {
        const request = this.#request(host);
        this.#inflight.set(slot, request);
        await request;
      }
      // Pacing, not synchronisation: six hosts and their clients share two cores.
      await new Promise((resolve) => setTimeout(resolve, this.#gapMs));
    }
  }

  async #request(host: FleetServer): Promise<void> {
    try {
      const response = await fetch(host.base);
      const body = await response.text();
      if (response.status === 200) this.answered.push(body);
      else this.failures.push({ host: host.host, status: response.status, body });
    } catch (error) {
      this.failures.push({ host: host.host, status: 0, body: String(error) });
    }
  }
}

/** A host process running tests/fixtures/fleet_host.ts; its stdout tells what it serves and when. */
export class HostProcess {
  readonly #child: Child;
  readonly #serving: { digest: string; at: number }[] = [];
  /** How many of the child's lines {@linkcode HostProcess.serving} has read. */
  #read = 0;

  /** Starts `fleet_host.ts <store> <channel> <host> <trust.json> <cache dir>`. */
  constructor(args: string[]) {
    this.#child = Child.spawn([
      "run",
      `--lock=${LOCK}`,
      "--allow-read",
      "--allow-write",
      "--allow-net=127.0.0.1",
      HOST_PROGRAM,
      ...args,
    ]);
  }

  /** Each `serving <digest> <epoch ms>` line of its stdout so far. */
  get serving(): readonly { digest: string; at: number }[] {
    for (; this.#read < this.#child.lines.length; this.#read++) {
      const { stream, text } = this.#child.lines[this.#read]!;
      const [word, digest, at] = text.split(" ");
      if (stream === "out" && word === "serving") this.#serving.push({ digest: digest!, at: Number(at) });
    }
    return this.#serving;
  }

  get digest(): string | undefined {
    return this.serving.at(-1)?.digest;
  }

  /** When this host started serving `digest` after `since` (epoch ms), waiting up to `timeoutMs`. */
  async servingSince(digest: string, since: number, timeoutMs = 30_000): Promise<number> {
    const found = () => this.serving.find((entry) => entry.digest === digest && entry.at >= since);
    try {
      await this.#child.until(() => found() !== undefined, `serve ${digest}`, timeoutMs);
    } catch (error) {
      throw new Error(
        `a host never served ${digest}: it served ${this.serving.map((e) => e.digest).join(", ")}; ${
          (error as Error).message
        }`,
      );
    }
    return found()!.at;
  }

  /** Ends it gracefully (stdin closed). */
  async stop(): Promise<void> {
    await this.#child.closeStdin();
    await this.#child.status;
    await this.#child[Symbol.asyncDispose]();
  }

  /** Ends it at once, as a crash would. */
  async kill(): Promise<void> {
    await this.#child[Symbol.asyncDispose]();
  }
}

/**
 * A host's report: serving `digest` with healthy figures, unless `overrides` says otherwise.
 *
 * @param host The host's id.
 * @param digest What it serves (and the channel wants of it).
 */
export function report(host: string, digest: string, overrides: Partial<HostReport> = {}): HostReport {
  return {
    host,
    generation: 1,
    digest,
    desired: digest,
    state: "serving",
    calls: 1000,
    errors: 0,
    p50: 1,
    p99: 5,
    at: 20_000,
    interval: 1_000,
    ...overrides,
  };
}
