/**
 * The read-write lock model on hand-made histories: many readers or one
 * writer, never both; token order.
 */

import assert from "node:assert/strict";
import {
  check,
  type CheckResult,
  type GrantModelOptions,
  type Op,
  registerModel,
  rwlockModel,
} from "../../src/check/mod.ts";
import { Hist, STEP_BUDGET } from "./helpers.ts";

const rw = {
  acquire: (rwlock: string, mode: "read" | "write"): Op => ({
    f: "rwAcquire",
    rwlock,
    mode,
  }),
  release: (rwlock: string, token: number): Op => ({
    f: "rwRelease",
    rwlock,
    token,
  }),
  fenced: (rwlock: string, token: number): Op => ({
    f: "fencedWrite",
    rwlock,
    token,
  }),
};

function verdict(h: Hist, options: GrantModelOptions = {}): CheckResult {
  return check(h.events(), rwlockModel(options), STEP_BUDGET);
}

const NEVER = { leasesMayExpire: false };

Deno.test("rwlock: many readers, then one writer", () => {
  const h = new Hist()
    .ok("a", rw.acquire("X", "read"), 0, 1, { token: 1 })
    .ok("b", rw.acquire("X", "read"), 0, 1, { token: 2 })
    .ok("c", rw.acquire("X", "read"), 2, 3, { token: 3 })
    .ok("a", rw.fenced("X", 1), 4, 5)
    .ok("b", rw.fenced("X", 2), 4, 5)
    .ok("c", rw.fenced("X", 3), 4, 5)
    .ok("a", rw.release("X", 1), 6, 7)
    .ok("b", rw.release("X", 2), 6, 7)
    .ok("c", rw.release("X", 3), 6, 7)
    .ok("w", rw.acquire("X", "write"), 8, 9, { token: 4 })
    .ok("w", rw.fenced("X", 4), 10, 11)
    .ok("w", rw.release("X", 4), 12, 13);
  assert.equal(verdict(h).result, "ok");
  assert.equal(verdict(h, NEVER).result, "ok");
});

Deno.test("rwlock: two overlapping writers are illegal", () => {
  const h = new Hist()
    .ok("a", rw.acquire("X", "write"), 0, 1, 1)
    .ok("b", rw.acquire("X", "write"), 2, 3, 2)
    .ok("a", rw.fenced("X", 1), 4, 5)
    .ok("b", rw.release("X", 2), 6, 7);
  const res = verdict(h);
  assert.equal(res.result, "illegal");
  assert.equal(res.failure?.key, "X");
  // Nothing shows a alive after b's grant: its lease may have expired.
  const expired = new Hist()
    .ok("a", rw.acquire("X", "write"), 0, 1, 1)
    .ok("b", rw.acquire("X", "write"), 2, 3, 2)
    .ok("b", rw.release("X", 2), 6, 7);
  assert.equal(verdict(expired).result, "ok");
  assert.equal(verdict(expired, NEVER).result, "illegal");
});

Deno.test("rwlock: a reader and a writer never overlap, either way round", () => {
  const readerLate = new Hist()
    .ok("r", rw.acquire("X", "read"), 0, 1, 1)
    .ok("w", rw.acquire("X", "write"), 2, 3, 2)
    .ok("r", rw.fenced("X", 1), 4, 5);
  assert.equal(verdict(readerLate).result, "illegal");
  const writerLate = new Hist()
    .ok("w", rw.acquire("X", "write"), 0, 1, 1)
    .ok("r", rw.acquire("X", "read"), 2, 3, 2)
    .ok("w", rw.release("X", 1), 4, 5);
  assert.equal(verdict(writerLate).result, "illegal");
  // Concurrent with the writer's grant, the reader's write may come first.
  const racing = new Hist()
    .ok("r", rw.acquire("X", "read"), 0, 1, 1)
    .ok("w", rw.acquire("X", "write"), 2, 6, 2)
    .ok("r", rw.release("X", 1), 3, 4)
    .ok("w", rw.fenced("X", 2), 7, 8);
  assert.equal(verdict(racing).result, "ok");
});

Deno.test("rwlock: tokens strictly increase", () => {
  const h = new Hist()
    .ok("a", rw.acquire("X", "read"), 0, 1, 7)
    .ok("b", rw.acquire("X", "read"), 2, 3, 6);
  assert.equal(verdict(h).result, "illegal");
});

Deno.test("rwlock: fenced writes with a key are the register model's too", () => {
  const h = new Hist()
    .ok("w", rw.acquire("X", "write"), 0, 1, 1)
    .ok("w", { ...rw.fenced("X", 1), key: "k", value: "v" }, 2, 3)
    .ok("r", { f: "read", key: "k" }, 4, 5, "v");
  assert.equal(verdict(h).result, "ok");
  assert.equal(check(h.events(), registerModel(), STEP_BUDGET).result, "ok");
});
