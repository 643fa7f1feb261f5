/**
 * The service's side of the space quota and the duplicate-request window:
 * the leader raises the quota alarm past `quotaBytes` and clears it under
 * 95 %, a node whose disk is full raises its `nospace` alarm, writes that
 * add data are refused before they are proposed, and the leader stamps
 * remembered results with the cluster time.
 */

import assert from "node:assert/strict";
import { ServiceError } from "../../src/service/mod.ts";
import { eventually, ServiceCluster } from "./cluster.ts";

const isQuota = (e: unknown) =>
  e instanceof ServiceError && e.code === "quota_exceeded";

Deno.test("the quota alarm: raised past the quota, refuses growth, clears under 95 %", async () => {
  const c = await ServiceCluster.start(3, { quotaBytes: 64 * 1024 });
  try {
    const leader = await c.leader();
    const f = await c.follower();
    const value = "v".repeat(4096);
    const acked: string[] = [];
    // Fill through a follower until the alarm stops the writes.
    for (let i = 0; i < 200; i++) {
      try {
        await f.service.put({ key: `fill/${i}`, value });
        acked.push(`fill/${i}`);
      } catch (e) {
        assert.ok(isQuota(e), String(e));
        break;
      }
      if (i === 199) assert.fail("the alarm never came");
    }
    assert.ok(acked.length >= 8, `${acked.length} puts`);
    assert.deepEqual(f.state.alarms().map((a) => a.kind), ["quota"]);
    assert.ok(f.state.stateBytes() > 64 * 1024);
    // Every acknowledged put is there, on every node.
    for (const m of c.members) {
      await eventually(() => m.node.applied >= leader.node.applied);
      for (const k of acked) assert.equal(m.state.get(k)?.value, value);
    }
    // What adds data is refused, at the leader too; the rest goes on.
    await assert.rejects(
      leader.service.put({ key: "new", value: "x" }),
      isQuota,
    );
    await assert.rejects(leader.service.grantLease(5), isQuota);
    await assert.rejects(
      leader.service.acquire("L", { ttl: 5, wait: 0 }),
      isQuota,
    );
    await leader.service.put({ key: acked[0], value: "small" });
    assert.ok(leader.service.counters.quotaRefused >= 3);
    // Deleting brings the state back under 95 %: the alarm clears.
    await f.service.delete({ key: "fill/", prefix: true });
    await eventually(() => !f.state.alarmed, 10_000, "the alarm to clear");
    await f.service.put({ key: "after", value: "x" });
  } finally {
    await c.close();
  }
});

Deno.test("a node whose disk is full raises its nospace alarm, and clears it", async () => {
  let full = false;
  const c = await ServiceCluster.start(3, { noSpace: () => full });
  try {
    const leader = await c.leader();
    full = true; // every member's disk, as far as this test goes
    // Refused at once on the node that knows, before any alarm is in.
    await assert.rejects(
      leader.service.put({ key: "k", value: "v" }),
      (e) => isQuota(e) && /disk of node n\d is full/.test(String(e)),
    );
    await eventually(
      () =>
        leader.state.alarms().filter((a) => a.kind === "nospace").length ===
          3,
      10_000,
      "three nospace alarms",
    );
    assert.deepEqual(
      leader.state.alarms().map((a) => a.node),
      ["n1", "n2", "n3"],
    );
    await leader.service.delete({ key: "k" });
    full = false;
    await eventually(
      () => !leader.state.alarmed,
      10_000,
      "the alarms to clear",
    );
    await leader.service.put({ key: "k", value: "v" });
  } finally {
    await c.close();
  }
});

Deno.test("the leader stamps remembered results with the cluster time", async () => {
  const c = await ServiceCluster.start(1, { timeIntervalMs: 100 });
  try {
    const m = await c.leader();
    // Only a client's own request id is remembered.
    await m.service.put({ key: "a", value: "1" });
    assert.equal(m.state.dedupeStats().entries, 0);
    const requestId = { client: "me", seq: 1 };
    const first = await m.service.put({ key: "a", value: "2" }, { requestId });
    assert.equal(m.state.dedupeStats().fresh, 1);
    await eventually(
      () => m.state.dedupeStats().fresh === 0,
      10_000,
      "a time command",
    );
    assert.ok(m.state.clusterTime > 0);
    assert.deepEqual(
      await m.service.put({ key: "a", value: "3" }, { requestId }),
      first,
    );
    assert.equal(m.state.get("a")?.value, "2");
  } finally {
    await c.close();
  }
});
