/**
 * Damage recovery must or must not repair: each case gives the documented
 * outcome (see src/storage/wal/recovery.ts and src/storage/data_dir.ts).
 */

import assert from "node:assert/strict";
import { DiskStorage } from "../../src/storage/disk_storage.ts";
import { CorruptionError, DataDirError } from "../../src/storage/errors.ts";
import { join } from "../../src/storage/fs.ts";
import { MemoryStorage } from "../../src/storage/memory.ts";
import type { PersistUpdate } from "../../src/storage/types.ts";
import { readFrame } from "../../src/storage/wal/record.ts";
import {
  parseSegmentName,
  segmentName,
} from "../../src/storage/wal/segment.ts";
import {
  assertSameStore,
  captureLog,
  lastRecord,
  makeEntries,
  noSyncFs,
  readImage,
  silentLog,
  withTempDir,
} from "./helpers.ts";

const conf = { voters: ["n1"], learners: [] };

interface Fixture {
  dir: string;
  walDir: string;
  segments: string[];
  model: MemoryStorage;
  /** The model before the last save. */
  beforeLast: MemoryStorage;
}

// Writes 12 saves into small segments (several segments), then closes.
async function fixture(
  dir: string,
  options: { snapshot?: boolean } = {},
): Promise<Fixture> {
  const model = new MemoryStorage({ conf });
  const s = await DiskStorage.open(dir, {
    conf,
    fs: noSyncFs,
    log: silentLog,
    segmentSize: 900,
  });
  let beforeLast = model.clone();
  for (let i = 0; i < 12; i++) {
    const u: PersistUpdate = {
      entries: makeEntries(i * 4 + 1, 4, 1 + (i >> 2), 20),
      hardState: { term: 1 + (i >> 2), vote: "n1", commit: i * 4 },
    };
    beforeLast = model.clone();
    await s.save(u);
    model.save(u);
    if (options.snapshot && i === 6) {
      const data = new Uint8Array([1, 2, 3]);
      await s.createSnapshot(20, conf, data);
      model.createSnapshot(20, conf, data);
    }
  }
  await s.close();
  const walDir = join(dir, "wal");
  const segments = [...Deno.readDirSync(walDir)].map((e) => e.name)
    .filter((n) => n.endsWith(".wal")).sort();
  assert.ok(segments.length >= 3, `fixture has ${segments.length} segments`);
  // The tail ends at its last record (without the zeros filled ahead), so
  // that bytes appended to the file follow it directly.
  const tail = join(walDir, segments.at(-1)!);
  await Deno.truncate(tail, lastRecord(await Deno.readFile(tail)).end);
  return { dir, walDir, segments, model, beforeLast };
}

function open(dir: string, log = silentLog) {
  return DiskStorage.open(dir, { fs: noSyncFs, log, segmentSize: 900 });
}

function recordOffsets(bytes: Uint8Array): number[] {
  const out: number[] = [];
  let off = 0;
  while (off < bytes.byteLength) {
    const r = readFrame(bytes, off);
    if (!r.frame) break;
    out.push(off);
    off = r.frame.end;
  }
  return out;
}

async function appendTo(path: string, bytes: Uint8Array): Promise<void> {
  const f = await Deno.open(path, { append: true });
  await f.write(bytes);
  f.close();
}

async function flipByte(path: string, offset: number): Promise<void> {
  const b = await Deno.readFile(path);
  b[offset] ^= 0x10;
  await Deno.writeFile(path, b);
}

function lcgBytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed >>> 0;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

async function assertCorrupt(
  dir: string,
  pattern: RegExp,
  at?: { file: string; offset?: number },
): Promise<void> {
  const before = await readImage(dir);
  const err = await open(dir).then(
    async (s) => {
      await s.close();
      return undefined;
    },
    (e) => e,
  );
  assert.ok(
    err instanceof CorruptionError,
    `expected CorruptionError, got ${err}`,
  );
  assert.match(err.message, pattern);
  assert.match(
    err.message,
    /restore this node's data directory from a snapshot/,
  );
  assert.match(err.message, /from its peers/);
  if (at) {
    assert.ok(err.path.endsWith(at.file), `${err.path} is not ${at.file}`);
    if (at.offset !== undefined) {
      assert.equal(err.offset, at.offset);
      assert.match(err.message, new RegExp(`at byte offset ${at.offset}:`));
    }
  }
  // Refusing to start changes nothing on disk.
  assert.deepEqual(await readImage(dir), before);
}

Deno.test("zeros after the last record are room for the next ones, not a torn tail", async () => {
  await withTempDir(async (dir) => {
    const f = await fixture(dir);
    const last = join(f.walDir, f.segments.at(-1)!);
    const size = (await Deno.stat(last)).size;
    await appendTo(last, new Uint8Array(4096));
    const { log, events } = captureLog();
    // A segment limit with room for the next record in this segment.
    const s = await DiskStorage.open(dir, {
      fs: noSyncFs,
      log,
      segmentSize: 1 << 20,
    });
    assertSameStore(s, f.model);
    assert.ok(!events.some((e) => e.event === "wal.torn_tail_cut"));
    // The next record is written over the zeros, right after the last one.
    const u = { entries: makeEntries(49, 1, 9) };
    await s.save(u);
    f.model.save(u);
    await s.close();
    const bytes = await Deno.readFile(last);
    assert.equal(lastRecord(bytes).start, size);
    assert.ok(bytes.byteLength >= size + 4096);
    await assert.rejects(Deno.stat(last + ".broken"), Deno.errors.NotFound);
    const again = await open(dir);
    assertSameStore(again, f.model);
    await again.close();
  });
});

