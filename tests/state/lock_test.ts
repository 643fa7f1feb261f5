import assert from "node:assert/strict";
import type { LeaseChange, LockGrant } from "../../src/state/mod.ts";
import { Harness } from "./helpers.ts";

Deno.test("acquire with ttl creates a lease and grants with a fencing token", () => {
  const h = new Harness();
  h.ok({ type: "put", key: "x", value: "1" }); // rev 1
  const r = h.ok({
    type: "lockAcquire",
    name: "L",
    ttl: 10,
    owner: "alice",
    tryOnly: true,
  });
  assert.deepEqual(r, {
    ok: true,
    name: "L",
    token: 2,
    lease: 1,
    owner: "alice",
  });
  assert.equal(h.sm.revision, 2);
  assert.equal(h.sm.checkToken("L", 2), true);
  assert.equal(h.sm.checkToken("L", 1), false);
  assert.equal(h.sm.checkToken("M", 2), false);
  assert.deepEqual(h.sm.lock("L"), {
    name: "L",
    holder: { token: 2, lease: 1, owner: "alice" },
    waiters: [],
    lockDelay: null,
  });
  assert.deepEqual(h.sm.lease(1)?.locks, ["L"]);
});

Deno.test("tryOnly fails with lock_held and the holder; nothing changes", () => {
  const h = new Harness();
  const lease = h.ok({ type: "leaseGrant", ttl: 10 }).id;
  h.ok({ type: "lockAcquire", name: "L", lease, owner: "a", tryOnly: true });
  const before = h.sm.snapshot();
  const r = h.fails(
    { type: "lockAcquire", name: "L", ttl: 5, owner: "b", tryOnly: true },
    "lock_held",
  );
  assert.deepEqual(r.error.holder, { token: 1, lease, owner: "a" });
  assert.deepEqual(h.sm.snapshot(), before); // no lease was created
  h.fails(
    { type: "lockAcquire", name: "L", lease: 99, tryOnly: true },
    "not_found",
  );
  h.fails(
    { type: "lockAcquire", name: "L", owner: "x", tryOnly: true },
    "bad_request",
  );
  h.fails(
    { type: "lockAcquire", name: "L", ttl: 5, lease, tryOnly: true },
    "bad_request",
  );
  h.fails({ type: "lockAcquire", name: "L", ttl: 5 }, "bad_request"); // no waiterId
});

Deno.test("waiters are granted in FIFO order; the service hears of each grant", () => {
  const h = new Harness();
  const grants: LockGrant[] = [];
  h.sm.onLockGranted((g) => grants.push(g));
  const first = h.ok({
    type: "lockAcquire",
    name: "L",
    ttl: 10,
    owner: "o0",
    waiterId: "w0",
  });
  assert.ok("token" in first);
  const positions = ["w1", "w2", "w3"].map((w, i) => {
    const r = h.ok({
      type: "lockAcquire",
      name: "L",
      ttl: 10,
      owner: `o${i + 1}`,
      waiterId: w,
    });
    assert.ok("queued" in r);
    return r.position;
  });
  assert.deepEqual(positions, [1, 2, 3]);
  assert.deepEqual(h.sm.lock("L").waiters.map((w) => w.waiterId), [
    "w1",
    "w2",
    "w3",
  ]);
  assert.equal(h.sm.counts().waiters, 3);
  h.fails(
    { type: "lockAcquire", name: "L", ttl: 10, waiterId: "w2" },
    "bad_request",
  );

  let token = first.token;
  const order: string[] = [];
  for (let i = 0; i < 4; i++) {
    const r = h.ok({ type: "lockRelease", name: "L", token });
    const holder = h.sm.lock("L").holder;
    if (i < 3) {
      assert.ok(holder);
      assert.ok(holder.token > token);
      assert.equal(r.revision, holder.token);
      token = holder.token;
      order.push(grants.at(-1)!.waiterId!);
    } else {
      assert.equal(holder, null);
    }
  }
  assert.deepEqual(order, ["w1", "w2", "w3"]);
  assert.deepEqual(grants.map((g) => [g.waiterId, g.owner]), [
    ["w0", "o0"],
    ["w1", "o1"],
    ["w2", "o2"],
    ["w3", "o3"],
  ]);
  assert.deepEqual(h.sm.locks(), []);
  // Leases created by the acquires went with their releases.
  assert.deepEqual(h.sm.leases(), []);
});

