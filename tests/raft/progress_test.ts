/**
 * Unit tests of a follower's replication Progress (probe, replicate,
 * snapshot) and of the ProgressTracker's quorum arithmetic (after
 * etcd-io/raft's tracker/progress_test.go and quorum tests).
 */

import assert from "node:assert/strict";
import { Progress, type ProgressState } from "../../src/raft/progress.ts";
import { ProgressTracker } from "../../src/raft/tracker.ts";

const LIMITS = { maxInflight: 256, maxInflightBytes: 0 };

function progress(
  state: ProgressState,
  match: number,
  next: number,
  maxInflight = 256,
): Progress {
  const p = new Progress(next, { maxInflight, maxInflightBytes: 0 });
  if (state === "replicate") p.becomeReplicate();
  if (state === "snapshot") p.becomeSnapshot(0);
  p.match = match;
  p.next = next;
  return p;
}

Deno.test("a new progress probes from the given next index", () => {
  const p = new Progress(7, LIMITS);
  assert.equal(p.state, "probe");
  assert.equal(p.match, 0);
  assert.equal(p.next, 7);
  assert.equal(p.isPaused(), false);
  assert.equal(p.isLearner, false);
});

Deno.test("becomeProbe restarts from match + 1, or after a pending snapshot", () => {
  const fromReplicate = progress("replicate", 1, 5);
  fromReplicate.becomeProbe();
  assert.equal(fromReplicate.state, "probe");
  assert.equal(fromReplicate.next, 2);

  const fromSnapshot = progress("probe", 1, 5);
  fromSnapshot.becomeSnapshot(10);
  fromSnapshot.becomeProbe();
  assert.equal(fromSnapshot.state, "probe");
  assert.equal(fromSnapshot.next, 11);
  assert.equal(fromSnapshot.pendingSnapshot, 0);

  const failedSnapshot = progress("probe", 1, 5);
  failedSnapshot.becomeSnapshot(10);
  failedSnapshot.pendingSnapshot = 0; // the host reported a failure
  failedSnapshot.becomeProbe();
  assert.equal(failedSnapshot.next, 2);
});

Deno.test("becomeReplicate streams from match + 1 with an empty window", () => {
  const p = progress("probe", 1, 5);
  p.msgAppFlowPaused = true;
  p.becomeReplicate();
  assert.equal(p.state, "replicate");
  assert.equal(p.next, 2);
  assert.equal(p.msgAppFlowPaused, false);
  assert.equal(p.inflights.count(), 0);
});

Deno.test("becomeSnapshot pauses everything until the snapshot is settled", () => {
  const p = progress("replicate", 1, 5);
  p.sentEntries(1, 10);
  p.becomeSnapshot(9);
  assert.equal(p.state, "snapshot");
  assert.equal(p.pendingSnapshot, 9);
  assert.equal(p.inflights.count(), 0);
  assert.equal(p.isPaused(), true);
});

Deno.test("maybeUpdate raises match and next, and reports news", () => {
  const prevM = 3;
  const prevN = 5;
  const cases: [number, number, number, boolean][] = [
    [prevM - 1, prevM, prevN, false], // stale: nothing changes
    [prevM, prevM, prevN, false], // duplicate
    [prevM + 1, prevM + 1, prevN, true], // match rises, next stays
    [prevM + 2, prevM + 2, prevN + 1, true], // both rise
  ];
  for (const [update, wm, wn, wok] of cases) {
    const p = progress("probe", prevM, prevN);
    assert.equal(p.maybeUpdate(update), wok, `update(${update})`);
    assert.equal(p.match, wm, `update(${update}) match`);
    assert.equal(p.next, wn, `update(${update}) next`);
  }
});

Deno.test("maybeUpdate unpauses a probe that got its answer", () => {
  const p = progress("probe", 0, 5);
  p.sentEntries(1, 10);
  assert.equal(p.isPaused(), true);
  p.maybeUpdate(4);
  assert.equal(p.isPaused(), false);
});

