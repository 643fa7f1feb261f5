import assert from "node:assert/strict";
import { cutUnsyncedTail } from "../../src/chaos/nemesis.ts";
import { mulberry32, randomInt } from "../../src/raft/rand.ts";
import type { PersistUpdate } from "../../src/storage/types.ts";
import { DiskStorage } from "../../src/storage/disk_storage.ts";
import { FaultInjectingFs } from "../../src/storage/fault_fs.ts";
import { MemoryStorage } from "../../src/storage/memory.ts";
import {
  parseSegmentName,
  segmentName,
} from "../../src/storage/wal/segment.ts";
import {
  assertSameStore,
  lastRecord,
  makeEntries,
  noSyncFs,
  silentLog,
  withTempDir,
} from "../storage/helpers.ts";

const conf = { voters: ["n1", "n2", "n3"], learners: [] };

/** What `cutUnsyncedTail` says it did to a segment. */
interface Cut {
  name: string;
  size: number;
  at: number;
  durable: number;
  zeros: number;
}

function parseCut(message: string): Cut {
  const m =
    /^cut (\S+) from (\d+) to (\d+) bytes \(durable (\d+)\)(?: \+ (\d+) zero bytes)?$/
      .exec(message);
  assert.ok(m, `unexpected report: ${message}`);
  return {
    name: m[1],
    size: Number(m[2]),
    at: Number(m[3]),
    durable: Number(m[4]),
    zeros: Number(m[5] ?? 0),
  };
}

async function segmentFiles(walDir: string): Promise<Map<string, Uint8Array>> {
  const out = new Map<string, Uint8Array>();
  for await (const e of Deno.readDir(walDir)) {
    if (parseSegmentName(e.name)) {
      out.set(e.name, await Deno.readFile(`${walDir}/${e.name}`));
    }
  }
  return out;
}

const newestOf = (names: Iterable<string>) =>
  [...names].sort((a, b) =>
    parseSegmentName(b)!.seq - parseSegmentName(a)!.seq
  )[0];

type Tail = "none" | "garbage" | "records";

/**
 * One chaos "truncate" against real storage, from `seed`: saves through a
 * `FaultInjectingFs` that records synced sizes (each save syncs), maybe a
 * snapshot, then an unsynced tail (garbage bytes appended behind the
 * store's back, or whole records written by a process without a record),
 * then the cut, then a reopen that must hold every synced save.
 */
