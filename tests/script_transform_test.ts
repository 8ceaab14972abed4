/**
 * `scriptText()` (core/_script_transform.ts): a parsed module rewritten as
 * the body of a function, with TypeScript's types blanked so every line and
 * column stays in place, imports bound on the body's first line, and a
 * getter per local export returned after the last line. The bodies are
 * compiled with `node:vm` as `_script_graph.ts` compiles them, under a
 * virtual file URL, and run with a stub `__hs_import`.
 *
 * @module
 */

import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { runInThisContext } from "node:vm";
import { parseProgram, type SourceSyntax } from "../core/_source_parser.ts";
import { type ScriptText, scriptText, spliceScript } from "../core/_script_transform.ts";

const FILE = "file:///virtual/m.ts";
/** What `export default <expression>` is rewritten to, as long as the keywords it replaces. */
const DEFAULT_REWRITE = { from: "export default", to: "let __hs_dflt=" };
/** What `import.meta` is rewritten to, as long. */
const META_REWRITE = { from: "import.meta", to: "__hs_meta__" };

type Namespaces = Readonly<Record<string, Record<string, unknown>>>;
type Body = (load: (specifier: string) => Record<string, unknown>) => unknown;

function transform(source: string, syntax: SourceSyntax = "ts"): ScriptText | undefined {
  return scriptText(source, parseProgram(source, syntax));
}

function accepted(source: string, syntax: SourceSyntax = "ts"): ScriptText {
  const text = transform(source, syntax);
  ok(text !== undefined, `accepted: ${source}`);
  return text;
}

/** Compiles a body as the script graph does, without running it. */
function compile(text: ScriptText, filename = FILE): Body {
  return runInThisContext(`(${text.awaits ? "async " : ""}function (__hs_import) {${text.code}\n})`, {
    filename,
    lineOffset: -1,
  }) as Body;
}

/** Runs a body with `this` undefined, as the script graph does; returns its getters and the specifiers it asked for. */
async function run(
  text: ScriptText,
  namespaces: Namespaces = {},
): Promise<{ locals: Record<string, unknown>; requested: string[] }> {
  const requested: string[] = [];
  const load = (specifier: string) => {
    requested.push(specifier);
    const namespace = namespaces[specifier];
    ok(namespace !== undefined, `no namespace for ${specifier}`);
    return namespace;
  };
  const locals = await compile(text).call(undefined, load) as Record<string, unknown>;
  return { locals, requested };
}

/** The getters' values, read once each. */
function valuesOf(locals: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.keys(locals).map((name) => [name, locals[name]]));
}

