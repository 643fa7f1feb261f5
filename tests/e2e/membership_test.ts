/**
 * E2E: membership changes on a live cluster of raftd processes — a fourth
 * node is added (as a learner, then promoted) and another is removed,
 * while a background writer keeps writing and must never stall for long.
 */

import assert from "node:assert/strict";
import {
  E2E,
  type E2ECluster,
  http,
  type RaftdProcess,
  sleep,
  withCluster,
} from "./harness.ts";

interface Member {
  id: string;
  role: "voter" | "learner";
  peerAddress?: string;
  httpAddress?: string;
}

async function members(c: E2ECluster, id: string): Promise<Member[]> {
  const r = await http<{ members: Member[] }>(`${c.url(id)}/v1/cluster`);
  assert.equal(r.status, 200, `GET /v1/cluster on ${id}: ${r.status}`);
  return r.body.members;
}

async function waitRole(
  c: E2ECluster,
  via: string,
  id: string,
  role: "voter" | "learner" | "absent",
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: Member[] = [];
  while (Date.now() < deadline) {
    const r = await http<{ members: Member[] }>(`${c.url(via)}/v1/cluster`);
    if (r.status === 200) {
      last = r.body.members;
      const m = last.find((m) => m.id === id);
      if (role === "absent" ? !m : m?.role === role) return;
    }
    await sleep(50);
  }
  throw new Error(
    `${id} did not become ${role}; members ${JSON.stringify(last)}`,
  );
}

/**
 * A writer over a changing set of target nodes. Records every acknowledged
 * key and the longest stretch without a successful write.
 */
function backgroundWriter(c: E2ECluster, targets: string[], loops = 3) {
  const acked = new Map<string, number>();
  let stop = false;
  let failures = 0;
  const failed: string[] = [];
  const t0 = performance.now();
  let lastOk = performance.now();
  let maxGap = 0;
  let seq = 0;
  const workers = Array.from({ length: loops }, async (_, w) => {
    for (let i = w; !stop; i++) {
      const id = targets[i % targets.length];
      const key = `bg/${String(seq++).padStart(6, "0")}`;
      const r = await c.put(id, key, id, 2000);
      const now = performance.now();
      if (r.status === 200) {
        maxGap = Math.max(maxGap, now - lastOk);
        lastOk = now;
        acked.set(key, r.body.revision);
      } else {
        failures++;
        failed.push(
          `${(now - t0).toFixed(0)}ms ${id} ${r.status} ${
            r.error ?? JSON.stringify(r.body)
          } after ${r.ms.toFixed(0)}ms`,
        );
        await sleep(20);
      }
    }
  });
  return {
    acked,
    targets,
    /** Resolves once `n` writes are acknowledged (fails only after 30 s). */
    async waitWrites(n: number): Promise<void> {
      const deadline = Date.now() + 30_000;
      while (acked.size < n && Date.now() < deadline) await sleep(20);
      assert.ok(acked.size >= n, `only ${acked.size} of ${n} writes`);
    },
    elapsed: () => (performance.now() - t0).toFixed(0) + "ms",
    async stop() {
      stop = true;
      await Promise.all(workers);
      maxGap = Math.max(maxGap, performance.now() - lastOk);
      return { maxGap, failures, failed, writes: acked.size };
    },
  };
}

/**
 * The scenario, with a pluggable way of bringing in n4. Adds n4, promotes
 * it, removes a follower, then kills the old leader to show n4 votes.
 */
