/**
 * Blocking WAL writes (`DiskStorage.preferBlockingWrites`): a follower's
 * record is written and synced on the calling thread, what it saved is as
 * durable as through the thread pool, and the store falls back to the pool
 * for big records, handles that cannot block, a full disk and a slow disk.
 */

import assert from "node:assert/strict";
import {
  DiskStorage,
  type DiskStorageOptions,
  SLOW_BLOCKING_WRITE_MS,
} from "../../src/storage/disk_storage.ts";
import { denoFs, type FileSystem } from "../../src/storage/fs.ts";
import { MemoryStorage } from "../../src/storage/memory.ts";
import { MAX_BLOCKING_BYTES } from "../../src/storage/wal/wal.ts";
import { isAllZero } from "../../src/storage/wal/segment.ts";
import {
  assertRecovers,
  captureLog,
  makeEntries,
  noSyncFs,
  saveBoth,
  silentLog,
  withTempDir,
} from "./helpers.ts";

const conf = { voters: ["n1", "n2", "n3"], learners: [] };

/**
 * The real file system, counting how each WAL segment is written and
 * synced; the zero-filling ahead of the records (a handle that writes only
 * zeros) is counted apart, in `fills`. `slowSyncMs` makes blocking syncs
 * busy-wait that long; `fullOnce` makes the next blocking write fail with
 * ENOSPC.
 */
function countingFs() {
  const t = {
    calls: { write: 0, writeSync: 0, syncData: 0, syncDataSync: 0 },
    fills: 0,
    slowSyncMs: 0,
    fullOnce: false,
    fs: { ...denoFs } as FileSystem,
  };
  t.fs.open = async (path, options) => {
    const f = await denoFs.open(path, options) as Deno.FsFile;
    const wal = path.endsWith(".wal");
    let zerosOnly: boolean | undefined;
    const count = (k: keyof typeof t.calls) => {
      if (!wal) return;
      if (zerosOnly) t.fills++;
      else t.calls[k]++;
    };
    return {
      write: (d) => {
        zerosOnly = (zerosOnly ?? true) && isAllZero(d);
        count("write");
        return f.write(d);
      },
      writeSync: (d) => {
        zerosOnly = false;
        count("writeSync");
        if (wal && t.fullOnce) {
          t.fullOnce = false;
          throw Object.assign(
            new Error("No space left on device (os error 28)"),
            { code: "ENOSPC" },
          );
        }
        return f.writeSync(d);
      },
      syncData: () => (count("syncData"), f.syncData()),
      syncDataSync: () => {
        count("syncDataSync");
        // Busy: the calling thread is what a blocking sync holds.
        const end = performance.now() + t.slowSyncMs;
        while (performance.now() < end) { /* a slow disk */ }
        f.syncDataSync();
      },
      sync: () => f.sync(),
      truncate: (n) => f.truncate(n),
      seek: (offset, whence) => f.seek(offset, whence),
      close: () => f.close(),
    };
  };
  return t;
}

/**
 * A store in `dir` on a counting file system, asked to block, with a
 * capturing log and an empty model to save alongside.
 */
async function openBlocking(
  dir: string,
  options: Partial<DiskStorageOptions> = {},
) {
  const fs = countingFs();
  const { log, events } = captureLog();
  const s = await DiskStorage.open(dir, { conf, fs: fs.fs, log, ...options });
  s.preferBlockingWrites(true);
  return { fs, s, events, model: new MemoryStorage({ conf }) };
}

function updates(from: number, n: number) {
  return Array.from({ length: n }, (_, i) => ({
    entries: makeEntries(from + i, 1, 1),
    hardState: { term: 1, vote: "n1", commit: from + i - 1 },
  }));
}

Deno.test("a store that may block writes and syncs on the calling thread; the data survives a reopen", async () => {
  await withTempDir(async (dir) => {
    const { fs, s, model } = await openBlocking(dir);
    await saveBoth(s, model, updates(1, 5));
    assert.equal(s.stats.blockingWrites, 5);
    assert.deepEqual(
      { write: fs.calls.write, syncData: fs.calls.syncData },
      { write: 0, syncData: 0 },
    );
    assert.equal(fs.calls.syncDataSync, 5);
    await s.close();
    await assertRecovers(dir, model);
  });
});

Deno.test("without the preference (a leader), writes go through the thread pool", async () => {
  await withTempDir(async (dir) => {
    const { fs, s, model } = await openBlocking(dir);
    s.preferBlockingWrites(false);
    await saveBoth(s, model, updates(1, 3));
    assert.equal(s.stats.blockingWrites, 0);
    assert.equal(fs.calls.writeSync + fs.calls.syncDataSync, 0);
    assert.equal(fs.calls.syncData, 3);
    await s.close();
    await assertRecovers(dir, model);
  });
});

Deno.test("a record over the blocking limit, or a handle that cannot block, goes through the pool", async () => {
  await withTempDir(async (dir) => {
    const { fs, s } = await openBlocking(dir);
    const big = makeEntries(1, 1, 1);
    big[0].data = new Uint8Array(MAX_BLOCKING_BYTES + 1).fill(7);
    await s.save({ entries: big });
    assert.equal(s.stats.blockingWrites, 0);
    assert.equal(fs.calls.syncData, 1);
    await s.save({ entries: makeEntries(2, 1, 1) });
    assert.equal(s.stats.blockingWrites, 1);
    await s.close();
  });
  await withTempDir(async (dir) => {
    // noSyncFs's handles have no writeSync.
    const s = await DiskStorage.open(dir, {
      conf,
      fs: noSyncFs,
      log: silentLog,
    });
    s.preferBlockingWrites(true);
    await s.save({ entries: makeEntries(1, 2, 1) });
    assert.equal(s.stats.blockingWrites, 0);
    assert.equal(s.lastIndex(), 2);
    await s.close();
  });
});

Deno.test("a full disk during a blocking write is undone and retried like any other", async () => {
  await withTempDir(async (dir) => {
    const { fs, s, events, model } = await openBlocking(dir, {
      noSpaceRetryMs: 5,
    });
    await saveBoth(s, model, updates(1, 2));
    fs.fullOnce = true;
    await saveBoth(s, model, updates(3, 2));
    assert.ok(events.some((e) => e.event === "storage.no_space"));
    // The refused write was cut off and written again, still blocking.
    assert.equal(fs.calls.writeSync, 5);
    assert.equal(s.stats.blockingWrites, 4);
    await s.close();
    await assertRecovers(dir, model);
  });
});

Deno.test("a slow blocking write sends the next writes to the thread pool, with a warning", async () => {
  await withTempDir(async (dir) => {
    const { fs, s, events, model } = await openBlocking(dir);
    fs.slowSyncMs = SLOW_BLOCKING_WRITE_MS + 5;
    await saveBoth(s, model, updates(1, 1));
    fs.slowSyncMs = 0;
    assert.equal(s.stats.blockingWrites, 1);
    const warned = events.find((e) =>
      e.event === "storage.slow_blocking_write"
    );
    assert.ok(warned, "a warning names the slow write");
    assert.match(String(warned.fields.hint), /thread pool/);
    await saveBoth(s, model, updates(2, 3));
    assert.equal(s.stats.blockingWrites, 1, "later writes use the pool");
    assert.equal(fs.calls.syncData, 3);
    await s.close();
    await assertRecovers(dir, model);
  });
});
