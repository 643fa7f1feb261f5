/**
 * Cluster membership changes (thesis §4): one server at a time through the
 * log, learners (non-voting members) and their promotion, a configuration
 * in effect as soon as it is appended, and a removed leader stepping down.
 */

import assert from "node:assert/strict";
import { decodeConfChange } from "../../src/raft/confchange.ts";
import { ProposalDroppedError } from "../../src/raft/errors.ts";
import { type ConfChange, EntryType } from "../../src/raft/types.ts";
import {
  CLASSIC,
  data,
  ledByN1,
  Network,
  role,
  type TestConfig,
} from "./network.ts";

const PEERS = ["n1", "n2", "n3"];

/** A three-node network led by n1, with its no-op committed. */
const cluster = (config: TestConfig = {}) => ledByN1({ config });

function change(net: Network, at: string, cc: ConfChange): void {
  net.raft(at).proposeConfChange(cc);
  net.deliverAll();
}

/** A cluster of n1..n3 with n4 added as a learner (committed). */
function withLearner(config: TestConfig = {}): Network {
  const net = cluster(config);
  net.addNode("n4", undefined, config);
  change(net, "n1", { type: "addLearner", node: "n4" });
  const conf = { voters: PEERS, learners: ["n4"] };
  for (const id of ["n1", "n2", "n3", "n4"]) {
    assert.deepEqual(net.raft(id).confState(), conf, id);
  }
  assert.equal(net.raft("n1").log.committed, 2);
  return net;
}

Deno.test("a learner receives the whole log and applies the configuration change", () => {
  const net = withLearner();
  assert.deepEqual(net.log("n4"), net.log("n1"));
  const applied = net.applied.get("n4")!;
  const cc = applied.find((e) => e.type === EntryType.ConfChange)!;
  assert.deepEqual(decodeConfChange(cc.data).conf, {
    voters: PEERS,
    learners: ["n4"],
  });
  net.propose("n1", "x");
  assert.deepEqual(net.appliedData("n4"), ["x"]);
});

Deno.test("a learner never campaigns and is never asked for its vote", () => {
  const net = withLearner();
  net.tick("n4", 200);
  net.raft("n4").campaign();
  net.deliverAll();
  assert.equal(role(net.raft("n4")), "follower");
  assert.equal(net.raft("n4").term, 1);
  assert.equal(net.raft("n4").promotable(), false);

  net.clearTrace();
  net.crash("n1");
  net.tick("n2", 100);
  net.tick("n3", 100);
  const asked = net.sent((m) =>
    (m.type === "vote" || m.type === "preVote") && m.to === "n4"
  );
  assert.deepEqual(asked, []);
  const l = net.leader();
  assert.ok(l === "n2" || l === "n3");
});

Deno.test("a learner's acknowledgement does not count toward the commit quorum", () => {
  const net = withLearner();
  net.cut("n1", "n2");
  net.cut("n1", "n3");
  net.propose("n1", "x");
  const r1 = net.raft("n1");
  assert.equal(r1.status().progress.n4.match, 3, "n4 has the entry");
  assert.equal(r1.log.committed, 2, "leader + learner are not a quorum");
  net.heal();
  net.tick("n1", 5);
  assert.equal(r1.log.committed, 3);
});

Deno.test("a promoted learner votes and counts toward the quorum", () => {
  const net = withLearner(CLASSIC);
  change(net, "n1", { type: "promote", node: "n4" });
  const conf = { voters: ["n1", "n2", "n3", "n4"], learners: [] };
  for (const id of ["n1", "n2", "n3", "n4"]) {
    assert.deepEqual(net.raft(id).confState(), conf, id);
  }
  assert.equal(net.raft("n4").promotable(), true);

  // With n3 down, a quorum of four (three) needs n4's acknowledgement.
  net.crash("n3");
  net.hold = (m) => m.type === "appResp" && m.from === "n4";
  net.propose("n1", "x");
  const r1 = net.raft("n1");
  assert.equal(r1.log.committed, 3, "n1 and n2 are 2 of 4");
  net.hold = undefined;
  net.release();
  assert.equal(r1.log.committed, 4);

  // And n4 can be elected.
  net.campaign("n4");
  assert.equal(net.leader(), "n4");
});

