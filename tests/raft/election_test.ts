/**
 * Leader election (§5.2), the election restriction (§5.4.1) and the
 * persistence of term and vote, after etcd-io/raft's raft_paper_test.go.
 */

import assert from "node:assert/strict";
import type { Raft } from "../../src/raft/raft.ts";
import { mulberry32 } from "../../src/raft/rand.ts";
import type { Entry, Message, NodeId, Role } from "../../src/raft/types.ts";
import {
  CLASSIC,
  drain,
  electLeader,
  entriesFrom,
  ids,
  Network,
  newStorage,
  newTestRaft,
  persist,
  readMessages,
  role,
  storageOf,
} from "./network.ts";

const PEERS = ["n1", "n2", "n3"];

/** An AppendEntries from `from` at `term` that matches any log (prev 0). */
function emptyApp(from: NodeId, to: NodeId, term: number): Message {
  return {
    type: "app",
    from,
    to,
    term,
    index: 0,
    logTerm: 0,
    entries: [],
    commit: 0,
  };
}

// §5.1: "If one server's current term is smaller than the other's, then it
// updates its current term to the larger value. If a candidate or leader
// discovers that its term is out of date, it immediately reverts to
// follower state."
for (const start of ["follower", "preCandidate", "candidate", "leader"]) {
  Deno.test(`a ${start} updates its term from a message with a higher term and follows`, () => {
    const r = newTestRaft("n1", PEERS, { preVote: start === "preCandidate" });
    if (start === "follower") r.becomeFollower(1, "n2");
    if (start === "preCandidate" || start === "candidate") r.campaign();
    if (start === "leader") electLeader(r);
    drain(r);
    assert.equal(role(r), start);

    r.step(emptyApp("n2", "n1", 5));

    assert.equal(r.term, 5);
    assert.equal(role(r), "follower");
    assert.equal(r.lead, "n2");
    assert.equal(r.vote, "");
    drain(r);
    assert.equal(storageOf(r).hardState().term, 5, "the new term is persisted");
  });
}

Deno.test("a vote request with a higher term raises the term even when the vote is refused", () => {
  // The voter's log is more up to date, so it refuses, but §5.1 still applies.
  const r = newTestRaft("n1", PEERS, {
    ...CLASSIC,
    storage: newStorage({
      voters: PEERS,
      entries: entriesFrom(1, 1, 2),
      hardState: { term: 2 },
    }),
  });
  r.step({ type: "vote", from: "n2", to: "n1", term: 3, index: 1, logTerm: 1 });
  const msgs = readMessages(r);
  assert.equal(r.term, 3);
  assert.equal(r.vote, "");
  assert.deepEqual(
    msgs.map((m) => [m.type, m.to, m.term, m.reject]),
    [["voteResp", "n2", 3, true]],
  );
});

// §5.1: "If a server receives a request with a stale term number, it rejects
// the request."
Deno.test("a message with a stale term is ignored (classic Raft)", () => {
  const r = newTestRaft("n1", PEERS, {
    ...CLASSIC,
    storage: newStorage({ voters: PEERS, hardState: { term: 2 } }),
  });
  r.step({ ...emptyApp("n2", "n1", 1), entries: entriesFrom(1, 1) });
  assert.equal(r.term, 2);
  assert.equal(r.lead, "");
  assert.equal(r.log.lastIndex(), 0, "stale entries are not appended");
  assert.deepEqual(readMessages(r), []);
});

Deno.test("a stale leader's AppendEntries is answered at the higher term (PreVote/CheckQuorum)", () => {
  // With PreVote a deposed leader may never see a higher-term vote request,
  // so the follower tells it the new term in a response.
  const r = newTestRaft("n1", PEERS, {
    storage: newStorage({ voters: PEERS, hardState: { term: 2 } }),
  });
  r.step({ ...emptyApp("n2", "n1", 1), entries: entriesFrom(1, 1) });
  assert.equal(r.term, 2);
  assert.equal(r.log.lastIndex(), 0);
  assert.deepEqual(
    readMessages(r).map((m) => [m.type, m.to, m.term]),
    [["appResp", "n2", 2]],
  );
});

