/**
 * The checks of what a generation sends (core/_worker_messages.ts): a
 * message passes in the protocol's types or is refused with its problem
 * named, and a process's loaded reply is held to the same rules plus its
 * file list.
 *
 * @module
 */

import fc from "npm:fast-check@4.10.2";
import { deepStrictEqual, ok, strictEqual, throws } from "node:assert/strict";
import {
  checkLoadedPayload,
  checkSerializedError,
  checkWorkerMessage,
  ProtocolViolation,
} from "../core/_worker_messages.ts";
import { MAX_ERROR_RECORDS, rebuildError, serializeError } from "../core/_protocol.ts";
import { protocolShapedMessage } from "./_arbitraries.ts";

const HOOKS = { handoff: false, dispose: true };

Deno.test("checkWorkerMessage() passes protocol messages and names the problem of others", () => {
  deepStrictEqual(checkWorkerMessage({ t: "result", id: 3, encoded: "[1]" }), {
    ok: true,
    message: { t: "result", id: 3, encoded: "[1]" },
  });
  for (
    const [data, problem] of [
      [null, "a message that is null"],
      [[1], "a message that is an array"],
      [{ t: "result", id: 0, encoded: "" }, "a reply without a valid call id"],
      [{ t: "result", id: 3, value: [1] }, "a result that is not encoded text"],
      [{ t: "nonsense" }, 'a message of unknown type "nonsense"'],
      [{ t: "exit", how: 1 }, "the how of an exit message that is not a string"],
    ] as const
  ) {
    deepStrictEqual(checkWorkerMessage(data), { ok: false, problem });
  }
  const hostile = {
    get t(): never {
      throw new Error("a getter");
    },
  };
  deepStrictEqual(checkWorkerMessage(hostile), { ok: false, problem: "a message that cannot be read" });
});

Deno.test("checkWorkerMessage() never throws, whatever the worker's message holds (fast-check)", () => {
  const shaped = protocolShapedMessage();
  fc.assert(
    fc.property(fc.oneof(fc.anything(), shaped), (data) => {
      const checked = checkWorkerMessage(structuredClone(data));
      ok(checked.ok || typeof checked.problem === "string");
    }),
    { numRuns: 2_000 },
  );
});

Deno.test("checkSerializedError() throws a ProtocolViolation for a malformed error record", () => {
  throws(() => checkSerializedError({ name: "Error", message: "m", code: "E_MADE_UP" }), ProtocolViolation);
  const cut = checkSerializedError({ name: "Error", message: "m".repeat(100_000) });
  ok(cut.message.length < 20_000);
});

/** A URL as a process mints one. */
const BLOB = "blob:null/6c1b0f1e-4d2b-4c8e-9f2a-0123456789ab";

Deno.test("checkLoadedPayload() takes the handle, hooks and files of a process's loaded reply", () => {
  const loaded = checkLoadedPayload({
    handle: { kind: "object", members: { greet: { kind: "function", index: 0 } } },
    hooks: HOOKS,
    files: [[BLOB, "/src/a.ts"], ["file:///src/my dir/b.js", "/src/my dir/b.js"]],
  }, 7);
  deepStrictEqual(loaded, {
    handle: { kind: "object", members: { greet: { kind: "function", index: 0 } } },
    hooks: HOOKS,
    files: [[BLOB, "/src/a.ts"], ["file:///src/my dir/b.js", "/src/my dir/b.js"]],
  });
  const many = Array.from({ length: 10_001 }, (_, i) => [BLOB, `/src/${i}.ts`]);
  strictEqual(
    checkLoadedPayload({ handle: { kind: "value", value: 1 }, hooks: HOOKS, files: many }, 1).files.length,
    10_000,
    "files past 10,000 are ignored",
  );
});