Deno.test("a voter is added, catches up and counts toward the quorum", () => {
  const net = cluster();
  net.addNode("n4");
  change(net, "n1", { type: "addVoter", node: "n4" });
  assert.deepEqual(net.raft("n4").confState().voters, [
    "n1",
    "n2",
    "n3",
    "n4",
  ]);
  assert.deepEqual(net.log("n4"), net.log("n1"));
  net.crash("n2");
  net.crash("n3");
  net.propose("n1", "x");
  assert.equal(net.raft("n1").log.committed, 2, "2 of 4 is no quorum");
});

Deno.test("a removed voter no longer counts and no longer gets messages", () => {
  const net = cluster();
  change(net, "n1", { type: "remove", node: "n3" });
  const r1 = net.raft("n1");
  assert.deepEqual(r1.confState(), { voters: ["n1", "n2"], learners: [] });
  assert.equal(r1.status().progress.n3, undefined);
  net.clearTrace();
  net.propose("n1", "x");
  assert.deepEqual(net.sent((m) => m.to === "n3"), []);
  // n1 and n2 are now the whole quorum.
  net.crash("n3");
  net.propose("n1", "y");
  assert.deepEqual(net.appliedData("n2"), ["x", "y"]);
});

// Thesis §4.1: "the leader will not begin a new configuration change until
// the previous one has committed".
Deno.test("a second configuration change is refused while one is pending", () => {
  const net = cluster();
  net.hold = (m) => m.type === "appResp";
  const r1 = net.raft("n1");
  r1.proposeConfChange({ type: "addVoter", node: "n4" });
  net.deliverAll();
  assert.throws(
    () => r1.proposeConfChange({ type: "addVoter", node: "n5" }),
    ProposalDroppedError,
  );
  // Ordinary commands are still accepted meanwhile.
  r1.propose(data("x"));
  net.deliverAll();

  net.hold = undefined;
  net.release();
  net.addNode("n4");
  net.tick("n1", 5);
  assert.equal(r1.log.committed, r1.log.lastIndex());
  r1.proposeConfChange({ type: "addVoter", node: "n5" });
  assert.deepEqual(r1.confState().voters, ["n1", "n2", "n3", "n4", "n5"]);
});

Deno.test("an invalid configuration change is refused with the reason", () => {
  const net = cluster();
  const r1 = net.raft("n1");
  const bad: [ConfChange, RegExp][] = [
    [{ type: "addVoter", node: "n2" }, /already a voter/],
    [{ type: "addLearner", node: "n3" }, /already a voter/],
    [{ type: "promote", node: "n2" }, /not a learner/],
    [{ type: "remove", node: "n9" }, /not a member/],
    [{ type: "addVoter", node: "" }, /needs a node id/],
  ];
  for (const [cc, reason] of bad) {
    assert.throws(() => r1.proposeConfChange(cc), (e: unknown) => {
      assert.ok(e instanceof ProposalDroppedError);
      assert.match(e.message, reason);
      return true;
    });
  }
  assert.equal(r1.log.lastIndex(), 1, "nothing was appended");
});

Deno.test("the last voter cannot be removed", () => {
  const net = new Network(["n1"]);
  net.campaign("n1");
  assert.throws(
    () => net.raft("n1").proposeConfChange({ type: "remove", node: "n1" }),
    /last voter/,
  );
});

// Thesis §4.1: "a server always uses the latest configuration in its log,
// regardless of whether the entry is committed."
Deno.test("a follower uses a configuration as soon as it appends it", () => {
  const net = cluster();
  net.cut("n1", "n3");
  net.hold = (m) => m.type === "appResp";
  change(net, "n1", { type: "addVoter", node: "n4" });
  const four = ["n1", "n2", "n3", "n4"];
  assert.equal(net.raft("n2").log.committed, 1, "not committed");
  assert.deepEqual(net.raft("n2").confState().voters, four);
  assert.deepEqual(net.raft("n1").confState().voters, four);
  assert.deepEqual(net.raft("n3").confState().voters, PEERS, "n3 lacks it");
  // The leader now needs 3 of 4 acknowledgements.
  net.hold = undefined;
  net.release();
  assert.equal(net.raft("n1").log.committed, 1, "n1 + n2 are 2 of 4");
  net.heal();
  net.tick("n1", 5);
  assert.equal(net.raft("n1").log.committed, 2, "n1 + n2 + n3 are 3 of 4");
});

