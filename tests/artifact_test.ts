/**
 * Signed generation artifacts (SPEC 12, issue #11), inline and in a worker:
 * a valid artifact loads with the digest its files have on disk; every
 * other one is refused with `E_SIGNATURE` naming its reason, and the
 * generation serving before stays, with the same number, digest and handle.
 *
 * @module
 */

import { deepStrictEqual, fail, ok, strictEqual } from "node:assert/strict";
import { join } from "node:path";
import {
  defineContract,
  generateSigningKey,
  type Hotswap,
  HotswapError,
  type Isolation,
  packArtifact,
  registerHotswap,
  SignatureError,
  type SignatureReason,
  signTrustList,
  type TrustList,
} from "../mod.ts";
import { type Echo, echo, Fixture } from "./_fixtures.ts";
import {
  entryOf,
  keyAndList,
  listOf,
  offsetOf,
  packEcho,
  rewriteArtifact,
  writeEchoGeneration,
} from "./_signing.ts";

/** What `with()` hands over in either mode: the label is data, copied at load in a worker. */
type EchoHot = Hotswap<Pick<Echo, "label">>;

/** Each isolation mode, and inline with the reader `warm()` starts opening the artifacts (core/_off_thread_reader.ts). */
const MODES = ["inline", "worker", "inline, read on the reader"] as const;
type Mode = typeof MODES[number];

async function register(path: string, mode: Mode, trust?: TrustList | string): Promise<EchoHot> {
  const isolation: Isolation = mode === "worker" ? "worker" : "inline";
  const hot = await registerHotswap(echo, path, { isolation, ...(trust === undefined ? {} : { trust }) });
  if (mode === "inline, read on the reader") await hot.warm();
  return hot;
}

/** Swaps to `path`, expects `E_SIGNATURE` with `reason`, and checks the serving generation did not move. */
async function expectRefused(hot: EchoHot, path: string, reason: SignatureReason): Promise<SignatureError> {
  const before = { generation: hot.generation, digest: hot.digest, label: hot.with((h) => h.label) };
  const error = await hot.swap(path).then(
    () => fail(`"${path}" loaded; expected a refusal (${reason})`),
    (error: unknown) => error,
  );
  ok(error instanceof SignatureError, `expected a SignatureError, got ${error}`);
  strictEqual(error.code, "E_SIGNATURE");
  strictEqual(error.reason, reason, error.message);
  ok(error.message.includes(`: ${reason}: `), `the message names the reason: ${error.message}`);
  strictEqual(error.activeGeneration, before.generation);
  deepStrictEqual(
    { generation: hot.generation, digest: hot.digest, label: hot.with((h) => h.label) },
    before,
    "the serving generation stays",
  );
  return error;
}

