/**
 * E2E: disaster recovery with `raftd --force-new-cluster`. A 3-node cluster
 * with data loses two nodes for good; the third, restarted with the flag,
 * becomes a one-member cluster with every key and revision, takes writes,
 * and a fresh member joins it (`--join`) and gets everything.
 */

import assert from "node:assert/strict";
import { E2E, http, type KeyValue, withCluster } from "./harness.ts";

Deno.test({
  name: "e2e: --force-new-cluster turns a survivor into a one-member cluster",
  ...E2E,
  fn: () =>
    withCluster({ nodes: 3 }, async (c) => {
      const leader = await c.waitForLeader();
      const acked = new Map<string, number>();
      for (let i = 0; i < 200; i++) {
        const key = `data/${String(i).padStart(4, "0")}`;
        const r = await c.putRetry([leader], key, `v${i}`);
        acked.set(key, r.revision);
      }
      const survivor = "n3";
      await c.waitApplied([survivor]);
      const before = await c.list(survivor, "data/", "serializable");
      assert.equal(before.length, 200);

      // n1 and n2 are gone for good; the survivor is stopped too and
      // restarted with the flag (its --peers still name the dead ones).
      for (const id of ["n1", "n2", survivor]) {
        await c.node(id).kill("SIGKILL");
      }
      const s = c.node(survivor);
      s.config.extraArgs = ["--force-new-cluster"];
      s.start();
      const lead = await c.waitForLeader({ ids: [survivor] });
      assert.equal(lead, survivor);

      const warn = s.findLogs((r) => r.event === "server.forceNewCluster");
      assert.equal(warn.length, 1);
      assert.equal(warn[0].level, "warn");
      assert.deepEqual(warn[0].removed, ["n1", "n2"]);
      assert.ok(
        s.findLogs((r) => r.raw.includes("WARNING: --force-new-cluster"))
          .length > 0,
        "the loud warning on stderr",
      );
      const cluster = await http<{ members: { id: string; role: string }[] }>(
        `${c.url(survivor)}/v1/cluster`,
      );
      assert.deepEqual(
        cluster.body.members.map((m) => `${m.id}:${m.role}`),
        [`${survivor}:voter`],
      );

      // Every key, with its revision.
      const after = await c.list(survivor, "data/");
      const have = new Map(after.map((kv: KeyValue) => [kv.key, kv]));
      assert.equal(after.length, acked.size);
      for (const [key, rev] of acked) {
        assert.equal(have.get(key)?.modRevision, rev, key);
        assert.equal(have.get(key)?.value, `v${Number(key.slice(5))}`);
      }
      // Writes work, and revisions go on from where they were.
      const w = await c.putRetry([survivor], "after/force", "1");
      assert.ok(w.revision > Math.max(...acked.values()));

      // A fresh member joins the new cluster and gets everything.
      const n4 = c.addNode("n4", { join: c.url(survivor) });
      n4.start();
      const deadline = Date.now() + 20_000;
      for (;;) {
        const r = await http<{ members: { id: string; role: string }[] }>(
          `${c.url(survivor)}/v1/cluster`,
        );
        if (r.body.members?.some((m) => m.id === "n4" && m.role === "voter")) {
          break;
        }
        if (Date.now() > deadline) {
          throw new Error(`n4 never became a voter: ${JSON.stringify(r)}`);
        }
        await new Promise((r) => setTimeout(r, 100));
      }
      await c.waitApplied(["n4"]);
      const copy = await c.list("n4", "data/", "serializable");
      assert.deepEqual(copy, after);
      // Two voters now: both must agree to commit.
      await c.putRetry([survivor, "n4"], "after/join", "1");

      // Restarted without the flag, the survivor keeps its new membership.
      await s.kill("SIGTERM");
      s.config.extraArgs = [];
      s.start();
      await c.waitForLeader({ ids: [survivor, "n4"] });
      const again = await http<{ members: { id: string }[] }>(
        `${c.url(survivor)}/v1/cluster`,
      );
      assert.deepEqual(again.body.members.map((m) => m.id).sort(), [
        "n3",
        "n4",
      ]);
    }),
});
