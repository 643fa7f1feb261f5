import assert from "node:assert/strict";
import { type LeaseChange, LeaseClock } from "../../src/state/mod.ts";
import { Harness } from "./helpers.ts";

Deno.test("lease grant validates the TTL and assigns ids deterministically", () => {
  const h = new Harness();
  h.fails({ type: "leaseGrant", ttl: 0 }, "bad_request");
  h.fails({ type: "leaseGrant", ttl: 86_401 }, "bad_request");
  h.fails({ type: "leaseGrant", ttl: 1.5 }, "bad_request");
  assert.deepEqual(h.ok({ type: "leaseGrant", ttl: 1 }), {
    ok: true,
    id: 1,
    ttl: 1,
  });
  assert.deepEqual(h.ok({ type: "leaseGrant", ttl: 86_400 }), {
    ok: true,
    id: 2,
    ttl: 86_400,
  });
  h.ok({ type: "leaseRevoke", id: 1 });
  assert.equal(h.ok({ type: "leaseGrant", ttl: 5 }).id, 3); // never reused
  assert.deepEqual(h.sm.leases(), [
    { id: 2, ttl: 86_400, keepaliveIndex: 5 },
    { id: 3, ttl: 5, keepaliveIndex: 7 },
  ]);
  // Lease commands do not raise the revision by themselves.
  assert.equal(h.sm.revision, 0);
});

Deno.test("keepalive records its log index; missing leases are not_found", () => {
  const h = new Harness();
  const { id } = h.ok({ type: "leaseGrant", ttl: 10 }); // index 1
  assert.equal(h.sm.lease(id)?.keepaliveIndex, 1);
  assert.deepEqual(h.ok({ type: "leaseKeepalive", id }), {
    ok: true,
    id,
    ttl: 10,
  }); // index 2
  assert.equal(h.sm.lease(id)?.keepaliveIndex, 2);
  h.fails({ type: "leaseKeepalive", id: 99 }, "not_found");
  h.fails({ type: "leaseRevoke", id: 99 }, "not_found");
  h.fails({ type: "leaseExpire", id: 99, keepaliveIndex: 1 }, "not_found");
  assert.equal(h.sm.lease(99), null);
});

Deno.test("put with a lease attaches the key; moving it keeps bookkeeping right", () => {
  const h = new Harness();
  const l1 = h.ok({ type: "leaseGrant", ttl: 10 }).id;
  const l2 = h.ok({ type: "leaseGrant", ttl: 10 }).id;
  h.fails({ type: "put", key: "a", value: "1", lease: 77 }, "not_found");
  h.ok({ type: "put", key: "a", value: "1", lease: l1 });
  h.ok({ type: "put", key: "b", value: "1", lease: l1 });
  h.ok({ type: "put", key: "c", value: "1", lease: l1 });
  assert.deepEqual(h.sm.lease(l1)?.keys, ["a", "b", "c"]);
  h.ok({ type: "put", key: "a", value: "2", lease: l2 }); // moved
  h.ok({ type: "put", key: "b", value: "2" }); // detached
  h.ok({ type: "delete", key: "c" }); // gone
  assert.deepEqual(h.sm.lease(l1)?.keys, []);
  assert.deepEqual(h.sm.lease(l2)?.keys, ["a"]);
  assert.equal(h.sm.get("a")?.lease, l2);
  assert.equal(h.sm.get("b")?.lease, undefined);
  // Revoking l1 now deletes nothing.
  const r = h.ok({ type: "leaseRevoke", id: l1 });
  assert.equal(r.deleted, 0);
  assert.equal(h.sm.get("b")?.value, "2");
});