// §5.2: "When servers start up, they begin as followers."
Deno.test("a node starts as a follower in term 0 without a leader", () => {
  const r = newTestRaft("n1", PEERS);
  assert.equal(role(r), "follower");
  assert.equal(r.term, 0);
  assert.equal(r.lead, "");
  assert.equal(r.hasReady(), false);
});

// §5.2: "Leaders send periodic heartbeats to all followers."
Deno.test("a leader broadcasts heartbeats every heartbeat interval", () => {
  const r = newTestRaft("n1", PEERS, CLASSIC);
  electLeader(r);
  for (let i = 0; i < 4; i++) r.tick();
  assert.deepEqual(
    readMessages(r).filter((m) => m.type === "heartbeat"),
    [],
    "no heartbeat before the interval (5 ticks)",
  );
  r.tick();
  const beats = readMessages(r);
  assert.deepEqual(
    beats.map((m) => [m.type, m.to, m.term]).sort(),
    [["heartbeat", "n2", 1], ["heartbeat", "n3", 1]],
  );
  for (let i = 0; i < 5; i++) r.tick();
  assert.equal(
    readMessages(r).filter((m) => m.type === "heartbeat").length,
    2,
    "and again after the next interval",
  );
});

// §5.2: "If a follower receives no communication over a period of time
// called the election timeout, then it ... begins an election": it
// increments its term, votes for itself and sends RequestVote to all.
for (const start of ["follower", "candidate"] as const) {
  Deno.test(`a ${start} starts a new election after its election timeout`, () => {
    const r = newTestRaft("n1", PEERS, CLASSIC);
    if (start === "follower") r.becomeFollower(1, "n2");
    else r.campaign();
    drain(r);
    const term = r.term;
    for (let i = 0; i < 30; i++) r.tick();
    assert.equal(r.term, term + 1);
    assert.equal(role(r), "candidate");
    assert.equal(r.vote, "n1");
    const msgs = readMessages(r);
    assert.deepEqual(
      msgs.map((m) => [m.type, m.to, m.term, m.index, m.logTerm]).sort(),
      [["vote", "n2", term + 1, 0, 0], ["vote", "n3", term + 1, 0, 0]],
    );
    assert.deepEqual(storageOf(r).hardState().vote, "n1");
  });
}

// §5.4.1: "the RequestVote RPC ... includes information about the
// candidate's log": the index and term of its last entry.
Deno.test("a vote request carries the candidate's last log index and term", () => {
  const cases: { ents: Entry[]; term: number }[] = [
    { ents: entriesFrom(1, 1), term: 2 },
    { ents: entriesFrom(1, 1, 2), term: 3 },
  ];
  for (const [i, tt] of cases.entries()) {
    const r = newTestRaft("n1", PEERS, CLASSIC);
    r.step({ ...emptyApp("n2", "n1", tt.term), entries: tt.ents });
    drain(r);
    for (let t = 0; t < 30; t++) r.tick();
    const last = tt.ents[tt.ents.length - 1];
    assert.deepEqual(
      readMessages(r).map((m) => [m.type, m.to, m.term, m.index, m.logTerm])
        .sort(),
      ["n2", "n3"].map((
        to,
      ) => ["vote", to, tt.term + 1, last.index, last.term]),
      `#${i}`,
    );
  }
});

Deno.test("with PreVote an election timeout starts a pre-election that keeps the term", () => {
  const r = newTestRaft("n1", PEERS, {
    storage: newStorage({
      voters: PEERS,
      entries: entriesFrom(1, 1),
      hardState: { term: 1 },
    }),
  });
  for (let i = 0; i < 30; i++) r.tick();
  assert.equal(role(r), "preCandidate");
  assert.equal(r.term, 1, "PreVote does not change the term");
  assert.equal(r.vote, "", "nor the vote");
  assert.deepEqual(
    readMessages(r).map((m) => [m.type, m.to, m.term, m.index, m.logTerm])
      .sort(),
    [["preVote", "n2", 2, 1, 1], ["preVote", "n3", 2, 1, 1]],
  );
  // A quorum of grants moves it to a real election in term 2.
  r.step({ type: "preVoteResp", from: "n2", to: "n1", term: 2 });
  assert.equal(role(r), "candidate");
  assert.equal(r.term, 2);
  assert.equal(r.vote, "n1");
});