async function runSeed(seed: number, tail: Tail): Promise<void> {
  await withTempDir(async (dir) => {
    const random = mulberry32(seed);
    const data = `${dir}/data`;
    const walDir = `${data}/wal`;
    const record = `${dir}/n1.synced`;
    // Real files, but no real fsync (the crash is simulated by the cut, so
    // an fsync would only cost time); the record is kept as for real.
    const fs = new FaultInjectingFs({ syncRecordFile: record, base: noSyncFs });
    const segmentSize = randomInt(random, 300, 2000);

    // Every acceptable state after the crash: the model after save k.
    const model = new MemoryStorage({ conf });
    const states: MemoryStorage[] = [];
    let next = 1;
    let term = 1;
    const update = (): PersistUpdate => {
      if (random() < 0.2) term++;
      const n = randomInt(random, 1, 6);
      const entries = makeEntries(next, n, term, randomInt(random, 1, 200));
      next += n;
      return random() < 0.7
        ? {
          entries,
          hardState: { term, vote: "n1", commit: next - 1 - (n >> 1) },
        }
        : { entries };
    };

    let s = await DiskStorage.open(data, {
      conf,
      fs,
      log: silentLog,
      segmentSize,
    });
    const saves = randomInt(random, 2, 10);
    for (let i = 0; i < saves; i++) {
      const u = update();
      await s.save(u);
      model.save(u);
      if (i === saves >> 1 && random() < 0.4) {
        const at = randomInt(random, 1, model.lastIndex());
        const snapData = new Uint8Array([seed & 0xff, at & 0xff, 7]);
        await s.createSnapshot(at, conf, snapData);
        model.createSnapshot(at, conf, snapData);
      }
    }
    states.push(model.clone());
    await s.close();
    const synced = await segmentFiles(walDir);

    if (tail === "garbage") {
      // An unsynced write that reached the file only in part.
      const newest = newestOf(synced.keys());
      const junk = new Uint8Array(randomInt(random, 1, 300));
      for (let i = 0; i < junk.length; i++) {
        junk[i] = Math.floor(random() * 256);
      }
      const f = await Deno.open(`${walDir}/${newest}`, { append: true });
      await f.write(junk);
      f.close();
    } else if (tail === "records") {
      // Whole records that no sync record covers (written by a process
      // whose syncs the record never saw).
      // Half the time with room to append to the recorded segment rather
      // than roll to a new one.
      s = await DiskStorage.open(data, {
        fs: noSyncFs,
        log: silentLog,
        segmentSize: random() < 0.5 ? segmentSize : 1 << 20,
      });
      for (let i = randomInt(random, 1, 3); i > 0; i--) {
        const u = update();
        await s.save(u);
        model.save(u);
        states.push(model.clone());
      }
      await s.close();
    }
    const before = await segmentFiles(walDir);
    const newest = newestOf(before.keys());

    const report = await cutUnsyncedTail(walDir, record, random);

    const after = await segmentFiles(walDir);
    assert.deepEqual([...after.keys()].sort(), [...before.keys()].sort());
    for (const [name, bytes] of before) {
      if (name !== newest) {
        assert.deepEqual(after.get(name), bytes, `${name} was changed`);
      }
    }
    if (!synced.has(newest)) {
      // A segment the recording process never synced is not cut.
      assert.match(report, /no sync record; not cut/);
      assert.deepEqual(after.get(newest), before.get(newest));
    } else {
      const cut = parseCut(report);
      const old = before.get(newest)!;
      const now = after.get(newest)!;
      assert.equal(cut.name, newest);
      assert.equal(cut.size, old.length);
      // The cut is never below what was synced (the records; the zeros
      // the writer filled ahead of them need not survive)…
      assert.equal(cut.durable, lastRecord(synced.get(newest)!).end);
      assert.ok(cut.at >= cut.durable, report);
      assert.ok(cut.at <= old.length, report);
      // …and does exactly what it says.
      assert.equal(now.length, cut.at + cut.zeros, report);
      assert.deepEqual(now.subarray(0, cut.at), old.subarray(0, cut.at));
      assert.ok(now.subarray(cut.at).every((b) => b === 0), report);
    }

    const r = await DiskStorage.open(data, {
      fs: noSyncFs,
      log: silentLog,
      segmentSize,
    });
    try {
      // Every synced save survives; later unsynced saves may, whole.
      const k = states.findIndex((m) => m.lastIndex() === r.lastIndex());
      assert.ok(
        k >= 0,
        `reopened with last index ${r.lastIndex()}, expected one of ${
          states.map((m) => m.lastIndex())
        } (${report})`,
      );
      assertSameStore(r, states[k], `seed ${seed}, ${tail}, ${report}`);
    } finally {
      await r.close();
    }
  });
}

for (const tail of ["none", "garbage", "records"] as const) {
  Deno.test(`cutUnsyncedTail: synced saves survive the cut (${tail} unsynced tail)`, async () => {
    for (let seed = 1; seed <= 12; seed++) await runSeed(seed * 7919, tail);
  });
}

Deno.test("cutUnsyncedTail: the cut point is never below the recorded size", async () => {
  await withTempDir(async (dir) => {
    const walDir = `${dir}/wal`;
    await Deno.mkdir(walDir);
    const older = `${walDir}/${segmentName(1, 1)}`;
    const newest = `${walDir}/${segmentName(2, 40)}`;
    const olderBytes = new Uint8Array(500).fill(3);
    const bytes = new Uint8Array(1000);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i % 251) + 1;
    const record = `${dir}/rec.json`;
    for (const durable of [0, 1, 400, 999, 1000]) {
      // Paths in the record are matched by file name.
      Deno.writeTextFileSync(
        record,
        JSON.stringify({
          [older]: 10,
          [`/elsewhere/wal/${segmentName(2, 40)}`]: durable,
        }),
      );
      for (let seed = 0; seed < 25; seed++) {
        Deno.writeFileSync(older, olderBytes);
        Deno.writeFileSync(newest, bytes);
        const report = await cutUnsyncedTail(walDir, record, mulberry32(seed));
        const cut = parseCut(report);
        assert.equal(cut.name, segmentName(2, 40));
        assert.equal(cut.durable, durable);
        assert.equal(cut.size, 1000);
        assert.ok(cut.at >= durable && cut.at <= 1000, report);
        assert.ok(cut.zeros >= 0 && cut.zeros <= 4096, report);
        const now = Deno.readFileSync(newest);
        assert.equal(now.length, cut.at + cut.zeros, report);
        assert.deepEqual(now.subarray(0, cut.at), bytes.subarray(0, cut.at));
        assert.ok(now.subarray(cut.at).every((b) => b === 0), report);
        // Only the newest segment is touched.
        assert.deepEqual(Deno.readFileSync(older), olderBytes);
      }
    }
  });
});

