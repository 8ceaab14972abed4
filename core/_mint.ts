/**
 * Minting: a snapshot's modules turned into fresh `blob:` URLs, each local
 * import rewritten to the URL of the module it names, so what runs is exactly
 * the bytes that were hashed. Used by `Snapshot.mint()` in the host and by a
 * generation's process, which receives the modules over its channel and
 * mints them itself; so it imports nothing host-only (no parser, no files).
 *
 * `import.meta` describes the module's file, as if Deno had imported the
 * file itself (`url`, `filename`, `dirname`, `main: false`, `resolve()`),
 * not the `blob:` URL: each occurrence becomes a hidden name exactly as long
 * ({@linkcode META_LOCAL}), bound by an import added after the module's last
 * line, so no line or column of the module moves. The object comes from one
 * more `blob:` module a mint, so each minted instance of a module has its
 * own, as each imported module has.
 *
 * @module
 */

import { pathToFileURL } from "node:url";
import type { MintedSnapshot } from "./snapshot.ts";
import { rewrite } from "./_source_map.ts";

/** What minting needs of one module: its text, type and local imports. */
export interface MintSource {
  /** Absolute path, named in stack frames and messages. */
  readonly path: string;
  /** The text that was hashed. */
  readonly source: string;
  /** Content type the blob is minted with, so Deno picks the right transpiler. */
  readonly mediaType: string;
  /**
   * Local imports, in source order; `module` indexes the modules given to
   * {@linkcode mintModules}, and is left out for an import the transpiler drops.
   */
  readonly imports: readonly {
    readonly start: number;
    readonly end: number;
    readonly quoted: boolean;
    readonly module?: number | undefined;
  }[];
  /** Where each `import(…)` with a computed specifier starts (its `import` keyword). */
  readonly computedImports?: readonly number[] | undefined;
  /** Whether its namespace may export `then`; unknown (left out) counts as yes. */
  readonly exportsThen?: boolean | undefined;
  /**
   * Where each `import.meta` is (from the parser's syntax tree), in source
   * order; left out, {@linkcode findImportMeta} finds them in the text.
   */
  readonly importMeta?: readonly MetaRange[] | undefined;
}

/** Where one `import.meta` stands in a module's text: `import` to the end of `meta`. */
export interface MetaRange {
  readonly start: number;
  readonly end: number;
}

/**
 * What `import.meta` becomes in a generation's module, in the script path
 * (`_script_transform.ts`) and in minted modules alike: 11 characters, as
 * many as `import.meta`. Any name holding `__hs_` is the runtime's own.
 */
export const META_LOCAL = "__hs_meta__";

/**
 * `import.meta` of a module read from `path`, as Deno makes it for an
 * imported file: a null-prototype object with `url`, `main` (`false`: a
 * generation is never the main module), `resolve`, `filename` and `dirname`.
 * `resolve` joins a relative specifier (`./`, `../`, `/`) to `url`, returns
 * a URL as the URL it is, and refuses a bare specifier as Deno does with no
 * import map. Self-contained: its text is the source of the objects minted
 * modules import (see {@linkcode mintModules}).
 */
