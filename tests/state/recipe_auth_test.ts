/**
 * Elections, semaphores and read-write locks share the permissions of
 * keys and locks: write on the name to take part (campaign, proclaim,
 * resign, acquire, release), checked again when the command applies; a
 * lease revoke needs write on every name the lease holds.
 */

import assert from "node:assert/strict";
import {
  type Command,
  commandAccess,
  type PasswordHash,
} from "../../src/state/mod.ts";
import { Harness } from "./helpers.ts";

const HASH: PasswordHash = {
  alg: "pbkdf2-sha256",
  iterations: 1000,
  salt: new Uint8Array(16).fill(1),
  hash: new Uint8Array(32).fill(7),
};

function setup(): Harness {
  const h = new Harness();
  h.ok({
    type: "authRolePut",
    name: "rw",
    permissions: [{ prefix: "app/", read: true, write: true }],
  });
  h.ok({ type: "authUserPut", name: "root", hash: HASH, roles: ["root"] });
  h.ok({ type: "authUserPut", name: "alice", hash: HASH, roles: ["rw"] });
  h.ok({
    type: "authSigningKey",
    kid: "k1",
    key: new Uint8Array(32).fill(5),
  });
  h.ok({ type: "authEnable" });
  return h;
}

const alice = { auth: { user: "alice" } };

Deno.test("recipe commands need write on their name", () => {
  const cmds: Command[] = [
    { type: "electionCampaign", name: "n", value: "", ttl: 5, tryOnly: true },
    { type: "electionProclaim", name: "n", token: 1, value: "" },
    { type: "electionResign", name: "n", token: 1 },
    { type: "electionCancel", name: "n", waiterId: "w" },
    { type: "semaphoreAcquire", name: "n", limit: 2, ttl: 5, tryOnly: true },
    { type: "semaphoreRelease", name: "n", token: 1 },
    { type: "semaphoreCancel", name: "n", waiterId: "w" },
    { type: "rwlockAcquire", name: "n", mode: "read", ttl: 5, tryOnly: true },
    { type: "rwlockRelease", name: "n", token: 1 },
    { type: "rwlockCancel", name: "n", waiterId: "w" },
    { type: "put", key: "n", value: "", ttl: 5 },
  ];
  for (const cmd of cmds) {
    assert.deepEqual(commandAccess(cmd), [{ action: "write", key: "n" }]);
  }
});

Deno.test("apply-time check of recipe commands and of revoking their leases", () => {
  const h = setup();
  h.fails(
    {
      type: "electionCampaign",
      name: "x/E",
      value: "a",
      ttl: 5,
      tryOnly: true,
      ...alice,
    },
    "permission_denied",
  );
  const e = h.ok({
    type: "electionCampaign",
    name: "app/E",
    value: "a",
    ttl: 5,
    tryOnly: true,
    ...alice,
  });
  assert.ok("token" in e);
  h.ok({
    type: "semaphoreAcquire",
    name: "app/S",
    limit: 2,
    ttl: 5,
    tryOnly: true,
    ...alice,
  });
  h.ok({ type: "put", key: "app/t", value: "v", ttl: 5, ...alice });
  h.fails(
    { type: "put", key: "t", value: "v", ttl: 5, ...alice },
    "permission_denied",
  );
  // Root holds a read-write lock outside alice's prefix with a lease;
  // alice may not revoke that lease.
  const lease = h.ok({ type: "leaseGrant", ttl: 5 }).id;
  h.ok({
    type: "rwlockAcquire",
    name: "x/R",
    mode: "write",
    lease,
    tryOnly: true,
    auth: { user: "root" },
  });
  h.fails({ type: "leaseRevoke", id: lease, ...alice }, "permission_denied");
  h.ok({ type: "leaseRevoke", id: e.lease, ...alice });
  // Snapshots carry it all: the same bytes after a round trip.
  const copy = new Harness();
  copy.sm.restore(h.sm.snapshot());
  assert.deepEqual(copy.sm.snapshot(), h.sm.snapshot());
});
