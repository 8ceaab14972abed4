/**
 * The `hotswap` CLI end to end (SPEC 12, issue #11), each command a real
 * subprocess in a temporary directory with no deno.json of ours: keygen,
 * trust add, pack, verify, tamper, and a host program elsewhere on disk that
 * swaps to the good artifact and refuses the tampered one.
 *
 * @module
 */

import { deepStrictEqual, match, ok, strictEqual } from "node:assert/strict";
import { join } from "node:path";
import { type Finished, REPO, runToEnd } from "./_child.ts";
import { Fixture } from "./_fixtures.ts";
import { decodeArtifact, encodeArtifact } from "../core/_artifact_format.ts";
import { signPayload } from "../core/signature.ts";

const CLI = join(REPO, "core/cli/main.ts");

/** `hotswap <args>` as `deno task hotswap` runs it. */
function hotswap(cwd: string, ...args: string[]): Promise<Finished> {
  return runToEnd(["run", "--no-prompt", "--allow-read", "--allow-write", CLI, ...args], {
    cwd,
    env: { NO_COLOR: "1" },
  });
}

/** A generation of two files whose greeting is `word`. */
function generation(word: string): Record<string, string> {
  return {
    [`gen/${word}/entry.ts`]: `import { word } from "./word.ts";
export const hs_greeter = { greet: (name: string) => word + " " + name };
`,
    [`gen/${word}/word.ts`]: `export const word = ${JSON.stringify(word)};\n`,
  };
}

const CONTRACT_MODULE = `import { defineContract } from ${JSON.stringify(join(REPO, "mod.ts"))};
export const greeter = defineContract<{ greet(name: string): string }>({
  name: "Greeter", version: "1.0.0", symbol: "hs_greeter", shape: { greet: "function" },
});
`;

/** A host that loads v1, then swaps to each artifact named on its command line, printing each outcome. */
const HOST_PROGRAM = `import { registerHotswap } from ${JSON.stringify(join(REPO, "mod.ts"))};
import { greeter } from "./contract.ts";
const [first, ...rest] = Deno.args;
const hot = await registerHotswap(greeter, first!, { trust: "trust.json" });
console.log("gen", hot.generation, hot.with((h) => h.greet("ada")), hot.info().provenance?.manifest.label);
for (const path of rest) {
  try {
    const { generation } = await hot.swap(path);
    console.log("gen", generation, hot.with((h) => h.greet("ada")), hot.info().provenance?.manifest.label);
  } catch (error) {
    const { code, reason } = error as { code: string; reason: string };
    console.log("refused", path, code, reason, "gen", hot.generation, hot.with((h) => h.greet("ada")));
  }
}
await hot.close();
`;