Deno.test("a configuration is reverted when its uncommitted entry is truncated", () => {
  const net = cluster(CLASSIC);
  net.isolate("n1");
  change(net, "n1", { type: "addVoter", node: "n4" });
  assert.deepEqual(net.raft("n1").confState().voters, [
    "n1",
    "n2",
    "n3",
    "n4",
  ]);
  assert.equal(net.raft("n1").confStateAt(1).voters.length, 3);

  // The others elect n2, whose no-op takes index 2.
  net.campaign("n2");
  assert.equal(net.raft("n2").term, 2);
  net.heal();
  net.tick("n2", 5);
  const r1 = net.raft("n1");
  assert.equal(role(r1), "follower");
  assert.equal(r1.log.term(2), 2, "the conf entry was overwritten");
  assert.deepEqual(r1.confState(), { voters: PEERS, learners: [] });
  // After a restart too.
  net.crash("n1");
  assert.deepEqual(net.restart("n1").confState(), {
    voters: PEERS,
    learners: [],
  });
});

Deno.test("confStateAt gives the configuration in effect at each index", () => {
  const net = cluster();
  net.addNode("n4");
  change(net, "n1", { type: "addLearner", node: "n4" }); // index 2
  net.propose("n1", "x"); // index 3
  change(net, "n1", { type: "promote", node: "n4" }); // index 4
  const r1 = net.raft("n1");
  assert.deepEqual(r1.confStateAt(1), { voters: PEERS, learners: [] });
  assert.deepEqual(r1.confStateAt(2), { voters: PEERS, learners: ["n4"] });
  assert.deepEqual(r1.confStateAt(3), { voters: PEERS, learners: ["n4"] });
  assert.deepEqual(r1.confStateAt(4), {
    voters: ["n1", "n2", "n3", "n4"],
    learners: [],
  });
});

// Thesis §4.2.2: the leader steps down once the configuration that removes
// it is committed; until then it manages the cluster without counting
// itself.
Deno.test("a removed leader steps down once its removal commits", () => {
  const net = cluster();
  net.hold = (m) => m.type === "appResp";
  change(net, "n1", { type: "remove", node: "n1" });
  const r1 = net.raft("n1");
  assert.equal(role(r1), "leader", "still leading while the change is pending");
  assert.deepEqual(r1.confState().voters, ["n2", "n3"]);
  assert.throws(() => r1.propose(data("x")), ProposalDroppedError);

  // The removal commits with n2 and n3 only: n1 does not count itself.
  net.release((m) => m.from === "n2");
  assert.equal(r1.log.committed, 1);
  assert.equal(role(r1), "leader");
  net.hold = undefined;
  net.release();
  assert.equal(r1.log.committed, 2);
  assert.equal(role(r1), "follower");
  assert.equal(r1.lead, "");
  for (const id of ["n2", "n3"]) {
    assert.equal(net.raft(id).log.committed, 2, `${id} learned the commit`);
  }

  // n2 and n3 go on without it; n1 never campaigns again.
  net.tickAll(100);
  const l = net.leader();
  assert.ok(l === "n2" || l === "n3", `leader ${l}`);
  assert.equal(net.raft("n1").promotable(), false);
  net.propose(l!, "y");
  assert.deepEqual(net.appliedData(l === "n2" ? "n3" : "n2"), ["y"]);
});

// The single-server change bug (Ongaro, raft-dev 2015): a new leader must
// commit an entry of its own term before it changes the configuration.
Deno.test("a new leader may not change the configuration until its no-op commits", () => {
  const net = new Network(PEERS);
  net.hold = (m) => m.type === "appResp";
  net.campaign("n1");
  const r1 = net.raft("n1");
  assert.equal(role(r1), "leader");
  assert.equal(r1.log.committed, 0);
  assert.throws(
    () => r1.proposeConfChange({ type: "addLearner", node: "n4" }),
    ProposalDroppedError,
  );
  r1.propose(data("ordinary commands are fine"));
  net.hold = undefined;
  net.release();
  assert.equal(r1.log.committed, 2);
  r1.proposeConfChange({ type: "addLearner", node: "n4" });
  assert.deepEqual(r1.confState().learners, ["n4"]);
});
