/**
 * Duplicate suppression: the first result of every request that carried a
 * request id, kept for a window of cluster time, so a retried command (its
 * first attempt may have committed before the answer was lost) gets that
 * result instead of applying twice.
 *
 * Time comes only from the log: the leader proposes `time` commands with
 * its cluster clock, and {@linkcode DedupeTable.advance} runs when one is
 * applied. A result remembered since the last `time` command is "fresh":
 * the next `time` command stamps it with its time, which is no earlier than
 * the moment the result was first applied, and it is forgotten once a later
 * `time` command is at least `windowMs` past its stamp. So a result is kept
 * for at least the window after it was applied, on every node alike.
 *
 * Bounded in entries: when `maxEntries` results are kept, a request with a
 * new id is refused ({@linkcode DedupeTable.full}) rather than any result
 * being forgotten early. Results are kept msgpack-encoded (as one-byte
 * strings, which cost far less memory than small typed arrays), so a
 * snapshot holds exactly the bytes every node would answer with.
 *
 * @module
 */

import { decode, encode } from "../codec/msgpack.ts";

/** Bytes a kept result costs besides its client id and its encoding. */
export const DEDUPE_ENTRY_OVERHEAD = 48;

/**
 * One remembered result in a snapshot: client, seq, the stamp (-1 while
 * fresh) and the encoded result.
 */
export type DedupeEntry = [
  client: string,
  seq: number,
  stamp: number,
  result: Uint8Array,
];

// Stamped results: everything remembered before the `time` command that
// stamped them, in log order.
interface Batch {
  stamp: number;
  keys: string[];
}

/**
 * The remembered results, bounded by time and by count.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DedupeTable } from "./dedupe.ts";
 *
 * const table = new DedupeTable(600_000, 1000);
 * table.remember("client-a", 1, { ok: true, revision: 7 });
 * assert.deepEqual(table.lookup("client-a", 1), { ok: true, revision: 7 });
 * table.advance(1_000); // stamps it at cluster time 1 s
 * table.advance(600_999); // not yet 10 minutes later
 * assert.notEqual(table.lookup("client-a", 1), undefined);
 * table.advance(601_000);
 * assert.equal(table.lookup("client-a", 1), undefined);
 * ```
 */
export class DedupeTable {
  readonly #windowMs: number;
  readonly #maxEntries: number;
  // Key (client, "\n", seq) → the encoded result as a one-byte string.
  #results: Map<string, string> = new Map();
  #batches: Batch[] = [];
  #head = 0; // index of the oldest batch still in #batches
  #fresh: string[] = [];
  #bytes = 0;

  /**
   * @param windowMs how long (in cluster time) a result is kept at least
   * @param maxEntries the most results kept (at least 1); new ids are
   *   refused beyond it
   */
  constructor(windowMs: number, maxEntries: number) {
    this.#windowMs = Math.max(0, Math.floor(windowMs));
    this.#maxEntries = Math.max(1, Math.floor(maxEntries));
  }

  /** How many results are kept. */
  get size(): number {
    return this.#results.size;
  }

  /** Results not stamped yet (remembered since the last `time` command). */
  get freshCount(): number {
    return this.#fresh.length;
  }

  /** The most results kept. */
  get maxEntries(): number {
    return this.#maxEntries;
  }

  /** The window in ms. */
  get windowMs(): number {
    return this.#windowMs;
  }

  /** Whether a new request id would be refused now. */
  get full(): boolean {
    return this.#results.size >= this.#maxEntries;
  }

  /** Approximate bytes of the kept results (for the space quota). */
  get bytes(): number {
    return this.#bytes;
  }

  /** The stamp of the oldest stamped result, if any. */
  get oldestStamp(): number | undefined {
    return this.#head < this.#batches.length
      ? this.#batches[this.#head].stamp
      : undefined;
  }

  /** The first result of (client, seq), if kept (a fresh copy). */
  lookup(client: string, seq: number): unknown | undefined {
    const s = this.#results.get(keyOf(client, seq));
    return s === undefined ? undefined : decode(fromLatin1(s));
  }

  /**
   * Remembers the result of (client, seq). The caller checks
   * {@linkcode DedupeTable.full} first; an id already kept is left as is.
   */
  remember(client: string, seq: number, result: unknown): void {
    const key = keyOf(client, seq);
    if (this.#results.has(key)) return;
    const s = toLatin1(encode(result));
    this.#results.set(key, s);
    this.#fresh.push(key);
    this.#bytes += cost(key, s);
  }

  /**
   * A `time` command was applied at cluster time `now`: stamps the fresh
   * results with it and forgets those stamped at least the window before.
   * Returns how many were forgotten.
   */
  advance(now: number): number {
    if (this.#fresh.length > 0) {
      this.#batches.push({ stamp: now, keys: this.#fresh });
      this.#fresh = [];
    }
    let dropped = 0;
    while (
      this.#head < this.#batches.length &&
      now - this.#batches[this.#head].stamp >= this.#windowMs
    ) {
      for (const key of this.#batches[this.#head].keys) {
        const s = this.#results.get(key);
        if (s === undefined) continue;
        this.#results.delete(key);
        this.#bytes -= cost(key, s);
        dropped++;
      }
      this.#head++;
    }
    if (this.#head > 64 && this.#head * 2 > this.#batches.length) {
      this.#batches = this.#batches.slice(this.#head);
      this.#head = 0;
    }
    return dropped;
  }

  /** Every kept result, oldest first (stamped ones, then the fresh ones). */
  entries(): DedupeEntry[] {
    const out: DedupeEntry[] = [];
    const add = (key: string, stamp: number) => {
      const s = this.#results.get(key);
      if (s === undefined) return;
      const i = key.lastIndexOf("\n");
      out.push([
        key.slice(0, i),
        Number(key.slice(i + 1)),
        stamp,
        fromLatin1(s),
      ]);
    };
    for (let b = this.#head; b < this.#batches.length; b++) {
      const batch = this.#batches[b];
      for (const key of batch.keys) add(key, batch.stamp);
    }
    for (const key of this.#fresh) add(key, -1);
    return out;
  }

  /**
   * Replaces the table (for restore) with entries in the order
   * {@linkcode DedupeTable.entries} gives (stamps never decrease; fresh
   * ones, stamp -1, last). Keeps them all, even beyond `maxEntries`.
   */
  load(entries: Iterable<DedupeEntry>): void {
    this.#results = new Map();
    this.#batches = [];
    this.#head = 0;
    this.#fresh = [];
    this.#bytes = 0;
    for (const [client, seq, stamp, bytes] of entries) {
      const key = keyOf(client, seq);
      if (this.#results.has(key)) continue;
      const s = toLatin1(bytes);
      this.#results.set(key, s);
      this.#bytes += cost(key, s);
      if (stamp < 0) {
        this.#fresh.push(key);
        continue;
      }
      const last = this.#batches[this.#batches.length - 1];
      if (last && last.stamp === stamp) last.keys.push(key);
      else this.#batches.push({ stamp, keys: [key] });
    }
  }
}

// Seq is a whole number, so splitting at the last newline finds the client.
function keyOf(client: string, seq: number): string {
  return `${client}\n${seq}`;
}

function cost(key: string, encoded: string): number {
  return DEDUPE_ENTRY_OVERHEAD + key.length + encoded.length;
}

function toLatin1(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 8192) {
    s += String.fromCharCode(...bytes.subarray(i, i + 8192));
  }
  return s;
}

function fromLatin1(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}
