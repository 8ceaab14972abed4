/**
 * The working directories of generation processes (core/_private_directory.ts):
 * a host that dies without removing them (killed, Ctrl-C with no handler,
 * an uncaught error) leaves them in the temporary directory, and the next
 * host that starts a process removes them, and only them: a live host's
 * directories stay. Real host subprocesses, each with its own TMPDIR.
 *
 * @module
 */

import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { join } from "node:path";
import { Child, REPO } from "./_child.ts";
import { Fixture } from "./_fixtures.ts";

/** A host that starts a process generation, says so, then waits on stdin and closes at its end. */
const HOST = `
import { defineContract, registerHotswap } from ${JSON.stringify(join(REPO, "mod.ts"))};
const contract = defineContract<{ n: number }>({ name: "N", version: "1.0.0", symbol: "hs_n", shape: { n: "number" } });
const hot = await registerHotswap(contract, Deno.args[0]!, { isolation: "process" });
await hot.warm();
console.log("serving", hot.with((h) => h.n));
for await (const _ of Deno.stdin.readable) { /* until stdin ends */ }
await hot.close();
console.log("closed");
`;

/** The names in `dir` that a host made: its lock and its processes' directories. */
function hostEntries(dir: string): string[] {
  return [...Deno.readDirSync(dir)].map((entry) => entry.name)
    .filter((name) => name.startsWith("hotswap_") && !name.includes("unlocked")).sort();
}

function startHost(fixture: Fixture, tmp: string, entry: string, script: string): Child {
  return Child.spawn([
    "run",
    "--no-prompt",
    `--allow-read=${REPO},${fixture.dir},${tmp}`,
    `--allow-write=${tmp}`,
    "--allow-env=TMPDIR",
    `--allow-run=${Deno.execPath()}`,
    script,
    entry,
  ], { env: { TMPDIR: tmp, NO_COLOR: "1" } });
}

Deno.test({
  name: "a host killed with its processes' directories leaves them to the next host, which removes only them",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    await using fixture = await Fixture.create();
    const tmp = await Deno.makeTempDir({ prefix: "private_directory_test_" });
    try {
      const entry = await fixture.write({ "n.ts": "export const hs_n = { n: 1 };\n" });
      const script = await fixture.write({ "host.ts": HOST });
      // A lock anyone could make, under a name no host takes, and a directory named after it: never swept.
      const foreign = ["hotswap_host_unlocked.lock", "hotswap_generation_unlocked_x"];
      Deno.writeTextFileSync(join(tmp, foreign[0]!), "");
      Deno.mkdirSync(join(tmp, foreign[1]!));
      const past = new Date(Date.now() - 3_600_000);
      Deno.utimeSync(join(tmp, foreign[0]!), past, past);

      // The first host: its serving process and its standby each run in a directory of their own.
      await using first = startHost(fixture, tmp, entry, script);
      await first.waitFor(/^serving 1$/);
      const left = hostEntries(tmp);
      const lock = left.find((name) => name.startsWith("hotswap_host_"));
      ok(lock !== undefined, `a lock beside the directories: ${left.join(", ")}`);
      const id = lock.slice("hotswap_host_".length, -".lock".length);
      strictEqual(
        left.filter((name) => name.startsWith(`hotswap_generation_${id}_`)).length,
        2,
        left.join(", "),
      );
      first.kill("SIGKILL");
      await first.status;
      deepStrictEqual(hostEntries(tmp), left, "nothing removed them: the host was killed");
      // A lock made in the last seconds may not be locked yet: the sweep waits until it is older.
      const old = new Date(Date.now() - 60_000);
      Deno.utimeSync(join(tmp, lock), old, old);

      // A second host, alive, whose directories the third must leave alone.
      await using second = startHost(fixture, tmp, entry, script);
      await second.waitFor(/^serving 1$/);
      const secondEntries = hostEntries(tmp).filter((name) => !left.includes(name));
      strictEqual(secondEntries.length, 3, `its lock and two directories: ${secondEntries.join(", ")}`);
      deepStrictEqual(
        hostEntries(tmp).filter((name) => left.includes(name)),
        [],
        "the second host removed the first host's lock and directories",
      );
      for (const name of secondEntries) {
        if (name.endsWith(".lock")) Deno.utimeSync(join(tmp, name), old, old);
      }
      await using third = startHost(fixture, tmp, entry, script);
      await third.waitFor(/^serving 1$/);
      for (const name of secondEntries) {
        ok(hostEntries(tmp).includes(name), `${name} of the live second host is left`);
      }
      for (const host of [second, third]) {
        await host.closeStdin();
        await host.waitFor(/^closed$/);
        strictEqual((await host.status).code, 0);
      }
      deepStrictEqual(hostEntries(tmp), [], "hosts that close remove their directories and their lock");
      for (const name of foreign) ok(Deno.statSync(join(tmp, name)), `${name}, not a host's, is left`);
    } finally {
      await Deno.remove(tmp, { recursive: true });
    }
  },
});
