/**
 * Cluster, status and snapshot routes in-process on a single node (the
 * leader, so nothing is forwarded; forwarding is covered on three nodes in
 * routes_test.ts): status, members, membership changes, leadership
 * transfer, the backup snapshot, and their errors.
 */

import assert from "node:assert/strict";
import { decodeBackup } from "../../src/storage/backup.ts";
import { ServiceStateMachine } from "../../src/state/machine.ts";
import {
  assertRaftHeaders,
  assertUnavailable,
  errCode,
  errMessage,
  withNode,
} from "./single_node.ts";

Deno.test("GET /v1/status and GET /v1/cluster", async () => {
  await withNode(async (n) => {
    await n.call("PUT", "/v1/kv/a", { value: "1" });
    const s = await n.call("GET", "/v1/status");
    assert.equal(s.status, 200);
    assert.deepEqual(Object.keys(s.json).sort(), [
      "applied",
      "commit",
      "id",
      "lastIndex",
      "leader",
      "revision",
      "role",
      "snapshotIndex",
      "space",
      "term",
    ]);
    assert.deepEqual(s.json.space, {
      stateBytes: (s.json.space as { stateBytes: number }).stateBytes,
      quotaBytes: 2 * 1024 ** 3,
      noSpace: false,
      alarms: [],
    });
    assert.ok((s.json.space as { stateBytes: number }).stateBytes > 0);
    assert.equal(s.json.id, "n1");
    assert.equal(s.json.role, "leader");
    assert.equal(s.json.leader, "n1");
    assert.equal(s.json.revision, 1);
    assert.ok((s.json.commit as number) >= 2);
    assertRaftHeaders(s, 1);

    for (const path of ["/v1/cluster", "/v1/cluster?local"]) {
      const c = await n.call("GET", path);
      assert.equal(c.status, 200);
      assert.equal(c.json.leader, "n1");
      assert.equal(c.json.term, s.json.term);
      const members = c.json.members as Record<string, unknown>[];
      assert.equal(members.length, 1);
      assert.equal(members[0].id, "n1");
      assert.equal(members[0].role, "voter");
      assert.equal(members[0].isLeader, true);
      assert.equal(members[0].httpAddress, "127.0.0.1:8001");
      assert.equal(members[0].peerAddress, "127.0.0.1:7001");
    }
  });
});

Deno.test("membership: add a learner, promote and transfer errors, remove", async () => {
  await withNode(async (n) => {
    const bad = await n.call("POST", "/v1/cluster/members", {
      id: "bad id!",
      peerAddress: "x",
    });
    assert.equal(bad.status, 400);
    assert.equal(errCode(bad), "bad_request");
    assert.match(errMessage(bad), /^Invalid id: id must be 1-64 letters/);

    const add = await n.call("POST", "/v1/cluster/members", {
      id: "n2",
      peerAddress: "127.0.0.1:7002",
      httpAddress: "127.0.0.1:8002",
    });
    assert.equal(add.status, 201);
    assert.deepEqual(add.json, { id: "n2", role: "learner" });
    const members = (await n.call("GET", "/v1/cluster")).json
      .members as { id: string; role: string }[];
    assert.deepEqual(members.map((m) => [m.id, m.role]).sort(), [
      ["n1", "voter"],
      ["n2", "learner"],
    ]);

    const voter = await n.call("POST", "/v1/cluster/members/n1/promote");
    assert.equal(voter.status, 409);
    assert.deepEqual(voter.json, {
      error: { code: "conflict", message: "n1 is already a voter" },
    });
    const nobody = await n.call("POST", "/v1/cluster/members/n9/promote");
    assert.equal(nobody.status, 404);
    assert.deepEqual(nobody.json, {
      error: { code: "not_found", message: "n9 is not a member" },
    });

    const toLearner = await n.call("POST", "/v1/cluster/leader", { to: "n2" });
    assert.equal(toLearner.status, 400);
    assert.equal(
      errMessage(toLearner),
      "n2 is a learner; promote it before moving leadership to it",
    );
    const toNobody = await n.call("POST", "/v1/cluster/leader", { to: "n9" });
    assert.equal(toNobody.status, 404);
    assert.equal(errCode(toNobody), "not_found");
    const toNothing = await n.call("POST", "/v1/cluster/leader", {});
    assert.equal(toNothing.status, 400);
    assert.equal(errCode(toNothing), "bad_request");
    const toSelf = await n.call("POST", "/v1/cluster/leader", { to: "n1" });
    assert.equal(toSelf.status, 200);
    assert.deepEqual(toSelf.json, { leader: "n1" });

    const gone = await n.call("DELETE", "/v1/cluster/members/n9");
    assert.equal(gone.status, 404);
    assert.equal(errCode(gone), "not_found");
    assertRaftHeaders(gone);
    const rm = await n.call("DELETE", "/v1/cluster/members/n2");
    assert.equal(rm.status, 200);
    assert.deepEqual(rm.json, { id: "n2", removed: true });
    assert.equal(
      ((await n.call("GET", "/v1/cluster")).json.members as unknown[]).length,
      1,
    );
  });
});

