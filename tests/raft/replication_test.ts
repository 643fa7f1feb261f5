/**
 * Log replication (§5.3), after etcd-io/raft's raft_paper_test.go.
 */

import assert from "node:assert/strict";
import {
  ProposalDroppedError,
  RaftInvariantError,
} from "../../src/raft/errors.ts";
import type { Raft } from "../../src/raft/raft.ts";
import {
  type Entry,
  EntryType,
  type HardState,
  type Message,
  type NodeId,
} from "../../src/raft/types.ts";
import {
  ackAll,
  appFromN2,
  CLASSIC,
  data,
  drain,
  electLeader,
  entriesFrom,
  entry,
  ids,
  Network,
  newStorage,
  newTestRaft,
  persist,
  readMessages,
  termsOf,
  text,
} from "./network.ts";

const PEERS = ["n1", "n2", "n3"];

/** n1 of PEERS (CLASSIC settings) starting from a log and a hard state. */
function withLog(entries: Entry[], hardState?: Partial<HardState>): Raft {
  return newTestRaft("n1", PEERS, {
    ...CLASSIC,
    storage: newStorage({ voters: PEERS, entries, hardState }),
  });
}

/** A leader of term 1 in `peers` whose no-op is committed, all peers in replicate. */
function committedLeader(peers: NodeId[] = PEERS): Raft {
  const r = newTestRaft("n1", peers, CLASSIC);
  electLeader(r);
  ackAll(r, peers);
  assert.equal(r.log.committed, 1);
  return r;
}

function appResp(from: NodeId, to: NodeId, term: number, index: number) {
  return { type: "appResp" as const, from, to, term, index };
}

// §5.3: "The leader appends the command to its log as a new entry, then
// issues AppendEntries RPCs in parallel to each of the other servers to
// replicate the entry."
Deno.test("the leader appends a proposal and sends AppendEntries to every follower", () => {
  const r = committedLeader();
  const li = r.log.lastIndex();
  r.propose(data("some data"));
  const rd = r.ready();
  assert.deepEqual(rd.entries, [entry(li + 1, 1, "some data")]);
  assert.deepEqual(
    rd.messages.map((m) => ({ ...m })).sort((a, b) => a.to.localeCompare(b.to)),
    ["n2", "n3"].map((to) => ({
      type: "app",
      from: "n1",
      to,
      term: 1,
      index: li,
      logTerm: 1,
      entries: [entry(li + 1, 1, "some data")],
      commit: li,
    })),
  );
  r.advance();
  assert.equal(r.log.committed, li, "not committed before a quorum has it");
});

// §5.2/§8: a new leader appends an empty entry of its term, which commits
// the entries of earlier terms once it commits itself.
Deno.test("a new leader appends a no-op entry of its term and replicates it", () => {
  const net = new Network(PEERS);
  net.campaign("n1");
  for (const id of PEERS) {
    const log = net.log(id);
    assert.equal(log.length, 1, id);
    assert.equal(log[0].term, 1);
    assert.equal(log[0].type, EntryType.Normal);
    assert.equal(log[0].data.byteLength, 0, "the no-op is empty");
    assert.equal(net.raft(id).log.committed, 1, id);
  }
});

// §5.3: "A log entry is committed once the leader that created the entry has
// replicated it on a majority of the servers ... Once the follower learns
// that a log entry is committed, it applies the entry to its local state
// machine."
Deno.test("an entry replicated on a majority commits and every node applies it", () => {
  const net = new Network(PEERS);
  net.campaign("n1");
  net.clearTrace();
  net.propose("n1", "x");
  for (const id of PEERS) {
    assert.equal(net.raft(id).log.committed, 2, id);
    assert.deepEqual(net.appliedData(id), ["x"], id);
  }
  // Followers learn the commit index from a later AppendEntries.
  const commits = net.sent((m) => m.type === "app" && m.to === "n2")
    .map((m) => m.commit);
  assert.deepEqual(commits, [1, 2]);
});

