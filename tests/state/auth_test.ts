/**
 * Users, roles and the auth switch in the state machine: validation, the
 * rules of each command, the apply-time permission check (a write made for
 * a user whose role was revoked is refused, whatever the node that
 * proposed it believed), and auth surviving a snapshot and restore.
 */

import assert from "node:assert/strict";
import {
  type Command,
  decodeCommand,
  encodeCommand,
  isInvalidCommand,
  type PasswordHash,
  ServiceStateMachine,
  validateCommand,
} from "../../src/state/mod.ts";
import { decode, encode } from "../../src/codec/msgpack.ts";
import { Harness } from "./helpers.ts";

const HASH: PasswordHash = {
  alg: "pbkdf2-sha256",
  iterations: 1000,
  salt: new Uint8Array(16).fill(7),
  hash: new Uint8Array(32).fill(9),
};
const HASH2: PasswordHash = { ...HASH, hash: new Uint8Array(32).fill(8) };
const KEY = { kid: "k1", key: new Uint8Array(32).fill(1) };

/** root, a read-write user on app/ and a read-only one, auth on. */
function setup(): Harness {
  const h = new Harness();
  h.ok({
    type: "authRolePut",
    name: "rw",
    permissions: [{ prefix: "app/", read: true, write: true }],
  });
  h.ok({
    type: "authRolePut",
    name: "ro",
    permissions: [{ prefix: "app/", read: true, write: false }],
  });
  h.ok({ type: "authUserPut", name: "root", hash: HASH, roles: ["root"] });
  h.ok({ type: "authUserPut", name: "alice", hash: HASH, roles: ["rw"] });
  h.ok({ type: "authUserPut", name: "bob", hash: HASH, roles: ["ro"] });
  h.ok({ type: "authSigningKey", ...KEY });
  h.ok({ type: "authEnable" });
  return h;
}

const as = (user: string, epoch?: number) => ({ auth: { user, epoch } });

Deno.test("auth commands validate fully and round-trip through msgpack", () => {
  const good: Command[] = [
    { type: "authUserPut", name: "alice", hash: HASH, roles: ["b", "a", "a"] },
    { type: "authUserPut", name: "alice", roles: [] },
    { type: "authUserDelete", name: "alice" },
    { type: "authUserGrant", name: "alice", role: "rw" },
    { type: "authUserRevoke", name: "alice", role: "rw" },
    {
      type: "authRolePut",
      name: "rw",
      permissions: [{ prefix: "", read: true, write: false }],
    },
    { type: "authRoleDelete", name: "rw" },
    { type: "authEnable" },
    { type: "authDisable" },
    { type: "authSigningKey", ...KEY },
    { type: "put", key: "k", value: "v", auth: { user: "alice", epoch: 3 } },
    { type: "put", key: "k", value: "v", auth: {} },
  ];
  for (const cmd of good) {
    const d = decodeCommand(encodeCommand(cmd));
    assert.ok(!isInvalidCommand(d), JSON.stringify(d));
  }
  // Roles become a sorted set.
  const put = decodeCommand(encodeCommand(good[0]));
  assert.deepEqual((put as { roles: string[] }).roles, ["a", "b"]);

  const bad: unknown[] = [
    { type: "authUserPut", name: "" },
    { type: "authUserPut", name: "a/b", hash: HASH },
    { type: "authUserPut", name: "x".repeat(65), hash: HASH },
    { type: "authUserPut", name: "a", hash: { ...HASH, alg: "md5" } },
    { type: "authUserPut", name: "a", hash: { ...HASH, iterations: 10 } },
    {
      type: "authUserPut",
      name: "a",
      hash: { ...HASH, salt: new Uint8Array(4) },
    },
    { type: "authUserPut", name: "a", hash: { ...HASH, hash: "x" } },
    { type: "authUserPut", name: "a", roles: "root" },
    { type: "authUserPut", name: "a", roles: ["ok", "not ok"] },
    { type: "authUserPut", name: "a", roles: Array(33).fill("r") },
    { type: "authUserGrant", name: "a" },
    { type: "authRolePut", name: "r", permissions: [{ prefix: 1 }] },
    { type: "authRolePut", name: "r", permissions: [{ prefix: "", read: 1 }] },
    { type: "authRolePut", name: "r", permissions: {} },
    {
      type: "authRolePut",
      name: "r",
      permissions: Array(65).fill({ prefix: "", read: true, write: true }),
    },
    { type: "authSigningKey", kid: "k", key: new Uint8Array(8) },
    { type: "authSigningKey", kid: "k/1", key: KEY.key },
    { type: "put", key: "k", value: "v", auth: "alice" },
    { type: "put", key: "k", value: "v", auth: { user: "" } },
    { type: "put", key: "k", value: "v", auth: { user: "a", epoch: -1 } },
  ];
  for (const v of bad) {
    assert.ok(isInvalidCommand(validateCommand(v)), JSON.stringify(v));
    assert.ok(isInvalidCommand(decodeCommand(encode(v))), JSON.stringify(v));
  }
});

