/**
 * An HTTP server whose handler is hot: every request runs inside
 * `hot.with()` on the generation current when it arrives, SIGHUP (or
 * `--watch`) swaps in the edited app, and no request is dropped by a swap.
 * With `--store`, it is a fleet host instead: it serves what a channel of
 * the fleet's store wants for it, and reports back (SPEC 13, FLEET.md).
 *
 *     deno task serve        # = deno run --allow-read=so,core,deno.json --allow-net=127.0.0.1 demo/server.ts (so/app.ts)
 *     curl -i http://127.0.0.1:8000/
 *     kill -HUP <pid>        # after editing so/app_logic.ts
 *
 * @module
 */

import { HotswapError, type Isolation, type SignalSwaps } from "../mod.ts";
import { type AppRequest, type AppResponse, type HttpApp, httpApp } from "../types/mod.ts";
import { type FleetHost, followChannel } from "../core/fleet/host.ts";
import { type FleetArgs, ISOLATION_HELP } from "./_cli.ts";
import { fleetGrants, fleetHostCommand, lacking } from "./_fleet_grants.ts";
import { displayPath, type Output, shortDigest } from "./_output.ts";
import { onSignals, Program } from "./_program.ts";

const USAGE = `Usage: deno run --allow-read=<dirs> --allow-net=127.0.0.1 demo/server.ts [options] [module]
       deno run --allow-read=<dirs> --allow-write=<dirs> --allow-net=127.0.0.1 demo/server.ts \\
         --store <url> --channel <name> [--host <id>] [--trust <file>] [--cache <dir>] [options]

Serves <module> (default so/app.ts), a generation exporting hs_httpApp, on
127.0.0.1. Each request runs on the generation that is current when it
arrives; a swap never drops or splits a request. The response header
x-hotswap-generation names the generation that served it, and
GET /_hotswap describes the live generations.

With --store, it takes no module: it is a host of a fleet, serving what
<name> wants for it (the stable generation, or the candidate of a rollout
when this host is in its canary), swapping when that changes, and reporting
its calls, errors and latency to the store (see FLEET.md). GET /_hotswap
then also shows the digest the channel wants and the one serving.

Options:
  --port <n>           port on 127.0.0.1 (default 8000; 0 picks a free one)
${ISOLATION_HELP}
  --root <dir>         a directory generations may load from; repeatable
                       (default: the module's own directory)
  --watch              swap when a file of the current generation changes
  --trust <file>       serve only .hsgen artifacts signed by a key of this
                       trust list; a plain module path is refused as unsigned
  -h, --help           show this help

Fleet host:
  --store <url>        sqlite:<file> (embedded; read and write access to its
                       directory) or nats://host:port (NATS JetStream; net)
  --channel <name>     the channel to follow, such as app/prod
  --host <id>          this host's id, unique in the fleet; the canary draw
                       hashes it, so keep it across restarts (default:
                       <hostname>:<pid> with --allow-sys=hostname, else
                       deno:<pid>:<random>; a restart changes it)
  --cache <dir>        where fetched artifacts are written before loading
                       (default: a temporary directory, removed on exit)
  --report-interval <ms>
                       milliseconds between two reports (default 1000)
  --trust <file>       as above: every artifact of the channel is verified;
                       without it artifacts load unverified (a warning says so)

Signals: SIGHUP loads <module> again (edit it, then kill -HUP <pid>; a fleet
host ignores it: the channel decides); SIGINT or SIGTERM stop accepting,
finish the requests in flight, exit 0 (a fleet host also leaves the store).`;

const HOSTNAME = "127.0.0.1";
/** The host's own route, answered without entering a generation. */
const STATUS_PATH = "/_hotswap";
const GENERATION_HEADER = "x-hotswap-generation";

interface ServerOptions {
  /** The module to serve; `undefined` for a fleet host. */
  readonly path: string | undefined;
  readonly port: number;
  readonly isolation: Isolation;
  readonly roots: readonly string[] | undefined;
  readonly watch: boolean;
  readonly trust: string | undefined;
  /** `--store` and its flags: follow a channel instead of serving a module. */
  readonly fleet: FleetArgs | undefined;
}

const program = new Program("demo/server.ts", USAGE);

function parseOptions(args: string[]): ServerOptions {
  const { positionals, number: port, isolation, roots, watch, trust, fleet } = program.parseArgs(
    args,
    { name: "port", fallback: 8000, min: 0, max: 65_535 },
    true,
  );
  if (positionals.length > 1) {
    program.usageError(`Expected at most one [module], got ${positionals.length}: ${positionals.join(" ")}`);
  }
  const path = fleet === undefined ? positionals[0] ?? "so/app.ts" : undefined;
  return { path, port, isolation, roots, watch, trust, fleet };
}

/** How long the same failure of a fleet host (the store unreachable) stays quiet after it was printed. */
const REPEAT_QUIET_MS = 10_000;

