/**
 * The walk of a module's syntax tree that the import scanner needs beyond
 * its top-level statements: which names are used as values (an import none
 * of whose bindings is used is dropped by the transpiler), where each
 * `import()` of a literal specifier is, and where a computed one starts.
 * It goes by name, not by scope (see `_import_scanner.ts`), and it skips
 * what holds only types.
 *
 * @module
 */

import type { ImportRecord } from "./_import_scanner.ts";
import type { SyntaxNode as Node } from "./_source_parser.ts";

/** Keys that hold only types, on nodes that are not themselves TypeScript nodes. */
const TYPE_KEYS =
  "typeAnnotation typeParameters typeArguments superTypeParameters superTypeArguments returnType";
const SKIPPED_KEYS: ReadonlySet<string> = new Set(
  `type start end loc range extra leadingComments trailingComments innerComments implements predicate ${TYPE_KEYS}`
    .split(" "),
);
/** TypeScript nodes that hold a value expression, and the keys that hold it. */
const TS_VALUE_KEYS: Readonly<Record<string, readonly string[]>> = {
  TSAsExpression: ["expression"],
  TSSatisfiesExpression: ["expression"],
  TSTypeAssertion: ["expression"],
  TSNonNullExpression: ["expression"],
  TSInstantiationExpression: ["expression"],
  TSEnumDeclaration: ["members", "body"],
  TSEnumBody: ["members"],
  TSEnumMember: ["initializer"],
  TSModuleDeclaration: ["body"],
  TSModuleBlock: ["body"],
  TSExportAssignment: ["expression"],
  TSImportEqualsDeclaration: ["moduleReference"],
  TSQualifiedName: ["left"],
  TSParameterProperty: ["parameter"],
};
/** Nodes whose non-computed `key` is a name, not a reference. */
const KEYED: ReadonlySet<string> = new Set(
  "ObjectProperty ObjectMethod ClassProperty ClassMethod ClassPrivateProperty ClassPrivateMethod ClassAccessorProperty"
    .split(" "),
);

/** What {@linkcode walk} found. */
export interface WalkResult {
  /** Names used as values (by name: a shadowing local counts too). */
  readonly used: Set<string>;
  /** `import()` calls of a literal specifier, in the order met. */
  readonly dynamic: ImportRecord[];
  /** Whether the module has JSX, which the classic runtime turns into factory calls. */
  readonly jsx: boolean;
}

/**
 * Walks the program (iteratively: a deeply nested expression must not
 * overflow the stack here) collecting the names used as values, the
 * `import()` calls with a literal specifier, and whether there is JSX.
 * Appends to `computed` where each `import()` of a computed specifier starts.
 */
export function walk(body: readonly Node[], source: string, computed: number[]): WalkResult {
  const used = new Set<string>();
  const dynamic: ImportRecord[] = [];
  let jsx = false;
  const stack: unknown[] = [...body];
  const push = (...values: unknown[]) => {
    for (const value of values) {
      if (Array.isArray(value)) stack.push(...value);
      else if (value !== null && typeof value === "object") stack.push(value);
    }
  };
  while (stack.length > 0) {
    const node = stack.pop() as Node | null;
    if (node === null || typeof node.type !== "string") continue;
    const type = node.type;
    if (type.startsWith("TS")) {
      const keys = TS_VALUE_KEYS[type];
      if (keys !== undefined && node.declare !== true && node.importKind !== "type") {
        push(...keys.map((key) => node[key]));
      }
      continue;
    }
    if (node.declare === true) continue;
    switch (type) {
      case "Identifier":
        used.add(node.name as string);
        continue;
      case "ImportDeclaration":
        continue;
      case "ImportExpression":
        if (!dynamicImport(node, dynamic) && source.startsWith("import", node.start)) {
          computed.push(node.start);
        }
        push(node.source, node.options);
        continue;
      case "ExportNamedDeclaration":
        if (node.source || node.exportKind === "type") continue;
        push(node.declaration);
        for (const specifier of node.specifiers as readonly Node[]) {
          if (specifier.exportKind !== "type") push(specifier.local);
        }
        continue;
      case "ExportAllDeclaration":
        continue;
      case "MemberExpression":
      case "OptionalMemberExpression":
        push(node.object, node.computed ? node.property : null);
        continue;
      case "LabeledStatement":
        push(node.body);
        continue;
      case "BreakStatement":
      case "ContinueStatement":
      case "MetaProperty":
        continue;
      case "JSXElement":
      case "JSXFragment":
        jsx = true;
        break;
      case "JSXOpeningElement":
        push(jsxName(node.name as Node), node.attributes);
        continue;
      case "JSXClosingElement":
        continue;
      case "JSXAttribute":
        push(node.value);
        continue;
      case "JSXIdentifier":
        used.add(node.name as string);
        continue;
    }
    if (KEYED.has(type) && node.computed !== true) {
      for (const key in node) if (key !== "key" && !SKIPPED_KEYS.has(key)) push(node[key]);
      continue;
    }
    for (const key in node) if (!SKIPPED_KEYS.has(key)) push(node[key]);
  }
  return { used, dynamic, jsx };
}

/** The binding a JSX tag refers to, or `null` for an intrinsic tag such as `div`. */
function jsxName(name: Node): Node | null {
  if (name.type === "JSXMemberExpression") {
    let root = name.object as Node;
    while (root.type === "JSXMemberExpression") root = root.object as Node;
    return root;
  }
  if (name.type !== "JSXIdentifier") return null;
  const text = name.name as string;
  return /^[a-z]/.test(text) || text.includes("-") ? null : name;
}

/** Records an `import()` of a literal specifier; `false` when the specifier is computed. */
function dynamicImport(node: Node, dynamic: ImportRecord[]): boolean {
  const argument = node.source as Node;
  let specifier: string | undefined;
  if (argument.type === "StringLiteral") specifier = argument.value as string;
  else if (argument.type === "TemplateLiteral" && (argument.expressions as unknown[]).length === 0) {
    specifier = ((argument.quasis as Node[])[0]!.value as { cooked?: string }).cooked;
  }
  if (specifier === undefined) return false;
  dynamic.push({ specifier, start: argument.start, end: argument.end, quoted: true, evaluated: true });
  return true;
}
