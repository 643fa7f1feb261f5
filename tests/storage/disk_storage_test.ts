import assert from "node:assert/strict";
import { CompactedError, UnavailableError } from "../../src/raft/storage.ts";
import { DiskStorage } from "../../src/storage/disk_storage.ts";
import { MemoryStorage } from "../../src/storage/memory.ts";
import {
  assertRecovers,
  assertSameStore,
  captureLog,
  FaultyFs,
  makeEntries,
  noSyncFs,
  reopened,
  saveBoth,
  silentLog,
  withTempDir,
} from "./helpers.ts";

const conf = { voters: ["n1", "n2", "n3"], learners: [] };

Deno.test("a new store is empty and records the bootstrap configuration", async () => {
  await withTempDir(async (dir) => {
    const s = await DiskStorage.open(dir, { conf, log: silentLog });
    assertSameStore(s, new MemoryStorage({ conf }));
    await s.close();
    const again = await DiskStorage.open(dir, {
      conf: { voters: ["other"], learners: [] },
      log: silentLog,
    });
    assert.deepEqual(again.initialState().confState, conf);
    await again.close();
  });
});

Deno.test("saved entries and hard state survive a reopen", async () => {
  await withTempDir(async (dir) => {
    const model = new MemoryStorage({ conf });
    const s = await DiskStorage.open(dir, { conf, log: silentLog });
    const updates = [
      {
        entries: makeEntries(1, 3, 1),
        hardState: { term: 1, vote: "n1", commit: 0 },
      },
      { entries: makeEntries(4, 5, 1, 300) },
      { entries: [], hardState: { term: 1, vote: "n1", commit: 6 } },
    ];
    for (const u of updates) {
      await s.save(u);
      model.save(u);
      assertSameStore(s, model);
    }
    await s.close();
    await assertRecovers(dir, model);
  });
});

Deno.test("a conflicting suffix is overwritten durably", async () => {
  await withTempDir(async (dir) => {
    const model = new MemoryStorage({ conf });
    const s = await DiskStorage.open(dir, {
      conf,
      log: silentLog,
      segmentSize: 400,
    });
    const updates = [
      { entries: makeEntries(1, 10, 1) },
      {
        entries: makeEntries(6, 2, 2),
        hardState: { term: 2, vote: "", commit: 5 },
      },
      { entries: makeEntries(8, 1, 3) },
      { entries: makeEntries(3, 1, 4) },
    ];
    await saveBoth(s, model, updates);
    assert.equal(s.lastIndex(), 3);
    assertSameStore(s, model);
    await s.close();
    await assertRecovers(dir, model, (r) => {
      assert.ok(r.segments.length > 1, "the small segment size forces rolls");
    });
  });
});

Deno.test("createSnapshot compacts, removes old segments and keeps two snapshots", async () => {
  await withTempDir(async (dir) => {
    const model = new MemoryStorage({ conf });
    const { log, events } = captureLog();
    const s = await DiskStorage.open(dir, { conf, log, segmentSize: 300 });
    let next = 1;
    for (let round = 1; round <= 4; round++) {
      const u = { entries: makeEntries(next, 12, round, 20) };
      next += 12;
      await s.save(u);
      model.save(u);
      const data = new TextEncoder().encode(`state at ${next - 3}`);
      const snap = await s.createSnapshot(next - 3, conf, data);
      model.createSnapshot(next - 3, conf, data);
      assert.equal(snap.metadata.index, next - 3);
      assertSameStore(s, model);
      assert.throws(() => s.term(next - 5), CompactedError);
    }
    const snaps = [...Deno.readDirSync(`${dir}/snap`)].map((e) => e.name)
      .sort();
    assert.equal(snaps.length, 2, `kept ${snaps}`);
    assert.ok(events.some((e) => e.event === "wal.segments_removed"));
    assert.ok(s.segments.length <= 3, `segments left: ${s.segments}`);
    await s.close();
    await assertRecovers(dir, model);
  });
});

