/**
 * The state machine's limits: the space alarm (what it refuses and what it
 * lets through), the state's size count, batched keepalives of waiters'
 * leases, the per-lock waiter bound, and the lease clock's holds.
 */

import assert from "node:assert/strict";
import {
  type LeaseChange,
  LeaseClock,
  validateCommand,
} from "../../src/state/mod.ts";
import { Harness } from "./helpers.ts";

Deno.test("an alarm refuses writes that add data, and lets the rest through", () => {
  const h = new Harness();
  h.ok({ type: "put", key: "a", value: "1234" });
  const lease = h.ok({ type: "leaseGrant", ttl: 10 });
  const lock = h.ok({
    type: "lockAcquire",
    name: "L",
    ttl: 10,
    waiterId: "w1",
  });
  assert.ok("token" in lock);
  h.ok({ type: "lockAcquire", name: "L", ttl: 10, waiterId: "w2" });
  assert.deepEqual(
    h.ok({
      type: "alarm",
      action: "raise",
      kind: "nospace",
      node: "n2",
      detail: "disk full",
    }),
    { ok: true, changed: true },
  );
  assert.equal(h.sm.alarmed, true);
  assert.deepEqual(h.sm.alarms(), [{
    kind: "nospace",
    node: "n2",
    detail: "disk full",
    since: h.index,
  }]);

  // Refused: a new key, a longer value, a lease, a lock, a growing txn.
  const refused = h.fails(
    { type: "put", key: "b", value: "x" },
    "quota_exceeded",
  );
  assert.match(refused.error.message, /node n2's disk is full \(disk full\)/);
  h.fails({ type: "put", key: "a", value: "12345" }, "quota_exceeded");
  h.fails({ type: "leaseGrant", ttl: 5 }, "quota_exceeded");
  h.fails(
    { type: "lockAcquire", name: "M", ttl: 5, tryOnly: true },
    "quota_exceeded",
  );
  h.fails({
    type: "txn",
    compare: [],
    success: [{ type: "put", key: "c", value: "x" }],
    failure: [],
  }, "quota_exceeded");
  assert.equal(h.sm.get("b"), null);
  assert.equal(h.sm.get("c"), null);

  // Let through: a put that does not grow, a txn whose branch does not
  // grow, reads, deletes, keepalives, revokes, releases, cancels.
  h.ok({ type: "put", key: "a", value: "4321" });
  h.ok({ type: "put", key: "a", value: "1" });
  h.ok({
    type: "txn",
    compare: [{ key: "a", target: "value", op: "==", value: "nope" }],
    success: [{ type: "put", key: "big", value: "x" }],
    failure: [{ type: "get", key: "a" }],
  });
  h.ok({ type: "leaseKeepalive", id: lease.id });
  h.ok({ type: "leaseKeepaliveMany", ids: [lease.id, lock.lease] });
  h.ok({ type: "lockCancel", name: "L", waiterId: "w2" });
  h.ok({ type: "lockRelease", name: "L", token: lock.token });
  h.ok({ type: "leaseRevoke", id: lease.id });
  h.ok({ type: "delete", key: "a" });

  // The raising node clears it (a second clear changes nothing).
  assert.deepEqual(
    h.ok({ type: "alarm", action: "clear", kind: "nospace", node: "n2" }),
    { ok: true, changed: true },
  );
  assert.deepEqual(
    h.ok({ type: "alarm", action: "clear", kind: "nospace", node: "n2" }),
    { ok: true, changed: false },
  );
  h.ok({ type: "put", key: "b", value: "x" });
});

Deno.test("the quota alarm: its failure names it, raising twice changes nothing", () => {
  const h = new Harness();
  h.ok({ type: "alarm", action: "raise", kind: "quota", detail: "9 > 8" });
  assert.deepEqual(
    h.ok({ type: "alarm", action: "raise", kind: "quota", detail: "10 > 8" }),
    { ok: true, changed: false },
  );
  const f = h.fails({ type: "put", key: "k", value: "v" }, "quota_exceeded");
  assert.match(f.error.message, /over its space quota \(9 > 8\)/);
  assert.match(
    f.error.message,
    /deletes, lease revokes and lock releases still work/,
  );
  assert.equal(h.sm.addsData({ type: "put", key: "k", value: "v" }), true);
  assert.equal(h.sm.addsData({ type: "delete", key: "k" }), false);
  h.ok({ type: "alarm", action: "clear", kind: "quota" });
  assert.equal(h.sm.alarmed, false);
});

Deno.test("alarm commands are validated: nospace names a node, quota does not", () => {
  for (
    const bad of [
      { type: "alarm", action: "raise", kind: "nospace" },
      { type: "alarm", action: "raise", kind: "quota", node: "n1" },
      { type: "alarm", action: "ring", kind: "quota" },
      { type: "alarm", action: "raise", kind: "disk" },
      { type: "leaseKeepaliveMany", ids: [] },
      { type: "leaseKeepaliveMany", ids: [0] },
      { type: "leaseKeepaliveMany", ids: new Array(1025).fill(1) },
      { type: "time", now: -1 },
      { type: "lockAcquire", name: "L", ttl: 1, waiterId: "w", maxWaiters: 0 },
    ]
  ) {
    const v = validateCommand(bad);
    assert.ok("error" in v, JSON.stringify(bad));
  }
});

Deno.test("the state's size counts keys, values, history, leases, locks and results", () => {
  const h = new Harness({ historySize: 2 });
  const empty = h.sm.stateBytes();
  h.ok({ type: "put", key: "k", value: "x".repeat(1000) });
  const one = h.sm.stateBytes();
  // The key and its value, in the store and in the history.
  assert.ok(one - empty >= 2000 && one - empty < 2300, `${one - empty}`);
  h.ok({ type: "put", key: "k", value: "x" });
  h.ok({ type: "put", key: "j", value: "y" });
  // The 1000-byte value left both the store and the (2-event) history.
  assert.ok(h.sm.stateBytes() - empty < 400, `${h.sm.stateBytes() - empty}`);
  const before = h.sm.stateBytes();
  const g = h.ok({ type: "lockAcquire", name: "lock", ttl: 5, waiterId: "w" });
  assert.ok(h.sm.stateBytes() > before);
  h.ok({
    type: "lockRelease",
    name: "lock",
    token: "token" in g ? g.token : 0,
  });
  const r = h.ok({
    type: "put",
    key: "j",
    value: "z",
    requestId: { client: "c", seq: 1 },
  });
  assert.ok(r.ok);
  assert.ok(h.sm.stateBytes() > before);
});

Deno.test("compact drops the history up to a revision; resuming before it is compacted", () => {
  const h = new Harness();
  for (let i = 0; i < 5; i++) {
    h.ok({ type: "put", key: `k${i}`, value: "x".repeat(100) });
  }
  const before = h.sm.stateBytes();
  assert.deepEqual(h.ok({ type: "compact", revision: 3 }), {
    ok: true,
    compactRevision: 4,
    dropped: 3,
  });
  assert.ok(h.sm.stateBytes() < before - 300);
  assert.deepEqual(h.sm.eventsSince(2), {
    compacted: true,
    compactRevision: 4,
  });
  const since = h.sm.eventsSince(3);
  assert.ok(!since.compacted && since.events.length === 2);
  // Never past the current revision.
  assert.equal(h.ok({ type: "compact", revision: 99 }).compactRevision, 6);
  assert.equal(h.sm.historyBytes, 0);
});

Deno.test("leaseKeepaliveMany renews each lease that exists, in one entry", () => {
  const h = new Harness();
  const a = h.ok({ type: "leaseGrant", ttl: 5 });
  const b = h.ok({ type: "leaseGrant", ttl: 7 });
  const changes: LeaseChange[] = [];
  h.sm.onLeaseChanges((c) => changes.push(...c));
  const r = h.ok({ type: "leaseKeepaliveMany", ids: [a.id, 99, b.id, a.id] });
  assert.deepEqual(r, { ok: true, kept: 2 });
  assert.deepEqual(changes, [
    { type: "keepalive", id: a.id, ttl: 5, keepaliveIndex: h.index },
    { type: "keepalive", id: b.id, ttl: 7, keepaliveIndex: h.index },
  ]);
  assert.equal(h.sm.lease(b.id)?.keepaliveIndex, h.index);
});

Deno.test("a lock's queue refuses a waiter past the acquire's maxWaiters", () => {
  const h = new Harness();
  h.ok({ type: "lockAcquire", name: "L", ttl: 5, waiterId: "holder" });
  const acquire = (w: string) => ({
    type: "lockAcquire" as const,
    name: "L",
    ttl: 5,
    waiterId: w,
    maxWaiters: 2,
  });
  h.ok(acquire("w1"));
  h.ok(acquire("w2"));
  const f = h.fails(acquire("w3"), "too_many_waiters");
  assert.match(f.error.message, /has 2 waiters queued/);
  assert.equal(h.sm.lock("L").waiters.length, 2);
  // Nothing was made for the refused one (no lease).
  assert.equal(h.sm.leases().length, 3);
});

Deno.test("LeaseClock: a held lease is never due; released, it has its TTL from then", () => {
  const clock = new LeaseClock();
  clock.onBecomeLeader(0, [{ id: 1, ttl: 1, keepaliveIndex: 3 }], 300);
  clock.hold(1);
  assert.equal(clock.isHeld(1), true);
  assert.deepEqual(clock.due(60_000), []);
  assert.equal(clock.remaining(1, 60_000), 1000);
  assert.equal(clock.nextDeadline(), undefined);
  clock.release(1, 60_000);
  assert.deepEqual(clock.due(60_999), []);
  assert.deepEqual(clock.due(61_000), [{ id: 1, keepaliveIndex: 3 }]);
  // Holds die with leadership: a new leader's clock knows none.
  clock.hold(1);
  clock.onStepDown();
  clock.onBecomeLeader(100_000, [{ id: 1, ttl: 1, keepaliveIndex: 3 }], 300);
  assert.equal(clock.isHeld(1), false);
  assert.deepEqual(clock.due(101_300), [{ id: 1, keepaliveIndex: 3 }]);
  // An inactive clock holds nothing; an expired lease drops its hold.
  const idle = new LeaseClock();
  idle.hold(5);
  assert.equal(idle.isHeld(5), false);
  clock.hold(1);
  clock.onApplied(0, [{ type: "expire", id: 1 }]);
  assert.equal(clock.isHeld(1), false);
});
