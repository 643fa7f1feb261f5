/**
 * Leadership transfer (thesis §3.10): the leader brings the target up to
 * date, sends it TimeoutNow, and the target campaigns at once; proposals
 * are refused meanwhile, and the transfer is abandoned after an election
 * timeout.
 */

import assert from "node:assert/strict";
import { ProposalDroppedError } from "../../src/raft/errors.ts";
import { TRANSFER_CONTEXT } from "../../src/raft/raft.ts";
import { data, ledByN1, role } from "./network.ts";

const PEERS = ["n1", "n2", "n3"];

/** A three-node cluster (PreVote and CheckQuorum on) led by n1. */
const cluster = (learners: string[] = []) => ledByN1({ learners });

Deno.test("leadership moves to an up-to-date follower via TimeoutNow", () => {
  const net = cluster();
  net.raft("n1").transferLeader("n2");
  net.deliverAll();
  assert.deepEqual(
    net.sent((m) => m.type === "timeoutNow").map((m) => [m.from, m.to]),
    [["n1", "n2"]],
  );
  // The target skips PreVote and its requests override the leader lease.
  assert.deepEqual(net.sent((m) => m.type === "preVote"), []);
  const votes = net.sent((m) => m.type === "vote");
  assert.ok(votes.length > 0);
  for (const v of votes) assert.equal(v.context, TRANSFER_CONTEXT);

  assert.equal(net.leader(), "n2");
  assert.equal(net.raft("n2").term, 2);
  assert.equal(role(net.raft("n1")), "follower");
  assert.equal(net.raft("n1").lead, "n2");
  assert.equal(net.raft("n1").status().leadTransferee, "");
  net.propose("n1", "x");
  for (const id of PEERS) assert.deepEqual(net.appliedData(id), ["x"]);
});

Deno.test("a lagging target is caught up before it is sent TimeoutNow", () => {
  const net = cluster();
  net.isolate("n3");
  for (let i = 0; i < 5; i++) net.propose("n1", `v${i}`);
  net.heal();
  const lastAtTimeoutNow: number[] = [];
  net.intercept = (m) => {
    if (m.type === "timeoutNow") {
      lastAtTimeoutNow.push(net.raft(m.to).log.lastIndex());
    }
    return m;
  };
  net.raft("n1").transferLeader("n3");
  net.deliverAll();
  assert.deepEqual(lastAtTimeoutNow, [6], "n3 had the whole log first");
  assert.equal(net.leader(), "n3");
  assert.deepEqual(net.appliedData("n3"), ["v0", "v1", "v2", "v3", "v4"]);
});

Deno.test("proposals are refused while a transfer is in progress", () => {
  const net = cluster();
  net.isolate("n3"); // the target cannot catch up
  net.raft("n1").transferLeader("n3");
  net.deliverAll();
  assert.equal(net.raft("n1").status().leadTransferee, "n3");
  assert.throws(
    () => net.raft("n1").propose(data("x")),
    (e: unknown) => e instanceof ProposalDroppedError && /n3/.test(e.message),
  );
  // A proposal forwarded from a follower is dropped silently.
  net.propose("n2", "forwarded");
  assert.equal(net.raft("n1").log.lastIndex(), 1);
});

Deno.test("a transfer to a dead target is abandoned after an election timeout", () => {
  const net = cluster();
  net.crash("n3");
  const r1 = net.raft("n1");
  r1.transferLeader("n3");
  net.deliverAll();
  net.tick("n1", 14);
  assert.equal(r1.status().leadTransferee, "n3", "still trying");
  assert.throws(() => r1.propose(data("x")), ProposalDroppedError);
  net.tick("n1");
  assert.equal(r1.status().leadTransferee, "", "given up after 15 ticks");
  assert.equal(role(r1), "leader");
  net.propose("n1", "x");
  assert.deepEqual(net.appliedData("n2"), ["x"]);
});

Deno.test("a transfer to a learner or a non-member is refused", () => {
  const net = cluster(["n4"]);
  const r1 = net.raft("n1");
  for (const to of ["n4", "n9"]) {
    assert.throws(
      () => r1.transferLeader(to),
      (e: unknown) =>
        e instanceof ProposalDroppedError &&
        /not a voting member/.test(e.message),
    );
  }
  assert.equal(r1.status().leadTransferee, "");
  net.deliverAll();
  assert.deepEqual(net.sent((m) => m.type === "timeoutNow"), []);
});

Deno.test("a transfer to the leader itself changes nothing", () => {
  const net = cluster();
  net.raft("n1").transferLeader("n1");
  net.deliverAll();
  assert.equal(net.leader(), "n1");
  assert.equal(net.raft("n1").term, 1);
  assert.equal(net.raft("n1").status().leadTransferee, "");
});

Deno.test("a transfer requested on a follower is forwarded to the leader", () => {
  const net = cluster();
  net.raft("n3").transferLeader("n3");
  net.deliverAll();
  assert.deepEqual(
    net.sent((m) => m.type === "transferLeader").map((m) => [m.from, m.to]),
    [["n3", "n1"]],
  );
  assert.equal(net.leader(), "n3");
});

Deno.test("a new transfer request replaces a pending one", () => {
  const net = cluster();
  net.isolate("n3");
  net.raft("n1").transferLeader("n3");
  net.deliverAll();
  assert.equal(net.raft("n1").status().leadTransferee, "n3");
  net.raft("n1").transferLeader("n2");
  net.deliverAll();
  assert.equal(net.leader(), "n2");
});

Deno.test("TimeoutNow makes a follower campaign even before its election timeout", () => {
  const net = cluster();
  net.send({ type: "timeoutNow", from: "n1", to: "n2", term: 1 });
  assert.equal(net.leader(), "n2");
  assert.equal(net.raft("n2").term, 2);
});

Deno.test("TimeoutNow to a learner is ignored", () => {
  const net = cluster(["n4"]);
  net.send({ type: "timeoutNow", from: "n1", to: "n4", term: 1 });
  assert.equal(role(net.raft("n4")), "follower");
  assert.equal(net.raft("n4").term, 1);
  assert.equal(net.leader(), "n1");
});
