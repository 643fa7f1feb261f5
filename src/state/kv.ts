/**
 * The key space: a map of immutable {@linkcode KeyValue} records plus a
 * sorted index for prefix listing. Keys sort by Unicode code point, which
 * is the byte order of their UTF-8 encoding (as in etcd).
 *
 * @module
 */

import type { KeyValue } from "./results.ts";

/**
 * Compares two keys by Unicode code point (the byte order of UTF-8), not by
 * UTF-16 code unit as `<` does.
 */
export function compareKeys(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x !== y) {
      // Surrogates (D800–DFFF) encode code points above FFFF: move them
      // above E000–FFFF, which UTF-16 order would put after them.
      if (x >= 0xd800 && y >= 0xd800) {
        x = x >= 0xe000 ? x - 0x800 : x + 0x2000;
        y = y >= 0xe000 ? y - 0x800 : y + 0x2000;
      }
      return x - y;
    }
  }
  return a.length - b.length;
}

/** A page of keys. */
export interface RangePage {
  /** The keys, in key order. */
  kvs: KeyValue[];
  /** Whether more keys match after the last one returned. */
  more: boolean;
}

/** Options of {@linkcode KvStore.range}. */
export interface RangeOptions {
  /** Only keys starting with this ("" or absent: every key). */
  prefix?: string;
  /** At most this many keys (absent or 0: all). */
  limit?: number;
  /** Only keys after this one (for paging). */
  startAfter?: string;
}

/**
 * Keys and their records. Records are frozen and replaced on every write,
 * so handing them out is safe.
 */
export class KvStore {
  #map: Map<string, KeyValue> = new Map();
  // Sorted keys, plus keys added since the last sort: a put of a new key
  // costs O(1), and the sorted index is brought up to date (one sort of the
  // new keys and one merge) only when something reads it in order.
  #sorted: string[] = [];
  #pending: Set<string> = new Set();
  // Open captures (snapshots being encoded): each keeps the records that
  // writes replaced or removed since it began.
  #captures: Set<KvCapture> = new Set();

  /** How many keys there are. */
  get size(): number {
    return this.#map.size;
  }

  /** The record of `key`, if it exists. */
  get(key: string): KeyValue | undefined {
    return this.#map.get(key);
  }

