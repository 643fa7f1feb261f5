import assert from "node:assert/strict";
import { Client, type RaftlockError } from "../../src/client/mod.ts";
import { TestCluster } from "../support/cluster.ts";
import { delay } from "./helpers.ts";

Deno.test("lock: held locks, keepalive, loss and await using", async (t) => {
  const c = await TestCluster.start(3);
  const client = new Client({ endpoints: c.urls() });
  try {
    await t.step(
      "await using releases the lock and revokes its lease",
      async () => {
        let token = 0;
        let lease = 0;
        {
          await using lock = await client.lock("job", { ttl: 5, owner: "t" });
          token = lock.token;
          lease = lock.lease;
          assert.equal(lock.name, "job");
          assert.deepEqual(lock.fence(), { lock: "job", token });
          assert.equal((await client.lockInfo("job")).holder?.token, token);
          await client.put("job/out", "1", { fence: lock.fence() });
          assert.equal(lock.lost, false);
        }
        assert.equal((await client.lockInfo("job")).holder, null);
        assert.equal(await client.checkToken("job", token), false);
        assert.equal(await client.lease(lease), null);
      },
    );

    await t.step("keepalive holds a 2 s lock for 5 s", async () => {
      const lock = await client.lock("keep", { ttl: 2 });
      try {
        await delay(5000);
        assert.equal(lock.lost, false);
        assert.equal(lock.signal.aborted, false);
        assert.equal(await client.checkToken("keep", lock.token), true);
      } finally {
        await lock.release();
      }
      assert.equal(lock.signal.aborted, true);
      assert.equal(lock.lost, false);
      assert.equal((await client.lockInfo("keep")).holder, null);
      await lock.release(); // twice is fine
    });

    await t.step("a lock whose lease is revoked is lost", async () => {
      let lostWith: RaftlockError | undefined;
      const lock = await client.lock("lose", {
        ttl: 2,
        onLost: (e) => (lostWith = e),
      });
      await client.revokeLease(lock.lease);
      const t0 = Date.now();
      // Noticed at the next keepalive (ttl / 3); 10 s only ends a hang.
      while (!lock.lost && Date.now() - t0 < 10_000) await delay(20);
      assert.equal(lock.lost, true);
      assert.equal(lostWith?.code, "lock_lost");
      assert.equal(lock.signal.aborted, true);
      assert.equal((lock.signal.reason as RaftlockError).code, "lock_lost");
      await lock.release(); // only cleans up
    });

    await t.step("a second lock waits for the first", async () => {
      const a = await client.lock("queue", { ttl: 5 });
      await assert.rejects(
        client.lock("queue", { ttl: 5 }),
        (e: RaftlockError) =>
          e.code === "lock_held" && e.holder?.token === a.token,
      );
      const waiting = client.lock("queue", { ttl: 5, wait: 5000 });
      await delay(150);
      await a.release();
      const b = await waiting;
      assert.ok(b.token > a.token);
      await b.release();
    });
  } finally {
    client.close();
    await c.close();
  }
});

Deno.test("lock: a held lock survives a leader failover", async () => {
  const c = await TestCluster.start(3);
  const client = new Client({ endpoints: c.urls() });
  try {
    const lock = await client.lock("survive", { ttl: 2 });
    await c.stopNode(await c.waitForLeader());
    await delay(3000);
    assert.equal(lock.lost, false);
    assert.equal(await client.checkToken("survive", lock.token), true);
    await lock.release();
  } finally {
    client.close();
    await c.close();
  }
});