Deno.test("checkLoadedPayload() refuses a malformed loaded reply with a ProtocolViolation", () => {
  const handle = { kind: "value", value: 1 };
  for (
    const [payload, problem] of [
      [null, /a loaded reply that is null/],
      [{ handle: { kind: "function", index: -1 }, hooks: HOOKS, files: [] }, /without a valid index/],
      [{ handle, hooks: { handoff: 1, dispose: false }, files: [] }, /hooks are not booleans/],
      [{ handle, hooks: HOOKS }, /without its file list/],
      [{ handle, hooks: HOOKS, files: [["", "/a.ts"]] }, /not pairs of texts/],
      [{ handle, hooks: HOOKS, files: [["blob:a", 1]] }, /not pairs of texts/],
      [{ handle, hooks: HOOKS, files: [["blob:a", "x".repeat(5000)]] }, /not pairs of texts/],
      [{ handle, hooks: HOOKS, files: [["a", "/a.ts"]] }, /names something other than a minted URL/],
      [{ handle, hooks: HOOKS, files: [["blob:a", "/a.ts"]] }, /names something other than a minted URL/],
    ] as const
  ) {
    throws(
      () => checkLoadedPayload(payload, 1),
      (error: Error) => error instanceof ProtocolViolation && problem.test(error.message),
      JSON.stringify(payload)?.slice(0, 80),
    );
  }
});

Deno.test("serializeError() cuts every text and counts the problems before anything is copied", () => {
  const mib = "x".repeat(1024 * 1024);
  const error = Object.assign(new Error("small"), { problems: new Array(1000).fill(mib), path: mib });
  error.name = mib;
  const record = serializeError(error);
  strictEqual(record.problems?.length, 256);
  ok(record.problems!.every((problem) => problem.length < 70_000));
  ok(record.name.length < 70_000 && (record.path?.length ?? 0) < 70_000);
  // What a worker would post: a few MiB at most, not the 1 GiB the references stood for.
  ok(JSON.stringify(record).length < 20 * 1024 * 1024);
});

Deno.test("an AggregateError crosses with its errors, within a budget of records however deep it nests", () => {
  const inner = new AggregateError([new RangeError("deep")], "inner");
  const back = rebuildError(
    checkSerializedError(serializeError(new AggregateError([new TypeError("a"), inner, 7], "outer"))),
    new Set(),
  );
  ok(back instanceof AggregateError);
  ok(back.errors[0] instanceof TypeError && back.errors[1] instanceof AggregateError);
  ok(back.errors[1].errors[0] instanceof RangeError);
  // A subclass keeps its errors and its name.
  class BatchError extends AggregateError {
    override name = "BatchError";
  }
  const batch = rebuildError(
    checkSerializedError(serializeError(new BatchError([new Error("one")], "batch"))),
    new Set(),
  );
  ok(batch instanceof AggregateError && batch.name === "BatchError" && batch.errors[0].message === "one");
  strictEqual(back.errors[2], 7);
  // A wide tree is cut on the way out, so an honest error never breaks the budget the host holds to.
  let wide: unknown = new Error("leaf");
  for (let level = 0; level < 6; level++) {
    wide = new AggregateError(new Array(16).fill(wide), `level ${level}`);
  }
  ok(JSON.stringify(serializeError(wide)).split('"name"').length - 1 <= MAX_ERROR_RECORDS);
  checkSerializedError(serializeError(wide));
  // A forged record sharing one child 16 times per level would stand for 16^20 records: refused at once.
  let forged: Record<string, unknown> = { name: "Error", message: "leaf" };
  for (let level = 0; level < 20; level++) {
    forged = { name: "AggregateError", message: "m", errors: new Array(16).fill(forged) };
  }
  throws(() => checkSerializedError(forged), ProtocolViolation);
  throws(
    () =>
      checkSerializedError({
        name: "E",
        message: "m",
        errors: new Array(17).fill({ name: "E", message: "m" }),
      }),
    ProtocolViolation,
  );
});

Deno.test("checkSerializedError() keeps an error's primitive properties, and refuses others", () => {
  deepStrictEqual(
    checkSerializedError({ name: "DbError", message: "m", props: { code: "E42", status: 503 } }).props,
    {
      code: "E42",
      status: 503,
    },
  );
  throws(() => checkSerializedError({ name: "E", message: "m", props: { nested: {} } }), ProtocolViolation);
  throws(
    () => checkSerializedError({ name: "E", message: "m", props: { stack: "forged" } }),
    ProtocolViolation,
  );
  const many = Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`p${i}`, i]));
  throws(() => checkSerializedError({ name: "E", message: "m", props: many }), ProtocolViolation);
});
