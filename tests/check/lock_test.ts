/**
 * The lock model on hand-made histories: overlapping holders, token order,
 * stale fenced writes, leases that may expire, timed-out acquires.
 */

import assert from "node:assert/strict";
import {
  ALL_LOCKS,
  check,
  type CheckResult,
  lockModel,
  type LockModelOptions,
  registerModel,
} from "../../src/check/mod.ts";
import { Hist, l, r, STEP_BUDGET } from "./helpers.ts";

function verdict(h: Hist, options: LockModelOptions = {}): CheckResult {
  return check(h.events(), lockModel(options), STEP_BUDGET);
}

const NEVER = { leasesMayExpire: false };

Deno.test("lock: acquire, fenced writes, release, next holder", () => {
  const h = new Hist()
    .ok("a", l.acquire("L"), 0, 1, { token: 10 })
    .ok("a", l.fenced("L", 10), 2, 3)
    .ok("b", l.holder("L"), 2, 3, { token: 10 })
    .ok("b", l.validate("L", 10), 2, 3, { valid: true })
    .ok("a", l.release("L", 10), 4, 5)
    .ok("b", l.acquire("L"), 6, 7, 12)
    .ok("b", l.fenced("L", 12), 8, 9)
    .fail("a", l.fenced("L", 10), 8, 9)
    .ok("b", l.release("L", 12), 10, 11);
  assert.equal(verdict(h).result, "ok");
  assert.equal(verdict(h, NEVER).result, "ok");
});

Deno.test("lock: overlapping holders are illegal when leases cannot expire", () => {
  const h = new Hist()
    .ok("a", l.acquire("L"), 0, 1, 1)
    .ok("b", l.acquire("L"), 2, 3, 2)
    .ok("a", l.release("L", 1), 4, 5);
  const res = verdict(h, NEVER);
  assert.equal(res.result, "illegal");
  assert.equal(res.failure?.key, "L");
  // With leases, a's lease may have expired before b's grant: but then a
  // cannot release.
  assert.equal(verdict(h).result, "illegal");
  const expired = new Hist()
    .ok("a", l.acquire("L"), 0, 1, 1)
    .ok("b", l.acquire("L"), 2, 3, 2);
  assert.equal(verdict(expired).result, "ok");
  assert.equal(verdict(expired, NEVER).result, "illegal");
});

Deno.test("lock: concurrent acquires may be granted in either order", () => {
  const h = new Hist()
    .ok("a", l.acquire("L"), 0, 10, 5)
    .ok("b", l.acquire("L"), 0, 10, 3)
    .ok("a", l.fenced("L", 5), 11, 12);
  assert.equal(verdict(h).result, "ok");
  // ...but the later grant holds: 3 was granted first.
  const bad = new Hist()
    .ok("a", l.acquire("L"), 0, 10, 5)
    .ok("b", l.acquire("L"), 0, 10, 3)
    .ok("b", l.fenced("L", 3), 11, 12);
  assert.equal(verdict(bad).result, "illegal");
});

Deno.test("lock: decreasing tokens are illegal", () => {
  const h = new Hist()
    .ok("a", l.acquire("L"), 0, 1, 5)
    .ok("a", l.release("L", 5), 2, 3)
    .ok("b", l.acquire("L"), 4, 5, 3);
  const res = verdict(h);
  assert.equal(res.result, "illegal");
  // The release is not needed to show it.
  assert.deepEqual(
    res.failure?.operations.map((o) => o.label),
    ["acquire(L) → 5", "acquire(L) → 3"],
  );
  const repeated = new Hist()
    .ok("a", l.acquire("L"), 0, 1, 5)
    .ok("b", l.acquire("L"), 4, 5, 5);
  assert.equal(verdict(repeated).result, "illegal");
});

Deno.test("lock: tokens increase across locks (global revision)", () => {
  const h = new Hist()
    .ok("a", l.acquire("L1"), 0, 1, 5)
    .ok("b", l.acquire("L2"), 2, 3, 3);
  const res = verdict(h);
  assert.equal(res.result, "illegal");
  assert.equal(res.failure?.key, ALL_LOCKS);
  assert.equal(verdict(h, { globalTokens: false }).result, "ok");
});

Deno.test("lock: a stale fenced write succeeding is illegal", () => {
  const h = new Hist()
    .ok("a", l.acquire("L"), 0, 1, 1)
    .ok("b", l.acquire("L"), 2, 3, 2)
    .ok("a", l.fenced("L", 1, "k", "v"), 4, 5);
  const res = verdict(h);
  assert.equal(res.result, "illegal");
  assert.deepEqual(
    res.failure?.operations.map((o) => o.label),
    ["acquire(L) → 1", "acquire(L) → 2", "fencedWrite(L#1, k=v)"],
  );
  // Refused, it is fine.
  const refused = new Hist()
    .ok("a", l.acquire("L"), 0, 1, 1)
    .ok("b", l.acquire("L"), 2, 3, 2)
    .fail("a", l.fenced("L", 1), 4, 5);
  assert.equal(verdict(refused).result, "ok");
  // Concurrent with the new grant, it may have come first.
  const racing = new Hist()
    .ok("a", l.acquire("L"), 0, 1, 1)
    .ok("b", l.acquire("L"), 2, 5, 2)
    .ok("a", l.fenced("L", 1), 4, 6);
  assert.equal(verdict(racing).result, "ok");
});

Deno.test("lock: a fenced write after its token was released is illegal", () => {
  const h = new Hist()
    .ok("a", l.acquire("L"), 0, 1, 1)
    .ok("a", l.release("L", 1), 2, 3)
    .ok("a", l.fenced("L", 1), 4, 5);
  assert.equal(verdict(h).result, "illegal");
});