Deno.test("cutUnsyncedTail: over many seeds the cut lands anywhere in the unsynced tail", async () => {
  await withTempDir(async (dir) => {
    const walDir = `${dir}/wal`;
    await Deno.mkdir(walDir);
    const path = `${walDir}/${segmentName(1, 1)}`;
    const record = `${dir}/rec.json`;
    Deno.writeTextFileSync(record, JSON.stringify({ [path]: 10 }));
    const cuts = new Set<number>();
    let extended = 0;
    for (let seed = 0; seed < 200; seed++) {
      Deno.writeFileSync(path, new Uint8Array(14).fill(9));
      const cut = parseCut(
        await cutUnsyncedTail(walDir, record, mulberry32(seed)),
      );
      cuts.add(cut.at);
      if (cut.zeros > 0) extended++;
    }
    // Every point from the durable size to the end is possible, both ends
    // included, and so are the zero extensions.
    assert.deepEqual([...cuts].sort((a, b) => a - b), [10, 11, 12, 13, 14]);
    assert.ok(extended > 0 && extended < 200, `${extended} extended`);
  });
});

Deno.test("cutUnsyncedTail: a segment without a record is left whole", async () => {
  await withTempDir(async (dir) => {
    const walDir = `${dir}/wal`;
    await Deno.mkdir(walDir);
    const older = `${walDir}/${segmentName(1, 1)}`;
    const newest = `${walDir}/${segmentName(2, 9)}`;
    const bytes = new Uint8Array(300).fill(5);
    Deno.writeFileSync(older, bytes);
    Deno.writeFileSync(newest, bytes);
    // Not segments: ignored even though they sort after the newest.
    Deno.writeFileSync(`${newest}.tmp`, bytes);
    Deno.writeFileSync(`${newest}.broken`, bytes);
    const record = `${dir}/rec.json`;

    // No record file at all (nothing was ever synced).
    for (let seed = 0; seed < 10; seed++) {
      const report = await cutUnsyncedTail(walDir, record, mulberry32(seed));
      assert.match(
        report,
        /0000000000000002-0000000000000009\.wal has no sync record; not cut/,
      );
    }
    // A record of other files only, including the older segment and the
    // temp file of the newest one (renamed before its next sync).
    Deno.writeTextFileSync(
      record,
      JSON.stringify({ [older]: 1, [`${newest}.tmp`]: 1 }),
    );
    for (let seed = 0; seed < 10; seed++) {
      const report = await cutUnsyncedTail(walDir, record, mulberry32(seed));
      assert.match(report, /has no sync record; not cut/);
    }
    // A torn record file (killed mid-write would leave the old one, but be
    // safe anyway) counts as no record.
    Deno.writeTextFileSync(record, '{"' + newest);
    assert.match(
      await cutUnsyncedTail(walDir, record, mulberry32(1)),
      /has no sync record; not cut/,
    );
    for (const p of [older, newest, `${newest}.tmp`, `${newest}.broken`]) {
      assert.deepEqual(Deno.readFileSync(p), bytes, p);
    }
  });
});

Deno.test("cutUnsyncedTail: a WAL directory without segments is left alone", async () => {
  await withTempDir(async (dir) => {
    Deno.writeFileSync(`${dir}/x.tmp`, new Uint8Array(3));
    assert.equal(
      await cutUnsyncedTail(dir, `${dir}/none`, mulberry32(1)),
      "no WAL segment to cut",
    );
    assert.equal(Deno.statSync(`${dir}/x.tmp`).size, 3);
  });
});
