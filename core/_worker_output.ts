/**
 * What a generation in a worker prints. A Worker shares the host's stdout
 * and stderr, and so its terminal: the console's methods and `Deno.stdout`
 * and `Deno.stderr` are replaced, before any generation code runs, by ones
 * that write the same text with its control characters escaped, as a
 * generation process's output reaches the host (see `_escape_controls.ts`);
 * `console.clear()`, which would clear the operator's screen, does nothing.
 *
 * The console's own formatting (`%s`, `%d`, `%o`, …) is done here, without
 * colours, so that the escaping sees the whole text: a string argument, a
 * label, and what an object's custom inspection returns.
 *
 * Imports nothing host-only.
 *
 * @module
 */

import { escapeControls } from "./_escape_controls.ts";

type Method = (...args: unknown[]) => void;

const inspect = (value: unknown): string => Deno.inspect(value, { colors: false });

/** `String(value)`, or its inspection when it has no string form (a null prototype, a throwing `toString`). */
function stringOf(value: unknown): string {
  try {
    return String(value);
  } catch {
    return inspect(value);
  }
}

/** Formats console arguments as Deno's console does (`%` directives in a first string), uncoloured. */
function formatConsole(args: readonly unknown[]): string {
  let next = 0;
  let text = "";
  const first = args[0];
  if (typeof first === "string") {
    next = 1;
    text = first.replace(/%([sdifoOjc%])/g, (directive, kind: string) => {
      if (kind === "%") return "%";
      if (next >= args.length) return directive;
      const value = args[next++];
      switch (kind) {
        case "s":
          return typeof value === "string" ? value : stringOf(value);
        case "d":
        case "i":
          if (typeof value === "bigint") return `${value}n`;
          return typeof value === "symbol" ? "NaN" : String(Number.parseInt(stringOf(value)));
        case "f":
          return typeof value === "symbol" ? "NaN" : String(Number.parseFloat(stringOf(value)));
        case "j":
          try {
            return JSON.stringify(value);
          } catch {
            return "[Circular]";
          }
        case "c":
          return "";
        default:
          return inspect(value);
      }
    });
  }
  for (; next < args.length; next++) {
    const value = args[next];
    text += `${text === "" && next === 0 ? "" : " "}${typeof value === "string" ? value : inspect(value)}`;
  }
  return text;
}

/** Replaces the console's methods and Deno's stdout and stderr by escaping ones. Call once, before any generation code. */
export function escapeOutput(): void {
  const original = new Map<string, Method>();
  for (const name of Object.keys(console)) {
    const method = (console as unknown as Record<string, unknown>)[name];
    if (typeof method === "function") original.set(name, method.bind(console) as Method);
  }
  const call = (name: string, ...args: unknown[]) => original.get(name)?.(...args);
  const printed = (args: readonly unknown[]) => escapeControls(formatConsole(args));
  const label = (value: unknown) => value === undefined ? undefined : escapeControls(String(value));
  const replace = (name: string, method: Method) => {
    Object.defineProperty(console, name, {
      value: method,
      writable: true,
      configurable: true,
      enumerable: true,
    });
  };
  for (const name of ["log", "info", "debug", "error", "warn", "dirxml"]) {
    replace(name, (...args) => call(name, "%s", printed(args)));
  }
  replace(
    "dir",
    (item) => call("log", "%s", escapeControls(typeof item === "string" ? item : inspect(item))),
  );
  // With no message, these print their own word ("Trace", "Assertion failed") as Deno does.
  replace("trace", (...args) => args.length === 0 ? call("trace") : call("trace", "%s", printed(args)));
  replace("assert", (condition, ...args) => {
    if (condition) return;
    if (args.length === 0) call("assert", false);
    else call("assert", false, "%s", printed(args));
  });
  for (const name of ["group", "groupCollapsed"]) {
    replace(name, (...args) => args.length === 0 ? call(name) : call(name, "%s", printed(args)));
  }
  for (const name of ["count", "countReset", "time", "timeEnd"]) {
    replace(name, (value) => call(name, label(value)));
  }
  replace("timeLog", (value, ...args) => call("timeLog", label(value), ...args.map((arg) => printed([arg]))));
  replace("table", (data, columns) => {
    // Anything but an object Deno prints as log does, unescaped.
    if (typeof data !== "object" || data === null) return call("log", "%s", printed([data]));
    let rows: unknown;
    try {
      rows = namesEscaped(data, 2);
    } catch {
      return call("log", "%s", printed([data]));
    }
    call(
      "table",
      rows,
      Array.isArray(columns) ? columns.map((name) => escapeControls(stringOf(name))) : undefined,
    );
  });
  replace("clear", () => {});
  const stdout = Deno.stdout;
  const stderr = Deno.stderr;
  lockGetter(Deno, "stdout", escapingWriter(stdout));
  lockGetter(Deno, "stderr", escapingWriter(stderr));
}

