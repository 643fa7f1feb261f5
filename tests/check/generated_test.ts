/**
 * Generated histories: a correct atomic register (and a correct lock
 * service) under random concurrent clients always checks `ok`; one injected
 * stale read makes it `illegal`, and the failing sub-history shrinks to the
 * few operations that show it. Also measures checking speed.
 *
 * Every check here runs on search-step budgets with a clock that stands
 * still (`STEP_BUDGET`), so what it finds does not depend on how fast or
 * loaded the machine is.
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import {
  check,
  formatReport,
  lockModel,
  registerModel,
  toOperations,
} from "../../src/check/mod.ts";
import {
  injectStaleRead,
  simulateLocks,
  simulateRegister,
  STEP_BUDGET,
} from "./helpers.ts";
import { assertProperty } from "../support/property.ts";

const params = fc.record({
  seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
  ops: fc.integer({ min: 1, max: 300 }),
  clients: fc.integer({ min: 1, max: 12 }),
  keys: fc.integer({ min: 1, max: 4 }),
  infoRate: fc.constantFrom(0, 0.02, 0.1),
  failRate: fc.constantFrom(0, 0.05),
  readRate: fc.constantFrom(0.2, 0.5, 0.8),
  maxTick: fc.constantFrom(0, 1, 3, 10),
});

Deno.test("generated: a correct register always checks ok", (t) => {
  assertProperty(
    t,
    fc.property(params, (p) => {
      const events = simulateRegister(p);
      const res = check(events, registerModel(), STEP_BUDGET);
      assert.equal(res.result, "ok", formatReport(res));
    }),
    { numRuns: 150 },
  );
});

Deno.test("generated: one stale read makes it illegal", (t) => {
  let injected = 0;
  let minimal = 0;
  assertProperty(
    t,
    fc.property(params, (p) => {
      const events = simulateRegister({ ...p, ops: p.ops + 50 });
      const bad = injectStaleRead(events, p.seed);
      fc.pre(bad !== undefined);
      injected++;
      const res = check(bad!.events, registerModel(), STEP_BUDGET);
      assert.equal(res.result, "illegal");
      const f = res.failure!;
      // Any witness, minimal or not, is illegal by itself.
      assert.equal(
        check(f.history, registerModel(), STEP_BUDGET).result,
        "illegal",
      );
      // Only a minimal (honest) one must hold the stale read: one cut short
      // may be illegal for want of an operation it left out instead.
      if (!f.minimal) return;
      minimal++;
      assert.ok(
        f.operations.some((o) => o.id === bad!.readId),
        formatReport(res),
      );
      assert.ok(f.operations.length <= 6, formatReport(res));
    }),
    { numRuns: 80 },
  );
  assert.ok(injected >= 40, `only ${injected} histories had a stale read`);
  // Shrinking seldom needs more than the step budget (1 case in 80 today).
  assert.ok(
    minimal >= injected * 0.9,
    `only ${minimal} of ${injected} witnesses are minimal`,
  );
});

Deno.test("generated: a correct lock service always checks ok", (t) => {
  assertProperty(
    t,
    fc.property(
      fc.integer({ min: 0, max: 2 ** 31 - 1 }),
      fc.integer({ min: 1, max: 10 }),
      fc.integer({ min: 1, max: 3 }),
      fc.boolean(),
      (seed, clients, locks, expiry) => {
        const events = simulateLocks({
          seed,
          ops: 200,
          clients,
          locks,
          expiry,
        });
        const model = lockModel({ leasesMayExpire: expiry });
        const res = check(events, model, STEP_BUDGET);
        assert.equal(res.result, "ok", formatReport(res));
      },
    ),
    { numRuns: 100 },
  );
});

Deno.test("generated: a grant of a lower token is caught in a big lock history", () => {
  const events = simulateLocks({ seed: 11, ops: 2000, clients: 20, locks: 5 });
  const ops = toOperations(events);
  const grants = ops.filter((o) => o.op.f === "acquire" && o.status === "ok");
  const late = grants[grants.length - 1];
  const early = grants.find((g) => g.end < late.start)!;
  const tampered = events.map((e) =>
    e.type === "ok" && e.id === late.id
      ? { ...e, result: { token: (early.result as { token: number }).token } }
      : e
  );
  assert.equal(check(events, lockModel(), STEP_BUDGET).result, "ok");
  const res = check(tampered, lockModel(), STEP_BUDGET);
  assert.equal(res.result, "illegal");
  assert.equal(res.failure!.minimal, true, formatReport(res));
  assert.ok(res.failure!.operations.length <= 3, formatReport(res));
});

Deno.test("generated: minimization finds the stale read in a big history", () => {
  const events = simulateRegister({
    seed: 42,
    ops: 2000,
    clients: 30,
    keys: 10,
  });
  const bad = injectStaleRead(events, 7)!;
  const res = check(bad.events, registerModel(), STEP_BUDGET);
  assert.equal(res.result, "illegal");
  const f = res.failure!;
  assert.ok(f.partitionSize > 100);
  assert.equal(f.minimal, true);
  // The read, the write it saw, and what overwrote that before it began.
  assert.ok(f.operations.length <= 4, formatReport(res));
  const read = f.operations.find((o) => o.id === bad.readId)!;
  assert.ok(
    f.operations.some((o) => o.op.f === "write" && o.op.value === read.result),
  );
  assert.equal(
    check(f.history, registerModel(), STEP_BUDGET).result,
    "illegal",
  );
});

Deno.test("generated: thousands of operations check within a step budget", () => {
  const rows: string[] = [];
  // [operations, clients, keys, budget in search steps]: about 8 times the
  // steps each takes today, so a slower search fails on every machine alike
  // (a budget in ms failed on slow ones). The common case (about 3 clients
  // per key) takes 8-20 steps an operation; more contention takes more.
  for (
    const [ops, clients, keys, budget] of [
      [3000, 30, 10, 200_000],
      [5000, 30, 10, 500_000],
      [10000, 30, 10, 1_500_000],
      [5000, 50, 5, 10_000_000],
    ]
  ) {
    const events = simulateRegister({
      seed: ops + clients,
      ops,
      clients,
      keys,
    });
    // Timed for the log only: the time says how fast, the steps whether
    // the search did as well as before.
    check(events, registerModel(), STEP_BUDGET); // warm up
    const t0 = performance.now();
    const res = check(events, registerModel(), {
      ...STEP_BUDGET,
      maxSteps: budget,
    });
    const ms = performance.now() - t0;
    assert.equal(res.result, "ok", `${ops} operations: ${res.steps} steps`);
    rows.push(
      `${ops} ops, ${clients} clients, ${keys} keys: ${ms.toFixed(1)} ms, ${
        Math.round(ops / ms * 1000)
      } ops/s, ${res.steps} steps`,
    );
  }
  console.log(rows.join("\n"));
});