async function scenario(
  c: E2ECluster,
  addFourth: (leader: string) => Promise<RaftdProcess>,
): Promise<void> {
  const leader = await c.waitForLeader();
  const removed = ["n1", "n2", "n3"].find((id) => id !== leader)!;
  const stays = ["n1", "n2", "n3"].find((id) =>
    id !== leader && id !== removed
  )!;
  const w = backgroundWriter(c, [leader, stays, removed]);
  const phases: string[] = [];
  const phase = (name: string) => phases.push(`${name}@${w.elapsed()}`);
  try {
    // The writer is running before the changes (a fixed sleep may see none).
    await w.waitWrites(5);
    phase("add");
    const n4 = await addFourth(leader);
    await waitRole(c, leader, "n4", "voter");
    await c.waitApplied(["n4"]);
    phase("n4 voter");
    w.targets.push("n4");

    // Remove a follower (stop sending it writes first).
    w.targets.splice(w.targets.indexOf(removed), 1);
    const del = await http(`${c.url(leader)}/v1/cluster/members/${removed}`, {
      method: "DELETE",
      timeoutMs: 10_000,
    });
    assert.equal(del.status, 200, `DELETE ${removed}: ${JSON.stringify(del)}`);
    await waitRole(c, leader, removed, "absent");
    phase(`${removed} removed`);
    const ms = await members(c, leader);
    assert.deepEqual(
      ms.map((m) => `${m.id}:${m.role}`).sort(),
      [leader, stays, "n4"].map((id) => `${id}:voter`).sort(),
    );
    // The removed node learns it was removed (the voters refuse it as an
    // unknown node) and stops by itself with exit code 0.
    const exit = await c.node(removed).waitExit(10_000);
    assert.equal(
      exit.code,
      0,
      `${removed} exit status ${JSON.stringify(exit)}`,
    );
    assert.ok(
      c.node(removed).findLogs((r) => r.event === "node.removed").length > 0,
    );
    // Writes go on after the removal.
    await w.waitWrites(Math.max(w.acked.size + 5, 21));
    const stats = await w.stop();
    phase("stopped");
    console.log(`membership phases: ${phases.join(", ")}`);
    console.log(
      `membership: ${stats.writes} writes, ${stats.failures} failed attempts, longest gap ${
        stats.maxGap.toFixed(0)
      } ms`,
    );
    for (const f of stats.failed) console.log(`  failed: ${f}`);
    // About 10 times the usual longest gap (40-400 ms), for a loaded
    // machine; a stall behind an election or a request timeout is longer.
    assert.ok(stats.maxGap < 4000, `writes stalled ${stats.maxGap} ms`);
    assert.ok(stats.writes > 20);

    // n4 has every acknowledged write.
    await c.waitApplied([leader, stays, n4.id]);
    const kvs = await c.list("n4", "bg/", "serializable");
    const have = new Map(kvs.map((kv) => [kv.key, kv.modRevision]));
    for (const [key, rev] of w.acked) assert.equal(have.get(key), rev, key);

    // n4 is a real voter: with the old leader gone, {stays, n4} elect one.
    await c.node(leader).kill("SIGKILL");
    const next = await c.waitForLeader({ ids: [stays, "n4"] });
    assert.ok(next === stays || next === "n4");
    await c.putRetry([stays, "n4"], "bg/after", "x");
  } finally {
    await w.stop();
  }
}

Deno.test({
  name: "e2e: add a learner via the API, promote it, remove another node",
  ...E2E,
  fn: () =>
    withCluster({ nodes: 3 }, (c) =>
      scenario(c, async (leader) => {
        const real = c.peerAddresses();
        const n4 = c.addNode("n4");
        // The new node must know its peers' addresses to accept their
        // connections, so it gets the current members plus itself.
        n4.config.peers = { ...real, n4: n4.config.listen };
        const add = await http(`${c.url(leader)}/v1/cluster/members`, {
          method: "POST",
          body: {
            id: "n4",
            peerAddress: n4.config.listen,
            httpAddress: n4.config.http,
            learner: true,
          },
          timeoutMs: 10_000,
        });
        assert.equal(add.status, 201, JSON.stringify(add));
        await waitRole(c, leader, "n4", "learner");
        n4.start();
        await c.waitApplied(["n4"], { timeoutMs: 10_000 });
        const prom = await http(
          `${c.url(leader)}/v1/cluster/members/n4/promote`,
          { method: "POST", timeoutMs: 10_000 },
        );
        assert.equal(prom.status, 200, JSON.stringify(prom));
        return n4;
      })),
});

Deno.test({
  name: "e2e: raftd --join adds itself as a learner and gets promoted",
  ...E2E,
  fn: () =>
    withCluster({ nodes: 3 }, (c) =>
      scenario(c, (leader) => {
        const n4 = c.addNode("n4", { join: c.url(leader) });
        n4.start();
        return Promise.resolve(n4);
      })),
});