Deno.test("hotswap: keygen, trust add, pack, verify, tamper, and a host that swaps only to the good artifact", async () => {
  await using fixture = await Fixture.create();
  const dir = fixture.dir;
  await fixture.write({ ...generation("hello"), ...generation("hi"), "contract.ts": CONTRACT_MODULE });

  const keygen = await hotswap(dir, "keygen", "release");
  strictEqual(keygen.code, 0, keygen.stderr);
  const key = JSON.parse(await Deno.readTextFile(fixture.path("release.key")));
  strictEqual((await Deno.stat(fixture.path("release.key"))).mode! & 0o777, 0o600);
  ok(!(keygen.stdout + keygen.stderr).includes(key.privateKey), "the private key is never printed");
  const pub = JSON.parse(await Deno.readTextFile(fixture.path("release.pub.json")));
  deepStrictEqual(Object.keys(pub).sort(), ["keyid", "publicKey"]);
  ok(keygen.stdout.includes(pub.keyid));

  const added = await hotswap(
    dir,
    "trust",
    "add",
    "release.pub.json",
    "--trust",
    "trust.json",
    "--scope",
    "Greeter",
  );
  strictEqual(added.code, 0, added.stderr);
  const trust = JSON.parse(await Deno.readTextFile(fixture.path("trust.json")));
  deepStrictEqual(trust.keys, [{ ...pub, scopes: ["Greeter"] }]);

  for (const [word, sequence] of [["hello", "1"], ["hi", "2"]] as const) {
    const packed = await hotswap(
      dir,
      "pack",
      `gen/${word}/entry.ts`,
      "--contract",
      "contract.ts#greeter",
      "--key",
      "release.key",
      "--label",
      word,
      "--sequence",
      sequence,
      "--out",
      `${word}.hsgen`,
    );
    strictEqual(packed.code, 0, packed.stderr);
    match(packed.stdout, /Packed 2 files into .*\.hsgen/);
  }

  const verified = await hotswap(dir, "verify", "hi.hsgen", "--trust", "trust.json");
  strictEqual(verified.code, 0, verified.stderr);
  match(verified.stdout, /^Verified hi\.hsgen: Greeter@1\.0\.0, label hi, sequence 2$/m);

  // One byte of a file's content, changed after signing.
  const text = await Deno.readTextFile(fixture.path("hi.hsgen"));
  const at = text.indexOf('"bytes":"') + 12;
  await Deno.writeTextFile(
    fixture.path("bad.hsgen"),
    text.slice(0, at) + flip(text[at]!) + text.slice(at + 1),
  );
  const refused = await hotswap(dir, "verify", "bad.hsgen", "--trust", "trust.json");
  strictEqual(refused.code, 1, refused.stdout);
  match(refused.stderr, /^Refused \(tampered\): Cannot load ".*bad\.hsgen": tampered: /);
  strictEqual(refused.stdout, "");

  const inspected = await hotswap(dir, "inspect", "hi.hsgen", "--json");
  strictEqual(inspected.code, 0, inspected.stderr);
  const description = JSON.parse(inspected.stdout);
  strictEqual(description.manifest.label, "hi");
  deepStrictEqual(description.files.map((file: { path: string }) => file.path), ["word.ts", "entry.ts"]);
  deepStrictEqual(description.signatures.map((s: { keyid: string }) => s.keyid), [pub.keyid]);

  // The host reads the artifacts and the trust list, and nothing else of the directory:
  // the generations' files come from the artifacts, in memory.
  await fixture.write({ "host.ts": HOST_PROGRAM });
  const grant = [
    REPO,
    ...["host.ts", "contract.ts", "trust.json", "hello.hsgen", "hi.hsgen", "bad.hsgen"].map(
      (name) => fixture.path(name),
    ),
  ];
  const host = await runToEnd([
    "run",
    "--no-prompt",
    `--allow-read=${grant.join(",")}`,
    "host.ts",
    "hello.hsgen",
    "hi.hsgen",
    "bad.hsgen",
    "gen/hi/entry.ts",
  ], { cwd: dir, env: { NO_COLOR: "1" } });
  strictEqual(host.code, 0, host.stdout + host.stderr);
  strictEqual(
    host.stdout,
    [
      "gen 1 hello ada hello",
      "gen 2 hi ada hi",
      "refused bad.hsgen E_SIGNATURE tampered gen 2 hi ada",
      "refused gen/hi/entry.ts E_SIGNATURE unsigned gen 2 hi ada",
      "",
    ].join("\n"),
  );
});

/** `hotswap pack` of the "hello" generation for the Greeter contract of `CONTRACT_MODULE`. */
function packHello(dir: string, key: string, out: string): Promise<Finished> {
  return hotswap(
    dir,
    "pack",
    "gen/hello/entry.ts",
    "--contract",
    "contract.ts#greeter",
    "--key",
    key,
    "--out",
    out,
  );
}

Deno.test("hotswap: verify refuses an artifact whose entry does not export its contract's symbol, as hosts would", async () => {
  await using fixture = await Fixture.create();
  const dir = fixture.dir;
  await fixture.write({ ...generation("hello"), "contract.ts": CONTRACT_MODULE });
  strictEqual((await hotswap(dir, "keygen", "a")).code, 0);
  strictEqual((await hotswap(dir, "trust", "add", "a.pub.json", "--trust", "trust.json")).code, 0);
  const packed = await packHello(dir, "a.key", "a.hsgen");
  strictEqual(packed.code, 0, packed.stderr);
  // What a packer without pack's check signed: the same files, for a symbol the entry does not export.
  const { envelope, payload, files } = decodeArtifact(
    await Deno.readFile(fixture.path("a.hsgen")),
    "a.hsgen",
  );
  const manifest = JSON.parse(new TextDecoder().decode(payload));
  manifest.contract.symbol = "hs_other";
  const resigned = new TextEncoder().encode(JSON.stringify(manifest));
  const key = JSON.parse(await Deno.readTextFile(fixture.path("a.key")));
  const signature = await signPayload(envelope.payloadType, resigned, key);
  await Deno.writeFile(
    fixture.path("other.hsgen"),
    encodeArtifact({ ...envelope, payload: resigned.toBase64(), signatures: [signature] }, files),
  );
  strictEqual((await hotswap(dir, "verify", "a.hsgen", "--trust", "trust.json")).code, 0);
  const refused = await hotswap(dir, "verify", "other.hsgen", "--trust", "trust.json");
  strictEqual(refused.code, 1, refused.stdout);
  match(
    refused.stderr,
    /^Refused \(symbol\): other\.hsgen's manifest names "hs_other" as the symbol of contract Greeter@1\.0\.0, and its entry entry\.ts does not export it \(exports found: "hs_greeter"\)/,
  );
});

