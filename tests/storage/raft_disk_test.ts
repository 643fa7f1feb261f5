/**
 * The Raft core over DiskStorage: a small seeded cluster (three cores, a
 * lossy in-test network, crashes and restarts from the data directory,
 * snapshots) checks that what a node persisted brings it back correctly
 * and that every node applies the same command at every index. This is
 * the file-backed "slow mode" of the simulator in miniature; it uses real
 * files, and one seed uses real syncs.
 */

import assert from "node:assert/strict";
import { ProposalDroppedError } from "../../src/raft/errors.ts";
import { Raft } from "../../src/raft/raft.ts";
import type { Message, NodeId, Ready } from "../../src/raft/types.ts";
import { DiskStorage } from "../../src/storage/disk_storage.ts";
import { denoFs, type FileSystem, join } from "../../src/storage/fs.ts";
import { noSyncFs, silentLog, withTempDir } from "./helpers.ts";

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Node {
  id: NodeId;
  dir: string;
  store?: DiskStorage;
  raft?: Raft;
  applied: number;
  hash: number;
  downUntil: number;
}

function fold(h: number, data: Uint8Array): number {
  for (const b of data) h = Math.imul(h ^ b, 16777619) >>> 0;
  return Math.imul(h ^ 0xff, 16777619) >>> 0;
}

function encodeState(n: Node): Uint8Array {
  return new TextEncoder().encode(
    JSON.stringify({ index: n.applied, hash: n.hash }),
  );
}

async function runCluster(
  root: string,
  seed: number,
  fs: FileSystem,
  ticks: number,
) {
  const random = mulberry32(seed);
  const ids = ["n1", "n2", "n3"];
  const conf = { voters: ids, learners: [] };
  // index -> payload applied there, the same on every node.
  const appliedAt = new Map<number, string>();
  const stats = { committed: 0, crashes: 0, snapshots: 0, restarts: 0 };
  const nodes: Node[] = ids.map((id) => ({
    id,
    dir: join(root, id),
    applied: 0,
    hash: 0,
    downUntil: 0,
  }));
  let inflight: { at: number; m: Message }[] = [];
  let now = 0;
  let seq = 0;

  async function boot(n: Node) {
    n.store = await DiskStorage.open(n.dir, {
      conf,
      fs,
      log: silentLog,
      segmentSize: 4096,
    });
    const snap = n.store.snapshot();
    if (snap.metadata.index > 0) {
      const s = JSON.parse(new TextDecoder().decode(snap.data));
      n.applied = s.index;
      n.hash = s.hash;
    } else {
      n.applied = 0;
      n.hash = 0;
    }
    // A restart loses nothing it persisted: the log reaches the commit.
    const hs = n.store.hardState();
    assert.ok(
      n.store.lastIndex() >= hs.commit,
      `${n.id} lost committed entries`,
    );
    n.raft = new Raft({
      id: n.id,
      storage: n.store,
      applied: n.applied,
      random,
      electionTicks: 10,
      heartbeatTicks: 3,
    });
  }

  async function handle(n: Node, rd: Ready) {
    const store = n.store!;
    await store.save({
      snapshot: rd.snapshot,
      entries: rd.entries,
      hardState: rd.hardState,
    });
    for (const m of rd.messages) {
      if (random() < 0.05) continue;
      inflight.push({ at: now + 1 + Math.floor(random() * 3), m });
    }
    if (rd.snapshot) {
      const s = JSON.parse(new TextDecoder().decode(rd.snapshot.data));
      n.applied = s.index;
      n.hash = s.hash;
    }
    for (const e of rd.committedEntries) {
      assert.equal(e.index, n.applied + 1, `${n.id} applies out of order`);
      const key = new TextDecoder().decode(e.data);
      const seen = appliedAt.get(e.index);
      if (seen === undefined) {
        appliedAt.set(e.index, key);
        stats.committed++;
      } else {
        assert.equal(
          key,
          seen,
          `${n.id} applied a different command at ${e.index}`,
        );
      }
      n.applied = e.index;
      n.hash = fold(n.hash, e.data);
    }
    if (
      n.applied - (store.firstIndex() - 1) >= 25 &&
      n.applied <= store.lastIndex()
    ) {
      await store.createSnapshot(
        n.applied,
        n.raft!.confStateAt(n.applied),
        encodeState(n),
      );
      stats.snapshots++;
    }
  }

  for (const n of nodes) await boot(n);
  for (let t = 0; t < ticks; t++) {
    now = t;
    const due = inflight.filter((x) => x.at <= now);
    inflight = inflight.filter((x) => x.at > now);
    for (const { m } of due) {
      const to = nodes.find((n) => n.id === m.to)!;
      if (to.raft) to.raft.step(m);
    }
    for (const n of nodes) {
      if (!n.raft && now >= n.downUntil) {
        await boot(n);
        stats.restarts++;
      }
      if (!n.raft) continue;
      n.raft.tick();
      if (n.raft.role === "leader" && random() < 0.6) {
        try {
          n.raft.propose(new TextEncoder().encode(`cmd-${++seq}`));
        } catch (e) {
          if (!(e instanceof ProposalDroppedError)) throw e;
        }
      }
      while (n.raft.hasReady()) {
        await handle(n, n.raft.ready());
        n.raft.advance();
      }
      if (random() < 0.01) {
        // Crash: the core and everything unpersisted is gone; the files stay.
        await n.store!.close();
        n.raft = undefined;
        n.store = undefined;
        n.downUntil = now + 5 + Math.floor(random() * 20);
        stats.crashes++;
      }
    }
  }
  for (const n of nodes) await n.store?.close();
  return stats;
}

for (const [seed, real] of [[1, true], [2, false], [3, false]] as const) {
  Deno.test(`Raft over DiskStorage survives crashes, seed ${seed}${real ? " (real syncs)" : ""}`, async () => {
    await withTempDir(async (root) => {
      const stats = await runCluster(root, seed, real ? denoFs : noSyncFs, 600);
      assert.ok(
        stats.committed > 100,
        `only ${stats.committed} entries committed`,
      );
      assert.ok(stats.crashes > 3, `only ${stats.crashes} crashes`);
      assert.ok(stats.snapshots > 3, `only ${stats.snapshots} snapshots`);
    });
  });
}
