/**
 * E2E: SIGKILL of the raftd leader while a lock, an election's leadership
 * and semaphore permits are held (each by the client, its lease kept
 * alive in the background), a second candidate waits, and an observer
 * follows the election. Each holder either keeps its grant (its token
 * still fences writes) or learns that it lost it; fencing tokens never go
 * backwards; the waiting candidate wins once the leader resigns; the
 * observer never reports an older leader after a newer one.
 */

import assert from "node:assert/strict";
import {
  Client,
  type ElectionEvent,
  type Fence,
  type Held,
} from "../../src/client/mod.ts";
import { E2E, sleep, withCluster } from "./harness.ts";

async function until(
  what: string,
  cond: () => Promise<boolean> | boolean,
  ms = 30_000,
) {
  const t0 = Date.now();
  while (!(await cond())) {
    assert.ok(Date.now() - t0 < ms, `${what} never happened`);
    await sleep(50);
  }
}

Deno.test({
  name:
    "e2e: kill -9 of the leader while a lock, an election and a semaphore are held",
  ...E2E,
  fn: () =>
    withCluster({ nodes: 3 }, async (c) => {
      const urls = c.running().map((id) => c.url(id));
      const client = new Client({ endpoints: urls });
      const observer = new Client({ endpoints: urls });
      const stop = new AbortController();
      try {
        const lock = await client.lock("fo/lock", { ttl: 5 });
        const leader = await client.campaign("fo/elect", "first", { ttl: 5 });
        const permits = await client.semaphore("fo/sem", {
          limit: 3,
          permits: 2,
          ttl: 5,
        });
        const held: [Held, Fence][] = [
          [lock, lock.fence()],
          [leader, leader.fence()],
          [permits, permits.fence()],
        ];
        const tokensBefore = held.map(([h]) => h.token);
        // tokens strictly increase over the grants made so far
        for (let i = 1; i < tokensBefore.length; i++) {
          assert.ok(tokensBefore[i] > tokensBefore[i - 1]);
        }

        const seen: ElectionEvent[] = [];
        const reading = (async () => {
          for await (
            const e of observer.observe("fo/elect", { signal: stop.signal })
          ) seen.push(e);
        })();
        await until("the observer's first event", () => seen.length >= 1);

        // A second candidate waits in line across the failover.
        const second = client.campaign("fo/elect", "second", { ttl: 5 });
        await until(
          "the second candidate queued",
          async () =>
            (await client.elections()).some((e) =>
              e.name === "fo/elect" && e.candidates > 0
            ),
        );

        const dead = await c.waitForLeader();
        await c.node(dead).kill("SIGKILL");
        const survivors = c.running();
        await c.waitForLeader({ ids: survivors });
        // Well past a TTL: every keepalive loop has had to go through
        // the new leader.
        await sleep(6000);

        for (const [h, fence] of held) {
          const valid = await client.checkFence(fence);
          if (h.lost) {
            assert.equal(valid, false, `${JSON.stringify(fence)} lost`);
            assert.equal(h.signal.aborted, true);
          } else {
            // Kept: its token still fences writes.
            assert.equal(valid, true, `${JSON.stringify(fence)} kept`);
            await client.put(`fo/out/${Object.keys(fence)[0]}`, "x", {
              fence,
            });
          }
          console.log(
            `${JSON.stringify(fence)}: ${
              h.lost ? "lost" : "kept"
            } across the failover`,
          );
        }

        // Hand the election over; the waiting candidate wins.
        await leader.resign();
        const next = await second;
        assert.equal(next.value, "second");
        await lock.release();
        await permits.release();
        // New grants after the failover: tokens only go up.
        const again = await client.lock("fo/lock", { ttl: 5 });
        const more = await client.semaphore("fo/sem", { limit: 3, ttl: 5 });
        const max = Math.max(...tokensBefore);
        for (const t of [next.token, again.token, more.token]) {
          assert.ok(t > max, `token ${t} after ${max}`);
        }
        // The stale tokens fence nothing.
        for (const [, fence] of held) {
          await assert.rejects(
            client.put("fo/out/stale", "x", { fence }),
            (e: Error & { code?: string }) => e.code === "stale_token",
          );
        }
        await next.resign();
        await again.release();
        await more.release();
        await until(
          "the observer saw nobody leading",
          () => seen.at(-1)?.leader === null,
        );
        stop.abort();
        await reading;
        for (let i = 1; i < seen.length; i++) {
          assert.ok(
            seen[i].revision > seen[i - 1].revision,
            `observer went back: ${JSON.stringify(seen)}`,
          );
        }
        const values = seen.map((e) => e.leader?.value ?? null);
        assert.equal(values[0], "first");
        assert.ok(values.includes("second"));
        assert.ok(values.lastIndexOf("first") < values.indexOf("second"));
      } finally {
        stop.abort();
        client.close();
        observer.close();
      }
    }),
});