  /** Stores a record (replacing the key's previous one). */
  set(kv: KeyValue): void {
    const frozen = Object.freeze(kv);
    if (this.#captures.size > 0) this.#keepOld(kv.key);
    if (!this.#map.has(kv.key)) {
      // A key after every sorted one (a restore adds all keys in order)
      // goes straight to the end of the index: no set of 100 000 pending
      // keys to sort and merge on the first ordered read.
      const sorted = this.#sorted;
      if (
        this.#pending.size === 0 &&
        (sorted.length === 0 ||
          compareKeys(sorted[sorted.length - 1], kv.key) < 0)
      ) {
        sorted.push(kv.key);
      } else this.#pending.add(kv.key);
    }
    this.#map.set(kv.key, frozen);
  }

  /** Removes a key; returns its record, if it existed. */
  delete(key: string): KeyValue | undefined {
    const prev = this.#map.get(key);
    if (prev === undefined) return undefined;
    if (this.#captures.size > 0) this.#keepOld(key);
    this.#map.delete(key);
    if (!this.#pending.delete(key)) {
      this.#sorted.splice(this.#lowerBound(key), 1);
    }
    return prev;
  }

  /** The keys starting with `prefix`, in key order. */
  keysWithPrefix(prefix: string): string[] {
    this.#merge();
    const out: string[] = [];
    for (let i = this.#lowerBound(prefix); i < this.#sorted.length; i++) {
      const k = this.#sorted[i];
      if (!k.startsWith(prefix)) break;
      out.push(k);
    }
    return out;
  }

  /** A page of the records under a prefix, in key order. */
  range(options: RangeOptions = {}): RangePage {
    this.#merge();
    const prefix = options.prefix ?? "";
    const limit = options.limit && options.limit > 0 ? options.limit : Infinity;
    let i = this.#lowerBound(prefix);
    const after = options.startAfter;
    if (after !== undefined && compareKeys(after, prefix) >= 0) {
      i = this.#upperBound(after);
    }
    const kvs: KeyValue[] = [];
    for (; i < this.#sorted.length; i++) {
      const k = this.#sorted[i];
      if (!k.startsWith(prefix)) break;
      if (kvs.length >= limit) return { kvs, more: true };
      kvs.push(this.#map.get(k)!);
    }
    return { kvs, more: false };
  }

  /** Every record, in key order. */
  *entries(): IterableIterator<KeyValue> {
    this.#merge();
    for (const k of this.#sorted) yield this.#map.get(k)!;
  }

  /**
   * A view of every record as they are now, in key order, to be read a
   * chunk at a time while writes go on: costs a copy of the sorted key
   * list now (not of the records), and, until it is closed, one map entry
   * for each key written after it began. Close it when done.
   */
  capture(): KvCapture {
    this.#merge();
    const c = new KvCapture(this.#sorted.slice(), this.#map, (x) => {
      this.#captures.delete(x);
    });
    this.#captures.add(c);
    return c;
  }

  /** Removes every key. */
  clear(): void {
    if (this.#captures.size > 0) {
      for (const k of this.#map.keys()) this.#keepOld(k);
    }
    this.#map.clear();
    this.#sorted = [];
    this.#pending.clear();
  }

  // The write barrier of open captures: the record a write is about to
  // replace or remove (undefined for a key that did not exist).
  #keepOld(key: string): void {
    const prev = this.#map.get(key);
    for (const c of this.#captures) c.keep(key, prev);
  }

  // Folds the keys added since the last read in order into #sorted.
  #merge(): void {
    if (this.#pending.size === 0) return;
    const added = [...this.#pending].sort(compareKeys);
    this.#pending.clear();
    const old = this.#sorted;
    const out: string[] = new Array(old.length + added.length);
    let i = 0, j = 0, k = 0;
    while (i < old.length && j < added.length) {
      out[k++] = compareKeys(old[i], added[j]) < 0 ? old[i++] : added[j++];
    }
    while (i < old.length) out[k++] = old[i++];
    while (j < added.length) out[k++] = added[j++];
    this.#sorted = out;
  }

  // The first index whose key is >= key.
  #lowerBound(key: string): number {
    let lo = 0;
    let hi = this.#sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compareKeys(this.#sorted[mid], key) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  // The first index whose key is > key.
  #upperBound(key: string): number {
    let lo = 0;
    let hi = this.#sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compareKeys(this.#sorted[mid], key) <= 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

/**
 * The records of a {@linkcode KvStore} as they were when
 * {@linkcode KvStore.capture} was called, however it changed since: read
 * them by position (key order), a chunk at a time, then close it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { KvStore } from "./kv.ts";
 *
 * const kv = new KvStore();
 * const rec = { createRevision: 1, modRevision: 1, version: 1 };
 * kv.set({ key: "a", value: "1", ...rec });
 * const c = kv.capture();
 * kv.set({ key: "a", value: "2", ...rec }); // after the capture: not seen
 * kv.set({ key: "b", value: "3", ...rec });
 * assert.equal(c.length, 1);
 * assert.equal(c.at(0).value, "1");
 * c.close();
 * ```
 */
export class KvCapture {
  readonly #keys: string[];
  readonly #map: ReadonlyMap<string, KeyValue>;
  // Keys written since the capture began, with their record before that
  // (undefined: the key did not exist then).
  readonly #old = new Map<string, KeyValue | undefined>();
  readonly #onClose: (c: KvCapture) => void;

  /** Made by {@linkcode KvStore.capture}. */
  constructor(
    keys: string[],
    map: ReadonlyMap<string, KeyValue>,
    onClose: (c: KvCapture) => void,
  ) {
    this.#keys = keys;
    this.#map = map;
    this.#onClose = onClose;
  }

  /** How many records were captured. */
  get length(): number {
    return this.#keys.length;
  }

  /** The `i`-th record in key order (0 ≤ i < length). */
  at(i: number): KeyValue {
    const k = this.#keys[i];
    const rec = this.#old.has(k) ? this.#old.get(k) : this.#map.get(k);
    if (rec === undefined) throw new RangeError(`No captured record at ${i}`);
    return rec;
  }

  /** Called by the store before a write replaces or removes `key`. */
  keep(key: string, prev: KeyValue | undefined): void {
    if (!this.#old.has(key)) this.#old.set(key, prev);
  }

  /** Stops following writes; the capture must not be read afterwards. */
  close(): void {
    this.#onClose(this);
    this.#old.clear();
  }
}