Deno.test("membership safety: a voter joins as a learner first, a silent learner is not promoted", async () => {
  await withNode(async (n) => {
    const direct = await n.call("POST", "/v1/cluster/members", {
      id: "n2",
      peerAddress: "127.0.0.1:7002",
      learner: false,
    });
    assert.equal(direct.status, 409);
    assert.equal(errCode(direct), "conflict");
    assert.match(
      errMessage(direct),
      /^Adding n2 as a voter directly raises the quorum .* Add it as a learner first/,
    );
    const bad = await n.call("POST", "/v1/cluster/members", {
      id: "n2",
      peerAddress: "127.0.0.1:7002",
      force: "yes",
    });
    assert.equal(bad.status, 400);
    const members = async () =>
      ((await n.call("GET", "/v1/cluster")).json.members as {
        id: string;
        role: string;
      }[]).map((m) => `${m.id}:${m.role}`).sort();
    assert.deepEqual(await members(), ["n1:voter"]);

    const add = await n.call("POST", "/v1/cluster/members", {
      id: "n2",
      peerAddress: "127.0.0.1:7002",
    });
    assert.equal(add.status, 201);
    const again = await n.call("POST", "/v1/cluster/members", {
      id: "n2",
      peerAddress: "127.0.0.1:7002",
      learner: false,
    });
    assert.equal(again.status, 409);
    assert.match(errMessage(again), /^n2 is already a learner; promote it/);
    const twice = await n.call("POST", "/v1/cluster/members", {
      id: "n2",
      peerAddress: "127.0.0.1:7002",
    });
    assert.equal(twice.status, 409);
    assert.equal(errMessage(twice), "n2 is already a learner");
    // n2 runs nowhere: never heard from, never caught up.
    const promote = await n.call("POST", "/v1/cluster/members/n2/promote");
    assert.equal(promote.status, 409);
    assert.match(errMessage(promote), /^Learner n2 has not/);
    assert.deepEqual(await members(), ["n1:voter", "n2:learner"]);
    // Removing a learner never endangers the quorum.
    assert.equal(
      (await n.call("DELETE", "/v1/cluster/members/n2")).status,
      200,
    );
  });
});

Deno.test("GET /v1/snapshot: a checksummed backup of the state", async () => {
  await withNode(async (n) => {
    await n.call("PUT", "/v1/kv/a", { value: "1" });
    const lease = await n.call("POST", "/v1/leases", { ttl: 30 });
    await n.call("PUT", "/v1/kv/b", {
      value: "2",
      lease: lease.json.id as number,
    });
    const r = await n.app.request("/v1/snapshot");
    assert.equal(r.status, 200);
    assert.equal(r.headers.get("content-type"), "application/octet-stream");
    const status = (await n.call("GET", "/v1/status")).json;
    assert.equal(
      r.headers.get("content-disposition"),
      `attachment; filename="raftlock-${status.applied}.snap"`,
    );
    assert.equal(r.headers.get("x-raft-revision"), "2");
    const file = new Uint8Array(await r.arrayBuffer());
    assert.equal(r.headers.get("content-length"), String(file.byteLength));
    const backup = await decodeBackup(file);
    const h = backup.header;
    assert.equal(h.clusterId, "raftlock");
    assert.equal(h.nodeId, "n1");
    assert.equal(h.revision, 2);
    assert.equal(h.index, status.applied);
    assert.equal(h.term, status.term);
    assert.equal(new Date(h.time).toISOString(), h.time);
    assert.deepEqual(h.members, [{
      id: "n1",
      role: "voter",
      peerAddress: "127.0.0.1:7001",
      httpAddress: "127.0.0.1:8001",
    }]);
    // The leader's clock says how long the lease has left.
    assert.equal(h.leases.length, 1);
    assert.equal(h.leases[0].id, lease.json.id);
    assert.equal(h.leases[0].ttl, 30);
    assert.ok(h.leases[0].remainingMs! > 0);
    assert.ok(h.leases[0].remainingMs! <= 30_000 + n.node.electionTimeoutMs);
    // The state is the state machine's snapshot.
    const sm = new ServiceStateMachine();
    sm.restore(backup.state);
    assert.equal(sm.get("a")?.value, "1");
    assert.equal(sm.get("b")?.lease, lease.json.id);
    assert.equal(sm.revision, 2);
  });
});

Deno.test("cluster routes without a leader: membership is 503, reads answer locally", async () => {
  await withNode(async (n) => {
    const add = await n.call("POST", "/v1/cluster/members", {
      id: "n3",
      peerAddress: "127.0.0.1:7003",
    });
    assert.equal(add.status, 503);
    assert.deepEqual(add.json, {
      error: {
        code: "unavailable",
        message: "No leader is known; retry once one is elected",
      },
    });
    assert.equal(add.headers.get("retry-after"), "1");
    await assertUnavailable(n, [
      ["DELETE", "/v1/cluster/members/n2"],
      ["POST", "/v1/cluster/members/n2/promote"],
      ["POST", "/v1/cluster/leader", { to: "n1" }],
      ["GET", "/v1/snapshot"],
    ]);
    // With no leader to ask, the node answers from what it knows.
    const c = await n.call("GET", "/v1/cluster");
    assert.equal(c.status, 200);
    assert.equal(c.json.leader, "");
    const s = await n.call("GET", "/v1/status");
    assert.equal(s.json.role, "follower");
  }, { voters: ["n1", "n2"] });
});
