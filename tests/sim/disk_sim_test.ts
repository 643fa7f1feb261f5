/**
 * The simulator's file-backed slow mode: every node persists to a real
 * data directory (WAL segments and snapshot files, real syncs); a crash
 * closes the store and a restart recovers it from disk. A few seeds with
 * the full nemesis must keep every invariant.
 */

import assert from "node:assert/strict";
import { runSimulationOnDisk } from "../../src/sim/run.ts";

Deno.test("file-backed simulation: 4 seeds × 1500 steps keep every invariant across crash and recovery", async () => {
  let crashes = 0;
  let snapshots = 0;
  for (let seed = 1; seed <= 4; seed++) {
    const dir = await Deno.makeTempDir({ prefix: "raftlock-sim-" });
    try {
      const r = await runSimulationOnDisk({ seed, dir, steps: 1500 });
      assert.equal(
        r.violation,
        undefined,
        `seed ${seed}: ${JSON.stringify(r.violation)}`,
      );
      // Not a vacuous pass: the cluster committed through the nemesis. How
      // much depends on how long a seed's faults keep it leaderless (seed 4
      // commits 88 of its 102 proposals); the in-memory runs measure rates.
      assert.ok(
        r.stats.maxCommit > 50,
        `seed ${seed} committed only ${r.stats.maxCommit}`,
      );
      crashes += r.stats.crashes;
      snapshots += r.stats.snapshots;
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  }
  assert.ok(
    crashes >= 8,
    `only ${crashes} crashes: recovery was barely exercised`,
  );
  assert.ok(snapshots >= 8, `only ${snapshots} snapshots written`);
});

Deno.test("file-backed simulation: a store that forgets on reopen is caught as a durability violation", async () => {
  const { DiskStorage } = await import("../../src/storage/disk_storage.ts");
  const { MemoryStorage } = await import("../../src/storage/memory.ts");
  const dir = await Deno.makeTempDir({ prefix: "raftlock-sim-" });
  const opened = new Set<string>();
  try {
    const r = await runSimulationOnDisk({
      seed: 3,
      dir,
      steps: 1500,
      nemesis: ["crash", "crashLeader"],
      nemesisRate: 0.05,
      // A broken store: the second open of a node returns an empty log.
      openStorage: async (id, conf) => {
        if (opened.has(id)) return new MemoryStorage({ conf });
        opened.add(id);
        return await DiskStorage.open(`${dir}/${id}`, { conf, log: () => {} });
      },
    });
    assert.equal(
      r.violation?.invariant,
      "durability",
      JSON.stringify(r.violation),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
