/**
 * Raft core benchmarks (`deno task bench`).
 *
 * - Committed entries per second through a 3-node in-memory cluster, 128-byte
 *   entries: each iteration commits 1 024 entries, so entries/s = iter/s × 1 024.
 *   Target: at least 100 000 entries/s on a 2-core machine.
 * - The cost of one follower `step` for an AppendEntries carrying 64 entries.
 *
 * @module
 */

import { Raft } from "../src/raft/raft.ts";
import { type Entry, EntryType, type Message } from "../src/raft/types.ts";
import { MemoryStorage } from "../src/storage/memory.ts";

const ENTRY = new Uint8Array(128).fill(7);
const voters = ["n1", "n2", "n3"];

/** A minimal synchronous 3-node cluster: no faults, instant delivery. */
class Cluster {
  nodes = new Map<string, { raft: Raft; storage: MemoryStorage }>();
  queue: Message[] = [];

  constructor() {
    for (const id of voters) {
      const storage = new MemoryStorage({ conf: { voters, learners: [] } });
      this.nodes.set(id, { raft: new Raft({ id, storage }), storage });
    }
    this.nodes.get("n1")!.raft.campaign();
    this.pump();
  }

  leader(): Raft {
    return this.nodes.get("n1")!.raft;
  }

  pump(): void {
    for (;;) {
      let busy = false;
      for (const { raft, storage } of this.nodes.values()) {
        while (raft.hasReady()) {
          busy = true;
          const rd = raft.ready();
          storage.save(rd);
          for (const m of rd.messages) this.queue.push(m);
          raft.advance();
        }
      }
      if (this.queue.length > 0) {
        busy = true;
        const q = this.queue;
        this.queue = [];
        for (const m of q) this.nodes.get(m.to)!.raft.step(m);
      }
      if (!busy) return;
    }
  }

  compact(): void {
    for (const { raft, storage } of this.nodes.values()) {
      const applied = raft.log.applied;
      if (applied - storage.firstIndex() > 50_000) {
        storage.createSnapshot(
          applied,
          raft.confStateAt(applied),
          new Uint8Array(),
        );
      }
    }
  }
}

const PER_ITER = 1024;

for (const batch of [1, 64]) {
  const c = new Cluster();
  const leader = c.leader();
  const batchData = Array.from({ length: batch }, () => ENTRY);
  Deno.bench({
    name: `commit ${PER_ITER} × 128 B entries on 3 nodes, ${batch} per propose`,
    group: "commit throughput",
    baseline: batch === 64,
    fn() {
      const target = leader.log.committed + PER_ITER;
      for (let i = 0; i < PER_ITER; i += batch) {
        leader.propose(...batchData);
        // Drive the cluster as a host loop would between proposals, every
        // 64 entries: proposals arriving together share a Ready.
        if ((i + batch) % 64 === 0) c.pump();
      }
      c.pump();
      if (leader.log.committed < target) {
        throw new Error("Entries did not commit");
      }
      c.compact();
    },
  });
}

// One AppendEntries of 64 entries arriving at a follower in replicate state.
{
  const storage = new MemoryStorage({ conf: { voters, learners: [] } });
  const follower = new Raft({ id: "n2", storage });
  const term = 1;
  let last = 0;
  // Become follower of n1 in term 1.
  follower.step({ type: "heartbeat", from: "n1", to: "n2", term, commit: 0 });
  const drain = () => {
    while (follower.hasReady()) {
      const rd = follower.ready();
      storage.save(rd);
      follower.advance();
    }
  };
  drain();
  const make = (): Message => {
    const entries: Entry[] = [];
    for (let i = 1; i <= 64; i++) {
      entries.push({
        term,
        index: last + i,
        type: EntryType.Normal,
        data: ENTRY,
      });
    }
    const m: Message = {
      type: "app",
      from: "n1",
      to: "n2",
      term,
      index: last,
      logTerm: last === 0 ? 0 : term,
      entries,
      commit: last,
    };
    last += 64;
    return m;
  };
  Deno.bench({
    name: "follower step: AppendEntries with 64 entries",
    group: "step",
    fn(b) {
      const m = make();
      b.start();
      follower.step(m);
      b.end();
      drain();
      if (last - storage.firstIndex() > 100_000) {
        storage.createSnapshot(
          last,
          { voters, learners: [] },
          new Uint8Array(),
        );
      }
    },
  });
}
