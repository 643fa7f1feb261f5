/**
 * The snapshot format of the state machine: the whole replicated state
 * (revision, keys, watch history, leases, locks, elections, semaphores,
 * read-write locks, duplicate-suppression table, users and roles) as one
 * msgpack map, written either at once
 * ({@linkcode encodeSnapshot}) or a chunk at a time with yields
 * ({@linkcode encodeSnapshotInto}), and read back by
 * {@linkcode decodeSnapshot}, which accepts both.
 *
 * Every table is encoded as fixed-shape tuples in a defined order, so
 * equal states give byte-identical snapshots.
 *
 * ```ts
 * import { decodeSnapshot, encodeSnapshot } from "./snapshot.ts";
 * import { AuthTable } from "./auth.ts";
 * import { DedupeTable } from "./dedupe.ts";
 * import { History } from "./history.ts";
 * import { KvStore } from "./kv.ts";
 * import { LeaseTable } from "./leases.ts";
 * import { LockTable } from "./locks.ts";
 * import { RecipeTables } from "./recipes.ts";
 *
 * const fresh = {
 *   history: () => new History(100, 1024 * 1024),
 *   dedupe: () => new DedupeTable(600_000, 100),
 * };
 * const bytes = encodeSnapshot({
 *   revision: 0,
 *   kv: new KvStore(),
 *   history: fresh.history(),
 *   leases: new LeaseTable(),
 *   locks: new LockTable(),
 *   recipes: new RecipeTables(),
 *   dedupe: fresh.dedupe(),
 *   auth: new AuthTable(),
 *   time: 0,
 *   alarms: [],
 * });
 * const state = decodeSnapshot(bytes, fresh);
 * console.log(state.revision); // 0
 * ```
 *
 * @module
 */

import { encode, encodeTransient } from "../codec/msgpack.ts";
import type { ByteWriter } from "../codec/byte_writer.ts";
import { readHeader, readValue, readValues, skipValues } from "./bytes.ts";
import { AuthTable } from "./auth.ts";
import {
  type DedupeBatch,
  dedupeKey,
  type DedupeTable,
  toLatin1,
} from "./dedupe.ts";
import type { History, WatchEvent } from "./history.ts";
import { KvStore } from "./kv.ts";
import { type LeaseRecord, LeaseTable } from "./leases.ts";
import { type LockRecord, LockTable, type WaiterRecord } from "./locks.ts";
import { RecipeTables } from "./recipes.ts";
import type { AlarmInfo, KeyValue } from "./results.ts";

/**
 * The version of the snapshot format, stored in its `v` field. Version 2
 * added users, roles and signing keys (`auth`); version 3 added elections,
 * semaphores and read-write locks, the key a lease was made for (a put with
 * `ttl`) as a fourth field of each lease, the cluster time (`time`), the
 * alarms (`alarms`) and a duplicate-suppression table of time-stamped
 * results (`dedupe`: `[stamp, keys, results]` per batch of requests stamped
 * by one `time` command, a key being `client \n seq` and a result its
 * msgpack bytes as a string of one-byte chars). Versions 1 and 2 are still
 * read (as auth off, no users; no recipes, no key-owned leases; time 0, no
 * alarms; their remembered results as not yet stamped).
 */
export const SNAPSHOT_VERSION = 3;

/** The tables a snapshot holds: the whole replicated state. */
export interface StateTables {
  /** The global revision. */
  revision: number;
  /** The keys. */
  kv: KvStore;
  /** The watch history. */
  history: History;
  /** The leases (and the next lease id). */
  leases: LeaseTable;
  /** The locks. */
  locks: LockTable;
  /** Elections, semaphores and read-write locks. */
  recipes: RecipeTables;
  /** The duplicate-suppression table. */
  dedupe: DedupeTable;
  /** Users, roles, the auth switch and the token signing keys. */
  auth: AuthTable;
  /** The cluster time of the last `time` command, in ms. */
  time: number;
  /** The alarms that are on, in key order (kind, then node). */
  alarms: AlarmInfo[];
}

/**
 * Makes the empty bounded tables a restore fills: their bounds are the
 * state machine's options, not part of the snapshot.
 */
export interface FreshTables {
  /** An empty watch history. */
  history(): History;
  /** An empty duplicate-suppression table. */
  dedupe(): DedupeTable;
}

