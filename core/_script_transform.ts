/**
 * A module's text made into the body of a function, for evaluation as a
 * script (see `_script_graph.ts`), from the syntax tree the import scanner
 * already parsed. Every line and column stays where it was, so stack frames
 * need no source map:
 *
 * - TypeScript's types are blanked out (replaced by spaces, line breaks
 *   kept), as Node's type stripping and `ts-blank-space` do.
 * - `import` declarations are blanked; their bindings are declared on the
 *   function's first line, before the module's own first line, as an ES
 *   module's bindings exist before its code runs.
 * - `export` keywords and `export { … }` lists are blanked; a getter per
 *   exported name, returned after the last line, keeps each export live.
 *   `export default <expression>` becomes a declaration of a hidden name.
 * - `import.meta` becomes a parameter of the function exactly as long
 *   (`META_LOCAL` of `_mint.ts`), which the caller binds to an object
 *   describing the module's file, as minted modules do.
 *
 * An importer binds each name it imports once, when it runs (its
 * dependencies have run by then): a module that assigns an exported binding
 * anywhere but in its declaration, which would need a live binding, is not
 * taken. `import * as ns` reads through the namespace's getters, live.
 *
 * Only what can be erased this way is taken. Syntax that TypeScript compiles
 * to code (enums, namespaces, parameter properties, decorators), `<T>x`
 * assertions, `new.target`, `import()`, a direct `eval`, `arguments`
 * outside a function, import attributes other than JSON's, a source map of
 * the module's own, and anything the parser only tolerated give `undefined`:
 * Deno's own import runs such a module.
 *
 * @module
 */

import type { SyntaxNode as Node } from "./_source_parser.ts";
import { META_LOCAL, metaText } from "./_mint.ts";

/** The parameter through which the body reaches its imports. */
export const IMPORT_PARAMETER = "__hs_import";
/** The local that holds `export default <expression>`. */
export const DEFAULT_LOCAL = "__hs_dflt";
/** Names the body declares itself: a module that uses them is not taken. */
const RESERVED = /__hs_/;
/**
 * A module with a source map of its own (compiled output): its frames must
 * go through the map, which Deno applies to an imported module only.
 */
