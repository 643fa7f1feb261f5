import assert from "node:assert/strict";
import { decode, encode } from "../../src/codec/msgpack.ts";
import {
  type LeaseChange,
  ServiceStateMachine,
  type WatchEvent,
} from "../../src/state/mod.ts";
import { Harness } from "./helpers.ts";

Deno.test("put with ttl: one command makes the key's own lease and attaches it", () => {
  const h = new Harness();
  const changes: LeaseChange[] = [];
  h.sm.onLeaseChanges((c) => changes.push(...c));
  const r = h.ok({ type: "put", key: "k", value: "v", ttl: 5 });
  assert.deepEqual(r, { ok: true, revision: 1, lease: 1 });
  assert.equal(h.sm.get("k")?.lease, 1);
  assert.deepEqual(h.sm.lease(1)?.keys, ["k"]);
  assert.equal(h.sm.lease(1)?.ttl, 5);
  assert.deepEqual(changes, [
    { type: "grant", id: 1, ttl: 5, keepaliveIndex: 1 },
  ]);
  h.fails(
    { type: "put", key: "k", value: "v", ttl: 5, lease: 1 },
    "bad_request",
  );
  h.fails({ type: "put", key: "k", value: "v", ttl: 0 }, "bad_request");
});

Deno.test("put with ttl again: keeps the key's own lease alive with the new TTL", () => {
  const h = new Harness();
  const changes: LeaseChange[] = [];
  h.sm.onLeaseChanges((c) => changes.push(...c));
  h.ok({ type: "put", key: "k", value: "v1", ttl: 5 });
  const r = h.ok({ type: "put", key: "k", value: "v2", ttl: 30 });
  assert.deepEqual(r, { ok: true, revision: 2, lease: 1 });
  assert.equal(h.sm.lease(1)?.ttl, 30);
  assert.equal(h.sm.lease(1)?.keepaliveIndex, 2);
  assert.deepEqual(changes.at(-1), {
    type: "keepalive",
    id: 1,
    ttl: 30,
    keepaliveIndex: 2,
  });
  // A stale expiry (decided before this put) is ignored.
  const late = h.ok({ type: "leaseExpire", id: 1, keepaliveIndex: 1 });
  assert.equal(late.expired, false);
  assert.equal(h.sm.get("k")?.value, "v2");
  assert.equal(h.sm.leases().length, 1);
});

Deno.test("a key with a ttl disappears when its lease expires: a delete event", () => {
  const h = new Harness();
  const events: WatchEvent[] = [];
  h.sm.onEvents((es) => events.push(...es));
  h.ok({ type: "put", key: "k", value: "v", ttl: 5 });
  const ka = h.sm.lease(1)!.keepaliveIndex;
  const e = h.ok({ type: "leaseExpire", id: 1, keepaliveIndex: ka });
  assert.deepEqual(e, {
    ok: true,
    id: 1,
    expired: true,
    deleted: 1,
    revision: 2,
  });
  assert.equal(h.sm.get("k"), null);
  assert.deepEqual(events.map((x) => [x.type, x.key, x.revision]), [
    ["put", "k", 1],
    ["delete", "k", 2],
  ]);
  assert.equal(h.sm.leases().length, 0);
});

Deno.test("the key's own lease goes when the key is deleted or put without ttl", () => {
  const h = new Harness();
  const changes: LeaseChange[] = [];
  h.sm.onLeaseChanges((c) => changes.push(...c));
  h.ok({ type: "put", key: "a", value: "v", ttl: 5 }); // lease 1
  h.ok({ type: "put", key: "b", value: "v", ttl: 5 }); // lease 2
  h.ok({ type: "delete", key: "a" });
  assert.equal(h.sm.lease(1), null);
  h.ok({ type: "put", key: "b", value: "w" }); // no ttl: detached, dropped
  assert.equal(h.sm.lease(2), null);
  assert.equal(h.sm.get("b")?.lease, undefined);
  assert.deepEqual(
    changes.flatMap((c) => c.type === "revoke" ? [c.id] : []),
    [1, 2],
  );
  // A put with ttl on a key attached to a lease the user made: a new own
  // lease; the user's lease is only detached, never dropped.
  const user = h.ok({ type: "leaseGrant", ttl: 60 }).id;
  h.ok({ type: "put", key: "c", value: "v", lease: user });
  const r = h.ok({ type: "put", key: "c", value: "v", ttl: 5 });
  assert.notEqual(r.lease, user);
  assert.ok(h.sm.lease(user));
  assert.deepEqual(h.sm.lease(user)?.keys, []);
  // A key's own lease that also holds another key stays with it.
  h.ok({ type: "put", key: "d", value: "v", lease: r.lease });
  h.ok({ type: "delete", key: "c" });
  assert.deepEqual(h.sm.lease(r.lease!)?.keys, ["d"]);
});

Deno.test("key-owned leases survive a snapshot", () => {
  const h = new Harness();
  h.ok({ type: "put", key: "k", value: "v1", ttl: 5 });
  const copy = new Harness();
  copy.sm.restore(h.sm.snapshot());
  copy.index = h.index;
  // The restored lease is still the key's own: renewed, not replaced.
  const r = copy.ok({ type: "put", key: "k", value: "v2", ttl: 7 });
  assert.equal(r.lease, 1);
  assert.equal(copy.sm.lease(1)?.ttl, 7);
  copy.ok({ type: "delete", key: "k" });
  assert.equal(copy.sm.lease(1), null);
});

Deno.test("a version 2 snapshot (leases without an owner key, no recipes) restores", () => {
  const h = new Harness();
  const lease = h.ok({ type: "leaseGrant", ttl: 9 }).id;
  h.ok({ type: "put", key: "k", value: "v", lease });
  h.ok({
    type: "lockAcquire",
    name: "L",
    lease,
    tryOnly: true,
  });
  const v3 = decode<Record<string, unknown>>(h.sm.snapshot());
  assert.equal(v3.v, 3);
  const v2: Record<string, unknown> = { ...v3, v: 2 };
  delete v2.elections;
  delete v2.semaphores;
  delete v2.rwlocks;
  v2.leases = (v3.leases as unknown[][]).map((t) => t.slice(0, 3));
  const b = new ServiceStateMachine();
  b.restore(encode(v2));
  assert.equal(b.get("k")?.lease, lease);
  assert.deepEqual(b.lease(lease)?.locks, ["L"]);
  assert.deepEqual(b.elections(), []);
  // Written again as version 3, it is the original snapshot.
  assert.deepEqual(b.snapshot(), h.sm.snapshot());
  // A version 3 snapshot whose leases lack the owner key is damage.
  assert.throws(
    () => b.restore(encode({ ...v2, v: 3 })),
    /malformed/,
  );
});
