/**
 * Crash-point tests: run a sequence of appends, truncations, snapshots and
 * group commits, and after each step rebuild every state a crash during
 * that step could leave on disk (the step's last WAL record cut at every
 * byte offset, or at a sample of offsets for large records), reopen, and
 * check that the store holds exactly the state before that record or after
 * it, never something in between.
 */

import assert from "node:assert/strict";
import { DiskStorage } from "../../src/storage/disk_storage.ts";
import { join } from "../../src/storage/fs.ts";
import { MemoryStorage } from "../../src/storage/memory.ts";
import type { PersistUpdate } from "../../src/storage/types.ts";
import {
  assertSameStore,
  captureLog,
  type DirImage,
  lastRecord,
  makeEntries,
  noSyncFs,
  readImage,
  segmentsOf,
  silentLog,
  withTempDir,
} from "./helpers.ts";

const conf = { voters: ["n1", "n2", "n3"], learners: [] };

interface Ctx {
  store: DiskStorage;
  model: MemoryStorage;
}

interface Step {
  name: string;
  /** Runs the step; returns the model as it was before the step's last WAL record. */
  run(ctx: Ctx): Promise<MemoryStorage>;
}

async function saveBoth(ctx: Ctx, u: PersistUpdate): Promise<void> {
  await ctx.store.save(u);
  ctx.model.save(u);
}

function saveStep(
  name: string,
  make: (m: MemoryStorage) => PersistUpdate,
): Step {
  return {
    name,
    async run(ctx) {
      const before = ctx.model.clone();
      await saveBoth(ctx, make(ctx.model));
      return before;
    },
  };
}

/** A step that snapshots `back` entries before the last index. */
function snapshotStep(name: string, back: number): Step {
  return {
    name,
    async run(ctx) {
      const before = ctx.model.clone();
      const i = ctx.model.lastIndex() - back;
      const data = new TextEncoder().encode(`snap ${i}`);
      await ctx.store.createSnapshot(i, conf, data);
      ctx.model.createSnapshot(i, conf, data);
      return before;
    },
  };
}

const steps: Step[] = [
  saveStep("one entry and a hard state", () => ({
    entries: makeEntries(1, 1, 1),
    hardState: { term: 1, vote: "n1", commit: 0 },
  })),
  saveStep(
    "three entries",
    (m) => ({ entries: makeEntries(m.lastIndex() + 1, 3, 1) }),
  ),
  saveStep("a large batch", (m) => ({
    entries: makeEntries(m.lastIndex() + 1, 150, 1, 24),
    hardState: { term: 1, vote: "n1", commit: 3 },
  })),
  saveStep("hard state only", () => ({
    entries: [],
    hardState: { term: 2, vote: "n2", commit: 50 },
  })),
  saveStep("truncate a suffix", (m) => ({
    entries: makeEntries(m.lastIndex() - 20, 2, 2),
  })),
  snapshotStep("create a snapshot", 3),
  saveStep("append after the snapshot", (m) => ({
    entries: makeEntries(m.lastIndex() + 1, 6, 2, 40),
  })),
  {
    name: "group commit of three saves",
    async run(ctx) {
      const base = ctx.model.lastIndex();
      const us: PersistUpdate[] = [
        { entries: makeEntries(base + 1, 2, 3) },
        {
          entries: makeEntries(base + 3, 2, 3),
          hardState: { term: 3, vote: "n3", commit: base },
        },
        { entries: makeEntries(base + 2, 3, 4) },
      ];
      // The first save starts writing at once; the other two wait for its
      // sync and share the next record.
      const ps = us.map((u) => ctx.store.save(u));
      await Promise.all(ps);
      ctx.model.save(us[0]);
      const before = ctx.model.clone();
      ctx.model.save(us[1]);
      ctx.model.save(us[2]);
      return before;
    },
  },
  saveStep("install a snapshot from the leader", (m) => ({
    snapshot: {
      metadata: { index: m.lastIndex() + 10, term: 5, conf },
      data: new TextEncoder().encode("leader snapshot"),
    },
    entries: makeEntries(m.lastIndex() + 11, 2, 5),
    hardState: { term: 5, vote: "", commit: m.lastIndex() + 10 },
  })),
  saveStep("append after the install", (m) => ({
    entries: makeEntries(m.lastIndex() + 1, 40, 5, 16),
  })),
  snapshotStep("snapshot that removes segments", 1),
  saveStep("truncate back to the snapshot", (m) => ({
    entries: makeEntries(m.firstIndex(), 3, 6),
    hardState: { term: 6, vote: "n1", commit: m.firstIndex() - 1 },
  })),
];

function cutOffsets(start: number, end: number): number[] {
  if (end - start <= 160) {
    return Array.from({ length: end - start + 1 }, (_, i) => start + i);
  }
  const set = new Set<number>();
  for (let i = 0; i <= 12; i++) {
    set.add(start + i);
    set.add(end - i);
  }
  for (let i = 0; i < 40; i++) {
    set.add(start + Math.floor(((end - start) * i) / 40));
  }
  return [...set].sort((a, b) => a - b);
}

// Makes `dir` hold exactly `image`, rewriting only files that differ in
// size or are listed in `force`.
async function syncImage(
  dir: string,
  image: DirImage,
  force: Set<string>,
): Promise<void> {
  const present = await readNames(dir);
  for (const rel of present) {
    if (!image.has(rel)) await Deno.remove(join(dir, rel));
  }
  for (const [rel, bytes] of image) {
    const p = join(dir, rel);
    if (!force.has(rel) && present.has(rel)) {
      const st = await Deno.stat(p);
      if (st.size === bytes.byteLength) continue;
    }
    await Deno.mkdir(p.slice(0, p.lastIndexOf("/")), { recursive: true });
    await Deno.writeFile(p, bytes);
  }
}

