import assert from "node:assert/strict";
import type { RwlockMode } from "../../src/wire/types.ts";
import { Harness } from "./helpers.ts";

function acquire(h: Harness, waiterId: string, mode: RwlockMode) {
  return h.run({
    type: "rwlockAcquire",
    name: "R",
    mode,
    ttl: 10,
    waiterId,
    owner: waiterId,
  });
}

function holders(h: Harness): string[] {
  return h.sm.rwlock("R").holders.map((x) => `${x.mode[0]}:${x.owner}`);
}

function waiting(h: Harness): string[] {
  return h.sm.rwlock("R").waiters.map((x) => `${x.mode[0]}:${x.owner}`);
}

Deno.test("rwlock: many readers or one writer", () => {
  const h = new Harness();
  const r1 = acquire(h, "r1", "read");
  const r2 = acquire(h, "r2", "read");
  assert.ok(r1.ok && "token" in r1 && r2.ok && "token" in r2);
  assert.deepEqual(r1, {
    ok: true,
    name: "R",
    token: 1,
    lease: 1,
    mode: "read",
    owner: "r1",
  });
  assert.equal(h.sm.rwlock("R").mode, "read");
  const w = acquire(h, "w", "write");
  assert.ok(w.ok && "queued" in w);
  h.fails(
    { type: "rwlockAcquire", name: "R", mode: "write", ttl: 5, tryOnly: true },
    "lock_held",
  );
  h.ok({ type: "rwlockRelease", name: "R", token: r1.token });
  assert.deepEqual(holders(h), ["r:r2"]);
  h.ok({ type: "rwlockRelease", name: "R", token: r2.token });
  assert.deepEqual(holders(h), ["w:w"]);
  assert.equal(h.sm.rwlock("R").mode, "write");
  const r3 = acquire(h, "r3", "read");
  assert.ok(r3.ok && "queued" in r3);
  assert.deepEqual(h.sm.invariantViolations(), []);
});

Deno.test("rwlock: a waiting writer blocks later readers and is not starved", () => {
  const h = new Harness();
  const r1 = acquire(h, "r1", "read");
  assert.ok(r1.ok && "token" in r1);
  acquire(h, "w1", "write");
  // Would fit (only readers hold) but a writer waits ahead: queued.
  const r2 = acquire(h, "r2", "read");
  assert.ok(r2.ok && "queued" in r2);
  acquire(h, "r3", "read");
  acquire(h, "w2", "write");
  acquire(h, "r4", "read");
  assert.deepEqual(waiting(h), ["w:w1", "r:r2", "r:r3", "w:w2", "r:r4"]);
  h.ok({ type: "rwlockRelease", name: "R", token: r1.token });
  assert.deepEqual(holders(h), ["w:w1"]);
  const w1 = h.sm.rwlock("R").holders[0].token;
  h.ok({ type: "rwlockRelease", name: "R", token: w1 });
  // The readers queued together behind w1 go in together; w2 waits.
  assert.deepEqual(holders(h), ["r:r2", "r:r3"]);
  assert.deepEqual(waiting(h), ["w:w2", "r:r4"]);
  for (const x of h.sm.rwlock("R").holders) {
    h.ok({ type: "rwlockRelease", name: "R", token: x.token });
  }
  assert.deepEqual(holders(h), ["w:w2"]);
  assert.deepEqual(h.sm.invariantViolations(), []);
});

Deno.test("rwlock: tokens fence writes; an expired holder's do not", () => {
  const h = new Harness();
  const lease = h.ok({ type: "leaseGrant", ttl: 5 }).id;
  const w = h.ok({
    type: "rwlockAcquire",
    name: "R",
    mode: "write",
    lease,
    tryOnly: true,
  });
  assert.ok("token" in w);
  const r = acquire(h, "r", "read");
  assert.ok(r.ok && "queued" in r);
  h.ok({
    type: "txn",
    compare: [],
    success: [{ type: "put", key: "k", value: "1" }],
    failure: [],
    fence: { rwlock: "R", token: w.token },
  });
  h.ok({
    type: "leaseExpire",
    id: lease,
    keepaliveIndex: h.sm.lease(lease)!.keepaliveIndex,
  });
  assert.deepEqual(holders(h), ["r:r"]);
  const stale = h.fails(
    {
      type: "txn",
      compare: [],
      success: [{ type: "put", key: "k", value: "2" }],
      failure: [],
      fence: { rwlock: "R", token: w.token },
    },
    "stale_token",
  );
  assert.match(stale.error.message, /does not hold read-write lock 'R'/);
  assert.equal(h.sm.get("k")?.value, "1");
  // A reader's token fences too.
  const reader = h.sm.rwlock("R").holders[0].token;
  h.ok({
    type: "put",
    key: "k",
    value: "3",
    fence: { rwlock: "R", token: reader },
  });
  // A fence names exactly one kind.
  h.fails(
    {
      type: "put",
      key: "k",
      value: "4",
      fence: { rwlock: "R", lock: "R", token: reader } as never,
    },
    "bad_request",
  );
  assert.deepEqual(h.sm.invariantViolations(), []);
});

Deno.test("rwlock: mode is read or write", () => {
  const h = new Harness();
  h.fails(
    {
      type: "rwlockAcquire",
      name: "R",
      mode: "both" as never,
      ttl: 5,
      tryOnly: true,
    },
    "bad_request",
  );
});
