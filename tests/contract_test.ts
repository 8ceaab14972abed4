import { deepStrictEqual, ok, strictEqual, throws } from "node:assert/strict";
import {
  CONTRACT_BRAND,
  ContractError,
  defineContract,
  HotswapError,
  implement,
  type Shape,
} from "../mod.ts";

interface Settings {
  name: string;
  port: number;
  debug?: boolean;
  tags: string[];
  limits: { rps: number; burst?: number };
  handler(request: string): string;
  extra: unknown;
}

const settings = defineContract<Settings>({
  name: "Settings",
  version: "2.3.0",
  symbol: "hs_settings",
  shape: {
    name: "string",
    port: "number",
    debug: "boolean?",
    tags: "array",
    limits: { rps: "number", burst: "number?" },
    handler: "function",
    extra: "unknown",
  },
});

const good: Settings = {
  name: "api",
  port: 80,
  tags: ["a"],
  limits: { rps: 10 },
  handler: (r) => r,
  extra: null,
};

Deno.test("Contract.verify() returns the same value when it fits", () => {
  strictEqual(settings.verify(good), good);
});

Deno.test("Contract.verify() lists every mismatch, not just the first", () => {
  const bad = { name: 1, port: "80", debug: "yes", tags: {}, limits: { rps: "x", burst: 1 } };
  try {
    settings.verify(bad);
    throw new Error("verify accepted a bad value");
  } catch (error) {
    ok(error instanceof ContractError);
    ok(error instanceof HotswapError);
    strictEqual(error.code, "E_CONTRACT");
    deepStrictEqual(error.problems, [
      "name: expected string, got number",
      "port: expected number, got string",
      "debug: expected boolean, got string",
      "tags: expected array, got object",
      "limits.rps: expected number, got string",
      "handler: expected function, got undefined (missing)",
    ]);
  }
});

Deno.test("Contract.verify() accepts inherited methods, as class instances have", () => {
  class Impl {
    name = "api";
    port = 1;
    tags = [];
    limits = { rps: 1 };
    extra = 0;
    handler(r: string): string {
      return r;
    }
  }
  ok(settings.verify(new Impl()));
});

Deno.test("Contract.verify() reports a getter that throws and a revoked Proxy instead of crashing", () => {
  const getter = {
    ...good,
    get port(): number {
      throw new Error("boom");
    },
  };
  throws(() => settings.verify(getter), (error: ContractError) => {
    deepStrictEqual(error.problems, ["port: reading it threw Error: boom"]);
    return true;
  });
  const { proxy, revoke } = Proxy.revocable({}, {});
  revoke();
  throws(() => settings.verify(proxy), { code: "E_CONTRACT" });
  throws(
    () => settings.verify(null),
    (error: ContractError) => error.problems[0] === "(handle): expected object, got null",
  );
});