Deno.test("hotswap: verify names each refusal; trust revoke takes effect", async () => {
  await using fixture = await Fixture.create();
  const dir = fixture.dir;
  await fixture.write({ ...generation("hello"), "contract.ts": CONTRACT_MODULE });
  for (const name of ["a", "b"]) strictEqual((await hotswap(dir, "keygen", name)).code, 0);
  strictEqual((await hotswap(dir, "trust", "add", "a.pub.json", "--trust", "trust.json")).code, 0);
  strictEqual((await packHello(dir, "a.key", "a.hsgen")).code, 0);
  strictEqual((await packHello(dir, "b.key", "b.hsgen")).code, 0);

  const unknown = await hotswap(dir, "verify", "b.hsgen", "--trust", "trust.json");
  strictEqual(unknown.code, 1);
  match(unknown.stderr, /^Refused \(unknown key\): .*hotswap trust add/);

  const keyid = JSON.parse(await Deno.readTextFile(fixture.path("a.pub.json"))).keyid;
  const revoked = await hotswap(dir, "trust", "revoke", keyid, "--trust", "trust.json");
  strictEqual(revoked.code, 0, revoked.stderr);
  const afterRevoke = await hotswap(dir, "verify", "a.hsgen", "--trust", "trust.json");
  strictEqual(afterRevoke.code, 1);
  match(afterRevoke.stderr, /^Refused \(revoked\): /);
  strictEqual(JSON.parse(await Deno.readTextFile(fixture.path("trust.json"))).version, 2);

  // Trust b instead, and sign the new version for hosts that run version 2.
  strictEqual((await hotswap(dir, "trust", "add", "b.pub.json", "--trust", "trust.json")).code, 0);
  const signed = await hotswap(dir, "trust", "sign", "--trust", "trust.json", "--key", "b.key");
  strictEqual(signed.code, 0, signed.stderr);
  const list = JSON.parse(await Deno.readTextFile(fixture.path("trust.json")));
  strictEqual(list.version, 3);
  deepStrictEqual(list.signatures.map((s: { keyid: string }) => s.keyid), [list.keys[1].keyid]);
  strictEqual((await hotswap(dir, "verify", "b.hsgen", "--trust", "trust.json")).code, 0);

  // A key the list trusts for some contracts only: hosts would refuse the update it signs, so sign refuses now.
  strictEqual((await hotswap(dir, "keygen", "c")).code, 0);
  const scoped = await hotswap(
    dir,
    "trust",
    "add",
    "c.pub.json",
    "--trust",
    "trust.json",
    "--scope",
    "Greeter",
  );
  strictEqual(scoped.code, 0, scoped.stderr);
  const refused = await hotswap(dir, "trust", "sign", "--trust", "trust.json", "--key", "c.key");
  strictEqual(refused.code, 1);
  match(
    refused.stderr,
    /trusts it only for Greeter, and hosts accept a trust list update only when signed by a key trusted for every contract/,
  );

  // Re-added without a scope, c looks fit to this list; hosts judge it by the list they run, which scopes it.
  await Deno.copyFile(fixture.path("trust.json"), fixture.path("in-force.json"));
  strictEqual((await hotswap(dir, "trust", "add", "c.pub.json", "--trust", "trust.json")).code, 0);
  const before = await Deno.readTextFile(fixture.path("trust.json"));
  const signFor = (key: string) =>
    hotswap(dir, "trust", "sign", "--trust", "trust.json", "--key", key, "--in-force", "in-force.json");
  const rescoped = await signFor("c.key");
  strictEqual(rescoped.code, 1, rescoped.stdout);
  match(rescoped.stderr, /hosts running in-force\.json would refuse it: .*scope/);
  strictEqual(await Deno.readTextFile(fixture.path("trust.json")), before, "nothing written");
  // b, trusted for every contract by the list in force, signs it.
  const good = await signFor("b.key");
  strictEqual(good.code, 0, good.stderr);
  // A key the list itself revokes is refused without asking the hosts' list.
  strictEqual((await hotswap(dir, "trust", "revoke", keyid, "--trust", "trust.json")).code, 0);
  const byRevoked = await hotswap(dir, "trust", "sign", "--trust", "trust.json", "--key", "a.key");
  strictEqual(byRevoked.code, 1);
  match(byRevoked.stderr, /the list itself revokes it/);
});