// §5.2: "A candidate wins an election if it receives votes from a majority
// of the servers in the full cluster for the same term."
Deno.test("a candidate wins, loses or waits in one round of RequestVote RPCs", () => {
  const cases: {
    size: number;
    votes: Record<NodeId, boolean>;
    want: Role;
  }[] = [
    { size: 1, votes: {}, want: "leader" },
    { size: 3, votes: { n2: true, n3: true }, want: "leader" },
    { size: 3, votes: { n2: true }, want: "leader" },
    {
      size: 5,
      votes: { n2: true, n3: true, n4: true, n5: true },
      want: "leader",
    },
    { size: 5, votes: { n2: true, n3: true, n4: true }, want: "leader" },
    { size: 5, votes: { n2: true, n3: true }, want: "leader" },
    // A majority of denials returns the candidate to follower.
    { size: 3, votes: { n2: false, n3: false }, want: "follower" },
    { size: 5, votes: { n2: false, n3: false, n4: false }, want: "follower" },
    {
      size: 5,
      votes: { n2: true, n3: false, n4: false, n5: false },
      want: "follower",
    },
    // Without a majority either way it stays a candidate.
    { size: 3, votes: {}, want: "candidate" },
    { size: 5, votes: { n2: true }, want: "candidate" },
    { size: 5, votes: { n2: false, n3: false }, want: "candidate" },
    { size: 5, votes: {}, want: "candidate" },
  ];
  for (const [i, tt] of cases.entries()) {
    const r = newTestRaft("n1", ids(tt.size), CLASSIC);
    r.campaign();
    const reqs = readMessages(r);
    assert.equal(reqs.length, tt.size - 1, `#${i}: one request per peer`);
    for (const [from, granted] of Object.entries(tt.votes)) {
      r.step({ type: "voteResp", from, to: "n1", term: 1, reject: !granted });
    }
    assert.equal(role(r), tt.want, `#${i}`);
    assert.equal(r.term, 1, `#${i}`);
  }
});

Deno.test("votes from non-members and repeated votes are not counted", () => {
  const r = newTestRaft("n1", ids(5), CLASSIC);
  r.campaign();
  r.step({ type: "voteResp", from: "n2", to: "n1", term: 1 });
  r.step({ type: "voteResp", from: "n2", to: "n1", term: 1 });
  r.step({ type: "voteResp", from: "n9", to: "n1", term: 1 });
  assert.equal(role(r), "candidate");
  r.step({ type: "voteResp", from: "n3", to: "n1", term: 1 });
  assert.equal(role(r), "leader");
});

// §5.2: "Each server will vote for at most one candidate in a given term, on
// a first-come-first-served basis."
Deno.test("a follower votes for at most one candidate per term", () => {
  const cases: { vote: NodeId; nvote: NodeId; reject: boolean }[] = [
    { vote: "", nvote: "n2", reject: false },
    { vote: "", nvote: "n3", reject: false },
    { vote: "n2", nvote: "n2", reject: false },
    { vote: "n3", nvote: "n3", reject: false },
    { vote: "n2", nvote: "n3", reject: true },
    { vote: "n3", nvote: "n2", reject: true },
  ];
  for (const [i, tt] of cases.entries()) {
    const r = newTestRaft("n1", PEERS, {
      ...CLASSIC,
      storage: newStorage({
        voters: PEERS,
        hardState: { term: 1, vote: tt.vote },
      }),
    });
    r.step({
      type: "vote",
      from: tt.nvote,
      to: "n1",
      term: 1,
      index: 0,
      logTerm: 0,
    });
    const msgs = readMessages(r);
    assert.deepEqual(
      msgs.map((m) => [m.type, m.to, m.term, m.reject ?? false]),
      [["voteResp", tt.nvote, 1, tt.reject]],
      `#${i}`,
    );
    const want = tt.reject ? tt.vote : tt.nvote;
    assert.equal(r.vote, want, `#${i}`);
    assert.equal(storageOf(r).hardState().vote, want, `#${i}`);
  }
});

