/**
 * E2E: SIGTERM stops a raftd cleanly (exit code 0, shutdown logged) and a
 * restart on the same data directory has everything it had.
 *
 * "Promptly" is asserted by outcome, not wall time: raftd exits 1 when a
 * clean stop outlasts its own 5 s guard, so exit code 0 says it stopped in
 * time; a request in flight must be answered by the stop (503, shutting
 * down), not by its own timeout.
 */

import assert from "node:assert/strict";
import { E2E, type E2ECluster, http, sleep, withCluster } from "./harness.ts";

/** Polls `cond` until it holds (the deadline only turns a hang into an error). */
async function until(
  cond: () => Promise<boolean>,
  what: string,
  timeoutMs = 20_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await sleep(20);
  }
}

async function writeKeys(
  c: E2ECluster,
  ids: string[],
  prefix: string,
  n: number,
): Promise<Map<string, number>> {
  const acked = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const key = `${prefix}/${String(i).padStart(3, "0")}`;
    const r = await c.putRetry(ids, key, `${key}!`);
    acked.set(key, r.revision);
  }
  return acked;
}

async function assertHas(
  c: E2ECluster,
  id: string,
  acked: Map<string, number>,
): Promise<void> {
  for (const [key, rev] of acked) {
    const g = await c.get(id, key, "serializable");
    assert.equal(g.status, 200, `${key} on ${id}`);
    assert.equal(g.body.modRevision, rev, `${key} on ${id}`);
    assert.equal(g.body.value, `${key}!`);
  }
}

Deno.test({
  name: "e2e: SIGTERM exits 0 and a restart keeps the data",
  ...E2E,
  fn: () =>
    withCluster({ nodes: 3 }, async (c) => {
      const ids = ["n1", "n2", "n3"];
      const leader = await c.waitForLeader();
      const follower = ids.find((id) => id !== leader)!;
      const a = await writeKeys(c, ids, "a", 20);
      await c.waitApplied(ids);

      // A follower.
      const t0 = performance.now();
      const s1 = await c.node(follower).kill("SIGTERM");
      const stopMs = performance.now() - t0;
      // Exit 0: stopped within raftd's own 5 s guard, however loaded the machine.
      assert.equal(
        s1.code,
        0,
        `follower exit code ${s1.code} after ${stopMs.toFixed(0)} ms`,
      );
      assert.ok(
        c.node(follower).findLogs((r) => r.event === "raftd.shutdown").length,
      );
      assert.ok(
        c.node(follower).findLogs((r) => r.event === "node.stop").length,
      );
      const b = await writeKeys(c, [leader], "b", 10);
      c.node(follower).start();
      await c.waitForLeader({ ids });
      await c.waitApplied(ids);
      await assertHas(c, follower, a);
      await assertHas(c, follower, b);

      // The leader: a clean stop hands over to a new leader.
      const s2 = await c.node(leader).kill("SIGTERM");
      assert.equal(s2.code, 0, `leader exit code ${s2.code}`);
      const survivors = ids.filter((id) => id !== leader);
      const next = await c.waitForLeader({ ids: survivors });
      const d = await writeKeys(c, survivors, "d", 5);
      c.node(leader).start();
      await c.waitForLeader({ ids });
      await c.waitApplied(ids);
      assert.equal((await c.status(leader))!.role, "follower");
      for (const m of [a, b, d]) await assertHas(c, leader, m);

      // The whole cluster: stop all, start all, nothing lost.
      const revision = (await c.status(next))!.revision;
      const codes = await Promise.all(
        ids.map((id) => c.node(id).kill("SIGTERM")),
      );
      assert.deepEqual(codes.map((s) => s.code), [0, 0, 0]);
      for (const id of ids) c.node(id).start();
      await c.waitForLeader({ ids });
      await c.waitApplied(ids);
      for (const id of ids) {
        for (const m of [a, b, d]) await assertHas(c, id, m);
        const st = (await c.status(id))!;
        assert.equal(st.revision, revision, `revision on ${id}`);
        // Recovery was logged (raftd prefixes storage events with
        // "storage.", so this one reads "storage.storage.recovered").
        assert.ok(
          c.node(id).findLogs((r) => /storage\.recovered$/.test(r.event ?? ""))
            .length > 0,
        );
      }
      await c.putRetry(ids, "after/all", "x");
    }),
});

Deno.test({
  name: "e2e: SIGTERM with a write in flight still exits promptly with 0",
  ...E2E,
  // A 1 s election timeout (default 150 ms): the leader, cut off from its
  // followers, must still lead when the write reaches it (it steps down
  // one election timeout after the last word from them).
  fn: () =>
    withCluster({
      nodes: 3,
      extraArgs: ["--election-ticks", "100"],
    }, async (c) => {
      const leader = await c.waitForLeader();
      const others = c.running().filter((id) => id !== leader);
      await c.putRetry([leader], "x/before", "1");
      const last = (await c.status(leader))!.lastIndex;
      // No quorum: the leader's next proposal cannot commit.
      await Promise.all(others.map((id) => c.node(id).kill("SIGKILL")));
      const pending = c.put(leader, "x/stuck", "1", 15_000);
      // In flight: appended to the leader's log (it stays pending until
      // the stop or its own 5 s timeout answers it).
      await until(
        async () => ((await c.status(leader))?.lastIndex ?? 0) > last,
        "the write in the leader's log",
      );
      const t0 = performance.now();
      const s = await c.node(leader).kill("SIGTERM");
      const ms = performance.now() - t0;
      const r = await pending;
      // Answered by the stop, not by its timeout (504) nor cut off (0).
      assert.equal(r.status, 503, JSON.stringify(r));
      assert.match(
        String((r.body as { error?: { message?: string } }).error?.message),
        /shutting down/,
      );
      assert.equal(s.code, 0, `exit code ${s.code} after ${ms.toFixed(0)} ms`);
    }),
});

Deno.test({
  name: "e2e: SIGTERM with a lock waiter waiting exits promptly with 0",
  ...E2E,
  fn: () =>
    withCluster({ nodes: 1 }, async (c) => {
      const url = c.url("n1");
      const held = await http(`${url}/v1/locks/job/acquire`, {
        method: "POST",
        body: { ttl: 30 },
      });
      assert.equal(held.status, 200);
      const waiting = http(`${url}/v1/locks/job/acquire`, {
        method: "POST",
        body: { ttl: 30, wait: 30_000 },
        timeoutMs: 20_000,
      });
      // Queued before the signal (not a fixed sleep that may be too short).
      await until(async () => {
        const l = await http<{ waiters: number }>(`${url}/v1/locks/job`);
        return l.status === 200 && l.body.waiters === 1;
      }, "the waiter in the queue");
      const t0 = performance.now();
      const s = await c.node("n1").kill("SIGTERM");
      const ms = performance.now() - t0;
      const w = await waiting;
      // Woken by the stop (it would otherwise wait 30 s).
      assert.equal(w.status, 503, JSON.stringify(w));
      assert.match(
        String((w.body as { error?: { message?: string } }).error?.message),
        /shutting down/,
      );
      assert.equal(s.code, 0, `exit code ${s.code} after ${ms.toFixed(0)} ms`);
    }),
});
