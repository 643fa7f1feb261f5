/**
 * Restarting a node from what it persisted: hard state (term, vote,
 * commit), the log and the snapshot, and the configuration they imply.
 * Persisted term and vote must never regress.
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import { RaftInvariantError } from "../../src/raft/errors.ts";
import { Raft } from "../../src/raft/raft.ts";
import { mulberry32 } from "../../src/raft/rand.ts";
import type { HardState, NodeId } from "../../src/raft/types.ts";
import {
  appFromN2,
  CLASSIC,
  data,
  drain,
  entriesFrom,
  Network,
  newStorage,
  newTestRaft,
  storageOf,
} from "./network.ts";
import { assertProperty } from "../support/property.ts";

const PEERS = ["n1", "n2", "n3"];

Deno.test("a restarted node recovers term, vote, commit, log and configuration", () => {
  const net = new Network(PEERS);
  net.campaign("n1");
  net.propose("n1", "a", "b"); // indexes 2, 3
  // n2's host snapshots at 3; the configuration change at 4 is only in the log.
  net.storages.get("n2")!.createSnapshot(
    3,
    net.raft("n2").confStateAt(3),
    data("state@3"),
  );
  net.addNode("n4");
  net.raft("n1").proposeConfChange({ type: "addLearner", node: "n4" });
  net.deliverAll();
  net.propose("n1", "c"); // index 5
  const before = net.raft("n2").status();
  assert.equal(before.commit, 5);

  net.crash("n2");
  const r2 = net.restart("n2");
  const after = r2.status();
  assert.equal(after.term, before.term);
  assert.equal(after.vote, "n1");
  assert.equal(after.commit, 5);
  assert.equal(after.lastIndex, 5);
  assert.equal(after.snapshotIndex, 3);
  assert.equal(
    after.applied,
    3,
    "the state machine restarts from the snapshot",
  );
  assert.deepEqual(after.conf, { voters: PEERS, learners: ["n4"] });
  assert.deepEqual(r2.confStateAt(3), { voters: PEERS, learners: [] });
  assert.equal(after.role, "follower");
  assert.equal(after.leader, "", "the leader is learned again, not persisted");

  // It re-applies what followed the snapshot, then rejoins.
  const out = drain(r2);
  assert.deepEqual(out.committed.map((e) => e.index), [4, 5]);
  net.tick("n1", 5);
  assert.equal(net.raft("n2").lead, "n1");
  net.propose("n1", "d");
  assert.deepEqual(net.appliedData("n2"), ["d"]);
});

Deno.test("a restarted node resumes applying after the applied index it is given", () => {
  const s = newStorage({
    voters: PEERS,
    entries: entriesFrom(1, 1, 1, 1, 1),
    hardState: { term: 1, vote: "n2", commit: 4 },
  });
  const r = newTestRaft("n1", PEERS, { storage: s, applied: 2 });
  assert.equal(r.log.applied, 2);
  assert.deepEqual(drain(r).committed.map((e) => e.index), [3, 4]);
});

Deno.test("restarting with an applied index beyond the commit index fails", () => {
  const s = newStorage({
    voters: PEERS,
    entries: entriesFrom(1, 1, 1),
    hardState: { term: 1, commit: 1 },
  });
  assert.throws(
    () => new Raft({ id: "n1", storage: s, applied: 2 }),
    RaftInvariantError,
  );
});

Deno.test("restarting with a commit index beyond the log (a lost log) fails", () => {
  const s = newStorage({
    voters: PEERS,
    entries: entriesFrom(1, 1, 1),
    hardState: { term: 1, commit: 5 },
  });
  assert.throws(() => new Raft({ id: "n1", storage: s }), RaftInvariantError);
});

Deno.test("a restarted leader comes back as a follower of the same term", () => {
  const net = new Network(PEERS);
  net.campaign("n1");
  net.crash("n1");
  const r1 = net.restart("n1");
  assert.equal(r1.status().role, "follower");
  assert.equal(r1.term, 1);
  assert.equal(r1.vote, "n1");
  net.tickAll(40);
  assert.ok(net.leader() !== undefined);
  assert.ok(net.raft(net.leader()!).term >= 2);
});

Deno.test("a whole cluster restarted keeps every committed entry", () => {
  const net = new Network(PEERS);
  net.campaign("n1");
  net.propose("n1", "a", "b", "c");
  for (const id of PEERS) net.crash(id);
  for (const id of PEERS) net.restart(id);
  net.tickAll(40);
  const l = net.leader();
  assert.ok(l !== undefined);
  net.propose(l, "d");
  for (const id of PEERS) {
    assert.deepEqual(net.appliedData(id), ["a", "b", "c", "d"], id);
  }
});

Deno.test("a leader that crashes before its write is durable has not committed it", () => {
  const r = newTestRaft("n1", ["n1"]);
  r.campaign();
  drain(r);
  assert.equal(r.log.committed, 1);
  r.propose(data("lost"));
  const rd = r.ready(); // the host crashes before persisting this
  assert.equal(rd.entries.length, 1);
  assert.equal(r.log.committed, 1, "not committed before advance()");
  const restarted = new Raft({ id: "n1", storage: storageOf(r) });
  assert.equal(restarted.log.lastIndex(), 1);
  assert.equal(restarted.log.committed, 1);
  assert.equal(restarted.term, 1);
});

// Vote and term are persisted in the same Ready as the messages that
// depend on them, so a crash after sending cannot forget them.
Deno.test("a candidate's new term and self-vote are in the Ready that carries its vote requests", () => {
  const r = newTestRaft("n1", PEERS, CLASSIC);
  r.campaign();
  const rd = r.ready();
  assert.deepEqual(rd.hardState, { term: 1, vote: "n1", commit: 0 });
  assert.equal(rd.mustSync, true);
  assert.equal(rd.messages.filter((m) => m.type === "vote").length, 2);
  r.advance();
});

Deno.test("a commit-only change of hard state does not need a sync", () => {
  const r = newTestRaft("n1", PEERS, CLASSIC);
  r.becomeFollower(1, "n2");
  drain(r);
  r.step(appFromN2({ entries: entriesFrom(1, 1) }));
  drain(r);
  r.step({ type: "heartbeat", from: "n2", to: "n1", term: 1, commit: 1 });
  const rd = r.ready();
  assert.deepEqual(rd.hardState, { term: 1, vote: "", commit: 1 });
  assert.equal(rd.mustSync, false);
  r.advance();
});

/** What a random run observed of each node's persisted hard state. */
function hardStateRun(
  seed: number,
  steps: number,
): { problems: string[]; term: number; commit: number } {
  const rand = mulberry32(seed);
  const net = new Network(PEERS, {
    config: { electionTicks: 10, heartbeatTicks: 2 },
    perNode: Object.fromEntries(
      PEERS.map((id, i) => [id, { random: mulberry32(seed * 7 + i) }]),
    ),
  });
  const last = new Map<NodeId, HardState>();
  const problems: string[] = [];
  const observe = () => {
    for (const id of PEERS) {
      const hs = net.storages.get(id)!.hardState();
      const prev = last.get(id);
      if (prev) {
        if (hs.term < prev.term) {
          problems.push(`${id} term ${prev.term} -> ${hs.term}`);
        }
        if (
          hs.term === prev.term && prev.vote !== "" && hs.vote !== prev.vote
        ) {
          problems.push(
            `${id} vote in term ${hs.term} ${prev.vote} -> ${hs.vote}`,
          );
        }
        if (hs.commit < prev.commit) {
          problems.push(`${id} commit ${prev.commit} -> ${hs.commit}`);
        }
      }
      last.set(id, hs);
    }
  };
  for (let step = 0; step < steps; step++) {
    const dice = rand();
    const id = PEERS[Math.floor(rand() * PEERS.length)];
    if (dice < 0.08 && net.rafts.has(id)) net.crash(id);
    else if (dice < 0.2 && !net.rafts.has(id)) net.restart(id);
    else if (dice < 0.25) net.isolate(id);
    else if (dice < 0.3) net.heal();
    else if (dice < 0.4 && net.rafts.has(id)) {
      try {
        net.propose(id, `v${step}`);
      } catch { /* no leader */ }
    } else net.tickAll();
    observe();
  }
  return {
    problems,
    term: Math.max(...[...last.values()].map((h) => h.term)),
    commit: Math.max(...[...last.values()].map((h) => h.commit)),
  };
}

Deno.test("property: persisted term, vote and commit never regress across crashes", (t) => {
  const runs: { term: number; commit: number }[] = [];
  assertProperty(
    t,
    fc.property(fc.integer({ min: 1, max: 1_000_000 }), (seed) => {
      const run = hardStateRun(seed, 300);
      assert.deepEqual(run.problems, [], `seed ${seed}`);
      runs.push(run);
    }),
    { numRuns: 30, seed: 0x5eed },
  );
  // The schedules exercised the protocol: most runs elected leaders in
  // several terms and committed entries.
  const busy = runs.filter((r) => r.term >= 2 && r.commit >= 5).length;
  assert.ok(busy >= runs.length / 2, `only ${busy} of ${runs.length} busy`);
});
