/**
 * The register model on hand-made histories: stale reads, write orders seen
 * differently by clients, timed-out and failed writes, CAS, deletes.
 */

import assert from "node:assert/strict";
import {
  check,
  type CheckResult,
  HistoryRecorder,
  registerModel,
} from "../../src/check/mod.ts";
import { Hist, r, STEP_BUDGET } from "./helpers.ts";

function verdict(h: Hist, options = {}): CheckResult {
  return check(h.events(), registerModel(options), STEP_BUDGET);
}

Deno.test("register: a read after a completed write sees it", () => {
  const h = new Hist()
    .ok("c1", r.write("x", 1), 0, 1)
    .ok("c2", r.read("x"), 2, 3, 1);
  assert.equal(verdict(h).result, "ok");
});

Deno.test("register: a read before any write sees nothing", () => {
  const h = new Hist()
    .ok("c2", r.read("x"), 0, 1, null)
    .ok("c1", r.write("x", 1), 2, 3);
  assert.equal(verdict(h).result, "ok");
  const bad = new Hist()
    .ok("c2", r.read("x"), 0, 1, 1)
    .ok("c1", r.write("x", 1), 2, 3);
  assert.equal(verdict(bad).result, "illegal");
});

Deno.test("register: a stale read after a completed write is illegal", () => {
  const h = new Hist()
    .ok("c1", r.write("x", 1), 0, 1)
    .ok("c1", r.write("x", 2), 2, 3)
    .ok("c2", r.read("x"), 4, 5, 1);
  const res = verdict(h);
  assert.equal(res.result, "illegal");
  assert.equal(res.failure?.key, "x");
  assert.deepEqual(
    res.failure?.operations.map((o) => o.label),
    ["write(x, 1)", "write(x, 2)", "read(x) → 1"],
  );
  assert.equal(res.failure?.minimal, true);
  assert.equal(res.failure?.blocked?.label, "read(x) → 1");
});

Deno.test("register: a read concurrent with a write may see either value", () => {
  for (const seen of [1, 2]) {
    const h = new Hist()
      .ok("c1", r.write("x", 1), 0, 1)
      .ok("c1", r.write("x", 2), 2, 6)
      .ok("c2", r.read("x"), 3, 4, seen);
    assert.equal(verdict(h).result, "ok", `read ${seen}`);
  }
});

Deno.test("register: clients seeing two concurrent writes in both orders is illegal", () => {
  const h = new Hist()
    .ok("c1", r.write("x", 1), 0, 10)
    .ok("c2", r.write("x", 2), 0, 10)
    .ok("c3", r.read("x"), 1, 2, 1)
    .ok("c3", r.read("x"), 3, 4, 2)
    .ok("c4", r.read("x"), 1, 2, 2)
    .ok("c4", r.read("x"), 3, 4, 1);
  const res = verdict(h);
  assert.equal(res.result, "illegal");
  assert.equal(res.failure?.minimal, true);
  // Both writes and (at least) one contradicting pair of reads.
  assert.ok(res.failure!.operations.length >= 4);
});

Deno.test("register: concurrent writes seen in one order by everyone are fine", () => {
  const h = new Hist()
    .ok("c1", r.write("x", 1), 0, 10)
    .ok("c2", r.write("x", 2), 0, 10)
    .ok("c3", r.read("x"), 1, 2, 1)
    .ok("c3", r.read("x"), 3, 4, 2)
    .ok("c4", r.read("x"), 1, 2, 1)
    .ok("c4", r.read("x"), 5, 6, 2)
    .ok("c5", r.read("x"), 11, 12, 2);
  assert.equal(verdict(h).result, "ok");
});

Deno.test("register: a read of a timed-out write's value is linearizable", () => {
  const h = new Hist()
    .ok("c1", r.write("x", 1), 0, 1)
    .info("c2", r.write("x", 2), 2, 5)
    .ok("c3", r.read("x"), 3, 4, 1)
    .ok("c3", r.read("x"), 10, 11, 2)
    .ok("c4", r.read("x"), 12, 13, 2);
  assert.equal(verdict(h).result, "ok");
});

