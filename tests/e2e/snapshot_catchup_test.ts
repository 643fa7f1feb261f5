/**
 * E2E: a follower that was down while the leader compacted its log comes
 * back and catches up by installing a snapshot sent over TCP.
 */

import assert from "node:assert/strict";
import { E2E, withCluster } from "./harness.ts";

Deno.test({
  name: "e2e: a node far behind catches up by snapshot",
  ...E2E,
  fn: () =>
    withCluster({ nodes: 3, snapshotEvery: 50 }, async (c) => {
      const ids = ["n1", "n2", "n3"];
      const leader = await c.waitForLeader();
      const lagger = ids.find((id) => id !== leader)!;
      const before = (await c.status(lagger))!;
      assert.equal(before.snapshotIndex, 0);

      const exit = await c.node(lagger).kill("SIGTERM");
      assert.equal(exit.code, 0, "SIGTERM exits cleanly");

      // 300 keys through the leader, 8 at a time.
      const N = 300;
      const keys = Array.from(
        { length: N },
        (_, i) => `snap/${String(i).padStart(4, "0")}`,
      );
      let next = 0;
      await Promise.all(Array.from({ length: 8 }, async () => {
        while (next < N) {
          const key = keys[next++];
          const r = await c.put(leader, key, `value of ${key}`);
          assert.equal(r.status, 200, `PUT ${key}: ${r.status}`);
        }
      }));
      const ls = (await c.status(leader))!;
      assert.ok(ls.snapshotIndex > before.lastIndex, "the leader compacted");

      const fromLine = c.node(lagger).logs().length;
      c.node(lagger).start();
      await c.waitApplied(ids, { index: ls.commit, timeoutMs: 20_000 });
      const installed = await c.node(lagger).waitForLog(
        (r) => r.event === "node.snapshotInstalled",
        { fromLine, timeoutMs: 10_000 }, // already logged: 10 s only ends a hang
      );
      const st = (await c.status(lagger))!;
      assert.ok(st.snapshotIndex > 0, `snapshotIndex ${st.snapshotIndex}`);
      assert.ok(
        (installed.index as number) > before.lastIndex,
        "installed a snapshot from the leader",
      );
      const last = await c.get(lagger, keys[N - 1], "serializable");
      assert.equal(last.status, 200);
      assert.equal(last.body.value, `value of ${keys[N - 1]}`);
      const all = await c.list(lagger, "snap/", "serializable");
      assert.equal(all.length, N);
      assert.deepEqual(all, await c.list(leader, "snap/", "serializable"));

      // And it keeps replicating normally afterwards.
      const r = await c.put(lagger, "snap/after", "x");
      assert.equal(r.status, 200);
    }),
});