/** Encodes the whole state; equal states give byte-identical snapshots. */
export function encodeSnapshot(state: StateTables): Uint8Array {
  return encode({
    v: SNAPSHOT_VERSION,
    revision: state.revision,
    nextLeaseId: state.leases.nextId,
    compactRevision: state.history.compactRevision,
    kvs: [...state.kv.entries()].map(kvTuple),
    leases: [...state.leases.values()].map(leaseTuple),
    locks: state.locks.sorted().map(lockTuple),
    ...state.recipes.toSnapshot(),
    history: state.history.toArray().map(eventTuple),
    dedupe: state.dedupe.capture().batches.map(batchTuple),
    auth: state.auth.toTuple(),
    time: state.time,
    alarms: state.alarms.map(alarmTuple),
  });
}

/**
 * The same state as {@linkcode encodeSnapshot}, written at the end of
 * `out`, the two big arrays a chunk of about `chunkBytes` at a time with a
 * yield to the event loop in between. The state is captured before the
 * first await, so later changes to the tables do not show. The bytes
 * differ from `encodeSnapshot`'s (array headers), the decoded state does
 * not.
 */
export async function encodeSnapshotInto(
  out: ByteWriter,
  state: StateTables,
  chunkBytes: number,
): Promise<void> {
  // Capture, all before the first await: the keys through a capture of
  // the store (a copy of its sorted key list, not of 100 000 records: the
  // store keeps the old record of any key written meanwhile), the history's
  // frozen events, the stamped dedupe batches (they never change: held,
  // not copied), the other (small) tables as fresh tuples.
  const kvs = state.kv.capture();
  try {
    const history = state.history.toArray();
    const dedupe = state.dedupe.capture();
    const fields: [string, unknown][] = [
      ["v", SNAPSHOT_VERSION],
      ["revision", state.revision],
      ["nextLeaseId", state.leases.nextId],
      ["compactRevision", state.history.compactRevision],
      ["leases", [...state.leases.values()].map(leaseTuple)],
      ["locks", state.locks.sorted().map(lockTuple)],
      ...Object.entries(state.recipes.toSnapshot()),
      ["auth", state.auth.toTuple()],
      ["time", state.time],
      ["alarms", state.alarms.map(alarmTuple)],
    ];
    // A msgpack map written by hand: the three big arrays ("dedupe",
    // "history" and "kvs") are written as separately encoded chunks of
    // about `chunkBytes`, with a yield to the event loop after each.
    // A fixmap holds at most 15 entries.
    if (fields.length + 3 > 15) {
      throw new Error("Snapshot map has too many fields");
    }
    const head: Uint8Array[] = [Uint8Array.of(0x80 | (fields.length + 3))];
    for (const [k, v] of fields) head.push(encode(k), encode(v));
    // Room for everything at once (about 30 bytes of framing and numbers
    // per item; more is needed only for non-ASCII text), so the buffer is
    // allocated once instead of grown by copying. Summed a slice at a
    // time: 100 000 keys take a few ms.
    let estimate = 64;
    for (const h of head) estimate += h.byteLength;
    for (const e of history) estimate += 32 + eventWeight(e);
    for (let i = 0; i < kvs.length; i++) {
      estimate += 32 + kvWeight(kvs.at(i));
      if (i % ESTIMATE_SLICE === ESTIMATE_SLICE - 1) await yieldNow();
    }
    estimate += 2 * state.dedupe.bytes;
    await out.reserve(estimate);
    for (const h of head) out.write(h);
    await encodeDedupeChunked(out, dedupe.batches, chunkBytes);
    await encodeChunked(
      out,
      "history",
      history,
      eventTuple,
      eventWeight,
      chunkBytes,
    );
    await encodeChunked(out, "kvs", kvs, kvTuple, kvWeight, chunkBytes);
  } finally {
    kvs.close();
  }
}

// Records summed between yields when estimating a snapshot's size.
const ESTIMATE_SLICE = 20_000;

function yieldNow(): Promise<void> {
  return new Promise((r) => setTimeout(r, 0));
}

/**
 * Reads a snapshot (of either encoding) into new tables, made empty by
 * `fresh` and filled. Throws if `data` is not a snapshot of this state
 * machine; nothing outside the new tables is touched.
 */