for (const mode of MODES) {
  Deno.test(`${mode}: a signed artifact loads with the digest of the same files read from disk`, async () => {
    await using fixture = await Fixture.create();
    const { key, trust } = await keyAndList();
    const artifact = await packEcho(fixture, "v1", key, { sequence: 7 });
    await using signed = await register(artifact, mode, trust);
    await using fromDisk = await register(fixture.path("src-v1/entry.ts"), mode);
    strictEqual(signed.digest, fromDisk.digest);
    strictEqual(signed.with((h) => h.label), "v1");
    const { provenance, path, files } = signed.info();
    strictEqual(provenance?.keyid, key.keyid);
    strictEqual(provenance?.artifact, artifact);
    strictEqual(provenance?.manifest.digest, signed.digest);
    strictEqual(provenance?.manifest.sequence, 7);
    deepStrictEqual(provenance?.manifest.contract, { name: "Echo", version: "1.0.0", symbol: "hs_echo" });
    strictEqual(path, join(artifact, "entry.ts"), "files are named inside the artifact");
    deepStrictEqual(files, [join(artifact, "lib.ts"), join(artifact, "entry.ts")]);
    strictEqual(signed.history[0]?.provenance?.keyid, key.keyid);
  });

  Deno.test(`${mode}: flipping any one byte of an artifact is refused, and the old generation serves on`, async () => {
    await using fixture = await Fixture.create();
    const { key, trust } = await keyAndList();
    await using hot = await register(await packEcho(fixture, "v1", key), mode, trust);
    const good = await packEcho(fixture, "v2", key);
    const bytes = await Deno.readFile(good);
    const bad = fixture.path("bad.hsgen");
    const reasons = new Map<string, number>();
    // Every position, the files' bytes, the manifest and the signature included.
    for (let i = 0; i < bytes.length; i++) {
      const flipped = bytes.slice();
      flipped[i]! ^= 0x01;
      await Deno.writeFile(bad, flipped);
      const error = await hot.swap(bad).then(
        () => fail(`a flip at byte ${i} loaded`),
        (error: unknown) => error,
      );
      ok(error instanceof SignatureError, `byte ${i}: ${error}`);
      reasons.set(error.reason, (reasons.get(error.reason) ?? 0) + 1);
    }
    strictEqual(hot.generation, 1);
    strictEqual(hot.with((h) => h.label), "v1");
    deepStrictEqual([...reasons.keys()].sort(), ["tampered", "unknown key"], "a flipped key id names no key");
    strictEqual(hot.stats().rejects, bytes.length);
    // And in each region, the reason a person would expect.
    const text = await Deno.readTextFile(good);
    const regions = {
      file: (await offsetOf(good, '"bytes":"')) + 12,
      manifest: (await offsetOf(good, '"payload": "')) + 20,
      signature: (await offsetOf(good, '"sig": "')) + 10,
    };
    for (const [region, offset] of Object.entries(regions)) {
      const flipped = new TextEncoder().encode(text);
      flipped[offset]! ^= 0x01;
      await Deno.writeFile(bad, flipped);
      const error = await expectRefused(hot, bad, "tampered");
      ok(error.path === bad, `${region}: the error names the artifact`);
    }
    await hot.swap(good);
    strictEqual(hot.with((h) => h.label), "v2", "the untouched artifact still loads");
  });

  Deno.test(`${mode}: each reason is named: unknown key, revoked, expired, scope, unsigned`, async () => {
    await using fixture = await Fixture.create();
    const past = new Date(Date.now() - 3_600_000).toISOString();
    const [trusted, stranger, revoked, expired, scoped] = await Promise.all(
      [0, 1, 2, 3, 4].map(() => generateSigningKey()),
    );
    const trust = listOf([
      entryOf(trusted!),
      entryOf(revoked!),
      entryOf(expired!, { notAfter: past }),
      entryOf(scoped!, { scopes: ["Billing"] }),
    ], { revoked: [revoked!.keyid] });
    await using hot = await register(await packEcho(fixture, "v1", trusted!), mode, trust);

    await expectRefused(hot, await packEcho(fixture, "stranger", stranger!), "unknown key");
    await expectRefused(hot, await packEcho(fixture, "revoked", revoked!), "revoked");
    await expectRefused(hot, await packEcho(fixture, "expired", expired!), "expired");
    const scope = await expectRefused(hot, await packEcho(fixture, "scoped", scoped!), "scope");
    ok(scope.message.includes('"Billing"'), scope.message);
    // A trusted key, an artifact packed for another contract.
    const billing = defineContract<Echo>({
      ...echo,
      name: "Billing",
      shape: { label: "string", run: "function" },
    });
    await expectRefused(hot, await packEcho(fixture, "billing", trusted!, { contract: billing }), "scope");
    // An artifact past its own expiry.
    const hourAgo = new Date(Date.now() - 3_600_000);
    const stale = await packEcho(fixture, "stale", trusted!, {
      now: new Date(hourAgo.getTime() - 60_000),
      expiresAt: hourAgo,
    });
    await expectRefused(hot, stale, "expired");
    // A plain module, and an artifact stripped of its signature.
    await expectRefused(hot, fixture.path("src-v1/entry.ts"), "unsigned");
    const good = await packEcho(fixture, "v2", trusted!);
    const stripped = await rewriteArtifact(good, fixture.path("stripped.hsgen"), (document) => {
      document.envelope.signatures = [];
    });
    await expectRefused(hot, stripped, "unsigned");
    strictEqual((await hot.swap(good)).generation, 2, "a valid artifact still loads after every refusal");
  });

  Deno.test(`${mode}: an expired trust list refuses artifacts, at registration and at a swap`, async () => {
    await using fixture = await Fixture.create();
    const key = await generateSigningKey();
    const v1 = await packEcho(fixture, "v1", key);
    const expired = listOf([entryOf(key)], { expiresAt: new Date(Date.now() - 1000).toISOString() });
    const error = await register(v1, mode, expired).then(
      (hot) => hot.close().then(() => fail("loaded under an expired list")),
      (error: unknown) => error,
    );
    ok(error instanceof SignatureError && error.reason === "expired", String(error));
    ok(error.message.includes("expired at"), error.message);
    // A host whose list file is replaced, properly signed, by a list already expired.
    const trustFile = fixture.path("trust.json");
    await Deno.writeTextFile(trustFile, JSON.stringify(listOf([entryOf(key)])));
    await using hot = await register(v1, mode, trustFile);
    const next = await signTrustList({ ...expired, version: 2 }, key);
    await Deno.writeTextFile(trustFile, JSON.stringify(next));
    await expectRefused(hot, await packEcho(fixture, "v2", key), "expired");
  });

  Deno.test(`${mode}: an older sequence is refused by swap; rollback needs no signature`, async () => {
    await using fixture = await Fixture.create();
    const { key, trust } = await keyAndList();
    const v1 = await packEcho(fixture, "v1", key, { sequence: 1 });
    const v2 = await packEcho(fixture, "v2", key, { sequence: 2 });
    const old = await packEcho(fixture, "old", key, { sequence: 1 });
    await using hot = await register(v1, mode, trust);
    const digest1 = hot.digest;
    await hot.swap(v2);
    const replay = await expectRefused(hot, old, "replayed sequence");
    ok(replay.message.includes("rollback()"), replay.message);
    await expectRefused(hot, v1, "replayed sequence");
    // Rollback commits the kept snapshot: the artifact file is not read again, not even present.
    await Deno.remove(v1);
    const rolled = await hot.rollback();
    strictEqual(rolled.generation, 3);
    strictEqual(rolled.digest, digest1);
    strictEqual(hot.with((h) => h.label), "v1");
    strictEqual(hot.info().via, "rollback");
    strictEqual(hot.info().provenance?.manifest.label, "v1");
    // The highest accepted stays 2: an equal sequence loads, a lower one does not.
    await expectRefused(hot, old, "replayed sequence");
    strictEqual((await hot.swap(v2)).generation, 4);
    // An explicit rollback to an older artifact (a fleet host back on stable) loads it, signature checked.
    const back = await hot.swap(old, { rollback: true });
    strictEqual(back.generation, 5);
    strictEqual(hot.with((h) => h.label), "old");
    strictEqual(hot.info().provenance?.manifest.sequence, 1);
  });

  Deno.test(`${mode}: without trust, an artifact loads unverified, its digest still checked`, async () => {
    await using fixture = await Fixture.create();
    const key = await generateSigningKey();
    const good = await packEcho(fixture, "v1", key);
    const unsigned = await rewriteArtifact(good, fixture.path("unsigned.hsgen"), (document) => {
      document.envelope.signatures = [];
    });
    await using hot = await register(unsigned, mode);
    strictEqual(hot.with((h) => h.label), "v1");
    strictEqual(hot.info().provenance?.keyid, undefined, "nobody's signature was checked");
    const edited = await rewriteArtifact(good, fixture.path("edited.hsgen"), (document) => {
      const lib = document.files[0]!;
      lib.bytes = new TextEncoder().encode('export const label: string = "v9";\n').toBase64();
    });
    const error = await expectRefused(hot, edited, "tampered");
    ok(error.message.includes("hash"), error.message);
    // A module path loads as before.
    strictEqual((await hot.swap(fixture.path("src-v1/entry.ts"))).generation, 2);
  });
}