// V8 also honours `//# sourceURL=` (anywhere a line comment may be) in a
// script, and then ignores the script's line offset: every frame would be
// one line off. Deno's module import ignores it.
const HAS_SOURCE_MAP = /\/\/[#@][ \t]*source(?:Mapping)?URL=/;

/** A module's text as a function body, and the exports that name other modules. */
export interface ScriptText {
  /**
   * The body: a first line of import bindings, then the module's lines, then
   * `return` of an object with a getter per local export. Compile it with
   * a line offset of −1 so the module's lines keep their numbers.
   */
  readonly code: string;
  /** The names the module exports from its own bindings, each a getter of the object the body returns. */
  readonly exports: readonly string[];
  /** `export { a as b } from "m"` (`imported: "a"`) and `export * as b from "m"` (`imported: undefined`). */
  readonly reexports: readonly { readonly name: string; readonly from: string; readonly imported?: string }[];
  /** `export * from "m"`, in source order. */
  readonly stars: readonly string[];
  /** Specifiers imported `with { type: "json" }` (any other attribute is refused). */
  readonly json: readonly string[];
  /** Whether the body has top-level `await` (it compiles only as an async function). */
  readonly awaits: boolean;
  /** Whether the body reads `import.meta`, as the parameter `META_LOCAL`. */
  readonly meta: boolean;
  /**
   * Whether `default` is an anonymous function or class that the export
   * names `default`: the caller renames it once the body has returned (the
   * body cannot: the module may shadow `Object`, `Reflect`, ...).
   */
  readonly renameDefault: boolean;
}

/** Keys of value nodes that hold only types. */
const TYPE_KEYS: ReadonlySet<string> = new Set([
  "typeAnnotation",
  "typeParameters",
  "typeArguments",
  "superTypeParameters",
  "superTypeArguments",
  "returnType",
]);
/** Keys of a node that hold no child node the rewrite visits: positions, comments, and `implements` (types). */
export const SKIPPED_KEYS: ReadonlySet<string> = new Set([
  "type",
  "start",
  "end",
  "loc",
  "range",
  "extra",
  "leadingComments",
  "trailingComments",
  "innerComments",
  "comments",
  "errors",
  // Blanked with its keyword by `#class`.
  "implements",
]);
/** TypeScript nodes that hold a value: the key of the value. */
const TS_VALUE: Readonly<Record<string, string>> = {
  TSAsExpression: "expression",
  TSSatisfiesExpression: "expression",
  TSNonNullExpression: "expression",
  TSInstantiationExpression: "expression",
};
/** TypeScript nodes that compile to code, or cannot be blanked safely. */
const TS_REFUSED: ReadonlySet<string> = new Set([
  "TSTypeAssertion",
  "TSExportAssignment",
  "TSImportEqualsDeclaration",
]);
/** Class members that may carry modifiers TypeScript erases. */
const MEMBERS: ReadonlySet<string> = new Set([
  "ClassProperty",
  "ClassMethod",
  "ClassPrivateProperty",
  "ClassPrivateMethod",
]);
/** TypeScript declarations that stand as statements (or class members): blanked with a `;`. */
const STATEMENTS: ReadonlySet<string> = new Set([
  "TSInterfaceDeclaration",
  "TSTypeAliasDeclaration",
  "TSDeclareFunction",
  "TSDeclareMethod",
  "TSModuleDeclaration",
  "TSEnumDeclaration",
  "TSIndexSignature",
  "TSNamespaceExportDeclaration",
]);
const TS_MODIFIERS = /\b(?:public|private|protected|readonly|override|declare|abstract)\b/g;
const LINE_BREAK = /[\n\r\u2028\u2029]/;

/**
 * Where each body's text is longer than the module's from (an edit at `at`
 * longer by `by`: the `;` after an `export default` expression), so that a
 * position in the module finds its place in the body; see {@linkcode spliceScript}.
 */
const layouts = new WeakMap<ScriptText, readonly Growth[]>();

/** Text of the module from `from` to `at` that the body holds `by` characters longer (an insertion when they are equal). */
interface Growth {
  readonly from: number;
  readonly at: number;
  readonly by: number;
}

/**
 * The body of the module after an edit that replaced the text of one token
 * (see `_token_edit.ts`), made from the body before it: the token's text is
 * kept as it is, at a place the layout tells.
 *
 * @param script A body `scriptText` made (or this function).
 * @param start Where the token starts in the module.
 * @returns The new body, or `undefined` when the token's text is not kept as it is.
 */
export function spliceScript(
  script: ScriptText,
  start: number,
  oldText: string,
  newText: string,
): ScriptText | undefined {
  const growths = layouts.get(script);
  if (growths === undefined) return undefined;
  const end = start + oldText.length;
  // The body's first line holds the bindings: the module's text starts after it.
  let at = script.code.indexOf("\n") + 1 + start;
  for (const growth of growths) {
    if (growth.at <= start) at += growth.by;
    // In text the body replaced (an enum): not where the offset says, and maybe not alone (an auto-increment).
    else if (growth.from < end) return undefined;
  }
  if (script.code.slice(at, at + oldText.length) !== oldText) return undefined;
  const delta = newText.length - oldText.length;
  const spliced: ScriptText = {
    ...script,
    code: script.code.slice(0, at) + newText + script.code.slice(at + oldText.length),
  };
  layouts.set(
    spliced,
    growths.map((growth) =>
      growth.at >= end ? { from: growth.from + delta, at: growth.at + delta, by: growth.by } : growth
    ),
  );
  return spliced;
}

/** Thrown inside the transform when the module cannot be taken; never escapes it. */
class Refused extends Error {}

/**
 * Rewrites a parsed module as a function body (see the module doc).
 *
 * @param source The module's text.
 * @param program Its syntax tree, from `parseProgram`.
 * @returns The body, or `undefined` when the module cannot be evaluated as a script faithfully.
 */
export function scriptText(source: string, program: Node): ScriptText | undefined {
  const errors = (program.errors ?? []) as unknown[];
  if (errors.length > 0 || RESERVED.test(source) || HAS_SOURCE_MAP.test(source)) return undefined;
  try {
    return new Rewriter(source).module(program.body as readonly Node[]);
  } catch (error) {
    if (error instanceof Refused) return undefined;
    throw error;
  }
}

class Rewriter {
  readonly #source: string;
  /**
   * Ranges to replace, in any order; never overlapping. `range` marks text
   * whose parts the body holds elsewhere (an enum), whatever its length.
   */
  readonly #edits: { start: number; end: number; text: string; range?: true }[] = [];
  readonly #bindings: string[] = [];
  /** Getters of the local exports: `name` → local. */
  readonly #locals = new Map<string, string>();
  readonly #reexports: { name: string; from: string; imported?: string }[] = [];
  readonly #stars: string[] = [];
  readonly #json: string[] = [];
  #awaits = false;
  #meta = false;
  /** Whether `export default` held an anonymous function or class, which the export names `default`. */
  #renameDefault = false;
  /** Nodes already blanked whole, which the walk must not visit. */
  readonly #blanked = new Set<Node>();
  /** Top-level names declared only as types, which an `export { … }` list may name. */
  #typeOnly: ReadonlySet<string> = new Set();
  /** The module's statements, and the declarations its `export`s hold: what is at its top level. */
  #topLevel: ReadonlySet<Node> = new Set();
  /** Names of the enums the module declares. */
  readonly #enums = new Set<string>();
  /** Parameter properties whose assignment `#class` placed. */
  readonly #parameterProperties = new Set<Node>();
  /** The module's imported value bindings, by local name: an `export { … }` of one re-exports the binding. */
  #imported: ReadonlyMap<string, ImportedBinding> = new Map();
  /** Names assigned anywhere after their declaration (by name, as the import scanner's use analysis goes). */
  readonly #assigned = new Set<string>();

  constructor(source: string) {
    this.#source = source;
  }

  module(body: readonly Node[]): ScriptText {
    this.#typeOnly = typeOnlyNames(body);
    this.#imported = importedBindings(body);
    this.#topLevel = new Set(
      body.map((statement) =>
        (statement.type === "ExportNamedDeclaration" && statement.declaration) || statement
      ) as Node[],
    );
    for (const statement of body) this.#statement(statement);
    // An importer binds each name once, when it runs: an export that can
    // change afterwards would need a live binding.
    for (const local of this.#locals.values()) if (this.#assigned.has(local)) throw new Refused();
    const getters = [...this.#locals].map(([name, local]) =>
      `get ${JSON.stringify(name)}() { return ${local}; }`
    );
    const code = `"use strict";${this.#bindings.join("")}\n${this.#apply()}\n;return { ${
      getters.join(", ")
    } };`;
    const text: ScriptText = {
      code,
      exports: [...this.#locals.keys()],
      reexports: this.#reexports,
      stars: this.#stars,
      json: this.#json,
      awaits: this.#awaits,
      meta: this.#meta,
      renameDefault: this.#renameDefault,
    };
    const growths = this.#edits.filter(({ start, end, text, range }) => range || text.length !== end - start)
      .map(({ end, start, text }) => ({ from: start, at: end, by: text.length - (end - start) }));
    layouts.set(text, growths);
    return text;
  }

  #statement(node: Node): void {
    this.#attributes(node);
    switch (node.type) {
      case "ImportDeclaration":
        return this.#import(node);
      case "ExportNamedDeclaration":
        return this.#exportNamed(node);
      case "ExportDefaultDeclaration":
        return this.#exportDefault(node);
      case "ExportAllDeclaration": {
        this.#blankStatement(node);
        if (node.exportKind === "type") return;
        const from = (node.source as Node).value as string;
        const exported = node.exported as Node | null | undefined;
        if (exported == null) this.#stars.push(from);
        else this.#reexports.push({ name: nameOf(exported), from });
        return;
      }
      default:
        this.#walk(node, true);
    }
  }

  /** Notes a JSON import; refuses any other import attribute, which Deno's import must judge. */
  #attributes(node: Node): void {
    const attributes = (node.attributes ?? []) as readonly Node[];
    if (attributes.length === 0) return;
    const [only] = attributes;
    const key = only!.key as Node;
    const value = only!.value as Node;
    if (attributes.length !== 1 || nameOf(key) !== "type" || value.value !== "json") throw new Refused();
    this.#json.push((node.source as Node).value as string);
  }

  #import(node: Node): void {
    this.#blankStatement(node);
    if (node.importKind === "type" || node.importKind === "typeof") return;
    if (((node.phase ?? null) as string | null) !== null) throw new Refused(); // `import source`, `import defer`
    const from = JSON.stringify((node.source as Node).value as string);
    const named: string[] = [];
    for (const specifier of node.specifiers as readonly Node[]) {
      if (specifier.importKind === "type" || specifier.importKind === "typeof") continue;
      const local = (specifier.local as Node).name as string;
      if (specifier.type === "ImportNamespaceSpecifier") {
        this.#bindings.push(`const ${local} = ${IMPORT_PARAMETER}(${from});`);
      } else {
        const imported = specifier.type === "ImportDefaultSpecifier"
          ? "default"
          : nameOf(specifier.imported as Node);
        named.push(`${JSON.stringify(imported)}: ${local}`);
      }
    }
    if (named.length > 0) {
      this.#bindings.push(`const { ${named.join(", ")} } = ${IMPORT_PARAMETER}(${from});`);
    }
  }

  #exportNamed(node: Node): void {
    const declaration = node.declaration as Node | null | undefined;
    if (node.exportKind === "type" || (declaration != null && erased(declaration))) {
      return this.#blankStatement(node);
    }
    if (declaration != null) {
      // `export ` goes; the declaration stays where it is.
      this.#blankRange(node.start, declaration.start);
      for (const name of declaredNames(declaration)) this.#locals.set(name, name);
      return this.#walk(declaration, true);
    }
    this.#blankStatement(node);
    const source = node.source as Node | null | undefined;
    for (const specifier of node.specifiers as readonly Node[]) {
      if (specifier.exportKind === "type") continue;
      // `export { I }` of an interface: TypeScript drops it, there is nothing to get.
      if (source == null && this.#typeOnly.has((specifier.local as Node).name as string)) continue;
      const name = nameOf(specifier.exported as Node);
      if (source != null) {
        const from = source.value as string;
        if (specifier.type === "ExportNamespaceSpecifier") this.#reexports.push({ name, from });
        else this.#reexports.push({ name, from, imported: nameOf(specifier.local as Node) });
      } else {
        const local = (specifier.local as Node).name as string;
        // `import { x } from "m"; export { x }` exports m's binding, as
        // `export { x } from "m"` does: two stars that reach it both ways
        // bring one binding, not two (ESM's indirect export).
        const binding = this.#imported.get(local);
        if (binding === undefined) this.#locals.set(name, local);
        else this.#reexports.push({ name, ...binding });
      }
    }
  }

  #exportDefault(node: Node): void {
    const declaration = node.declaration as Node;
    if (erased(declaration)) return this.#blankStatement(node);
    const id = declaration.id as Node | null | undefined;
    const named = (declaration.type === "FunctionDeclaration" || declaration.type === "ClassDeclaration") &&
      id != null;
    if (named) {
      this.#blankRange(node.start, declaration.start);
      this.#locals.set("default", id.name as string);
    } else {
      // `export default` becomes `let __hs_dflt=`, as long; a function or
      // class that ended the statement gets a `;` after it, so a next line
      // opening with `(` cannot continue it as an expression would.
      const keyword = "export default";
      if (!this.#source.startsWith(keyword, node.start)) throw new Refused();
      this.#edits.push({
        start: node.start,
        end: node.start + keyword.length,
        text: `let ${DEFAULT_LOCAL}=`,
      });
      if (this.#source[node.end - 1] !== ";") {
        this.#edits.push({ start: declaration.end, end: declaration.end, text: ";" });
      }
      // An anonymous function or class is named `default` by the export,
      // which a class's static code could read before the rename.
      const anonymous = declaration.type.includes("Function") || declaration.type.startsWith("Class");
      if (declaration.type.startsWith("Class") && hasStatic(declaration)) throw new Refused();
      if (anonymous) this.#renameDefault = true;
      this.#locals.set("default", DEFAULT_LOCAL);
    }
    this.#walk(declaration, true);
  }

  /** Blanks the types within `node` (and checks nothing in it needs compiling). */
  #walk(root: Node, topLevel: boolean): void {
    // Each node with whether it runs at the top level (outside any function,
    // for `await`) and whether it is inside a function with its own `arguments`.
    const stack: [Node, boolean, boolean][] = [[root, topLevel, !topLevel]];
    while (stack.length > 0) {
      const [node, top, inFunction] = stack.pop()!;
      if (this.#blanked.has(node)) continue;
      const type = node.type;
      if (((node.decorators ?? []) as unknown[]).length > 0) throw new Refused();
      if (type === "TSEnumDeclaration" && node.declare !== true) {
        this.#enum(node);
        continue;
      }
      if (type === "TSParameterProperty") {
        // `private readonly x: T` goes but for `x: T`; its assignment was placed by `#class`.
        const parameter = node.parameter as Node;
        if (!this.#parameterProperties.has(node)) throw new Refused();
        this.#blankRange(node.start, parameter.start);
        stack.push([parameter, top, inFunction]);
        continue;
      }
      if (type.startsWith("TS")) {
        const key = TS_VALUE[type];
        if (key !== undefined) {
          this.#typeTail(node, node[key] as Node);
          stack.push([node[key] as Node, top, inFunction]);
          continue;
        }
        if (TS_REFUSED.has(type) || !erased(node)) throw new Refused();
        if (STATEMENTS.has(type)) this.#blankStatement(node);
        else this.#blank(node);
        continue;
      }
      if (node.declare === true || (MEMBERS.has(type) && node.abstract === true)) {
        this.#blankStatement(node);
        continue;
      }
      switch (type) {
        case "MetaProperty": {
          if ((node.meta as Node).name !== "import" || (node.property as Node).name !== "meta") {
            throw new Refused();
          }
          // Its two names are not references: nothing under it is visited.
          this.#edits.push({
            start: node.start,
            end: node.end,
            text: metaText(this.#source.slice(node.start, node.end), META_LOCAL),
          });
          this.#meta = true;
          continue;
        }
        case "ImportExpression":
        case "ClassAccessorProperty":
          throw new Refused();
        case "AwaitExpression":
          if (top) this.#awaits = true;
          break;
        case "VariableDeclaration":
          if (top && (node.kind === "await using")) this.#awaits = true;
          break;
        case "Identifier":
          // The module's `arguments` would be the body's own; a direct
          // `eval` could assign an export where the rewrite cannot see.
          if ((!inFunction && node.name === "arguments") || node.name === "eval") throw new Refused();
          if (node.optional === true) this.#mark(node.start + (node.name as string).length, "?");
          break;
        case "ObjectPattern":
        case "ArrayPattern":
        case "RestElement":
        case "AssignmentPattern":
          if (node.optional === true) throw new Refused();
          break;
        case "AssignmentExpression":
          assignedNames(node.left as Node, this.#assigned);
          break;
        case "UpdateExpression":
          assignedNames(node.argument as Node, this.#assigned);
          break;
        case "ForInStatement":
        case "ForOfStatement":
          if ((node.left as Node).type !== "VariableDeclaration") {
            assignedNames(node.left as Node, this.#assigned);
          }
          if (top && node.await === true) this.#awaits = true;
          break;
        case "VariableDeclarator":
          if (node.definite === true) this.#mark((node.id as Node).start + nameLength(node.id as Node), "!");
          break;
        case "ClassDeclaration":
        case "ClassExpression":
          this.#class(node);
          break;
        case "ArrowFunctionExpression": {
          const returned = node.returnType as Node | null | undefined;
          // `(a): T\n=> a` blanked would put a line break before `=>`.
          if (
            returned != null && LINE_BREAK.test(this.#source.slice(returned.start, (node.body as Node).start))
          ) {
            throw new Refused();
          }
          break;
        }
      }
      if (MEMBERS.has(type)) this.#member(node);
      const functionLike = type.includes("Function") || type === "ClassMethod" ||
        type === "ClassPrivateMethod" ||
        type === "ObjectMethod";
      if (functionLike) this.#thisParameter(node);
      for (const key in node) {
        if (SKIPPED_KEYS.has(key)) continue;
        const value = node[key];
        if (TYPE_KEYS.has(key)) {
          if (isNode(value)) this.#blank(value);
          continue;
        }
        const inner = top && !functionLike;
        const ownArguments = inFunction || (functionLike && type !== "ArrowFunctionExpression");
        if (Array.isArray(value)) {
          for (let i = value.length - 1; i >= 0; i--) {
            if (isNode(value[i])) stack.push([value[i], inner, ownArguments]);
          }
        } else if (isNode(value)) stack.push([value, inner, ownArguments]);
      }
    }
  }

  /** `abstract` before `class`, `implements …`, and the constructor's parameter properties. */
  #class(node: Node): void {
    this.#constructorParameters(node);
    if (node.abstract === true) {
      const at = this.#source.indexOf("abstract", node.start);
      if (at === -1 || at >= (node.body as Node).start) throw new Refused();
      this.#blankRange(at, at + "abstract".length);
    }
    const implemented = (node.implements ?? []) as readonly Node[];
    if (implemented.length > 0) {
      const at = this.#source.lastIndexOf("implements", implemented[0]!.start);
      if (at === -1) throw new Refused();
      this.#blankRange(at, implemented[implemented.length - 1]!.end);
    }
  }

  /**
   * `constructor(private x: T)` as Deno's transpiler emits it: a field `x`
   * declared first in the class body, and `this.x = x;` first in the
   * constructor's body, or right after a derived class's `super(…)`
   * statement; each placed where nothing follows on its line. A class with
   * instance fields of its own takes the module path instead: Deno runs
   * their initialisers after these assignments, not where the class
   * declares them.
   */
  #constructorParameters(node: Node): void {
    const members = (node.body as Node).body as readonly Node[];
    const constructor = members.find((member) =>
      member.type === "ClassMethod" && member.kind === "constructor" && member.body != null
    );
    const properties = ((constructor?.params ?? []) as readonly Node[]).filter((parameter) =>
      parameter.type === "TSParameterProperty"
    );
    if (constructor === undefined || properties.length === 0) return;
    const fields = members.some((member) =>
      member.static !== true && member.declare !== true && member.abstract !== true &&
      (member.type === "ClassProperty" || member.type === "ClassPrivateProperty" ||
        member.type === "ClassAccessorProperty")
    );
    if (fields) throw new Refused();
    const body = constructor.body as Node;
    let at = body.start + 1;
    if (node.superClass != null) {
      // Deno assigns after each `super(…)`: taken when there is one, a statement of the body.
      // (Counted in the whole body, as it cannot always be told whose a call is.)
      const call = ((body.body as readonly Node[]) ?? []).find((statement) => {
        const expression = statement.expression as Node | undefined;
        return statement.type === "ExpressionStatement" && expression?.type === "CallExpression" &&
          (expression.callee as Node).type === "Super";
      });
      if (call === undefined || superCalls(body) !== 1) throw new Refused();
      at = call.end;
    }
    const classBody = node.body as Node;
    // Placed where nothing but the body's closing `}` follows on its line, so
    // that no code moves (frames keep their columns).
    if (!this.#endsLine(at, body.end - 1) || !this.#endsLine(classBody.start + 1, classBody.end - 1)) {
      throw new Refused();
    }
    let fieldsText = "";
    let text = ";";
    for (const property of properties) {
      const parameter = property.parameter as Node;
      const target = (parameter.type === "AssignmentPattern" ? parameter.left : parameter) as Node;
      if (target.type !== "Identifier" || target.name === "constructor") throw new Refused();
      const name = target.name as string;
      // Fields, as Deno declares them: defined before the defaults run (after `super()` in a derived
      // class), so that they shadow a base class's accessor of the name rather than call it.
      fieldsText += `${JSON.stringify(name)};`;
      text += `this.${name}=${name};`;
      this.#parameterProperties.add(property);
    }
    this.#edits.push({ start: classBody.start + 1, end: classBody.start + 1, text: fieldsText });
    this.#edits.push({ start: at, end: at, text });
  }

  /**
   * Whether nothing follows `at` on its line but spaces and, at `close`, a
   * closing brace: text placed at `at` then moves no code.
   */
  #endsLine(at: number, close: number): boolean {
    REST_OF_LINE.lastIndex = at;
    const rest = REST_OF_LINE.exec(this.#source);
    return rest !== null && (rest[1] === "" || at + rest[0].indexOf("}") === close);
  }

  /**
   * `enum E { A, B = "b" }` as Deno's transpiler emits it, an object filled
   * by a function (`E[E["A"] = 0] = "A"`), each member on its own line. Only
   * members whose values are literals (or follow a number) are taken, and
   * nothing may follow it on its last line; a `const enum` (whose uses Deno
   * inlines) or one declared twice (merged) takes the module path.
   */
  #enum(node: Node): void {
    // A raw U+2028 or U+2029 (in a string): V8 counts lines in it otherwise than Deno's map of the module.
    if (node.const === true || /[\u2028\u2029]/.test(this.#source.slice(node.start, node.end))) {
      throw new Refused();
    }
    const name = (node.id as Node).name as string;
    // Deno's emit: `var` for a module's enum, `let` for one in a block or function.
    const keyword = this.#topLevel.has(node) ? "var" : "let";
    if (this.#enums.has(name)) throw new Refused();
    this.#enums.add(name);
    const members = ((node.body as Node | undefined)?.members ?? node.members) as readonly Node[];
    let text = `${keyword} ${name} = (function (${name}) {`;
    let at = node.start;
    let next: number | undefined = 0;
    for (const member of members) {
      const id = member.id as Node;
      const key = id.type === "Identifier"
        ? id.name as string
        : id.type === "StringLiteral"
        ? id.value
        : undefined;
      if (typeof key !== "string" || member.computed === true) throw new Refused();
      const value = enumValue(member.initializer as Node | null | undefined, next);
      next = typeof value === "number" ? value + 1 : undefined;
      const assign = `${name}[${quote(key)}] = ${quote(value)}`;
      text += lineBreaks(this.#source.slice(at, member.start)) +
        (typeof value === "number" ? `${name}[${assign}] = ${quote(key)};` : `${assign};`);
      at = member.start;
    }
    // A module's enum starts from a value the name may have already, as Deno's does.
    text += `${lineBreaks(this.#source.slice(at, node.end))} return ${name}; })(${
      keyword === "var" ? `${name} || ` : ""
    }{});`;
    // Its last line grows: code after it there would move (frames keep their columns).
    if (!this.#endsLine(this.#source[node.end] === ";" ? node.end + 1 : node.end, -1)) throw new Refused();
    this.#edits.push({ start: node.start, end: node.end, text, range: true });
  }

  /** A class member's TypeScript-only modifiers, `?` and `!`. */
  #member(node: Node): void {
    const key = node.key as Node;
    const head = this.#source.slice(node.start, key.start);
    for (const match of head.matchAll(TS_MODIFIERS)) {
      this.#blankRange(node.start + match.index, node.start + match.index + match[0].length);
    }
    const afterKey = node.computed === true ? this.#source.indexOf("]", key.end) + 1 : key.end;
    if (node.computed === true && afterKey === 0) throw new Refused();
    if (node.optional === true) this.#mark(afterKey, "?");
    if (node.definite === true) this.#mark(afterKey, "!");
  }

  /** TypeScript's `this` parameter (a declared type for `this`), with its comma. */
  #thisParameter(node: Node): void {
    const first = ((node.params ?? []) as readonly Node[])[0];
    if (first?.type !== "Identifier" || first.name !== "this") return;
    const comma = /^\s*,/.exec(this.#source.slice(first.end));
    this.#blankRange(first.start, first.end + (comma?.[0].length ?? 0));
    this.#blanked.add(first);
  }

  /** Blanks from the end of an expression to the end of the node wrapping it (` as T`, `!`, `<T>`). */
  #typeTail(node: Node, expression: Node): void {
    let end = expression.end;
    // A parenthesised expression: its `)` stays.
    while (this.#source[end] === ")") end++;
    if (end < node.end) this.#blankRange(end, node.end);
  }

  /** Blanks the first `mark` (`?` or `!`) at or after `from`, past spaces only. */
  #mark(from: number, mark: string): void {
    const at = this.#source.slice(from).search(/\S/) + from;
    if (this.#source[at] !== mark) throw new Refused();
    this.#blankRange(at, at + 1);
  }

  #blank(node: Node): void {
    this.#blankRange(node.start, node.end);
  }

  /**
   * Blanks a statement or class member, leaving a `;` where it began: the
   * line before cannot run on into the line after (`f()` then a blanked
   * line then `(x)` must not become `f()(x)`).
   */
  #blankStatement(node: Node): void {
    this.#edits.push({ start: node.start, end: node.start + 1, text: ";" });
    this.#blankRange(node.start + 1, node.end);
  }

  #blankRange(start: number, end: number): void {
    if (end > start) this.#edits.push({ start, end, text: blank(this.#source.slice(start, end)) });
  }

  #apply(): string {
    const edits = this.#edits.sort((a, b) => a.start - b.start);
    let out = "";
    let at = 0;
    for (const { start, end, text } of edits) {
      if (start < at) throw new Refused(); // overlapping edits: a case this rewriter does not know
      out += this.#source.slice(at, start) + text;
      at = end;
    }
    return out + this.#source.slice(at);
  }
}

