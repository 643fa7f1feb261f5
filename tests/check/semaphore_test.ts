/**
 * The semaphore model on hand-made histories: permits within the limit,
 * released permits coming back, the limit fixed, token order.
 */

import assert from "node:assert/strict";
import {
  check,
  type CheckResult,
  type GrantModelOptions,
  type Op,
  semaphoreModel,
} from "../../src/check/mod.ts";
import { Hist, STEP_BUDGET } from "./helpers.ts";

const s = {
  acquire: (semaphore: string, limit: number, permits = 1): Op => ({
    f: "semAcquire",
    semaphore,
    limit,
    permits,
  }),
  release: (semaphore: string, token: number): Op => ({
    f: "semRelease",
    semaphore,
    token,
  }),
  fenced: (semaphore: string, token: number): Op => ({
    f: "fencedWrite",
    semaphore,
    token,
  }),
};

function verdict(h: Hist, options: GrantModelOptions = {}): CheckResult {
  return check(h.events(), semaphoreModel(options), STEP_BUDGET);
}

const NEVER = { leasesMayExpire: false };

Deno.test("semaphore: holders within the limit, releases return permits", () => {
  const h = new Hist()
    .ok("a", s.acquire("S", 3, 2), 0, 1, { token: 1 })
    .ok("b", s.acquire("S", 3, 1), 2, 3, { token: 2 })
    .ok("a", s.fenced("S", 1), 4, 5)
    .ok("b", s.fenced("S", 2), 4, 5)
    .ok("a", s.release("S", 1), 6, 7)
    .ok("c", s.acquire("S", 3, 2), 8, 9, { token: 3 })
    .ok("b", s.fenced("S", 2), 10, 11)
    .ok("c", s.fenced("S", 3), 10, 11)
    .ok("b", s.release("S", 2), 12, 13)
    .ok("c", s.release("S", 3), 12, 13);
  assert.equal(verdict(h).result, "ok");
  assert.equal(verdict(h, NEVER).result, "ok");
});

Deno.test("semaphore: one permit too many is illegal", () => {
  // Limit 2, three holders of one permit each, all shown alive after the
  // third grant.
  const h = new Hist()
    .ok("a", s.acquire("S", 2), 0, 1, 1)
    .ok("b", s.acquire("S", 2), 2, 3, 2)
    .ok("c", s.acquire("S", 2), 4, 5, 3)
    .ok("a", s.fenced("S", 1), 6, 7)
    .ok("b", s.release("S", 2), 6, 7)
    .ok("c", s.release("S", 3), 8, 9);
  const res = verdict(h);
  assert.equal(res.result, "illegal");
  assert.equal(res.failure?.key, "S");
  // If a's lease may have expired before c's grant (nothing shows it
  // alive afterwards), it is legal.
  const expired = new Hist()
    .ok("a", s.acquire("S", 2), 0, 1, 1)
    .ok("b", s.acquire("S", 2), 2, 3, 2)
    .ok("c", s.acquire("S", 2), 4, 5, 3)
    .fail("a", s.fenced("S", 1), 6, 7)
    .ok("b", s.release("S", 2), 6, 7)
    .ok("c", s.release("S", 3), 8, 9);
  assert.equal(verdict(expired).result, "ok");
  assert.equal(verdict(expired, NEVER).result, "illegal");
});

Deno.test("semaphore: a big grant over small holders is illegal", () => {
  const h = new Hist()
    .ok("a", s.acquire("S", 4, 1), 0, 1, 1)
    .ok("b", s.acquire("S", 4, 4), 2, 3, 2)
    .ok("a", s.fenced("S", 1), 4, 5);
  assert.equal(verdict(h).result, "illegal");
  const released = new Hist()
    .ok("a", s.acquire("S", 4, 1), 0, 1, 1)
    .ok("a", s.release("S", 1), 2, 3)
    .ok("b", s.acquire("S", 4, 4), 4, 5, 2)
    .ok("b", s.fenced("S", 2), 6, 7);
  assert.equal(verdict(released).result, "ok");
  // More permits than the limit can never be granted.
  const huge = new Hist().ok("a", s.acquire("S", 2, 3), 0, 1, 1);
  assert.equal(verdict(huge).result, "illegal");
});

Deno.test("semaphore: a released holder never fences again", () => {
  const h = new Hist()
    .ok("a", s.acquire("S", 2), 0, 1, 1)
    .ok("a", s.release("S", 1), 2, 3)
    .ok("a", s.fenced("S", 1), 4, 5);
  assert.equal(verdict(h).result, "illegal");
  const twice = new Hist()
    .ok("a", s.acquire("S", 2), 0, 1, 1)
    .ok("a", s.release("S", 1), 2, 3)
    .ok("a", s.release("S", 1), 4, 5);
  assert.equal(verdict(twice).result, "illegal");
});

Deno.test("semaphore: the first acquirer's limit holds while the semaphore is held", () => {
  const h = new Hist()
    .ok("a", s.acquire("S", 2), 0, 1, 1)
    .ok("b", s.acquire("S", 3), 2, 3, 2)
    .ok("a", s.release("S", 1), 4, 5);
  assert.equal(verdict(h).result, "illegal");
  const after = new Hist()
    .ok("a", s.acquire("S", 2), 0, 1, 1)
    .ok("a", s.release("S", 1), 2, 3)
    .ok("b", s.acquire("S", 3), 4, 5, 2)
    .ok("b", s.release("S", 2), 6, 7);
  assert.equal(verdict(after).result, "ok");
});

Deno.test("semaphore: tokens strictly increase", () => {
  const h = new Hist()
    .ok("a", s.acquire("S", 5), 0, 1, 4)
    .ok("b", s.acquire("S", 5), 2, 3, 4);
  assert.equal(verdict(h).result, "illegal");
  const down = new Hist()
    .ok("a", s.acquire("S1", 5), 0, 1, 4)
    .ok("b", s.acquire("S2", 5), 2, 3, 3);
  assert.equal(verdict(down).result, "illegal");
  assert.equal(verdict(down, { globalTokens: false }).result, "ok");
});

Deno.test("semaphore: a timed-out release may or may not have returned permits", () => {
  const h = new Hist()
    .ok("a", s.acquire("S", 1), 0, 1, 1)
    .info("a", s.release("S", 1), 2, 3)
    .ok("b", s.acquire("S", 1), 4, 5, 2)
    .ok("b", s.fenced("S", 2), 6, 7);
  assert.equal(verdict(h, NEVER).result, "ok");
  assert.equal(verdict(h).result, "ok");
  const stillHeld = new Hist()
    .ok("a", s.acquire("S", 1), 0, 1, 1)
    .info("a", s.release("S", 1), 2, 3)
    .ok("a", s.fenced("S", 1), 2, 4)
    .ok("b", s.acquire("S", 1), 5, 6, 2);
  assert.equal(verdict(stillHeld, NEVER).result, "ok");
});
