/**
 * Log compaction and InstallSnapshot (§7).
 */

import assert from "node:assert/strict";
import type { Raft } from "../../src/raft/raft.ts";
import type { Message, Snapshot } from "../../src/raft/types.ts";
import {
  CLASSIC,
  data,
  drain,
  electLeader,
  entriesFrom,
  Network,
  newStorage,
  newTestRaft,
  persist,
  readMessages,
  text,
} from "./network.ts";

const PEERS = ["n1", "n2", "n3"];

/** The leader's host takes a snapshot at its applied index and compacts. */
function compact(net: Network, id: string): number {
  const r = net.raft(id);
  const i = r.log.applied;
  net.storages.get(id)!.createSnapshot(
    i,
    r.confStateAt(i),
    data(`state@${i}`),
  );
  return i;
}

/** n3 misses ten entries, the leader compacts past them, two more follow. */
function laggingFollower(): { net: Network; snapIndex: number } {
  const net = new Network(PEERS);
  net.campaign("n1");
  net.isolate("n3");
  for (let i = 0; i < 10; i++) net.propose("n1", `v${i}`);
  const snapIndex = compact(net, "n1");
  assert.equal(snapIndex, 11);
  assert.equal(net.raft("n1").log.firstIndex(), 12);
  net.propose("n1", "after1", "after2");
  net.heal();
  net.clearTrace();
  return { net, snapIndex };
}

// §7: "the leader must occasionally send snapshots to followers that lag
// behind ... when the leader has already discarded the next log entry that
// it needs to send to a follower."
Deno.test("a follower behind the leader's compacted log gets InstallSnapshot and catches up", () => {
  const { net, snapIndex } = laggingFollower();
  net.tick("n1", 5); // the heartbeat response shows n3 is behind
  const snaps = net.sent((m) => m.type === "snap");
  assert.deepEqual(snaps.map((m) => [m.to, m.snapshot!.metadata.index]), [
    ["n3", snapIndex],
  ]);
  assert.equal(text(snaps[0].snapshot!.data), "state@11");
  assert.deepEqual(
    net.installed.map((s) => [s.node, s.snapshot.metadata.index]),
    [["n3", snapIndex]],
  );
  const r3 = net.raft("n3");
  assert.equal(r3.status().snapshotIndex, snapIndex);
  assert.equal(r3.log.committed, 13);
  assert.deepEqual(net.log("n3"), net.log("n1"));
  // After the snapshot n3 applied only what followed it.
  assert.deepEqual(net.appliedData("n3"), ["after1", "after2"]);
  assert.equal(net.raft("n1").status().progress.n3.state, "replicate");
  assert.equal(net.raft("n1").status().progress.n3.match, 13);
});

Deno.test("a restarted node starts from its snapshot and the log after it", () => {
  const { net, snapIndex } = laggingFollower();
  net.tick("n1", 5);
  net.crash("n3");
  const r3 = net.restart("n3");
  const st = r3.status();
  assert.equal(st.snapshotIndex, snapIndex);
  assert.equal(st.lastIndex, 13);
  assert.equal(st.commit, 13);
  assert.equal(
    st.applied,
    snapIndex,
    "the state machine starts at the snapshot",
  );
  assert.equal(st.term, 1);
  const out = drain(r3);
  assert.deepEqual(
    out.committed.map((e) => [e.index, text(e.data)]),
    [[12, "after1"], [13, "after2"]],
  );
});

Deno.test("a snapshot is not sent while the storage is producing one", () => {
  const { net } = laggingFollower();
  net.storages.get("n1")!.snapshotUnavailable = true;
  net.tick("n1", 5);
  assert.deepEqual(net.sent((m) => m.type === "snap"), []);
  assert.equal(net.log("n3").length, 1);
  net.storages.get("n1")!.snapshotUnavailable = false;
  net.tick("n1", 5);
  assert.equal(net.sent((m) => m.type === "snap").length, 1);
  assert.deepEqual(net.log("n3"), net.log("n1"));
});

Deno.test("a snapshot carries and restores the configuration at its index", () => {
  const net = new Network(PEERS);
  net.campaign("n1");
  net.addNode("n4");
  net.isolate("n3");
  net.raft("n1").proposeConfChange({ type: "addLearner", node: "n4" });
  net.deliverAll();
  net.propose("n1", "x");
  compact(net, "n1");
  net.heal();
  net.tick("n1", 5);
  const snap = net.installed.find((s) => s.node === "n3")!.snapshot;
  const conf = { voters: PEERS, learners: ["n4"] };
  assert.deepEqual(snap.metadata.conf, conf);
  assert.deepEqual(net.raft("n3").confState(), conf);
  net.crash("n3");
  assert.deepEqual(net.restart("n3").confState(), conf);
});

/** A follower of term 2 whose log is entries 1..10 of term 1, commit `commit`. */
function follower(commit: number): Raft {
  const r = newTestRaft("n1", PEERS, {
    storage: newStorage({
      voters: PEERS,
      entries: entriesFrom(1, ...Array<number>(10).fill(1)),
      hardState: { term: 2, commit },
    }),
    applied: commit,
  });
  r.becomeFollower(2, "n2");
  drain(r);
  return r;
}

