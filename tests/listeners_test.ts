/**
 * Event listeners are the user's code running inside the runtime's: one that
 * throws (or returns a promise that rejects) must neither end the host nor
 * change the outcome of the swap that fired it. Run in a child process, as
 * an escaped error would end the whole process, the test runner included.
 *
 * @module
 */

import { deepStrictEqual, match, ok, strictEqual } from "node:assert/strict";
import { join } from "node:path";
import { REPO, runToEnd } from "./_child.ts";
import { registerHotswap } from "../mod.ts";
import { echo, echoModule, Fixture } from "./_fixtures.ts";

const HOST = `import { defineContract, registerHotswap } from ${JSON.stringify(join(REPO, "mod.ts"))};

const contract = defineContract<{ label: string; run(input: unknown): unknown }>({
  name: "Echo", version: "1.0.0", symbol: "hs_echo", shape: { label: "string", run: "function" },
});
const throwing = Deno.args[0] === "throwing";
const hot = await registerHotswap(contract, "v1.ts", { drainTimeout: 20 });
const fired: string[] = [];
for (const type of ["swap", "retire", "reject", "drain-timeout"]) {
  hot.addEventListener(type, () => fired.push(type));
  if (!throwing) continue;
  hot.addEventListener(type, () => { throw new Error(type + " listener threw"); });
  hot.addEventListener(type, async () => { throw new Error(type + " async listener rejected"); });
  hot.addEventListener(type, { handleEvent() { throw new Error(type + " handleEvent threw"); } });
}
const outcomes: unknown[] = [];
async function attempt(name: string, work: () => Promise<{ generation: number; retired: Promise<unknown> }>) {
  try {
    const { generation, retired } = await work();
    const report = await retired as { generation: number; drained: boolean };
    outcomes.push([name, "ok", generation, report.generation, report.drained]);
  } catch (error) {
    outcomes.push([name, "rejected", (error as { code?: string }).code]);
  }
}
await attempt("swap", () => hot.swap("v2.ts"));
await attempt("broken", () => hot.swap("broken.ts"));
// A call held across the swap: the old generation cannot drain within 20 ms.
const held = Promise.withResolvers<void>();
const call = hot.with(async (h) => { await held.promise; return h.label; });
await attempt("held", () => hot.swap("v1.ts"));
held.resolve();
outcomes.push(["call", await call]);
await attempt("rollback", () => hot.rollback());
await hot.close();
console.log(JSON.stringify({ outcomes, fired: [...new Set(fired)].sort(), generation: hot.generation }));
`;

async function runHost(fixture: Fixture, mode: "quiet" | "throwing") {
  const { code, stdout: out, stderr: err } = await runToEnd(
    ["run", "--no-prompt", `--allow-read=${fixture.dir},${REPO}`, "host.ts", mode],
    { cwd: fixture.dir, env: { NO_COLOR: "1" } },
  );
  strictEqual(code, 0, `${mode} host exited ${code}:\n${out}\n${err}`);
  return { result: JSON.parse(out.trim().split("\n").at(-1)!), err };
}

Deno.test("Hotswap listeners that throw or reject never end the host nor change a swap's outcome", async () => {
  await using fixture = await Fixture.create();
  await fixture.write({
    "host.ts": HOST,
    "v1.ts": echoModule("v1"),
    "v2.ts": echoModule("v2"),
    "broken.ts": "export const hs_echo = {;",
  });
  const quiet = await runHost(fixture, "quiet");
  const throwing = await runHost(fixture, "throwing");

  deepStrictEqual(quiet.result.outcomes, [
    ["swap", "ok", 2, 1, true],
    ["broken", "rejected", "E_IMPORT"],
    ["held", "ok", 3, 2, false],
    ["call", "v2"],
    ["rollback", "ok", 4, 3, true],
  ]);
  deepStrictEqual(throwing.result, quiet.result);
  // Every event fired, so every throwing listener ran, and each throw was reported, not swallowed.
  deepStrictEqual(throwing.result.fired, ["drain-timeout", "reject", "retire", "swap"]);
  for (const type of ["swap", "retire", "reject", "drain-timeout"]) {
    for (const what of ["listener threw", "async listener rejected", "handleEvent threw"]) {
      ok(throwing.err.includes(`${type} ${what}`), `stderr reports "${type} ${what}":\n${throwing.err}`);
    }
  }
  match(throwing.err, /A "swap" listener of a hot-swap reference threw/);
  strictEqual(quiet.err, "");
});

Deno.test("Hotswap.removeEventListener removes a listener added with the same type and capture", async () => {
  await using fixture = await Fixture.create();
  const entry = await fixture.write({ "v1.ts": echoModule("v1") });
  await using hot = await registerHotswap(echo, entry);
  const seen: string[] = [];
  const listener = () => seen.push("bubble");
  const captured = () => seen.push("capture");
  hot.addEventListener("swap", listener);
  hot.addEventListener("swap", listener); // a duplicate registration is ignored, as EventTarget does
  hot.addEventListener("swap", captured, { capture: true });
  await hot.swap(entry);
  deepStrictEqual(seen.sort(), ["bubble", "capture"]);
  hot.removeEventListener("swap", listener);
  hot.removeEventListener("swap", captured); // wrong phase: stays
  await hot.swap(entry);
  deepStrictEqual(seen.sort(), ["bubble", "capture", "capture"]);
  hot.removeEventListener("swap", captured, true);
  await hot.swap(entry);
  strictEqual(seen.length, 3);
});