Deno.test("fencing tokens strictly increase across all grants of all locks", () => {
  const h = new Harness();
  const lease = h.ok({ type: "leaseGrant", ttl: 60 }).id;
  const tokens: number[] = [];
  h.sm.onLockGranted((g) => tokens.push(g.token));
  const held = new Map<string, number>();
  for (let i = 0; i < 30; i++) {
    const name = `L${i % 3}`;
    if (held.has(name)) {
      h.ok({ type: "lockRelease", name, token: held.get(name)! });
      held.delete(name);
      h.ok({ type: "put", key: name, value: String(i) });
    } else {
      const r = h.ok({ type: "lockAcquire", name, lease, tryOnly: true });
      assert.ok("token" in r);
      held.set(name, r.token);
    }
  }
  assert.ok(tokens.length >= 10);
  for (let i = 1; i < tokens.length; i++) assert.ok(tokens[i] > tokens[i - 1]);
  // Revoking a lease that holds several locks with waiters: each grant
  // still gets its own revision.
  const h2 = new Harness();
  const a = h2.ok({ type: "leaseGrant", ttl: 60 }).id;
  const b = h2.ok({ type: "leaseGrant", ttl: 60 }).id;
  h2.ok({ type: "put", key: "k", value: "v", lease: a });
  for (const n of ["X", "Y"]) {
    h2.ok({ type: "lockAcquire", name: n, lease: a, tryOnly: true });
    h2.ok({ type: "lockAcquire", name: n, lease: b, waiterId: `w${n}` });
  }
  const g2: number[] = [];
  h2.sm.onLockGranted((g) => g2.push(g.token));
  const rev0 = h2.sm.revision;
  h2.ok({ type: "leaseRevoke", id: a });
  assert.deepEqual(g2, [rev0 + 2, rev0 + 3]); // keys delete at rev0+1
  assert.equal(h2.sm.lock("X").holder?.lease, b);
  assert.equal(h2.sm.lock("Y").holder?.lease, b);
});

Deno.test("release by a stale token is rejected", () => {
  const h = new Harness();
  const r1 = h.ok({ type: "lockAcquire", name: "L", ttl: 10, tryOnly: true });
  assert.ok("token" in r1);
  h.ok({ type: "lockRelease", name: "L", token: r1.token });
  const r2 = h.ok({ type: "lockAcquire", name: "L", ttl: 10, tryOnly: true });
  assert.ok("token" in r2);
  h.fails({ type: "lockRelease", name: "L", token: r1.token }, "stale_token");
  h.fails(
    { type: "lockRelease", name: "nope", token: r2.token },
    "stale_token",
  );
  assert.equal(h.sm.checkToken("L", r2.token), true);
});

Deno.test("fenced put, delete and txn fail with stale_token unless the token holds the lock", () => {
  const h = new Harness();
  const r1 = h.ok({ type: "lockAcquire", name: "L", ttl: 10, tryOnly: true });
  assert.ok("token" in r1);
  const fence = { lock: "L", token: r1.token };
  h.ok({ type: "put", key: "k", value: "1", fence });
  h.ok({ type: "lockRelease", name: "L", token: r1.token });
  const r2 = h.ok({ type: "lockAcquire", name: "L", ttl: 10, tryOnly: true });
  assert.ok("token" in r2);
  const before = h.sm.snapshot();
  h.fails({ type: "put", key: "k", value: "stale", fence }, "stale_token");
  h.fails({ type: "delete", key: "k", fence }, "stale_token");
  h.fails({
    type: "txn",
    compare: [],
    success: [{ type: "put", key: "k", value: "stale" }],
    failure: [],
    fence,
  }, "stale_token");
  h.fails({
    type: "put",
    key: "k",
    value: "x",
    fence: { lock: "other", token: r2.token },
  }, "stale_token");
  assert.deepEqual(h.sm.snapshot(), before);
  h.ok({
    type: "put",
    key: "k",
    value: "2",
    fence: { lock: "L", token: r2.token },
  });
  assert.equal(h.sm.get("k")?.value, "2");
});

Deno.test("lockDelay holds the lock back after the holder's lease expires, not after release", () => {
  const h = new Harness();
  const changes: LeaseChange[] = [];
  h.sm.onLeaseChanges((cs) => changes.push(...cs));
  // Release: the next waiter gets it at once despite lockDelay.
  const a = h.ok({
    type: "lockAcquire",
    name: "L",
    ttl: 5,
    lockDelay: 1000,
    tryOnly: true,
  });
  assert.ok("token" in a);
  h.ok({
    type: "lockAcquire",
    name: "L",
    ttl: 5,
    waiterId: "w1",
    lockDelay: 1000,
  });
  h.ok({ type: "lockRelease", name: "L", token: a.token });
  const holder = h.sm.lock("L").holder;
  assert.ok(holder);
  assert.deepEqual(h.sm.pendingLockDelays(), []);

  // Expiry: nobody gets it until the leader ends the delay.
  h.ok({ type: "lockAcquire", name: "L", ttl: 5, waiterId: "w2" });
  const lease = h.sm.lease(holder.lease)!;
  const exp = h.ok({
    type: "leaseExpire",
    id: lease.id,
    keepaliveIndex: lease.keepaliveIndex,
  });
  assert.equal(exp.expired, true);
  const info = h.sm.lock("L");
  assert.equal(info.holder, null);
  assert.deepEqual(info.waiters.map((w) => w.waiterId), ["w2"]);
  const pending = h.sm.pendingLockDelays();
  assert.deepEqual(pending, [{
    name: "L",
    delayMs: 1000,
    revision: h.sm.revision,
  }]);
  assert.deepEqual(changes.at(-1), { type: "lockDelayStart", ...pending[0] });
  const held = h.fails({
    type: "lockAcquire",
    name: "L",
    ttl: 5,
    tryOnly: true,
  }, "lock_held");
  assert.equal(held.error.holder, null);
  // A lockDelayEnd for another delay (wrong revision) does nothing.
  assert.equal(
    h.ok({ type: "lockDelayEnd", name: "L", revision: 1 }).ended,
    false,
  );
  assert.equal(h.sm.lock("L").holder, null);
  const end = h.ok({
    type: "lockDelayEnd",
    name: "L",
    revision: pending[0].revision,
  });
  assert.equal(end.ended, true);
  assert.equal(h.sm.lock("L").holder?.token, end.revision);
  assert.deepEqual(h.sm.pendingLockDelays(), []);
  assert.equal(h.ok({ type: "lockDelayEnd", name: "L" }).ended, false);
});

