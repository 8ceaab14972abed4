/**
 * From a module namespace to a verified handle (core/handle.ts):
 * `resolveHandle()` with its three refusals (`E_SYMBOL`, `E_INIT`,
 * `E_CONTRACT`), `callHook()`, and `importError()` on the errors of real
 * minted modules that fail to parse or throw at the top level.
 *
 * @module
 */

import { deepStrictEqual, ok, rejects, strictEqual } from "node:assert/strict";
import { ContractError, defineContract } from "../core/contract.ts";
import { HotswapError, type HotswapErrorCode } from "../core/errors.ts";
import type { GenerationContext } from "../core/generation.ts";
import { callHook, importError, resolveHandle } from "../core/handle.ts";
import { mintModules } from "../core/_mint.ts";

interface Echo {
  label: string;
  run(): string;
}
const echo = defineContract<Echo>({
  name: "Echo",
  version: "1.2.0",
  symbol: "hs_echo",
  shape: { label: "string", run: "function" },
});
const CONTEXT: GenerationContext = {
  generation: 3,
  digest: "sha256-x",
  previous: "state",
  signal: new AbortController().signal,
};
const PATH = "/app/gen.ts";
const HANDLE: Echo = { label: "v1", run: () => "ran" };

/** A check for `rejects`: a HotswapError of `code` on `path` whose message has every part. */
function refusal(code: HotswapErrorCode, path: string, ...parts: string[]): (error: unknown) => true {
  return (error) => {
    ok(error instanceof HotswapError, String(error));
    strictEqual(error.code, code, error.message);
    strictEqual(error.path, path);
    for (const part of parts) {
      ok(error.message.includes(part), `${JSON.stringify(part)} in: ${error.message}`);
    }
    return true;
  };
}

/** Resolves the handle of `namespace` as the loaders do, for the entry at PATH. */
function resolve(namespace: Record<string, unknown>, contract = echo) {
  return resolveHandle(namespace, contract, CONTEXT, PATH);
}

/** What `promise` rejects with (`undefined` if it fulfils). */
function failureOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(() => undefined, (error: unknown) => error);
}

Deno.test("resolveHandle() accepts an exported handle as is, without hooks", async () => {
  const resolved = await resolve({ hs_echo: HANDLE });
  strictEqual(resolved.handle, HANDLE);
  deepStrictEqual(resolved.hooks, { handoff: undefined, dispose: undefined });
});

Deno.test("resolveHandle() runs an exported factory with the context, awaits it, and picks up the hooks", async () => {
  const received: unknown[] = [];
  const handoff = () => "state";
  const dispose = () => {};
  const hs_echo = (context: GenerationContext) => {
    received.push(context);
    return Promise.resolve(HANDLE);
  };
  const resolved = await resolve({ hs_echo, handoff, dispose });
  strictEqual(resolved.handle, HANDLE);
  deepStrictEqual(received, [CONTEXT]);
  strictEqual(resolved.hooks.handoff, handoff);
  strictEqual(resolved.hooks.dispose, dispose);
});

Deno.test("resolveHandle() refuses a hook that is not a function before running the factory", async () => {
  let ran = false;
  const hs_echo = () => (ran = true, HANDLE);
  const expected =
    `Cannot use export "dispose" of "${PATH}": it is a string, not a function; export "dispose" as a function or remove it`;
  await rejects(resolve({ hs_echo, dispose: "later" }), refusal("E_SYMBOL", PATH, expected));
  strictEqual(ran, false);
});

Deno.test("resolveHandle() refuses a missing export, listing the exports found", async () => {
  const expected =
    `Cannot find export "hs_echo" in "${PATH}" (contract Echo@1.2.0): exports found: "other", "hs_Echo"; export the handle, or a factory returning it, as "hs_echo"`;
  await rejects(resolve({ other: 1, hs_Echo: HANDLE }), refusal("E_SYMBOL", PATH, expected));
  await rejects(resolve({}), refusal("E_SYMBOL", PATH, "exports found: none;"));
});

Deno.test("resolveHandle() points out an export that differs only in Unicode normalisation", async () => {
  const cafe = defineContract<Echo>({ ...echo, symbol: "hs_caf\u00e9", shape: echo.shape as never });
  const expected = String
    .raw`where "hs_cafe\u0301" differs from "hs_caf\u00e9" only in Unicode normalisation`;
  await rejects(resolve({ "hs_cafe\u0301": HANDLE }, cafe), refusal("E_SYMBOL", PATH, expected));
});