Deno.test("zeros after the records of a segment that is not the last are accepted", async () => {
  await withTempDir(async (dir) => {
    const f = await fixture(dir);
    // A crash after a roll, before the finished segment gave its zeros back.
    await appendTo(join(f.walDir, f.segments[0]), new Uint8Array(900));
    const s = await open(dir);
    assertSameStore(s, f.model);
    await s.close();
  });
});

Deno.test("a garbage tail is cut back and kept as .broken", async () => {
  await withTempDir(async (dir) => {
    const f = await fixture(dir);
    const last = join(f.walDir, f.segments.at(-1)!);
    const garbage = lcgBytes(1500, 7);
    await appendTo(last, garbage);
    const { log, events } = captureLog();
    const s = await open(dir, log);
    assertSameStore(s, f.model);
    await s.close();
    assert.ok(events.some((e) => e.event === "wal.torn_tail_cut"));
    assert.deepEqual(await Deno.readFile(last + ".broken"), garbage);
    // A second tear in the same segment gets a new .broken file.
    await appendTo(last, new Uint8Array(10).fill(5));
    const again = await open(dir);
    assertSameStore(again, f.model);
    // And the repaired log takes new writes.
    await again.save({ entries: makeEntries(49, 1, 9) });
    await again.close();
    assert.deepEqual(
      await Deno.readFile(last + ".1.broken"),
      new Uint8Array(10).fill(5),
    );
    const third = await open(dir);
    assert.equal(third.lastIndex(), 49);
    await third.close();
  });
});

Deno.test("a damaged last record is handled as a torn write", async () => {
  await withTempDir(async (dir) => {
    const f = await fixture(dir);
    const last = join(f.walDir, f.segments.at(-1)!);
    const bytes = await Deno.readFile(last);
    const offs = recordOffsets(bytes);
    await flipByte(last, offs.at(-1)! + 20);
    const s = await open(dir);
    assertSameStore(s, f.beforeLast);
    await s.close();
  });
});

/**
 * Flips the byte `at` bytes into the second record of WAL segment `name`
 * (of at least three records), then expects opening `dir` to fail with
 * `message`, naming that record.
 */
async function assertFlipIsCorrupt(
  dir: string,
  f: { walDir: string },
  name: string,
  at: number,
  message: RegExp,
): Promise<void> {
  const path = join(f.walDir, name);
  const offs = recordOffsets(await Deno.readFile(path));
  assert.ok(offs.length >= 3, `${name} has ${offs.length} records`);
  await flipByte(path, offs[1] + at);
  await assertCorrupt(dir, message, { file: name, offset: offs[1] });
}

Deno.test("a flipped bit in a middle segment is corruption naming file and offset", async () => {
  await withTempDir(async (dir) => {
    const f = await fixture(dir);
    await assertFlipIsCorrupt(dir, f, f.segments[1], 15, /checksum mismatch/);
  });
});

Deno.test("a flipped bit mid-way in the last segment is corruption, not a torn tail", async () => {
  await withTempDir(async (dir) => {
    const f = await fixture(dir);
    const last = f.segments.at(-1)!;
    await assertFlipIsCorrupt(dir, f, last, 12, /followed by a valid record/);
  });
});

Deno.test("a flipped bit in a record length mid-way is corruption", async () => {
  await withTempDir(async (dir) => {
    const f = await fixture(dir);
    const last = f.segments.at(-1)!;
    await assertFlipIsCorrupt(dir, f, last, 1, /followed by a valid record/);
  });
});

Deno.test("a cut tail in a segment that is not the last is corruption", async () => {
  await withTempDir(async (dir) => {
    const f = await fixture(dir);
    const name = f.segments[0];
    const path = join(f.walDir, name);
    const bytes = await Deno.readFile(path);
    await Deno.writeFile(path, bytes.subarray(0, bytes.byteLength - 3));
    const offs = recordOffsets(bytes);
    await assertCorrupt(dir, /only the last segment may end in a torn write/, {
      file: name,
      offset: offs.at(-1),
    });
  });
});

Deno.test("a damaged segment header is corruption", async () => {
  await withTempDir(async (dir) => {
    const f = await fixture(dir);
    const name = f.segments.at(-1)!;
    await flipByte(join(f.walDir, name), 12);
    await assertCorrupt(dir, /segment header is damaged/, {
      file: name,
      offset: 0,
    });
  });
});