Deno.test("revoke deletes the lease's keys at one revision", () => {
  const h = new Harness();
  const id = h.ok({ type: "leaseGrant", ttl: 10 }).id;
  h.ok({ type: "put", key: "x/2", value: "1", lease: id });
  h.ok({ type: "put", key: "x/1", value: "1", lease: id });
  h.ok({ type: "put", key: "keep", value: "1" });
  const seen: string[] = [];
  h.sm.onEvents((es) =>
    seen.push(...es.map((e) => `${e.type}:${e.key}@${e.revision}`))
  );
  assert.deepEqual(h.ok({ type: "leaseRevoke", id }), {
    ok: true,
    id,
    revoked: true,
    deleted: 2,
    revision: 4,
  });
  assert.deepEqual(seen, ["delete:x/1@4", "delete:x/2@4"]);
  assert.equal(h.sm.lease(id), null);
  assert.deepEqual(h.sm.range().kvs.map((k) => k.key), ["keep"]);
});

Deno.test("expire deletes keys; a stale expire after a keepalive is ignored", () => {
  const h = new Harness();
  const id = h.ok({ type: "leaseGrant", ttl: 10 }).id; // index 1
  h.ok({ type: "put", key: "k", value: "1", lease: id });
  // The leader decided expiry at keepaliveIndex 1, but a keepalive won.
  h.ok({ type: "leaseKeepalive", id }); // index 3
  assert.deepEqual(h.ok({ type: "leaseExpire", id, keepaliveIndex: 1 }), {
    ok: true,
    id,
    expired: false,
    deleted: 0,
    revision: 1,
  });
  assert.equal(h.sm.get("k")?.value, "1");
  assert.notEqual(h.sm.lease(id), null);
  assert.deepEqual(h.ok({ type: "leaseExpire", id, keepaliveIndex: 3 }), {
    ok: true,
    id,
    expired: true,
    deleted: 1,
    revision: 2,
  });
  assert.equal(h.sm.get("k"), null);
  assert.equal(h.sm.lease(id), null);
});

Deno.test("onLeaseChanges reports grants, keepalives and removals", () => {
  const h = new Harness();
  const changes: LeaseChange[] = [];
  h.sm.onLeaseChanges((cs) => changes.push(...cs));
  const id = h.ok({ type: "leaseGrant", ttl: 7 }).id;
  h.ok({ type: "leaseKeepalive", id });
  h.ok({ type: "leaseExpire", id, keepaliveIndex: 2 });
  assert.deepEqual(changes, [
    { type: "grant", id, ttl: 7, keepaliveIndex: 1 },
    { type: "keepalive", id, ttl: 7, keepaliveIndex: 2 },
    { type: "expire", id },
  ]);
});

Deno.test("LeaseClock: deadlines, due expiries and keepalives", () => {
  const h = new Harness();
  const clock = new LeaseClock({ retryMs: 100 });
  h.sm.onLeaseChanges((cs) => clock.onApplied(now, cs));
  let now = 1_000;
  // Not leader: changes are ignored and nothing is due.
  h.ok({ type: "leaseGrant", ttl: 5 }); // id 1
  assert.equal(clock.remaining(1, now), undefined);
  clock.onBecomeLeader(now, h.sm.leases(), 0);
  assert.equal(clock.remaining(1, now), 5_000);
  now = 2_000;
  const id2 = h.ok({ type: "leaseGrant", ttl: 2 }).id; // deadline 4000
  assert.equal(clock.remaining(id2, now), 2_000);
  now = 3_999;
  assert.deepEqual(clock.due(now), []);
  now = 4_000;
  assert.deepEqual(clock.due(now), [{ id: id2, keepaliveIndex: 2 }]);
  // Once proposed, it is not offered again until retryMs passed.
  clock.markProposed(id2, now);
  assert.deepEqual(clock.due(now + 50), []);
  assert.deepEqual(clock.due(now + 100), [{ id: id2, keepaliveIndex: 2 }]);
  // A keepalive applied meanwhile restarts the TTL; the old expiry is stale.
  h.ok({ type: "leaseKeepalive", id: id2 }); // index 3, deadline 6000
  assert.deepEqual(clock.due(now), []);
  assert.equal(
    h.ok({ type: "leaseExpire", id: id2, keepaliveIndex: 2 }).expired,
    false,
  );
  now = 6_000;
  assert.deepEqual(clock.due(now), [
    { id: 1, keepaliveIndex: 1 },
    { id: id2, keepaliveIndex: 3 },
  ]);
  for (const d of clock.due(now)) {
    assert.equal(h.ok({ type: "leaseExpire", ...d }).expired, true);
  }
  assert.deepEqual(clock.due(now), []);
  assert.equal(clock.size, 0);
  clock.onStepDown();
  assert.equal(clock.active, false);
});

