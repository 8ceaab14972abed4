/**
 * Fuzzing the contract verifier (issue 6): whatever value a generation
 * exports, `Contract.check()` returns a list of problems and never throws,
 * and `Contract.verify()` returns the value or throws a `ContractError`
 * whose `problems` are that list. Values come from fast-check's `anything()`
 * (null prototypes, boxed values, typed arrays, sparse arrays, `__proto__`
 * keys...), wrapped in hostile shells (Proxies whose traps throw, revoked
 * Proxies, throwing getters, brands of every sort), and are checked against
 * fixed and random contracts, random shapes included.
 */

import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import fc from "npm:fast-check@4.10.2";
import { EVERY_KIND } from "./_arbitraries.ts";
import {
  type Contract,
  CONTRACT_BRAND,
  ContractError,
  defineContract,
  type ShapeDefinition,
} from "../mod.ts";

const RUNS = 1_000;

const KINDS = ["string", "number", "boolean", "bigint", "function", "object", "array", "unknown"] as const;
type Kind = typeof KINDS[number];

/** Member names that tend to break naive object handling. */
const TRICKY_NAMES = [
  "__proto__",
  "constructor",
  "prototype",
  "then",
  "toString",
  "valueOf",
  "hasOwnProperty",
  "",
];

const memberName = fc.oneof(fc.constantFrom(...TRICKY_NAMES), fc.string({ maxLength: 8 }));

/** A random shape: kinds, optional kinds and nested shapes, tricky names included (own keys, even `__proto__`). */
const shapeArbitrary: fc.Arbitrary<ShapeDefinition> = fc.letrec<{ shape: ShapeDefinition }>((tie) => ({
  shape: fc.uniqueArray(
    fc.tuple(
      memberName,
      fc.oneof(
        { weight: 4, arbitrary: fc.constantFrom(...KINDS) },
        { weight: 2, arbitrary: fc.constantFrom(...KINDS).map((kind) => `${kind}?`) },
        { weight: 1, arbitrary: tie("shape") },
      ),
    ),
    { maxLength: 5, selector: ([name]) => name, depthIdentifier: "shape" },
  ).map((entries) => Object.fromEntries(entries) as ShapeDefinition),
})).shape;

function contractOf(shape: ShapeDefinition, version = "1.2.0"): Contract<unknown> {
  return defineContract<unknown>({ name: "Fuzz", version, symbol: "hs_fuzz", shape: shape as never });
}

const FIXED: readonly Contract<unknown>[] = [
  contractOf({ label: "string", run: "function" }),
  contractOf({ a: "number?", b: { c: "array", d: { e: "bigint" } }, f: "object", g: "boolean" }),
  contractOf({}),
  contractOf({ ["__proto__"]: "object", then: "function?", constructor: "unknown" } as ShapeDefinition),
];

const contractArbitrary = fc.oneof(
  fc.constantFrom(...FIXED),
  shapeArbitrary.map((shape) => contractOf(shape)),
);

const anything = fc.anything(EVERY_KIND);

const TRAPS = [
  "get",
  "has",
  "ownKeys",
  "getPrototypeOf",
  "getOwnPropertyDescriptor",
  "defineProperty",
  "set",
  "apply",
  "construct",
] as const;

/**
 * Hostile handles. fast-check itself probes the values it generates (`in`,
 * printing), so each is built lazily, by a thunk, inside the property.
 */