Deno.test("revoke (not expiry) releases without lock-delay", () => {
  const h = new Harness();
  const a = h.ok({
    type: "lockAcquire",
    name: "L",
    ttl: 5,
    lockDelay: 5000,
    tryOnly: true,
  });
  assert.ok("token" in a);
  h.ok({ type: "lockAcquire", name: "L", ttl: 5, waiterId: "w" });
  h.ok({ type: "leaseRevoke", id: a.lease });
  assert.equal(h.sm.lock("L").holder?.owner, "");
  assert.deepEqual(h.sm.pendingLockDelays(), []);
});

/** Lock L, held (grant `a`) with waiters w1 (`w1`) and w2 queued behind. */
function heldWithTwoWaiters() {
  const h = new Harness();
  const a = h.ok({ type: "lockAcquire", name: "L", ttl: 5, tryOnly: true });
  assert.ok("token" in a);
  const w1 = h.ok({ type: "lockAcquire", name: "L", ttl: 5, waiterId: "w1" });
  h.ok({ type: "lockAcquire", name: "L", ttl: 5, waiterId: "w2" });
  assert.ok("queued" in w1);
  return { h, a, w1 };
}

Deno.test("an expired lease's waiters leave the queue", () => {
  const { h, a, w1 } = heldWithTwoWaiters();
  const l = h.sm.lease(w1.lease)!;
  assert.deepEqual(l.waiting, [{ name: "L", waiterId: "w1" }]);
  h.ok({ type: "leaseExpire", id: l.id, keepaliveIndex: l.keepaliveIndex });
  assert.deepEqual(h.sm.lock("L").waiters.map((w) => w.waiterId), ["w2"]);
  h.ok({ type: "lockRelease", name: "L", token: a.token });
  assert.equal(h.sm.lock("L").holder?.lease, h.sm.leases().at(-1)!.id);
});

Deno.test("cancel removes a waiter, or releases a grant its client never saw", () => {
  const { h, a, w1 } = heldWithTwoWaiters();
  assert.deepEqual(h.ok({ type: "lockCancel", name: "L", waiterId: "w1" }), {
    ok: true,
    cancelled: true,
    released: false,
    revision: h.sm.revision,
  });
  assert.deepEqual(h.sm.lock("L").waiters.map((w) => w.waiterId), ["w2"]);
  assert.equal(h.sm.lease(w1.lease), null); // its own lease went with it
  h.fails({ type: "lockCancel", name: "L", waiterId: "w1" }, "not_found");
  h.fails({ type: "lockCancel", name: "nope", waiterId: "w1" }, "not_found");
  // w2 is granted, but its request already timed out: cancel releases.
  h.ok({ type: "lockRelease", name: "L", token: a.token });
  assert.equal(h.sm.lock("L").holder?.token, h.sm.revision);
  const c = h.ok({ type: "lockCancel", name: "L", waiterId: "w2" });
  assert.equal(c.released, true);
  assert.equal(h.sm.lock("L").holder, null);
  assert.deepEqual(h.sm.counts(), {
    keys: 0,
    leases: 0,
    locks: 0,
    waiters: 0,
    historyEvents: 0,
    dedupeEntries: 0,
  });
});

Deno.test("a lease used for a lock and keys keeps both; revoke releases the lock", () => {
  const h = new Harness();
  const lease = h.ok({ type: "leaseGrant", ttl: 30 }).id;
  const r = h.ok({
    type: "lockAcquire",
    name: "L",
    lease,
    owner: "svc",
    tryOnly: true,
  });
  assert.ok("token" in r);
  h.ok({ type: "put", key: "svc/addr", value: "10.0.0.1", lease });
  h.ok({ type: "lockRelease", name: "L", token: r.token });
  // A lease given explicitly is not dropped on release.
  assert.deepEqual(h.sm.lease(lease)?.keys, ["svc/addr"]);
  const r2 = h.ok({ type: "lockAcquire", name: "L", lease, tryOnly: true });
  assert.ok("token" in r2);
  h.ok({ type: "leaseRevoke", id: lease });
  assert.equal(h.sm.lock("L").holder, null);
  assert.equal(h.sm.get("svc/addr"), null);
  assert.equal(h.sm.checkToken("L", r2.token), false);
});