async function readNames(dir: string): Promise<Set<string>> {
  const out = new Set<string>();
  async function walk(rel: string) {
    for await (const e of Deno.readDir(join(dir, rel))) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory) await walk(r);
      else out.add(r);
    }
  }
  try {
    await walk("");
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return out;
}

async function reopenAndCheck(
  work: string,
  expected: MemoryStorage,
  context: string,
): Promise<ReturnType<typeof captureLog>["events"]> {
  const { log, events } = captureLog();
  const s = await DiskStorage.open(work, {
    fs: noSyncFs,
    log,
    segmentSize: 700,
  });
  try {
    assertSameStore(s, expected, context);
  } finally {
    await s.close();
  }
  return events;
}

Deno.test("a crash at any byte of the last record leaves it whole or absent", async () => {
  await withTempDir(async (root) => {
    const live = join(root, "live");
    const work = join(root, "work");
    await Deno.mkdir(work);
    const store = await DiskStorage.open(live, {
      conf,
      fs: noSyncFs,
      log: silentLog,
      segmentSize: 700,
    });
    const ctx: Ctx = { store, model: new MemoryStorage({ conf }) };
    let prev = await readImage(live);
    let checked = 0;
    let removalSteps = 0;
    let rollSteps = 0;
    try {
      for (const step of steps) {
        const before = await step.run(ctx);
        const after = ctx.model.clone();
        const cur = await readImage(live);
        const segs = segmentsOf(cur);
        const tail = segs[segs.length - 1];
        const file = cur.get(tail)!;
        const { start, end } = lastRecord(file);
        const bytes = file.subarray(0, end);
        // Files removed after the record was durable may or may not be
        // gone at a crash; before that point they are all still there.
        const union: DirImage = new Map([...prev, ...cur]);
        if (segmentsOf(prev).some((p) => !cur.has(p))) removalSteps++;
        if (!prev.has(tail)) rollSteps++;
        for (const x of cutOffsets(start, bytes.byteLength)) {
          // Every other crash keeps the zeros the writer filled ahead (the
          // record was torn inside them), the rest loses them too.
          const padded = x % 2 === 1 && file.byteLength > x;
          const cutFile = padded
            ? concat(bytes.subarray(0, x), new Uint8Array(file.byteLength - x))
            : bytes.subarray(0, x);
          const image = new Map(union);
          image.set(tail, cutFile);
          await syncImage(work, image, new Set([tail]));
          // Whole also when the lost bytes were zeros and zeros follow.
          const whole = x === bytes.byteLength ||
            (padded && equalBytes(cutFile.subarray(0, end), bytes));
          const context = `${step.name}, cut at ${x} of ${bytes.byteLength}` +
            (padded ? `, zeros to ${file.byteLength}` : "");
          const events = await reopenAndCheck(
            work,
            whole ? after : before,
            context,
          );
          const cut = events.find((e) => e.event === "wal.torn_tail_cut");
          const torn = cutFile.subarray(start);
          // A torn record of which only zeros reached the file is no record.
          if (x > start && !whole && torn.some((b) => b !== 0)) {
            assert.ok(cut, `no torn tail reported: ${context}`);
            assert.equal(cut.fields.offset, start, context);
            const kept = await Deno.readFile(String(cut.fields.keptIn));
            assert.deepEqual(kept, torn, context);
            if (x % 5 === 0) {
              // The repaired directory opens cleanly and stays the same.
              const again = await reopenAndCheck(
                work,
                before,
                context + ", again",
              );
              assert.ok(!again.some((e) => e.event === "wal.torn_tail_cut"));
            }
          } else {
            assert.equal(cut, undefined, context);
          }
          checked++;
        }
        // The state once the step has finished its removals.
        await syncImage(work, cur, new Set([tail]));
        await reopenAndCheck(work, after, `${step.name}, after removals`);
        prev = cur;
      }
    } finally {
      await store.close();
    }
    assert.ok(checked > 500, `only ${checked} crash points checked`);
    assert.ok(removalSteps >= 1, "no step removed a segment");
    assert.ok(rollSteps >= 2, "too few steps rolled a segment");
  });
});

Deno.test("writing on after a repaired tail keeps the log consistent", async () => {
  await withTempDir(async (dir) => {
    const model = new MemoryStorage({ conf });
    let s = await DiskStorage.open(dir, { conf, fs: noSyncFs, log: silentLog });
    const u1 = { entries: makeEntries(1, 5, 1) };
    await s.save(u1);
    model.save(u1);
    await s.save({ entries: makeEntries(6, 5, 1) });
    await s.close();
    const seg = join(
      dir,
      "wal",
      (await readNames(join(dir, "wal"))).values().next().value!,
    );
    const bytes = await Deno.readFile(seg);
    await Deno.writeFile(seg, bytes.subarray(0, lastRecord(bytes).end - 7));
    s = await DiskStorage.open(dir, { fs: noSyncFs, log: silentLog });
    assertSameStore(s, model);
    const u2 = {
      entries: makeEntries(6, 2, 2),
      hardState: { term: 2, vote: "", commit: 3 },
    };
    await s.save(u2);
    model.save(u2);
    await s.close();
    s = await DiskStorage.open(dir, { fs: noSyncFs, log: silentLog });
    assertSameStore(s, model);
    await s.close();
  });
});

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.byteLength + b.byteLength);
  out.set(a);
  out.set(b, a.byteLength);
  return out;
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && a.every((v, i) => v === b[i]);
}
