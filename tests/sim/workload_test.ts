/**
 * Client workloads through the real `ServiceStateMachine` in the
 * simulator, with the full nemesis: every register, lock, election,
 * semaphore and read-write lock history must be linearizable, and every
 * node's recipe bookkeeping hold after every entry; and planted bugs
 * (reads answered without a quorum round, a semaphore's extra permit)
 * must be caught.
 */

import assert from "node:assert/strict";
import { runWorkload, type WorkloadOptions } from "../../src/sim/workload.ts";
import { SimCluster } from "../../src/sim/cluster.ts";
import { mulberry32 } from "../../src/raft/rand.ts";
import { ServiceStateMachine } from "../../src/state/machine.ts";
import { encodeCommand } from "../../src/state/commands.ts";

function sweep(
  from: number,
  to: number,
  options: Omit<WorkloadOptions, "seed"> = {},
) {
  const failures: string[] = [];
  const totals = {
    ok: 0,
    fail: 0,
    info: 0,
    lockOk: 0,
    unknown: 0,
    recipeOk: { election: 0, semaphore: 0, rwlock: 0 },
  };
  const illegal: number[] = [];
  for (let seed = from; seed <= to; seed++) {
    const r = runWorkload({ ...options, seed });
    totals.ok += r.registerOps.ok;
    totals.fail += r.registerOps.fail + r.lockOps.fail;
    totals.info += r.registerOps.info + r.lockOps.info;
    totals.lockOk += r.lockOps.ok;
    if (r.register.result === "unknown") totals.unknown++;
    if (r.lock.result === "unknown") totals.unknown++;
    for (const k of ["election", "semaphore", "rwlock"] as const) {
      totals.recipeOk[k] += r.recipeOps[k].ok;
      if (r.recipes[k].result === "unknown") totals.unknown++;
    }
    if (r.register.result === "illegal" || r.lock.result === "illegal") {
      illegal.push(seed);
    }
    if (r.violation) {
      failures.push(
        `seed ${seed}: ${r.violation.invariant} at step ${r.violation.step}: ${r.violation.detail} ` +
          `(replay: deno task sim --workload --seed ${seed})`,
      );
    }
  }
  return { failures, totals, illegal };
}

Deno.test("workload: 200 seeds × 1500 steps, full nemesis, every history linearizable", () => {
  const { failures, totals } = sweep(1, 200);
  assert.deepEqual(failures, []);
  // Non-trivial histories: many completed operations, some unknown outcomes.
  assert.ok(totals.ok > 10000, `only ${totals.ok} ok register operations`);
  assert.ok(totals.lockOk > 3000, `only ${totals.lockOk} ok lock operations`);
  assert.ok(totals.info > 400, `only ${totals.info} info operations`);
  assert.ok(totals.fail > 0);
  assert.ok(totals.unknown <= 5, `${totals.unknown} undecided histories`);
  for (const [k, n] of Object.entries(totals.recipeOk)) {
    assert.ok(n > 1000, `only ${n} ok ${k} operations`);
  }
});

Deno.test("workload: a seed replays exactly", () => {
  const a = runWorkload({ seed: 42 });
  const b = runWorkload({ seed: 42 });
  assert.deepEqual(
    a.histories.register.events(),
    b.histories.register.events(),
  );
  assert.deepEqual(a.histories.lock.events(), b.histories.lock.events());
  for (const k of ["election", "semaphore", "rwlock"] as const) {
    assert.deepEqual(a.histories[k].events(), b.histories[k].events());
  }
  assert.deepEqual(a.stats, b.stats);
});

Deno.test("workload: planted bug (skipReadIndexQuorum) gives an illegal register history", () => {
  // Keep running past the cluster's own read check, so the history alone
  // shows the stale reads.
  const { illegal, failures } = sweep(1, 100, {
    knobs: { skipReadIndexQuorum: true },
    stopOnViolation: false,
  });
  assert.ok(failures.length > 0);
  assert.ok(illegal.length > 0, "no seed produced an illegal history");
  const r = runWorkload({
    seed: illegal[0],
    knobs: { skipReadIndexQuorum: true },
    stopOnViolation: false,
  });
  assert.equal(r.register.result, "illegal");
  assert.equal(r.safety?.invariant, "linearizable read");
  assert.equal(r.violation?.invariant, "linearizable read");
});

Deno.test("workload: planted bug (semaphoreExtraPermit) breaks the permit invariant and the semaphore history", () => {
  const stateKnobs = { semaphoreExtraPermit: true };
  // The invariant, held + free == limit with nothing overdrawn, stops
  // the run under the full nemesis.
  for (const seed of [1, 2, 3]) {
    const r = runWorkload({ seed, stateKnobs });
    assert.equal(r.violation?.invariant, "semaphore permits", `seed ${seed}`);
    assert.match(r.violation!.detail, /semaphore 's0': free is -1/);
  }
  // Run on past it, and the semaphore history alone shows three holders
  // of a limit of 2 alive at once. (A node that restores a snapshot of
  // the broken state refuses it, another catch: such seeds are skipped.)
  let illegal = 0;
  for (let seed = 1; seed <= 20 && illegal < 2; seed++) {
    let r;
    try {
      r = runWorkload({
        seed,
        stateKnobs,
        nemesis: [],
        stopOnViolation: false,
      });
    } catch (e) {
      assert.match(
        (e as Error).message,
        /Snapshot is malformed: s0: free is -1/,
      );
      continue;
    }
    assert.equal(r.safety?.invariant, "semaphore permits");
    if (r.recipes.semaphore.result === "illegal") {
      illegal++;
      assert.match(r.recipes.semaphore.report!, /semAcquire\(s0, \d of 2\)/);
    }
  }
  assert.equal(illegal, 2, "no seed gave an illegal semaphore history");
  // Without the bug, the same seeds are clean.
  assert.equal(runWorkload({ seed: 7, nemesis: [] }).violation, undefined);
});

Deno.test("cluster: service mode snapshots and restores the ServiceStateMachine", () => {
  const results: unknown[] = [];
  const c = new SimCluster({
    random: mulberry32(3),
    snapshotEvery: 4,
    service: () => new ServiceStateMachine(),
    onApply: (node, _e, result) => {
      if (node.id === "n1") results.push(result);
    },
  });
  for (let i = 0; i < 300 && !c.leader(); i++) c.tick();
  const leader = c.leader()!;
  for (let i = 0; i < 10; i++) {
    c.proposeData(
      leader,
      encodeCommand({ type: "put", key: "k", value: `v${i}` }),
    );
    c.tick();
  }
  for (let i = 0; i < 50; i++) c.tick();
  const n1 = c.nodes.get("n1")!;
  assert.equal(n1.service!.get("k")?.value, "v9");
  assert.equal(results.length, 10);
  assert.ok(c.stats.snapshots > 0);
  c.crash(n1);
  c.restart(n1);
  for (let i = 0; i < 50; i++) c.tick();
  assert.equal(n1.service!.get("k")?.value, "v9");
  assert.equal(c.checker.violation, undefined);
});