Deno.test("register: a timed-out write may also never take effect", () => {
  const h = new Hist()
    .ok("c1", r.write("x", 1), 0, 1)
    .info("c2", r.write("x", 2), 2, 5)
    .ok("c3", r.read("x"), 100, 101, 1);
  assert.equal(verdict(h).result, "ok");
});

Deno.test("register: a timed-out write takes effect at most once", () => {
  const h = new Hist()
    .ok("c1", r.write("x", 1), 0, 1)
    .info("c2", r.write("x", 2), 2, 5)
    .ok("c3", r.read("x"), 10, 11, 2)
    .ok("c3", r.write("x", 3), 12, 13)
    .ok("c3", r.read("x"), 14, 15, 2);
  assert.equal(verdict(h).result, "illegal");
});

Deno.test("register: a timed-out write cannot take effect before it was invoked", () => {
  const h = new Hist()
    .ok("c3", r.read("x"), 0, 1, 2)
    .info("c2", r.write("x", 2), 2, 5);
  assert.equal(verdict(h).result, "illegal");
});

Deno.test("register: a read of a failed write's value is illegal", () => {
  const h = new Hist()
    .ok("c1", r.write("x", 1), 0, 1)
    .fail("c2", r.write("x", 2), 2, 3)
    .ok("c3", r.read("x"), 4, 5, 2);
  const res = verdict(h);
  assert.equal(res.result, "illegal");
  // The failed write is not part of the witness: it did not happen.
  assert.ok(res.failure!.operations.every((o) => o.status === "ok"));
  assert.ok(res.failure!.operations.some((o) => o.label === "read(x) → 2"));
});

Deno.test("register: two CAS from the same value cannot both succeed", () => {
  const h = new Hist()
    .ok("c0", r.write("x", 0), 0, 1)
    .ok("c1", r.cas("x", 0, 1), 2, 5, true)
    .ok("c2", r.cas("x", 0, 2), 2, 5, true);
  const res = verdict(h);
  assert.equal(res.result, "illegal");
  assert.equal(res.failure?.operations.length, 3);
  // One of them failing is fine.
  const fine = new Hist()
    .ok("c0", r.write("x", 0), 0, 1)
    .ok("c1", r.cas("x", 0, 1), 2, 5, true)
    .ok("c2", r.cas("x", 0, 2), 2, 5, false)
    .ok("c3", r.read("x"), 6, 7, 1);
  assert.equal(verdict(fine).result, "ok");
});

Deno.test("register: a CAS chain is linearizable in its order", () => {
  const h = new Hist()
    .ok("c1", r.cas("x", null, "a"), 0, 5, true)
    .ok("c2", r.cas("x", "a", "b"), 0, 5, true)
    .ok("c3", r.cas("x", "b", "c"), 0, 5, true)
    .ok("c4", r.read("x"), 6, 7, "c");
  assert.equal(verdict(h).result, "ok");
});

Deno.test("register: a CAS that fails on a matching value is illegal", () => {
  const h = new Hist()
    .ok("c0", r.write("x", 0), 0, 1)
    .ok("c1", r.cas("x", 0, 1), 2, 3, false);
  assert.equal(verdict(h).result, "illegal");
});

Deno.test("register: a timed-out CAS may have swapped", () => {
  const h = new Hist()
    .ok("c0", r.write("x", 0), 0, 1)
    .info("c1", r.cas("x", 0, 1), 2, 3)
    .ok("c2", r.read("x"), 4, 5, 1);
  assert.equal(verdict(h).result, "ok");
  // ...but only if the expected value was there.
  const bad = new Hist()
    .ok("c0", r.write("x", 5), 0, 1)
    .info("c1", r.cas("x", 0, 1), 2, 3)
    .ok("c2", r.read("x"), 4, 5, 1);
  assert.equal(verdict(bad).result, "illegal");
});