Deno.test("enable needs user root with role root and a signing key", () => {
  const h = new Harness();
  assert.match(
    h.fails({ type: "authEnable" }, "conflict").error.message,
    /root/,
  );
  h.ok({ type: "authUserPut", name: "root", hash: HASH });
  h.fails({ type: "authEnable" }, "conflict");
  h.ok({ type: "authUserGrant", name: "root", role: "root" });
  assert.match(
    h.fails({ type: "authEnable" }, "conflict").error.message,
    /signing key/,
  );
  h.ok({ type: "authSigningKey", ...KEY });
  h.ok({ type: "authEnable" });
  assert.equal(h.sm.auth.enabled, true);
  // Root stays root while auth is on.
  h.fails({ type: "authUserDelete", name: "root" }, "conflict");
  h.fails({ type: "authUserRevoke", name: "root", role: "root" }, "conflict");
  h.fails({ type: "authUserPut", name: "root", roles: [] }, "conflict");
  h.ok({ type: "authDisable" });
  h.ok({ type: "authUserDelete", name: "root" });
});

Deno.test("users and roles: rules and the auth revision", () => {
  const h = new Harness();
  h.fails({ type: "authUserPut", name: "a" }, "bad_request"); // no password
  h.fails(
    { type: "authUserPut", name: "a", hash: HASH, roles: ["nope"] },
    "not_found",
  );
  const r1 = h.ok({ type: "authUserPut", name: "a", hash: HASH });
  assert.equal(r1.authRevision, 1);
  assert.equal(h.sm.auth.user("a")!.epoch, 1);
  h.fails(
    { type: "authRolePut", name: "root", permissions: [] },
    "bad_request",
  );
  h.fails({ type: "authRoleDelete", name: "root" }, "bad_request");
  h.fails({ type: "authRoleDelete", name: "r" }, "not_found");
  h.ok({ type: "authRolePut", name: "r", permissions: [] });
  h.ok({ type: "authUserGrant", name: "a", role: "r" });
  h.fails({ type: "authUserGrant", name: "a", role: "q" }, "not_found");
  h.fails({ type: "authUserGrant", name: "z", role: "r" }, "not_found");
  assert.deepEqual(h.sm.auth.user("a")!.roles, ["r"]);
  // Changing roles keeps the epoch; a new password moves it on.
  h.ok({ type: "authUserPut", name: "a", roles: ["r", "root"] });
  assert.equal(h.sm.auth.user("a")!.epoch, 1);
  h.ok({ type: "authUserPut", name: "a", hash: HASH2 });
  assert.deepEqual(h.sm.auth.user("a")!.roles, ["r", "root"]);
  const epoch = h.sm.auth.user("a")!.epoch;
  assert.ok(epoch > 1);
  // Deleting a role takes it from its users.
  h.ok({ type: "authRoleDelete", name: "r" });
  assert.deepEqual(h.sm.auth.user("a")!.roles, ["root"]);
  h.fails({ type: "authUserRevoke", name: "a", role: "r" }, "not_found");
  // A deleted and re-created user has a new epoch.
  h.ok({ type: "authUserDelete", name: "a" });
  h.fails({ type: "authUserDelete", name: "a" }, "not_found");
  h.ok({ type: "authUserPut", name: "a", hash: HASH });
  assert.ok(h.sm.auth.user("a")!.epoch > epoch);
  // Keys: current and previous; a known kid again is a conflict.
  h.ok({ type: "authSigningKey", ...KEY });
  h.fails({ type: "authSigningKey", ...KEY }, "conflict");
  h.ok({ type: "authSigningKey", kid: "k2", key: KEY.key });
  h.ok({ type: "authSigningKey", kid: "k3", key: KEY.key });
  assert.deepEqual(
    [h.sm.auth.current?.kid, h.sm.auth.previous?.kid, h.sm.auth.key("k1")],
    ["k3", "k2", undefined],
  );
});

