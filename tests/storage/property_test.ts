/**
 * Property tests: random sequences of saves (appends, overwrites, hard
 * states, installed snapshots), group commits, snapshots and reopens run
 * against DiskStorage and the MemoryStorage model; after every step, and
 * after every reopen, both must read the same.
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import { DiskStorage } from "../../src/storage/disk_storage.ts";
import { MemoryStorage } from "../../src/storage/memory.ts";
import type { PersistUpdate } from "../../src/storage/types.ts";
import type { Entry, HardState } from "../../src/raft/types.ts";
import {
  decodeBatch,
  encodeBatch,
  readFrame,
  type WalItem,
} from "../../src/storage/wal/record.ts";
import { assertSameStore, noSyncFs, silentLog } from "./helpers.ts";
import { assertProperty } from "../support/property.ts";

const conf = { voters: ["n1", "n2", "n3"], learners: ["n4"] };
// More runs for a soak: RAFTLOCK_PROP_RUNS=2000 deno test -A tests/storage/property_test.ts
const RUNS = Number(Deno.env.get("RAFTLOCK_PROP_RUNS") ?? 80);

interface Model {
  mem: MemoryStorage;
}
interface Real {
  store: DiskStorage;
  dir: string;
  segmentSize: number;
}

interface AppendSpec {
  back: number;
  count: number;
  term: number;
  size: number;
  seed: number;
  hs?: { term: number; vote: string; commitFrac: number };
}

const appendSpec: fc.Arbitrary<AppendSpec> = fc.record({
  back: fc.nat(6),
  count: fc.nat(6),
  term: fc.integer({ min: 1, max: 6 }),
  size: fc.nat(48),
  seed: fc.nat(255),
  hs: fc.option(
    fc.record({
      term: fc.integer({ min: 1, max: 6 }),
      vote: fc.constantFrom("", "n1", "n2", "nödé-3"),
      commitFrac: fc.double({ min: 0, max: 1, noNaN: true }),
    }),
    { nil: undefined },
  ),
}, { requiredKeys: ["back", "count", "term", "size", "seed"] });

function makeUpdate(mem: MemoryStorage, spec: AppendSpec): PersistUpdate {
  const last = mem.lastIndex();
  const first = Math.max(mem.firstIndex(), last + 1 - spec.back);
  const entries: Entry[] = [];
  for (let i = 0; i < spec.count; i++) {
    const data = new Uint8Array(spec.size);
    for (let j = 0; j < data.length; j++) {
      data[j] = (spec.seed + i * 31 + j) & 0xff;
    }
    entries.push({
      term: spec.term,
      index: first + i,
      type: (i % 2) as 0 | 1,
      data,
    });
  }
  let hardState: HardState | undefined;
  if (spec.hs) {
    hardState = {
      term: spec.hs.term,
      vote: spec.hs.vote,
      commit: Math.floor(spec.hs.commitFrac * (first + spec.count)),
    };
  }
  return { entries, hardState };
}

class AppendCmd implements fc.AsyncCommand<Model, Real> {
  constructor(readonly spec: AppendSpec) {}
  check = () => true;
  async run(m: Model, r: Real) {
    const u = makeUpdate(m.mem, this.spec);
    const p = r.store.save(u);
    m.mem.save(u);
    assertSameStore(r.store, m.mem, "before durable");
    await p;
    assertSameStore(r.store, m.mem, this.toString());
  }
  toString = () => `append(${JSON.stringify(this.spec)})`;
}

class GroupCmd implements fc.AsyncCommand<Model, Real> {
  constructor(readonly specs: AppendSpec[]) {}
  check = () => true;
  async run(m: Model, r: Real) {
    const ps: Promise<void>[] = [];
    for (const spec of this.specs) {
      const u = makeUpdate(m.mem, spec);
      ps.push(r.store.save(u));
      m.mem.save(u);
    }
    await Promise.all(ps);
    assertSameStore(r.store, m.mem, this.toString());
  }
  toString = () => `group(${this.specs.length})`;
}

class SnapshotCmd implements fc.AsyncCommand<Model, Real> {
  constructor(readonly frac: number, readonly beyond: boolean) {}
  check = () => true;
  async run(m: Model, r: Real) {
    const snapIndex = m.mem.firstIndex() - 1;
    const last = m.mem.lastIndex();
    const data = new TextEncoder().encode(`state ${this.frac}`);
    if (this.beyond) {
      assert.throws(() => m.mem.createSnapshot(last + 1, conf, data));
      await assert.rejects(r.store.createSnapshot(last + 1, conf, data));
    } else {
      const index = snapIndex + Math.round(this.frac * (last - snapIndex));
      const want = m.mem.createSnapshot(index, conf, data);
      const got = await r.store.createSnapshot(index, conf, data);
      assert.deepEqual(got.metadata, want.metadata);
    }
    assertSameStore(r.store, m.mem, this.toString());
  }
  toString = () => `snapshot(${this.frac}, ${this.beyond})`;
}

class InstallCmd implements fc.AsyncCommand<Model, Real> {
  constructor(readonly ahead: number, readonly count: number) {}
  check = () => true;
  async run(m: Model, r: Real) {
    const index = Math.max(0, m.mem.lastIndex() + this.ahead);
    const u: PersistUpdate = {
      snapshot: {
        metadata: { index, term: 7, conf: { voters: ["n1"], learners: [] } },
        data: new Uint8Array([index & 0xff, 1, 2]),
      },
      entries: [],
      hardState: { term: 7, vote: "", commit: index },
    };
    const base = Math.max(index, m.mem.lastIndex() - 1);
    for (let i = 0; i < this.count; i++) {
      u.entries.push({
        term: 7,
        index: Math.max(m.mem.firstIndex(), base + 1) + i,
        type: 0,
        data: new Uint8Array([i]),
      });
    }
    // Entries must connect to the log as it is after the snapshot.
    const after = m.mem.clone();
    try {
      after.save(u);
    } catch {
      u.entries = [];
    }
    const p = r.store.save(u);
    m.mem.save(u);
    await p;
    assertSameStore(r.store, m.mem, this.toString());
  }
  toString = () => `install(${this.ahead}, ${this.count})`;
}

class ReopenCmd implements fc.AsyncCommand<Model, Real> {
  check = () => true;
  async run(m: Model, r: Real) {
    await r.store.close();
    r.store = await DiskStorage.open(r.dir, {
      fs: noSyncFs,
      log: silentLog,
      segmentSize: r.segmentSize,
    });
    assertSameStore(r.store, m.mem, "after reopen");
  }
  toString = () => "reopen";
}

const commands = [
  appendSpec.map((s) => new AppendCmd(s)),
  appendSpec.map((s) => new AppendCmd(s)),
  fc.array(appendSpec, { minLength: 2, maxLength: 5 }).map((s) =>
    new GroupCmd(s)
  ),
  fc.tuple(fc.double({ min: 0, max: 1, noNaN: true }), fc.boolean()).map(
    ([f, b]) => new SnapshotCmd(f, b && f < 0.1),
  ),
  fc.tuple(fc.integer({ min: -4, max: 12 }), fc.nat(3)).map(([a, c]) =>
    new InstallCmd(a, c)
  ),
  fc.constant(new ReopenCmd()),
];

Deno.test("DiskStorage matches MemoryStorage over random operations and reopens", async (t) => {
  let ran = 0;
  await assertProperty(
    t,
    fc.asyncProperty(
      fc.commands(commands, { maxCommands: 60, size: "max" }),
      fc.integer({ min: 150, max: 3000 }),
      async (cmds, segmentSize) => {
        const dir = await Deno.makeTempDir({ prefix: "raftlock_prop_" });
        const real: Real = {
          dir,
          segmentSize,
          store: await DiskStorage.open(dir, {
            conf,
            fs: noSyncFs,
            log: silentLog,
            segmentSize,
          }),
        };
        const model: Model = { mem: new MemoryStorage({ conf }) };
        try {
          await fc.asyncModelRun(() => ({ model, real }), cmds);
          // Whatever the sequence, a final reopen reads the same.
          await new ReopenCmd().run(model, real);
          ran++;
        } finally {
          await real.store.close();
          await Deno.remove(dir, { recursive: true });
        }
      },
    ),
    { numRuns: RUNS },
  );
  assert.ok(ran >= RUNS);
});

const entryArb = fc.record({
  term: fc.nat({ max: 2 ** 40 }),
  type: fc.constantFrom(0 as const, 1 as const),
  data: fc.uint8Array({ maxLength: 64 }),
}).map((e) => ({ ...e }));

const itemArb: fc.Arbitrary<WalItem> = fc.oneof(
  fc.tuple(
    fc.integer({ min: 1, max: 2 ** 50 }),
    fc.array(entryArb, { maxLength: 8 }),
  ).map((
    [first, es],
  ) => ({
    kind: "entries" as const,
    entries: es.map((e, i) => ({ ...e, index: first + i })),
  })),
  fc.record({ term: fc.nat(), vote: fc.string(), commit: fc.nat() }).map((
    hs,
  ) => ({
    kind: "hardState" as const,
    hardState: { ...hs },
  })),
  fc.record({
    mode: fc.constantFrom("install" as const, "compact" as const),
    index: fc.nat(),
    term: fc.nat(),
    voters: fc.array(fc.string()),
    learners: fc.array(fc.string()),
  }).map(({ mode, index, term, voters, learners }) => ({
    kind: "snapshot" as const,
    mode,
    metadata: { index, term, conf: { voters, learners } },
  })),
);

Deno.test("batch records round-trip and any flipped bit is detected", (t) => {
  assertProperty(
    t,
    fc.property(
      fc.array(itemArb, { minLength: 1, maxLength: 6 }),
      fc.nat(),
      (items, flip) => {
        const frame = encodeBatch(items);
        const r = readFrame(frame, 0);
        assert.ok(r.frame);
        assert.equal(r.frame.end, frame.byteLength);
        assert.deepEqual(decodeBatch(r.frame.payload), items);
        const bad = frame.slice();
        const bit = flip % (bad.byteLength * 8);
        bad[bit >> 3] ^= 1 << (bit & 7);
        assert.equal(readFrame(bad, 0).frame, undefined);
      },
    ),
    { numRuns: 300 },
  );
});