Deno.test("hotswap: --help exits 0, usage errors exit 2, failures exit 1 naming the file and the fix", async () => {
  await using fixture = await Fixture.create();
  const dir = fixture.dir;
  for (
    const command of [[], ["keygen"], ["trust"], ["trust", "add"], ["trust", "sign"], ["pack"], ["verify"], [
      "inspect",
    ]]
  ) {
    const help = await hotswap(dir, ...command, "--help");
    strictEqual(help.code, 0, `${command.join(" ")} --help: ${help.stderr}`);
    match(help.stdout, /^Usage: hotswap/);
  }
  const usage: [string[], RegExp][] = [
    [[], /^Usage: hotswap/],
    [["frobnicate"], /unknown command "frobnicate"/],
    [["keygen"], /Missing <name>/],
    [["trust"], /Missing the action: add, revoke or sign/],
    [["keygen", "a", "--bogus"], /Unknown option '--bogus'/],
    [["trust", "add", "a.pub.json"], /Missing --trust/],
    [["trust", "revoke", "nothex", "--trust", "t.json"], /<keyid> must be 64 hex digits/],
    [
      ["pack", "x.ts", "--contract", "c.ts", "--key", "k.key", "--out", "o.hsgen"],
      /--contract must be <module>#<export>/,
    ],
    [
      ["pack", "x.ts", "--contract", "c.ts#c", "--key", "k.key", "--out", "o.zip"],
      /--out must name a \.hsgen file/,
    ],
    [["verify", "x.hsgen"], /Missing --trust/],
  ];
  for (const [args, message] of usage) {
    const result = await hotswap(dir, ...args);
    strictEqual(result.code, 2, `${args.join(" ")}: ${result.stderr}`);
    match(result.stderr, message);
  }

  strictEqual((await hotswap(dir, "keygen", "k")).code, 0);
  const again = await hotswap(dir, "keygen", "k");
  strictEqual(again.code, 1);
  match(again.stderr, /Cannot write ".*k\.key": it exists, and keygen never overwrites a key/);
  const noKey = await hotswap(
    dir,
    "pack",
    "x.ts",
    "--contract",
    "c.ts#c",
    "--key",
    "missing.key",
    "--out",
    "o.hsgen",
  );
  strictEqual(noKey.code, 1);
  match(
    noKey.stderr,
    /Cannot read key file "missing\.key": no such file; make one with `hotswap keygen <name>`/,
  );
  const noContract = await hotswap(
    dir,
    "pack",
    "x.ts",
    "--contract",
    "c.ts#c",
    "--key",
    "k.key",
    "--out",
    "o.hsgen",
  );
  strictEqual(noContract.code, 1);
  match(noContract.stderr, /Cannot import contract module ".*c\.ts"/);
  const pubAsKey = await hotswap(dir, "trust", "sign", "--trust", "t.json", "--key", "k.pub.json");
  strictEqual(pubAsKey.code, 1);
  match(pubAsKey.stderr, /it looks like a \.pub\.json, pass the \.key file beside it/);
  const notArtifact = await hotswap(dir, "inspect", "k.pub.json");
  strictEqual(notArtifact.code, 1);
  // A JSON document with no trace of an artifact: nothing was signed, rather than something altered.
  match(notArtifact.stderr, /Cannot inspect "k\.pub\.json": unsigned: it is no \.hsgen artifact/);
  // A module given where an artifact goes: nothing was signed, rather than something altered.
  await Deno.writeTextFile(fixture.path("module.ts"), "export const hs_x = {};\n");
  const aModule = await hotswap(dir, "inspect", "module.ts");
  strictEqual(aModule.code, 1);
  match(
    aModule.stderr,
    /unsigned: it is no \.hsgen artifact \(not even a JSON document\); pack it with `hotswap pack/,
  );
});

Deno.test("hotswap: the files beside a trust list, a directory for a key's name, a missing directory and a past expiry are each said as such", async () => {
  await using fixture = await Fixture.create();
  const dir = fixture.dir;
  strictEqual((await hotswap(dir, "keygen", "k")).code, 0);
  // keygen "keys/" would write the hidden files keys/.key and keys/.pub.json.
  for (const name of ["keys/", "keys/.key"]) {
    const dirName = await hotswap(dir, "keygen", name);
    strictEqual(dirName.code, 2, name);
    match(dirName.stderr, /<name> must name the key, as in keys\/release/);
  }
  for (const args of [["keygen", "nodir/k"], ["trust", "add", "k.pub.json", "--trust", "nodir/t.json"]]) {
    const missing = await hotswap(dir, ...args);
    strictEqual(missing.code, 1);
    match(
      missing.stderr,
      /its directory "nodir" does not exist; create it \(mkdir -p nodir\) or write elsewhere/,
    );
  }
  const past = await hotswap(
    dir,
    "trust",
    "add",
    "k.pub.json",
    "--trust",
    "t.json",
    "--not-after",
    "2001-01-01",
  );
  strictEqual(past.code, 0);
  match(past.stdout, /for every contract, until 2001-01-01T00:00:00\.000Z in t\.json/);
  match(past.stderr, /--not-after 2001-01-01T00:00:00\.000Z has passed: hosts refuse what this key signs/);
  await fixture.write({
    "one.ts": "export const hs_greeter = { greet: (n: string) => n };\n",
    "contract.ts": CONTRACT_MODULE,
  });
  const packed = await hotswap(
    dir,
    "pack",
    "one.ts",
    "--contract",
    "contract.ts#greeter",
    "--key",
    "k.key",
    "--out",
    "one.hsgen",
  );
  strictEqual(packed.code, 0, packed.stderr);
  match(packed.stdout, /^Packed 1 file into one\.hsgen/);
  // The key files given for the trust list: said as what they are, the secret never printed.
  const secret =
    (JSON.parse(await Deno.readTextFile(fixture.path("k.key"))) as { privateKey: string }).privateKey;
  for (
    const [file, said] of [["k.key", /it is a signing key \(the \.key file/], [
      "k.pub.json",
      /a \.pub\.json file\), not a trust list/,
    ]] as const
  ) {
    const verified = await hotswap(dir, "verify", "one.hsgen", "--trust", file);
    strictEqual(verified.code, 1);
    match(verified.stderr, said);
    ok(!verified.stdout.includes(secret) && !verified.stderr.includes(secret));
  }
});

/** A different base64 character, so the flipped text still decodes. */
function flip(char: string): string {
  return char === "A" ? "B" : "A";
}

Deno.test("hotswap prints an artifact's texts with their control characters escaped", async () => {
  await using fixture = await Fixture.create();
  await fixture.write({ ...generation("hi"), "contract.ts": CONTRACT_MODULE });
  strictEqual((await hotswap(fixture.dir, "keygen", "k")).code, 0);
  const label = "v1\x1b]0;PWNED\x07\x1b[2J";
  const packed = await hotswap(
    fixture.dir,
    "pack",
    "gen/hi/entry.ts",
    "--contract",
    "contract.ts#greeter",
    "--key",
    "k.key",
    "--label",
    label,
    "--out",
    "hi.hsgen",
  );
  strictEqual(packed.code, 0, packed.stderr);
  const shown = await hotswap(fixture.dir, "inspect", "hi.hsgen");
  strictEqual(shown.code, 0, shown.stderr);
  ok(
    // deno-lint-ignore no-control-regex -- finding control characters is the point
    !/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/.test(shown.stdout + packed.stdout),
    JSON.stringify(shown.stdout),
  );
  ok(shown.stdout.includes("v1\\x1b]0;PWNED\\x07\\x1b[2J"), shown.stdout);
});