Deno.test("the leader commits once a quorum acknowledges and sends the new commit index", () => {
  const r = committedLeader();
  const li = r.log.lastIndex();
  r.propose(data("some data"));
  const msgs = readMessages(r);
  assert.equal(msgs.length, 2);
  r.step(appResp("n2", "n1", 1, li + 1));
  const out = drain(r);
  assert.equal(r.log.committed, li + 1);
  assert.deepEqual(out.committed, [entry(li + 1, 1, "some data")]);
  // It tells the followers the new commit index at once.
  const apps = out.messages.filter((m) => m.type === "app");
  assert.deepEqual(apps.map((m) => [m.to, m.commit]).sort(), [
    ["n2", li + 1],
    ["n3", li + 1],
  ]);
});

Deno.test("a commit and new proposals in one Ready reach each follower as one AppendEntries", () => {
  const r = committedLeader();
  const li = r.log.lastIndex();
  r.propose(data("first"));
  readMessages(r);
  // A quorum acknowledges (the commit would be announced with empty
  // appends), and more proposals arrive before the host takes the Ready.
  r.step(appResp("n2", "n1", 1, li + 1));
  r.propose(data("second"), data("third"));
  const rd = r.ready();
  const apps = rd.messages.filter((m) => m.type === "app");
  // Without the empty ones: each follower's append carries both.
  assert.deepEqual(
    apps.map((m) => [m.to, m.commit, m.entries?.map((e) => text(e.data))])
      .sort(),
    [
      ["n2", li + 1, ["second", "third"]],
      ["n3", li + 1, ["second", "third"]],
    ],
  );
  persist(r, rd);
  r.advance();
});

Deno.test("an empty AppendEntries is still sent when nothing follows it", () => {
  const r = committedLeader();
  const li = r.log.lastIndex();
  r.propose(data("only"));
  readMessages(r);
  r.step(appResp("n2", "n1", 1, li + 1));
  const rd = r.ready();
  const empties = rd.messages.filter((m) =>
    m.type === "app" && (m.entries?.length ?? 0) === 0
  );
  assert.deepEqual(empties.map((m) => [m.to, m.commit]).sort(), [
    ["n2", li + 1],
    ["n3", li + 1],
  ]);
  persist(r, rd);
  r.advance();
});

// §5.3: "The leader decides when it is safe to apply a log entry to the
// state machines; such an entry is called committed."
Deno.test("the leader commits when a majority of the cluster acknowledges", () => {
  const cases: { size: number; acceptors: NodeId[]; commit: boolean }[] = [
    { size: 1, acceptors: [], commit: true },
    { size: 3, acceptors: [], commit: false },
    { size: 3, acceptors: ["n2"], commit: true },
    { size: 3, acceptors: ["n2", "n3"], commit: true },
    { size: 5, acceptors: [], commit: false },
    { size: 5, acceptors: ["n2"], commit: false },
    { size: 5, acceptors: ["n2", "n3"], commit: true },
    { size: 5, acceptors: ["n2", "n3", "n4"], commit: true },
    { size: 5, acceptors: ["n2", "n3", "n4", "n5"], commit: true },
  ];
  for (const [i, tt] of cases.entries()) {
    const r = committedLeader(ids(tt.size));
    const li = r.log.lastIndex();
    r.propose(data("some data"));
    const committed = drain(r).committed;
    for (const from of tt.acceptors) r.step(appResp(from, "n1", 1, li + 1));
    committed.push(...drain(r).committed);
    assert.equal(r.log.committed > li, tt.commit, `#${i}`);
    assert.deepEqual(
      committed.map((e) => text(e.data)),
      tt.commit ? ["some data"] : [],
      `#${i}`,
    );
  }
});

// The host contract: the leader counts its own entry toward the quorum only
// once advance() reports it durable (thesis §10.2.1: the leader may send
// while it writes).
Deno.test("the leader's own entry counts toward the quorum only after advance()", () => {
  const r = committedLeader(ids(5));
  const li = r.log.lastIndex();
  r.propose(data("x"));
  const rd = r.ready();
  assert.equal(rd.entries.length, 1);
  assert.equal(rd.messages.length, 4, "it sends before its own write is done");
  persist(r, rd);
  // Two followers have it, the leader's write is still in progress: 2 of 5.
  r.step(appResp("n2", "n1", 1, li + 1));
  r.step(appResp("n3", "n1", 1, li + 1));
  assert.equal(r.log.committed, li);
  assert.equal(r.status().progress.n1.match, li);
  r.advance();
  assert.equal(r.status().progress.n1.match, li + 1);
  assert.equal(
    r.log.committed,
    li + 1,
    "3 of 5 once the leader's copy is durable",
  );
});

