/**
 * WAL measurements.
 *
 * `deno run -A bench/wal_bench.ts [--dir DIR] [--seconds N]` prints:
 *
 * 1. the physical limit: raw `write` of 256 bytes + `syncData()`, per second;
 * 2. DiskStorage appends of batches of 1, 16 and 256 entries of 256 bytes,
 *    one `save()` awaited at a time: entries/s, syncs/s, latency vs raw;
 * 3. group commit: 64 concurrent proposers saving one entry each;
 * 4. recovery time of a 64 MiB WAL;
 * 0. the entry record codec: fixed binary layout vs msgpackr (first, before
 *    the I/O runs leave garbage behind).
 *
 * Under `deno bench` it registers the codec micro-benchmarks only.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { Packr } from "msgpackr";
import { decode, encode } from "../src/codec/msgpack.ts";
import type { Entry } from "../src/raft/types.ts";
import { DiskStorage } from "../src/storage/disk_storage.ts";
import {
  BatchEncoder,
  decodeBatch,
  encodeBatch,
} from "../src/storage/wal/record.ts";

const ENTRY_BYTES = 256;
const quiet = () => {};

function makeEntries(first: number, n: number, term = 1): Entry[] {
  const out: Entry[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const data = new Uint8Array(ENTRY_BYTES);
    data.fill((first + i) & 0xff);
    out[i] = { term, index: first + i, type: 0, data };
  }
  return out;
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
}

function fmt(n: number, digits = 0): string {
  return n.toLocaleString("en-US", {
    maximumFractionDigits: digits,
    minimumFractionDigits: digits,
  });
}

/** Latencies and wall time of one measured run. */
class Sample {
  lat: number[] = [];
  ms = 0;
  syncs = 0;
  entries = 0;

  add(o: Sample): void {
    for (const l of o.lat) this.lat.push(l);
    this.ms += o.ms;
    this.syncs += o.syncs;
    this.entries += o.entries;
  }

  get meanMs(): number {
    return this.ms / this.lat.length;
  }
  get opsPerSec(): number {
    return (this.lat.length / this.ms) * 1000;
  }
  get entriesPerSec(): number {
    return (this.entries / this.ms) * 1000;
  }
  get syncsPerSec(): number {
    return (this.syncs / this.ms) * 1000;
  }
  pct(p: number): number {
    const s = [...this.lat].sort((a, b) => a - b);
    return pct(s, p);
  }
}

/** write(256 B) + syncData() on a plain file: the physical limit. */
class RawRunner {
  #f!: Deno.FsFile;
  #buf = new Uint8Array(ENTRY_BYTES).fill(7);

  async open(dir: string): Promise<void> {
    this.#f = await Deno.open(`${dir}/raw.bin`, {
      write: true,
      create: true,
      append: true,
    });
    await this.run(100);
  }

  async run(ms: number): Promise<Sample> {
    const s = new Sample();
    const t0 = performance.now();
    const end = t0 + ms;
    while (performance.now() < end) {
      const t = performance.now();
      await this.#f.write(this.#buf);
      await this.#f.syncData();
      s.lat.push(performance.now() - t);
    }
    s.ms = performance.now() - t0;
    s.syncs = s.entries = s.lat.length;
    return s;
  }

  close(): void {
    this.#f.close();
  }
}

/** DiskStorage.save() of `batch` entries, one awaited at a time. */
class WalRunner {
  #store!: DiskStorage;
  #next = 1;
  #pool: Entry[];
  readonly batch: number;

  constructor(batch: number) {
    this.batch = batch;
    // Pre-built entries: the benchmark measures the store, not the test data.
    this.#pool = makeEntries(1, batch);
  }

  async open(dir: string): Promise<void> {
    this.#store = await DiskStorage.open(`${dir}/append_${this.batch}`, {
      log: quiet,
      conf: { voters: ["n1"], learners: [] },
    });
    await this.run(100);
  }

  #take(): Entry[] {
    const next = this.#next;
    this.#next += this.batch;
    return this.#pool.map((e, i) => ({ ...e, index: next + i }));
  }

  async run(ms: number): Promise<Sample> {
    const s = new Sample();
    const syncs0 = this.#store.stats.syncs;
    const t0 = performance.now();
    const end = t0 + ms;
    while (performance.now() < end) {
      const ents = this.#take();
      const t = performance.now();
      await this.#store.save({ entries: ents });
      s.lat.push(performance.now() - t);
      s.entries += this.batch;
    }
    s.ms = performance.now() - t0;
    s.syncs = this.#store.stats.syncs - syncs0;
    return s;
  }

  close(): Promise<void> {
    return this.#store.close();
  }
}

/**
 * Alternates short runs of the raw loop and the WAL loop so both see the
 * same disk weather (this is a shared VM disk), and sums each side.
 */