Deno.test("implement() brands a handle; a newer-major or lower-minor brand is rejected", () => {
  strictEqual(settings.verify(implement(settings, { ...good })).name, "api");
  const brand = (version: string) => ({ ...good, [CONTRACT_BRAND]: { name: "Settings", version } });
  ok(settings.verify(brand("2.3.0")));
  ok(settings.verify(brand("2.9.1")));
  throws(() => settings.verify(brand("3.0.0")), /major version differs/);
  throws(() => settings.verify(brand("1.9.0")), /major version differs/);
  throws(() => settings.verify(brand("2.2.9")), /older than host's 2.3/);
  throws(
    () => settings.verify({ ...good, [CONTRACT_BRAND]: { name: "Other", version: "2.3.0" } }),
    /built for contract "Other"/,
  );
});

Deno.test("defineContract() rejects a malformed version, symbol or kind with a TypeError", () => {
  throws(
    () => defineContract<{ a: string }>({ name: "A", version: "1", symbol: "hs_a", shape: { a: "string" } }),
    TypeError,
  );
  // Any well-formed Unicode string is an export name; a lone surrogate is not.
  throws(
    () =>
      defineContract<{ a: string }>({
        name: "A",
        version: "1.0.0",
        symbol: "hs_\ud800",
        shape: { a: "string" },
      }),
    TypeError,
  );
  throws(
    () => defineContract<{ a: string }>({ name: "A", version: "1.0.0", symbol: "", shape: { a: "string" } }),
    TypeError,
  );
  const badKind = { a: "text" };
  throws(
    // @ts-expect-error "text" is not a shape kind
    () => defineContract<{ a: string }>({ name: "A", version: "1.0.0", symbol: "hs_a", shape: badKind }),
    TypeError,
  );
});

Deno.test("defineContract() accepts a Unicode identifier or a string export name as the symbol", () => {
  for (const symbol of ["hs_Händles_π", "hs handles v2"]) {
    strictEqual(
      defineContract<{ a: string }>({ name: "A", version: "1.0.0", symbol, shape: { a: "string" } }).symbol,
      symbol,
    );
  }
});

Deno.test("defineContract() shape is checked against the type at compile time", () => {
  defineContract<{ a: string; b: number }>({
    name: "AB",
    version: "1.0.0",
    symbol: "hs_ab",
    // @ts-expect-error member "b" of the type is missing from the shape
    shape: { a: "string" },
  });
  // @ts-expect-error "a" is a string, not a number
  defineContract<{ a: string }>({ name: "A", version: "1.0.0", symbol: "hs_a", shape: { a: "number" } });
  defineContract<{ a?: string }>({ name: "A", version: "1.0.0", symbol: "hs_a", shape: { a: "string?" } });
  // `any` claims nothing: any shape, and any kind for a member typed `any`.
  // deno-lint-ignore no-explicit-any
  defineContract<any>({
    name: "A",
    version: "1.0.0",
    symbol: "hs_a",
    shape: { a: "number", b: { c: "string" } },
  });
  // deno-lint-ignore no-explicit-any
  defineContract<{ a: any }>({ name: "A", version: "1.0.0", symbol: "hs_a", shape: { a: "function" } });
});

Deno.test("defineContract() judges a union member whole: only a kind that fits every variant type-checks", () => {
  interface Mixed {
    id: string | number;
    note: string | null;
    callback: (() => void) | { run(): void };
    either: { a: number } | { b: string };
    level: "low" | "high";
  }
  const fits = {
    id: "unknown",
    note: "unknown",
    callback: "unknown",
    either: "object",
    level: "string",
  } as const;
  const mixed = (shape: Shape<Mixed>) =>
    defineContract<Mixed>({ name: "M", version: "1.0.0", symbol: "hs_m", shape });
  mixed(fits);
  // @ts-expect-error verify() would refuse the numbers
  mixed({ ...fits, id: "string" });
  // @ts-expect-error verify() would refuse null
  mixed({ ...fits, note: "string" });
  // @ts-expect-error verify() tells functions from objects: neither kind fits both
  mixed({ ...fits, callback: "object" });
  // @ts-expect-error one variant's nested shape does not describe the other
  mixed({ ...fits, either: { a: "number" } });
  // What the types allow is what verify() accepts: each variant passes.
  const contract = mixed(fits);
  for (
    const value of [{ id: 1, note: null, callback: () => {}, either: { b: "x" }, level: "low" }, {
      id: "1",
      note: "n",
      callback: { run() {} },
      either: { a: 1 },
      level: "high",
    }]
  ) {
    strictEqual(contract.verify(value as Mixed), value);
  }
});

Deno.test("ContractError.problems is a string[], as SPEC 3 writes it, and each error's own", () => {
  const contract = defineContract<{ a: string }>({
    name: "P",
    version: "1.0.0",
    symbol: "hs_p",
    shape: { a: "string" },
  });
  const caught = (() => {
    try {
      contract.verify({ a: 1 });
    } catch (error) {
      return error;
    }
  })();
  ok(caught instanceof ContractError);
  const problems: string[] = caught.problems;
  problems.push("added by the catcher");
  strictEqual(problems.length, 2);
});
