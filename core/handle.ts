/**
 * From an imported module namespace to a verified handle: look up the handle
 * symbol, run the factory, check the contract, and pick up the optional
 * `handoff` and `dispose` exports. Used inline and inside workers, so it
 * imports nothing host-only.
 *
 * @module
 */

import { type Contract, ContractError } from "./contract.ts";
import { aKind, describeThrown, HotswapError } from "./errors.ts";
import type { GenerationContext } from "./generation.ts";
import { fileHref } from "./_stack_format.ts";

/** The optional lifecycle exports of a generation module. */
export interface ModuleHooks {
  /** Returns state for the next generation. */
  readonly handoff: (() => unknown) | undefined;
  /** Runs after drain, before unload. */
  readonly dispose: (() => unknown) | undefined;
}

/** A verified handle and its module's hooks. */
export interface ResolvedHandle<T> {
  /** The handle, checked against the contract. */
  readonly handle: T;
  /** The module's lifecycle exports. */
  readonly hooks: ModuleHooks;
}

/**
 * Finds, builds and verifies the handle exported by a module namespace.
 *
 * @param namespace The entry module's namespace.
 * @param contract The host's contract.
 * @param context What a factory receives.
 * @param path The entry file, for messages.
 * @throws {HotswapError} `E_SYMBOL`, `E_INIT` or `E_CONTRACT` (a {@linkcode ContractError}).
 */
export async function resolveHandle<T>(
  namespace: Record<string, unknown>,
  contract: Contract<T>,
  context: GenerationContext,
  path: string,
): Promise<ResolvedHandle<T>> {
  const hooks = {
    handoff: readHook(namespace, "handoff", path),
    dispose: readHook(namespace, "dispose", path),
  };
  const exported = readExport(namespace, contract, path);
  let value: unknown = exported;
  if (typeof exported === "function") {
    try {
      value = await exported(context);
    } catch (error) {
      throw new HotswapError(
        "E_INIT",
        `Cannot initialise "${path}": its factory "${contract.symbol}" threw ${
          describeThrown(error)
        }; fix the factory so it returns a ${contract.name} handle`,
        { path, cause: error },
      );
    }
  }
  const problems = contract.check(value);
  if (problems.length > 0) {
    throw new ContractError(
      `Cannot accept "${path}": its "${contract.symbol}" does not match contract ${contract.name}@${contract.version}: ${
        problems.join("; ")
      }; ${contractAdvice(contract, problems)}`,
      problems,
      { path },
    );
  }
  return { handle: value as T, hooks };
}