Deno.test("a new leader's own match excludes entries it has not yet persisted", () => {
  const r = newTestRaft("n1", PEERS, CLASSIC);
  r.becomeFollower(1, "n2");
  r.step(appFromN2({ entries: entriesFrom(1, 1, 1) }));
  const rd = r.ready(); // the host starts writing entries 1 and 2 ...
  assert.equal(rd.entries.length, 2);
  // ... while n1 is elected (the host steps messages during the write).
  r.campaign();
  for (const from of ["n2", "n3"]) {
    r.step({ type: "voteResp", from, to: "n1", term: 2 });
  }
  assert.equal(r.status().role, "leader");
  assert.equal(r.status().progress.n1.match, 0, "nothing is durable yet");
  persist(r, rd);
  r.advance();
  assert.equal(r.status().progress.n1.match, 2);
  drain(r);
  assert.equal(r.status().progress.n1.match, 3, "and then its no-op");
});

Deno.test("a single-node cluster commits as soon as its own write is durable", () => {
  const r = newTestRaft("n1", ["n1"]);
  r.campaign();
  assert.equal(r.status().role, "leader");
  const rd = r.ready();
  assert.equal(rd.entries.length, 1);
  assert.equal(rd.committedEntries.length, 0, "the no-op is not yet durable");
  assert.equal(r.log.committed, 0);
  persist(r, rd);
  assert.equal(r.log.committed, 0, "advance() tells the core it is durable");
  r.advance();
  assert.equal(r.log.committed, 1);
  r.propose(data("a"));
  assert.equal(r.log.committed, 1);
  const out = drain(r);
  assert.deepEqual(out.committed.map((e) => [e.index, text(e.data)]), [
    [1, ""],
    [2, "a"],
  ]);
});

// §5.3: "When the leader commits an entry it also commits all preceding
// entries in the leader's log, including entries created by previous
// leaders."
Deno.test("committing an entry of the current term commits all preceding entries", () => {
  const cases: number[][] = [[], [2], [1, 2], [1]];
  for (const [i, terms] of cases.entries()) {
    const ents = entriesFrom(1, ...terms);
    const r = withLog(ents, { term: 2 });
    electLeader(r);
    assert.equal(r.term, 3);
    r.propose(data("some data"));
    drain(r);
    const li = ents.length;
    for (const from of ["n2", "n3"]) r.step(appResp(from, "n1", 3, li + 2));
    const out = drain(r);
    assert.deepEqual(
      out.committed.map((e) => [e.index, e.term, text(e.data)]),
      [
        ...ents.map((e) => [e.index, e.term, ""]),
        [li + 1, 3, ""],
        [li + 2, 3, "some data"],
      ],
      `#${i}`,
    );
  }
});

// §5.3: "Once a follower learns that a log entry is committed, it applies
// the entry to its local state machine (in log order)."
Deno.test("a follower commits and applies what the leader says is committed", () => {
  const cases: { ents: Entry[]; commit: number }[] = [
    { ents: [entry(1, 1, "some data")], commit: 1 },
    { ents: [entry(1, 1, "some data"), entry(2, 1, "some data2")], commit: 2 },
    { ents: [entry(1, 1, "some data2"), entry(2, 1, "some data")], commit: 2 },
    { ents: [entry(1, 1, "some data"), entry(2, 1, "some data2")], commit: 1 },
  ];
  for (const [i, tt] of cases.entries()) {
    const r = newTestRaft("n1", PEERS, CLASSIC);
    r.becomeFollower(1, "n2");
    r.step(appFromN2({ entries: tt.ents, commit: tt.commit }));
    assert.equal(r.log.committed, tt.commit, `#${i}`);
    const out = drain(r);
    assert.deepEqual(out.committed, tt.ents.slice(0, tt.commit), `#${i}`);
    assert.deepEqual(out.persisted, tt.ents, `#${i}`);
  }
});