/**
 * Follows the channel until its first generation serves; a failure (the
 * store cannot be opened, the first artifact is refused) is printed and
 * exits 1, since a host with nothing to serve has nothing to do.
 */
async function followOrExit(
  options: ServerOptions,
  fleet: FleetArgs,
  out: Output,
  fatal: Output,
): Promise<FleetHost<HttpApp>> {
  const where = `channel ${fleet.channel}`;
  out.line("follow", "info", fleet.channel, fleet.store, `host ${fleet.host}`, `pid ${Deno.pid}`);
  if (options.trust === undefined) {
    out.line("warn", "warn", "no --trust: artifacts from the store load without their signature checked");
  }
  // The follower retries the store every report: say each failure once, not every second.
  const printed = new Map<string, number>();
  const onError = (error: unknown) => {
    const key = error instanceof Error ? error.message : String(error);
    const now = performance.now();
    if (now - (printed.get(key) ?? -Infinity) < REPEAT_QUIET_MS) return;
    if (printed.size > 100) printed.clear();
    printed.set(key, now);
    out.failed(error, where);
  };
  const grants = fleetGrants(fleet, options.trust, options.isolation);
  const lacks = lacking(grants);
  if (lacks.length > 0) {
    fatal.line(
      "error",
      "bad",
      `E_PERMISSION  a fleet host needs ${
        lacks.join(", ")
      } (its store, trust list and cache), which this run does not grant; run it as: ${
        fleetHostCommand(grants, Deno.args)
      }`,
    );
    Deno.exit(1);
  }
  try {
    if (fleet.cache !== undefined) await Deno.mkdir(fleet.cache, { recursive: true });
    return await followChannel(httpApp, {
      store: fleet.store,
      channel: fleet.channel,
      host: fleet.host,
      isolation: options.isolation,
      onError,
      ...(options.trust === undefined ? {} : { trust: options.trust }),
      ...(fleet.cache === undefined ? {} : { cacheDir: fleet.cache }),
      ...(fleet.reportInterval === undefined ? {} : { reportInterval: fleet.reportInterval }),
    });
  } catch (error) {
    // The follower told onError of the refusal already: say why it ends, not the same error twice.
    const key = error instanceof Error ? error.message : String(error);
    if (printed.has(key)) {
      fatal.line("exit", "bad", `${where}: its first generation was refused (above): nothing to serve`);
    } else fatal.failed(error, where);
    Deno.exit(1);
  }
}

/** Copies what an app needs out of a `Request`: plain data crosses a worker boundary, a `Request` cannot. */
async function toAppRequest(request: Request): Promise<AppRequest> {
  return {
    method: request.method,
    url: request.url,
    headers: Object.fromEntries(request.headers),
    body: request.body === null ? "" : await request.text(),
  };
}

/** Turns an app's answer into a `Response`; a malformed answer is the app's bug, reported as such. */
function toResponse(answer: AppResponse, generation: number): Response {
  if (typeof answer !== "object" || answer === null) {
    throw new TypeError(`handle() returned ${answer === null ? "null" : typeof answer}, not an AppResponse`);
  }
  const status = answer.status ?? 200;
  if (!Number.isInteger(status) || status < 200 || status > 599) {
    throw new RangeError(`handle() returned status ${String(status)}; use 200-599`);
  }
  const headers = new Headers(answer.headers);
  headers.set(GENERATION_HEADER, String(generation));
  // A HEAD answer keeps its body here: Deno.serve sends none, but the
  // content-length a GET would get (a null body would say 0).
  const body = status === 204 || status === 304 ? null : answer.body ?? null;
  return new Response(body, { status, headers });
}

function plain(status: number, text: string, headers: Record<string, string> = {}): Response {
  return new Response(`${text}\n`, {
    status,
    headers: { "content-type": "text/plain; charset=utf-8", ...headers },
  });
}