function readExport<T>(namespace: Record<string, unknown>, contract: Contract<T>, path: string): unknown {
  const symbol = contract.symbol;
  const value = readBinding(namespace, symbol, path);
  if (value === undefined && symbol in namespace) {
    throw new HotswapError(
      "E_SYMBOL",
      `Cannot use export "${symbol}" of "${path}" (contract ${contract.name}@${contract.version}): it is undefined once the module has run; assign it the handle, or a factory returning it, in the module's top-level code`,
      { path },
    );
  }
  if (value === undefined) {
    const found = Object.keys(namespace);
    // Names are compared exactly: point out one that only looks the same.
    const lookalike = found.find((name) =>
      name !== symbol && name.normalize("NFC") === symbol.normalize("NFC")
    );
    throw new HotswapError(
      "E_SYMBOL",
      `Cannot find export "${symbol}" in "${path}" (contract ${contract.name}@${contract.version}): exports found: ${
        found.length ? found.map((name) => `"${name}"`).join(", ") : "none"
      }${
        lookalike === undefined
          ? ""
          : `, where "${escapeNonAscii(lookalike)}" differs from "${
            escapeNonAscii(symbol)
          }" only in Unicode normalisation (export names are compared exactly)`
      }; export the handle, or a factory returning it, as "${symbol}"`,
      { path },
    );
  }
  return value;
}

/** The export `name`, or `undefined`; one still in its temporal dead zone throws on access: E_SYMBOL. */
function readBinding(namespace: Record<string, unknown>, name: string, path: string): unknown {
  try {
    return name in namespace ? namespace[name] : undefined;
  } catch (error) {
    throw new HotswapError(
      "E_SYMBOL",
      `Cannot read export "${name}" of "${path}": ${describeThrown(error)}; initialise it at the top level`,
      { path, cause: error },
    );
  }
}

function readHook(
  namespace: Record<string, unknown>,
  name: "handoff" | "dispose",
  path: string,
): (() => unknown) | undefined {
  const hook = readBinding(namespace, name, path);
  if (hook === undefined) return undefined;
  if (typeof hook !== "function") {
    throw new HotswapError(
      "E_SYMBOL",
      `Cannot use export "${name}" of "${path}": it is ${
        aKind(typeof hook)
      }, not a function; export "${name}" as a function or remove it`,
      { path },
    );
  }
  return hook as () => unknown;
}

/**
 * Calls a lifecycle hook and returns what it returns, a promise or not, as
 * `this`-less as a module's own call of it would be; a missing hook returns
 * `undefined`, and a throw is thrown.
 */
export function callHookAsIs(hook: (() => unknown) | undefined): unknown {
  return hook === undefined ? undefined : hook();
}

/**
 * Calls a lifecycle hook; a missing hook resolves to `undefined`, a throw
 * becomes a rejection.
 */
export async function callHook(hook: (() => unknown) | undefined): Promise<unknown> {
  return await callHookAsIs(hook);
}

/**
 * Explains a failed `import()` of a minted snapshot, naming the file at fault
 * instead of its `blob:` URL.
 *
 * @param error What `import()` rejected with.
 * @param files Minted URL to file path.
 * @param entry The generation's entry, blamed when no file is named.
 */
export function importError(error: unknown, files: ReadonlyMap<string, string>, entry: string): HotswapError {
  // Deno wraps a parse failure as "TypeError: SyntaxError: …"; the inner name says it all.
  let reason = describeThrown(error).replace(/^TypeError: (SyntaxError: )/, "$1");
  let detail = reason;
  try {
    if (error instanceof Error) detail += `\n${String(error.stack ?? "")}`;
  } catch { /* an exotic error: the message alone will do */ }
  // `import data from "./data.json"` without `with { type: "json" }`.
  const jsonAttribute = /without specifying "type": "json"/.test(reason);
  // A remote module that could not be fetched (`Import 'https://…' failed.`).
  const remote = /Import '[a-z]+:[^']*' failed|Requires import access/i.test(reason);
  const parse = jsonAttribute || remote ||
    /SyntaxError|Module not found|resolve|Relative import|invalid URL|Unsupported|not a dependency/i.test(
      reason,
    );
  // `import x from "left-pad"`: a name no import map of the generation's maps.
  const bare = /Import "[^"]*" not a dependency|Relative import path "[^"]*" not prefixed/.test(reason);
  // A module that does not parse or resolve is named first. A throw is blamed
  // on the module whose top-level code was running: the outermost of the
  // generation's frames, as the innermost may be a function it called.
  let path = entry;
  let first = Infinity;
  let last = -1;
  let thrownIn: string | undefined;
  // A frame names a module by its minted URL, or by its file: URL where the stack was formatted
  // with the files' names already (a worker's or a process's, see `_stack_format.ts`), or by its
  // path where the generation formats stacks itself.
  for (const [url, file] of files) {
    for (const name of [url, `${fileHref(file)}:`, `${file}:`]) {
      const at = detail.indexOf(name);
      if (at !== -1 && at < first) [thrownIn, first] = [file, at];
      const lastAt = detail.lastIndexOf(name);
      if (!parse && lastAt > last) [path, last] = [file, lastAt];
    }
  }
  if (parse && thrownIn !== undefined) path = thrownIn;
  // A message names files by their paths, as every message of the runtime does.
  for (const [url, file] of files) {
    for (const name of [url, fileHref(file)]) {
      reason = reason.replaceAll(name, file);
      detail = detail.replaceAll(name, file);
    }
  }
  const locate = (file: string) => new RegExp(`${escapeRegExp(file)}:\\d+:\\d+`).exec(detail)?.[0];
  // `import { x } from "./m.ts"` of a name m.ts does not export: the fault is
  // the importer's, the module of the location, whether the message names m.ts
  // by its specifier (inline) or by its path first (a worker's, a process's).
  const missingExport = /does not provide an export named/.test(reason);
  if (missingExport) {
    const located = [...files.values()].flatMap((file) => {
      const location = locate(file);
      return location === undefined ? [] : [{ file, at: detail.indexOf(location) }];
    });
    const importer = located.sort((a, b) => a.at - b.at)[0]?.file;
    if (importer !== undefined) [path, thrownIn] = [importer, importer];
  }
  const location = locate(thrownIn ?? path);
  const caller = thrownIn !== undefined && thrownIn !== path ? locate(path) : undefined;
  const where = location && !reason.includes(location)
    ? ` at ${location}${caller ? ` (called from its top-level code at ${caller})` : ""}`
    : caller
    ? ` (called from its top-level code at ${caller})`
    : "";
  // A host run with --frozen refuses an npm: or jsr: import its lockfile does not hold.
  const lockfile = /lockfile/i.test(reason);
  // A generation process runs with --no-npm unless its imports are granted.
  const npmRefused = /--no-npm is specified/.test(reason);
  // And with --no-remote unless any import is granted: a `jsr:` or URL import.
  const remoteRefused = /--no-remote is specified/.test(reason);
  const remoteHost = /requested: "[a-z]+:\/\/([^/"]+)/i.exec(reason)?.[1] ?? "<host>";
  return new HotswapError(
    "E_IMPORT",
    `Cannot import "${path}"${path === entry ? "" : ` (a dependency of "${entry}")`}: ${reason}${where}; ${
      npmRefused
        ? 'its process may not fetch npm packages: grant them with permissions: { import: ["registry.npmjs.org"] } (the host needs --allow-import for it too)'
        : remoteRefused
        ? `its process may not import remote modules: grant their host with permissions: { import: ["${remoteHost}"] } (the host needs --allow-import for it too)`
        : lockfile
        ? 'the host\'s lockfile is frozen and lacks a package this generation imports: add it to the lockfile (deno cache the generation), or load it with isolation "process", whose child runs without a lockfile'
        : bare
        ? "write a package as npm:<name>@<version> or jsr:@<scope>/<name>@<version>, and a file as a path (./ or ../)"
        : jsonAttribute
        ? 'import a JSON file with its type: import data from "./data.json" with { type: "json" }'
        : missingExport
        ? "import only names that module exports, or export the name from it"
        : remote
        ? "check the URL and the network, and that it may be imported from there (--allow-import=<host> for the host; permissions.import for a worker or process); or vendor the module into the generation's files"
        : parse
        ? "fix the module so it parses and its imports resolve"
        : "fix the error its top-level code throws"
    }`,
    { path, cause: error },
  );
}

/**
 * What to do about a handle's mismatches: rebuild it against the host's
 * contract when its brand says it was built for another version, else make
 * it match.
 */
export function contractAdvice(contract: Contract<unknown>, problems: readonly string[]): string {
  return problems.some((problem) => problem.startsWith("(brand): built for"))
    ? `build the generation against ${contract.name}@${contract.version} (the version its implement() brand names is not one this host accepts)`
    : "make the handle match the contract";
}

function escapeNonAscii(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