Deno.test("a candidate has voted for itself and refuses others in its term", () => {
  const r = newTestRaft("n1", PEERS, CLASSIC);
  r.campaign();
  drain(r);
  r.step({ type: "vote", from: "n2", to: "n1", term: 1, index: 5, logTerm: 1 });
  assert.deepEqual(
    readMessages(r).map((m) => [m.type, m.to, m.reject]),
    [["voteResp", "n2", true]],
  );
  assert.equal(r.vote, "n1");
});

Deno.test("the vote is in the same Ready as the grant, so it is persisted before it is sent", () => {
  const r = newTestRaft("n1", PEERS, CLASSIC);
  r.step({ type: "vote", from: "n2", to: "n1", term: 1, index: 0, logTerm: 0 });
  const rd = r.ready();
  assert.deepEqual(rd.hardState, { term: 1, vote: "n2", commit: 0 });
  assert.equal(rd.mustSync, true);
  assert.deepEqual(
    rd.messages.map((m) => [m.type, m.to, m.reject ?? false]),
    [["voteResp", "n2", false]],
  );
  r.advance();
});

// §5.2: "If the leader's term is at least as large as the candidate's
// current term, then the candidate recognizes the leader as legitimate and
// returns to follower state."
for (const term of [1, 2]) {
  Deno.test(`a candidate falls back to follower on AppendEntries at term ${term} (its own is 1)`, () => {
    const r = newTestRaft("n1", PEERS, CLASSIC);
    r.campaign();
    drain(r);
    assert.equal(r.term, 1);
    r.step(emptyApp("n2", "n1", term));
    assert.equal(role(r), "follower");
    assert.equal(r.term, term);
    assert.equal(r.lead, "n2");
    assert.deepEqual(
      readMessages(r).map((m) => [m.type, m.to, m.reject ?? false]),
      [["appResp", "n2", false]],
    );
  });
}

/** Ticks until the core starts an election; returns how many ticks it took. */
function ticksToCampaign(r: Raft): number {
  const term = r.term;
  for (let ticks = 1; ticks <= 1000; ticks++) {
    r.tick();
    if (r.term !== term) return ticks;
  }
  throw new Error("never campaigned");
}

// §5.2: "Raft uses randomized election timeouts to ensure that split votes
// are rare ... election timeouts are chosen randomly from a fixed interval
// (e.g., 150–300ms)": [15, 30] ticks of 10 ms by default.
Deno.test("follower election timeouts are randomized within [15, 30] ticks by default", () => {
  const seen = new Set<number>();
  for (let i = 0; i < 200; i++) {
    // Default randomness: seeded from the node id.
    const id = `node-${i}`;
    const r = newTestRaft(id, [id, "a", "b"], CLASSIC);
    const t = ticksToCampaign(r);
    assert.ok(t >= 15 && t <= 30, `${id} timed out after ${t} ticks`);
    seen.add(t);
  }
  assert.ok(seen.size >= 12, `only ${seen.size} distinct timeouts`);
  assert.ok(seen.has(15) || seen.has(16), "the low end is reached");
  assert.ok(seen.has(30) || seen.has(29), "the high end is reached");
});

Deno.test("candidate election timeouts are re-randomized within [15, 30] for every election", () => {
  const r = newTestRaft("n1", PEERS, { ...CLASSIC, random: mulberry32(7) });
  r.campaign();
  const seen = new Set<number>();
  for (let i = 0; i < 100; i++) {
    const t = ticksToCampaign(r);
    assert.ok(t >= 15 && t <= 30, `timed out after ${t} ticks`);
    seen.add(t);
  }
  assert.ok(seen.size >= 10, `only ${seen.size} distinct timeouts`);
  assert.equal(r.term, 101);
});

Deno.test("electionTicks sets the low end of the randomized range and doubles for the high end", () => {
  const seen = new Set<number>();
  for (let seed = 0; seed < 200; seed++) {
    const r = newTestRaft("n1", PEERS, {
      ...CLASSIC,
      electionTicks: 10,
      heartbeatTicks: 1,
      random: mulberry32(seed),
    });
    const t = ticksToCampaign(r);
    assert.ok(t >= 10 && t <= 20, `seed ${seed}: ${t} ticks`);
    seen.add(t);
  }
  assert.equal(seen.size, 11, "every value of [10, 20] occurs");
});

