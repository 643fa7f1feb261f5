/**
 * Injected I/O failures: any failed write, sync, rename or remove stops the
 * store for good with a StorageFatalError; nothing is retried.
 */

import assert from "node:assert/strict";
import { DiskStorage } from "../../src/storage/disk_storage.ts";
import { StorageFatalError } from "../../src/storage/errors.ts";
import { MemoryStorage } from "../../src/storage/memory.ts";
import {
  assertRecovers,
  assertSameStore,
  captureLog,
  type FaultOp,
  FaultyFs,
  makeEntries,
  reopened,
  withTempDir,
} from "./helpers.ts";

const conf = { voters: ["n1"], learners: [] };

async function expectStopped(
  s: DiskStorage,
  fs: FaultyFs,
  failed: Promise<unknown>,
  fatalCalls: StorageFatalError[],
): Promise<StorageFatalError> {
  const err = await failed.then(() => undefined, (e) => e);
  assert.ok(
    err instanceof StorageFatalError,
    `expected StorageFatalError, got ${err}`,
  );
  assert.match(err.message, /the node must stop/);
  assert.match(err.message, /Injected/);
  assert.equal(s.fatalError, err);
  assert.deepEqual(fatalCalls, [err]);
  const counts = { ...fs.counts };
  // Every later call fails with the same error and touches no file.
  await assert.rejects(
    s.save({ entries: [], hardState: { term: 9, vote: "", commit: 0 } }),
    (e) => e === err,
  );
  await assert.rejects(
    s.createSnapshot(1, conf, new Uint8Array()),
    (e) => e === err,
  );
  await assert.rejects(s.flush(), (e) => e === err);
  assert.throws(() => s.lastIndex(), (e) => e === err);
  assert.throws(() => s.entries(1, 2, 100), (e) => e === err);
  assert.deepEqual(fs.counts, counts, "no I/O after the failure");
  await s.close();
  return err;
}

async function setup(dir: string, fs: FaultyFs, segmentSize?: number) {
  const fatalCalls: StorageFatalError[] = [];
  const { log, events } = captureLog();
  const s = await DiskStorage.open(dir, {
    conf,
    fs,
    log,
    segmentSize,
    onFatal: (e) => fatalCalls.push(e),
  });
  const model = new MemoryStorage({ conf });
  const u = {
    entries: makeEntries(1, 3, 1),
    hardState: { term: 1, vote: "n1", commit: 1 },
  };
  await s.save(u);
  model.save(u);
  return { s, model, fatalCalls, events };
}

Deno.test("a failed syncData stops the store, and queued saves fail with it", async () => {
  await withTempDir(async (dir) => {
    const fs = new FaultyFs();
    const { s, model, fatalCalls, events } = await setup(dir, fs);
    fs.failNext("syncData");
    const first = s.save({ entries: makeEntries(4, 1, 1) });
    const queued = s.save({ entries: makeEntries(5, 1, 1) });
    await expectStopped(s, fs, first, fatalCalls);
    await assert.rejects(queued, StorageFatalError);
    assert.ok(events.some((e) => e.event === "storage.fatal"));
    // The written-but-unsynced record may or may not be there after a
    // restart; it is whole if it is.
    await reopened(dir, (r) => {
      assert.ok(r.lastIndex() === 3 || r.lastIndex() === 4);
      if (r.lastIndex() === 3) assertSameStore(r, model);
    });
  });
});

Deno.test("a failed write stops the store and the torn record is cut on restart", async () => {
  await withTempDir(async (dir) => {
    const fs = new FaultyFs();
    const { s, model, fatalCalls } = await setup(dir, fs);
    fs.failNext("write");
    const syncs = fs.counts.syncData;
    await expectStopped(
      s,
      fs,
      s.save({ entries: makeEntries(4, 10, 1, 100) }),
      fatalCalls,
    );
    assert.equal(fs.counts.syncData, syncs, "no sync after a failed write");
    const { log, events } = captureLog();
    const r = await DiskStorage.open(dir, { log });
    assertSameStore(r, model);
    assert.ok(events.some((e) => e.event === "wal.torn_tail_cut"));
    await r.close();
  });
});

for (
  const [op, path] of [
    ["rename", /\.wal$/],
    ["syncDir", /wal$/],
    ["sync", /\.wal\.tmp$/],
  ] as [FaultOp, RegExp][]
) {
  Deno.test(`a failed ${op} while rolling a segment stops the store`, async () => {
    await withTempDir(async (dir) => {
      const fs = new FaultyFs();
      const { s, model, fatalCalls } = await setup(dir, fs, 300);
      fs.failNext(op, { path });
      await expectStopped(
        s,
        fs,
        s.save({ entries: makeEntries(4, 10, 1, 30) }),
        fatalCalls,
      );
      await assertRecovers(dir, model);
    });
  });
}

Deno.test("a failed snapshot file write stops the store", async () => {
  await withTempDir(async (dir) => {
    const fs = new FaultyFs();
    const { s, model, fatalCalls } = await setup(dir, fs);
    fs.failNext("sync", { path: /\.snap\.tmp$/ });
    await expectStopped(
      s,
      fs,
      s.createSnapshot(2, conf, new Uint8Array([1])),
      fatalCalls,
    );
    await assertRecovers(dir, model);
  });
});

Deno.test("a failed removal of an old segment stops the store", async () => {
  await withTempDir(async (dir) => {
    const fs = new FaultyFs();
    const { s, model, fatalCalls } = await setup(dir, fs, 300);
    for (let i = 4; i < 40; i += 4) {
      const u = { entries: makeEntries(i, 4, 1, 30) };
      await s.save(u);
      model.save(u);
    }
    assert.ok(s.segments.length > 2);
    fs.failNext("remove", { path: /\.wal$/ });
    const data = new Uint8Array([7]);
    await expectStopped(s, fs, s.createSnapshot(30, conf, data), fatalCalls);
    // The snapshot marker was durable before the removal failed.
    model.createSnapshot(30, conf, data);
    await assertRecovers(dir, model);
  });
});