Deno.test("the default sequence is the pack time in milliseconds: an artifact packed a moment earlier, in the same second, is a replay", async () => {
  await using fixture = await Fixture.create();
  const { key, trust } = await keyAndList();
  const at = new Date("2026-12-03T10:00:00.100Z");
  const packedAt = async (label: string, now: Date) => {
    const entry = await writeEchoGeneration(fixture, `src-${label}`, label);
    const { bytes } = await packArtifact(entry, { contract: echo, key, label, now });
    await Deno.writeFile(fixture.path(`${label}.hsgen`), bytes);
    return fixture.path(`${label}.hsgen`);
  };
  const earlier = await packedAt("earlier", at);
  const later = await packedAt("later", new Date(at.getTime() + 400));
  await using hot = await register(later, "inline", trust);
  strictEqual(hot.info().provenance?.manifest.sequence, at.getTime() + 400);
  await expectRefused(hot, earlier, "replayed sequence");
});

Deno.test("packArtifact() refuses a graph that imports a file through a symlink, as the packer's problem, not tampering", async () => {
  await using fixture = await Fixture.create();
  const { key } = await keyAndList();
  await fixture.write({
    "real.ts": 'export const hs_echo = { label: "real", run: (x: unknown) => x };',
    "entry.ts": 'export { hs_echo } from "./link.ts";',
  });
  await Deno.symlink(fixture.path("real.ts"), fixture.path("link.ts"));
  const error = await packArtifact(fixture.path("entry.ts"), { key, contract: echo, sequence: 1 }).then(
    () => undefined,
    (error: unknown) => error,
  );
  ok(error instanceof HotswapError && error.code === "E_IMPORT", String(error));
  ok(
    error.message.includes(`Cannot pack "${fixture.path("entry.ts")}"`) &&
      error.message.includes('Cannot load "./link.ts"') &&
      error.message.endsWith("import each file by its own path, or replace the link with the file"),
    error.message,
  );
});