const hostile: fc.Arbitrary<() => unknown> = fc.oneof(
  // A Proxy (of an object or a function) whose chosen traps throw, some with values that cannot be printed.
  fc.tuple(
    anything,
    fc.subarray([...TRAPS], { minLength: 1 }),
    fc.boolean(),
    fc.constantFrom<() => unknown>(
      () => new Error("trap"),
      () => null,
      () => undefined,
      () => Symbol("trap"),
      () => ({
        get message(): string {
          throw new Error("message getter");
        },
      }),
    ),
  ).map(([inner, traps, callable, thrown]) => () => {
    const target = callable ? function () {} : objectOr(inner);
    const handler: ProxyHandler<object> = {};
    for (const trap of traps) {
      (handler as Record<string, unknown>)[trap] = () => {
        throw thrown();
      };
    }
    return new Proxy(target, handler);
  }),
  // A revoked Proxy: every operation on it throws, Array.isArray included.
  anything.map((inner) => () => {
    const { proxy, revoke } = Proxy.revocable(objectOr(inner), {});
    revoke();
    return proxy;
  }),
  // Throwing getters on member names a contract may ask for.
  fc.uniqueArray(memberName, { maxLength: 4 }).map((names) => () => {
    const value: Record<string, unknown> = {};
    for (const name of names) {
      Object.defineProperty(value, name, {
        enumerable: true,
        get() {
          throw new Error(`getter ${name}`);
        },
      });
    }
    return value;
  }),
  // Brands of every sort: any value, a throwing getter, a Proxy, a well-formed brand with random versions.
  fc.tuple(
    anything,
    fc.oneof(
      anything,
      fc.record({ name: fc.constantFrom("Fuzz", "Other"), version: fc.oneof(fc.string(), anything) }),
      fc.constant("proxy"),
    ),
    fc.boolean(),
  ).map(([inner, brand, getter]) => () => {
    const value = objectOr(inner);
    const brandValue = brand === "proxy"
      ? new Proxy({}, {
        get() {
          throw new Error("brand trap");
        },
      })
      : brand;
    try {
      Object.defineProperty(
        value,
        CONTRACT_BRAND,
        getter
          ? {
            get() {
              throw new Error("brand getter");
            },
          }
          : { value: brandValue },
      );
    } catch { /* a frozen or exotic object: keep it as it is */ }
    return value;
  }),
  // A prototype that throws on every read.
  anything.map((inner) => () =>
    Object.setPrototypeOf(
      typeof inner === "object" && inner !== null && !Array.isArray(inner) ? { ...inner } : {},
      new Proxy({}, {
        get() {
          throw new Error("prototype trap");
        },
        has() {
          throw new Error("prototype trap");
        },
      }),
    )
  ),
);

function objectOr(value: unknown): object {
  return typeof value === "object" && value !== null ? value : {};
}

/** The contract's verdict, checked for consistency between check() and verify(). */
function verdict(contract: Contract<unknown>, value: unknown): string[] {
  let problems: string[];
  try {
    problems = contract.check(value);
  } catch (error) {
    throw new Error(`check() threw ${String(error)}`, { cause: error });
  }
  ok(Array.isArray(problems));
  for (const problem of problems) {
    ok(typeof problem === "string" && problem.length > 0, "a problem is a line");
  }
  try {
    const returned = contract.verify(value);
    strictEqual(problems.length, 0, "verify() accepted a value check() found problems with");
    ok(Object.is(returned, value), "verify() returns the very value");
  } catch (error) {
    ok(error instanceof ContractError, `verify() threw ${String(error)}, not a ContractError`);
    strictEqual(error.code, "E_CONTRACT");
    ok(error.problems.length > 0, "a ContractError lists its problems");
    deepStrictEqual([...error.problems], problems);
    for (const problem of problems) ok(error.message.includes(problem), "the message lists every problem");
  }
  return problems;
}

Deno.test("Contract.verify() on arbitrary values only ever returns the value or throws ContractError", () => {
  fc.assert(
    fc.property(contractArbitrary, anything, (contract, value) => {
      verdict(contract, value);
    }),
    { numRuns: RUNS },
  );
});

Deno.test("Contract.verify() on hostile values (throwing Proxies, revoked Proxies, getters, brands) never crashes", () => {
  fc.assert(
    fc.property(contractArbitrary, hostile, (contract, thunk) => {
      const value = thunk();
      const problems = verdict(contract, value);
      // A handle nothing can be read from fits only a contract that asks for nothing.
      if (problems.length === 0) ok(Object.keys(contract.shape).length === 0 || isReadable(value));
    }),
    { numRuns: RUNS },
  );
});

function isReadable(value: unknown): boolean {
  try {
    return typeof value === "function" || (typeof value === "object" && value !== null);
  } catch {
    return false;
  }
}

/** A value that fits `shape`, built member by member. */
function fitting(shape: ShapeDefinition): fc.Arbitrary<Record<string, unknown>> {
  const members = Object.entries(shape).map(([name, member]) => {
    if (typeof member !== "string") {
      return fitting(member).map((value) => [[name, value]] as [string, unknown][]);
    }
    const optional = member.endsWith("?");
    const kind = (optional ? member.slice(0, -1) : member) as Kind;
    const arbitrary = ofKind(kind);
    // An absent member is read through the prototype: leave out only names Object.prototype lacks.
    const absent = name in {} ? [[name, undefined]] : [];
    return optional
      ? fc.oneof(
        arbitrary.map((value) => [[name, value]]),
        fc.constant(absent),
        fc.constant([[name, undefined]]),
      )
      : arbitrary.map((value) => [[name, value]] as [string, unknown][]);
  });
  return fc.tuple(...members).map((parts) => Object.fromEntries(parts.flat() as [string, unknown][]));
}

