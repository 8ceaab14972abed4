/**
 * The HTTP app contract: what a generation served by demo/server.ts exports.
 *
 * Requests and responses are plain data rather than `Request`/`Response`
 * objects on purpose: in `isolation: "worker"` every call crosses a
 * `postMessage` boundary, and `Request`, `Response` and `Headers` cannot be
 * structured-cloned (Deno throws `DataCloneError`). Plain data works the same
 * inline and in a worker, so one app runs under both.
 *
 * @module
 */

import { type Contract, defineContract } from "../core/contract.ts";

/** An HTTP request as an app generation sees it. */
export interface AppRequest {
  /** `GET`, `POST`, ... */
  readonly method: string;
  /** The full URL, such as `http://127.0.0.1:8000/slow?ms=300`. */
  readonly url: string;
  /** Header names in lower case; repeated headers are joined with `", "`. */
  readonly headers: Readonly<Record<string, string>>;
  /** The body decoded as UTF-8 text (`""` when there is none). */
  readonly body: string;
}

/** What an app generation answers with. */
export interface AppResponse {
  /**
   * HTTP status.
   *
   * @default {200}
   */
  readonly status?: number;
  /** Response headers. */
  readonly headers?: Readonly<Record<string, string>>;
  /**
   * The body: text or bytes.
   *
   * @default {""}
   */
  readonly body?: string | Uint8Array<ArrayBuffer>;
}

/** An HTTP app generation: a name for logs and one request handler. */
export interface HttpApp {
  /** A short name for logs, such as `"hello v1"`. */
  name: string;
  /**
   * Answers one request; may be async.
   *
   * @param request The request, as plain data.
   * @returns The response, or a promise of it.
   *
   * @example Answer a request
   * ```ts
   * import { type AppRequest, type HttpApp, httpApp } from "@hotswap/runtime/types";
   * import { strictEqual } from "node:assert/strict";
   *
   * const app: HttpApp = httpApp.verify({
   *   name: "echo",
   *   handle: (request: AppRequest) => ({ status: 201, body: `${request.method} ${request.body}` }),
   * });
   * const response = await app.handle({ method: "POST", url: "http://127.0.0.1/", headers: {}, body: "hi" });
   * strictEqual(response.status, 201);
   * strictEqual(response.body, "POST hi");
   * ```
   */
  handle(request: AppRequest): AppResponse | Promise<AppResponse>;
}

/**
 * The contract of {@linkcode HttpApp}, exported by generations as `hs_httpApp`.
 *
 * @example Verify an app handle
 * ```ts
 * import { httpApp } from "@hotswap/runtime/types";
 * import { strictEqual } from "node:assert/strict";
 *
 * const app = httpApp.verify({ name: "hello", handle: () => ({ body: "hi" }) });
 * strictEqual(app.name, "hello");
 * ```
 */
export const httpApp: Contract<HttpApp> = defineContract<HttpApp>({
  name: "HttpApp",
  version: "1.0.0",
  symbol: "hs_httpApp",
  shape: { name: "string", handle: "function" },
});
