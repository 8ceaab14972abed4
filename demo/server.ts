/**
 * An HTTP server whose handler is hot: every request runs inside
 * `hot.with()` on the generation current when it arrives, SIGHUP (or
 * `--watch`) swaps in the edited app, and no request is dropped by a swap.
 *
 *     deno task serve        # = deno run --allow-read=so --allow-net=127.0.0.1 demo/server.ts so/app.ts
 *     curl -i http://127.0.0.1:8000/
 *     kill -HUP <pid>        # after editing so/app_logic.ts
 *
 * @module
 */

import { HotswapError, type Isolation } from "../mod.ts";
import { type AppRequest, type AppResponse, type HttpApp, httpApp } from "../types/mod.ts";
import { type GraphWatcher, watchGraph } from "../core/watch.ts";
import {
  Coalescer,
  onSignals,
  parseInteger,
  parseProgramArgs,
  registerOrExit,
  StopSignals,
  usageError,
} from "./_cli.ts";
import { displayPath, Output, shortDigest, shouldColor } from "./_output.ts";

const PROGRAM = "demo/server.ts";
const USAGE = `Usage: deno run --allow-read=<dirs> --allow-net=127.0.0.1 demo/server.ts [options] [module]

Serves <module> (default so/app.ts), a generation exporting hs_httpApp, on
127.0.0.1. Each request runs on the generation that is current when it
arrives; a swap never drops or splits a request. The response header
x-hotswap-generation names the generation that served it, and
GET /_hotswap describes the live generations.

Options:
  --port <n>           port on 127.0.0.1 (default 8000; 0 picks a free one)
  --isolation <mode>   inline (default) or worker: each generation in its
                       own Worker with no permissions; needs Deno's
                       worker-options (deno.json "unstable", as the task
                       has) and read access to the runtime's core/
  --root <dir>         a directory generations may load from; repeatable
                       (default: the module's own directory)
  --watch              swap when a file of the current generation changes
  --trust <file>       serve only .hsgen artifacts signed by a key of this
                       trust list; a plain module path is refused as unsigned
  -h, --help           show this help

Signals: SIGHUP loads <module> again (edit it, then kill -HUP <pid>);
SIGINT or SIGTERM stop accepting, finish the requests in flight, exit 0.`;

const HOSTNAME = "127.0.0.1";
/** The host's own route, answered without entering a generation. */
const STATUS_PATH = "/_hotswap";
const GENERATION_HEADER = "x-hotswap-generation";

interface ServerOptions {
  readonly path: string;
  readonly port: number;
  readonly isolation: Isolation;
  readonly roots: readonly string[] | undefined;
  readonly watch: boolean;
  readonly trust: string | undefined;
}

function parseOptions(args: string[]): ServerOptions {
  const { positionals, number, isolation, roots, watch, trust } = parseProgramArgs(
    args,
    PROGRAM,
    USAGE,
    "port",
  );
  if (positionals.length > 1) {
    usageError(`Expected at most one [module], got ${positionals.length}: ${positionals.join(" ")}`, PROGRAM);
  }
  try {
    const port = parseInteger("port", number, 8000, 0, 65_535);
    return { path: positionals[0] ?? "so/app.ts", port, isolation, roots, watch, trust };
  } catch (error) {
    usageError(error instanceof Error ? error.message : String(error), PROGRAM);
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
function toResponse(answer: AppResponse, generation: number, method: string): Response {
  if (typeof answer !== "object" || answer === null) {
    throw new TypeError(`handle() returned ${answer === null ? "null" : typeof answer}, not an AppResponse`);
  }
  const status = answer.status ?? 200;
  if (!Number.isInteger(status) || status < 200 || status > 599) {
    throw new RangeError(`handle() returned status ${String(status)}; use 200-599`);
  }
  const headers = new Headers(answer.headers);
  headers.set(GENERATION_HEADER, String(generation));
  const body = method === "HEAD" || status === 204 || status === 304 ? null : answer.body ?? null;
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
  const out = new Output(shouldColor(Deno.stdout));
  // Failures that end the program go to stderr; swaps and refused swaps are ordinary output.
  const fatal = new Output(shouldColor(Deno.stderr), console.error);

  const hot = await registerOrExit(httpApp, options, fatal);
  hot.addEventListener("retire", (event) => out.retired(event.detail));

  async function handler(request: Request): Promise<Response> {
    const url = new URL(request.url);
    if (url.pathname === STATUS_PATH) {
      return Response.json({ ...hot.info(), stats: hot.stats() }, {
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
      return toResponse(answer, generation, request.method);
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

  async function swapTo(path: string, via: string): Promise<void> {
    const started = performance.now();
    try {
      const result = await hot.swap(path);
      out.swapped(result, hot.info().path, performance.now() - started, via);
    } catch (error) {
      out.failed(error, via);
    }
  }

  // SIGHUP reloads the configured module, as daemons re-read their config; bursts fold into one reload.
  const reloads = new Coalescer(() => swapTo(options.path, "SIGHUP"));
  onSignals(["SIGHUP"], () => reloads.request());

  let watcher: GraphWatcher<HttpApp> | undefined;
  if (options.watch) {
    try {
      watcher = watchGraph(hot, {
        onSwap: (outcome) => {
          const via = `watch: ${outcome.changed.map(displayPath).join(", ")}`;
          if (outcome.ok) out.swapped(outcome.result, hot.info().path, undefined, via);
          else out.failed(outcome.error, via);
        },
        onError: (error) => out.failed(error, "watch"),
      });
    } catch (error) {
      fatal.failed(error, "watch");
      await hot.close();
      Deno.exit(1);
    }
  }

  // Watch and listen before the server prints its address: whoever reads it may edit or signal at once.
  const { promise: stopped, resolve: stop } = Promise.withResolvers<Deno.Signal>();
  const stops = new StopSignals();
  onSignals(["SIGINT", "SIGTERM"], (signal) => {
    const meaning = stops.next();
    if (meaning === "force") {
      out.line("stop", "warn", `${signal} again: exiting without waiting`);
      Deno.exit(130);
    }
    if (meaning === "stop") stop(signal);
  });

  let server: Deno.HttpServer<Deno.NetAddr>;
  try {
    server = Deno.serve({
      hostname: HOSTNAME,
      port: options.port,
      onListen: ({ hostname, port }) => {
        const info = hot.info();
        out.line(
          "serve",
          "info",
          `http://${hostname}:${port}/`,
          displayPath(info.path),
          `gen ${info.generation}`,
          out.paint("info", shortDigest(info.digest)),
          `${info.isolation}${options.watch ? ", watching" : ""}, pid ${Deno.pid}`,
        );
      },
    }, handler);
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
  await reloads.idle();
  await hot.close();
  out.line("closed", "dim", "bye");
  // Exit explicitly rather than idle out (SPEC 10): a generation's pending timer must not keep us up.
  Deno.exit(0);
}

if (import.meta.main) await main(Deno.args);
