import assert from "node:assert/strict";
import { encodeCommand, ServiceStateMachine } from "../../src/state/mod.ts";
import { AuthTable } from "../../src/state/auth.ts";
import { encode } from "../../src/codec/msgpack.ts";
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

Deno.test("a retry applies once after 100 000 writes of other clients in the window", () => {
  const sm = new ServiceStateMachine();
  let index = 0;
  const apply = (cmd: Parameters<typeof encodeCommand>[0]) =>
    sm.apply(encodeCommand(cmd), { index: ++index, term: 1 });
  const retried = {
    type: "put" as const,
    key: "account",
    value: "debit 10",
    requestId: { client: "me", seq: 1 },
  };
  const first = apply(retried);
  assert.deepEqual(first, { ok: true, revision: 1 });
  // The leader's clock runs on: a `time` command every second of cluster
  // time, 100 000 other writes (each with its own id) over 9 minutes.
  let now = 0;
  for (let i = 0; i < 100_000; i++) {
    apply({
      type: "put",
      key: `other/${i % 1000}`,
      value: String(i),
      requestId: { client: `client-${i % 5000}`, seq: i },
    });
    if (i % 185 === 0) apply({ type: "time", now: now += 1000 });
  }
  assert.ok(now >= 9 * 60_000 && now < 10 * 60_000, `now ${now}`);
  assert.equal(sm.dedupeStats().entries, 100_001);
  const revision = sm.revision;
  // The retry gets the first result; nothing applies.
  assert.deepEqual(apply(retried), first);
  assert.equal(sm.revision, revision);
  assert.equal(sm.get("account")?.version, 1);
});

Deno.test("a result is kept for the window of cluster time, then forgotten", () => {
  const h = new Harness({ dedupeWindowMs: 60_000 });
  const put = (seq: number) =>
    h.run({
      type: "put",
      key: "k",
      value: String(seq),
      requestId: { client: "c", seq },
    });
  h.ok({ type: "time", now: 5_000 });
  assert.deepEqual(put(1), { ok: true, revision: 1 });
  // Not stamped yet: however late the next `time` command, the window
  // counts from it (it is after the apply).
  h.ok({ type: "time", now: 100_000 });
  assert.equal(h.sm.dedupeStats().oldestStamp, 100_000);
  h.ok({ type: "time", now: 159_999 });
  assert.deepEqual(put(1), { ok: true, revision: 1 });
  // A new leader whose estimate is behind cannot turn time back.
  assert.deepEqual(h.ok({ type: "time", now: 3 }), {
    ok: true,
    now: 159_999,
    forgotten: 0,
  });
  assert.deepEqual(h.ok({ type: "time", now: 160_000 }), {
    ok: true,
    now: 160_000,
    forgotten: 1,
  });
  assert.equal(h.sm.dedupeStats().entries, 0);
  // Past the window the id is new again.
  assert.deepEqual(put(1), { ok: true, revision: 2 });
});

Deno.test("a full table refuses new ids (503) instead of forgetting live ones", () => {
  const h = new Harness({ dedupeMaxEntries: 2, dedupeWindowMs: 1000 });
  const put = (client: string, seq: number) =>
    h.run({
      type: "put",
      key: client,
      value: String(seq),
      requestId: { client, seq },
    });
  assert.deepEqual(put("a", 1), { ok: true, revision: 1 });
  assert.deepEqual(put("b", 1), { ok: true, revision: 2 });
  const refused = put("c", 1);
  assert.equal(refused.ok, false);
  assert.equal(!refused.ok && refused.error.code, "unavailable");
  assert.equal(h.sm.get("c"), null);
  // Kept ids still answer their first result; commands without an id go on.
  assert.deepEqual(put("a", 1), { ok: true, revision: 1 });
  h.ok({ type: "put", key: "free", value: "x" });
  // Once the window has passed, the retry of the refused id applies (once).
  h.ok({ type: "time", now: 10 });
  h.ok({ type: "time", now: 1010 });
  assert.deepEqual(put("c", 1), { ok: true, revision: 4 });
  assert.deepEqual(put("c", 1), { ok: true, revision: 4 });
});

Deno.test("the dedupe table survives snapshot and restore, stamps included", () => {
  const h = new Harness({ dedupeWindowMs: 1000 });
  const first = h.ok({
    type: "leaseGrant",
    ttl: 5,
    requestId: { client: "c", seq: 1 },
  });
  h.ok({ type: "time", now: 500 }); // stamps c/1 at 500
  h.ok({ type: "leaseGrant", ttl: 5, requestId: { client: "c", seq: 2 } });
  const b = new Harness({ dedupeWindowMs: 1000 });
  b.sm.restore(h.sm.snapshot());
  b.index = h.index;
  assert.deepEqual(b.sm.snapshot(), h.sm.snapshot());
  assert.deepEqual(b.sm.dedupeStats(), h.sm.dedupeStats());
  assert.equal(b.sm.clusterTime, 500);
  assert.deepEqual(
    b.run({ type: "leaseGrant", ttl: 5, requestId: { client: "c", seq: 1 } }),
    first,
  );
  assert.equal(b.sm.leases().length, 2);
  // c/1 goes at 1500, c/2 (stamped now, at 1400) at 2400.
  assert.deepEqual(b.ok({ type: "time", now: 1400 }).forgotten, 0);
  assert.deepEqual(b.ok({ type: "time", now: 1500 }).forgotten, 1);
  assert.deepEqual(b.ok({ type: "time", now: 2400 }).forgotten, 1);
});

Deno.test("a version 2 snapshot's remembered results are read as not yet stamped", () => {
  // What a node before format 3 wrote: results per client, no stamps.
  const first = { ok: true, revision: 1 };
  const v2 = encode({
    v: 2,
    revision: 1,
    nextLeaseId: 1,
    compactRevision: 1,
    kvs: [["k", "v", 1, 1, 1, 0]],
    leases: [],
    locks: [],
    history: [[1, "k", 1, "v", 1, 1, 0]],
    dedupe: [["c", [[1, encode(first)]]]],
    auth: new AuthTable().toTuple(),
  });
  const h = new Harness({ dedupeWindowMs: 1000 });
  h.sm.restore(v2);
  h.index = 1;
  assert.equal(h.sm.clusterTime, 0);
  assert.deepEqual(h.sm.alarms(), []);
  assert.deepEqual(h.sm.dedupeStats().fresh, 1);
  const retry = {
    type: "put" as const,
    key: "k",
    value: "again",
    requestId: { client: "c", seq: 1 },
  };
  assert.deepEqual(h.run(retry), first);
  // Stamped by the first time command, kept for the window from then.
  h.ok({ type: "time", now: 5000 });
  h.ok({ type: "time", now: 5999 });
  assert.deepEqual(h.run(retry), first);
  assert.equal(h.ok({ type: "time", now: 6000 }).forgotten, 1);
});