function snapMsg(index: number, term: number): Message {
  const snapshot: Snapshot = {
    metadata: { index, term, conf: { voters: PEERS, learners: [] } },
    data: data(`state@${index}`),
  };
  return { type: "snap", from: "n2", to: "n1", term: 2, snapshot };
}

Deno.test("a snapshot older than the commit index is ignored", () => {
  const r = follower(10);
  // Even one that disagrees with the committed log (which a correct leader
  // never sends) does not replace committed entries.
  r.step(snapMsg(5, 2));
  const rd = r.ready();
  persist(r, rd);
  assert.equal(rd.snapshot, undefined);
  assert.deepEqual(rd.messages.map((m) => [m.type, m.index, m.reject]), [
    ["appResp", 10, undefined],
  ]);
  r.advance();
  assert.equal(r.status().snapshotIndex, 0);
  assert.equal(r.log.lastIndex(), 10);
});

Deno.test("a snapshot that matches the log only advances the commit index", () => {
  const r = follower(3);
  r.step(snapMsg(8, 1));
  const out = drain(r);
  assert.equal(r.log.committed, 8);
  assert.equal(r.log.lastIndex(), 10, "the entries after it are kept");
  assert.equal(r.status().snapshotIndex, 0);
  assert.deepEqual(out.messages.map((m) => [m.type, m.index]), [
    ["appResp", 8],
  ]);
  assert.deepEqual(out.committed.map((e) => e.index), [4, 5, 6, 7, 8]);
});

Deno.test("a snapshot beyond the log replaces it", () => {
  const r = follower(3);
  r.step(snapMsg(20, 2));
  const rd = r.ready();
  assert.equal(rd.snapshot?.metadata.index, 20);
  assert.deepEqual(
    rd.committedEntries,
    [],
    "entries before it are not applied",
  );
  assert.deepEqual(rd.messages.map((m) => [m.type, m.index]), [
    ["appResp", 20],
  ]);
  assert.equal(rd.mustSync, true);
  persist(r, rd);
  r.advance();
  assert.equal(r.log.committed, 20);
  assert.equal(r.log.applied, 20);
  assert.equal(r.log.firstIndex(), 21);
  assert.equal(r.log.lastIndex(), 20);
  assert.equal(r.log.lastTerm(), 2);
});

/** A leader whose log starts after a snapshot at 11, with n2 in snapshot state. */
function leaderSendingSnapshot(): Raft {
  const peers = ["n1", "n2"];
  const r = newTestRaft("n1", peers, {
    ...CLASSIC,
    storage: newStorage({
      voters: peers,
      snapshot: { index: 11, term: 11 },
      hardState: { term: 11, commit: 11 },
    }),
    applied: 11,
  });
  electLeader(r);
  // n2 has nothing: it rejects the probe and hints index 0.
  r.step({
    type: "appResp",
    from: "n2",
    to: "n1",
    term: r.term,
    index: 11,
    reject: true,
    rejectHint: 0,
    logTerm: 0,
  });
  const msgs = readMessages(r);
  assert.deepEqual(msgs.map((m) => [m.type, m.snapshot?.metadata.index]), [
    ["snap", 11],
  ]);
  const pr = r.tracker.progress.get("n2")!;
  assert.equal(pr.state, "snapshot");
  assert.equal(pr.pendingSnapshot, 11);
  assert.ok(pr.isPaused(), "nothing else is sent while the snapshot is out");
  return r;
}

Deno.test("a failed snapshot sends the follower back to probing from its match", () => {
  const r = leaderSendingSnapshot();
  r.reportSnapshot("n2", false);
  const pr = r.tracker.progress.get("n2")!;
  assert.equal(pr.state, "probe");
  assert.equal(pr.pendingSnapshot, 0);
  assert.equal(pr.next, 1);
  assert.ok(pr.isPaused(), "wait for a heartbeat response before retrying");
  assert.deepEqual(readMessages(r), []);
  r.step({ type: "heartbeatResp", from: "n2", to: "n1", term: r.term });
  assert.deepEqual(readMessages(r).map((m) => m.type), ["snap"]);
});

Deno.test("a delivered snapshot sends the follower to probing after it", () => {
  const r = leaderSendingSnapshot();
  r.reportSnapshot("n2", true);
  const pr = r.tracker.progress.get("n2")!;
  assert.equal(pr.state, "probe");
  assert.equal(pr.next, 12);
  assert.ok(pr.isPaused());
  // The follower's answer to the snapshot starts replication.
  r.step({ type: "appResp", from: "n2", to: "n1", term: r.term, index: 11 });
  assert.equal(pr.state, "replicate");
  const apps = readMessages(r).filter((m) => m.type === "app");
  assert.deepEqual(apps.map((m) => [m.index, m.logTerm]), [[11, 11]]);
});

Deno.test("a snapshot status for a follower not in snapshot state is ignored", () => {
  const r = newTestRaft("n1", PEERS, CLASSIC);
  electLeader(r);
  const before = { ...r.status().progress.n2 };
  r.reportSnapshot("n2", false);
  assert.deepEqual(r.status().progress.n2, before);
});