Deno.test("maybeDecrTo backs off on rejections, ignoring stale ones", () => {
  const cases: {
    state: ProgressState;
    match: number;
    next: number;
    rejected: number;
    hint: number;
    ok: boolean;
    wnext: number;
  }[] = [
    // Replicate: a rejection at or below the match is stale.
    {
      state: "replicate",
      match: 5,
      next: 10,
      rejected: 5,
      hint: 5,
      ok: false,
      wnext: 10,
    },
    {
      state: "replicate",
      match: 5,
      next: 10,
      rejected: 4,
      hint: 4,
      ok: false,
      wnext: 10,
    },
    // Replicate: otherwise fall back to match + 1.
    {
      state: "replicate",
      match: 5,
      next: 10,
      rejected: 9,
      hint: 9,
      ok: true,
      wnext: 6,
    },
    // Probe: only the answer to the latest probe (next - 1) counts.
    {
      state: "probe",
      match: 0,
      next: 0,
      rejected: 0,
      hint: 0,
      ok: false,
      wnext: 0,
    },
    {
      state: "probe",
      match: 0,
      next: 10,
      rejected: 5,
      hint: 5,
      ok: false,
      wnext: 10,
    },
    // Probe: go to min(rejected, hint + 1).
    {
      state: "probe",
      match: 0,
      next: 10,
      rejected: 9,
      hint: 9,
      ok: true,
      wnext: 9,
    },
    {
      state: "probe",
      match: 0,
      next: 2,
      rejected: 1,
      hint: 1,
      ok: true,
      wnext: 1,
    },
    {
      state: "probe",
      match: 0,
      next: 1,
      rejected: 0,
      hint: 0,
      ok: true,
      wnext: 1,
    },
    {
      state: "probe",
      match: 0,
      next: 10,
      rejected: 9,
      hint: 2,
      ok: true,
      wnext: 3,
    },
    {
      state: "probe",
      match: 0,
      next: 10,
      rejected: 9,
      hint: 0,
      ok: true,
      wnext: 1,
    },
    // Never below match + 1.
    {
      state: "probe",
      match: 4,
      next: 10,
      rejected: 9,
      hint: 1,
      ok: true,
      wnext: 5,
    },
  ];
  for (const [i, tt] of cases.entries()) {
    const p = progress(tt.state, tt.match, tt.next);
    assert.equal(p.maybeDecrTo(tt.rejected, tt.hint), tt.ok, `#${i}`);
    assert.equal(p.next, tt.wnext, `#${i} next`);
    assert.equal(p.match, tt.match, `#${i} match`);
  }
});

Deno.test("a probe rejection unpauses the probe", () => {
  const p = progress("probe", 0, 10);
  p.sentEntries(1, 10);
  assert.equal(p.isPaused(), true);
  assert.equal(p.maybeDecrTo(9, 3), true);
  assert.equal(p.isPaused(), false);
});

Deno.test("sentEntries: a probe pauses, replicate advances next optimistically", () => {
  const probe = progress("probe", 1, 2);
  probe.sentEntries(3, 30);
  assert.equal(probe.next, 2, "a probe does not move next");
  assert.equal(probe.isPaused(), true);

  const repl = progress("replicate", 1, 2, 2);
  repl.sentEntries(3, 30);
  assert.equal(repl.next, 5);
  assert.equal(repl.inflights.count(), 1);
  assert.equal(repl.isPaused(), false);
  repl.sentEntries(0, 0); // an empty append takes no slot
  assert.equal(repl.inflights.count(), 1);
  repl.sentEntries(1, 10);
  assert.equal(repl.next, 6);
  assert.equal(repl.isPaused(), true, "the window of 2 is full");
  repl.inflights.freeLE(4);
  assert.equal(repl.isPaused(), false);
});

Deno.test("isPaused depends on the state", () => {
  const probe = progress("probe", 0, 1);
  assert.equal(probe.isPaused(), false);
  probe.msgAppFlowPaused = true;
  assert.equal(probe.isPaused(), true);
  const repl = progress("replicate", 0, 1);
  repl.msgAppFlowPaused = true;
  assert.equal(repl.isPaused(), false, "replicate only looks at the window");
  assert.equal(progress("snapshot", 0, 1).isPaused(), true);
});

// ---------------------------------------------------------------- tracker

function tracker(voters: string[], learners: string[] = []): ProgressTracker {
  const t = new ProgressTracker(LIMITS);
  t.applyConf({ voters, learners }, 1);
  return t;
}

