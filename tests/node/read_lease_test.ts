/**
 * Leader lease reads (RaftNode.read on the leader): after a heartbeat round
 * a quorum acknowledged, reads need no round of their own until the lease
 * (70 % of the minimum election timeout: 700 ms with the 100-tick timeout
 * used for it here, so a busy machine cannot stall past it) runs out; an
 * isolated leader's reads then fail. With the lease off, every read needs a
 * round.
 */

import assert from "node:assert/strict";
import { TimeoutError } from "../../src/node/errors.ts";
import { cmd, TestCluster } from "./helpers.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The read was not confirmed: it timed out or the node gave up leading. */
function assertUnconfirmed(read: Promise<number>): Promise<void> {
  return assert.rejects(
    read,
    (e) =>
      e instanceof TimeoutError || (e as Error).name.includes("Unavailable"),
  );
}

Deno.test("read lease: a just-confirmed leader answers reads while cut off, until the lease runs out", async () => {
  // A 700 ms lease: the read after the cut must come within it, which a
  // 350 ms one (50 ticks) left a loaded machine little room for.
  const c = new TestCluster(3, { electionTicks: 100 });
  try {
    const leader = await c.leader(15_000);
    await leader.propose(cmd("set x=1"));
    await leader.read(); // a round: confirms leadership, starts the lease
    c.hub.network.isolate(leader.id);
    // Cut off, it cannot complete a round: this read is the lease's.
    const idx = await leader.read({ timeoutMs: 300 });
    assert.ok(idx >= 2, `read index ${idx}`);
    assert.equal(c.machines.get(leader.id)!.kv.get("x"), "1");
    // Past the lease a read needs a round, which the isolated leader
    // cannot complete (sleeping longer than the lease is safe however slow
    // the machine).
    await sleep(750);
    await assertUnconfirmed(leader.read({ timeoutMs: 300 }));
  } finally {
    c.hub.network.heal();
    await c.close();
  }
});

Deno.test("read lease: with the lease off, a cut-off leader cannot answer a read", async () => {
  const c = new TestCluster(3, { readLease: false, electionTicks: 50 });
  try {
    const leader = await c.leader();
    await leader.propose(cmd("set x=1"));
    await leader.read();
    c.hub.network.isolate(leader.id);
    await assertUnconfirmed(leader.read({ timeoutMs: 300 }));
  } finally {
    c.hub.network.heal();
    await c.close();
  }
});

Deno.test("read lease: a transfer ends the lease at once", async () => {
  const c = new TestCluster(3, { electionTicks: 50 });
  try {
    const leader = await c.leader();
    await leader.propose(cmd("set x=1"));
    await leader.read();
    const other = [...c.nodes.values()].find((n) => n !== leader)!;
    // Cut the leader off first so the transfer cannot finish; it stays
    // pending, and reads must not lean on the lease meanwhile.
    c.hub.network.isolate(leader.id);
    leader.transferLeadership(other.id);
    await assertUnconfirmed(leader.read({ timeoutMs: 300 }));
  } finally {
    c.hub.network.heal();
    await c.close();
  }
});

Deno.test("read lease: steady reads on the leader see every acknowledged write", async () => {
  const c = new TestCluster(3);
  try {
    const leader = await c.leader();
    for (let i = 0; i < 50; i++) {
      await leader.propose(cmd(`set k=${i}`));
      const idx = await leader.read();
      assert.ok(leader.applied >= idx);
      assert.equal(c.machines.get(leader.id)!.kv.get("k"), String(i));
    }
  } finally {
    await c.close();
  }
});

Deno.test("read lease: a leader answers lease reads while its own write is still in progress", async () => {
  // The lease read needs no trip through the Ready loop, so a slow disk
  // write does not hold it. The followers' answers are held back for a
  // moment, so the write is not committed and the read index stays below
  // it (were it committed, the read would wait to apply it).
  const c = new TestCluster(3, { electionTicks: 100 });
  try {
    const leader = await c.leader(15_000);
    const done = await leader.propose(cmd("set x=1"));
    await leader.read(); // starts the lease
    const writes = c.holdWrites(leader.id);
    const followers = [...c.nodes.keys()].filter((id) => id !== leader.id);
    for (const f of followers) c.hub.network.cut(f, leader.id);
    const write = leader.propose(cmd("set y=2"));
    while (!writes.stuck) await sleep(5);
    const idx = await leader.read({ timeoutMs: 300 });
    assert.equal(writes.stuck, true);
    assert.ok(idx >= done.index, `read index ${idx}`);
    assert.equal(c.machines.get(leader.id)!.kv.get("y"), undefined);
    c.hub.network.heal();
    writes.release();
    const w = await write;
    assert.ok(w.index > idx, "the pending write is after the read point");
  } finally {
    c.hub.network.heal();
    await c.close();
  }
});