// §5.4.1: "the voter denies its vote if its own log is more up-to-date than
// that of the candidate ... If the logs have last entries with different
// terms, then the log with the later term is more up-to-date. If the logs
// end with the same term, then whichever log is longer is more up-to-date."
Deno.test("a voter grants only candidates whose log is at least as up to date", () => {
  const cases: {
    ents: number[];
    logTerm: number;
    index: number;
    reject: boolean;
  }[] = [
    // Same last term.
    { ents: [1], logTerm: 1, index: 1, reject: false },
    { ents: [1], logTerm: 1, index: 2, reject: false },
    { ents: [1, 1], logTerm: 1, index: 1, reject: true },
    // The candidate's last term is higher.
    { ents: [1], logTerm: 2, index: 1, reject: false },
    { ents: [1], logTerm: 2, index: 2, reject: false },
    { ents: [1, 1], logTerm: 2, index: 1, reject: false },
    // The voter's last term is higher.
    { ents: [2], logTerm: 1, index: 1, reject: true },
    { ents: [2], logTerm: 1, index: 2, reject: true },
    { ents: [2, 1], logTerm: 1, index: 1, reject: true },
  ];
  for (const [i, tt] of cases.entries()) {
    const r = newTestRaft("n1", PEERS, {
      ...CLASSIC,
      storage: newStorage({
        voters: PEERS,
        entries: entriesFrom(1, ...tt.ents),
      }),
    });
    r.step({
      type: "vote",
      from: "n2",
      to: "n1",
      term: 3,
      logTerm: tt.logTerm,
      index: tt.index,
    });
    const msgs = readMessages(r);
    assert.deepEqual(
      msgs.map((m) => [m.type, m.to, m.term, m.reject ?? false]),
      [["voteResp", "n2", 3, tt.reject]],
      `#${i}`,
    );
    assert.equal(r.vote, tt.reject ? "" : "n2", `#${i}`);
  }
});

Deno.test("the up-to-date check applies to PreVote too", () => {
  for (const [logTerm, index, reject] of [[1, 5, true], [2, 2, false]]) {
    const r = newTestRaft("n1", PEERS, {
      storage: newStorage({
        voters: PEERS,
        entries: entriesFrom(1, 1, 2),
        hardState: { term: 2 },
      }),
    });
    r.step({
      type: "preVote",
      from: "n2",
      to: "n1",
      term: 3,
      logTerm: logTerm as number,
      index: index as number,
    });
    const [resp] = readMessages(r);
    assert.equal(resp.type, "preVoteResp");
    assert.equal(resp.reject ?? false, reject);
    assert.equal(r.term, 2, "a PreVote never changes the voter's term");
    assert.equal(r.vote, "");
  }
});

// §5.2 on a whole cluster: one round of RPCs elects a leader that every
// node follows.
for (const preVote of [false, true]) {
  Deno.test(`a leader is elected in one round (preVote: ${preVote})`, () => {
    const net = new Network(ids(5), { config: { preVote } });
    net.campaign("n1");
    assert.equal(net.leader(), "n1");
    for (const id of ids(5)) {
      const r = net.raft(id);
      assert.equal(r.term, 1, id);
      assert.equal(r.lead, "n1", id);
      assert.equal(r.vote, "n1", id);
      assert.equal(role(r), id === "n1" ? "leader" : "follower");
    }
    const votes = net.sent((m) => m.type === "vote");
    assert.equal(votes.length, 4, "one RequestVote per peer");
  });
}

