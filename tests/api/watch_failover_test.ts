/**
 * A watcher on a follower sees every event exactly once, in order, while
 * the leader fails and a new one is elected.
 */

import assert from "node:assert/strict";
import { Client } from "../../src/client/mod.ts";
import { TestCluster } from "../support/cluster.ts";

Deno.test("a watch on a follower sees every event exactly once across the leader's failure", async () => {
  const c = await TestCluster.start(3);
  const ac = new AbortController();
  try {
    const leader = await c.waitForLeader();
    const [follower, other] = Object.keys(c.http).filter((id) => id !== leader);
    const watcher = new Client({
      endpoints: [c.url(follower)],
      discover: false,
    });
    const writer = new Client({ endpoints: [c.url(other), c.url(follower)] });
    const seen: number[] = [];
    const watching = (async () => {
      for await (
        const e of watcher.watch({ prefix: "fo/" }, { signal: ac.signal })
      ) {
        seen.push(e.revision);
        if (seen.length === 100) return;
      }
    })();
    await new Promise((r) => setTimeout(r, 100));
    const written: number[] = [];
    for (let i = 0; i < 100; i++) {
      if (i === 50) await c.stopNode(leader);
      written.push((await writer.put(`fo/${i}`, String(i))).revision);
    }
    await Promise.race([
      watching,
      new Promise((_, rej) =>
        setTimeout(() => rej(new Error("watch stalled")), 10_000)
      ),
    ]);
    assert.deepEqual(seen, written);
    for (let i = 1; i < seen.length; i++) assert.ok(seen[i] > seen[i - 1]);
    watcher.close();
    writer.close();
  } finally {
    ac.abort();
    await c.close();
  }
});
