/**
 * E2E: three raftd processes elect one leader, and writes sent to any node
 * are applied on every node in the same order.
 */

import assert from "node:assert/strict";
import { E2E, type KeyValue, withCluster } from "./harness.ts";

Deno.test({
  name: "e2e: 3 nodes agree on one leader and apply writes in the same order",
  ...E2E,
  fn: () =>
    withCluster({ nodes: 3 }, async (c) => {
      const ids = ["n1", "n2", "n3"];
      // One leader, one term, and every node agrees.
      const leader = await c.waitForLeader();
      const st = await c.statuses(ids);
      assert.equal(st.filter((s) => s!.role === "leader").length, 1);
      assert.equal(new Set(st.map((s) => s!.term)).size, 1);
      assert.ok(st.every((s) => s!.leader === leader));

      // Sequential writes, round robin over the three nodes: two rounds
      // over the same 30 keys, so each key ends at version 2.
      const acked = new Map<string, number[]>();
      let prev = 0;
      for (let round = 0; round < 2; round++) {
        for (let i = 0; i < 30; i++) {
          const id = ids[i % 3];
          const key = `seq/${String(i).padStart(3, "0")}`;
          const r = await c.put(id, key, `${key}@${round}@${id}`);
          assert.equal(r.status, 200, `PUT ${key} on ${id}: ${r.status}`);
          // Revisions of sequential writes strictly increase.
          assert.ok(r.body.revision > prev, `revision ${r.body.revision}`);
          prev = r.body.revision;
          acked.set(key, [...(acked.get(key) ?? []), r.body.revision]);
        }
      }
      // Concurrent writes, 20 to each node at once, several to the same
      // keys: the nodes must agree on the order the log chose.
      const results = await Promise.all(
        Array.from({ length: 60 }, (_, i) => {
          const id = ids[i % 3];
          const key = `par/${i % 7}`;
          return c.put(id, key, `w${i}@${id}`).then((r) => ({ r, key, i }));
        }),
      );
      for (const { r, key } of results) {
        assert.equal(r.status, 200, `concurrent PUT ${key}`);
      }
      const revs = results.map(({ r }) => r.body.revision);
      assert.equal(new Set(revs).size, revs.length, "revisions are unique");

      // Wait until every node has applied what the leader committed, then
      // read everything from each node's own state.
      const index = await c.waitApplied(ids);
      const views = new Map<string, KeyValue[]>();
      for (const id of ids) {
        const s = (await c.status(id))!;
        assert.ok(s.applied >= index);
        const seq = await c.list(id, "seq/", "serializable");
        const par = await c.list(id, "par/", "serializable");
        views.set(id, [...seq, ...par]);
        // And key by key.
        for (const [key, rs] of acked) {
          const g = await c.get(id, key, "serializable");
          assert.equal(g.status, 200, `${key} on ${id}`);
          assert.equal(
            g.body.modRevision,
            rs[1],
            `${key} modRevision on ${id}`,
          );
          assert.equal(g.body.createRevision, rs[0]);
          assert.equal(g.body.version, 2);
        }
      }
      const [a, b, d] = ids.map((id) => views.get(id)!);
      assert.equal(a.length, 30 + 7);
      assert.deepEqual(b, a, "n2 and n1 hold the same keys and revisions");
      assert.deepEqual(d, a, "n3 and n1 hold the same keys and revisions");
      // The last acknowledged write to each concurrent key is what stayed.
      for (const kv of a.filter((kv) => kv.key.startsWith("par/"))) {
        const last = results.filter((x) => x.key === kv.key)
          .sort((x, y) => y.r.body.revision - x.r.body.revision)[0];
        assert.equal(kv.modRevision, last.r.body.revision);
        assert.equal(kv.value, `w${last.i}@${ids[last.i % 3]}`);
      }
      // Same applied state: same global revision on every node.
      const revisions = new Set(
        (await c.statuses(ids)).map((s) => s!.revision),
      );
      assert.equal(revisions.size, 1, `revisions ${[...revisions]}`);
    }),
});
