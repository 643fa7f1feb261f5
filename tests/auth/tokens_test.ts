/** Tokens: HS256 JWTs with the key id in the header, verified against the replicated keys. */

import assert from "node:assert/strict";
import { Jwt } from "hono/utils/jwt";
import { Authenticator, signToken, TokenVerifier } from "../../src/auth/mod.ts";
import type { SigningKey } from "../../src/state/mod.ts";

const K1: SigningKey = { kid: "k1", key: new Uint8Array(32).fill(1) };
const K2: SigningKey = { kid: "k2", key: new Uint8Array(32).fill(2) };
const keys = (...ks: SigningKey[]) => (kid: string) =>
  ks.find((k) => k.kid === kid);

async function refused(p: Promise<unknown>, message: RegExp): Promise<void> {
  await assert.rejects(p, (e: Error & { code?: string }) => {
    assert.equal(e.code, "unauthenticated");
    assert.match(e.message, message);
    return true;
  });
}

Deno.test("a signed token verifies and carries its claims and key id", async () => {
  const t = await signToken({ sub: "alice", epoch: 4, iat: 100, exp: 700 }, K1);
  const { header, payload } = Jwt.decode(t);
  assert.deepEqual(header, { alg: "HS256", typ: "JWT", kid: "k1" });
  assert.deepEqual(payload, { sub: "alice", epoch: 4, iat: 100, exp: 700 });
  const claims = await new TokenVerifier().verify(t, keys(K1, K2));
  assert.deepEqual(claims, {
    sub: "alice",
    epoch: 4,
    iat: 100,
    exp: 700,
    kid: "k1",
  });
});

Deno.test("a token is refused with an unknown key, a bad signature or bad claims", async () => {
  const v = new TokenVerifier();
  const t = await signToken({ sub: "alice", epoch: 1, iat: 0, exp: 60 }, K1);
  await refused(v.verify(t, keys(K2)), /no longer accepts/);
  // The same kid with another key: the signature does not match.
  await refused(
    v.verify(t, keys({ kid: "k1", key: K2.key })),
    /signature is invalid/,
  );
  // A payload changed after signing.
  const [h, , s] = t.split(".");
  const forged = btoa(
    JSON.stringify({ sub: "root", epoch: 1, iat: 0, exp: 60 }),
  )
    .replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_");
  await refused(v.verify(`${h}.${forged}.${s}`, keys(K1)), /signature/);
  await refused(v.verify("not a token", keys(K1)), /malformed/);
  await refused(v.verify("a.b.c", keys(K1)), /malformed/);
  // Signed, but not our claims.
  const odd = await Jwt.sign({ sub: "alice" }, {
    kty: "oct",
    k: btoa(String.fromCharCode(...K1.key)).replace(/=+$/, ""),
    alg: "HS256",
    kid: "k1",
  });
  await refused(v.verify(odd, keys(K1)), /claims are malformed/);
  // No key id at all.
  const noKid = await Jwt.sign(
    { sub: "alice", epoch: 1, iat: 0, exp: 60 },
    "secret",
  );
  await refused(v.verify(noKid, keys(K1)), /no key id/);
});

Deno.test("new signing keys are random, 32 bytes, with a 16-hex-digit id", () => {
  const a = Authenticator.newSigningKey();
  const b = Authenticator.newSigningKey();
  assert.match(a.kid, /^[0-9a-f]{16}$/);
  assert.equal(a.key.byteLength, 32);
  assert.notEqual(a.kid, b.kid);
  assert.notDeepEqual(a.key, b.key);
});

Deno.test("a verified token is remembered only while its key is the cluster's", async () => {
  const v = new TokenVerifier();
  const t = await signToken({ sub: "alice", epoch: 1, iat: 0, exp: 60 }, K1);
  assert.equal((await v.verify(t, keys(K1))).sub, "alice");
  assert.equal((await v.verify(t, keys(K1))).sub, "alice");
  // The key was retired, or replaced under the same id: verified again.
  await refused(v.verify(t, keys(K2)), /no longer accepts/);
  await refused(
    v.verify(t, keys({ kid: "k1", key: K2.key })),
    /signature is invalid/,
  );
});