/**
 * `console.table`'s data with its row and column names escaped, `levels`
 * deep: Deno prints those names as they are (its cells it inspects, which
 * escapes them). Copied onto plain objects and arrays, by definition, so a
 * `__proto__` name stays a name.
 */
function namesEscaped(data: unknown, levels: number): unknown {
  if (
    levels === 0 || typeof data !== "object" || data === null || data instanceof Map || data instanceof Set
  ) {
    return data;
  }
  const copy: object = Array.isArray(data) ? [] : {};
  for (const key of Object.keys(data)) {
    Object.defineProperty(copy, escapeControls(key), {
      value: namesEscaped((data as Record<string, unknown>)[key], levels - 1),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return copy;
}

function lockGetter(owner: object, key: string, value: unknown): void {
  Object.defineProperty(owner, key, { get: () => value, enumerable: true, configurable: false });
}

/** The host's stdout or stderr as the generation sees it: the text of its writes escaped. */
function escapingWriter(target: typeof Deno.stdout): typeof Deno.stdout {
  // One decoder per stream: a character split across two writes is decoded whole.
  const decoder = new TextDecoder();
  const encoder = new TextEncoder();
  const escaped = (bytes: Uint8Array) =>
    encoder.encode(escapeControls(decoder.decode(bytes, { stream: true })));
  const writeAllSync = (bytes: Uint8Array) => {
    let rest = escaped(bytes);
    while (rest.byteLength > 0) rest = rest.subarray(target.writeSync(rest));
    return bytes.byteLength;
  };
  let writable: WritableStream<Uint8Array> | undefined;
  return Object.freeze({
    write: (bytes: Uint8Array) => Promise.resolve().then(() => writeAllSync(bytes)),
    writeSync: writeAllSync,
    get writable() {
      writable ??= new WritableStream<Uint8Array>({ write: (chunk) => void writeAllSync(chunk) });
      return writable;
    },
    isTerminal: () => target.isTerminal(),
    // The host's stream, which the generation does not own.
    close: () => {},
  }) as unknown as typeof Deno.stdout;
}

/**
 * Node's `process.stdout` and `process.stderr`, which write to the host's
 * streams without going through `Deno.stdout`: their writes escaped too.
 *
 * @param node Node's `process`, once the generation reached it.
 */
export function escapeNodeOutput(node: object): void {
  for (const name of ["stdout", "stderr"]) {
    const stream = (node as Record<string, unknown>)[name] as { write?: unknown } | undefined;
    if (typeof stream?.write !== "function") continue;
    const write = stream.write.bind(stream) as (chunk: unknown, ...rest: unknown[]) => boolean;
    const decoder = new TextDecoder();
    Object.defineProperty(stream, "write", {
      value: (chunk: unknown, ...rest: unknown[]) =>
        write(
          escapeControls(
            typeof chunk === "string" ? chunk : decoder.decode(chunk as Uint8Array, { stream: true }),
          ),
          ...rest,
        ),
      writable: false,
      configurable: false,
    });
  }
}