Deno.test("lock: a fenced write of a token never granted is illegal", () => {
  const h = new Hist().ok("a", l.fenced("L", 9), 0, 1);
  assert.equal(verdict(h).result, "illegal");
});

Deno.test("lock: fenced writes of two tokens never interleave", () => {
  // b's grant is slow, so each write alone could precede it; but t1 after
  // t2 needs two holders at once.
  const h = new Hist()
    .ok("a", l.acquire("L"), 0, 1, 1)
    .ok("b", l.acquire("L"), 0, 20, 2)
    .ok("a", l.fenced("L", 1), 2, 3)
    .ok("b", l.fenced("L", 2), 21, 22)
    .ok("a", l.fenced("L", 1), 23, 24);
  const res = verdict(h);
  assert.equal(res.result, "illegal");
  const ok = new Hist()
    .ok("a", l.acquire("L"), 0, 1, 1)
    .ok("b", l.acquire("L"), 0, 20, 2)
    .ok("a", l.fenced("L", 1), 2, 3)
    .ok("a", l.fenced("L", 1), 4, 5)
    .ok("b", l.fenced("L", 2), 21, 22);
  assert.equal(verdict(ok).result, "ok");
});

Deno.test("lock: a holder seen expired never succeeds again", () => {
  const gone = new Hist()
    .ok("a", l.acquire("L"), 0, 1, 1)
    .ok("b", l.holder("L"), 2, 3, null)
    .ok("a", l.fenced("L", 1), 4, 5);
  assert.equal(verdict(gone).result, "illegal");
  const invalid = new Hist()
    .ok("a", l.acquire("L"), 0, 1, 1)
    .ok("b", l.validate("L", 1), 2, 3, false)
    .ok("a", l.release("L", 1), 4, 5);
  assert.equal(verdict(invalid).result, "illegal");
  // Without expiry a free lock cannot be seen while held.
  const seen = new Hist()
    .ok("a", l.acquire("L"), 0, 1, 1)
    .ok("b", l.holder("L"), 2, 3, null);
  assert.equal(verdict(seen).result, "ok");
  assert.equal(verdict(seen, NEVER).result, "illegal");
  const wrong = new Hist()
    .ok("a", l.acquire("L"), 0, 1, 1)
    .ok("b", l.holder("L"), 2, 3, 7);
  assert.equal(verdict(wrong).result, "illegal");
});

Deno.test("lock: a timed-out acquire may or may not have been granted", () => {
  // Granted to nobody we know: b's acquire waits for expiry or release.
  const h = new Hist()
    .ok("a", l.acquire("L"), 0, 1, 1)
    .info("c", l.acquire("L"), 0, 30)
    .ok("a", l.release("L", 1), 2, 3)
    .ok("b", l.acquire("L"), 4, 5, 3)
    .ok("b", l.fenced("L", 3), 6, 7);
  assert.equal(verdict(h).result, "ok");
  assert.equal(verdict(h, NEVER).result, "ok");
  // If it was granted, no known token can fence until a new grant.
  const held = new Hist()
    .info("c", l.acquire("L"), 0, 30)
    .ok("b", l.holder("L"), 10, 11, null)
    .ok("b", l.acquire("L"), 12, 13, 3);
  assert.equal(verdict(held, NEVER).result, "ok");
});

Deno.test("lock: a timed-out release may have freed the lock", () => {
  const h = new Hist()
    .ok("a", l.acquire("L"), 0, 1, 1)
    .info("a", l.release("L", 1), 2, 3)
    .ok("b", l.acquire("L"), 4, 5, 2);
  assert.equal(verdict(h, NEVER).result, "ok");
  const stillHeld = new Hist()
    .ok("a", l.acquire("L"), 0, 1, 1)
    .info("a", l.release("L", 1), 2, 3)
    .ok("a", l.fenced("L", 1), 2, 4)
    .ok("b", l.acquire("L"), 5, 6, 2);
  assert.equal(verdict(stillHeld, NEVER).result, "ok");
});

Deno.test("lock: registers and locks share one history", () => {
  const h = new Hist()
    .ok("a", l.acquire("L"), 0, 1, 1)
    .ok("a", l.fenced("L", 1, "k", "v1"), 2, 3)
    .ok("b", r.read("k"), 4, 5, "v1")
    .ok("b", l.acquire("L"), 6, 7, 2)
    .ok("b", l.fenced("L", 2, "k", "v2"), 8, 9)
    .ok("a", r.read("k"), 10, 11, "v2");
  assert.equal(check(h.events(), lockModel(), STEP_BUDGET).result, "ok");
  assert.equal(check(h.events(), registerModel(), STEP_BUDGET).result, "ok");
  const stale = new Hist()
    .ok("a", l.fenced("L", 1, "k", "v1"), 2, 3)
    .ok("a", l.fenced("L", 2, "k", "v2"), 4, 5)
    .ok("b", r.read("k"), 6, 7, "v1");
  assert.equal(
    check(stale.events(), registerModel(), STEP_BUDGET).result,
    "illegal",
  );
});

Deno.test("lock: malformed operations are reported", () => {
  const noToken = new Hist().ok("a", l.acquire("L"), 0, 1, "x");
  assert.throws(() => verdict(noToken), /needs a numeric token result/);
  const noLock = new Hist().ok("a", { f: "acquire" }, 0, 1, 1);
  assert.throws(() => verdict(noLock), /has no string lock/);
  const release = new Hist().ok("a", { f: "release", lock: "L" }, 0, 1);
  assert.throws(() => verdict(release), /needs a token/);
});