// §5.2: "if many followers become candidates at the same time, votes could
// be split so that no candidate obtains a majority ... each candidate will
// time out and start a new election".
Deno.test("a split vote is resolved by a later election", () => {
  const net = new Network(ids(4), { config: CLASSIC });
  // n1 and n2 campaign at once; n3 only hears n1, n4 only hears n2.
  net.cut("n1", "n4");
  net.cut("n2", "n3");
  net.raft("n1").campaign();
  net.raft("n2").campaign();
  net.deliverAll();
  assert.equal(net.leader(), undefined, "2 votes of 4 are not a majority");
  assert.equal(role(net.raft("n1")), "candidate");
  assert.equal(role(net.raft("n2")), "candidate");
  assert.equal(net.raft("n3").vote, "n1");
  assert.equal(net.raft("n4").vote, "n2");

  net.heal();
  for (let i = 0; i < 200 && net.leader() === undefined; i++) net.tickAll();
  const leader = net.leader();
  assert.ok(leader !== undefined, "an election eventually succeeds");
  const term = net.raft(leader).term;
  assert.ok(term >= 2);
  // Let the leader's heartbeats settle the rest.
  net.tickAll(10);
  for (const id of ids(4)) {
    assert.equal(net.raft(id).lead, leader, id);
    assert.equal(net.raft(id).term, term, id);
  }
});

Deno.test("a restarted node keeps its term and vote and does not vote twice in a term", () => {
  const net = new Network(PEERS, { config: CLASSIC });
  net.cut("n1", "n3");
  // n1 campaigns; only n2 hears it and votes for it.
  net.campaign("n1");
  assert.equal(net.raft("n2").vote, "n1");
  net.crash("n2");
  const r2 = net.restart("n2");
  assert.equal(r2.term, 1);
  assert.equal(r2.vote, "n1");
  assert.equal(role(r2), "follower");

  // n3 asks for n2's vote in the same term: refused.
  net.clearTrace();
  net.send({
    type: "vote",
    from: "n3",
    to: "n2",
    term: 1,
    index: 10,
    logTerm: 1,
  });
  const resp = net.sent((m) => m.type === "voteResp" && m.from === "n2");
  assert.deepEqual(resp.map((m) => [m.to, m.reject]), [["n3", true]]);
  assert.equal(net.raft("n2").vote, "n1");
  assert.deepEqual(net.storages.get("n2")!.hardState(), {
    term: 1,
    vote: "n1",
    commit: 1,
  });
});

Deno.test("a restarted candidate keeps its term and its vote for itself", () => {
  const r = newTestRaft("n1", PEERS, CLASSIC);
  r.campaign();
  r.campaign();
  drain(r);
  assert.equal(r.term, 2);
  const again = newTestRaft("n1", PEERS, { ...CLASSIC, storage: storageOf(r) });
  assert.equal(again.term, 2);
  assert.equal(again.vote, "n1");
  again.step({
    type: "vote",
    from: "n2",
    to: "n1",
    term: 2,
    index: 9,
    logTerm: 9,
  });
  assert.equal(readMessages(again)[0].reject, true);
  // The next election goes to term 3, not 2 again.
  again.campaign();
  assert.equal(again.term, 3);
});

Deno.test("role and leader changes are reported once in Ready.softState", () => {
  const r = newTestRaft("n1", PEERS, CLASSIC);
  assert.equal(r.hasReady(), false);
  r.campaign();
  const rd = r.ready();
  assert.deepEqual(rd.softState, { leader: "", role: "candidate" });
  r.advance();
  for (const from of ["n2", "n3"]) {
    r.step({ type: "voteResp", from, to: "n1", term: 1 });
  }
  const rd2 = r.ready();
  assert.deepEqual(rd2.softState, { leader: "n1", role: "leader" });
  persist(r, rd2);
  r.advance();
  r.tick();
  assert.equal(r.ready().softState, undefined, "no change, no softState");
});

Deno.test("an invalid configuration is refused", () => {
  const storage = newStorage({ voters: PEERS });
  assert.throws(() => newTestRaft("", PEERS), /id/);
  assert.throws(
    () =>
      newTestRaft("n1", PEERS, {
        storage,
        electionTicks: 5,
        heartbeatTicks: 5,
      }),
    /Heartbeat interval/,
  );
  assert.throws(
    () =>
      newTestRaft("n1", PEERS, {
        storage,
        electionTicks: 10,
        electionTicksMax: 9,
      }),
    /electionTicksMax/,
  );
});
