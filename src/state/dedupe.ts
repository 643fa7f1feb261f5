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

/** The key of (client, seq) in a {@linkcode DedupeBatch}. */
export function dedupeKey(client: string, seq: number): string {
  // Seq is a whole number, so the last newline ends the client id.
  return `${client}\n${seq}`;
}

/** Bytes as a one-byte string (each char a byte), as results are kept. */
export function toLatin1(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 8192) {
    s += String.fromCharCode(...bytes.subarray(i, i + 8192));
  }
  return s;
}

/**
 * Results remembered together: those a `time` command stamped (with its
 * time), or the fresh ones (stamp -1). A stamped batch never changes, so a
 * snapshot can hold on to it and encode it later, bit by bit.
 */
export interface DedupeBatch {
  /** The cluster time that stamped them, or -1 (fresh). */
  readonly stamp: number;
  /** Their keys ({@linkcode dedupeKey}). */
  readonly keys: readonly string[];
  /** Their encoded results ({@linkcode toLatin1} of the msgpack bytes). */
  readonly values: readonly string[];
}

interface MutableBatch {
  stamp: number;
  keys: string[];
  values: string[];
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
  // Key → the encoded result; each key is in exactly one batch, and
  // leaves the map only with its whole batch.
  #results: Map<string, string> = new Map();
  #batches: MutableBatch[] = [];
  #head = 0; // index of the oldest batch still in #batches
  #fresh: MutableBatch = { stamp: -1, keys: [], values: [] };
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
    return this.#fresh.keys.length;
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
    const s = this.#results.get(dedupeKey(client, seq));
    return s === undefined ? undefined : decode(fromLatin1(s));
  }

  /**
   * Remembers the result of (client, seq). The caller checks
   * {@linkcode DedupeTable.full} first; an id already kept is left as is.
   */
  remember(client: string, seq: number, result: unknown): void {
    const key = dedupeKey(client, seq);
    if (this.#results.has(key)) return;
    this.#add(this.#fresh, key, toLatin1(encode(result)));
  }

  /**
   * A `time` command was applied at cluster time `now`: stamps the fresh
   * results with it and forgets those stamped at least the window before.
   * Returns how many were forgotten.
   */
  advance(now: number): number {
    if (this.#fresh.keys.length > 0) {
      this.#batches.push({ ...this.#fresh, stamp: now });
      this.#fresh = { stamp: -1, keys: [], values: [] };
    }
    let dropped = 0;
    while (
      this.#head < this.#batches.length &&
      now - this.#batches[this.#head].stamp >= this.#windowMs
    ) {
      const { keys, values } = this.#batches[this.#head];
      for (let i = 0; i < keys.length; i++) {
        this.#results.delete(keys[i]);
        this.#bytes -= cost(keys[i], values[i]);
      }
      dropped += keys.length;
      this.#batches[this.#head++] = { stamp: 0, keys: [], values: [] };
    }
    if (this.#head > 64 && this.#head * 2 > this.#batches.length) {
      this.#batches = this.#batches.slice(this.#head);
      this.#head = 0;
    }
    return dropped;
  }

  /**
   * The kept results as they are now, oldest first, cheaply: the stamped
   * batches themselves (they never change) and a copy of the fresh one.
   * A snapshot encodes it later, in chunks.
   */
  capture(): { size: number; batches: DedupeBatch[] } {
    const batches: DedupeBatch[] = this.#batches.slice(this.#head);
    const f = this.#fresh;
    if (f.keys.length > 0) {
      batches.push({ stamp: -1, keys: [...f.keys], values: [...f.values] });
    }
    return { size: this.#results.size, batches };
  }

  /**
   * Replaces the table (for restore) with batches in the order
   * {@linkcode DedupeTable.capture} gives (stamps never decrease; a fresh
   * one, stamp -1, last). Keeps them all, even beyond `maxEntries`.
   */
  load(batches: Iterable<DedupeBatch>): void {
    this.#results = new Map();
    this.#batches = [];
    this.#head = 0;
    this.#fresh = { stamp: -1, keys: [], values: [] };
    this.#bytes = 0;
    for (const { stamp, keys, values } of batches) {
      if (keys.length !== values.length) {
        throw new Error("A dedupe batch has as many keys as values");
      }
      let batch = this.#fresh;
      if (stamp >= 0) {
        batch = { stamp, keys: [], values: [] };
        this.#batches.push(batch);
      }
      for (let i = 0; i < keys.length; i++) {
        if (!this.#results.has(keys[i])) this.#add(batch, keys[i], values[i]);
      }
    }
  }

  #add(batch: MutableBatch, key: string, s: string): void {
    this.#results.set(key, s);
    batch.keys.push(key);
    batch.values.push(s);
    this.#bytes += cost(key, s);
  }
}

function cost(key: string, encoded: string): number {
  return DEDUPE_ENTRY_OVERHEAD + key.length + encoded.length;
}

function fromLatin1(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}