function ofKind(kind: Kind): fc.Arbitrary<unknown> {
  switch (kind) {
    case "string":
      return fc.string();
    case "number":
      return fc.double();
    case "boolean":
      return fc.boolean();
    case "bigint":
      return fc.bigInt();
    case "function":
      return fc.constantFrom(() => 1, function named() {}, class {}, async () => {});
    case "object":
      return fc.oneof(fc.object(), fc.array(fc.integer()), fc.constant(Object.create(null)), fc.date());
    case "array":
      return fc.array(anything, { maxLength: 3 });
    case "unknown":
      return anything;
  }
}

/** A value of a different kind than `member` accepts, for a member that can be wrong. */
function wrong(member: ShapeDefinition[string]): unknown {
  if (typeof member !== "string") return "not an object";
  switch (member.replace("?", "") as Kind) {
    case "string":
      return 1;
    case "number":
      return "1";
    case "boolean":
      return 0;
    case "bigint":
      return 1;
    case "function":
      return {};
    case "object":
      return "object";
    case "array":
      return {};
    case "unknown":
      return undefined;
  }
}

Deno.test("Contract.check() accepts every value built to fit a random shape", () => {
  fc.assert(
    fc.property(
      shapeArbitrary.chain((shape) => fc.tuple(fc.constant(shape), fitting(shape))),
      ([shape, value]) => {
        deepStrictEqual(verdict(contractOf(shape), value), []);
      },
    ),
    { numRuns: RUNS },
  );
});

Deno.test("Contract.check() names the member path of every member given the wrong kind", () => {
  fc.assert(
    fc.property(
      shapeArbitrary.filter((shape) => Object.values(shape).some((m) => m !== "unknown" && m !== "unknown?"))
        .chain((shape) => fc.tuple(fc.constant(shape), fitting(shape), fc.nat())),
      ([shape, value, pick]) => {
        const candidates = Object.entries(shape).filter(([, member]) =>
          member !== "unknown" && member !== "unknown?"
        );
        const [name, member] = candidates[pick % candidates.length]!;
        const handle = { ...value };
        Object.defineProperty(handle, name, { value: wrong(member), enumerable: true, configurable: true });
        const problems = verdict(contractOf(shape), handle);
        ok(problems.some((problem) => problem.startsWith(`${name}: expected `)), `${name}: ${problems}`);
      },
    ),
    { numRuns: RUNS },
  );
});

Deno.test("Contract.check() still names every other mismatch when one member is a revoked Proxy", () => {
  const checkable = (member: ShapeDefinition[string]) => member !== "unknown" && member !== "unknown?";
  fc.assert(
    fc.property(
      shapeArbitrary.filter((shape) => Object.values(shape).filter(checkable).length >= 2)
        .chain((shape) => fc.tuple(fc.constant(shape), fitting(shape), fc.nat(), fc.nat())),
      ([shape, value, first, second]) => {
        const candidates = Object.entries(shape).filter(([, member]) => checkable(member));
        const [revokedName] = candidates[first % candidates.length]!;
        const others = candidates.filter(([name]) => name !== revokedName);
        const [wrongName, wrongMember] = others[second % others.length]!;
        const { proxy, revoke } = Proxy.revocable({}, {});
        revoke();
        // A copy: fast-check prints the generated value on failure, and cannot print a revoked Proxy.
        const handle = { ...value };
        Object.defineProperty(handle, revokedName, { value: proxy, enumerable: true, configurable: true });
        Object.defineProperty(handle, wrongName, {
          value: wrong(wrongMember),
          enumerable: true,
          configurable: true,
        });
        const problems = verdict(contractOf(shape), handle);
        ok(
          problems.some((problem) => problem.startsWith(`${wrongName}: expected `)),
          `${wrongName}: ${problems}`,
        );
        ok(
          !problems.some((problem) => problem.startsWith("(handle)")),
          `blamed the whole handle: ${problems}`,
        );
      },
    ),
    { numRuns: RUNS },
  );
});
