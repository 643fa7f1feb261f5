import assert from "node:assert/strict";
import { Harness } from "./helpers.ts";

function acquire(
  h: Harness,
  waiterId: string,
  permits: number,
  extra: Record<string, unknown> = {},
) {
  return h.run({
    type: "semaphoreAcquire",
    name: "S",
    limit: 3,
    permits,
    ttl: 10,
    waiterId,
    owner: waiterId,
    ...extra,
  });
}

function assertBalanced(h: Harness) {
  const s = h.sm.semaphore("S");
  const held = s.holders.reduce((n, x) => n + x.permits, 0);
  assert.equal(s.held, held);
  assert.equal(s.held + s.free, s.limit);
  assert.deepEqual(h.sm.invariantViolations(), []);
}

Deno.test("semaphore: grants while permits are free, then queues FIFO", () => {
  const h = new Harness();
  const a = acquire(h, "a", 2);
  const b = acquire(h, "b", 1);
  assert.ok(a.ok && "token" in a && b.ok && "token" in b);
  assert.deepEqual(a, {
    ok: true,
    name: "S",
    token: 1,
    lease: 1,
    permits: 2,
    owner: "a",
  });
  assert.equal(b.token, 2);
  const c = acquire(h, "c", 1);
  assert.ok(c.ok && "queued" in c);
  assert.equal(c.position, 1);
  assert.deepEqual(h.sm.semaphore("S"), {
    name: "S",
    limit: 3,
    held: 3,
    free: 0,
    holders: [
      { token: 1, lease: 1, permits: 2, owner: "a" },
      { token: 2, lease: 2, permits: 1, owner: "b" },
    ],
    waiters: [{ waiterId: "c", lease: 3, permits: 1, owner: "c" }],
  });
  assertBalanced(h);
  const r = h.ok({ type: "semaphoreRelease", name: "S", token: 2 });
  assert.deepEqual(r, { ok: true, released: true, revision: 3 });
  assert.deepEqual(h.sm.semaphore("S").holders.map((x) => x.owner), ["a", "c"]);
  h.fails({ type: "semaphoreRelease", name: "S", token: 2 }, "stale_token");
  assertBalanced(h);
});

Deno.test("semaphore: a big request at the head is not starved by small ones", () => {
  const h = new Harness();
  const a = acquire(h, "a", 1);
  const b = acquire(h, "b", 1);
  assert.ok(a.ok && "token" in a && b.ok && "token" in b);
  // Big wants all 3: it waits, and the small ones behind it wait too, even
  // though one permit is free.
  const big = acquire(h, "big", 3);
  assert.ok(big.ok && "queued" in big);
  const small = acquire(h, "small", 1);
  assert.ok(small.ok && "queued" in small);
  assert.equal(h.sm.semaphore("S").free, 1);
  const tried = h.fails(
    {
      type: "semaphoreAcquire",
      name: "S",
      limit: 3,
      ttl: 5,
      tryOnly: true,
    },
    "lock_held",
  );
  assert.match(tried.error.message, /1 waiter|waiter\(s\) ahead/);
  h.ok({ type: "semaphoreRelease", name: "S", token: a.token });
  assert.deepEqual(
    h.sm.semaphore("S").waiters.map((w) => w.owner),
    ["big", "small"],
  );
  h.ok({ type: "semaphoreRelease", name: "S", token: b.token });
  // Now big fits: granted; small still waits behind it.
  const s = h.sm.semaphore("S");
  assert.deepEqual(s.holders.map((x) => [x.owner, x.permits]), [["big", 3]]);
  assert.deepEqual(s.waiters.map((w) => w.owner), ["small"]);
  assertBalanced(h);
});

Deno.test("semaphore: cancelling the head lets the ones behind it in", () => {
  const h = new Harness();
  acquire(h, "a", 2);
  acquire(h, "big", 3);
  acquire(h, "small", 1);
  assert.deepEqual(h.sm.semaphore("S").waiters.map((w) => w.owner), [
    "big",
    "small",
  ]);
  const c = h.ok({ type: "semaphoreCancel", name: "S", waiterId: "big" });
  assert.equal(c.released, false);
  assert.deepEqual(
    h.sm.semaphore("S").holders.map((x) => x.owner),
    ["a", "small"],
  );
  assertBalanced(h);
  // The head's lease expiring does the same.
  const h2 = new Harness();
  acquire(h2, "a", 2);
  const big = acquire(h2, "big", 3);
  acquire(h2, "small", 1);
  assert.ok(big.ok && "queued" in big);
  const ka = h2.sm.lease(big.lease)!.keepaliveIndex;
  h2.ok({ type: "leaseExpire", id: big.lease, keepaliveIndex: ka });
  assert.deepEqual(
    h2.sm.semaphore("S").holders.map((x) => x.owner),
    ["a", "small"],
  );
  assertBalanced(h2);
});

Deno.test("semaphore: permits of an expired lease come back", () => {
  const h = new Harness();
  const lease = h.ok({ type: "leaseGrant", ttl: 5 }).id;
  const a = h.ok({
    type: "semaphoreAcquire",
    name: "S",
    limit: 3,
    permits: 2,
    lease,
    tryOnly: true,
  });
  // One lease, two grants on the same semaphore.
  const a2 = h.ok({
    type: "semaphoreAcquire",
    name: "S",
    limit: 3,
    lease,
    tryOnly: true,
  });
  assert.ok("token" in a && "token" in a2);
  const w = acquire(h, "w", 2);
  assert.ok(w.ok && "queued" in w);
  h.ok({
    type: "put",
    key: "k",
    value: "1",
    fence: { semaphore: "S", token: a.token },
  });
  h.ok({
    type: "leaseExpire",
    id: lease,
    keepaliveIndex: h.sm.lease(lease)!.keepaliveIndex,
  });
  const s = h.sm.semaphore("S");
  assert.deepEqual(s.holders.map((x) => [x.owner, x.permits]), [["w", 2]]);
  assert.equal(s.free, 1);
  h.fails(
    {
      type: "put",
      key: "k",
      value: "2",
      fence: { semaphore: "S", token: a.token },
    },
    "stale_token",
  );
  assertBalanced(h);
});

Deno.test("semaphore: the first acquirer fixes the limit until it is idle", () => {
  const h = new Harness();
  const a = acquire(h, "a", 1);
  assert.ok(a.ok && "token" in a);
  const other = h.fails(
    {
      type: "semaphoreAcquire",
      name: "S",
      limit: 5,
      ttl: 5,
      tryOnly: true,
    },
    "conflict",
  );
  assert.equal(other.error.message, "Semaphore 'S' has limit 3, not 5");
  h.ok({ type: "semaphoreRelease", name: "S", token: a.token });
  assert.deepEqual(h.sm.semaphores(), []);
  assert.equal(h.sm.semaphore("S").limit, 0);
  const b = h.ok({
    type: "semaphoreAcquire",
    name: "S",
    limit: 5,
    ttl: 5,
    tryOnly: true,
  });
  assert.ok("token" in b);
  assert.equal(h.sm.semaphore("S").limit, 5);
  // More permits than the limit can never be granted: refused.
  h.fails(
    {
      type: "semaphoreAcquire",
      name: "S",
      limit: 5,
      permits: 6,
      ttl: 5,
      tryOnly: true,
    },
    "bad_request",
  );
  h.fails(
    {
      type: "semaphoreAcquire",
      name: "S",
      limit: 0,
      ttl: 5,
      tryOnly: true,
    },
    "bad_request",
  );
});
