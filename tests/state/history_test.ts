import assert from "node:assert/strict";
import { History, type PutEvent } from "../../src/state/history.ts";
import { Harness } from "./helpers.ts";

function put(key: string, revision: number, value = "v"): PutEvent {
  return {
    type: "put",
    key,
    value,
    modRevision: revision,
    revision,
    createRevision: revision,
    version: 1,
  };
}

Deno.test("eventsSince returns events after the revision, in order, filtered", () => {
  const h = new Harness();
  h.ok({ type: "put", key: "a/1", value: "x" }); // 1
  h.ok({ type: "put", key: "b", value: "y" }); // 2
  h.ok({ type: "put", key: "a/2", value: "z" }); // 3
  h.ok({ type: "delete", key: "a/1" }); // 4
  const all = h.sm.eventsSince(0);
  assert.ok(!all.compacted);
  assert.deepEqual(all.events, [
    {
      type: "put",
      key: "a/1",
      value: "x",
      modRevision: 1,
      revision: 1,
      createRevision: 1,
      version: 1,
    },
    {
      type: "put",
      key: "b",
      value: "y",
      modRevision: 2,
      revision: 2,
      createRevision: 2,
      version: 1,
    },
    {
      type: "put",
      key: "a/2",
      value: "z",
      modRevision: 3,
      revision: 3,
      createRevision: 3,
      version: 1,
    },
    { type: "delete", key: "a/1", modRevision: 4, revision: 4 },
  ]);
  const since2 = h.sm.eventsSince(2, { prefix: "a/" });
  assert.ok(!since2.compacted);
  assert.deepEqual(since2.events.map((e) => [e.type, e.key, e.revision]), [
    ["put", "a/2", 3],
    ["delete", "a/1", 4],
  ]);
  const key = h.sm.eventsSince(0, { key: "b" });
  assert.ok(!key.compacted);
  assert.deepEqual(key.events.map((e) => e.revision), [2]);
  const none = h.sm.eventsSince(4);
  assert.deepEqual(none, { compacted: false, events: [] });
  assert.deepEqual(h.sm.eventsSince(100), { compacted: false, events: [] });
});

Deno.test("the ring is bounded and answers compacted for evicted revisions", () => {
  const h = new Harness({ historySize: 5 });
  for (let i = 1; i <= 8; i++) h.ok({ type: "put", key: `k${i}`, value: "v" });
  // Events 4..8 kept; revisions 1..3 gone.
  assert.equal(h.sm.counts().historyEvents, 5);
  assert.equal(h.sm.compactRevision, 4);
  assert.deepEqual(h.sm.eventsSince(2), {
    compacted: true,
    compactRevision: 4,
  });
  assert.deepEqual(h.sm.eventsSince(0, { key: "k8" }), {
    compacted: true,
    compactRevision: 4,
  });
  const ok = h.sm.eventsSince(3);
  assert.ok(!ok.compacted);
  assert.deepEqual(ok.events.map((e) => e.revision), [4, 5, 6, 7, 8]);
});

Deno.test("a revision partly evicted counts as compacted", () => {
  const ring = new History(3, 1 << 30);
  ring.append(put("a", 1));
  ring.append(put("b", 2));
  ring.append(put("c", 2));
  ring.append(put("d", 3)); // evicts a@1
  assert.equal(ring.compactRevision, 2);
  ring.append(put("e", 4)); // evicts b@2, c@2 remains
  assert.equal(ring.compactRevision, 3);
  assert.deepEqual(ring.since(1), { compacted: true, compactRevision: 3 });
  const r = ring.since(2);
  assert.ok(!r.compacted);
  assert.deepEqual(r.events.map((e) => e.key), ["d", "e"]);
});

Deno.test("the ring is also bounded by bytes, keeping the newest event", () => {
  const ring = new History(100, 1000);
  for (let i = 1; i <= 10; i++) {
    ring.append(put(`k${i}`, i, "x".repeat(300)));
  }
  assert.ok(ring.size >= 1 && ring.size <= 3);
  assert.equal(ring.toArray().at(-1)?.key, "k10");
  ring.append(put("huge", 11, "x".repeat(5000)));
  assert.deepEqual(ring.toArray().map((e) => e.key), ["huge"]);
  assert.equal(ring.compactRevision, 11);
});

Deno.test("onEvents is called synchronously after each apply; unsubscribe stops it", () => {
  const h = new Harness();
  const batches: number[][] = [];
  const stop = h.sm.onEvents((events) =>
    batches.push(events.map((e) => e.revision))
  );
  h.ok({ type: "put", key: "a", value: "1" });
  assert.deepEqual(batches, [[1]]);
  h.ok({ type: "leaseGrant", ttl: 5 }); // no key events: no call
  h.ok({
    type: "txn",
    compare: [],
    success: [{ type: "put", key: "a", value: "2" }, {
      type: "put",
      key: "b",
      value: "2",
    }],
    failure: [],
  });
  assert.deepEqual(batches, [[1], [2, 2]]);
  stop();
  h.ok({ type: "put", key: "c", value: "1" });
  assert.equal(batches.length, 2);
});

Deno.test("a throwing listener does not break apply", () => {
  const h = new Harness();
  const err = console.error;
  console.error = () => {};
  try {
    h.sm.onEvents(() => {
      throw new Error("boom");
    });
    assert.deepEqual(h.ok({ type: "put", key: "a", value: "1" }), {
      ok: true,
      revision: 1,
    });
  } finally {
    console.error = err;
  }
  assert.equal(h.sm.get("a")?.value, "1");
});

Deno.test("the history survives snapshot and restore", () => {
  const h = new Harness({ historySize: 4 });
  for (let i = 1; i <= 6; i++) {
    h.ok({ type: "put", key: `k${i}`, value: String(i) });
  }
  const b = new Harness({ historySize: 4 });
  let restored = -1;
  b.sm.onRestore((rev) => restored = rev);
  b.sm.restore(h.sm.snapshot());
  assert.equal(restored, 6);
  assert.deepEqual(b.sm.eventsSince(2), h.sm.eventsSince(2));
  assert.deepEqual(b.sm.eventsSince(1), {
    compacted: true,
    compactRevision: 3,
  });
});