Deno.test("apply-time check: a write for a user whose role was revoked is refused", () => {
  const h = setup();
  h.ok({ type: "put", key: "app/a", value: "1", ...as("alice") });
  h.ok({ type: "authUserRevoke", name: "alice", role: "rw", ...as("root") });
  // Proposed by a node that still believed alice had rw: refused at apply.
  const r = h.fails(
    { type: "put", key: "app/a", value: "2", ...as("alice") },
    "permission_denied",
  );
  assert.match(r.error.message, /alice/);
  assert.equal(h.sm.get("app/a")!.value, "1");
  // A client's command without a token (proposed by a node that had not
  // yet seen auth turned on) is refused.
  h.fails(
    { type: "put", key: "app/a", value: "2", auth: {} },
    "unauthenticated",
  );
  // Commands the nodes make themselves carry no auth and are not checked.
  h.ok({ type: "put", key: "app/a", value: "3" });
});

Deno.test("apply-time check: every command's needs", () => {
  const h = setup();
  const bob = as("bob");
  const alice = as("alice");
  h.fails(
    { type: "put", key: "app/a", value: "1", ...bob },
    "permission_denied",
  );
  h.fails({ type: "put", key: "x", value: "1", ...alice }, "permission_denied");
  h.ok({ type: "delete", key: "app/", prefix: true, ...alice });
  h.fails(
    { type: "delete", key: "", prefix: true, ...alice },
    "permission_denied",
  );
  // A txn: reads for compares and gets, writes for puts and deletes, both
  // branches.
  const txn = (key: string, extra = {}) => ({
    type: "txn" as const,
    compare: [{ key, target: "version" as const, op: "==" as const, value: 0 }],
    success: [{ type: "get" as const, key }],
    failure: [],
    ...extra,
  });
  h.ok({ ...txn("app/a"), ...bob });
  h.fails({ ...txn("x"), ...bob }, "permission_denied");
  h.fails(
    {
      ...txn("app/a"),
      failure: [{ type: "put", key: "app/b", value: "v" }],
      ...bob,
    },
    "permission_denied",
  );
  h.ok({
    ...txn("app/a"),
    failure: [{ type: "put", key: "app/b", value: "v" }],
    ...alice,
  });
  // Locks: write on the name.
  h.fails(
    { type: "lockAcquire", name: "app/L", ttl: 10, tryOnly: true, ...bob },
    "permission_denied",
  );
  const g = h.ok({
    type: "lockAcquire",
    name: "app/L",
    ttl: 10,
    tryOnly: true,
    ...alice,
  });
  assert.ok("token" in g);
  h.fails(
    { type: "lockRelease", name: "app/L", token: g.token, ...bob },
    "permission_denied",
  );
  // Leases: any user may grant and keep alive; revoking needs write on all
  // the lease holds.
  const l = h.ok({ type: "leaseGrant", ttl: 10, ...bob });
  h.ok({ type: "leaseKeepalive", id: l.id, ...bob });
  h.ok({ type: "put", key: "app/x", value: "v", lease: l.id, ...alice });
  h.fails({ type: "leaseRevoke", id: l.id, ...bob }, "permission_denied");
  h.ok({ type: "leaseRevoke", id: g.lease, ...alice });
  h.ok({ type: "leaseRevoke", id: l.id, ...alice });
  // Administration and the leader's own commands: root.
  h.fails(
    { type: "authUserPut", name: "mallory", hash: HASH, ...alice },
    "permission_denied",
  );
  h.fails({ type: "authDisable", ...alice }, "permission_denied");
  h.fails(
    { type: "leaseExpire", id: 1, keepaliveIndex: 0, ...alice },
    "permission_denied",
  );
  h.ok({ type: "authDisable", ...as("root") });
  // Auth off: nothing is checked.
  h.ok({ type: "put", key: "x", value: "1", ...bob });
});