Deno.test("a snapshot from the leader replaces the log", async () => {
  await withTempDir(async (dir) => {
    const model = new MemoryStorage({ conf });
    const s = await DiskStorage.open(dir, { conf, log: silentLog });
    const updates = [
      { entries: makeEntries(1, 5, 1) },
      {
        snapshot: {
          metadata: {
            index: 20,
            term: 3,
            conf: { voters: ["n1"], learners: ["n4"] },
          },
          data: new Uint8Array([9, 9, 9]),
        },
        entries: makeEntries(21, 2, 3),
        hardState: { term: 3, vote: "", commit: 20 },
      },
    ];
    await saveBoth(s, model, updates);
    assertSameStore(s, model);
    await s.close();
    await assertRecovers(dir, model);
  });
});

Deno.test("reads reflect a save before it is durable", async () => {
  await withTempDir(async (dir) => {
    const s = await DiskStorage.open(dir, { conf, log: silentLog });
    const p = s.save({ entries: makeEntries(1, 2, 1) });
    assert.equal(s.lastIndex(), 2);
    await p;
    await s.close();
  });
});

Deno.test("group commit: concurrent saves share syncs and resolve in order", async () => {
  await withTempDir(async (dir) => {
    const fs = new FaultyFs();
    fs.syncDelayMs = 20;
    const s = await DiskStorage.open(dir, { conf, fs, log: silentLog });
    const before = fs.counts.syncData;
    const order: number[] = [];
    const ps = [];
    for (let i = 1; i <= 100; i++) {
      ps.push(
        s.save({ entries: makeEntries(i, 1, 1) }).then(() => order.push(i)),
      );
    }
    await Promise.all(ps);
    const syncs = fs.counts.syncData - before;
    assert.ok(syncs <= 3, `${syncs} syncs for 100 saves`);
    assert.deepEqual(order, Array.from({ length: 100 }, (_, i) => i + 1));
    assert.equal(s.stats.syncs, syncs);
    await s.close();
    await reopened(dir, (r) => assert.equal(r.lastIndex(), 100));
  });
});

Deno.test("an invalid save is rejected and changes nothing", async () => {
  await withTempDir(async (dir) => {
    const s = await DiskStorage.open(dir, { conf, log: silentLog });
    await s.save({ entries: makeEntries(1, 3, 1) });
    await assert.rejects(
      s.save({ entries: makeEntries(5, 1, 1) }),
      /Missing log entry/,
    );
    const skip = [...makeEntries(4, 1, 1), ...makeEntries(6, 1, 1)];
    await assert.rejects(s.save({ entries: skip }), /not consecutive/);
    assert.equal(s.lastIndex(), 3);
    await assert.rejects(
      s.createSnapshot(4, conf, new Uint8Array()),
      UnavailableError,
    );
    await s.save({ entries: makeEntries(4, 1, 1) });
    await s.close();
    await reopened(dir, (r) => assert.equal(r.lastIndex(), 4));
  });
});

Deno.test("a closed store refuses writes", async () => {
  await withTempDir(async (dir) => {
    const s = await DiskStorage.open(dir, {
      conf,
      fs: noSyncFs,
      log: silentLog,
    });
    const p = s.save({ entries: makeEntries(1, 1, 1) });
    await s.close();
    await p;
    await assert.rejects(s.save({ entries: makeEntries(2, 1, 1) }), /closed/);
  });
});

Deno.test("an old snapshot marker after removed segments replays correctly", async () => {
  await withTempDir(async (dir) => {
    // Entries 1-3 fill the first segment, so the snapshot marker at 1 opens
    // segment 2; the snapshot at 3 then removes segment 1. Replay starts at
    // segment 2 knowing nothing below index 4 and must accept the marker at
    // 1 before the one at 3 covers the gap.
    const model = new MemoryStorage({ conf });
    const s = await DiskStorage.open(dir, {
      conf,
      log: silentLog,
      segmentSize: 350,
    });
    const u = { entries: makeEntries(1, 3, 1, 40) };
    await s.save(u);
    model.save(u);
    assert.equal(s.segments.length, 1);
    for (const i of [1, 3]) {
      const data = new Uint8Array([i]);
      await s.createSnapshot(i, conf, data);
      model.createSnapshot(i, conf, data);
      assert.equal(s.segments.length, i === 1 ? 2 : 1);
    }
    assert.match(s.segments[0], /^0000000000000002-0000000000000004\.wal$/);
    await s.close();
    await assertRecovers(dir, model);
  });
});
