/**
 * Replication flow control: per-follower progress states (probe,
 * replicate, snapshot), the inflight window by count and by bytes, batching
 * up to maxSizePerMsg, fast backtracking with conflict hints, and recovery
 * from lost messages.
 */

import assert from "node:assert/strict";
import type { Raft } from "../../src/raft/raft.ts";
import { entriesSize, type Message } from "../../src/raft/types.ts";
import {
  ackAll,
  CLASSIC,
  data,
  drain,
  electLeader,
  entriesFrom,
  ledByN1,
  Network,
  newStorage,
  newTestRaft,
  readMessages,
  type TestConfig,
  text,
} from "./network.ts";

const PEERS = ["n1", "n2", "n3"];

/** A three-node network led by n1, with its no-op committed. */
const cluster = (config: TestConfig = {}) => ledByN1({ config });

const appsTo = (to: string) => (m: Message) => m.type === "app" && m.to === to;
const withEntries = (ms: Message[]) =>
  ms.filter((m) => (m.entries ?? []).length > 0);

function pr(r: Raft, id: string) {
  const p = r.tracker.progress.get(id);
  assert.ok(p, `no progress for ${id}`);
  return p;
}

Deno.test("a follower is probed one message at a time, then replicated to once it answers", () => {
  const net = new Network(PEERS);
  net.hold = (m) => m.type === "appResp" && m.from === "n2";
  net.campaign("n1");
  const r1 = net.raft("n1");
  assert.equal(r1.status().progress.n2.state, "probe");
  assert.equal(r1.status().progress.n3.state, "replicate");

  net.clearTrace();
  for (const v of ["a", "b", "c"]) net.propose("n1", v);
  assert.equal(net.sent(appsTo("n2")).length, 0, "the probe is outstanding");
  assert.equal(
    withEntries(net.sent(appsTo("n3"))).length,
    3,
    "n3 gets every proposal",
  );

  net.hold = undefined;
  net.release();
  assert.equal(r1.status().progress.n2.state, "replicate");
  assert.equal(r1.status().progress.n2.match, 4);
  // Once the probe is answered the rest goes out in one message.
  assert.deepEqual(
    net.sent(appsTo("n2")).map((m) => m.entries!.map((e) => text(e.data))),
    [["a", "b", "c"]],
  );
  assert.deepEqual(net.log("n2"), net.log("n1"));
});

Deno.test("a rejection in replicate state sends the follower back to probing", () => {
  const r = newTestRaft("n1", PEERS, CLASSIC);
  electLeader(r);
  ackAll(r, PEERS);
  r.propose(data("a"));
  r.propose(data("b"));
  drain(r);
  assert.equal(pr(r, "n2").state, "replicate");
  assert.equal(pr(r, "n2").next, 4);
  // n2 lost its log tail (say, a disk that lied) and rejects index 3.
  r.step({
    type: "appResp",
    from: "n2",
    to: "n1",
    term: 1,
    index: 3,
    reject: true,
    rejectHint: 1,
    logTerm: 1,
  });
  assert.equal(pr(r, "n2").state, "probe");
  const msgs = readMessages(r).filter((m) => m.to === "n2");
  assert.deepEqual(msgs.map((m) => [m.type, m.index, m.entries!.length]), [
    ["app", 1, 2],
  ]);
  // A stale rejection (at or below the match) is ignored.
  r.step({
    type: "appResp",
    from: "n3",
    to: "n1",
    term: 1,
    index: 1,
    reject: true,
    rejectHint: 0,
  });
  assert.equal(pr(r, "n3").state, "replicate");
});

Deno.test("a follower reported unreachable is probed again", () => {
  const r = newTestRaft("n1", PEERS, CLASSIC);
  electLeader(r);
  ackAll(r, PEERS);
  assert.equal(pr(r, "n2").state, "replicate");
  r.reportUnreachable("n2");
  assert.equal(pr(r, "n2").state, "probe");
  assert.equal(pr(r, "n3").state, "replicate");
});

