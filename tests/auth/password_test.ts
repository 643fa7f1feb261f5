/** Password hashing: PBKDF2-SHA-256 with a random salt, checked in constant time. */

import assert from "node:assert/strict";
import {
  constantTimeEqual,
  DEFAULT_PBKDF2_ITERATIONS,
  hashPassword,
  verifyPassword,
} from "../../src/auth/mod.ts";

Deno.test("a hash verifies its password and no other", async () => {
  const h = await hashPassword("correct horse", { iterations: 1000 });
  assert.equal(h.alg, "pbkdf2-sha256");
  assert.equal(h.iterations, 1000);
  assert.equal(h.salt.byteLength, 16);
  assert.equal(h.hash.byteLength, 32);
  assert.equal(await verifyPassword("correct horse", h), true);
  assert.equal(await verifyPassword("correct hors", h), false);
  assert.equal(await verifyPassword("", h), false);
});

Deno.test("the same password hashes differently each time (fresh salt)", async () => {
  const a = await hashPassword("same password", { iterations: 1000 });
  const b = await hashPassword("same password", { iterations: 1000 });
  assert.notDeepEqual(a.salt, b.salt);
  assert.notDeepEqual(a.hash, b.hash);
});

Deno.test("the stored iteration count is the one verified with", async () => {
  const h = await hashPassword("pw-12345", { iterations: 2000 });
  assert.equal(await verifyPassword("pw-12345", h), true);
  assert.equal(
    await verifyPassword("pw-12345", { ...h, iterations: 1000 }),
    false,
  );
  assert.equal(DEFAULT_PBKDF2_ITERATIONS, 600_000);
});

Deno.test("constantTimeEqual compares bytes and lengths", () => {
  assert.equal(
    constantTimeEqual(Uint8Array.of(1, 2), Uint8Array.of(1, 2)),
    true,
  );
  assert.equal(
    constantTimeEqual(Uint8Array.of(1, 2), Uint8Array.of(1, 3)),
    false,
  );
  assert.equal(constantTimeEqual(Uint8Array.of(1), Uint8Array.of(1, 0)), false);
});
