import assert from "node:assert/strict";
import fc from "fast-check";
import { FaultInjectingFs } from "../../src/storage/fault_fs.ts";
import type { FileHandle } from "../../src/storage/fs.ts";
import { withTempDir } from "./helpers.ts";
import { assertProperty } from "../support/property.ts";

/** Reads the record file; fails the test if it is not a JSON object of sizes. */
function readRecord(file: string): Record<string, number> {
  const text = Deno.readTextFileSync(file);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    assert.fail(`the record is not JSON (${e}): ${text}`);
  }
  assert.ok(
    typeof parsed === "object" && parsed !== null && !Array.isArray(parsed),
    `the record is not an object: ${text}`,
  );
  for (const [k, v] of Object.entries(parsed)) {
    assert.ok(Number.isSafeInteger(v) && v >= 0, `bad size for ${k}: ${v}`);
  }
  return parsed as Record<string, number>;
}

Deno.test("FaultInjectingFs: after each sync the record covers every byte written before it", async () => {
  await withTempDir(async (dir) => {
    const record = `${dir}/record.json`;
    const fs = new FaultInjectingFs({ syncRecordFile: record });
    const a = `${dir}/a`;
    const b = `${dir}/b`;
    const fa = await fs.open(a, { write: true, create: true });
    const fb = await fs.open(b, { write: true, create: true });
    let writtenA = 0;
    let writtenB = 0;
    try {
      await fa.write(new Uint8Array(10));
      writtenA += 10;
      await fa.syncData();
      assert.deepEqual(readRecord(record), { [a]: 10 });
      assert.deepEqual(fs.syncedSizes(), { [a]: 10 });

      // Bytes written after a sync are not claimed until the next sync.
      await fa.write(new Uint8Array(7));
      writtenA += 7;
      await fb.write(new Uint8Array(3));
      writtenB += 3;
      assert.deepEqual(readRecord(record), { [a]: 10 });

      await fb.sync();
      assert.deepEqual(readRecord(record), { [a]: 10, [b]: writtenB });
      await fa.sync();
      assert.deepEqual(readRecord(record), { [a]: writtenA, [b]: writtenB });

      // A truncation below the synced size is recorded at the next sync.
      await fa.truncate(4);
      await fa.syncData();
      assert.equal(readRecord(record)[a], 4);
    } finally {
      fa.close();
      fb.close();
    }
    assert.deepEqual(
      [...Deno.readDirSync(dir)].map((e) => e.name).sort(),
      ["a", "b", "record.json"],
      "no temp file of the record is left behind",
    );
  });
});

Deno.test("FaultInjectingFs: the record is what a crash after any sync leaves (property)", async (t) => {
  type Op =
    | { op: "write"; file: number; n: number }
    | { op: "syncData" | "sync"; file: number };
  const opArb: fc.Arbitrary<Op> = fc.oneof(
    fc.record({
      op: fc.constant("write" as const),
      file: fc.nat(2),
      n: fc.integer({ min: 1, max: 300 }),
    }),
    fc.record({
      op: fc.constantFrom("syncData" as const, "sync" as const),
      file: fc.nat(2),
    }),
  );
  await withTempDir(async (dir) => {
    let run = 0;
    await assertProperty(
      t,
      fc.asyncProperty(
        fc.array(opArb, { minLength: 1, maxLength: 25 }),
        async (ops) => {
          const sub = `${dir}/${run++}`;
          Deno.mkdirSync(sub);
          const record = `${sub}/record.json`;
          const fs = new FaultInjectingFs({ syncRecordFile: record });
          const paths = [0, 1, 2].map((i) => `${sub}/f${i}`);
          const files: FileHandle[] = [];
          for (const p of paths) {
            files.push(await fs.open(p, { write: true, create: true }));
          }
          const written = [0, 0, 0];
          const expected: Record<string, number> = {};
          try {
            for (const o of ops) {
              if (o.op === "write") {
                const data = new Uint8Array(o.n).fill((o.n & 0xff) || 1);
                let off = 0;
                while (off < data.length) {
                  off += await files[o.file].write(data.subarray(off));
                }
                written[o.file] += o.n;
                continue;
              }
              await files[o.file][o.op]();
              expected[paths[o.file]] = written[o.file];
              const r = readRecord(record);
              // Every byte written before the sync is inside the record…
              for (const [p, n] of Object.entries(expected)) {
                assert.ok(r[p] >= n, `${p}: record ${r[p]} < synced ${n}`);
              }
              // …and nothing that was never written is claimed.
              for (const [p, n] of Object.entries(r)) {
                const i = paths.indexOf(p);
                assert.ok(i >= 0, `unknown path ${p} in the record`);
                assert.ok(
                  n <= written[i],
                  `${p}: ${n} > written ${written[i]}`,
                );
              }
              assert.deepEqual(r, fs.syncedSizes());
            }
          } finally {
            for (const f of files) f.close();
          }
        },
      ),
      { numRuns: 40 },
    );
  });
});

