/**
 * The sample HTTP app generation that demo/server.ts serves: exports the
 * {@linkcode HttpApp} handle as `hs_httpApp`. Its words live in ./app_logic.ts.
 *
 * Routes: `GET /` greets, `GET /json` describes the generation, `GET /slow?ms=300`
 * answers after a delay (to watch a request finish on an old generation).
 *
 * @module
 */

import type { AppRequest, AppResponse, GenerationContext, HttpApp } from "../types/mod.ts";
import { greet, VERSION } from "./app_logic.ts";

/** Longest delay `/slow` accepts, so a typo cannot pin a generation for hours. */
const MAX_SLOW_MS = 10_000;

/**
 * Requests answered, carried from generation to generation through
 * `handoff()`. Module state is per generation: each one is a fresh module
 * instance, so the count travels only through the explicit handoff.
 */
let served = 0;

/** Builds the app for one generation; `ctx.previous` is the last generation's count. */
export function hs_httpApp(ctx: GenerationContext): HttpApp {
  served = isServedState(ctx.previous) ? ctx.previous.served : 0;
  return {
    name: `hello ${VERSION}`,
    handle: (request) => route(request, ctx),
  };
}

/** Hands the request count to the next generation. */
export function handoff(): { served: number } {
  return { served };
}

async function route(request: AppRequest, ctx: GenerationContext): Promise<AppResponse> {
  const url = new URL(request.url);
  if (request.method !== "GET" && request.method !== "HEAD") {
    return { status: 405, headers: { allow: "GET, HEAD" }, body: "Method not allowed\n" };
  }
  served++;
  switch (url.pathname) {
    case "/":
      return {
        headers: { "content-type": "text/plain; charset=utf-8" },
        body: greet(ctx.generation, served),
      };
    case "/json":
      return json({ version: VERSION, generation: ctx.generation, digest: ctx.digest, served });
    case "/slow": {
      const ms = Math.min(Math.max(Number(url.searchParams.get("ms") ?? 300) || 0, 0), MAX_SLOW_MS);
      const started = Date.now();
      await new Promise((resolve) => setTimeout(resolve, ms));
      return json({ version: VERSION, generation: ctx.generation, waitedMs: Date.now() - started });
    }
    default:
      return { status: 404, body: `No route for ${url.pathname}; try /, /json or /slow?ms=300\n` };
  }
}

function json(value: unknown): AppResponse {
  return { headers: { "content-type": "application/json" }, body: `${JSON.stringify(value)}\n` };
}

function isServedState(value: unknown): value is { served: number } {
  return typeof value === "object" && value !== null &&
    typeof (value as { served?: unknown }).served === "number";
}