Deno.test("the inflight window caps the AppendEntries in flight by count and resumes on acks", () => {
  const net = cluster({ maxInflight: 2 });
  net.hold = appsTo("n2");
  for (let i = 0; i < 5; i++) net.propose("n1", `e${i}`);
  const r1 = net.raft("n1");
  assert.equal(
    withEntries(net.held).length,
    2,
    "two messages, then the window is full",
  );
  assert.equal(pr(r1, "n2").inflights.count(), 2);
  assert.ok(pr(r1, "n2").inflights.full());
  assert.equal(
    withEntries(net.sent(appsTo("n3"))).length,
    5,
    "n3's window is separate",
  );
  assert.equal(r1.log.committed, 6, "commits go on with n3");

  net.hold = undefined;
  net.release();
  assert.deepEqual(net.log("n2"), net.log("n1"));
  assert.equal(pr(r1, "n2").match, 6);
  assert.equal(pr(r1, "n2").inflights.count(), 0);
  // The three entries that waited went out in one message once acks came.
  assert.deepEqual(
    withEntries(net.sent(appsTo("n2"))).map((m) =>
      m.entries!.map((e) => e.index)
    ),
    [[2], [3], [4, 5, 6]],
  );
});

Deno.test("the inflight window caps the bytes in flight", () => {
  // Each entry weighs 100 + 24 bytes: the second send reaches 248 >= 200.
  const net = cluster({ maxInflightBytes: 200 });
  net.hold = appsTo("n2");
  const payload = "x".repeat(100);
  for (let i = 0; i < 5; i++) net.propose("n1", payload);
  const r1 = net.raft("n1");
  assert.equal(withEntries(net.held).length, 2);
  assert.equal(pr(r1, "n2").inflights.bytes(), 248);
  assert.ok(pr(r1, "n2").inflights.full());

  net.hold = undefined;
  net.release();
  assert.deepEqual(net.log("n2"), net.log("n1"));
  assert.equal(pr(r1, "n2").inflights.bytes(), 0);
});

Deno.test("AppendEntries are batched up to maxSizePerMsg bytes", () => {
  const net = cluster({ maxSizePerMsg: 300 });
  net.isolate("n3");
  const payload = "y".repeat(100); // 124 bytes each: two fit in 300
  for (let i = 0; i < 10; i++) net.propose("n1", payload);
  net.heal();
  net.clearTrace();
  net.tick("n1", 5); // a heartbeat reveals n3 is behind
  assert.deepEqual(net.log("n3"), net.log("n1"));
  const batches = withEntries(net.sent(appsTo("n3")));
  for (const m of batches) {
    assert.ok(m.entries!.length <= 2, `${m.entries!.length} entries`);
    assert.ok(entriesSize(m.entries!) <= 300);
  }
  assert.equal(batches.reduce((n, m) => n + m.entries!.length, 0), 10);
  assert.equal(batches.length, 5, "full batches, not one entry per message");
});

Deno.test("an entry larger than maxSizePerMsg is still sent, alone", () => {
  const net = cluster({ maxSizePerMsg: 10 });
  net.isolate("n3");
  net.propose("n1", "z".repeat(50), "z".repeat(50));
  net.heal();
  net.clearTrace();
  net.tick("n1", 5);
  assert.deepEqual(net.log("n3"), net.log("n1"));
  const batches = withEntries(net.sent(appsTo("n3")));
  assert.deepEqual(batches.map((m) => m.entries!.length), [1, 1]);
});

