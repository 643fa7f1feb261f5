/**
 * E2E: with no faults at all, a busy cluster keeps its leader — in
 * particular while every node takes snapshots of a large state.
 */

import assert from "node:assert/strict";
import { E2E, withCluster } from "./harness.ts";

Deno.test({
  name: "e2e: no elections without faults while nodes snapshot a large state",
  // BUG: src/node/node.ts RaftNode#handleReady awaits #takeSnapshot() inside
  // the Ready loop, and #encodeSnapshot() msgpack-encodes the whole state
  // synchronously. With a state of a few MB the node stops sending
  // (heartbeat) responses for longer than the 150-300 ms election timeout;
  // all nodes snapshot at the same applied index, so the leader logs
  // raft.lostQuorum, steps down, and elections follow (terms 1 -> 3..5 in
  // bench/cluster_bench.ts at 64 concurrent PUTs, ~10k keys). See the report.
  ignore: true,
  ...E2E,
  fn: () =>
    withCluster({ nodes: 3, snapshotEvery: 20 }, async (c) => {
      const ids = ["n1", "n2", "n3"];
      const leader = await c.waitForLeader();
      const term = (await c.status(leader))!.term;
      const big = "v".repeat(512 * 1024);
      let slowest = 0;
      const failed: string[] = [];
      for (let i = 0; i < 80; i++) {
        const r = await c.put(leader, `big/${i}`, big, 10_000);
        slowest = Math.max(slowest, r.ms);
        if (r.status !== 200) {
          failed.push(`big/${i}: ${r.status} ${JSON.stringify(r.body)}`);
          await c.putRetry(ids, `big/${i}`, big, 20_000);
        }
      }
      await c.waitApplied(ids);
      const st = await c.statuses(ids);
      assert.ok(
        st.every((s) => s!.snapshotIndex > 0),
        "every node took a snapshot",
      );
      const terms = st.map((s) => s!.term);
      const elections = ids.flatMap((id) =>
        c.node(id).findLogs((r) =>
          r.event === "raft.lostQuorum" || r.event === "raft.campaign"
        ).map((r) => `${id}: ${r.raw}`)
      );
      console.log(
        `stability: slowest PUT ${
          slowest.toFixed(0)
        } ms, terms ${terms}, failed PUTs: ${failed.length}`,
      );
      assert.deepEqual(
        terms,
        [term, term, term],
        `elections happened:\n${elections.join("\n")}\n${failed.join("\n")}`,
      );
      assert.deepEqual(failed, []);
    }),
});
