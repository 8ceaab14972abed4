/**
 * Contract versions (core/_contract_version.ts): semver parsing, and the
 * brand check that refuses a handle built for another contract, another
 * major version or a lower minor, reporting whatever reading the brand
 * throws as a problem instead of throwing.
 *
 * @module
 */

import { deepStrictEqual, match, ok, strictEqual, throws } from "node:assert/strict";
import { checkBrand, CONTRACT_BRAND, parseSemver } from "../core/_contract_version.ts";

const HOST = { major: 2, minor: 3 };

/** The problems `checkBrand` reports for a handle carrying `brand` (or none when left out). */
function brandProblems(brand?: unknown): string[] {
  const handle: Record<PropertyKey, unknown> = brand === undefined ? {} : { [CONTRACT_BRAND]: brand };
  const problems: string[] = [];
  checkBrand(handle, "Settings", HOST, problems);
  return problems;
}

Deno.test("CONTRACT_BRAND is the registered symbol, so a generation can brand without this package", () => {
  strictEqual(CONTRACT_BRAND, Symbol.for("@hotswap/runtime/contract"));
});

Deno.test("parseSemver() reads major and minor, with or without pre-release and build", () => {
  deepStrictEqual(parseSemver("1.2.3", "C"), { major: 1, minor: 2 });
  deepStrictEqual(parseSemver("10.20.30-rc.1+build.5", "C"), { major: 10, minor: 20 });
  deepStrictEqual(parseSemver("0.0.0+meta", "C"), { major: 0, minor: 0 });
  deepStrictEqual(parseSemver("1.0.0-0.3.7", "C"), { major: 1, minor: 0 });
});

Deno.test("parseSemver() throws a TypeError naming the contract and the bad version", () => {
  // semver.org: numbers have no leading zeros, identifiers are never empty.
  for (
    const version of [
      "1.0",
      "v1.0.0",
      " 1.0.0",
      "1.0.0.0",
      "1.0.0-",
      "a.b.c",
      "",
      "01.02.03",
      "1.0.0-01",
      "1.0.0-a..b",
      "1.0.0+",
    ]
  ) {
    throws(() => parseSemver(version, "Counter"), (error: unknown) => {
      strictEqual(error instanceof TypeError, true);
      const { message } = error as TypeError;
      ok(
        message.startsWith(
          `Cannot define contract "Counter": version ${JSON.stringify(version)} is not semver`,
        ),
      );
      ok(message.endsWith('use "MAJOR.MINOR.PATCH" such as "1.0.0"'));
      return true;
    }, version);
  }
});

Deno.test("parseSemver() refuses a version that is not a string", () => {
  for (const version of [1, undefined, null, { major: 1 }]) {
    throws(() => parseSemver(version, "C"), TypeError);
  }
});

Deno.test("checkBrand() accepts an unbranded handle, and brands of the same major with an equal or higher minor", () => {
  deepStrictEqual(brandProblems(), []);
  deepStrictEqual(brandProblems({ name: "Settings", version: "2.3.0" }), []);
  deepStrictEqual(brandProblems({ name: "Settings", version: "2.3.0-rc.1" }), []);
  deepStrictEqual(brandProblems({ name: "Settings", version: "2.9.1" }), []);
});

Deno.test("checkBrand() refuses a brand of a lower minor version", () => {
  deepStrictEqual(brandProblems({ name: "Settings", version: "2.2.9" }), [
    "(brand): built for Settings@2.2.9, older than host's 2.3",
  ]);
});

Deno.test("checkBrand() refuses a brand of another major version, higher or lower", () => {
  deepStrictEqual(brandProblems({ name: "Settings", version: "3.0.0" }), [
    "(brand): built for Settings@3.0.0, major version differs from host's 2.x",
  ]);
  deepStrictEqual(brandProblems({ name: "Settings", version: "1.9.0" }), [
    "(brand): built for Settings@1.9.0, major version differs from host's 2.x",
  ]);
});

Deno.test("checkBrand() refuses a brand of another contract, whatever its version", () => {
  deepStrictEqual(brandProblems({ name: "Other", version: "2.3.0" }), [
    '(brand): built for contract "Other", expected "Settings"',
  ]);
});

Deno.test("checkBrand() reports a malformed brand as one problem instead of throwing", () => {
  const [notSemver, ...rest] = brandProblems({ name: "Settings", version: "2.3" });
  deepStrictEqual(rest, []);
  match(notSemver!, /^\(brand\): malformed brand: TypeError: .*"2\.3" is not semver/);
  match(brandProblems(null)[0]!, /^\(brand\): malformed brand: TypeError: /);
});

Deno.test("checkBrand() reports a brand whose reading throws, and appends to the problems given", () => {
  const handle = Object.defineProperty({}, CONTRACT_BRAND, {
    get() {
      throw new RangeError("hostile getter");
    },
  });
  const problems = ["earlier problem"];
  checkBrand(handle, "Settings", HOST, problems);
  deepStrictEqual(problems, ["earlier problem", "(brand): reading it threw RangeError: hostile getter"]);
});

Deno.test("checkBrand() reports a brand whose name getter throws as malformed", () => {
  const brand = {
    get name(): string {
      throw new Error("name getter");
    },
    version: "2.3.0",
  };
  deepStrictEqual(brandProblems(brand), ["(brand): malformed brand: Error: name getter"]);
});