Deno.test("resolveHandle() refuses an export that throws when read, keeping the cause", async () => {
  const tdz = new ReferenceError("Cannot access 'hs_echo' before initialization");
  const namespace = Object.defineProperty({}, "hs_echo", {
    enumerable: true,
    get() {
      throw tdz;
    },
  });
  const error = await failureOf(resolve(namespace));
  const expected = `Cannot read export "hs_echo" of "${PATH}": ReferenceError: `;
  refusal("E_SYMBOL", PATH, expected, "initialise it at the top level")(error);
  strictEqual((error as HotswapError).cause, tdz);
});

Deno.test("resolveHandle() refuses a hook export that throws when read, as E_SYMBOL with the cause", async () => {
  const tdz = new ReferenceError("Cannot access 'dispose' before initialization");
  const namespace = Object.defineProperty({ hs_echo: HANDLE }, "dispose", {
    enumerable: true,
    get() {
      throw tdz;
    },
  });
  const error = await failureOf(resolve(namespace));
  refusal("E_SYMBOL", PATH, `Cannot read export "dispose" of "${PATH}": ReferenceError: `)(error);
  strictEqual((error as HotswapError).cause, tdz);
});

Deno.test("resolveHandle() reports a factory that throws or rejects as E_INIT, keeping the cause", async () => {
  const boom = new Error("boom");
  const throwing = () => {
    throw boom;
  };
  const cases = [[throwing, boom, "Error: boom"], [() => Promise.reject(boom), boom, "Error: boom"]] as const;
  for (
    const [hs_echo, cause, described] of [
      ...cases,
      [() => Promise.reject("no"), "no", "string no"] as const,
    ]
  ) {
    const error = await failureOf(resolve({ hs_echo }));
    const expected = `Cannot initialise "${PATH}": its factory "hs_echo" threw ${described}; fix the factory`;
    refusal("E_INIT", PATH, expected)(error);
    strictEqual((error as HotswapError).cause, cause);
  }
});

Deno.test("resolveHandle() refuses a handle that does not match the contract, listing every problem", async () => {
  const error = await failureOf(resolve({ hs_echo: () => ({ label: 1 }) }));
  const problems = ["label: expected string, got number", "run: expected function, got undefined (missing)"];
  const expected = `Cannot accept "${PATH}": its "hs_echo" does not match contract Echo@1.2.0: ${
    problems.join("; ")
  }; make the handle match the contract`;
  refusal("E_CONTRACT", PATH, expected)(error);
  ok(error instanceof ContractError);
  deepStrictEqual(error.problems, problems);
});

Deno.test("callHook() resolves to the hook's result, to undefined without one, and rejects what it throws", async () => {
  strictEqual(await callHook(undefined), undefined);
  strictEqual(await callHook(() => Promise.resolve(7)), 7);
  const failure = new Error("hook failed");
  const call = callHook(() => {
    throw failure;
  });
  await rejects(call, (error) => error === failure);
});

Deno.test("importError() blames the dependency that does not parse, by path, never by blob: URL", async () => {
  const minted = mintModules([
    { path: "/app/bad.ts", source: "export const = 1;\n", mediaType: "application/typescript", imports: [] },
    {
      path: PATH,
      source: 'import "./bad.ts";\n',
      mediaType: "application/typescript",
      imports: [{ start: 8, end: 16, quoted: false, module: 0 }],
    },
  ]);
  try {
    const failure = await failureOf(import(minted.url));
    const error = importError(failure, minted.files, PATH);
    const expected = `Cannot import "/app/bad.ts" (a dependency of "${PATH}"): SyntaxError: `;
    refusal("E_IMPORT", "/app/bad.ts", expected, " at /app/bad.ts:1:14; fix the module so it parses and its")(
      error,
    );
    ok(!error.message.includes("blob:"), error.message);
    strictEqual(error.cause, failure);
  } finally {
    minted.revoke();
  }
});

Deno.test("importError() reports a top-level throw of the entry with its location", async () => {
  const source = "const a = 1;\n  throw new RangeError('at load');\n";
  const minted = mintModules([{ path: PATH, source, mediaType: "application/typescript", imports: [] }]);
  try {
    const error = importError(await failureOf(import(minted.url)), minted.files, PATH);
    const expected =
      `Cannot import "${PATH}": RangeError: at load at ${PATH}:2:9; fix the error its top-level code throws`;
    refusal("E_IMPORT", PATH, expected)(error);
  } finally {
    minted.revoke();
  }
});

Deno.test("importError() explains a frozen lockfile, and describes a thrown non-Error", () => {
  const locked = importError(new TypeError('The lockfile is out of date: "npm:left-pad@1"'), new Map(), PATH);
  refusal("E_IMPORT", PATH, "the host's lockfile is frozen and lacks a package", 'isolation "process"')(
    locked,
  );
  const thrown = importError("text", new Map(), PATH);
  strictEqual(
    thrown.message,
    `Cannot import "${PATH}": string text; fix the error its top-level code throws`,
  );
});