Deno.test("FaultInjectingFs: rename moves the record entry and remove drops it", async () => {
  await withTempDir(async (dir) => {
    const record = `${dir}/record.json`;
    const fs = new FaultInjectingFs({ syncRecordFile: record });
    const tmp = `${dir}/seg.tmp`;
    const seg = `${dir}/seg`;
    const other = `${dir}/other`;
    let f = await fs.open(tmp, { write: true, create: true });
    await f.write(new Uint8Array(12));
    await f.sync();
    f.close();
    assert.deepEqual(fs.syncedSizes(), { [tmp]: 12 });

    await fs.rename(tmp, seg);
    assert.deepEqual(fs.syncedSizes(), { [seg]: 12 });
    assert.ok(Deno.statSync(seg).isFile, "the file itself moved");

    // The next sync of any file writes the moved entry out.
    const g = await fs.open(other, { write: true, create: true });
    await g.write(new Uint8Array(2));
    await g.syncData();
    assert.deepEqual(readRecord(record), { [seg]: 12, [other]: 2 });

    // Renaming a file that was never synced leaves the record alone.
    Deno.writeFileSync(`${dir}/plain`, new Uint8Array(1));
    await fs.rename(`${dir}/plain`, `${dir}/plain2`);
    assert.deepEqual(fs.syncedSizes(), { [seg]: 12, [other]: 2 });

    await fs.remove(seg);
    assert.deepEqual(fs.syncedSizes(), { [other]: 2 });
    assert.throws(() => Deno.statSync(seg), Deno.errors.NotFound);
    await g.sync();
    g.close();
    assert.deepEqual(readRecord(record), { [other]: 2 });

    // Reopening the moved name appends to it and records its new size.
    f = await fs.open(`${dir}/plain2`, { append: true });
    await f.write(new Uint8Array(4));
    await f.syncData();
    f.close();
    assert.deepEqual(readRecord(record), {
      [other]: 2,
      [`${dir}/plain2`]: 5,
    });
  });
});

Deno.test("FaultInjectingFs: without a record file nothing is recorded or written", async () => {
  await withTempDir(async (dir) => {
    const fs = new FaultInjectingFs();
    const f = await fs.open(`${dir}/a`, { write: true, create: true });
    await f.write(new Uint8Array(3));
    await f.syncData();
    await f.sync();
    f.close();
    assert.deepEqual(fs.syncedSizes(), {});
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["a"]);
    assert.equal(Deno.statSync(`${dir}/a`).size, 3);
  });
});

Deno.test("FaultInjectingFs: slow makes every sync wait slowSyncMs, until switched off", async () => {
  await withTempDir(async (dir) => {
    const record = `${dir}/record.json`;
    const fs = new FaultInjectingFs({ slowSyncMs: 50, syncRecordFile: record });
    const f = await fs.open(`${dir}/a`, { write: true, create: true });
    try {
      fs.slow = true;
      for (const sync of ["syncData", "sync"] as const) {
        await f.write(new Uint8Array(1));
        const t0 = performance.now();
        await f[sync]();
        const took = performance.now() - t0;
        assert.ok(took >= 45, `a slow ${sync} took only ${took} ms`);
      }
      // A slow sync still records.
      assert.deepEqual(readRecord(record), { [`${dir}/a`]: 2 });
      fs.slow = false;
      // Switched off again, syncs work (no upper bound asserted on time).
      await f.write(new Uint8Array(1));
      await f.syncData();
      assert.deepEqual(readRecord(record), { [`${dir}/a`]: 3 });
    } finally {
      f.close();
    }
  });
});

Deno.test("FaultInjectingFs: reads and directory operations pass through", async () => {
  await withTempDir(async (dir) => {
    const fs = new FaultInjectingFs({ syncRecordFile: `${dir}/r.json` });
    await fs.mkdir(`${dir}/sub/deeper`);
    Deno.writeFileSync(`${dir}/sub/x`, new Uint8Array([1, 2, 3]));
    assert.deepEqual(
      await fs.readFile(`${dir}/sub/x`),
      new Uint8Array([1, 2, 3]),
    );
    const names = (await fs.readDir(`${dir}/sub`)).map((e) => e.name).sort();
    assert.deepEqual(names, ["deeper", "x"]);
    assert.equal((await fs.stat(`${dir}/sub/x`))?.size, 3);
    assert.equal(await fs.stat(`${dir}/nothing`), undefined);
    await fs.syncDir(`${dir}/sub`);
  });
});

Deno.test("FaultInjectingFs: zeros written ahead of the data do not raise the record", async () => {
  await withTempDir(async (dir) => {
    const record = `${dir}/record.json`;
    const fs = new FaultInjectingFs({ syncRecordFile: record });
    const seg = `${dir}/seg`;
    // A WAL segment's way: data, then zeros filled ahead through another
    // handle, then data written over the zeros.
    const f = await fs.open(seg, { write: true, create: true });
    await f.write(new Uint8Array(10).fill(1));
    const fill = await fs.open(seg, { write: true });
    await fill.seek(10, Deno.SeekMode.Start);
    await fill.write(new Uint8Array(100));
    await fill.syncData();
    fill.close();
    assert.equal(Deno.statSync(seg).size, 110);
    assert.deepEqual(readRecord(record), { [seg]: 10 });
    // A write of data counts whole, its zeros too (a record may end in one).
    await f.write(new Uint8Array([0, 0, 7, 0]));
    await f.syncData();
    assert.deepEqual(readRecord(record), { [seg]: 14 });
    // A cut below the data lowers it.
    await f.truncate(5);
    await f.sync();
    f.close();
    assert.deepEqual(readRecord(record), { [seg]: 5 });
  });
});
