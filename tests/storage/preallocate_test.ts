/**
 * WAL segments zero-filled ahead of their records (`segment.ts`): records
 * are written over the zeros, a finished segment gives them back, and a
 * full disk while filling costs nothing but the filling.
 */

import assert from "node:assert/strict";
import { DiskStorage } from "../../src/storage/disk_storage.ts";
import { denoFs, type FileSystem, join } from "../../src/storage/fs.ts";
import { MemoryStorage } from "../../src/storage/memory.ts";
import { PREALLOCATE_BYTES } from "../../src/storage/wal/segment.ts";
import {
  assertRecovers,
  lastRecord,
  makeEntries,
  saveBoth,
  silentLog,
  withTempDir,
} from "./helpers.ts";

const conf = { voters: ["n1", "n2", "n3"], learners: [] };

async function segmentFiles(dir: string): Promise<Uint8Array[]> {
  const walDir = join(dir, "wal");
  const names = [...Deno.readDirSync(walDir)].map((e) => e.name)
    .filter((n) => n.endsWith(".wal")).sort();
  return await Promise.all(names.map((n) => Deno.readFile(join(walDir, n))));
}

function updates(from: number, n: number, size = 16) {
  return Array.from({ length: n }, (_, i) => ({
    entries: makeEntries(from + i, 1, 1, size),
    hardState: { term: 1, vote: "n1", commit: from + i - 1 },
  }));
}

Deno.test("a segment is zero-filled ahead of its records, which are written over the zeros", async () => {
  await withTempDir(async (dir) => {
    const model = new MemoryStorage({ conf });
    let s = await DiskStorage.open(dir, { conf, log: silentLog });
    await saveBoth(s, model, updates(1, 1));
    await s.close(); // waits for the filling the first record started
    const [first] = await segmentFiles(dir);
    const end1 = lastRecord(first).end;
    assert.equal(first.byteLength, end1 + PREALLOCATE_BYTES);
    assert.ok(first.subarray(end1).every((b) => b === 0));

    s = await DiskStorage.open(dir, { log: silentLog });
    await saveBoth(s, model, updates(2, 20));
    await s.close();
    const [again] = await segmentFiles(dir);
    // Twenty more records, and the file is no longer: they took zeros.
    assert.equal(again.byteLength, first.byteLength);
    assert.ok(lastRecord(again).end > end1);
    await assertRecovers(dir, model);
  });
});

Deno.test("a finished segment gives its zeros back; the tail keeps them", async () => {
  await withTempDir(async (dir) => {
    const model = new MemoryStorage({ conf });
    const s = await DiskStorage.open(dir, {
      conf,
      log: silentLog,
      segmentSize: 2048,
    });
    await saveBoth(s, model, updates(1, 40, 100));
    await s.close();
    const files = await segmentFiles(dir);
    assert.ok(files.length >= 3, `${files.length} segments`);
    for (const f of files.slice(0, -1)) {
      assert.equal(f.byteLength, lastRecord(f).end);
    }
    const tail = files.at(-1)!;
    assert.ok(tail.byteLength > lastRecord(tail).end, "the tail has zeros");
    await assertRecovers(dir, model);
  });
});

Deno.test("a full disk while filling ahead leaves appends working", async () => {
  await withTempDir(async (dir) => {
    let refused = 0;
    // Writes of zeros alone (the filling) find the disk full.
    const fs: FileSystem = {
      ...denoFs,
      async open(path, options) {
        const f = await denoFs.open(path, options);
        return {
          write: (d) => {
            if (d.byteLength > 0 && d.every((b) => b === 0)) {
              refused++;
              return Promise.reject(
                Object.assign(new Error("No space left on device"), {
                  code: "ENOSPC",
                }),
              );
            }
            return f.write(d);
          },
          syncData: () => f.syncData(),
          sync: () => f.sync(),
          truncate: (n) => f.truncate(n),
          seek: (offset, whence) => f.seek(offset, whence),
          close: () => f.close(),
        };
      },
    };
    const model = new MemoryStorage({ conf });
    const s = await DiskStorage.open(dir, { conf, fs, log: silentLog });
    await saveBoth(s, model, updates(1, 10));
    assert.equal(s.noSpace, false, "the store never saw the full disk");
    await s.close();
    // Tried once: the next try waits for half a chunk of records.
    assert.equal(refused, 1);
    const [file] = await segmentFiles(dir);
    assert.equal(file.byteLength, lastRecord(file).end, "no zeros left");
    await assertRecovers(dir, model);
  });
});
