/**
 * `forceNewCluster`: a surviving member's store becomes a one-member
 * cluster at a new term, keeping every entry (committed or not), and the
 * node started on it elects itself, applies everything and takes writes.
 */

import assert from "node:assert/strict";
import { forceNewCluster } from "../../src/node/force_new_cluster.ts";
import {
  encodeEnvelope,
  EnvelopeKind,
  newNonce,
} from "../../src/node/envelope.ts";
import { decodeConfChange } from "../../src/raft/confchange.ts";
import { EntryType } from "../../src/raft/types.ts";
import { MemoryStorage } from "../../src/storage/memory.ts";
import { cmd, eventually, TestCluster } from "./helpers.ts";

Deno.test("force-new-cluster: the survivor keeps all its data and runs alone", async () => {
  const c = new TestCluster(3);
  try {
    const leader = await c.leader();
    for (let i = 0; i < 5; i++) await leader.propose(cmd(`set k${i}=${i}`));
    await eventually(
      () => c.nodes.get("n3")!.applied >= leader.applied,
      5000,
      "n3 caught up",
    );
    for (const id of ["n1", "n2", "n3"]) await c.stop(id);

    // An entry the old leader appended on n3 but may not have committed.
    const s = c.storages.get("n3")!;
    const hs = s.initialState().hardState;
    const last = s.lastIndex();
    const tail = {
      term: s.term(last),
      index: last + 1,
      type: EntryType.Normal,
      data: encodeEnvelope(
        EnvelopeKind.Command,
        newNonce(),
        1,
        cmd("set tail=1"),
      ),
    };
    s.append([tail]);

    const forced = await forceNewCluster(s, "n3");
    assert.equal(forced.changed, true);
    assert.deepEqual(forced.before, {
      voters: ["n1", "n2", "n3"],
      learners: [],
    });
    assert.deepEqual(forced.removed, ["n1", "n2"]);
    assert.equal(forced.term, hs.term + 1);
    assert.equal(forced.commit, last + 3);
    assert.deepEqual(s.initialState().hardState, {
      term: hs.term + 1,
      vote: "",
      commit: last + 3,
    });
    const added = s.entries(last + 2, last + 4, Infinity);
    assert.deepEqual(
      added.map((e) => [e.term, e.type, decodeConfChange(e.data)]),
      [
        [hs.term + 1, EntryType.ConfChange, {
          change: { type: "remove", node: "n1" },
          conf: { voters: ["n2", "n3"], learners: [] },
        }],
        [hs.term + 1, EntryType.ConfChange, {
          change: { type: "remove", node: "n2" },
          conf: { voters: ["n3"], learners: [] },
        }],
      ],
    );
    // Again: already alone, nothing to write.
    const again = await forceNewCluster(s, "n3");
    assert.equal(again.changed, false);
    assert.equal(s.lastIndex(), last + 3);

    const n3 = c.start("n3");
    await eventually(() => n3.isLeader, 5000, "n3 leads alone");
    const sm = c.machines.get("n3")!;
    await eventually(() => sm.kv.get("tail") === "1", 5000, "tail applied");
    for (let i = 0; i < 5; i++) assert.equal(sm.kv.get(`k${i}`), String(i));
    assert.deepEqual(
      n3.status().members.map((m) => `${m.id}:${m.role}`),
      ["n3:voter"],
    );
    assert.ok(n3.term > hs.term + 1);
    const r = await n3.propose(cmd("set after=1"));
    assert.ok(r.index > last + 3);
    assert.equal(sm.kv.get("after"), "1");
  } finally {
    await c.close();
  }
});

Deno.test("force-new-cluster: a learner or a stranger becomes the only voter", async () => {
  const learner = new MemoryStorage({
    conf: { voters: ["n1", "n2"], learners: ["n3"] },
  });
  const a = await forceNewCluster(learner, "n3");
  assert.deepEqual(a.removed, ["n1", "n2"]);
  assert.deepEqual(learner.initialState().hardState.commit, 3);
  const confs = learner.entries(1, 4, Infinity).map((e) =>
    decodeConfChange(e.data)
  );
  assert.deepEqual(confs.map((r) => r.change.type), [
    "promote",
    "remove",
    "remove",
  ]);
  assert.deepEqual(confs[2].conf, { voters: ["n3"], learners: [] });

  const stranger = new MemoryStorage({
    conf: { voters: ["n1"], learners: [] },
  });
  await forceNewCluster(stranger, "n9");
  const last = decodeConfChange(stranger.entries(2, 3, Infinity)[0].data);
  assert.deepEqual(last.conf, { voters: ["n9"], learners: [] });
});
