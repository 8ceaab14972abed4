/**
 * The fleet commands (`publish`, `rollout`, `promote`, `abort`, `status`):
 * exit codes (0 done, 1 failed, 2 usage), what they print, and where; and
 * the way out of a malformed channel state (`abort --stable`), run as its own
 * process against hosts following the channel.
 */

import { deepStrictEqual, match, ok, rejects, strictEqual } from "node:assert/strict";
import { relative } from "node:path";
import { defineContract } from "../core/contract.ts";
import { packArtifact } from "../core/artifact.ts";
import { generateSigningKey } from "../core/signature.ts";
import type { FleetCommand } from "../core/fleet/cli/_args.ts";
import { abort } from "../core/fleet/cli/abort.ts";
import { promote } from "../core/fleet/cli/promote.ts";
import { publish } from "../core/fleet/cli/publish.ts";
import { rollout } from "../core/fleet/cli/rollout.ts";
import { status } from "../core/fleet/cli/status.ts";
import { main } from "../core/cli/main.ts";
import { beginRollout } from "../core/fleet/rollout.ts";
import { Follower } from "../core/fleet/follower.ts";
import { HotswapError } from "../core/errors.ts";
import { openStore } from "../core/store/store.ts";
import { type FleetHost, followChannel } from "../core/fleet/host.ts";
import type { TrustList } from "../core/trust.ts";
import { DatabaseSync } from "node:sqlite";
import { report } from "./_fleet.ts";

const greeter = defineContract<{ greet(name: string): string }>({
  name: "CliGreeter",
  version: "1.0.0",
  symbol: "hs_greeter",
  shape: { greet: "function" },
});

async function run(
  command: FleetCommand,
  args: string[],
): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await command.run(args, { out: (line) => out.push(line), err: (line) => err.push(line) });
  return { code, out: out.join("\n"), err: err.join("\n") };
}

