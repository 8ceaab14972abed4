/**
 * Trust lists (SPEC 12, issue #11): a new list replaces the one in force only
 * when it is newer and signed by a key the list in force trusts for every
 * contract; after a rotation that revokes a key, what that key signed is
 * refused, through `verifyArtifact` and through a running host alike.
 *
 * @module
 */

import { deepStrictEqual, ok, rejects, strictEqual } from "node:assert/strict";
import {
  acceptTrustUpdate,
  generateSigningKey,
  readTrustList,
  registerHotswap,
  SignatureError,
  type SignatureReason,
  signTrustList,
  type TrustList,
  verifyArtifact,
} from "../mod.ts";
import { echo, Fixture } from "./_fixtures.ts";
import { entryOf, listOf, packEcho } from "./_signing.ts";

function refusedWith(reason: SignatureReason): (error: unknown) => boolean {
  return (error) => {
    ok(error instanceof SignatureError, String(error));
    strictEqual(error.code, "E_SIGNATURE");
    strictEqual(error.reason, reason, error.message);
    return true;
  };
}

Deno.test("acceptTrustUpdate() takes a newer list signed by a key the list in force trusts", async () => {
  const admin = await generateSigningKey();
  const added = await generateSigningKey();
  const current = listOf([entryOf(admin)]);
  const update = await signTrustList(listOf([entryOf(admin), entryOf(added)], { version: 2 }), admin);
  const accepted = await acceptTrustUpdate(current, update);
  strictEqual(accepted.version, 2);
  deepStrictEqual(accepted.keys.map((key) => key.keyid), [admin.keyid, added.keyid]);
  ok(Object.isFrozen(accepted), "the list in force cannot be changed under the host");
});

Deno.test("acceptTrustUpdate() refuses a list signed by a key the list in force does not trust", async () => {
  const admin = await generateSigningKey();
  const intruder = await generateSigningKey();
  const current = listOf([entryOf(admin)]);
  const forged = await signTrustList(listOf([entryOf(intruder)], { version: 2 }), intruder);
  await rejects(acceptTrustUpdate(current, forged), refusedWith("unknown key"));
  // Naming a trusted key in the forged list does not help: only the list in force vouches for signers.
  const dressed = await signTrustList(listOf([entryOf(admin), entryOf(intruder)], { version: 2 }), intruder);
  await rejects(acceptTrustUpdate(current, dressed), refusedWith("unknown key"));
});

Deno.test("acceptTrustUpdate() names every other refusal", async () => {
  const admin = await generateSigningKey();
  const scoped = await generateSigningKey();
  const retired = await generateSigningKey();
  const lapsed = await generateSigningKey();
  const past = new Date(Date.now() - 60_000).toISOString();
  const current = listOf([
    entryOf(admin),
    entryOf(scoped, { scopes: ["Echo"] }),
    entryOf(retired),
    entryOf(lapsed, { notAfter: past }),
  ], { version: 5, revoked: [retired.keyid] });
  const next = listOf([entryOf(admin)], { version: 6 });
  await rejects(acceptTrustUpdate(current, next), refusedWith("unsigned"));
  await rejects(acceptTrustUpdate(current, await signTrustList(next, scoped)), refusedWith("scope"));
  await rejects(acceptTrustUpdate(current, await signTrustList(next, retired)), refusedWith("revoked"));
  await rejects(acceptTrustUpdate(current, await signTrustList(next, lapsed)), refusedWith("expired"));
  const signed = await signTrustList(next, admin);
  await rejects(acceptTrustUpdate(current, { ...signed, revoked: [scoped.keyid] }), refusedWith("tampered"));
  const older = await signTrustList({ ...next, version: 4 }, admin);
  await rejects(acceptTrustUpdate(current, older), refusedWith("replayed sequence"));
  const stale = await signTrustList({ ...next, expiresAt: past }, admin);
  await rejects(acceptTrustUpdate(current, stale), refusedWith("expired"));
  strictEqual((await acceptTrustUpdate(current, signed)).version, 6);
  // The same content, indented or signed differently, is no change.
  deepStrictEqual(
    (await acceptTrustUpdate(signed, next)).signatures,
    signed.signatures,
    "the list in force stays",
  );
});