/** Whether a declaration or TypeScript node holds only types (nothing of it runs). */
function erased(node: Node): boolean {
  if (node.declare === true) return true;
  switch (node.type) {
    case "TSEnumDeclaration":
      return false;
    case "TSModuleDeclaration":
      // `declare global` and `declare namespace` only: a namespace with values compiles to code.
      return node.declare === true || node.kind === "global";
    default:
      return node.type.startsWith("TS") && !(node.type in TS_VALUE) && !TS_REFUSED.has(node.type);
  }
}

/** Whether a class has a static member or block, which runs as the class is defined. */
function hasStatic(node: Node): boolean {
  const members = (node.body as Node).body as readonly Node[];
  return members.some((member) => member.static === true || member.type === "StaticBlock");
}

/**
 * An enum member's value: its literal initialiser, else the number after
 * the member before's.
 *
 * @param next The value after the member before's, when it was a number.
 */
function enumValue(initializer: Node | null | undefined, next: number | undefined): number | string {
  if (initializer == null) {
    if (next === undefined) throw new Refused(); // after a string: TypeScript requires an initialiser
    return next;
  }
  if (initializer.type === "StringLiteral") return initializer.value as string;
  const negative = initializer.type === "UnaryExpression" && initializer.operator === "-";
  const literal = (negative ? initializer.argument : initializer) as Node;
  if (literal.type !== "NumericLiteral") throw new Refused();
  const value = negative ? -(literal.value as number) : literal.value as number;
  // -0 would key its reverse mapping "0", as Deno's would, but print as 0: left to Deno.
  if (!Number.isFinite(value) || Object.is(value, -0)) throw new Refused();
  return value;
}

