/**
 * An in-memory {@linkcode LogStore}: the model for the WAL's property tests,
 * and the store the simulator and unit tests use.
 *
 * @module
 */

import {
  CompactedError,
  type InitialState,
  SnapshotTemporarilyUnavailableError,
  UnavailableError,
} from "../raft/storage.ts";
import {
  type ConfState,
  EMPTY_HARD_STATE,
  type Entry,
  entrySize,
  type HardState,
  type Snapshot,
} from "../raft/types.ts";
import type { LogStore, PersistUpdate } from "./types.ts";

/** Options for a new {@linkcode MemoryStorage}. */
export interface MemoryStorageOptions {
  /** The bootstrap configuration for a brand-new cluster. */
  conf?: ConfState;
}

/**
 * A Raft log store in memory: nothing survives the process. It keeps the
 * log in an array whose element 0 is a placeholder for the snapshot's last
 * entry, so `term(snapshotIndex)` needs no special case.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { EntryType } from "../raft/mod.ts";
 * import { MemoryStorage } from "./memory.ts";
 *
 * const storage = new MemoryStorage({ conf: { voters: ["n1"], learners: [] } });
 * storage.save({
 *   hardState: { term: 1, vote: "n1", commit: 1 },
 *   entries: [
 *     { term: 1, index: 1, type: EntryType.Normal, data: new Uint8Array([42]) },
 *   ],
 * });
 * assert.equal(storage.lastIndex(), 1);
 * assert.equal(storage.term(1), 1);
 * ```
 */
export class MemoryStorage implements LogStore {
  #hardState: HardState = { ...EMPTY_HARD_STATE };
  #snapshot: Snapshot;
  // #ents[0] stands for the snapshot's last entry (index and term only).
  #ents: Entry[];
  /** When set, `snapshot()` throws as if a snapshot were being built. */
  snapshotUnavailable = false;

  /** Creates an empty store, optionally with a bootstrap configuration. */
  constructor(options: MemoryStorageOptions = {}) {
    const conf = options.conf ?? { voters: [], learners: [] };
    this.#snapshot = {
      metadata: { index: 0, term: 0, conf: cloneConf(conf) },
      data: new Uint8Array(),
    };
    this.#ents = [{ term: 0, index: 0, type: 0, data: new Uint8Array() }];
  }

  /** The persisted hard state and the configuration at the snapshot. */
  initialState(): InitialState {
    return {
      hardState: { ...this.#hardState },
      confState: cloneConf(this.#snapshot.metadata.conf),
    };
  }

  /** The persisted hard state. */
  hardState(): HardState {
    return { ...this.#hardState };
  }

  /** Sets the hard state. */
  setHardState(hs: HardState): void {
    this.#hardState = { ...hs };
  }

  /** Entries in `[lo, hi)` limited to `maxBytes` (at least one). */
  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    const offset = this.#ents[0].index;
    if (lo <= offset) throw new CompactedError(lo);
    if (hi > this.lastIndex() + 1) throw new UnavailableError(hi - 1);
    const out: Entry[] = [];
    let size = 0;
    for (let i = lo; i < hi; i++) {
      const e = this.#ents[i - offset];
      size += entrySize(e);
      if (out.length > 0 && size > maxBytes) break;
      out.push(e);
    }
    return out;
  }

  /** The term of entry `i`. */
  term(i: number): number {
    const offset = this.#ents[0].index;
    if (i < offset) throw new CompactedError(i);
    if (i - offset >= this.#ents.length) throw new UnavailableError(i);
    return this.#ents[i - offset].term;
  }

  /** The first index still in the log. */
  firstIndex(): number {
    return this.#ents[0].index + 1;
  }

  /** The last index in the log. */
  lastIndex(): number {
    return this.#ents[0].index + this.#ents.length - 1;
  }

  /** The current snapshot. */
  snapshot(): Snapshot {
    if (this.snapshotUnavailable) {
      throw new SnapshotTemporarilyUnavailableError();
    }
    return this.#snapshot;
  }

  /** Replaces the whole store with a snapshot (a follower installing one). */
  applySnapshot(snap: Snapshot): void {
    if (snap.metadata.index <= this.#snapshot.metadata.index) return;
    this.#snapshot = snap;
    this.#ents = [{
      term: snap.metadata.term,
      index: snap.metadata.index,
      type: 0,
      data: new Uint8Array(),
    }];
  }

  /**
   * Replaces the bytes of the current snapshot if it is still the one at
   * `index` (a store that keeps snapshots on disk drops them from memory
   * and puts them back when read again); returns whether it did.
   */
  setSnapshotData(index: number, data: Uint8Array): boolean {
    if (this.#snapshot.metadata.index !== index) return false;
    this.#snapshot = { metadata: this.#snapshot.metadata, data };
    return true;
  }

  /**
   * Records a snapshot at `index` (which must be in the log) and drops the
   * entries up to it.
   */
  createSnapshot(index: number, conf: ConfState, data: Uint8Array): Snapshot {
    if (index <= this.#snapshot.metadata.index) return this.#snapshot;
    if (index > this.lastIndex()) {
      throw new UnavailableError(index);
    }
    const snap: Snapshot = {
      metadata: { index, term: this.term(index), conf: cloneConf(conf) },
      data,
    };
    this.#snapshot = snap;
    this.compact(index);
    return snap;
  }

  /** Drops entries before `index`, keeping `index` as the placeholder. */
  compact(index: number): void {
    const offset = this.#ents[0].index;
    if (index <= offset) return;
    if (index > this.lastIndex()) throw new UnavailableError(index);
    const i = index - offset;
    const head = this.#ents[i];
    this.#ents = [
      { term: head.term, index: head.index, type: 0, data: new Uint8Array() },
      ...this.#ents.slice(i + 1),
    ];
  }

  /**
   * Appends entries; an entry at an index already present truncates the log
   * from there first. Entries at or before the snapshot are ignored.
   */
  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const first = this.firstIndex();
    const last = entries[0].index + entries.length - 1;
    if (last < first) return;
    // Skip what the snapshot already covers.
    const ents = first > entries[0].index
      ? entries.slice(first - entries[0].index)
      : entries;
    const offset = ents[0].index - this.#ents[0].index;
    if (offset > this.#ents.length) {
      throw new Error(
        `Missing log entry before index ${
          ents[0].index
        }; last is ${this.lastIndex()}`,
      );
    }
    this.#ents.length = offset;
    for (const e of ents) this.#ents.push(e);
  }

  /** Persists a `Ready`'s update: snapshot, entries, then hard state. */
  save(update: PersistUpdate): void {
    if (update.snapshot) this.applySnapshot(update.snapshot);
    this.append(update.entries);
    if (update.hardState) this.setHardState(update.hardState);
  }

  /** Nothing to release. */
  close(): void {}

  /** A deep-enough copy for a simulated crash: the persisted state only. */
  clone(): MemoryStorage {
    const c = new MemoryStorage();
    c.#hardState = { ...this.#hardState };
    c.#snapshot = this.#snapshot;
    c.#ents = this.#ents.slice();
    return c;
  }
}

function cloneConf(c: ConfState): ConfState {
  return { voters: [...c.voters], learners: [...c.learners] };
}