Deno.test("a follower never commits beyond what it knows matches the leader", () => {
  const r = newTestRaft("n1", PEERS, CLASSIC);
  r.becomeFollower(1, "n2");
  // The leader is at commit 5 but sends only entries up to 2.
  r.step(appFromN2({ entries: entriesFrom(1, 1, 1), commit: 5 }));
  assert.equal(r.log.committed, 2);
  // A heartbeat's commit is capped by the log too.
  r.step({ type: "heartbeat", from: "n2", to: "n1", term: 1, commit: 9 });
  assert.equal(r.log.committed, 2);
  // And a commit index never goes backwards.
  r.step({ type: "heartbeat", from: "n2", to: "n1", term: 1, commit: 1 });
  assert.equal(r.log.committed, 2);
});

Deno.test("a follower with a stale tail commits only up to the last entry the message vouches for", () => {
  // Index 3 (term 1) is left over from a deposed leader; the new leader's
  // index 3 has term 2, but this message only carries index 2.
  const r = withLog(entriesFrom(1, 1, 1, 1), { term: 2 });
  r.becomeFollower(2, "n2");
  r.step(
    appFromN2({
      term: 2,
      logTerm: 1,
      index: 1,
      entries: [entry(2, 1)],
      commit: 3,
    }),
  );
  assert.equal(r.log.committed, 2, "index 3 here may not be the leader's");
  assert.equal(r.log.lastIndex(), 3);
});

Deno.test("the leader's heartbeat carries a commit index no higher than the follower's match", () => {
  const r = committedLeader();
  const li = r.log.lastIndex();
  r.propose(data("a"));
  drain(r);
  r.step(appResp("n2", "n1", 1, li + 1));
  drain(r);
  assert.equal(r.log.committed, li + 1);
  r.step({ type: "beat", from: "n1", to: "n1", term: 0 });
  const beats = readMessages(r).filter((m) => m.type === "heartbeat");
  assert.deepEqual(beats.map((m) => [m.to, m.commit]).sort(), [
    ["n2", li + 1],
    ["n3", li],
  ]);
});

// §5.3: "When sending an AppendEntries RPC, the leader includes the index and
// term of the entry in its log that immediately precedes the new entries. If
// the follower does not find an entry in its log with the same index and
// term, then it refuses the new entries."
Deno.test("a follower checks the entry preceding new entries and hints where to retry", () => {
  const ents = entriesFrom(1, 1, 2);
  const cases: {
    logTerm: number;
    index: number;
    windex: number;
    reject: boolean;
    hint?: number;
    hintTerm?: number;
  }[] = [
    // Matches within the committed prefix: answered with the commit index.
    { logTerm: 0, index: 0, windex: 1, reject: false },
    { logTerm: 1, index: 1, windex: 1, reject: false },
    // Matches an uncommitted entry.
    { logTerm: 2, index: 2, windex: 2, reject: false },
    // Same index, different term.
    { logTerm: 1, index: 2, windex: 2, reject: true, hint: 1, hintTerm: 1 },
    // An entry the follower does not have.
    { logTerm: 3, index: 3, windex: 3, reject: true, hint: 2, hintTerm: 2 },
  ];
  for (const [i, tt] of cases.entries()) {
    const r = withLog(ents, { term: 2, commit: 1 });
    r.becomeFollower(2, "n2");
    r.step(
      appFromN2({ term: 2, logTerm: tt.logTerm, index: tt.index, commit: 1 }),
    );
    const msgs = readMessages(r);
    assert.equal(msgs.length, 1, `#${i}`);
    const m = msgs[0];
    assert.deepEqual(
      [m.type, m.to, m.term, m.index, m.reject ?? false],
      ["appResp", "n2", 2, tt.windex, tt.reject],
      `#${i}`,
    );
    if (tt.reject) {
      assert.equal(m.rejectHint, tt.hint, `#${i} hint`);
      assert.equal(m.logTerm, tt.hintTerm, `#${i} hint term`);
    }
    assert.deepEqual(termsOf(r.log.entries(1, Infinity)), [1, 2], `#${i}`);
  }
});

