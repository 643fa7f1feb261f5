import assert from "node:assert/strict";
import {
  Client,
  type ElectionEvent,
  type RaftlockError,
} from "../../src/client/mod.ts";
import { TestCluster } from "../support/cluster.ts";
import { delay } from "./helpers.ts";

async function until(cond: () => Promise<boolean> | boolean, ms = 10_000) {
  const t0 = Date.now();
  while (!(await cond())) {
    assert.ok(Date.now() - t0 < ms, "condition never held");
    await delay(20);
  }
}

Deno.test("client recipes: elections, observers, semaphores, read-write locks, keys with a ttl", async (t) => {
  const c = await TestCluster.start(3);
  const client = new Client({ endpoints: c.urls() });
  try {
    await t.step(
      "campaign waits its turn; proclaim; resign hands over",
      async () => {
        const a = await client.campaign("sched", "a:1", { ttl: 5 });
        assert.equal(a.name, "sched");
        assert.equal(a.value, "a:1");
        assert.deepEqual(a.fence(), { election: "sched", token: a.token });
        const bP = client.campaign("sched", "b:1", { ttl: 5 });
        await until(async () =>
          (await client.elections())[0]?.candidates === 1
        );
        const p = await a.proclaim("a:2");
        assert.equal(p.value, "a:2");
        assert.equal(a.value, "a:2");
        assert.equal((await client.leader("sched"))?.value, "a:2");
        await client.put("sched/epoch", "1", { fence: a.fence() });
        await a.resign();
        assert.equal(a.signal.aborted, true);
        assert.equal(a.lost, false);
        const b = await bP;
        assert.ok(b.token > a.token);
        assert.equal((await client.leader("sched"))?.value, "b:1");
        await assert.rejects(
          client.put("sched/epoch", "2", { fence: a.fence() }),
          (e: RaftlockError) => e.code === "stale_token",
        );
        assert.equal(await client.checkFence(a.fence()), false);
        assert.equal(await client.checkFence(b.fence()), true);
        // A try with wait 0 fails at once while b leads.
        await assert.rejects(
          client.campaign("sched", "c", { wait: 0 }),
          (e: RaftlockError) => e.code === "lock_held",
        );
        await b.resign();
        assert.equal(await client.leader("sched"), null);
      },
    );

    await t.step(
      "leadership whose lease is revoked is lost; proclaim says so",
      async () => {
        let lostWith: RaftlockError | undefined;
        const a = await client.campaign("lose", "a", {
          ttl: 2,
          onLost: (e) => (lostWith = e),
        });
        await client.revokeLease(a.lease);
        await assert.rejects(
          a.proclaim("x"),
          (e: RaftlockError) => e.code === "stale_token",
        );
        assert.equal(a.lost, true);
        assert.equal(lostWith?.code, "lock_lost");
        assert.match(lostWith!.message, /Leadership of election lose/);
        await a.resign(); // only cleans up
      },
    );

    await t.step(
      "observe: the state, then every change, never back in time",
      async () => {
        const stop = new AbortController();
        const seen: ElectionEvent[] = [];
        const obs = client.observe("obs", { signal: stop.signal });
        const reading = (async () => {
          for await (const e of obs) seen.push(e);
        })();
        await until(() => seen.length === 1);
        assert.equal(seen[0].leader, null);
        const a = await client.campaign("obs", "a", { ttl: 5 });
        await a.proclaim("a2");
        const bP = client.campaign("obs", "b", { ttl: 5 });
        await until(async () =>
          (await client.elections()).some((e) =>
            e.name === "obs" && e.candidates > 0
          )
        );
        await a.resign();
        const b = await bP;
        await b.resign();
        await until(() => seen.length >= 5);
        stop.abort();
        await reading;
        assert.deepEqual(seen.map((e) => e.leader?.value ?? null), [
          null,
          "a",
          "a2",
          "b",
          null,
        ]);
        for (let i = 1; i < seen.length; i++) {
          assert.ok(seen[i].revision > seen[i - 1].revision);
        }
        assert.equal(obs.revision, seen.at(-1)!.revision);
        // Resuming after the last revision: nothing new yet.
        const again: ElectionEvent[] = [];
        const stop2 = new AbortController();
        const reading2 = (async () => {
          for await (
            const e of client.observe("obs", {
              signal: stop2.signal,
              afterRevision: seen[2].revision,
            })
          ) again.push(e);
        })();
        await until(() => again.length === 1);
        stop2.abort();
        await reading2;
        // Only the state now (nobody leads), never the older leaders.
        assert.equal(again[0].leader, null);
        assert.ok(again[0].revision > seen[2].revision);
      },
    );

    await t.step(
      "semaphore permits: held, limited, FIFO, released",
      async () => {
        const a = await client.semaphore("pool", {
          limit: 2,
          permits: 2,
          ttl: 5,
        });
        assert.equal(a.permits, 2);
        assert.deepEqual(a.fence(), { semaphore: "pool", token: a.token });
        await assert.rejects(
          client.semaphore("pool", { limit: 3, ttl: 5 }),
          (e: RaftlockError) => e.code === "conflict",
        );
        await assert.rejects(
          client.semaphore("pool", { limit: 2, ttl: 5 }),
          (e: RaftlockError) => e.code === "lock_held",
        );
        const bP = client.semaphore("pool", { limit: 2, ttl: 5, wait: 5000 });
        await until(async () =>
          (await client.semaphoreInfo("pool")).waiters.length === 1
        );
        const info = await client.semaphoreInfo("pool");
        assert.equal(info.held + info.free, info.limit);
        await a.release();
        const b = await bP;
        assert.equal((await client.semaphoreInfo("pool")).held, 1);
        await b.release();
        assert.equal((await client.semaphoreInfo("pool")).limit, 0);
        assert.deepEqual(await client.semaphores(), []);
      },
    );

    await t.step(
      "read-write locks: readers share, a writer waits",
      async () => {
        const r1 = await client.rwlock("doc", "read", { ttl: 5 });
        const r2 = await client.rwlock("doc", "read", { ttl: 5 });
        assert.equal(r1.mode, "read");
        const wP = client.rwlock("doc", "write", { ttl: 5, wait: 5000 });
        await until(async () =>
          (await client.rwlockInfo("doc")).waiters.length === 1
        );
        await assert.rejects(
          client.rwlock("doc", "read", { ttl: 5 }),
          (e: RaftlockError) => e.code === "lock_held",
        );
        await r1.release();
        await r2.release();
        await using w = await wP;
        assert.equal(w.mode, "write");
        assert.equal((await client.rwlockInfo("doc")).mode, "write");
        await client.put("doc/body", "x", { fence: w.fence() });
        assert.equal(await client.checkFence(r1.fence()), false);
      },
    );

    await t.step(
      "put with ttl: the key goes when its lease is not renewed",
      async () => {
        const r = await client.put("tmp/k", "v", { ttl: 1 });
        assert.ok(r.lease);
        const again = await client.put("tmp/k", "w", { ttl: 1 });
        assert.equal(again.lease, r.lease);
        await until(async () => (await client.get("tmp/k")) === null, 15_000);
        assert.equal(await client.lease(r.lease!), null);
      },
    );
  } finally {
    client.close();
    await c.close();
  }
});
