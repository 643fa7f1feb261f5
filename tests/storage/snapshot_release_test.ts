import assert from "node:assert/strict";
import { SnapshotTemporarilyUnavailableError } from "../../src/raft/storage.ts";
import { DiskStorage } from "../../src/storage/disk_storage.ts";
import { makeEntries, silentLog, withTempDir } from "./helpers.ts";

const conf = { voters: ["n1"], learners: [] };

// Reads the snapshot the way the core does: retry while it is being read
// back (10 s: a loaded machine's disk may be slow; it only ends a hang).
async function readSnapshot(s: DiskStorage) {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    try {
      return s.snapshot();
    } catch (e) {
      assert.ok(e instanceof SnapshotTemporarilyUnavailableError);
      await new Promise((r) => setTimeout(r, 5));
    }
  }
  throw new Error("the snapshot never came back");
}

Deno.test("released snapshot bytes are dropped once durable and read back from the file on demand", async () => {
  await withTempDir(async (dir) => {
    const s = await DiskStorage.open(dir, { conf, log: silentLog });
    await s.save({
      entries: makeEntries(1, 10, 1),
      hardState: { term: 1, vote: "n1", commit: 10 },
    });
    const data = new Uint8Array(100_000).map((_, i) => i % 251);
    const pending = s.createSnapshot(8, conf, data);
    // Not durable yet: the bytes stay until the file is written.
    s.releaseSnapshotData();
    assert.equal(s.snapshot().data, data);
    await pending;
    await new Promise((r) => setTimeout(r, 0));
    assert.equal(s.snapshotDataInMemory, false);
    assert.throws(() => s.snapshot(), SnapshotTemporarilyUnavailableError);
    const back = await readSnapshot(s);
    assert.equal(s.snapshotDataInMemory, true);
    assert.deepEqual(back.metadata, { index: 8, term: 1, conf });
    assert.deepEqual(back.data, data);
    // Further reads answer at once until the host releases again.
    assert.equal(s.snapshot(), back);
    s.releaseSnapshotData();
    await new Promise((r) => setTimeout(r, 0));
    assert.equal(s.snapshotDataInMemory, false);
    await readSnapshot(s);
    await s.close();
  });
});

Deno.test("after a reopen the snapshot is in memory until released", async () => {
  await withTempDir(async (dir) => {
    const s = await DiskStorage.open(dir, { conf, log: silentLog });
    await s.save({
      entries: makeEntries(1, 5, 1),
      hardState: { term: 1, vote: "n1", commit: 5 },
    });
    const data = Uint8Array.of(1, 2, 3);
    await s.createSnapshot(5, conf, data);
    await s.close();
    const r = await DiskStorage.open(dir, { log: silentLog });
    assert.deepEqual(r.snapshot().data, data);
    r.releaseSnapshotData();
    assert.equal(r.snapshotDataInMemory, false);
    assert.deepEqual((await readSnapshot(r)).data, data);
    // A newer snapshot replaces the released one; its bytes are in memory.
    await r.save({ entries: makeEntries(6, 7, 1) });
    const newer = Uint8Array.of(9);
    await r.createSnapshot(7, conf, newer);
    assert.equal(r.snapshot().data, newer);
    await r.close();
  });
});
