/**
 * PreVote and CheckQuorum (thesis §9.6 and §6.2, §4.2.3): disruptive
 * servers, leaders that lost their quorum, and the leader lease that makes
 * voters ignore RequestVote while a leader is alive.
 */

import assert from "node:assert/strict";
import { ProposalDroppedError } from "../../src/raft/errors.ts";
import { TRANSFER_CONTEXT } from "../../src/raft/raft.ts";
import type { Message } from "../../src/raft/types.ts";
import { CLASSIC, ledByN1, Network, role, type TestConfig } from "./network.ts";

const PEERS = ["n1", "n2", "n3"];

/** A three-node network led by n1, with its no-op committed. */
const cluster = (config: TestConfig = {}) => ledByN1({ config });

// Thesis §9.6: "the Pre-Vote algorithm ... a candidate only increments its
// term if it first learns from a majority of the cluster that they would be
// willing to grant the candidate their votes."
Deno.test("a partitioned node with PreVote does not raise its term or disrupt the leader when it rejoins", () => {
  const net = cluster(); // PreVote and CheckQuorum on by default
  net.isolate("n3");
  net.tickAll(100);
  assert.equal(net.raft("n3").term, 1, "pre-elections never raise the term");
  assert.equal(role(net.raft("n3")), "preCandidate");
  assert.equal(net.leader(), "n1");

  net.heal();
  net.tickAll(20);
  assert.equal(net.leader(), "n1");
  for (const id of PEERS) {
    assert.equal(net.raft(id).term, 1, id);
    assert.equal(net.raft(id).lead, "n1", id);
  }
  net.propose("n3", "after");
  for (const id of PEERS) assert.deepEqual(net.appliedData(id), ["after"]);
});

for (const checkQuorum of [false, true]) {
  Deno.test(`without PreVote a partitioned node raises its term and deposes the leader when it rejoins (checkQuorum: ${checkQuorum})`, () => {
    const net = cluster({ preVote: false, checkQuorum });
    net.isolate("n3");
    net.propose("n1", "missed by n3");
    net.tickAll(100);
    const t3 = net.raft("n3").term;
    assert.ok(t3 >= 3, `n3 campaigned alone up to term ${t3}`);

    net.heal();
    for (let i = 0; i < 300; i++) {
      net.tickAll();
      const l = net.leader();
      if (l !== undefined && net.raft(l).term >= t3) break;
    }
    // The old leader had to give up term 1: n3's term is now everyone's
    // floor, whoever leads.
    const leader = net.leader();
    assert.ok(leader !== undefined);
    assert.ok(net.raft(leader).term >= t3);
    for (const id of PEERS) assert.ok(net.raft(id).term >= t3, id);
    // n3 missed a committed entry, so it cannot have been elected: it only
    // forced an election.
    assert.notEqual(leader, "n3");
  });
}

// §6.2: "a leader steps down if an election timeout elapses without a
// successful round of heartbeats to a majority of its cluster".
Deno.test("with CheckQuorum a leader that loses its quorum steps down within two election timeouts", () => {
  const net = cluster();
  net.tickAll(7); // somewhere inside an election-timeout period
  net.isolate("n1");
  let ticks = 0;
  while (role(net.raft("n1")) === "leader" && ticks < 100) {
    net.tick("n1");
    ticks++;
  }
  assert.equal(role(net.raft("n1")), "follower");
  assert.ok(ticks <= 30, `stepped down after ${ticks} ticks`);
  assert.equal(net.raft("n1").lead, "");
  assert.equal(net.raft("n1").term, 1, "stepping down does not raise the term");
  assert.throws(
    () => net.raft("n1").propose(new Uint8Array(1)),
    ProposalDroppedError,
  );
});

Deno.test("with CheckQuorum a leader that keeps its quorum stays leader", () => {
  const net = cluster();
  net.isolate("n3"); // one follower lost is still a quorum
  net.tickAll(200);
  assert.equal(net.leader(), "n1");
  assert.equal(net.raft("n1").term, 1);
});

Deno.test("without CheckQuorum an isolated leader stays leader", () => {
  const net = cluster(CLASSIC);
  net.isolate("n1");
  net.tick("n1", 200);
  assert.equal(role(net.raft("n1")), "leader");
});

