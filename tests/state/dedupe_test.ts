import assert from "node:assert/strict";
import { Harness } from "./helpers.ts";

Deno.test("a duplicate request gets the first result and applies nothing", () => {
  const h = new Harness();
  const requestId = { client: "c1", seq: 1 };
  const first = h.ok({ type: "put", key: "k", value: "1", requestId });
  let events = 0;
  h.sm.onEvents(() => events++);
  const again = h.run({ type: "put", key: "k", value: "1", requestId });
  assert.deepEqual(again, first);
  assert.equal(h.sm.revision, 1);
  assert.equal(h.sm.get("k")?.version, 1);
  assert.equal(events, 0);
  // Even a different body with the same id answers the first result.
  assert.deepEqual(h.run({ type: "delete", key: "k", requestId }), first);
  // A new seq applies.
  assert.deepEqual(
    h.ok({
      type: "put",
      key: "k",
      value: "2",
      requestId: { client: "c1", seq: 2 },
    }),
    {
      ok: true,
      revision: 2,
    },
  );
  // Failures are remembered too.
  const fail = h.fails(
    {
      type: "put",
      key: "k",
      value: "x",
      ifVersion: 0,
      requestId: { client: "c2", seq: 1 },
    },
    "conflict",
  );
  h.ok({ type: "delete", key: "k" });
  assert.deepEqual(
    h.run({
      type: "put",
      key: "k",
      value: "x",
      ifVersion: 0,
      requestId: { client: "c2", seq: 1 },
    }),
    fail,
  );
  assert.equal(h.sm.get("k"), null);
});

Deno.test("a retried lock acquire does not queue twice or mint a second token", () => {
  const h = new Harness();
  const r1 = h.ok({
    type: "lockAcquire",
    name: "L",
    ttl: 5,
    waiterId: "w",
    requestId: { client: "c", seq: 7 },
  });
  const r2 = h.ok({
    type: "lockAcquire",
    name: "L",
    ttl: 5,
    waiterId: "w",
    requestId: { client: "c", seq: 7 },
  });
  assert.deepEqual(r2, r1);
  assert.equal(h.sm.leases().length, 1);
  assert.equal(h.sm.revision, 1);
});

Deno.test("the table is bounded per client and in clients, evicting by log order", () => {
  const h = new Harness({ dedupePerClient: 2, dedupeMaxClients: 2 });
  const put = (client: string, seq: number) =>
    h.run({
      type: "put",
      key: `${client}`,
      value: String(seq),
      requestId: { client, seq },
    });
  put("a", 1); // rev 1
  put("a", 2); // rev 2
  put("a", 3); // rev 3: evicts a/1
  assert.deepEqual(put("a", 2), { ok: true, revision: 2 }); // remembered
  assert.deepEqual(put("a", 1), { ok: true, revision: 4 }); // forgotten: applies
  put("b", 1); // rev 5
  put("a", 3); // duplicate: touches a, so b is now least recently used
  put("c", 1); // rev 6: evicts b
  assert.equal(h.sm.counts().dedupeClients, 2);
  assert.deepEqual(put("b", 1), { ok: true, revision: 7 });
  assert.deepEqual(put("c", 1), { ok: true, revision: 6 });
});

Deno.test("the dedupe table survives snapshot and restore", () => {
  const h = new Harness();
  const first = h.ok({
    type: "leaseGrant",
    ttl: 5,
    requestId: { client: "c", seq: 1 },
  });
  const b = new Harness();
  b.sm.restore(h.sm.snapshot());
  b.index = h.index;
  assert.deepEqual(
    b.run({ type: "leaseGrant", ttl: 5, requestId: { client: "c", seq: 1 } }),
    first,
  );
  assert.equal(b.sm.leases().length, 1);
});
