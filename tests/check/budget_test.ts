/**
 * The budgets: a pathological history answers "unknown" instead of
 * hanging, and the other partitions still get their verdicts. All but the
 * first test run on step budgets with a clock that stands still, so they
 * do not depend on the machine's speed.
 */

import assert from "node:assert/strict";
import {
  check,
  formatReport,
  registerModel,
  search,
  type SearchOp,
} from "../../src/check/mod.ts";
import { Hist, r, STEP_BUDGET } from "./helpers.ts";

/**
 * Many concurrent writes of distinct values, then a read of a value nobody
 * wrote: illegal, but the search has to try every subset of the writes in
 * every state first (about n · 2^(n-1) configurations).
 */
function pathological(h: Hist, key: string, n: number, t0 = 0): Hist {
  for (let i = 0; i < n; i++) h.ok(`w${i}`, r.write(key, i), t0, t0 + 100);
  return h.ok("reader", r.read(key), t0 + 200, t0 + 201, "never written");
}

Deno.test("budget: a pathological history is unknown within the time budget", () => {
  const h = pathological(new Hist(), "x", 24);
  const t0 = performance.now();
  const res = check(h.events(), registerModel(), { timeoutMs: 100 });
  const ms = performance.now() - t0;
  assert.equal(res.result, "unknown");
  assert.deepEqual(res.unknownPartitions, ["x"]);
  assert.equal(res.partitionsChecked, 0);
  // The one test of the real clock: 50 times the budget still shows it
  // stopped (the whole search takes hours) on a loaded machine.
  assert.ok(ms < 5000, `took ${ms.toFixed(0)} ms`);
  assert.match(formatReport(res), /^UNKNOWN: .*\nchecked 0\/1 partitions/);
  assert.match(formatReport(res), /undecided partitions: x/);
});

Deno.test("budget: the clock is injectable and read every N steps", () => {
  const h = pathological(new Hist(), "x", 20);
  let reads = 0;
  const res = check(h.events(), registerModel(), {
    // Virtual time: each reading advances 1 ms; the budget is 10 readings.
    now: () => reads++,
    timeoutMs: 10,
    checkEvery: 256,
  });
  assert.equal(res.result, "unknown");
  assert.ok(res.steps >= 256 * 9 && res.steps <= 256 * 12, `${res.steps}`);
});

Deno.test("budget: the step budget gives the same answer on every run", () => {
  const h = pathological(new Hist(), "x", 20);
  const options = { now: () => 0, maxSteps: 50_000, checkEvery: 1024 };
  const res = check(h.events(), registerModel(), options);
  assert.equal(res.result, "unknown");
  // Looked at every 1024 steps, like the clock.
  assert.ok(res.steps >= 50_000 && res.steps < 51_200, `${res.steps}`);
  assert.equal(check(h.events(), registerModel(), options).steps, res.steps);
});

Deno.test("budget: the shrinking step budget bounds minimization", () => {
  // A stale read among other writes and reads: shrinking takes a few checks.
  const h = new Hist();
  for (let i = 0; i < 6; i++) {
    h.ok(`w${i}`, r.write("x", i), 10 * i, 10 * i + 5);
    h.ok(`r${i}`, r.read("x"), 10 * i + 6, 10 * i + 8, i);
  }
  h.ok("stale", r.read("x"), 100, 101, 2);
  const full = check(h.events(), registerModel(), STEP_BUDGET);
  assert.equal(full.result, "illegal");
  assert.equal(full.failure!.minimal, true);
  assert.ok(full.minimizeSteps > 10, `${full.minimizeSteps}`);
  const cut = check(h.events(), registerModel(), {
    ...STEP_BUDGET,
    minimizeMaxSteps: 10,
  });
  assert.equal(cut.result, "illegal");
  assert.equal(cut.failure!.minimal, false);
  assert.ok(cut.minimizeSteps < full.minimizeSteps);
  // Cut short, the witness is still illegal by itself.
  assert.equal(
    check(cut.failure!.history, registerModel(), STEP_BUDGET).result,
    "illegal",
  );
});

Deno.test("budget: other partitions are still decided", () => {
  // Partitions are checked in key order: "slow" first.
  const h = pathological(new Hist(), "slow", 24);
  h.ok("a", r.write("then", 1), 0, 1).ok("b", r.read("then"), 2, 3, 1);
  const steps = { ...STEP_BUDGET, maxSteps: 100_000 };
  const res = check(h.events(), registerModel(), steps);
  assert.equal(res.result, "unknown");
  assert.equal(res.partitions, 2);
  assert.equal(res.partitionsChecked, 1);
  assert.deepEqual(res.unknownPartitions, ["slow"]);
  // An illegal partition wins over an undecided one.
  h.ok("b", r.read("then"), 4, 5, 7);
  const bad = check(h.events(), registerModel(), steps);
  assert.equal(bad.result, "illegal");
  assert.equal(bad.failure?.key, "then");
  assert.deepEqual(bad.unknownPartitions, ["slow"]);
});

Deno.test("budget: with a bigger budget the same history is decided", () => {
  const h = pathological(new Hist(), "x", 8);
  const res = check(h.events(), registerModel(), STEP_BUDGET);
  assert.equal(res.result, "illegal");
  assert.deepEqual(
    res.failure?.operations.map((o) => o.label),
    ['read(x) → "never written"'],
  );
});

Deno.test("budget: a search can be capped by steps", () => {
  const ops: SearchOp<unknown, unknown>[] = [];
  const model = registerModel();
  const parts = model.partition!(
    pathological(new Hist(), "x", 20).ops,
  );
  for (const e of parts[0].entries) {
    ops.push({
      input: e.input,
      output: e.output,
      required: true,
      start: e.operation.start,
      end: e.operation.end,
      startTie: -1,
      endTie: 1,
    });
  }
  const res = search(
    // deno-lint-ignore no-explicit-any
    model as any,
    ops,
    { now: () => 0, deadline: Infinity, maxSteps: 5000, checkEvery: 1024 },
  );
  assert.equal(res.result, "unknown");
  assert.ok(res.steps >= 5000 && res.steps < 7000);
});