export function importMeta(url: string, filename: string, dirname: string): ImportMeta {
  return {
    __proto__: null,
    url,
    main: false,
    resolve: function (specifier: string): string {
      const text = `${specifier}`;
      if (/^\.{0,2}\//.test(text)) return new URL(text, url).href;
      try {
        return new URL(text).href;
      } catch {
        throw new TypeError(`Import "${text}" not a dependency`);
      }
    },
    filename,
    dirname,
  } as ImportMeta;
}

/**
 * Where an import the transpiler drops is sent. Deno resolves every import
 * not marked `type` when a module loads, even one it then drops (measured on
 * 2.9.6), and a relative specifier cannot resolve from a `blob:` URL; the
 * module is never evaluated, so nothing needs to be in it.
 */
const EMPTY_MODULE = "data:text/javascript,";

const HAS_SOURCE_MAP = /^[ \t]*\/\/[#@][ \t]*sourceMappingURL=/m;

/**
 * Mints fresh `blob:` URLs for `modules` (dependencies before dependents,
 * the entry last), so each call yields a module graph V8 has never
 * evaluated. A JavaScript module gets an inline source map naming its file;
 * TypeScript keeps Deno's own map, whose frames name the `blob:` URL that
 * `files` maps back.
 *
 * @param modules The snapshot's modules, in dependency order.
 * @param guard The name of a global function that every `import(…)` with a
 *   computed specifier calls instead: its \`import\` keyword becomes this name,
 *   and the call keeps its arguments. Left out, such imports stay as written.
 * @returns The entry's URL, the URL-to-file map, and a way to free the blobs.
 */
export function mintModules(modules: readonly MintSource[], guard?: string): MintedSnapshot {
  const urls: string[] = [];
  const files = new Map<string, string>();
  const metas = modules.map((module) =>
    module.mediaType === "application/json"
      ? []
      : module.importMeta ?? findImportMeta(module.source, JSX_TYPES.has(module.mediaType))
  );
  const metaUrl = mintMeta(modules, metas);
  for (const [index, module] of modules.entries()) {
    const replacements = module.imports.map((local) => {
      const url = local.module === undefined ? EMPTY_MODULE : urls[local.module]!;
      return { start: local.start, end: local.end, text: local.quoted ? JSON.stringify(url) : url };
    });
    if (guard !== undefined && module.computedImports !== undefined && module.computedImports.length > 0) {
      for (const start of module.computedImports) {
        replacements.push({ start, end: start + "import".length, text: guard });
      }
    }
    const ranges = metas[index]!;
    if (ranges.length > 0) {
      const local = metaLocal(module.source);
      for (const { start, end } of ranges) {
        replacements.push({ start, end, text: metaText(module.source.slice(start, end), local) });
      }
      // After the last line: an import binds before any of the module runs, and moves nothing.
      const end = module.source.length;
      replacements.push({ start: end, end, text: `\n;import { m${index} as ${local} } from "${metaUrl}";` });
    }
    replacements.sort((a, b) => a.start - b.start);
    // Only JavaScript: Deno would apply the map to its transpiled output.
    // A module with a map of its own (compiled output) keeps that one.
    const mapped = module.mediaType === "text/javascript" && !HAS_SOURCE_MAP.test(module.source);
    const fileUrl = mapped ? pathToFileURL(module.path).href : undefined;
    const text = rewrite(module.source, replacements, fileUrl);
    const url = URL.createObjectURL(new Blob([text], { type: module.mediaType }));
    urls.push(url);
    files.set(url, module.path);
    // Deno prints the map's source URL percent-decoded.
    if (fileUrl !== undefined) files.set(decodeURIComponent(fileUrl), module.path);
  }
  let revoked = false;
  return {
    url: urls[urls.length - 1]!,
    files,
    thenable: modules[modules.length - 1]!.exportsThen !== false,
    unblob(text) {
      for (const [url, path] of files) text = text.replaceAll(url, path);
      return text;
    },
    revoke() {
      if (revoked) return;
      revoked = true;
      for (const url of urls) URL.revokeObjectURL(url);
      if (metaUrl !== undefined) URL.revokeObjectURL(metaUrl);
    },
  };
}

/** The arguments of {@linkcode importMeta} for the file at `path`: its URL, path and directory. */
export function metaArguments(path: string): [url: string, filename: string, dirname: string] {
  // As `node:path`'s `dirname` (which the process's program does not import).
  const separator = Deno.build.os === "windows" ? /[\\/][^\\/]*$/ : /\/[^/]*$/;
  const cut = path.search(separator);
  const dirname = cut === -1
    ? "."
    : cut === 0 || /^[A-Za-z]:$/.test(path.slice(0, cut))
    ? path.slice(0, cut + 1)
    : path.slice(0, cut);
  return [pathToFileURL(path).href, path, dirname];
}

/** Content types Deno reads JSX in. */
const JSX_TYPES: ReadonlySet<string> = new Set(["text/tsx", "text/jsx"]);

/**
 * The module that makes `import.meta` of each module using it (export
 * `m<index>`), or `undefined` when none does. It imports nothing, and each
 * module imports it last: it has run before that module's body does. (Only
 * in an import cycle can a module's function run earlier, called by a
 * module it imports; its `import.meta` then throws a ReferenceError.)
 */
function mintMeta(
  modules: readonly MintSource[],
  metas: readonly (readonly MetaRange[])[],
): string | undefined {
  const lines: string[] = [];
  for (const [index, { path }] of modules.entries()) {
    if (metas[index]!.length === 0) continue;
    const args = metaArguments(path).map((text) => JSON.stringify(text));
    lines.push(`export const m${index} = importMeta(${args.join(", ")});`);
  }
  if (lines.length === 0) return undefined;
  const text = `const importMeta = ${importMeta};\n${lines.join("\n")}\n`;
  return URL.createObjectURL(new Blob([text], { type: "text/javascript" }));
}

/** {@linkcode META_LOCAL}, or a name as long that `source` does not hold when it holds that one. */
function metaLocal(source: string): string {
  if (!source.includes(META_LOCAL)) return META_LOCAL;
  for (let n = 0; n < 36 * 36; n++) {
    const name = `__hs_meta${n.toString(36).padStart(2, "_")}`;
    if (!source.includes(name)) return name;
  }
  return META_LOCAL; // a text holding 1,297 such names: the import then fails, as it should
}

/**
 * The text that replaces one `import.meta` (written `text`, maybe with
 * spaces, comments or line breaks between its words): `local`, then the
 * rest blanked with its line breaks kept, so that lines stay and what
 * follows on the last line keeps its column.
 */
export function metaText(text: string, local: string): string {
  const lineBreak = text.search(/[\n\r\u2028\u2029]/);
  if (lineBreak === -1) return local.padEnd(text.length);
  return local + text.slice(lineBreak).replace(/[^\n\r\u2028\u2029]/g, " ");
}

/** Code points that end a line for ECMAScript. */
const LINE_END = /[\n\r\u2028\u2029]/;
/** Characters of a name (ASCII or not), a number, or a private name. */
const WORD =
  /[\w$#\\\u0080-\u009f\u00a1-\u167f\u1681-\u1fff\u200b-\u2027\u202a-\u202e\u2030-\u205e\u2060-\u2fff\u3001-\ufefe\uff00-\uffff]/;
/** Characters of a JSX tag's name. */
const JSX_NAME = /[\w$\-.:\u0080-\uffff]/;
/**
 * The tokens after which an expression may start, so a `/` starts a
 * regular expression and a `<` JSX (after any other, they are operators).
 */
const EXPRESSION_AFTER: ReadonlySet<string> = new Set([
  ..."(,=:[!&|?{};+-*%<>~^".split(""),
  "",
  "...",
  ..."return typeof instanceof in of new delete void throw case do else yield await extends".split(" "),
]);

/** Keywords whose `(…)` a statement follows. */
const STATEMENT_HEADS: ReadonlySet<string> = new Set(["if", "while", "for", "with"]);

/** One level of what the lexer is inside; `braces` counts the `{` open in code. */
interface Frame {
  readonly kind: "code" | "template" | "tag" | "children";
  braces: number;
}

/**
 * Finds every `import.meta` of a module's text without a parser (a
 * generation's process has none): a lexer that skips comments, strings,
 * templates (but not their substitutions), regular expressions and JSX text
 * and attribute strings, telling a `/` or `<` that starts an expression from
 * an operator by the token before it, as es-module-lexer does. A `<` taken
 * for JSX whose element never closes is taken again as an operator.
 *
 * @param source The module's text.
 * @param jsx Whether the module may hold JSX (`.tsx`, `.jsx`).
 * @returns The ranges, in source order.
 */
export function findImportMeta(source: string, jsx: boolean): MetaRange[] {
  if (!source.includes("meta") || !source.includes("import")) return [];
  const notJsx = new Set<number>();
  for (let attempt = 0; attempt < 32; attempt++) {
    const { metas, unclosed } = lex(source, jsx, notJsx);
    if (unclosed === undefined || notJsx.has(unclosed)) return metas;
    notJsx.add(unclosed);
  }
  return lex(source, false, notJsx).metas;
}

/** One pass of {@linkcode findImportMeta}; `unclosed` is where a JSX element that does not close began. */
function lex(source: string, jsx: boolean, notJsx: ReadonlySet<number>): {
  metas: MetaRange[];
  unclosed?: number;
} {
  const metas: MetaRange[] = [];
  const stack: Frame[] = [{ kind: "code", braces: 0 }];
  /** The JSX elements open: where each began, its tag's name, and whether it began in code (not in JSX). */
  const elements: { at: number; name: string; inCode: boolean }[] = [];
  /** Where the innermost JSX element open that began in code began: the guess to take back. */
  const guess = (): number => elements.findLast((element) => element.inCode)!.at;
  let prev = "";
  /** The token before each `(` open: after `if (…)` and its like, a statement starts. */
  const parens: string[] = [];
  let i = source.startsWith("#!") ? lineEnd(source, 0) : 0;
  const n = source.length;
  /** Opens the JSX element whose `<` is at `at`, when it is one; returns where its tag's name ends. */
  const openElement = (at: number, inCode: boolean): number => {
    let j = skipBlank(source, at + 1);
    if (source[j] === ">") {
      elements.push({ at, name: "", inCode });
      stack.push({ kind: "children", braces: 0 });
      return j + 1;
    }
    const start = j;
    while (j < n && JSX_NAME.test(source[j]!)) j++;
    if (j === start || (inCode && !/[A-Za-z_$\u0080-\uffff]/.test(source[start]!))) return -1;
    const after = skipBlank(source, j);
    // `<T,>` and `<T extends U>` open a generic arrow function in `.tsx`.
    if (inCode && (source[after] === "," || /^extends\s+[^=\s]/.test(source.slice(after, after + 10)))) {
      return -1;
    }
    elements.push({ at, name: source.slice(start, j), inCode });
    stack.push({ kind: "tag", braces: 0 });
    return j;
  };
  while (i < n) {
    const frame = stack[stack.length - 1]!;
    const c = source[i]!;
    if (frame.kind === "template") {
      if (c === "\\") i += 2;
      else if (c === "`") {
        stack.pop();
        i++;
        prev = ")";
      } else if (c === "$" && source[i + 1] === "{") {
        stack.push({ kind: "code", braces: 0 });
        i += 2;
        prev = "{";
      } else i++;
      continue;
    }
    if (frame.kind === "children") {
      if (c === "{") {
        stack.push({ kind: "code", braces: 0 });
        prev = "{";
        i++;
      } else if (c === "<") {
        const j = skipBlank(source, i + 1);
        if (source[j] === "/") {
          let k = skipBlank(source, j + 1);
          const start = k;
          while (k < n && JSX_NAME.test(source[k]!)) k++;
          k = skipBlank(source, k);
          const open = elements.pop()!;
          if (source.slice(start, k).trim() !== open.name || source[k] !== ">") {
            return { metas, unclosed: open.at };
          }
          stack.pop();
          i = k + 1;
          prev = ")";
        } else {
          const next = openElement(i, false);
          if (next === -1) return { metas, unclosed: guess() };
          i = next;
        }
      } else i++;
      continue;
    }
    if (frame.kind === "tag") {
      if (c === "/" && source[i + 1] === ">") {
        stack.pop();
        elements.pop();
        i += 2;
        prev = ")";
      } else if (c === ">") {
        stack.pop();
        stack.push({ kind: "children", braces: 0 });
        i++;
      } else if (c === '"' || c === "'") {
        const close = source.indexOf(c, i + 1);
        if (close === -1) return { metas, unclosed: guess() };
        i = close + 1;
      } else if (c === "{") {
        stack.push({ kind: "code", braces: 0 });
        prev = "{";
        i++;
      } else if (c === "/" && (source[i + 1] === "/" || source[i + 1] === "*")) {
        i = skipComment(source, i);
      } else if (c === "<") {
        return { metas, unclosed: guess() };
      } else i++;
      continue;
    }
    // Code.
    if (/\s|\uFEFF/.test(c)) {
      i++;
    } else if (c === "/") {
      if (source[i + 1] === "/" || source[i + 1] === "*") i = skipComment(source, i);
      else {
        const end = EXPRESSION_AFTER.has(prev) ? regexEnd(source, i) : -1;
        if (end === -1) {
          prev = "/";
          i++;
        } else {
          prev = ")";
          i = end;
        }
      }
    } else if (c === '"' || c === "'") {
      i = stringEnd(source, i);
      prev = ")";
    } else if (c === "`") {
      stack.push({ kind: "template", braces: 0 });
      i++;
    } else if (c === "{") {
      frame.braces++;
      prev = "{";
      i++;
    } else if (c === "}") {
      i++;
      if (frame.braces > 0) {
        frame.braces--;
        prev = "}";
      } else if (stack.length > 1) stack.pop();
    } else if (c === "<" && jsx && !notJsx.has(i) && EXPRESSION_AFTER.has(prev)) {
      const next = openElement(i, true);
      if (next === -1) {
        prev = "<";
        i++;
      } else i = next;
    } else if (c === "(" || c === ")") {
      prev = c === "(" ? (parens.push(prev), c) : STATEMENT_HEADS.has(parens.pop()!) ? "" : c;
      i++;
    } else if (c === "." && source.startsWith("...", i)) {
      prev = "...";
      i += 3;
    } else if (WORD.test(c)) {
      let j = i + 1;
      while (j < n && WORD.test(source[j]!)) j++;
      const word = source.slice(i, j);
      if (word === "import" && prev !== ".") {
        const dot = skipBlank(source, j);
        const meta = source[dot] === "." ? skipBlank(source, dot + 1) : -1;
        if (meta !== -1 && source.startsWith("meta", meta) && !WORD.test(source[meta + 4] ?? " ")) {
          metas.push({ start: i, end: meta + 4 });
          j = meta + 4;
        }
      }
      prev = EXPRESSION_AFTER.has(word) || STATEMENT_HEADS.has(word) ? word : ")";
      i = j;
    } else {
      prev = c;
      i++;
    }
  }
  return elements.length > 0 ? { metas, unclosed: guess() } : { metas };
}

/** Where the line holding `at` ends. */
function lineEnd(source: string, at: number): number {
  const rest = source.slice(at).search(LINE_END);
  return rest === -1 ? source.length : at + rest;
}

/** The end of the comment starting at `at` (`//` or `/*`). */
function skipComment(source: string, at: number): number {
  if (source[at + 1] === "/") return lineEnd(source, at);
  const close = source.indexOf("*/", at + 2);
  return close === -1 ? source.length : close + 2;
}

/** The first position at or after `at` that is not a space, a line break or a comment. */
function skipBlank(source: string, at: number): number {
  while (at < source.length) {
    const c = source[at]!;
    if (/\s|\uFEFF/.test(c)) at++;
    else if (c === "/" && (source[at + 1] === "/" || source[at + 1] === "*")) at = skipComment(source, at);
    else break;
  }
  return at;
}

/** The end of the string literal opening at `at`; an unescaped line break ends it too. */
function stringEnd(source: string, at: number): number {
  const quote = source[at];
  for (let i = at + 1; i < source.length; i++) {
    const c = source[i]!;
    if (c === "\\") i++;
    else if (c === quote) return i + 1;
    else if (LINE_END.test(c)) return i;
  }
  return source.length;
}

/** The end of the regular expression opening at `at` (flags included), or -1 when none closes on its line. */
function regexEnd(source: string, at: number): number {
  let inClass = false;
  for (let i = at + 1; i < source.length; i++) {
    const c = source[i]!;
    if (LINE_END.test(c)) return -1;
    if (c === "\\") i++;
    else if (c === "[") inClass = true;
    else if (c === "]") inClass = false;
    else if (c === "/" && !inClass) {
      let end = i + 1;
      while (end < source.length && WORD.test(source[end]!)) end++;
      return end;
    }
  }
  return -1;
}