async function interleaved(
  dir: string,
  batch: number,
  seconds: number,
): Promise<{ raw: Sample; wal: Sample }> {
  const rounds = 8;
  const raw = new RawRunner();
  const wal = new WalRunner(batch);
  await raw.open(dir);
  await wal.open(dir);
  const r = new Sample();
  const w = new Sample();
  try {
    for (let i = 0; i < rounds; i++) {
      r.add(await raw.run((seconds * 500) / rounds));
      w.add(await wal.run((seconds * 500) / rounds));
    }
  } finally {
    raw.close();
    await wal.close();
  }
  return { raw: r, wal: w };
}

async function groupCommit(
  dir: string,
  proposers: number,
  seconds: number,
): Promise<{ entriesPerSec: number; syncsPerSec: number; perSync: number }> {
  const path = `${dir}/group`;
  const store = await DiskStorage.open(path, { log: quiet });
  let next = 1;
  const data = new Uint8Array(ENTRY_BYTES).fill(3);
  let stop = false;
  let entries = 0;
  const syncs0 = store.stats.syncs;
  const t0 = performance.now();
  const worker = async () => {
    while (!stop) {
      // Each proposer appends the next index; saves are applied in call
      // order, so the log stays consecutive.
      await store.save({
        entries: [{ term: 1, index: next++, type: 0, data }],
      });
      entries++;
    }
  };
  const ws = Array.from({ length: proposers }, worker);
  await new Promise((r) => setTimeout(r, seconds * 1000));
  stop = true;
  await Promise.all(ws);
  const total = performance.now() - t0;
  const syncs = store.stats.syncs - syncs0;
  await store.close();
  await Deno.remove(path, { recursive: true });
  return {
    entriesPerSec: (entries / total) * 1000,
    syncsPerSec: (syncs / total) * 1000,
    perSync: entries / syncs,
  };
}

async function recovery(
  dir: string,
  runs: number,
): Promise<{ ms: number[]; entries: number; bytes: number; segments: number }> {
  const path = `${dir}/recovery`;
  const store = await DiskStorage.open(path, { log: quiet });
  const target = 64 * 1024 * 1024;
  let next = 1;
  const pool = makeEntries(1, 256);
  // Fill one segment to just under 64 MiB.
  while (store.stats.bytes + 256 * (ENTRY_BYTES + 13) + 64 < target) {
    await store.save({
      entries: pool.map((e, i) => ({ ...e, index: next + i })),
      hardState: { term: 1, vote: "n1", commit: next },
    });
    next += 256;
  }
  const bytes = store.stats.bytes;
  await store.close();
  const ms: number[] = [];
  let segments = 0;
  let entries = 0;
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    const s = await DiskStorage.open(path, { log: quiet });
    ms.push(performance.now() - t);
    entries = s.lastIndex();
    segments = s.segments.length;
    await s.close();
  }
  await Deno.remove(path, { recursive: true });
  return { ms, entries, bytes, segments };
}

function timeIt(fn: () => void, minMs = 500): number {
  for (let i = 0; i < 20; i++) fn();
  let n = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < minMs) {
    fn();
    n++;
  }
  return ((performance.now() - t0) / n) * 1000; // µs per call
}

const batch256 = makeEntries(1, 256);
const msgpackEntries = () =>
  encode(batch256.map((e) => [e.term, e.index, e.type, e.data]));
// The WAL encodes into one reused buffer (see BatchEncoder); msgpackr
// reuses its own buffer too, so both sides compare like for like.
const encoder = new BatchEncoder();
const batchItems = [[{ kind: "entries" as const, entries: batch256 }]];
const fixedEntries = () => encoder.encode(batchItems);
// A Packr with record structures, msgpackr's fastest mode, for reference.
const recordsPackr = new Packr({ useRecords: true });

function codec(): {
  fixedEncUs: number;
  msgpackEncUs: number;
  recordsEncUs: number;
  fixedDecUs: number;
  msgpackDecUs: number;
  fixedBytes: number;
  msgpackBytes: number;
} {
  const fixed = encodeBatch(batchItems[0]);
  const mp = msgpackEntries();
  const payload = fixed.subarray(9);
  return {
    fixedEncUs: timeIt(fixedEntries),
    msgpackEncUs: timeIt(msgpackEntries),
    recordsEncUs: timeIt(() => recordsPackr.pack(batch256)),
    fixedDecUs: timeIt(() => decodeBatch(payload)),
    msgpackDecUs: timeIt(() => decode(mp)),
    fixedBytes: fixed.byteLength,
    msgpackBytes: mp.byteLength,
  };
}

