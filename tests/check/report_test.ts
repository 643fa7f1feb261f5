/**
 * Reports: the summary line, the table sorted by time, the per-client
 * timeline, and the explanation of the failure.
 */

import assert from "node:assert/strict";
import {
  check,
  formatReport,
  formatTable,
  formatTimeline,
  lockModel,
  registerModel,
} from "../../src/check/mod.ts";
import { Hist, l, r, STEP_BUDGET } from "./helpers.ts";

Deno.test("report: a linearizable history", () => {
  const h = new Hist()
    .ok("c1", r.write("x", 1), 0, 1)
    .ok("c2", r.read("x"), 2, 3, 1);
  const text = formatReport(check(h.events(), registerModel(), STEP_BUDGET));
  assert.match(text, /^OK: the register history is linearizable\n/);
  assert.match(
    text,
    /checked 1\/1 partitions, 2 operations, \d+ search steps in/,
  );
});

Deno.test("report: a stale read, as a table and a timeline", () => {
  const h = new Hist()
    .ok("c1", r.write("x", 1), 0, 1)
    .ok("c1", r.write("x", 2), 2, 3)
    .ok("c3", r.read("y"), 2, 3, null)
    .ok("c2", r.read("x"), 4, 5, 1);
  const res = check(h.events(), registerModel(), STEP_BUDGET);
  const text = formatReport(res);
  assert.match(
    text,
    /^ILLEGAL: the register history is not linearizable \(partition x\)\n/,
  );
  assert.match(
    text,
    /Failing sub-history: 3 operations of 3 in partition x \(1-minimal\)/,
  );
  assert.match(
    text,
    /whether or not each other operation of the\npartition took effect/,
  );
  // The table, sorted by time.
  assert.match(
    text,
    /start +end +client +status +operation\n +0 +1 +c1 +ok +write\(x, 1\)\n +2 +3 +c1 +ok +write\(x, 2\)\n +4 +5 +c2 +ok +read\(x\) → 1\n/,
  );
  // The timeline: one row per client, operations in time order.
  const lines = formatTimeline(res.failure!.operations);
  assert.equal(lines.length, 2);
  assert.match(lines[0], /^c1 \|-+write\(x, 1\)-+\| \|-+write\(x, 2\)-+\|$/);
  assert.match(lines[1], /^c2 +\|-+read\(x\) → 1-+\|$/);
  // c2's read starts after c1's second write ends.
  assert.ok(lines[1].indexOf("|") > lines[0].lastIndexOf("|"));
  assert.match(
    text,
    /Longest linearization: write\(x, 1\), write\(x, 2\); state then: 2\.\nThen read\(x\) → 1 \[c2\] completed at 5 without a legal linearization point\.\n$/,
  );
});

Deno.test("report: overlapping operations share a row per client only when disjoint", () => {
  const h = new Hist()
    .ok("c1", r.write("x", 1), 0, 10)
    .ok("c1", r.read("x"), 2, 3, 1)
    .info("c2", r.write("x", 2), 4, 6)
    .ok("c2", r.read("x"), 11, 12, 2);
  const lines = formatTimeline(h.ops);
  // c1 has two overlapping operations: two rows, the second unnamed. So has
  // c2: its write of unknown outcome runs off to the right.
  assert.equal(lines.length, 4);
  assert.match(lines[0], /^c1 \|-+write\(x, 1\)-+\|$/);
  assert.match(lines[1], /^ {3}\s*\|-+read\(x\) → 1-+\|$/);
  assert.match(lines[2], /^c2 +\|-+write\(x, 2\) → \?-+\?$/);
  assert.match(lines[3], /^ {3}\s*\|-+read\(x\) → 2-+\|$/);
  const table = formatTable(h.ops);
  assert.match(table[3], /^4 +\? +c2 +info +write\(x, 2\) → \?$/);
});

Deno.test("report: lock failures name the lock", () => {
  const h = new Hist()
    .ok("a", l.acquire("jobs"), 0, 1, 1)
    .ok("b", l.acquire("jobs"), 2, 3, 2)
    .ok("a", l.fenced("jobs", 1), 4, 5);
  const text = formatReport(check(h.events(), lockModel(), STEP_BUDGET));
  assert.match(text, /not linearizable \(partition jobs\)/);
  assert.match(text, /fencedWrite\(jobs#1\)/);
  assert.match(text, /state then: holder 2, last token 2\./);
});

Deno.test("report: values are shown unambiguously", () => {
  const h = new Hist()
    .ok("c1", r.write("x", "5"), 0, 1)
    .ok("c2", r.read("x"), 2, 3, 5)
    .ok("c2", r.read("x"), 4, 5, "a b");
  const table = formatTable(h.ops).join("\n");
  assert.match(table, /write\(x, "5"\)/);
  assert.match(table, /read\(x\) → 5\n/);
  assert.match(table, /read\(x\) → "a b"$/);
  // The string "5" is not the number 5: the read alone is the witness.
  const res = check(h.events(), registerModel(), STEP_BUDGET);
  assert.deepEqual(res.failure?.operations.map((o) => o.label), [
    "read(x) → 5",
  ]);
});