Deno.test("LeaseClock: a new leader gives every lease a full TTL plus the extension", () => {
  const h = new Harness();
  h.ok({ type: "leaseGrant", ttl: 3 }); // id 1
  h.ok({ type: "leaseGrant", ttl: 10 }); // id 2
  // The old leader's deadlines were nearly up; the new one starts afresh.
  const clock = new LeaseClock();
  clock.onBecomeLeader(50_000, h.sm.leases(), 300);
  assert.equal(clock.remaining(1, 50_000), 3_300);
  assert.equal(clock.remaining(2, 50_000), 10_300);
  assert.deepEqual(clock.due(53_299), []);
  assert.deepEqual(clock.due(53_300), [{ id: 1, keepaliveIndex: 1 }]);
  assert.equal(clock.nextDeadline(), 53_300);
  // Stepping down forgets everything; a later term starts over.
  clock.onStepDown();
  assert.deepEqual(clock.due(1e9), []);
  clock.onApplied(0, [{ type: "grant", id: 9, ttl: 1, keepaliveIndex: 9 }]);
  assert.equal(clock.remaining(9, 0), undefined);
});

Deno.test("LeaseClock: lock-delays are scheduled on the leader's clock", () => {
  const h = new Harness();
  const clock = new LeaseClock();
  let now = 0;
  h.sm.onLeaseChanges((cs) => clock.onApplied(now, cs));
  clock.onBecomeLeader(now, h.sm.leases(), 0, h.sm.pendingLockDelays());
  const a = h.ok({
    type: "lockAcquire",
    name: "L",
    ttl: 1,
    lockDelay: 250,
    tryOnly: true,
  });
  assert.ok("token" in a);
  h.ok({ type: "lockAcquire", name: "L", ttl: 60, waiterId: "next" });
  now = 1_000;
  const [due] = clock.due(now);
  assert.equal(due.id, a.lease);
  h.ok({ type: "leaseExpire", ...due });
  assert.equal(h.sm.lock("L").holder, null);
  assert.deepEqual(clock.dueLockDelays(1_249), []);
  const [end] = clock.dueLockDelays(1_250);
  assert.deepEqual(end, {
    name: "L",
    revision: h.sm.pendingLockDelays()[0].revision,
  });
  h.ok({ type: "lockDelayEnd", ...end });
  assert.equal(h.sm.lock("L").holder?.owner, "");
  assert.equal(h.sm.lock("L").waiters.length, 0);
  assert.deepEqual(clock.dueLockDelays(10_000), []);

  // A new leader restarts pending delays in full from its own clock.
  const h2 = new Harness();
  const b = h2.ok({
    type: "lockAcquire",
    name: "M",
    ttl: 1,
    lockDelay: 400,
    tryOnly: true,
  });
  assert.ok("token" in b);
  const lease = h2.sm.lease(b.lease)!;
  h2.ok({
    type: "leaseExpire",
    id: lease.id,
    keepaliveIndex: lease.keepaliveIndex,
  });
  const fresh = new LeaseClock();
  fresh.onBecomeLeader(5_000, h2.sm.leases(), 300, h2.sm.pendingLockDelays());
  assert.deepEqual(fresh.dueLockDelays(5_399), []);
  assert.equal(fresh.dueLockDelays(5_400).length, 1);
  fresh.markLockDelayProposed("M", 5_400);
  assert.deepEqual(fresh.dueLockDelays(5_500), []);
});