/** A JSON string or number; U+2028 and U+2029 escaped, which V8 would count as line breaks in code. */
function quote(value: string | number): string {
  return JSON.stringify(value).replace(/\u2028/g, "\\u2028").replace(/\u2029/g, "\\u2029");
}

/** Spaces, then maybe a `}`, then the end of the line (see `#endsLine`). */
const REST_OF_LINE = /[ \t]*(\}?)[ \t]*(?:\r?\n|[\r\u2028\u2029]|$)/y;

/**
 * How many `super(…)` calls a constructor's body holds, nested functions
 * and classes included: a nested class's own constructor counts too, which
 * only makes the class take the module path, where a call in a nested
 * class's `extends (…)` or an object method's computed key, evaluated by
 * this constructor, must count.
 */
function superCalls(body: Node): number {
  let count = 0;
  const stack: Node[] = [body];
  while (stack.length > 0) {
    const node = stack.pop()!;
    if (node.type === "CallExpression" && (node.callee as Node).type === "Super") count++;
    for (const key in node) {
      if (SKIPPED_KEYS.has(key)) continue;
      const value = node[key];
      for (const child of Array.isArray(value) ? value : [value]) {
        if (isNode(child)) stack.push(child);
      }
    }
  }
  return count;
}

/** The line breaks of `text`, in order: what keeps each line where it was. */
function lineBreaks(text: string): string {
  return text.match(/\r\n|[\n\r\u2028\u2029]/g)?.join("") ?? "";
}