Deno.test("apply-time check: a deleted user or an old epoch is unauthenticated", () => {
  const h = setup();
  const epoch = h.sm.auth.user("alice")!.epoch;
  h.ok({ type: "put", key: "app/a", value: "1", ...as("alice", epoch) });
  h.ok({ type: "authUserPut", name: "alice", hash: HASH2 });
  h.fails(
    { type: "put", key: "app/a", value: "2", ...as("alice", epoch) },
    "unauthenticated",
  );
  h.ok({ type: "authUserDelete", name: "alice" });
  h.fails(
    { type: "put", key: "app/a", value: "2", ...as("alice") },
    "unauthenticated",
  );
});

Deno.test("request ids are per user: another user's id does not return its result", () => {
  const h = setup();
  const requestId = { client: "c", seq: 1 };
  const first = h.ok({
    type: "txn",
    compare: [],
    success: [{ type: "put", key: "app/s", value: "secret" }, {
      type: "get",
      key: "app/s",
    }],
    failure: [],
    requestId,
    ...as("alice"),
  });
  assert.equal(first.results.length, 2);
  // The same id for bob is a new request (refused here), not alice's answer.
  h.fails({
    type: "txn",
    compare: [],
    success: [{ type: "put", key: "x", value: "v" }],
    failure: [],
    requestId,
    ...as("bob"),
  }, "permission_denied");
  // alice's retry still gets her first answer.
  assert.deepEqual(
    h.ok({
      type: "txn",
      compare: [],
      success: [],
      failure: [],
      requestId,
      ...as("alice"),
    }),
    first,
  );
});

Deno.test("auth survives a snapshot and restore", async () => {
  const h = setup();
  h.ok({ type: "authSigningKey", kid: "k2", key: new Uint8Array(32).fill(3) });
  const snap = h.sm.snapshot();
  const b = new ServiceStateMachine();
  b.restore(snap);
  assert.equal(b.auth.enabled, true);
  assert.equal(b.auth.revision, h.sm.auth.revision);
  assert.deepEqual(b.auth.users(), h.sm.auth.users());
  assert.deepEqual(b.auth.roles(), h.sm.auth.roles());
  assert.deepEqual(
    [b.auth.current, b.auth.previous],
    [h.sm.auth.current, h.sm.auth.previous],
  );
  assert.deepEqual(b.snapshot(), snap);
  // The restored machine enforces the same rules.
  const r = b.applyCommand(
    { type: "put", key: "app/a", value: "1", auth: { user: "bob" } },
    { index: 100, term: 1 },
  );
  assert.equal(r.ok, false);
  // The chunked encoding restores the same.
  const c = new ServiceStateMachine();
  c.restore(await h.sm.snapshotAsync(64));
  assert.deepEqual(c.snapshot(), snap);
});

Deno.test("a version 1 snapshot (before auth) restores with auth off", () => {
  const h = new Harness();
  h.ok({ type: "put", key: "k", value: "v" });
  const v2 = decode<Record<string, unknown>>(h.sm.snapshot());
  delete v2.auth;
  v2.v = 1;
  const b = new ServiceStateMachine();
  b.restore(encode(v2));
  assert.equal(b.get("k")!.value, "v");
  assert.equal(b.auth.enabled, false);
  assert.deepEqual(b.auth.users(), []);
  // A version 2 snapshot without auth is damage.
  v2.v = 2;
  assert.throws(() => b.restore(encode(v2)), /malformed/);
});