async function main(args: string[]): Promise<never> {
  const options = parseOptions(args);
  // Swaps and refused swaps are ordinary output; failures that end the program go to stderr.
  const { out, fatal } = program;

  // Listen for stop signals first: a fleet host may wait a while for its channel's first generation.
  const { promise: stopped, resolve: stop } = Promise.withResolvers<Deno.Signal>();
  let listening = false;
  program.onStop((signal) => {
    if (listening) return stop(signal);
    // Nothing accepted yet, so nothing to finish.
    out.line("stop", "dim", `${signal} before the first generation served: exiting`);
    Deno.exit(0);
  });

  const fleet = options.fleet === undefined
    ? undefined
    : await followOrExit(options, options.fleet, out, fatal);
  const hot = fleet?.hot ?? await program.register(httpApp, { ...options, path: options.path! });
  hot.addEventListener("retire", (event) => out.retired(event.detail));
  program.reportStrayErrors(hot);
  // Before listening, so that no request waits on it: the first swaps then run at full speed.
  await hot.warm();

  /** What `GET /_hotswap` adds for a fleet host: what the channel wants, what serves. */
  const fleetStatus = () =>
    fleet === undefined || options.fleet === undefined ? {} : {
      fleet: {
        store: options.fleet.store,
        channel: options.fleet.channel,
        host: options.fleet.host,
        desired: fleet.follower.desired ?? null,
        serving: hot.digest,
      },
    };

  async function handler(request: Request): Promise<Response> {
    const url = new URL(request.url);
    if (url.pathname === STATUS_PATH) {
      return Response.json({ ...hot.info(), stats: hot.stats(), ...fleetStatus() }, {
        headers: { "cache-control": "no-store" },
      });
    }
    const appRequest = await toAppRequest(request);
    let generation = 0;
    try {
      const answer = await hot.with((app) => {
        // Read inside with(), synchronously: this is the generation the call was captured on.
        generation = hot.generation;
        return app.handle(appRequest);
      });
      return toResponse(answer, generation);
    } catch (error) {
      if (error instanceof HotswapError && error.code === "E_CLOSED") {
        return plain(503, "Shutting down", { "retry-after": "1", connection: "close" });
      }
      out.failed(error, `${request.method} ${url.pathname} on gen ${generation}`);
      return plain(500, `Internal error in generation ${generation}`, {
        [GENERATION_HEADER]: String(generation),
      });
    }
  }

  let reloads: SignalSwaps | undefined;
  if (options.fleet !== undefined) {
    const channel = options.fleet.channel;
    // The follower swaps and rolls back by itself; say what it did, and which artifact it is.
    hot.addEventListener("swap", ({ detail }) => {
      const label = hot.info().provenance?.manifest.label;
      const back = detail.via === "rollback";
      out.line(
        "swap",
        back ? "warn" : "good",
        `gen ${detail.from} → ${detail.to}`,
        out.paint("info", shortDigest(detail.digest)),
        ...(label === undefined ? [] : [label]),
        out.paint("dim", `(channel ${channel}${back ? ", back to stable" : ""})`),
      );
    });
    onSignals(["SIGHUP"], () => {
      out.line("hup", "dim", `SIGHUP ignored: channel ${channel} decides what serves (hotswap rollout)`);
    });
  } else {
    // SIGHUP reloads the configured module, as daemons re-read their config; bursts fold into one reload.
    // After warm() (above), the reader takes the signal and reads the files while this thread serves.
    reloads = await hot.swapOnSignal("SIGHUP", options.path!, {
      onSwap: (outcome) => {
        if (outcome.ok) out.swapped(outcome.result, hot.info().path, undefined, "SIGHUP");
        else out.failed(outcome.error, "SIGHUP");
      },
    });
  }

  const watcher = options.watch ? await program.watch(hot) : undefined;

  // Watch (and listen for signals, above) before the server prints its address: whoever reads it may edit
  // or signal at once.
  let server: Deno.HttpServer<Deno.NetAddr>;
  try {
    server = Deno.serve({
      hostname: HOSTNAME,
      port: options.port,
      onListen: ({ hostname, port }) => {
        const info = hot.info();
        const label = info.provenance?.manifest.label;
        out.line(
          "serve",
          "info",
          `http://${hostname}:${port}/`,
          options.fleet === undefined ? displayPath(info.path) : `channel ${options.fleet.channel}`,
          `gen ${info.generation}`,
          out.paint("info", shortDigest(info.digest)),
          ...(options.fleet === undefined || label === undefined ? [] : [label]),
          `${info.isolation}${options.watch ? ", watching" : ""}${
            options.fleet === undefined ? "" : `, host ${options.fleet.host}`
          }, pid ${Deno.pid}`,
        );
      },
    }, handler);
    listening = true;
  } catch (error) {
    const hint = error instanceof Deno.errors.AddrInUse ? `; pick another with --port` : "";
    fatal.failed(new Error(`Cannot listen on ${HOSTNAME}:${options.port}: ${String(error)}${hint}`));
    await hot.close();
    Deno.exit(1);
  }

  const signal = await stopped;
  const inflight = hot.stats().generations.reduce((sum, generation) => sum + generation.inflight, 0);
  out.line("stop", "dim", `${signal}: no new connections; finishing ${inflight} request(s) in flight`);
  // Order matters: the server first finishes its requests, which still run on
  // the live generations; only then may close() refuse new calls and drain.
  // Closing first would answer requests already accepted with 503.
  await server.shutdown();
  await watcher?.close();
  // A reload under way still completes (close() waits for it); none starts after this.
  // SIGHUP stays handled until the exit: with no listener, Deno would end the process by it.
  if (reloads !== undefined) {
    onSignals(["SIGHUP"], () => out.line("hup", "dim", "SIGHUP ignored: shutting down"));
    reloads.close();
  }
  // A fleet host's reference first stops following, removes its report (the
  // gate stops counting it at once) and closes the store.
  await hot.close();
  out.line("closed", "dim", "bye");
  // Exit explicitly rather than idle out (SPEC 10): a generation's pending timer must not keep us up.
  Deno.exit(0);
}

if (import.meta.main) await main(Deno.args);
