/**
 * The snapshot format of the state machine: the whole replicated state
 * (revision, keys, watch history, leases, locks, duplicate-suppression
 * table, users and roles) as one msgpack map, written either at once
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
 *
 * const fresh = {
 *   history: () => new History(100, 1024 * 1024),
 *   dedupe: () => new DedupeTable(8, 100),
 * };
 * const bytes = encodeSnapshot({
 *   revision: 0,
 *   kv: new KvStore(),
 *   history: fresh.history(),
 *   leases: new LeaseTable(),
 *   locks: new LockTable(),
 *   dedupe: fresh.dedupe(),
 *   auth: new AuthTable(),
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
import type { DedupeClientEntry, DedupeTable } from "./dedupe.ts";
import type { History, WatchEvent } from "./history.ts";
import { KvStore } from "./kv.ts";
import { type LeaseRecord, LeaseTable } from "./leases.ts";
import { type LockRecord, LockTable, type WaiterRecord } from "./locks.ts";
import type { KeyValue } from "./results.ts";

/**
 * The version of the snapshot format, stored in its `v` field. Version 2
 * added users, roles and signing keys (`auth`); version 1 snapshots are
 * still read (as auth off, no users).
 */
export const SNAPSHOT_VERSION = 2;

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
  /** The duplicate-suppression table. */
  dedupe: DedupeTable;
  /** Users, roles, the auth switch and the token signing keys. */
  auth: AuthTable;
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
    history: state.history.toArray().map(eventTuple),
    dedupe: state.dedupe.entries(),
    auth: state.auth.toTuple(),
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
  // frozen events, the other (small) tables as fresh tuples.
  const kvs = state.kv.capture();
  try {
    const history = state.history.toArray();
    const fields: [string, unknown][] = [
      ["v", SNAPSHOT_VERSION],
      ["revision", state.revision],
      ["nextLeaseId", state.leases.nextId],
      ["compactRevision", state.history.compactRevision],
      ["leases", [...state.leases.values()].map(leaseTuple)],
      ["locks", state.locks.sorted().map(lockTuple)],
      ["dedupe", state.dedupe.entries()],
      ["auth", state.auth.toTuple()],
    ];
    // A msgpack map written by hand: the two big arrays ("history" and
    // "kvs") are written as separately encoded chunks of about
    // `chunkBytes`, with a yield to the event loop after each.
    const head: Uint8Array[] = [Uint8Array.of(0x80 | (fields.length + 2))];
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
    await out.reserve(estimate);
    for (const h of head) out.write(h);
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
  if (s.v !== SNAPSHOT_VERSION && s.v !== 1) {
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
      const [id, ttl, keepaliveIndex] = tuple(t, 3);
      return {
        id: int(id),
        ttl: int(ttl),
        keepaliveIndex: int(keepaliveIndex),
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

  const history = fresh.history();
  history.load(events, compactRevision);

  const dedupe = fresh.dedupe();
  dedupe.load(
    arr(s.values.dedupe).map((t): DedupeClientEntry => {
      const [client, results] = tuple(t, 2);
      return [
        text(client),
        arr(results).map((r): [number, Uint8Array] => {
          const [seq, bytes] = tuple(r, 2);
          if (!(bytes instanceof Uint8Array)) throw new Error("bad result");
          return [int(seq), bytes];
        }),
      ];
    }),
  );

  // Version 1 had no auth: off, no users.
  const auth = s.v === 1 ? new AuthTable() : AuthTable.fromTuple(s.values.auth);

  return { revision, kv, history, leases, locks, dedupe, auth };
}

// A snapshot's top-level map with the two big arrays left in place: their
// items are read later, one at a time, straight into the new state.
interface SnapshotFields {
  v: unknown;
  /** Every other field, decoded. */
  values: Record<string, unknown>;
  /** Where the items of "kvs" and "history" start, and how many there are. */
  arrays: { kvs?: ArraySpan; history?: ArraySpan };
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
    if (key === "kvs" || key === "history") {
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
  return [l.id, l.ttl, l.keepaliveIndex];
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