async function withArtifacts(
  fn: (
    dir: string,
    store: string,
    files: { v1: string; v2: string; d1: string; d2: string },
  ) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "hotswap_fleet_cli_" });
  try {
    const key = await generateSigningKey();
    const files: Record<string, string> = {};
    for (const [name, sequence] of [["v1", 1], ["v2", 2]] as const) {
      await Deno.mkdir(`${dir}/${name}`);
      await Deno.writeTextFile(
        `${dir}/${name}/g.ts`,
        `export const hs_greeter = { greet: (n: string) => "${name} " + n };`,
      );
      const packed = await packArtifact(`${dir}/${name}/g.ts`, {
        contract: greeter,
        key,
        label: name,
        sequence,
      });
      await Deno.writeFile(`${dir}/${name}.hsgen`, packed.bytes);
      files[name] = `${dir}/${name}.hsgen`;
      files[`d${sequence}`] = packed.manifest.digest;
    }
    await fn(dir, `sqlite:${dir}/fleet.db`, files as { v1: string; v2: string; d1: string; d2: string });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("publish takes an artifact by a relative path, its files importing each other", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hotswap_fleet_cli_" });
  try {
    await Deno.writeTextFile(`${dir}/words.ts`, 'export const hello = "hello";\n');
    await Deno.writeTextFile(
      `${dir}/g.ts`,
      'import { hello } from "./words.ts";\nexport const hs_greeter = { greet: (n: string) => `${hello} ${n}` };\n',
    );
    const packed = await packArtifact(`${dir}/g.ts`, { contract: greeter, key: await generateSigningKey() });
    await Deno.writeFile(`${dir}/app.hsgen`, packed.bytes);
    const { code, out, err } = await run(publish, [
      relative(Deno.cwd(), `${dir}/app.hsgen`),
      "--store",
      `sqlite:${dir}/fleet.db`,
      "--channel",
      "app",
    ]);
    strictEqual(code, 0, err);
    match(out, new RegExp(`as ${packed.manifest.digest.replace(/[+/=]/g, "\\$&")}`));
    // Other code under the same label: said, and the next step names it by digest.
    await Deno.writeTextFile(`${dir}/words.ts`, 'export const hello = "hi";\n');
    const other = await packArtifact(`${dir}/g.ts`, {
      contract: greeter,
      key: await generateSigningKey(),
      label: packed.manifest.label,
    });
    await Deno.writeFile(`${dir}/other.hsgen`, other.bytes);
    const again = await run(publish, [
      `${dir}/other.hsgen`,
      "--store",
      `sqlite:${dir}/fleet.db`,
      "--channel",
      "app",
    ]);
    strictEqual(again.code, 0, again.err);
    match(
      again.err,
      new RegExp(
        `label ${packed.manifest.label} also names ${
          packed.manifest.digest.replace(/[+/=]/g, "\\$&")
        }: name these artifacts by digest`,
      ),
    );
    match(again.out, new RegExp(`--to ${other.manifest.digest.replace(/[+/=]/g, "\\$&")}$`));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("every fleet command prints its usage for --help and exits 0", async () => {
  for (const command of [publish, rollout, promote, abort, status]) {
    const { code, out } = await run(command, ["--help"]);
    strictEqual(code, 0);
    match(out, /^Usage: hotswap \w+ /);
    strictEqual(out, command.usage);
  }
});

Deno.test("hotswap --help lists the fleet commands, and the dispatcher runs each", async () => {
  const io = () => {
    const lines = { out: [] as string[], err: [] as string[] };
    return {
      lines,
      io: { out: (line: string) => lines.out.push(line), err: (line: string) => lines.err.push(line) },
    };
  };
  const help = io();
  strictEqual(await main(["--help"], help.io), 0);
  const commands = { publish, rollout, promote, abort, status };
  for (const [name, command] of Object.entries(commands)) {
    match(help.lines.out.join("\n"), new RegExp(`^  ${name} +${RegExp.escape(command.summary)}$`, "m"));
    const own = io();
    strictEqual(await main([name, "--help"], own.io), 0);
    strictEqual(own.lines.out.join("\n"), command.usage);
  }
  const usage = io();
  strictEqual(await main(["status", "--store", "sqlite:x.db"], usage.io), 2);
  match(usage.lines.err.join("\n"), /^hotswap status: Missing <channel>/);
});

Deno.test("fleet commands exit 2 on a command line that cannot run", async () => {
  const cases: [FleetCommand, string[], RegExp][] = [
    [publish, ["a.hsgen", "--channel", "c"], /Missing --store/],
    [publish, ["--store", "sqlite:x.db", "--channel", "c"], /Missing <file\.hsgen>/],
    [rollout, ["c", "--store", "sqlite:x.db"], /Missing --to/],
    [rollout, ["c", "--store", "sqlite:x.db", "--to", "v2", "--bake", "soon"], /--bake must be a duration/],
    [rollout, ["c", "--store", "sqlite:x.db", "--to", "v2", "--max-error-rate", "2"], /from 0 to 1/],
    [
      rollout,
      ["c", "--store", "sqlite:x.db", "--to", "v2", "--steps", "50,20"],
      /steps must rise from above 0 to exactly 100/,
    ],
    [status, ["c", "--store", "redis://x"], /sqlite:<file>/],
    [abort, ["c", "--store", "sqlite:x.db", "--nope"], /Unknown option/],
  ];
  for (const [command, args, message] of cases) {
    const { code, err } = await run(command, args);
    strictEqual(code, 2, `${args.join(" ")}: ${err}`);
    match(err, message);
    match(err, /--help for usage/);
  }
});

Deno.test("channel commands create no database: not on a usage mistake, nor for a store that does not exist", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hotswap_fleet_cli_" });
  try {
    const store = `sqlite:${dir}/fleet.db`;
    for (
      const [command, args] of [[rollout, ["--to", "v2", "--bake", "soon"]], [abort, ["--nope"]]] as const
    ) {
      const { code } = await run(command, ["app", "--store", store, ...args]);
      strictEqual(code, 2);
    }
    await rejects(Deno.stat(`${dir}/fleet.db`), Deno.errors.NotFound);
    // Nor does a mistyped --store: only publish creates a store.
    for (const command of [status, rollout, promote, abort]) {
      const extra = command === rollout ? ["--to", "v2"] : [];
      const { code, err } = await run(command, ["app", "--store", store, ...extra]);
      strictEqual(code, 1, err);
      match(err, /there is no such file; fix --store, or create the store by publishing to it/);
    }
    await rejects(Deno.stat(`${dir}/fleet.db`), Deno.errors.NotFound);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("publish makes the first artifact stable, stores the next, and refuses a file that is no artifact", async () => {
  await withArtifacts(async (dir, store, { v1, v2, d1, d2 }) => {
    const first = await run(publish, [v1, "--store", store, "--channel", "app"]);
    strictEqual(first.code, 0, first.err);
    match(first.out, /stable is now sha256-/);
    const second = await run(publish, [v2, "--store", store, "--channel", "app"]);
    strictEqual(second.code, 0, second.err);
    match(second.out, /hotswap rollout app --store .* --to v2/);
    const again = await run(publish, [v1, "--store", store, "--channel", "app"]);
    strictEqual(again.code, 0, again.err);
    match(again.out, /app: it is the stable generation already; nothing to roll out/);
    await Deno.writeTextFile(`${dir}/junk.hsgen`, "{}");
    const junk = await run(publish, [`${dir}/junk.hsgen`, "--store", store, "--channel", "app"]);
    strictEqual(junk.code, 1);
    match(junk.err, /Cannot publish/);
    const json = await run(status, ["app", "--store", store, "--json"]);
    strictEqual(json.code, 0, json.err);
    const parsed = JSON.parse(json.out);
    strictEqual(parsed.stable, d1);
    // Listed by when they were last published: v1 was published again above.
    deepStrictEqual(parsed.artifacts.map((a: { digest: string }) => a.digest), [d2, d1]);
  });
});

Deno.test("publish refuses an artifact whose files do not hash to its digest, or that is unsigned: the stored one stays", async () => {
  await withArtifacts(async (dir, store, { v1, d1 }) => {
    strictEqual((await run(publish, [v1, "--store", store, "--channel", "app"])).code, 0);
    // One byte of a file changed: the manifest still names the same digest.
    const text = await Deno.readTextFile(v1);
    const at = text.indexOf('"bytes":"') + '"bytes":"'.length;
    const altered = text.slice(0, at) + (text[at] === "A" ? "B" : "A") + text.slice(at + 1);
    await Deno.writeTextFile(`${dir}/altered.hsgen`, altered);
    const tampered = await run(publish, [`${dir}/altered.hsgen`, "--store", store, "--channel", "lbl"]);
    strictEqual(tampered.code, 1, tampered.out);
    match(tampered.err, /tampered/);
    const unsigned = JSON.parse(text);
    unsigned.envelope.signatures = [];
    await Deno.writeTextFile(`${dir}/unsigned.hsgen`, JSON.stringify(unsigned));
    const refused = await run(publish, [`${dir}/unsigned.hsgen`, "--store", store, "--channel", "app"]);
    strictEqual(refused.code, 1, refused.out);
    match(refused.err, /unsigned: .*pack it with --key/);
    await using opened = await openStore(store);
    deepStrictEqual(await opened.getArtifact(d1), await Deno.readFile(v1));
  });
});

Deno.test("publish warns of an artifact packed for another contract than the channel serves; rollout refuses it", async () => {
  await withArtifacts(async (dir, store, { v1, d1 }) => {
    strictEqual((await run(publish, [v1, "--store", store, "--channel", "app"])).code, 0);
    {
      // A host serving the stable generation: what the refusal protects.
      await using opened = await openStore(store);
      await opened.putReport("app", report("h1", d1, { at: Date.now(), interval: 60_000 }));
    }
    await Deno.mkdir(`${dir}/so`);
    await Deno.writeTextFile(`${dir}/so/g.ts`, 'export const hs_other = { run: () => "other" };');
    const other = defineContract<{ run(): string }>({
      name: "CliOther",
      version: "1.0.0",
      symbol: "hs_other",
      shape: { run: "function" },
    });
    const packed = await packArtifact(`${dir}/so/g.ts`, {
      contract: other,
      key: await generateSigningKey(),
      label: "so1",
    });
    await Deno.writeFile(`${dir}/so1.hsgen`, packed.bytes);
    const published = await run(publish, [`${dir}/so1.hsgen`, "--store", store, "--channel", "app"]);
    strictEqual(published.code, 0, published.err);
    match(
      published.err,
      /packed for contract CliOther@1\.0\.0, and channel app serves CliGreeter@1\.0\.0: its hosts would refuse it/,
    );
    ok(!published.out.includes("roll it out with"), published.out);
    const refused = await run(rollout, [
      "app",
      "--store",
      store,
      "--to",
      "so1",
      "--steps",
      "100",
      "--bake",
      "0s",
    ]);
    strictEqual(refused.code, 1, refused.out);
    match(
      refused.err,
      /E_CONTRACT: .*packed for contract CliOther \(hs_other\), and the channel serves CliGreeter \(hs_greeter\)/,
    );
  });
});

Deno.test("rollout by label exits 0 once the candidate is stable", async () => {
  await withArtifacts(async (_dir, store, { v1, v2, d2 }) => {
    await run(publish, [v1, "--store", store, "--channel", "app"]);
    await run(publish, [v2, "--store", store, "--channel", "app"]);
    const { code, out, err } = await run(rollout, [
      "app",
      "--store",
      store,
      "--to",
      "v2",
      "--steps",
      "50,100",
      "--bake",
      "0",
    ]);
    strictEqual(code, 0, err);
    match(out, /step 1\/2: 50 % of hosts/);
    match(out, /step 2\/2: 100 % of hosts/);
    // No host follows the channel: the gate passes, and says it judged nothing.
    match(out, /gate: pass \(canary 0 hosts.*\); no call reached the canary, so nothing was judged/);
    match(out, /is stable$/);
    const human = await run(status, ["app", "--store", store]);
    match(human.out, new RegExp(`stable   ${d2.slice(0, 19)}… \\(v2\\)`));
    match(human.out, /promoted/);
    // A mistyped channel: nothing there, and the status says so rather than an empty table.
    const typo = await run(status, ["ap", "--store", store]);
    match(
      typo.out,
      /stable {3}none: nothing was published to this channel and no host follows it; check its name/,
    );
  });
});

Deno.test("rollout exits 1 with the reason on stderr when a host refuses the candidate", async () => {
  await withArtifacts(async (_dir, store, { v1, v2, d2 }) => {
    await run(publish, [v1, "--store", store, "--channel", "app"]);
    await run(publish, [v2, "--store", store, "--channel", "app"]);
    await using opened = await openStore(store);
    await using _host = Follower.start({
      store: opened,
      channel: "app",
      host: "h1",
      reportInterval: 50,
      load: (_bytes, digest) =>
        digest === d2 ? Promise.reject(new HotswapError("E_SIGNATURE", "unknown key")) : Promise.resolve(),
    });
    await _host.ready();
    const { code, err } = await run(rollout, [
      "app",
      "--store",
      store,
      "--to",
      d2,
      "--steps",
      "100",
      "--bake",
      "1m",
    ]);
    strictEqual(code, 1);
    match(
      err,
      /rollout aborted, every host back on sha256-.*: host "h1" refused the candidate: E_SIGNATURE: unknown key/,
    );
  });
});

Deno.test("promote and abort end a running rollout; with none running they exit 1", async () => {
  await withArtifacts(async (_dir, store, { v1, v2, d2 }) => {
    await run(publish, [v1, "--store", store, "--channel", "app"]);
    await run(publish, [v2, "--store", store, "--channel", "app"]);
    const none = await run(abort, ["app", "--store", store]);
    strictEqual(none.code, 1);
    match(none.err, /E_NOT_FOUND: Cannot abort on "app": no rollout is running/);
    await using opened = await openStore(store);
    await beginRollout(opened, "app", d2, { bakeMs: 60_000 });
    const aborted = await run(abort, ["app", "--store", store, "--reason", "bad smell"]);
    strictEqual(aborted.code, 0, aborted.err);
    strictEqual((await opened.getChannel("app"))?.state.rollout?.reason, "bad smell");
    await beginRollout(opened, "app", d2, { bakeMs: 60_000 });
    const promoted = await run(promote, ["app", "--store", store]);
    strictEqual(promoted.code, 0, promoted.err);
    strictEqual((await opened.getChannel("app"))?.state.stable, d2);
    ok((await run(promote, ["app", "--store", store])).code === 1);
  });
});

// A channel state that is not a state (garbage from a broken tool, or from whoever can write the store).

const MAIN = new URL("../core/cli/main.ts", import.meta.url).pathname;
const LOCK = new URL("./deno.lock", import.meta.url).pathname;

/** Runs `hotswap <args>` as its own process, with the grants of `deno task hotswap`. */
async function hotswap(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--no-prompt",
      `--lock=${LOCK}`,
      "--frozen",
      "--allow-read",
      "--allow-write",
      "--allow-net=127.0.0.1,localhost",
      MAIN,
      ...args,
    ],
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes).trimEnd();
  return { code, out: text(stdout), err: text(stderr) };
}

/** Writes `text` as the channel's state straight into the database, and wakes the watchers, as a broken tool would. */
async function forgeState(file: string, channel: string, text: string): Promise<void> {
  const db = new DatabaseSync(file);
  try {
    db.exec("PRAGMA busy_timeout = 5000");
    db.prepare("UPDATE channels SET state = ?, revision = revision + 1 WHERE name = ?").run(text, channel);
  } finally {
    db.close();
  }
  await Deno.writeTextFile(`${file}-notify`, `${channel} forged\n`);
}

async function until(what: string, done: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!await done()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

Deno.test("a malformed channel state: publish stores nothing, status says how to reset it, abort --stable resets it and the hosts follow", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hotswap_fleet_cli_" });
  const hosts: FleetHost<{ greet(name: string): string }>[] = [];
  try {
    const key = await generateSigningKey();
    const trust: TrustList = {
      version: 1,
      keys: [{ keyid: key.keyid, publicKey: key.publicKey }],
      revoked: [],
    };
    const digests: Record<string, string> = {};
    for (const [word, sequence] of [["v1", 1], ["v2", 2], ["v3", 3]] as const) {
      await Deno.mkdir(`${dir}/${word}`);
      await Deno.writeTextFile(
        `${dir}/${word}/g.ts`,
        `export const hs_greeter = { greet: (n: string) => "${word} " + n };`,
      );
      const packed = await packArtifact(`${dir}/${word}/g.ts`, {
        contract: greeter,
        key,
        label: word,
        sequence,
      });
      await Deno.writeFile(`${dir}/${word}.hsgen`, packed.bytes);
      digests[word] = packed.manifest.digest;
    }
    const file = `${dir}/fleet.db`;
    const store = `sqlite:${file}`;
    for (const word of ["v1", "v2"]) {
      const published = await hotswap([
        "publish",
        `${dir}/${word}.hsgen`,
        "--store",
        store,
        "--channel",
        "app",
      ]);
      strictEqual(published.code, 0, published.err);
    }
    const errors: unknown[] = [];
    for (const host of ["web-1", "web-2"]) {
      await Deno.mkdir(`${dir}/cache-${host}`);
      hosts.push(
        await followChannel(greeter, {
          store,
          channel: "app",
          host,
          trust,
          reportInterval: 50,
          cacheDir: `${dir}/cache-${host}`,
          onError: (error) => errors.push(error),
        }),
      );
    }
    const serving = (word: string) =>
      hosts.every((host) => host.hot.with((h) => h.greet("x")) === `${word} x`);
    await using opened = await openStore(store);
    await until("both hosts report", async () => (await opened.listReports("app")).length === 2);
    ok(serving("v1"));

    await forgeState(file, "app", "{garbage");
    const told = () => errors.find((error) => /Cannot read channel "app"/.test(String(error)));
    await until("a host is told the channel cannot be read", () => told() !== undefined);
    // The hosts keep serving, and say how to get out.
    ok(serving("v1"));
    match(
      String(told()),
      /Cannot read channel "app" .*malformed.*hotswap abort app --store sqlite:\S+ --stable/,
    );

    const publish3 = await hotswap(["publish", `${dir}/v3.hsgen`, "--store", store, "--channel", "app"]);
    strictEqual(publish3.code, 1);
    strictEqual(publish3.out, "");
    match(
      publish3.err,
      /^hotswap publish: E_STORE: Cannot publish sha256-\S+ to channel "app" in store "sqlite:\S+": the channel's state \(revision 2\) is malformed \(.*\), so nothing was stored; reset the channel to an artifact already published with hotswap abort app --store sqlite:\S+ --stable <digest\|label>/,
    );
    deepStrictEqual((await opened.listArtifacts()).map((artifact) => artifact.label), ["v1", "v2"]);
    strictEqual(await opened.getArtifact(digests.v3!), undefined);

    const broken = await hotswap(["status", "app", "--store", store]);
    strictEqual(broken.code, 1);
    match(broken.out, /^channel app \(revision 2\)\n {2}state {4}cannot be read: .*JSON/);
    match(broken.out, /^ {4}web-1 +serving +gen 1 /m);
    match(broken.out, /^ {4}web-2 +serving +gen 1 /m);
    match(
      broken.out,
      new RegExp(`^  artifacts 2 in the store\\n    ${RegExp.escape(digests.v1!)}  v1  published `, "m"),
    );
    match(broken.out, new RegExp(`^    ${RegExp.escape(digests.v2!)}  v2  published `, "m"));
    match(
      broken.err,
      /^hotswap status: Cannot read the state of channel "app": it is malformed \(.*\); reset it to one of the artifacts with hotswap abort app --store sqlite:\S+ --stable <digest\|label>$/,
    );
    const json = await hotswap(["status", "app", "--store", store, "--json"]);
    strictEqual(json.code, 1);
    const parsed = JSON.parse(json.out);
    match(parsed.unreadable, /JSON/);
    strictEqual(parsed.hosts.length, 2);
    // The other commands on the channel refuse too, with the same way out.
    const rolled = await hotswap(["rollout", "app", "--store", store, "--to", "v2"]);
    strictEqual(rolled.code, 1);
    match(rolled.err, /E_STORE: Cannot read channel "app" .*hotswap abort app --store sqlite:\S+ --stable/);

    const missing = await hotswap(["abort", "app", "--store", store, "--stable", "v3"]);
    strictEqual(missing.code, 1);
    match(missing.err, /E_NOT_FOUND: Cannot reset channel "app" to "v3": the store has no artifact/);
    const reset = await hotswap(["abort", "app", "--store", store, "--stable", "v2"]);
    strictEqual(reset.code, 0, reset.err);
    strictEqual(
      reset.out,
      `app: reset its malformed state (revision 2) to stable ${
        digests.v2!.slice(0, 19)
      }… (v2), now revision 3; hosts following app load it`,
    );
    deepStrictEqual(await opened.getChannel("app"), { state: { stable: digests.v2 }, revision: 3 });
    await until("the hosts serve v2", () => serving("v2"));

    const fixed = await hotswap(["status", "app", "--store", store]);
    strictEqual(fixed.code, 0, fixed.err);
    match(fixed.out, /^channel app \(revision 3\)\n {2}stable {3}sha256-\S+ \(v2\)/);
    // The channel reads again: --stable is refused, and publish works.
    const again = await hotswap(["abort", "app", "--store", store, "--stable", "v1"]);
    strictEqual(again.code, 2);
    match(
      again.err,
      /^hotswap abort: --stable resets a channel whose state cannot be read, and the state of "app" reads \(revision 3, stable sha256-\S+\): move it to another artifact with hotswap rollout app/,
    );
    strictEqual((await opened.getChannel("app"))?.revision, 3);
    const publish3Again = await hotswap(["publish", `${dir}/v3.hsgen`, "--store", store, "--channel", "app"]);
    strictEqual(publish3Again.code, 0, publish3Again.err);
  } finally {
    for (const host of hosts) await host[Symbol.asyncDispose]();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("abort --stable is refused on a channel never written, and together with --reason", async () => {
  await withArtifacts(async (_dir, store, { v1 }) => {
    await run(publish, [v1, "--store", store, "--channel", "app"]);
    const none = await run(abort, ["other", "--store", store, "--stable", "v1"]);
    strictEqual(none.code, 2);
    match(none.err, /"other" has no state yet: publish to it with hotswap publish <file>\.hsgen --store/);
    const both = await run(abort, ["app", "--store", store, "--stable", "v1", "--reason", "x"]);
    strictEqual(both.code, 2);
    match(both.err, /--reason goes with aborting a rollout, --stable with resetting a malformed channel/);
  });
});

Deno.test("rollout run again on an unfinished rollout says which settings given now it ignores", async () => {
  await withArtifacts(async (_dir, store, { v1, v2, d2 }) => {
    await run(publish, [v1, "--store", store, "--channel", "app"]);
    await run(publish, [v2, "--store", store, "--channel", "app"]);
    {
      await using opened = await openStore(store);
      await beginRollout(opened, "app", d2, { steps: [50, 100], bakeMs: 60_000 });
    }
    const err: string[] = [];
    const resumed = Promise.withResolvers<void>();
    const running = rollout.run(
      ["app", "--store", store, "--to", "v2", "--max-p99-ms", "40", "--bake", "60s", "--steps", "25,100"],
      {
        out: (line) => line.includes("resuming rollout") && resumed.resolve(),
        err: (line) => err.push(line),
      },
    );
    await resumed.promise;
    strictEqual((await run(promote, ["app", "--store", store])).code, 0);
    strictEqual(await running, 0, err.join("\n"));
    const said = err.join("\n");
    match(said, /ignored: --steps 25,100 \(kept: 50,100\), --max-p99-ms 40 \(kept: none\)/);
    ok(!said.includes("--bake"), "a setting given as it is kept is not mentioned");
  });
});
