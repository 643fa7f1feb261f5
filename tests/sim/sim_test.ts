/**
 * The simulator in CI: seed sweeps with the full nemesis, every run checking
 * every invariant after every tick; and proof that the checks catch planted
 * bugs in the core.
 */

import assert from "node:assert/strict";
import { runSimulation, type SimOptions } from "../../src/sim/run.ts";
import { SafetyChecker } from "../../src/sim/checker.ts";
import { measureFailover } from "../../src/sim/failover.ts";

function invariantOf(c: SafetyChecker): string | undefined {
  return c.violation?.invariant;
}

function sweep(from: number, to: number, options: Omit<SimOptions, "seed">) {
  const failures: string[] = [];
  let committed = 0;
  let elections = 0;
  let crashes = 0;
  let snapshots = 0;
  let confChanges = 0;
  for (let seed = from; seed <= to; seed++) {
    const r = runSimulation({ ...options, seed });
    committed += r.stats.maxCommit;
    elections += r.stats.elections;
    crashes += r.stats.crashes;
    snapshots += r.stats.snapshotsInstalled;
    confChanges += r.stats.confChanges;
    if (r.violation) {
      failures.push(
        `seed ${seed}: ${r.violation.invariant} at step ${r.violation.step}: ${r.violation.detail} ` +
          `(replay: deno task sim --seed ${seed}${
            options.nodes === 5 ? " --nodes 5" : ""
          })`,
      );
    }
  }
  return { failures, committed, elections, crashes, snapshots, confChanges };
}

Deno.test("300 seeds × 3000 steps of a 3-node cluster under the full nemesis keep every invariant", () => {
  const r = sweep(1, 300, { nodes: 3, steps: 3000 });
  assert.deepEqual(r.failures, []);
  // The sweep must actually exercise the system, not idle.
  assert.ok(r.committed > 300 * 300, `only ${r.committed} entries committed`);
  assert.ok(r.elections > 300 * 5, `only ${r.elections} elections`);
  assert.ok(r.crashes > 300 * 5, `only ${r.crashes} crashes`);
  assert.ok(r.snapshots > 300, `only ${r.snapshots} snapshots installed`);
  assert.ok(r.confChanges > 100, `only ${r.confChanges} membership changes`);
});

Deno.test("200 seeds × 3000 steps of a 5-node cluster under the full nemesis keep every invariant", () => {
  const r = sweep(1001, 1200, { nodes: 5, steps: 3000 });
  assert.deepEqual(r.failures, []);
  assert.ok(r.committed > 200 * 300, `only ${r.committed} entries committed`);
  assert.ok(r.elections > 200 * 5);
});

Deno.test("planted bug: voting twice in a term fails the sweep", () => {
  const r = sweep(1, 40, { knobs: { voteTwice: true } });
  assert.ok(r.failures.length > 0, "the sweep did not notice double voting");
});

Deno.test("planted bug: committing a previous-term entry by counting fails the sweep", () => {
  const r = sweep(1, 300, { knobs: { commitPreviousTermByCounting: true } });
  assert.ok(r.failures.length > 0, "the sweep did not notice the Figure 8 bug");
  assert.ok(
    r.failures.some((f) =>
      /leader completeness|state machine safety|log matching/.test(f)
    ),
    r.failures.join("\n"),
  );
});

Deno.test("planted bug: serving reads without confirming leadership fails the sweep", () => {
  const r = sweep(1, 40, { knobs: { skipReadIndexQuorum: true } });
  assert.ok(
    r.failures.some((f) => f.includes("linearizable read")),
    r.failures.join("\n"),
  );
});

Deno.test("a seed replays identically", () => {
  const a: string[] = [];
  const b: string[] = [];
  const ra = runSimulation({ seed: 42, steps: 800, trace: (l) => a.push(l) });
  const rb = runSimulation({ seed: 42, steps: 800, trace: (l) => b.push(l) });
  assert.deepEqual(ra.stats, rb.stats);
  assert.deepEqual(a, b);
  const rc = runSimulation({ seed: 43, steps: 800 });
  assert.notDeepEqual(ra.stats, rc.stats);
});

Deno.test("the checker flags two leaders in one term", () => {
  const c = new SafetyChecker();
  c.observeLeader("n1", 3, () => undefined, 1);
  c.observeLeader("n1", 3, () => undefined, 1);
  assert.equal(invariantOf(c), undefined);
  c.observeLeader("n2", 3, () => undefined, 1);
  assert.equal(invariantOf(c), "election safety");
});

Deno.test("the checker flags a regressing persisted term and a changed vote", () => {
  const c = new SafetyChecker();
  c.observePersistHardState("n1", { term: 2, vote: "n1", commit: 0 });
  c.observePersistHardState("n1", { term: 2, vote: "n1", commit: 1 });
  assert.equal(invariantOf(c), undefined);
  c.observePersistHardState("n1", { term: 2, vote: "n2", commit: 1 });
  assert.equal(invariantOf(c), "one vote per term");
  const d = new SafetyChecker();
  d.observePersistHardState("n1", { term: 3, vote: "", commit: 0 });
  d.observePersistHardState("n1", { term: 2, vote: "", commit: 0 });
  assert.equal(invariantOf(d), "persisted term monotonic");
});

Deno.test("the checker flags diverging entries, commits and stale reads", () => {
  const e = (index: number, term: number, b: number) => ({
    index,
    term,
    type: 0 as const,
    data: new Uint8Array([b]),
  });
  const c = new SafetyChecker();
  c.observePersistEntries([e(1, 1, 1)], () => 0);
  c.observePersistEntries([e(1, 1, 2)], () => 0);
  assert.equal(invariantOf(c), "log matching");

  const d = new SafetyChecker();
  d.observeCommit("n1", 1, () => 1);
  d.observeCommit("n2", 1, () => 2);
  assert.equal(invariantOf(d), "state machine safety");

  const f = new SafetyChecker();
  f.observeCommit("n1", 5, () => 1);
  f.observeCommit("n1", 4, () => 1);
  assert.equal(invariantOf(f), "commit monotonic");

  const g = new SafetyChecker();
  g.observeRead("n1", 10, 10);
  assert.equal(invariantOf(g), undefined);
  g.observeRead("n1", 10, 9);
  assert.equal(invariantOf(g), "linearizable read");
});

Deno.test("failover in the simulator elects a new leader after a crash", () => {
  const r = measureFailover({ trials: 50 });
  assert.equal(r.times.length, 50);
  // No leader can be elected before the minimum election timeout passes.
  assert.ok(r.times[0] >= 150, `fastest failover ${r.times[0]} ms`);
  assert.ok(r.max < 5000, `slowest failover ${r.max} ms`);
});