Deno.test("a duplicate segment is corruption", async () => {
  await withTempDir(async (dir) => {
    const f = await fixture(dir);
    const { seq } = parseSegmentName(f.segments[1])!;
    const dup = segmentName(seq, 999);
    await Deno.copyFile(join(f.walDir, f.segments[1]), join(f.walDir, dup));
    await assertCorrupt(dir, /duplicate segment: sequence number 2/);
  });
});

Deno.test("a segment copied under the next sequence number is corruption", async () => {
  await withTempDir(async (dir) => {
    const f = await fixture(dir);
    const last = parseSegmentName(f.segments.at(-1)!)!;
    const copy = segmentName(last.seq + 1, last.firstIndex);
    await Deno.copyFile(
      join(f.walDir, f.segments.at(-1)!),
      join(f.walDir, copy),
    );
    await assertCorrupt(dir, /does not match the file name/, {
      file: copy,
      offset: 0,
    });
  });
});

Deno.test("a missing segment in the middle is corruption", async () => {
  await withTempDir(async (dir) => {
    const f = await fixture(dir);
    await Deno.remove(join(f.walDir, f.segments[1]));
    await assertCorrupt(dir, /segment 2 is missing between/);
  });
});

Deno.test("a missing first segment without a snapshot to cover it is corruption", async () => {
  await withTempDir(async (dir) => {
    const f = await fixture(dir);
    await Deno.remove(join(f.walDir, f.segments[0]));
    await assertCorrupt(dir, /missing and no snapshot covers them/);
  });
});

Deno.test("a damaged snapshot file is corruption naming it", async () => {
  await withTempDir(async (dir) => {
    const f = await fixture(dir, { snapshot: true });
    const s = await open(dir);
    assertSameStore(s, f.model);
    await s.close();
    const snaps = [...Deno.readDirSync(join(dir, "snap"))].map((e) => e.name);
    assert.equal(snaps.length, 1);
    await flipByte(join(dir, "snap", snaps[0]), 12);
    await assertCorrupt(dir, /snapshot checksum mismatch/, { file: snaps[0] });
    await Deno.remove(join(dir, "snap", snaps[0]));
    await assertCorrupt(dir, /that the WAL refers to is missing/, {
      file: snaps[0],
    });
  });
});

Deno.test("a lost WAL with snapshots present is corruption", async () => {
  await withTempDir(async (dir) => {
    const f = await fixture(dir, { snapshot: true });
    for (const s of f.segments) {
      await Deno.remove(join(f.walDir, s)).catch(() => {});
    }
    for (const e of Deno.readDirSync(f.walDir)) {
      await Deno.remove(join(f.walDir, e.name));
    }
    await assertCorrupt(dir, /log was lost/);
  });
});

Deno.test("leftovers of interrupted creates are removed", async () => {
  await withTempDir(async (dir) => {
    const f = await fixture(dir);
    await Deno.writeFile(
      join(f.walDir, segmentName(99, 1) + ".tmp"),
      new Uint8Array(5),
    );
    await Deno.writeFile(join(dir, "snap", "x.snap.tmp"), new Uint8Array(5));
    const { log, events } = captureLog();
    const s = await open(dir, log);
    assertSameStore(s, f.model);
    await s.close();
    assert.ok(events.some((e) => e.event === "wal.temp_removed"));
    assert.ok(events.some((e) => e.event === "snapshot.temp_removed"));
    const names = [
      ...Deno.readDirSync(f.walDir),
      ...Deno.readDirSync(join(dir, "snap")),
    ]
      .map((e) => e.name);
    assert.ok(!names.some((n) => n.endsWith(".tmp")), `${names}`);
  });
});

Deno.test("a wrong version marker is refused", async () => {
  await withTempDir(async (dir) => {
    await fixture(dir);
    await Deno.writeTextFile(
      join(dir, "raftlock.json"),
      JSON.stringify({ format: "raftlock-data", version: 2 }),
    );
    await assert.rejects(open(dir), (e: unknown) => {
      assert.ok(e instanceof DataDirError);
      assert.match(
        e.message,
        /has version 2 but this build reads only version 1/,
      );
      return true;
    });
  });
});

Deno.test("a directory that is not a raftlock data directory is refused", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(join(dir, "notes.txt"), "hello");
    await assert.rejects(open(dir), (e: unknown) => {
      assert.ok(e instanceof DataDirError);
      assert.match(
        e.message,
        /is not a raftlock data directory: it is not empty and has no raftlock.json/,
      );
      return true;
    });
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), [
      "notes.txt",
    ]);
    await Deno.writeTextFile(join(dir, "raftlock.json"), "{ not json");
    await assert.rejects(open(dir), /raftlock.json is not a raftlock marker/);
    const file = join(dir, "notes.txt");
    await assert.rejects(open(file), /is not a directory/);
  });
});

Deno.test("a missing directory is created with a version marker", async () => {
  await withTempDir(async (root) => {
    const dir = join(root, "a", "b");
    const s = await open(dir);
    await s.close();
    const marker = JSON.parse(
      await Deno.readTextFile(join(dir, "raftlock.json")),
    );
    assert.deepEqual(marker, { format: "raftlock-data", version: 1 });
  });
});