Deno.test("committed is the highest index a quorum of voters has matched", () => {
  const cases: [Record<string, number>, string[], number][] = [
    [{ n1: 5 }, [], 5],
    [{ n1: 2, n2: 2, n3: 1 }, [], 2],
    [{ n1: 5, n2: 1, n3: 1 }, [], 1],
    [{ n1: 4, n2: 3, n3: 2, n4: 1 }, [], 2],
    [{ n1: 5, n2: 3, n3: 4, n4: 1, n5: 2 }, [], 3],
    // A learner's match never counts.
    [{ n1: 5, n2: 1, n3: 1, l1: 5 }, ["l1"], 1],
  ];
  for (const [i, [matches, learners, want]] of cases.entries()) {
    const voters = Object.keys(matches).filter((id) => !learners.includes(id));
    const t = tracker(voters, learners);
    for (const [id, m] of Object.entries(matches)) {
      t.progress.get(id)!.match = m;
    }
    assert.equal(t.committed(), want, `#${i}`);
  }
});

Deno.test("quorum is a majority of voters", () => {
  const cases: [number, number][] = [[1, 1], [2, 2], [3, 2], [4, 3], [5, 3]];
  for (const [n, q] of cases) {
    const voters = Array.from({ length: n }, (_, i) => `n${i}`);
    assert.equal(tracker(voters, ["l"]).quorum(), q, `${n} voters`);
  }
});

Deno.test("voteResult is won, lost or pending, counting only voters", () => {
  const t = tracker(["n1", "n2", "n3", "n4", "n5"], ["l1", "l2", "l3"]);
  t.recordVote("n1", true);
  for (const l of ["l1", "l2", "l3"]) t.recordVote(l, true);
  assert.equal(t.voteResult(), "pending", "learners do not vote");
  t.recordVote("n2", false);
  t.recordVote("n2", true); // only the first answer counts
  assert.deepEqual(t.tally(), { granted: 1, rejected: 1 });
  t.recordVote("n3", false);
  assert.equal(t.voteResult(), "pending");
  t.recordVote("n4", false);
  assert.equal(t.voteResult(), "lost");

  const w = tracker(["n1", "n2", "n3"]);
  w.recordVote("n1", true);
  assert.equal(w.voteResult(), "pending");
  w.recordVote("n3", true);
  assert.equal(w.voteResult(), "won");
});

Deno.test("quorumActive counts the leader and the recently active voters", () => {
  const t = tracker(["n1", "n2", "n3"], ["l1"]);
  for (const pr of t.progress.values()) pr.recentActive = false;
  t.progress.get("l1")!.recentActive = true;
  assert.equal(t.quorumActive("n1"), false, "a learner does not count");
  t.progress.get("n3")!.recentActive = true;
  assert.equal(t.quorumActive("n1"), true);
});

Deno.test("applyConf adds, converts and removes members", () => {
  const t = tracker(["n1", "n2", "n3"], ["l1"]);
  t.progress.get("n2")!.match = 7;
  t.applyConf({ voters: ["n1", "n2", "l1"], learners: ["n4"] }, 10);
  assert.deepEqual([...t.progress.keys()].sort(), ["l1", "n1", "n2", "n4"]);
  assert.equal(
    t.progress.get("n2")!.match,
    7,
    "existing members keep progress",
  );
  assert.equal(t.progress.get("l1")!.isLearner, false, "promoted");
  const n4 = t.progress.get("n4")!;
  assert.equal(n4.isLearner, true);
  assert.equal(n4.next, 10);
  assert.equal(n4.recentActive, true, "a new member gets a grace period");
  assert.deepEqual(t.confState(), {
    voters: ["l1", "n1", "n2"],
    learners: ["n4"],
  });
});

Deno.test("resetProgress gives every member a fresh probe at the next index", () => {
  const t = tracker(["n1", "n2"], ["l1"]);
  const old = t.progress.get("n2")!;
  old.match = 5;
  old.becomeReplicate();
  old.recentActive = true;
  t.resetProgress(9);
  const n2 = t.progress.get("n2")!;
  assert.notEqual(n2, old);
  assert.deepEqual(
    [n2.state, n2.match, n2.next, n2.recentActive],
    ["probe", 0, 9, false],
  );
  assert.equal(t.progress.get("l1")!.isLearner, true);
});