/** A vote request from n3 for term 2 with a log as good as anyone's. */
function voteFromN3(net: Network, context?: string): Message {
  const r3 = net.raft("n3");
  const m: Message = {
    type: "vote",
    from: "n3",
    to: "n2",
    term: r3.term + 1,
    index: r3.log.lastIndex(),
    logTerm: r3.log.lastTerm(),
  };
  if (context !== undefined) m.context = context;
  return m;
}

// Thesis §4.2.3: "if a server receives a RequestVote request within the
// minimum election timeout of hearing from a current leader, it does not
// update its term or grant its vote."
Deno.test("a follower that heard from its leader within the election timeout ignores a vote request", () => {
  const net = cluster();
  net.clearTrace();
  net.send(voteFromN3(net));
  const r2 = net.raft("n2");
  assert.equal(r2.term, 1, "the term is not raised");
  assert.equal(r2.vote, "n1");
  assert.equal(r2.lead, "n1");
  assert.deepEqual(net.sent((m) => m.from === "n2"), [], "no answer at all");
});

Deno.test("once the election timeout passes without the leader, the same vote request is granted", () => {
  const net = new Network(PEERS, {
    // n2's own randomized timeout is the maximum (30), so 15 ticks take it
    // out of the lease without making it campaign.
    perNode: { n2: { random: () => 0.999 } },
  });
  net.campaign("n1");
  net.crash("n1");
  net.tick("n2", 14);
  net.send(voteFromN3(net));
  assert.equal(net.raft("n2").term, 1, "still in the lease after 14 ticks");
  net.tick("n2");
  assert.equal(role(net.raft("n2")), "follower");
  net.clearTrace();
  net.send(voteFromN3(net));
  assert.equal(net.raft("n2").term, 2);
  assert.equal(net.raft("n2").vote, "n3");
  assert.deepEqual(
    net.sent((m) => m.from === "n2").map((m) => [m.type, m.reject ?? false]),
    [["voteResp", false]],
  );
});

// Thesis §3.10: a vote request that is part of a leadership transfer must
// be heeded even by followers that heard from the leader recently.
Deno.test("a vote request with the transfer context overrides the leader lease", () => {
  const net = cluster();
  net.clearTrace();
  net.send(voteFromN3(net, TRANSFER_CONTEXT));
  const r2 = net.raft("n2");
  assert.equal(r2.term, 2);
  assert.equal(r2.vote, "n3");
  assert.deepEqual(
    net.sent((m) => m.from === "n2" && m.type === "voteResp").map((m) =>
      m.reject ?? false
    ),
    [false],
  );
});

Deno.test("a pre-vote request is ignored by a follower in its leader lease too", () => {
  const net = cluster();
  net.clearTrace();
  net.send({ ...voteFromN3(net), type: "preVote" });
  assert.deepEqual(net.sent((m) => m.from === "n2"), []);
  assert.equal(net.raft("n2").term, 1);
});

// Design "traps": a paused leader that resumes must step down on the first
// higher term it sees, even though PreVote means nobody sends it a
// higher-term vote request.
Deno.test("a deposed leader that resumes learns the new term from the answer to its heartbeat", () => {
  const net = cluster();
  // n1 pauses (no ticks, no messages) while n2 and n3 elect n2.
  net.isolate("n1");
  const newLeader = () =>
    ["n2", "n3"].find((id) => role(net.raft(id)) === "leader");
  for (let i = 0; i < 100 && newLeader() === undefined; i++) {
    net.tick("n2");
    net.tick("n3");
  }
  const l = newLeader();
  assert.ok(l !== undefined);
  assert.equal(net.raft(l).term, 2);
  assert.equal(role(net.raft("n1")), "leader", "n1 still believes it leads");

  net.heal();
  net.clearTrace();
  net.raft("n1").step({ type: "beat", from: "n1", to: "n1", term: 0 });
  net.deliverAll();
  const r1 = net.raft("n1");
  assert.equal(role(r1), "follower");
  assert.equal(r1.term, 2);
  assert.ok(
    net.sent((m) => m.type === "appResp" && m.to === "n1" && m.term === 2)
      .length > 0,
  );
  assert.equal(net.raft(l).term, 2, "the new leader was not disrupted");
  assert.equal(net.leader(), l);
});