async function main(): Promise<void> {
  const args = parseArgs({
    args: Deno.args,
    options: {
      dir: { type: "string" },
      seconds: { type: "string", default: "3" },
    },
  });
  const seconds = Number(args.values.seconds);
  const base = args.values.dir ?? Deno.cwd();
  const dir = await Deno.makeTempDir({ dir: base, prefix: ".wal_bench_" });
  console.log(
    `WAL benchmark in ${dir} (${seconds} s per figure), ${ENTRY_BYTES}-byte entries\n`,
  );
  try {
    const c = codec();
    console.log("0. Entry record codec, 256 entries of 256 B");
    console.log(
      `   fixed layout: encode ${fmt(c.fixedEncUs, 1)} µs, decode ${
        fmt(c.fixedDecUs, 1)
      } µs, ${fmt(c.fixedBytes)} bytes`,
    );
    console.log(
      `   msgpackr:     encode ${fmt(c.msgpackEncUs, 1)} µs, decode ${
        fmt(c.msgpackDecUs, 1)
      } µs, ${fmt(c.msgpackBytes)} bytes (records mode encode ${
        fmt(c.recordsEncUs, 1)
      } µs)`,
    );
    console.log(
      `   fixed is ${
        fmt(c.msgpackEncUs / c.fixedEncUs, 1)
      }× faster to encode and ${
        fmt(c.msgpackDecUs / c.fixedDecUs, 1)
      }× faster to decode`,
    );
    console.log();
    const runs: { batch: number; raw: Sample; wal: Sample }[] = [];
    const allRaw = new Sample();
    for (const batch of [1, 16, 256]) {
      const { raw, wal } = await interleaved(dir, batch, seconds);
      runs.push({ batch, raw, wal });
      allRaw.add(raw);
    }
    console.log("1. Physical limit: write(256 B) + syncData() on a plain file");
    console.log(
      `   ${fmt(allRaw.opsPerSec)} syncs/s   mean ${
        fmt(allRaw.meanMs, 3)
      } ms   p50 ${fmt(allRaw.pct(0.5), 3)} ms   p99 ${
        fmt(allRaw.pct(0.99), 3)
      } ms\n`,
    );
    console.log(
      "2. DiskStorage.save() of a batch of entries, one awaited at a time",
    );
    console.log(
      "   (each row alternates 8 short runs with the raw loop; ratios use those raw runs)",
    );
    console.log(
      "   batch   entries/s     syncs/s   mean ms   p50 ms   p99 ms   mean / raw mean   p50 / raw p50",
    );
    for (const { batch, raw, wal } of runs) {
      console.log(
        `   ${String(batch).padStart(5)}  ${
          fmt(wal.entriesPerSec).padStart(10)
        }  ${fmt(wal.syncsPerSec).padStart(10)}   ${
          fmt(wal.meanMs, 3).padStart(7)
        }  ${fmt(wal.pct(0.5), 3).padStart(7)}  ${
          fmt(wal.pct(0.99), 3).padStart(7)
        }   ${fmt(wal.meanMs / raw.meanMs, 2).padStart(14)}×   ${
          fmt(wal.pct(0.5) / raw.pct(0.5), 2).padStart(12)
        }×`,
      );
    }
    const b1 = runs[0];
    const b256 = runs[2];
    const ratio = b1.wal.meanMs / b1.raw.meanMs;
    console.log(
      `   batch 1: mean latency ${
        fmt(ratio, 2)
      }× the raw sync (target ≤ 1.3×): ${ratio <= 1.3 ? "met" : "NOT met"}`,
    );
    console.log(
      `   batch 256: ${
        fmt(b256.wal.entriesPerSec)
      } entries/s (target ≥ 150,000): ${
        b256.wal.entriesPerSec >= 150_000 ? "met" : "NOT met"
      }\n`,
    );

    const g = await groupCommit(dir, 64, seconds);
    console.log(
      "3. Group commit: 64 concurrent proposers, one entry per save()",
    );
    console.log(
      `   ${fmt(g.entriesPerSec)} entries/s   ${fmt(g.syncsPerSec)} syncs/s   ${
        fmt(g.perSync, 1)
      } entries per sync\n`,
    );

    const rec = await recovery(dir, 5);
    const sorted = [...rec.ms].sort((a, b) => a - b);
    const median = sorted[Math.floor(sorted.length / 2)];
    console.log(
      `4. Recovery of a ${fmt(rec.bytes / 1024 / 1024, 1)} MiB WAL (${
        fmt(rec.entries)
      } entries, ${rec.segments} segment)`,
    );
    console.log(
      `   DiskStorage.open: median ${fmt(median, 1)} ms, min ${
        fmt(sorted[0], 1)
      } ms, max ${fmt(sorted.at(-1)!, 1)} ms (target < 1000 ms): ${
        median < 1000 ? "met" : "NOT met"
      }\n`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

if (import.meta.main) {
  await main();
} else {
  Deno.bench("entries record: fixed layout encode (256 × 256 B)", {
    group: "encode",
    baseline: true,
  }, () => {
    fixedEntries();
  });
  Deno.bench("entries record: msgpackr encode (256 × 256 B)", {
    group: "encode",
  }, () => {
    msgpackEntries();
  });
  const payload = encodeBatch(batchItems[0]).subarray(9);
  const mp = msgpackEntries();
  Deno.bench("entries record: fixed layout decode", {
    group: "decode",
    baseline: true,
  }, () => {
    decodeBatch(payload);
  });
  Deno.bench("entries record: msgpackr decode", { group: "decode" }, () => {
    decode(mp);
  });
}