Deno.test("acceptTrustUpdate() lets an expired list be replaced: rotation is the way out", async () => {
  const admin = await generateSigningKey();
  const current = listOf([entryOf(admin)], { expiresAt: new Date(Date.now() - 1000).toISOString() });
  const renewed = await signTrustList(
    listOf([entryOf(admin)], { version: 2, expiresAt: new Date(Date.now() + 86_400_000).toISOString() }),
    admin,
  );
  strictEqual((await acceptTrustUpdate(current, renewed)).version, 2);
});

Deno.test("after a rotation that revokes a key, the artifacts it signed are refused", async () => {
  await using fixture = await Fixture.create();
  const old = await generateSigningKey();
  const fresh = await generateSigningKey();
  const before = listOf([entryOf(old)]);
  const oldArtifact = await packEcho(fixture, "old", old);
  const freshArtifact = await packEcho(fixture, "fresh", fresh);
  strictEqual((await verifyArtifact(oldArtifact, { trust: before })).keyid, old.keyid);
  await rejects(verifyArtifact(freshArtifact, { trust: before }), refusedWith("unknown key"));

  // The old key signs its own retirement: the list it trusts hands over to the new key.
  const rotated = await signTrustList(
    listOf([entryOf(old), entryOf(fresh)], { version: 2, revoked: [old.keyid] }),
    old,
  );
  const after = await acceptTrustUpdate(before, rotated);
  await rejects(verifyArtifact(oldArtifact, { trust: after }), refusedWith("revoked"));
  strictEqual((await verifyArtifact(freshArtifact, { trust: after })).keyid, fresh.keyid);
  // The revoked key can no longer change the list.
  const comeback = await signTrustList(listOf([entryOf(old)], { version: 3 }), old);
  await rejects(acceptTrustUpdate(after, comeback), refusedWith("revoked"));
});

Deno.test("a host following a trust list file rotates only through signed updates", async () => {
  await using fixture = await Fixture.create();
  const old = await generateSigningKey();
  const fresh = await generateSigningKey();
  const trustFile = fixture.path("trust.json");
  const write = (list: TrustList) => Deno.writeTextFile(trustFile, JSON.stringify(list, null, 2));
  await write(listOf([entryOf(old)]));
  await using hot = await registerHotswap(echo, await packEcho(fixture, "v1", old), { trust: trustFile });
  const freshArtifact = await packEcho(fixture, "v2", fresh, { sequence: 2 });
  const oldArtifact = await packEcho(fixture, "v3", old, { sequence: 3 });

  await rejects(hot.swap(freshArtifact), refusedWith("unknown key"));
  await write(await signTrustList(listOf([entryOf(fresh)], { version: 2, revoked: [old.keyid] }), old));
  strictEqual((await hot.swap(freshArtifact)).generation, 2, "the rotated list is in force");
  await rejects(hot.swap(oldArtifact), refusedWith("revoked"));
  // Putting the first list back is a replay of an older version, not a rotation.
  await write(listOf([entryOf(old)]));
  await rejects(hot.swap(oldArtifact), refusedWith("replayed sequence"));
  strictEqual(hot.generation, 2);
  strictEqual(hot.info().provenance?.keyid, fresh.keyid);
});

Deno.test("readTrustList() refuses a file nested too deeply, naming it and saying so", async () => {
  await using fixture = await Fixture.create();
  const path = fixture.path("trust.json");
  await Deno.writeTextFile(
    path,
    `{"version":1,"keys":[],"revoked":[],"x":${"[".repeat(20_000)}${"]".repeat(20_000)}}`,
  );
  await rejects(readTrustList(path), (error) => {
    refusedWith("tampered")(error);
    ok((error as Error).message.includes(path), (error as Error).message);
    ok((error as Error).message.includes("nested too deeply"), (error as Error).message);
    return true;
  });
});

Deno.test("readTrustList() refuses a key whose id is not the hash of its public key", async () => {
  await using fixture = await Fixture.create();
  const [a, b] = [await generateSigningKey(), await generateSigningKey()];
  const path = fixture.path("trust.json");
  await Deno.writeTextFile(path, JSON.stringify(listOf([{ keyid: a.keyid, publicKey: b.publicKey }])));
  await rejects(readTrustList(path), (error) => {
    refusedWith("tampered")(error);
    ok((error as Error).message.includes("keys[0].keyid"), (error as Error).message);
    return true;
  });
  await rejects(readTrustList(fixture.path("missing.json")), (error) => {
    ok(error instanceof Error && "code" in error && error.code === "E_NOT_FOUND", String(error));
    return true;
  });
});