// §5.3: "If an existing entry conflicts with a new one (same index but
// different terms), delete the existing entry and all that follow it;
// append any new entries not already in the log."
Deno.test("a follower appends new entries and overwrites a conflicting suffix", () => {
  const cases: {
    index: number;
    term: number;
    ents: Entry[];
    wents: number[];
    wunstable: number[];
  }[] = [
    {
      index: 2,
      term: 2,
      ents: [entry(3, 3)],
      wents: [1, 2, 3],
      wunstable: [3],
    },
    {
      index: 1,
      term: 1,
      ents: [entry(2, 3), entry(3, 4)],
      wents: [1, 3, 4],
      wunstable: [3, 4],
    },
    { index: 0, term: 0, ents: [entry(1, 1)], wents: [1, 2], wunstable: [] },
    { index: 0, term: 0, ents: [entry(1, 3)], wents: [3], wunstable: [3] },
  ];
  for (const [i, tt] of cases.entries()) {
    const r = withLog(entriesFrom(1, 1, 2));
    r.becomeFollower(2, "n2");
    r.step(
      appFromN2({
        term: 2,
        logTerm: tt.term,
        index: tt.index,
        entries: tt.ents,
      }),
    );
    assert.deepEqual(
      termsOf(r.log.entries(1, Infinity)),
      tt.wents,
      `#${i} log`,
    );
    assert.deepEqual(
      termsOf(r.log.unstableEntries()),
      tt.wunstable,
      `#${i} unstable`,
    );
    const out = drain(r);
    assert.equal(out.messages[0].reject ?? false, false, `#${i}`);
    assert.deepEqual(termsOf(out.persisted), tt.wunstable, `#${i} persisted`);
  }
});

Deno.test("an AppendEntries that is a duplicate or older than the log does not truncate it", () => {
  // A delayed AppendEntries carrying a prefix of what the follower already
  // has must not cut the entries after it.
  const r = withLog(entriesFrom(1, 1, 1, 1, 1, 1));
  r.becomeFollower(1, "n2");
  r.step(appFromN2({ logTerm: 1, index: 1, entries: [entry(2, 1)] }));
  assert.equal(r.log.lastIndex(), 5);
  assert.deepEqual(readMessages(r).map((m) => [m.index, m.reject ?? false]), [
    [2, false],
  ]);
});

Deno.test("an AppendEntries before the commit index is answered with the commit index", () => {
  // A delayed message from an earlier leader: the committed prefix can
  // never conflict, so the follower just reports how far it is committed.
  const r = withLog(entriesFrom(1, 1, 1, 2), { term: 2, commit: 2 });
  r.becomeFollower(2, "n2");
  r.step(
    appFromN2({
      term: 2,
      logTerm: 1,
      index: 1,
      entries: [entry(2, 2)],
      commit: 2,
    }),
  );
  assert.deepEqual(termsOf(r.log.entries(1, Infinity)), [1, 1, 2]);
  assert.deepEqual(
    readMessages(r).map((m) => [m.type, m.index, m.reject ?? false]),
    [["appResp", 2, false]],
  );
});

// §5.3, Figure 7: "the leader handles inconsistencies by forcing the
// followers' logs to duplicate its own."
Deno.test("the leader repairs every follower log of Figure 7", () => {
  const leaderTerms = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6];
  const term = 8;
  const followers: Record<string, number[]> = {
    a: [1, 1, 1, 4, 4, 5, 5, 6, 6],
    b: [1, 1, 1, 4],
    c: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6],
    d: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7],
    e: [1, 1, 1, 4, 4, 4, 4],
    f: [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3],
  };
  for (const [name, terms] of Object.entries(followers)) {
    const net = new Network(PEERS, {
      config: CLASSIC,
      storages: {
        n1: newStorage({
          voters: PEERS,
          entries: entriesFrom(1, ...leaderTerms),
          hardState: { term, commit: leaderTerms.length },
        }),
        n2: newStorage({
          voters: PEERS,
          entries: entriesFrom(1, ...terms),
          hardState: { term: term - 1 },
        }),
      },
    });
    // A third node is needed: the follower may have the more up-to-date log
    // (c, d), so the leader needs the third node's vote.
    net.crash("n3");
    net.campaign("n1");
    net.send({ type: "voteResp", from: "n3", to: "n1", term: term + 1 });
    assert.equal(net.leader(), "n1", name);
    net.propose("n1", "");
    const want = [...leaderTerms, term + 1, term + 1];
    assert.deepEqual(termsOf(net.log("n1")), want, `(${name}) leader`);
    assert.deepEqual(net.log("n2"), net.log("n1"), `(${name}) follower`);
    assert.equal(net.raft("n2").log.committed, want.length, `(${name})`);
  }
});