Deno.test("register: delete makes the key absent", () => {
  const h = new Hist()
    .ok("c1", r.write("x", 1), 0, 1)
    .ok("c1", r.del("x"), 2, 3)
    .ok("c2", r.read("x"), 4, 5, null);
  assert.equal(verdict(h).result, "ok");
  const bad = new Hist()
    .ok("c1", r.write("x", 1), 0, 1)
    .ok("c1", r.del("x"), 2, 3)
    .ok("c2", r.read("x"), 4, 5, 1);
  assert.equal(verdict(bad).result, "illegal");
});

Deno.test("register: keys are independent partitions", () => {
  const h = new Hist()
    .ok("c1", r.write("x", 1), 0, 1)
    .ok("c1", r.write("y", 1), 2, 3)
    .ok("c2", r.read("y"), 4, 5, 1)
    .ok("c2", r.read("x"), 6, 7, 1)
    .ok("c2", r.read("z"), 6, 7, null);
  const res = verdict(h);
  assert.equal(res.result, "ok");
  assert.equal(res.partitions, 3);
  assert.equal(res.partitionsChecked, 3);
});

Deno.test("register: values compare as JSON with sorted keys", () => {
  const h = new Hist()
    .ok("c1", r.write("x", { a: 1, b: [1, 2] }), 0, 1)
    .ok("c2", r.read("x"), 2, 3, { b: [1, 2], a: 1 });
  assert.equal(verdict(h).result, "ok");
  const bad = new Hist()
    .ok("c1", r.write("x", "1"), 0, 1)
    .ok("c2", r.read("x"), 2, 3, 1);
  assert.equal(verdict(bad).result, "illegal");
});

Deno.test("register: the initial value is configurable", () => {
  const h = new Hist().ok("c1", r.read("x"), 0, 1, "seed");
  assert.equal(verdict(h, { initial: "seed" }).result, "ok");
  assert.equal(verdict(h).result, "illegal");
});

Deno.test("register: equal times are ordered by their place in the history", () => {
  // A clock that never moves: only the order of events tells what precedes.
  const rec = new HistoryRecorder({ clock: () => 7 });
  const w1 = rec.invoke("c1", r.write("x", 1));
  rec.ok(w1);
  const w2 = rec.invoke("c1", r.write("x", 2));
  rec.ok(w2);
  const rd = rec.invoke("c2", r.read("x"));
  rec.ok(rd, 1);
  assert.equal(
    check(rec.events(), registerModel(), STEP_BUDGET).result,
    "illegal",
  );
  // Hand-made operations with equal times and no positions: concurrent.
  const h = new Hist()
    .ok("c1", r.write("x", 1), 7, 7)
    .ok("c1", r.write("x", 2), 7, 7)
    .ok("c2", r.read("x"), 7, 7, 1);
  assert.equal(check(h.ops, registerModel(), STEP_BUDGET).result, "ok");
});

Deno.test("register: malformed operations are reported", () => {
  const unknownF = new Hist().ok("c1", { f: "frob", key: "x" }, 0, 1);
  assert.throws(() => verdict(unknownF), /unknown f "frob"/);
  const casResult = new Hist().ok("c1", r.cas("x", 1, 2), 0, 1, "yes");
  assert.throws(() => verdict(casResult), /needs a boolean result/);
  const noKey = new Hist().ok("c1", { f: "read" }, 0, 1, null);
  assert.throws(() => verdict(noKey), /has no string key/);
  const backwards = new Hist().ok("c1", r.read("x"), 5, 1, null);
  assert.throws(
    () => check(backwards.ops, registerModel(), STEP_BUDGET),
    /completes \(1\) before it is invoked \(5\)/,
  );
});