/** An imported binding: the specifier, and the name imported (none for a namespace). */
interface ImportedBinding {
  readonly from: string;
  readonly imported?: string;
}

/** The value bindings a module's imports declare, by local name; type-only ones left out. */
function importedBindings(body: readonly Node[]): Map<string, ImportedBinding> {
  const bindings = new Map<string, ImportedBinding>();
  for (const statement of body) {
    if (statement.type !== "ImportDeclaration" || statement.importKind === "type") continue;
    const from = (statement.source as Node).value as string;
    for (const specifier of statement.specifiers as readonly Node[]) {
      if (specifier.importKind === "type" || specifier.importKind === "typeof") continue;
      const local = (specifier.local as Node).name as string;
      if (specifier.type === "ImportNamespaceSpecifier") bindings.set(local, { from });
      else {
        const imported = specifier.type === "ImportDefaultSpecifier"
          ? "default"
          : nameOf(specifier.imported as Node);
        bindings.set(local, { from, imported });
      }
    }
  }
  return bindings;
}

/** Top-level names declared only as types (interfaces, aliases, ambient declarations, type imports). */
function typeOnlyNames(body: readonly Node[]): Set<string> {
  const types = new Set<string>();
  const values = new Set<string>();
  for (const statement of body) {
    const declaration = (statement.type.startsWith("Export") ? statement.declaration : statement) as
      | Node
      | null;
    if (statement.type === "ImportDeclaration") {
      for (const specifier of statement.specifiers as readonly Node[]) {
        const typeOnly = statement.importKind === "type" || specifier.importKind === "type";
        (typeOnly ? types : values).add((specifier.local as Node).name as string);
      }
    }
    if (declaration == null || typeof declaration.type !== "string") continue;
    const id = declaration.id as Node | null | undefined;
    if (id?.type !== "Identifier") {
      if (declaration.type === "VariableDeclaration" && declaration.declare !== true) {
        for (const name of declaredNames(declaration)) values.add(name);
      }
      continue;
    }
    (erased(declaration) ? types : values).add(id.name as string);
  }
  for (const name of values) types.delete(name);
  return types;
}

