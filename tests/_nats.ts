/**
 * A nats-server of the tests' own: on a free loopback port, storing in a
 * temporary directory, stopped (and the directory removed) by disposing it.
 * Where nats-server is not installed, NATS tests are skipped with the reason,
 * except in CI (`CI` set), where they fail: CI must install it (.ci/run does).
 */

/** Whether nats-server runs here; `undefined` when it does, else why not. */
export async function natsMissing(): Promise<string | undefined> {
  try {
    const { success } = await new Deno.Command("nats-server", {
      args: ["--version"],
      stdout: "null",
      stderr: "null",
    })
      .output();
    return success ? undefined : "nats-server --version failed";
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      return "nats-server is not installed (apt-get install nats-server)";
    }
    throw error;
  }
}

/**
 * `Deno.test` for a NATS test: ignored with a one-line reason where
 * nats-server is missing, and failing loudly in CI.
 */
export function natsTest(
  name: string,
  fn: (t: Deno.TestContext) => Promise<void>,
  missing: string | undefined,
) {
  if (missing === undefined) return Deno.test(name, fn);
  if (Deno.env.get("CI") !== undefined) {
    return Deno.test(name, () => {
      throw new Error(`${missing}: CI must run the NATS tests (.ci/run installs nats-server)`);
    });
  }
  Deno.test({ name: `${name} (skipped: ${missing})`, ignore: true, fn });
}

/** A running nats-server with JetStream. */
export class NatsServer implements AsyncDisposable {
  readonly port: number;
  readonly dir: string;
  #child: Deno.ChildProcess | undefined;

  private constructor(port: number, dir: string) {
    this.port = port;
    this.dir = dir;
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  static async start(): Promise<NatsServer> {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (listener.addr as Deno.NetAddr).port;
    listener.close();
    const server = new NatsServer(port, await Deno.makeTempDir({ prefix: "hotswap_nats_" }));
    try {
      await server.restart();
    } catch (error) {
      await server[Symbol.asyncDispose]();
      throw error;
    }
    return server;
  }

  /** Starts the server (again, on the same port and directory, after {@linkcode stop}). */
  async restart(): Promise<void> {
    if (this.#child !== undefined) throw new Error("nats-server is already running");
    this.#child = new Deno.Command("nats-server", {
      args: ["-js", "-a", "127.0.0.1", "-p", String(this.port), "-sd", this.dir],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    // Ready once it accepts a connection; bounded to 10 s.
    const deadline = Date.now() + 10_000;
    while (true) {
      try {
        const conn = await Deno.connect({ hostname: "127.0.0.1", port: this.port });
        conn.close();
        return;
      } catch {
        if (Date.now() > deadline) throw new Error(`nats-server did not listen on ${this.port} within 10 s`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
  }

  /** Stops the server; its data stays for {@linkcode restart}. */
  async stop(): Promise<void> {
    const child = this.#child;
    this.#child = undefined;
    if (child === undefined) return;
    try {
      child.kill("SIGTERM");
    } catch {
      // Already exited.
    }
    await child.status;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }
}