/** The module's own lines of a body: between the import line and the `return` line. */
function moduleLines(code: string, source: string): string[] {
  const lines = code.split("\n");
  const count = source.split("\n").length;
  ok(lines[0]!.startsWith('"use strict";'), "the first line opens strict mode and binds the imports");
  strictEqual(lines.length, count + 2, "one line before the module's lines, one after");
  ok(/^;(?:if \(.*\);)?return \{ /.test(lines[count + 1]!), "the last line returns the getters");
  return lines.slice(1, count + 1);
}

/** A line without the parameter properties' fields or assignments placed at its end (nothing after them moves). */
function withoutAssignments(line: string): string {
  return line.replace(/;(?:this\.[\p{L}\p{N}_$]+=[\p{L}\p{N}_$]+;)+(?=\s*\}?\s*$)/u, "")
    .replace(/(?<=\{)(?:"[\p{L}\p{N}_$]+";)+(?=\s*$)/u, "");
}

/**
 * Checks that each output line is its source line with some characters
 * blanked, but for `export default` rewritten in place; returns the
 * problems, as `line:column` (1-based).
 */
function positionProblems(source: string, code: string): string[] {
  const sourceLines = source.split("\n");
  const lines = moduleLines(code, source).map(withoutAssignments);
  const problems: string[] = [];
  lines.forEach((line, index) => {
    const original = sourceLines[index]!;
    // Rewritten in place, and a `;` may follow what it exports.
    if (original.includes(DEFAULT_REWRITE.from)) return;
    if (line.length !== original.length) {
      problems.push(`${index + 1}: ${line.length} characters for ${original.length}`);
      return;
    }
    for (let column = 0; column < line.length; column++) {
      if (line.startsWith(DEFAULT_REWRITE.to, column) && original.startsWith(DEFAULT_REWRITE.from, column)) {
        column += DEFAULT_REWRITE.to.length - 1;
        continue;
      }
      if (line.startsWith(META_REWRITE.to, column) && original.startsWith(META_REWRITE.from, column)) {
        column += META_REWRITE.to.length - 1;
        continue;
      }
      const [out, was] = [line[column]!, original[column]!];
      // A blanked statement keeps a `;` where it began.
      if (out === was || ((out === " " || out === ";") && !/[\n\r\u2028\u2029]/.test(was))) continue;
      problems.push(`${index + 1}:${column + 1}: ${JSON.stringify(out)} for ${JSON.stringify(was)}`);
    }
  });
  return problems;
}

/** The module's lines of a body with runs of spaces collapsed, blank lines dropped. */
function kept(code: string, source: string): string[] {
  // A blanked statement's `;` is left out.
  return moduleLines(code, source).map((line) => line.replace(/\s+/g, " ").trim().replace(/^;\s*/, ""))
    .filter((line) => line !== "");
}

const TYPED = `import type { Shape } from "./shape.ts";
import { type Kind, helper } from "./helper.ts";
export type { Kind, Shape };
export type Pair<A, B> = [A, B];
interface Named { readonly name: string; [key: string]: unknown }
type Id<T> = T;
declare const injected: number;
declare function external(x: string): void;
export function identity<T>(value: T): T { return value; }
export function overloaded(x: string): string;
export function overloaded(x: number): number;
export function overloaded(x: unknown): unknown { return x; }
export function optional(a?: number, b: string = "b"): string { return \`\${a}\${b}\`; }
export function withThis(this: Named, suffix: string) { return this.name + suffix; }
export const arrow = <T,>(x: T): T => x;
export const asserted = (helper as unknown as () => number)() satisfies number;
export const nonNull = [1, 2].find((n) => n > 1)!;
export const made = new Map<string, Id<number>>();
export const called = identity<string>("s");
abstract class Base<T> implements Named {
  private readonly x?: number;
  declare y: string;
  z!: T;
  protected static count: number = 0;
  public name: string = "base";
  [key: string]: unknown;
  abstract area(): number;
  toString(): string { return this.name; }
}
export class Square extends Base<number> implements Named, Shape {
  side: number;
  constructor(side: number) { super(); this.side = side; }
  override area(): number { return this.side ** 2; }
}
let definite!: number;
definite = 3;
export const seen = definite;`;

Deno.test("scriptText() blanks TypeScript's syntax in place: every kept character keeps its line and column", () => {
  const text = accepted(TYPED);
  deepStrictEqual(positionProblems(TYPED, text.code), []);
  const lines = moduleLines(text.code, TYPED);
  deepStrictEqual(lines.map((line) => line.length), TYPED.split("\n").map((line) => line.length));
  // Imports, type-only exports, declarations and overload signatures leave
  // blank lines, but for a `;` where the statement began.
  for (const line of [1, 2, 3, 4, 5, 6, 7, 8, 10, 11]) {
    strictEqual(lines[line - 1]!.trim(), ";", `line ${line}`);
  }
  deepStrictEqual(kept(text.code, TYPED), [
    "function identity (value ) { return value; }",
    "function overloaded(x ) { return x; }",
    'function optional(a , b = "b") { return `${a}${b}`; }',
    "function withThis( suffix ) { return this.name + suffix; }",
    "const arrow = (x ) => x;",
    "const asserted = (helper )() ;",
    "const nonNull = [1, 2].find((n) => n > 1) ;",
    "const made = new Map ();",
    'const called = identity ("s");',
    "class Base {",
    "x ;",
    "z ;",
    "static count = 0;",
    'name = "base";',
    "toString() { return this.name; }",
    "}",
    "class Square extends Base {",
    "side ;",
    "constructor(side ) { super(); this.side = side; }",
    "area() { return this.side ** 2; }",
    "}",
    "let definite ;",
    "definite = 3;",
    "const seen = definite;",
  ]);
});

Deno.test("scriptText() output of the typed module runs as the module would", async () => {
  const { locals, requested } = await run(accepted(TYPED), { "./helper.ts": { helper: () => 5 } });
  deepStrictEqual(requested, ["./helper.ts"]);
  const exports = valuesOf(locals);
  deepStrictEqual(Object.keys(exports), [
    "identity",
    "overloaded",
    "optional",
    "withThis",
    "arrow",
    "asserted",
    "nonNull",
    "made",
    "called",
    "Square",
    "seen",
  ]);
  const { identity, overloaded, optional, withThis, arrow, Square } = exports as {
    identity: <T>(value: T) => T;
    overloaded: (x: string) => string;
    optional: () => string;
    withThis: (this: { name: string }, suffix: string) => string;
    arrow: <T>(x: T) => T;
    Square: new (side: number) => { area(): number; x?: number };
  };
  strictEqual(identity(1), 1);
  strictEqual(overloaded("o"), "o");
  strictEqual(optional(), "undefinedb");
  strictEqual(withThis.call({ name: "n" }, "!"), "n!");
  strictEqual(arrow(2), 2);
  strictEqual(exports.asserted, 5);
  strictEqual(exports.nonNull, 2);
  ok(exports.made instanceof Map);
  strictEqual(exports.called, "s");
  strictEqual(exports.seen, 3);
  const square = new Square(3);
  strictEqual(square.area(), 9);
  strictEqual(String(square), "base");
  ok(Object.hasOwn(square, "x") && square.x === undefined, "an optional field is still a field");
  ok(!Object.hasOwn(square, "y"), "a declared field is no field");
});

Deno.test("scriptText() keeps the positions of every core module it accepts, and each compiles", async () => {
  const root = new URL("../core/", import.meta.url);
  const files: URL[] = [];
  const walk = async (dir: URL) => {
    for await (const entry of Deno.readDir(dir)) {
      if (entry.isDirectory) await walk(new URL(`${entry.name}/`, dir));
      else if (entry.isFile && entry.name.endsWith(".ts")) files.push(new URL(entry.name, dir));
    }
  };
  await walk(root);
  ok(files.length > 20, "core holds the runtime's modules");
  const failures: string[] = [];
  let taken = 0;
  for (const file of files) {
    const name = file.href.slice(root.href.length);
    const source = await Deno.readTextFile(file);
    const text = scriptText(source, parseProgram(source, "ts"));
    if (text === undefined) continue;
    taken++;
    const lines = moduleLines(text.code, source).map(withoutAssignments);
    deepStrictEqual(lines.map((line) => line.length), source.split("\n").map((line) => line.length), name);
    for (const problem of positionProblems(source, text.code)) failures.push(`${name}:${problem}`);
    try {
      compile(text, file.href);
    } catch (error) {
      failures.push(`${name}: does not compile: ${error}`);
    }
  }
  deepStrictEqual(failures, []);
  ok(taken * 2 >= files.length, `${taken} of ${files.length} core modules taken`);
});

Deno.test("scriptText() returns a getter per local export and lists re-exports and star exports", async () => {
  const text = accepted(
    'export const a = 1; export function f() { return a + 1; } export default class {}; export { a as b }; export * from "./star.ts"; export { x as y } from "./other.ts"; export * as all from "./other.ts";',
  );
  deepStrictEqual(text.reexports, [{ name: "y", from: "./other.ts", imported: "x" }, {
    name: "all",
    from: "./other.ts",
  }]);
  deepStrictEqual(text.stars, ["./star.ts"]);
  strictEqual(text.awaits, false);
  const { locals, requested } = await run(text);
  deepStrictEqual(requested, [], "re-exports are the script graph's to load");
  deepStrictEqual(Object.keys(locals), ["a", "f", "default", "b"]);
  strictEqual(locals.a, 1);
  strictEqual((locals.f as () => number)(), 2);
  strictEqual(typeof locals.default, "function");
  strictEqual(locals.b, 1);
  ok(Object.values(Object.getOwnPropertyDescriptors(locals)).every((property) => property.get !== undefined));
});

Deno.test("scriptText() makes export default of an expression the default getter's value", async () => {
  const { locals } = await run(accepted("export default 40 + 2;"));
  deepStrictEqual(valuesOf(locals), { default: 42 });
});

Deno.test("scriptText() makes a named default function the default export, under its name", async () => {
  const { locals } = await run(accepted("export default function named() { return 1; }\nnamed.extra = 2;"));
  deepStrictEqual(Object.keys(locals), ["default"]);
  const named = locals.default as (() => number) & { extra: number };
  strictEqual(named.name, "named");
  strictEqual(named(), 1);
  strictEqual(named.extra, 2);
});

Deno.test("scriptText() binds default, named and namespace imports, and asks for no type-only or bare import", async () => {
  const source = [
    'import d, { a as b } from "./m.ts";',
    'import * as ns from "./n.ts";',
    'import type { T } from "./t.ts";',
    'import "./side.ts";',
    "const typed: T | undefined = undefined;",
    "export const out = [d, b, ns.k, typed];",
  ].join("\n");
  const text = accepted(source);
  const lines = text.code.split("\n");
  ok(lines[0]!.includes("__hs_import"), "imports are bound on the first line");
  ok(!lines.slice(1).some((line) => line.includes("__hs_import")), "and nowhere else");
  const { locals, requested } = await run(text, {
    "./m.ts": { default: "D", a: "A" },
    "./n.ts": { k: "K" },
  });
  deepStrictEqual(locals.out, ["D", "A", "K", undefined]);
  deepStrictEqual(requested.toSorted(), ["./m.ts", "./n.ts"]);
});

Deno.test("scriptText() keeps stack frames at the module's line and column", () => {
  const source = [
    'import { n } from "./n.ts";',
    "interface Opts { loud: boolean }",
    'export function fail(opts: Opts, count: number): never { const label: string = "x" + n; throw new Error("boom"); }',
  ].join("\n");
  const column = source.split("\n")[2]!.indexOf("new Error") + 1;
  const fail = (compile(accepted(source)).call(undefined, () => ({ n: 1 })) as { fail: () => never }).fail;
  let stack = "";
  try {
    fail();
  } catch (error) {
    stack = (error as Error).stack ?? "";
  }
  ok(stack.includes("boom"), stack);
  ok(stack.includes(`${FILE}:3:${column})`), `${FILE}:3:${column} in\n${stack}`);
});

Deno.test("scriptText() says a module with top-level await compiles as an async function", async () => {
  const text = accepted("export const v: number = await Promise.resolve(7);");
  strictEqual(text.awaits, true);
  const { locals } = await run(text);
  strictEqual(locals.v, 7);
  strictEqual(accepted("for await (const x of []) {}\nexport {};").awaits, true);
});

Deno.test("scriptText() says a module awaiting only inside functions needs no async body", async () => {
  const text = accepted(
    "export async function later() { return await Promise.resolve(1); }\nexport const f = async () => await 2;",
  );
  strictEqual(text.awaits, false);
  const { locals } = await run(text);
  strictEqual(await (locals.later as () => Promise<number>)(), 1);
  strictEqual(await (locals.f as () => Promise<number>)(), 2);
});

Deno.test("scriptText() refuses syntax that compiles to code or cannot be a script faithfully", () => {
  for (
    const source of [
      // Enums Deno compiles further: computed members, inlined const enums, merged declarations.
      "export enum E { A = 1, B = A << 1 }",
      "const enum E { A }\nexport const a = E.A;",
      "export enum E { A }\nexport enum E { B = 1 }",
      'export enum E { A = "a", B }',
      // Code after an enum on its last line would move, however far along the line.
      "enum E { A } export const a = E.A;",
      `enum E { A }${" ".repeat(300)}export const a = E.A;`,
      `export class C {\n  constructor(private a: number) {${" ".repeat(300)}f();\n  }\n}`,
      // A raw U+2028 in an enum: V8 and Deno's map of the module count its lines otherwise.
      'export enum E { A = "\u2028" }',
      // super() in an object method's computed key, which the constructor evaluates: Deno assigns after it too.
      "class B {}\nexport class C extends B {\n  constructor(public x: number) {\n    if (x < 0) {\n      void { [super()]() {} };\n      return;\n    }\n    super();\n  }\n}",
      // A derived constructor that calls super() twice: Deno assigns after each.
      "class B {}\nexport class C extends B {\n  constructor(private a: number) {\n    if (a < 0) {\n      super();\n      return;\n    }\n    super();\n  }\n}",
      "namespace N { export const x = 1; }",
      // Parameter properties beside instance fields: Deno runs the fields' initialisers after the assignments.
      "export class C { b = 1; constructor(private a: number) {} }",
      "export class C { #b = 1; constructor(public a: number) {} }",
      // No `super(…)` statement to put the assignment after.
      "class B {}\nexport class C extends B { constructor(private a: number) { if (a) super(); else super(); } }",
      // Code after the place of the assignment, on its line, would move.
      "export class C { constructor(private a: number) { f(); } }",
      "declare function dec(...args: unknown[]): void;\n@dec class C {}",
      "const x = 1;\nexport const y = <number>x;",
      "export function f() { return new.target; }",
      'export const later = import("./x.ts");',
      "export let n = 0;\nexport function inc() { n++; }",
      "let n = 0;\nexport { n };\nn = 2;",
      "export const a = 1; // __hs_x",
      'import x = require("y");',
      "export = 1;",
      "export class C { accessor a = 1; }",
      "export function f({ a }?: { a: number }) { return a; }",
    ]
  ) {
    strictEqual(transform(source), undefined, source);
  }
});

Deno.test("scriptText() assigns parameter properties where Deno's transpiler does, on the lines they were", async () => {
  const source = [
    "class Base {",
    "  constructor(public base = 1) {}",
    "}",
    "export class Derived extends Base {",
    "  static made = 0;",
    "  constructor(private readonly x: number, protected y = 2, plain?: number, public override base = 3) {",
    "    const before = 1;",
    "    super(before)",
    "    this.seen = [this.x, this.y, plain, this.base];",
    "  }",
    "  declare seen: unknown[];",
    "}",
    "export const keys = Object.keys(new Derived(7));",
    "export const seen = new Derived(7, undefined, 9).seen;",
  ].join("\n");
  const text = accepted(source);
  deepStrictEqual(positionProblems(source, text.code), []);
  const { locals } = await run(text);
  // As Deno's own import of the module answers: each own property in assignment order.
  deepStrictEqual(locals.keys, ["base", "x", "y", "seen"]);
  deepStrictEqual(locals.seen, [7, 2, 9, 3]);
});

Deno.test("scriptText() makes an enum of literal members the object Deno's transpiler makes, each member on its line", async () => {
  const source = [
    "export enum Color {",
    "  Red,",
    '  Green = "green",',
    "  Blue = 0x10,",
    "  Next,",
    '  "with-dash" = -2,',
    "}",
    "enum Empty {}",
    "export const keys = [Object.keys(Color), Object.keys(Empty)];",
  ].join("\n");
  const text = accepted(source);
  const lines = moduleLines(text.code, source);
  strictEqual(lines[2], 'Color["Green"] = "green";', "a member keeps its line");
  ok(
    lines[6]!.endsWith("})(Color || {});"),
    `a module's enum starts from what the name holds, as Deno's: ${lines[6]}`,
  );
  const { locals } = await run(text);
  // As Deno's own import of the module answers.
  deepStrictEqual({ ...locals.Color as object }, {
    0: "Red",
    16: "Blue",
    17: "Next",
    Red: 0,
    Green: "green",
    Blue: 16,
    Next: 17,
    "with-dash": -2,
    "-2": "with-dash",
  });
  deepStrictEqual(locals.keys, [["0", "16", "17", "Red", "Green", "Blue", "Next", "with-dash", "-2"], []]);
});

Deno.test("scriptText() declares parameter properties as fields, as Deno does: a base class's accessor is shadowed, and defaults see them", async () => {
  const source = [
    "class Base {",
    "  set value(_: number) {",
    '    throw new Error("the setter ran");',
    "  }",
    "}",
    "class Shadowing extends Base {",
    "  constructor(public value: number) {",
    "    super();",
    "  }",
    "}",
    "class Defaults {",
    "  constructor(public a = 1, public b = Object.keys(this).join()) {}",
    "}",
    "export const own = Object.entries(new Shadowing(5));",
    "export const defaults = Object.entries(new Defaults());",
  ].join("\n");
  const text = accepted(source);
  deepStrictEqual(positionProblems(source, text.code), []);
  const { locals } = await run(text);
  // As Deno's own import of the module answers.
  deepStrictEqual(locals.own, [["value", 5]]);
  deepStrictEqual(locals.defaults, [["a", 1], ["b", "a,b"]]);
});

Deno.test("scriptText() makes an enum in a block or function a `let`, as Deno does, and keeps U+2028 in its strings off the lines", async () => {
  const source = [
    "export function early(): unknown[] {",
    "  let seen: string;",
    "  try {",
    "    seen = typeof E;",
    "  } catch (error) {",
    "    seen = (error as Error).name;",
    "  }",
    "  enum E { A }",
    "  return [seen, E.A];",
    "}",
    'export enum Separators { Line = "\\u2028", Paragraph = "\\u2029" }',
    "export const result = [early(), Separators.Line.length, new Error().stack];",
  ].join("\n");
  const text = accepted(source);
  ok(!/[\u2028\u2029]/.test(text.code), "no raw line separator in the body");
  const { locals } = await run(text);
  const [early, length, stack] = locals.result as [unknown, number, string];
  deepStrictEqual([early, length], [["ReferenceError", 0], 1]);
  ok(stack.includes(`${FILE}:12:`), stack);
});

Deno.test("spliceScript() takes no edit inside an enum the body rewrote: the values there are placed otherwise", () => {
  const source = 'export enum E { Low = 1, High = 0, Down = -1 }\nexport const label = "v1";\n';
  const text = accepted(source);
  const digit = source.indexOf("1 }");
  strictEqual(spliceScript(text, digit, "1", "2"), undefined);
  // After the enum, an edit is spliced as the whole transform would write it.
  const at = source.indexOf('"v1"');
  const spliced = spliceScript(text, at, '"v1"', '"v22"');
  strictEqual(spliced?.code, accepted(source.replace('"v1"', '"v22"')).code);
});

Deno.test("scriptText() refuses a module the parser flagged an error in", () => {
  const source = "export const a = 1;";
  const program = parseProgram(source, "ts");
  ok(transform(source) !== undefined);
  strictEqual(scriptText(source, { ...program, errors: [new SyntaxError("flagged")] }), undefined);
});

Deno.test("scriptText() accepts ambient declarations and exports never assigned after their declaration", async () => {
  for (
    const source of [
      "declare enum E {}",
      "declare namespace N {}",
      "declare namespace N { const x: number; }",
      'declare module "m" {}',
      "declare global { var g: number; }",
      "export let n = 0;",
      "let n = 0;\nexport { n };",
      "export let n = 0;\nfunction shadow() { let m = 0; m++; return m; }",
    ]
  ) {
    const text = accepted(source);
    deepStrictEqual(positionProblems(source, text.code), [], source);
    await run(text);
  }
  deepStrictEqual(valuesOf((await run(accepted("export let n = 0;"))).locals), { n: 0 });
});

Deno.test("scriptText() rewrites a JavaScript module the same way", async () => {
  const source = 'import { a } from "./a.js";\nexport const b = a * 2;\nexport default b;';
  const text = accepted(source, "js");
  deepStrictEqual(positionProblems(source, text.code), []);
  deepStrictEqual(valuesOf((await run(text, { "./a.js": { a: 4 } })).locals), { b: 8, default: 8 });
});

Deno.test("scriptText() leaves this undefined at the top level, as in a module", async () => {
  const { locals } = await run(accepted("export const self = this;\nexport const arrow = (() => this)();"));
  deepStrictEqual(valuesOf(locals), { self: undefined, arrow: undefined });
});

Deno.test("scriptText() refuses a module with an error the parser only tolerated: a top-level return", () => {
  strictEqual(transform("export const a = 1;\nreturn 1;"), undefined);
});

Deno.test("scriptText() keeps a blanked statement from joining the lines around it", async () => {
  const { locals } = await run(
    accepted("export const v = [1]\ntype T = 1\n[0]\nexport const w = String\ninterface I {}\n(1)"),
  );
  deepStrictEqual(valuesOf(locals), { v: [1], w: String });
  const member = accepted('export class C {\n  x = 1\n  declare y: number\n  ["z"]() { return 2; }\n}');
  const C = valuesOf((await run(member)).locals).C as new () => { x: number; z(): number };
  deepStrictEqual([new C().x, new C().z()], [1, 2]);
});

Deno.test("scriptText() marks an anonymous default function or class to be named `default`, and ends its statement", async () => {
  for (
    const source of [
      "export default function () { return 1; }\n(() => {})();",
      "export default class {}\n[0];",
    ]
  ) {
    const text = accepted(source);
    // The graph renames it once the body returned: the body itself may shadow `Object` (see `_script_graph.ts`).
    strictEqual(text.renameDefault, true, source);
    const { locals } = await run(text);
    strictEqual(typeof locals.default, "function", source);
  }
  strictEqual(accepted("export default function named() {}").renameDefault, false);
  // Its static code could read the name before the rename: such a class is left to Deno's import.
  strictEqual(transform("export default class { static seen = this.name; }"), undefined);
  strictEqual(transform("export default class { static { globalThis.x = 1; } }"), undefined);
});

Deno.test("scriptText() exports no getter for a name an `export { … }` list gives a type", async () => {
  const { locals } = await run(
    accepted("interface A { a: number }\ntype B = 1;\nexport { A, B };\nexport const c = 1;"),
  );
  deepStrictEqual(Object.keys(locals), ["c"]);
  const both = await run(accepted("interface D { d: number }\nconst D = 4;\nexport { D };"));
  deepStrictEqual(valuesOf(both.locals), { D: 4 });
});

Deno.test("scriptText() refuses `arguments` outside a function, and a direct eval", () => {
  strictEqual(transform("export const t = typeof arguments;"), undefined);
  strictEqual(transform("export const f = () => typeof arguments;"), undefined);
  ok(transform("export function f() { return (() => arguments.length)(); }") !== undefined);
  strictEqual(transform('export let n = 0;\nexport function inc() { eval("n++"); }'), undefined);
});

Deno.test("scriptText() notes JSON imports and refuses any other import attribute", () => {
  deepStrictEqual(accepted('import data from "./d.json" with { type: "json" };\nexport { data };').json, [
    "./d.json",
  ]);
  strictEqual(transform('import x from "./x.ts" with { type: "css" };'), undefined);
});

Deno.test("scriptText() leaves a module with a source map of its own to Deno's import, which applies the map", () => {
  strictEqual(
    transform("export const a = 1;\n//# sourceMappingURL=data:application/json;base64,e30=\n", "js"),
    undefined,
  );
});

Deno.test("scriptText() makes each import.meta a parameter as long, and leaves strings, comments and templates alone", async () => {
  const source = `const meta = import.meta;
export const seen = [meta === import.meta, (() => import.meta.url)(), "import.meta", \`import.meta \${typeof import.meta}\`];
// import.meta
export function later() { return import . meta.dirname; }`;
  const text = accepted(source);
  strictEqual(text.meta, true);
  strictEqual(accepted("export const a = 1;").meta, false);
  const lines = moduleLines(text.code, source);
  deepStrictEqual(lines.map((line) => line.length), source.split("\n").map((line) => line.length));
  strictEqual(lines[3], "       function later() { return __hs_meta__  .dirname; }");
  ok(text.code.includes('"import.meta"') && text.code.includes("// import.meta"), text.code);
  const meta = { url: FILE, dirname: "/virtual" };
  const body = runInThisContext(`(function (__hs_import, __hs_meta__) {${text.code}\n})`, {
    filename: FILE,
    lineOffset: -1,
  }) as (load: unknown, meta: unknown) => Record<string, unknown>;
  const locals = await body.call(undefined, () => ({}), meta);
  deepStrictEqual(locals.seen, [true, FILE, "import.meta", "import.meta object"]);
  strictEqual((locals.later as () => string)(), "/virtual");
});

Deno.test("scriptText() keeps the line and column of what follows an import.meta, on its line and after a line break in it", () => {
  const source = `export const a = [import.meta.url, new Error("one").stack];
export const b = [import
  .meta, new Error("two").stack];`;
  const text = accepted(source);
  const body = runInThisContext(`(function (__hs_import, __hs_meta__) {${text.code}\n})`, {
    filename: FILE,
    lineOffset: -1,
  }) as (load: unknown, meta: unknown) => Record<string, unknown[]>;
  const locals = body.call(undefined, () => ({}), { url: FILE });
  const one = source.split("\n")[0]!.indexOf("new Error") + 1;
  const two = source.split("\n")[2]!.indexOf("new Error") + 1;
  ok(String(locals.a![1]).includes(`${FILE}:1:${one}`), String(locals.a![1]));
  ok(String(locals.b![1]).includes(`${FILE}:3:${two}`), String(locals.b![1]));
});

Deno.test("scriptText() refuses new.target and a module naming the hidden import.meta parameter", () => {
  strictEqual(transform("export function f() { return new.target; }"), undefined);
  strictEqual(transform("const __hs_meta__ = 1;\nexport const u = import.meta.url;"), undefined);
});