Deno.test("packArtifact() refuses an entry that does not export the contract's symbol, reading through re-exports", async () => {
  await using fixture = await Fixture.create();
  const { key } = await keyAndList();
  await fixture.write({
    "lib.ts": 'export const hs_echo = { label: "lib", run: (x: unknown) => x };\nexport default 1;',
    "star.ts": 'export * from "./lib.ts";',
    "named.ts": 'export { hs_echo as other, default } from "./lib.ts";',
    "twin.ts": 'export const hs_echo = { label: "twin", run: (x: unknown) => x };',
    // Two stars bringing the same name from different bindings: ESM exports neither.
    "ambiguous.ts": 'export * from "./lib.ts";\nexport * from "./twin.ts";',
    // Two stars bringing the same binding (a diamond): exported.
    "diamond.ts": 'export * from "./lib.ts";\nexport * from "./star.ts";',
    // The same, one path importing the binding and exporting it by name (an indirect export).
    "relay.ts": 'import { hs_echo } from "./lib.ts";\nexport { hs_echo };',
    "relayed.ts": 'export * from "./lib.ts";\nexport * from "./relay.ts";',
    // A JSON module's only export is its default: an entry re-exporting it still lacks hs_echo.
    "data.json": '{ "hs_echo": 1 }',
    "json.ts": 'import data from "./data.json" with { type: "json" };\nexport { data };',
    // The diamond again, one path through a module pack cannot read (a decorator): not judged ambiguous.
    "unread.ts":
      'export { hs_echo } from "./lib.ts";\nfunction dec(value: unknown) {\n  return value;\n}\n@dec class Z {}\nexport const z = Z;',
    "through.ts": 'export { hs_echo } from "./unread.ts";',
    "around.ts": 'export * from "./through.ts";\nexport * from "./lib.ts";',
    // A name from outside the snapshot is another binding than the snapshot's own: two stars make it ambiguous.
    "ext.ts": 'export { inspect as hs_echo } from "node:util";',
    "external_twin.ts": 'export * from "./ext.ts";\nexport * from "./lib.ts";',
    // From outside the snapshot, by name: Deno refuses the module if the name is missing.
    "outside.ts":
      'import { hs_echo } from "./lib.ts";\nimport { sep } from "node:path";\nexport { hs_echo, sep };',
  });
  for (const entry of ["lib.ts", "star.ts", "diamond.ts", "relayed.ts", "outside.ts", "around.ts"]) {
    ok((await packArtifact(fixture.path(entry), { contract: echo, key })).bytes.byteLength > 0, entry);
  }
  try {
    await packArtifact(fixture.path("named.ts"), { contract: echo, key });
    fail("packed an entry without hs_echo");
  } catch (error) {
    ok(error instanceof HotswapError && error.code === "E_SYMBOL", String(error));
    ok(
      error.message.includes('does not export "hs_echo" (exports found: "other", "default")'),
      error.message,
    );
  }
  try {
    await packArtifact(fixture.path("external_twin.ts"), { contract: echo, key });
    fail("packed an entry whose hs_echo two stars bring from node:util and from lib.ts");
  } catch (error) {
    ok(error instanceof HotswapError && error.code === "E_SYMBOL", String(error));
  }
  try {
    await packArtifact(fixture.path("json.ts"), { contract: echo, key });
    fail("packed an entry that re-exports only a JSON module's default");
  } catch (error) {
    ok(error instanceof HotswapError && error.code === "E_SYMBOL", String(error));
  }
  try {
    await packArtifact(fixture.path("ambiguous.ts"), { contract: echo, key });
    fail("packed an entry whose hs_echo is ambiguous");
  } catch (error) {
    ok(error instanceof HotswapError && error.code === "E_SYMBOL", String(error));
  }
});

Deno.test("a trust list file is read again at each swap; an unsigned change refuses swaps until signed", async () => {
  await using fixture = await Fixture.create();
  const { key, trust } = await keyAndList();
  const other = await generateSigningKey();
  const trustFile = fixture.path("trust.json");
  await Deno.writeTextFile(trustFile, JSON.stringify(trust));
  await using hot = await register(await packEcho(fixture, "v1", key), "inline", trustFile);
  // Someone who can write the file adds their key, without a signature the list in force trusts.
  await Deno.writeTextFile(trustFile, JSON.stringify(listOf([entryOf(key), entryOf(other)], { version: 2 })));
  const error = await expectRefused(hot, await packEcho(fixture, "v2", key), "unsigned");
  ok(error.message.includes("version 1 stays in force"), error.message);
  await expectRefused(hot, await packEcho(fixture, "intruder", other), "unsigned");
});