/** The names a declaration binds at the top level. */
function declaredNames(declaration: Node): string[] {
  if (declaration.type === "VariableDeclaration") {
    const names = new Set<string>();
    for (const declarator of declaration.declarations as readonly Node[]) {
      assignedNames(declarator.id as Node, names);
    }
    return [...names];
  }
  const id = declaration.id as Node | null | undefined;
  if (id == null) throw new Refused();
  return [id.name as string];
}

/**
 * The names a declaration's pattern or an assignment's target binds; a
 * member expression binds none.
 */
export function assignedNames(target: Node, names: Set<string>): void {
  switch (target.type) {
    case "Identifier":
      names.add(target.name as string);
      return;
    case "ObjectPattern":
      for (const property of target.properties as readonly Node[]) {
        assignedNames((property.type === "RestElement" ? property.argument : property.value) as Node, names);
      }
      return;
    case "ArrayPattern":
      for (const element of target.elements as readonly (Node | null)[]) {
        if (element) assignedNames(element, names);
      }
      return;
    case "RestElement":
      return assignedNames(target.argument as Node, names);
    case "AssignmentPattern":
      return assignedNames(target.left as Node, names);
    case "TSAsExpression":
    case "TSSatisfiesExpression":
    case "TSNonNullExpression":
    case "ParenthesizedExpression":
      return assignedNames(target.expression as Node, names);
  }
}

/** An identifier's name, or a string literal's value (`export { a as "a-b" }`). */
function nameOf(node: Node): string {
  return (node.type === "StringLiteral" ? node.value : node.name) as string;
}

/** The length of an identifier as written; refused when it is written with escapes. */
function nameLength(node: Node): number {
  if (node.type !== "Identifier") throw new Refused();
  return (node.name as string).length;
}

function isNode(value: unknown): value is Node {
  return typeof value === "object" && value !== null && typeof (value as Node).type === "string";
}

/** Spaces for every character of `text` but line breaks, which stay. */
function blank(text: string): string {
  return text.replace(/[^\n\r\u2028\u2029]/g, " ");
}