export function decodeSnapshot(
  data: Uint8Array,
  fresh: FreshTables,
): StateTables {
  let s: SnapshotFields;
  try {
    s = readSnapshotFields(data);
  } catch (e) {
    throw new Error(`Snapshot is not valid msgpack: ${message(e)}`);
  }
  if (s.v !== SNAPSHOT_VERSION && s.v !== 1 && s.v !== 2) {
    throw new Error(
      `Snapshot is not a raftlock state snapshot (version ${SNAPSHOT_VERSION})`,
    );
  }
  try {
    return load(data, s, fresh);
  } catch (e) {
    throw new Error(`Snapshot is malformed: ${message(e)}`);
  }
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function eventWeight(e: WatchEvent): number {
  return e.key.length + (e.type === "put" ? e.value.length : 0);
}

function kvWeight(kv: KeyValue): number {
  return kv.key.length + kv.value.length;
}

function batchTuple(b: DedupeBatch): unknown[] {
  return [b.stamp, b.keys, b.values];
}

// Bytes of a batch's encoding, about (keys, and results whose chars above
// 0x7f take two bytes as UTF-8).
function batchWeight(b: DedupeBatch): number {
  let n = 16;
  for (let i = 0; i < b.keys.length; i++) {
    n += 4 + b.keys[i].length + 2 * b.values[i].length;
  }
  return n;
}

// Writes `key` and an array32 of `items` (as tuples) to `out`, encoding
// about `chunkBytes` of them at a time and yielding in between.
async function encodeChunked<T>(
  out: ByteWriter,
  key: string,
  items: { readonly length: number; at(i: number): T | undefined },
  tuple: (item: T) => unknown,
  weight: (item: T) => number,
  chunkBytes: number,
): Promise<void> {
  const header = new Uint8Array(5);
  header[0] = 0xdd;
  new DataView(header.buffer).setUint32(1, items.length);
  out.write(encode(key));
  out.write(header);
  let start = 0;
  while (start < items.length) {
    let end = start;
    let bytes = 0;
    const chunk: unknown[] = [];
    while (end < items.length && (end === start || bytes < chunkBytes)) {
      const item = items.at(end++)!;
      bytes += 16 + weight(item);
      chunk.push(tuple(item));
    }
    await out.reserve(bytes + 16 * (end - start));
    // Copied out before anything else can encode, so the encoder's buffer
    // is reused for the next chunk rather than left behind.
    const packed = encodeTransient(chunk);
    out.write(packed.subarray(arrayHeaderLength(packed[0])));
    start = end;
    await yieldNow();
  }
}

// Writes "dedupe" as an array32 of [stamp, keys, results], one per batch,
// about `chunkBytes` at a time with a yield in between.
async function encodeDedupeChunked(
  out: ByteWriter,
  batches: readonly DedupeBatch[],
  chunkBytes: number,
): Promise<void> {
  const header = new Uint8Array(5);
  header[0] = 0xdd;
  new DataView(header.buffer).setUint32(1, batches.length);
  out.write(encode("dedupe"));
  out.write(header);
  let start = 0;
  while (start < batches.length) {
    let end = start;
    let bytes = 0;
    while (end < batches.length && (end === start || bytes < chunkBytes)) {
      bytes += batchWeight(batches[end++]);
    }
    await out.reserve(bytes);
    const packed = encodeTransient(batches.slice(start, end).map(batchTuple));
    out.write(packed.subarray(arrayHeaderLength(packed[0])));
    start = end;
    await new Promise((r) => setTimeout(r, 0));
  }
}

// The length of a msgpack array header from its first byte.
function arrayHeaderLength(b: number): number {
  if ((b & 0xf0) === 0x90) return 1;
  if (b === 0xdc) return 3;
  if (b === 0xdd) return 5;
  throw new Error(`Not a msgpack array header: 0x${b.toString(16)}`);
}

// Builds the tables from a snapshot whose small fields are decoded and
// whose two big arrays ("kvs", "history") are read a value at a time from
// `data`, in one pass.
function load(
  data: Uint8Array,
  s: SnapshotFields,
  fresh: FreshTables,
): StateTables {
  const revision = int(s.values.revision);
  const nextLeaseId = int(s.values.nextLeaseId);
  const compactRevision = int(s.values.compactRevision);

  const leases = new LeaseTable();
  leases.load(
    arr(s.values.leases).map((t) => {
      // Version 3 added the key a lease was made for.
      const [id, ttl, keepaliveIndex, ownerKey] = tuple(t, s.v === 3 ? 4 : 3);
      return {
        id: int(id),
        ttl: int(ttl),
        keepaliveIndex: int(keepaliveIndex),
        ownerKey: ownerKey === undefined || ownerKey === null
          ? null
          : text(ownerKey),
      };
    }),
    nextLeaseId,
  );
  const leaseOf = (id: number): LeaseRecord => {
    const rec = leases.get(id);
    if (!rec) throw new Error(`missing lease ${id}`);
    return rec;
  };

  // The two big arrays in the order they were written (encodeSnapshot
  // puts the keys first, encodeSnapshotInto the history). A key's newest put
  // event usually carries the record's value: whichever is read second
  // reuses the first one's string when they are equal, as the live state
  // shares them, instead of keeping a second copy.
  const kv = new KvStore();
  const events: WatchEvent[] = [];
  const latestPut = new Map<string, string>();
  const readKvs = () => {
    const { at, count } = s.arrays.kvs!;
    readValues(data, at, count, (t) => {
      const [key, value, createRevision, modRevision, version, lease] = tuple(
        t,
        6,
      );
      const k = text(key);
      const mod = int(modRevision);
      const v = text(value);
      const shared = latestPut.get(k);
      const rec: KeyValue = {
        key: k,
        value: shared === v ? shared : v,
        createRevision: int(createRevision),
        modRevision: mod,
        version: int(version),
      };
      if (int(lease) !== 0) {
        rec.lease = int(lease);
        leaseOf(rec.lease).keys.add(rec.key);
      }
      kv.set(rec);
    });
    latestPut.clear();
  };
  const readHistory = () => {
    const { at, count } = s.arrays.history!;
    readValues(data, at, count, (t) => {
      const a = arr(t);
      if (a[0] === 1) {
        const [, key, rev, value, createRevision, version, lease] = tuple(
          a,
          7,
        );
        const k = text(key);
        const r = int(rev);
        const v = text(value);
        const shared = kv.get(k)?.value;
        const e: WatchEvent = {
          type: "put",
          key: k,
          value: shared === v ? shared : v,
          modRevision: r,
          revision: r,
          createRevision: int(createRevision),
          version: int(version),
        };
        if (int(lease) !== 0) e.lease = int(lease);
        events.push(e);
        if (kv.size === 0) latestPut.set(k, v);
        return;
      }
      const [, key, rev] = tuple(a, 3);
      events.push({
        type: "delete",
        key: text(key),
        modRevision: int(rev),
        revision: int(rev),
      });
    });
  };
  if (!s.arrays.kvs || !s.arrays.history) {
    throw new Error("missing kvs or history");
  }
  if (s.arrays.kvs.at < s.arrays.history.at) {
    readKvs();
    readHistory();
  } else {
    readHistory();
    readKvs();
  }

  const locks = new LockTable();
  for (const t of arr(s.values.locks)) {
    const [name, holder, waiters, delay] = tuple(t, 4);
    const lock = locks.ensure(text(name));
    if (holder !== null) {
      const [token, lease, owner, waiterId, lockDelay, createdLease] = tuple(
        holder,
        6,
      );
      lock.holder = {
        token: int(token),
        lease: int(lease),
        owner: text(owner),
        waiterId: waiterId === null ? null : text(waiterId),
        lockDelay: int(lockDelay),
        createdLease: bool(createdLease),
      };
      leaseOf(lock.holder.lease).locks.add(lock.name);
    }
    for (const wt of arr(waiters)) {
      const [waiterId, lease, owner, lockDelay, createdLease] = tuple(wt, 5);
      const w: WaiterRecord = {
        waiterId: text(waiterId),
        lease: int(lease),
        owner: text(owner),
        lockDelay: int(lockDelay),
        createdLease: bool(createdLease),
      };
      lock.waiters.push(w);
      LeaseTable.addWaiter(leaseOf(w.lease), lock.name, w.waiterId);
    }
    if (delay !== null) {
      const [delayMs, rev] = tuple(delay, 2);
      lock.delay = { delayMs: int(delayMs), revision: int(rev) };
    }
  }

  // Versions 1 and 2 had no recipes: the fields are absent.
  const recipes = RecipeTables.fromSnapshot(s.values, leaseOf);

  const history = fresh.history();
  history.load(events, compactRevision);

  const dedupe = fresh.dedupe();
  const batches: DedupeBatch[] = [];
  const bin = (v: unknown): Uint8Array => {
    if (!(v instanceof Uint8Array)) throw new Error("bad result");
    return v;
  };
  const texts = (v: unknown): string[] => {
    const a = arr(v);
    for (const x of a) text(x);
    return a as string[];
  };
  const span = s.arrays.dedupe;
  if (span && (s.v === 1 || s.v === 2)) {
    // Per client, without stamps: kept as not yet stamped.
    const fresh = { stamp: -1, keys: [] as string[], values: [] as string[] };
    readValues(data, span.at, span.count, (t) => {
      const [client, results] = tuple(t, 2);
      for (const r of arr(results)) {
        const [seq, bytes] = tuple(r, 2);
        fresh.keys.push(dedupeKey(text(client), int(seq)));
        fresh.values.push(toLatin1(bin(bytes)));
      }
    });
    batches.push(fresh);
  } else if (span) {
    readValues(data, span.at, span.count, (t) => {
      const [stamp, keys, values] = tuple(t, 3);
      if (typeof stamp !== "number" || !Number.isSafeInteger(stamp)) {
        throw new Error("bad stamp");
      }
      batches.push({ stamp, keys: texts(keys), values: texts(values) });
    });
  }
  dedupe.load(batches);

  // Version 1 had no auth: off, no users.
  const auth = s.v === 1 ? new AuthTable() : AuthTable.fromTuple(s.values.auth);
  const time = s.values.time === undefined ? 0 : int(s.values.time);
  const alarms = s.values.alarms === undefined
    ? []
    : arr(s.values.alarms).map((t): AlarmInfo => {
      const [kind, node, detail, since] = tuple(t, 4);
      if (kind !== "quota" && kind !== "nospace") {
        throw new Error("bad alarm kind");
      }
      const a: AlarmInfo = { kind, detail: text(detail), since: int(since) };
      if (node !== null) a.node = text(node);
      return a;
    });

  return {
    revision,
    kv,
    history,
    leases,
    locks,
    recipes,
    dedupe,
    auth,
    time,
    alarms,
  };
}

// A snapshot's top-level map with the two big arrays left in place: their
// items are read later, one at a time, straight into the new state.
interface SnapshotFields {
  v: unknown;
  /** Every other field, decoded. */
  values: Record<string, unknown>;
  /** Where the items of the big arrays start, and how many there are. */
  arrays: { kvs?: ArraySpan; history?: ArraySpan; dedupe?: ArraySpan };
}

interface ArraySpan {
  at: number;
  count: number;
}

function readSnapshotFields(data: Uint8Array): SnapshotFields {
  const out: SnapshotFields = { v: undefined, values: {}, arrays: {} };
  let [n, p] = readHeader(data, 0, "map");
  for (; n > 0; n--) {
    const [key, at] = readValue(data, p);
    if (key === "kvs" || key === "history" || key === "dedupe") {
      const [count, first] = readHeader(data, at, "array");
      out.arrays[key] = { at: first, count };
      p = skipValues(data, first, count);
    } else {
      const [value, next] = readValue(data, at);
      if (key === "v") out.v = value;
      else if (typeof key === "string") out.values[key] = value;
      p = next;
    }
  }
  // As decoding the whole snapshot would: trailing bytes are damage.
  if (p !== data.byteLength) {
    throw new Error("Data read, but end of buffer not reached");
  }
  return out;
}

// Snapshot encodings: fixed-shape tuples, so equal states encode to equal
// bytes (0 stands for "no lease", null for "none").

function kvTuple(k: KeyValue): unknown[] {
  return [
    k.key,
    k.value,
    k.createRevision,
    k.modRevision,
    k.version,
    k.lease ?? 0,
  ];
}

function leaseTuple(l: LeaseRecord): unknown[] {
  return [l.id, l.ttl, l.keepaliveIndex, l.ownerKey];
}

function lockTuple(l: LockRecord): unknown[] {
  const h = l.holder;
  return [
    l.name,
    h
      ? [h.token, h.lease, h.owner, h.waiterId, h.lockDelay, h.createdLease]
      : null,
    l.waiters.map((w) => [
      w.waiterId,
      w.lease,
      w.owner,
      w.lockDelay,
      w.createdLease,
    ]),
    l.delay ? [l.delay.delayMs, l.delay.revision] : null,
  ];
}

function alarmTuple(a: AlarmInfo): unknown[] {
  return [a.kind, a.node ?? null, a.detail, a.since];
}

function eventTuple(e: WatchEvent): unknown[] {
  return e.type === "put"
    ? [1, e.key, e.revision, e.value, e.createRevision, e.version, e.lease ?? 0]
    : [0, e.key, e.revision];
}

function int(v: unknown): number {
  if (typeof v !== "number" || !Number.isSafeInteger(v)) {
    throw new Error(`expected an integer, got ${typeof v}`);
  }
  return v;
}

function text(v: unknown): string {
  if (typeof v !== "string") {
    throw new Error(`expected a string, got ${typeof v}`);
  }
  return v;
}

function bool(v: unknown): boolean {
  if (typeof v !== "boolean") {
    throw new Error(`expected a boolean, got ${typeof v}`);
  }
  return v;
}

function arr(v: unknown): unknown[] {
  if (!Array.isArray(v)) throw new Error(`expected an array, got ${typeof v}`);
  return v;
}

function tuple(v: unknown, n: number): unknown[] {
  const a = arr(v);
  if (a.length !== n) throw new Error(`expected ${n} fields, got ${a.length}`);
  return a;
}