Deno.test("proposals at a follower are forwarded to the leader and committed", () => {
  const net = new Network(PEERS);
  net.campaign("n1");
  net.clearTrace();
  net.propose("n2", "from n2");
  net.propose("n3", "from n3");
  const props = net.sent((m: Message) => m.type === "prop");
  assert.deepEqual(props.map((m) => [m.from, m.to]), [
    ["n2", "n1"],
    ["n3", "n1"],
  ]);
  for (const id of PEERS) {
    assert.deepEqual(net.appliedData(id), ["from n2", "from n3"], id);
    assert.equal(net.log(id)[1].term, 1, "the leader stamps its term");
  }
});

Deno.test("a follower's forwarded proposal and read can be taken while its Ready is in flight", () => {
  // Forwarding promises nothing about the follower's log, so the host may
  // send it before the write of the last Ready is durable.
  const r = newTestRaft("n1", PEERS);
  r.step(appFromN2({ entries: [entry(1, 1, "a")] }));
  const rd = r.ready(); // being persisted
  r.propose(data("x"));
  r.readIndex("ctx");
  r.step({ type: "heartbeat", from: "n2", to: "n1", term: 1, commit: 0 });
  const forwarded = r.takeForwarded();
  assert.deepEqual(forwarded.map((m) => [m.type, m.to]), [
    ["prop", "n2"],
    ["readIndex", "n2"],
  ]);
  assert.deepEqual(r.takeForwarded(), [], "taken once");
  persist(r, rd);
  r.advance();
  // The heartbeat's answer still waits for the next Ready.
  assert.deepEqual(
    r.ready().messages.map((m) => m.type),
    ["heartbeatResp"],
  );
});

Deno.test("a proposal with no known leader is dropped with ProposalDroppedError", () => {
  // A fresh follower knows no leader.
  const r = newTestRaft("n1", PEERS);
  assert.throws(() => r.propose(data("x")), ProposalDroppedError);
  // Neither does a candidate.
  const c = newTestRaft("n1", PEERS, CLASSIC);
  c.campaign();
  assert.throws(() => c.propose(data("x")), ProposalDroppedError);
  // Nor a pre-candidate.
  const p = newTestRaft("n1", PEERS);
  p.campaign();
  assert.equal(p.status().role, "preCandidate");
  assert.throws(() => p.propose(data("x")), ProposalDroppedError);
  assert.equal(c.log.lastIndex(), 0);
});

Deno.test("a follower whose leader stepped down drops proposals instead of forwarding", () => {
  const net = new Network(PEERS);
  net.campaign("n1");
  net.raft("n2").becomeFollower(2, "");
  net.clearTrace();
  assert.throws(() => net.propose("n2", "x"), ProposalDroppedError);
  assert.deepEqual(net.sent((m) => m.type === "prop"), []);
});

Deno.test("the host contract: ready() twice without advance() is an error", () => {
  const r = newTestRaft("n1", ["n1"]);
  r.campaign();
  const rd = r.ready();
  assert.equal(r.hasReady(), false, "nothing new until advance()");
  assert.throws(() => r.ready(), RaftInvariantError);
  persist(r, rd);
  r.advance();
  r.advance(); // a second advance() is harmless
  assert.equal(r.log.committed, 1);
});

Deno.test("committed entries are handed out across Readies within maxCommittedSizePerReady", () => {
  const r = newTestRaft("n1", PEERS, {
    ...CLASSIC,
    maxCommittedSizePerReady: 50, // two empty entries (24 bytes each)
    storage: newStorage({
      voters: PEERS,
      entries: entriesFrom(1, 1, 1, 1, 1, 1),
      hardState: { term: 1, commit: 5 },
    }),
  });
  const sizes: number[] = [];
  const applied: number[] = [];
  while (r.hasReady()) {
    const rd = r.ready();
    sizes.push(rd.committedEntries.length);
    applied.push(...rd.committedEntries.map((e) => e.index));
    persist(r, rd);
    r.advance();
  }
  assert.deepEqual(sizes, [2, 2, 1]);
  assert.deepEqual(applied, [1, 2, 3, 4, 5]);
  assert.equal(r.log.applied, 5);
});