/** Runs an election of n1 over the given logs and counts n2's rejections. */
function repair(leaderTerms: number[], followerTerms: number[]) {
  const term = Math.max(...leaderTerms, ...followerTerms);
  const net = new Network(PEERS, {
    config: CLASSIC,
    storages: {
      n1: newStorage({
        voters: PEERS,
        entries: entriesFrom(1, ...leaderTerms),
        hardState: { term, commit: 5 },
      }),
      n2: newStorage({
        voters: PEERS,
        entries: entriesFrom(1, ...followerTerms),
        hardState: { term, commit: 5 },
      }),
      n3: newStorage({
        voters: PEERS,
        entries: entriesFrom(1, ...leaderTerms),
        hardState: { term, commit: 5 },
      }),
    },
  });
  net.campaign("n1");
  assert.equal(net.leader(), "n1");
  assert.deepEqual(net.log("n2"), net.log("n1"), "the follower was repaired");
  return net.sent((m) => m.type === "appResp" && m.from === "n2" && !!m.reject)
    .length;
}

const ones = (n: number, t: number) => Array<number>(n).fill(t);

Deno.test("fast backtracking: a long divergent tail of an older term costs one round trip", () => {
  // Leader: 5 entries of term 1, then 50 of term 3. Follower: the same 5,
  // then 200 of term 2 that never committed. Decrementing one index per
  // rejection would take 50 round trips.
  const rejections = repair(
    [...ones(5, 1), ...ones(50, 3)],
    [...ones(5, 1), ...ones(200, 2)],
  );
  assert.ok(rejections <= 2, `${rejections} rejections`);
});

Deno.test("fast backtracking: the leader skips whole terms of its own log", () => {
  // The leader's suffix spans many terms; the follower's hint (term 2)
  // lets the leader jump straight below all of them.
  const leader = [...ones(5, 1)];
  for (let t = 3; t < 28; t++) leader.push(t, t);
  const rejections = repair(leader, [...ones(5, 1), ...ones(100, 2)]);
  assert.ok(rejections <= 2, `${rejections} rejections`);
});

Deno.test("fast backtracking: a follower far behind is caught up after one rejection", () => {
  const rejections = repair(ones(300, 1), ones(5, 1));
  assert.equal(rejections, 1);
});

Deno.test("a lost AppendEntries is recovered by the next heartbeat", () => {
  const net = cluster();
  net.filter = (m) =>
    !(appsTo("n3")(m) && m.entries!.some((e) => text(e.data) === "lost"));
  net.propose("n1", "lost");
  assert.equal(net.raft("n1").log.committed, 2, "committed with n2");
  assert.deepEqual(net.appliedData("n3"), []);
  net.heal();
  // Nothing else is proposed; the heartbeat response shows n3 is behind.
  net.tick("n1", 5);
  assert.deepEqual(net.log("n3"), net.log("n1"));
  assert.deepEqual(net.appliedData("n3"), ["lost"]);
});

Deno.test("a full window of lost messages is reopened by a heartbeat response", () => {
  const net = cluster({ maxInflight: 1 });
  net.filter = (m) => !appsTo("n3")(m);
  net.propose("n1", "a");
  net.heal();
  net.propose("n1", "b"); // the window to n3 is full: nothing is sent
  const r1 = net.raft("n1");
  assert.ok(pr(r1, "n3").inflights.full());
  assert.equal(net.sent(appsTo("n3")).length, 0);
  net.tick("n1", 5);
  assert.deepEqual(net.log("n3"), net.log("n1"));
  assert.deepEqual(net.appliedData("n3"), ["a", "b"]);
});

Deno.test("a lost probe is retried after a heartbeat response", () => {
  const net = new Network(PEERS);
  let dropped = 0;
  net.filter = (m) => !(appsTo("n2")(m) && dropped++ === 0);
  net.campaign("n1");
  const r1 = net.raft("n1");
  assert.equal(pr(r1, "n2").state, "probe");
  assert.ok(pr(r1, "n2").isPaused());
  net.propose("n1", "x");
  assert.equal(net.log("n2").length, 0, "paused: nothing more was sent");
  net.tick("n1", 5);
  assert.equal(pr(r1, "n2").state, "replicate");
  assert.deepEqual(net.log("n2"), net.log("n1"));
});
