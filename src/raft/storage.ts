/**
 * The read side of a Raft log store, as the core sees it.
 *
 * The core only reads from storage; the host writes what each `Ready` asks
 * and tells the core with `advance()`. `MemoryStorage` and the WAL-backed
 * store both implement this interface.
 *
 * @module
 */

import type { ConfState, Entry, HardState, Snapshot } from "./types.ts";

/**
 * Thrown when a requested index lies before the first retained entry.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryStorage } from "../storage/mod.ts";
 * import { CompactedError } from "./mod.ts";
 *
 * // Index 0 stands for the (empty) snapshot: its entry is not kept.
 * const storage = new MemoryStorage();
 * assert.throws(() => storage.entries(0, 1, Infinity), CompactedError);
 * ```
 */
export class CompactedError extends Error {
  /** Creates the error for the requested index. */
  constructor(index: number) {
    super(`Log index ${index} is compacted away`);
    this.name = "CompactedError";
  }
}

/**
 * Thrown when a requested index lies after the last stored entry.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryStorage } from "../storage/mod.ts";
 * import { UnavailableError } from "./storage.ts";
 *
 * const storage = new MemoryStorage();
 * assert.throws(() => storage.term(5), UnavailableError);
 * ```
 */
export class UnavailableError extends Error {
  /** Creates the error for the requested index. */
  constructor(index: number) {
    super(`Log index ${index} is not available yet`);
    this.name = "UnavailableError";
  }
}

/**
 * Thrown when a snapshot is being produced and the caller should retry
 * later.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryStorage } from "../storage/mod.ts";
 * import { SnapshotTemporarilyUnavailableError } from "./mod.ts";
 *
 * const storage = new MemoryStorage();
 * storage.snapshotUnavailable = true; // as if one were being built
 * assert.throws(() => storage.snapshot(), SnapshotTemporarilyUnavailableError);
 * ```
 */
export class SnapshotTemporarilyUnavailableError extends Error {
  /** Creates the error. */
  constructor() {
    super("Snapshot is temporarily unavailable");
    this.name = "SnapshotTemporarilyUnavailableError";
  }
}

/** What a node restarts from: the persisted hard state and the configuration of its snapshot. */
export interface InitialState {
  /** The persisted term, vote and commit. */
  hardState: HardState;
  /** The configuration at the storage's snapshot (or the bootstrap configuration). */
  confState: ConfState;
}

/** Synchronous read access to persisted Raft state. */
export interface Storage {
  /** The persisted hard state and the snapshot's configuration. */
  initialState(): InitialState;
  /**
   * Entries in `[lo, hi)`, at least one if any exist, and no more than
   * `maxBytes` beyond the first. Throws {@linkcode CompactedError} or
   * {@linkcode UnavailableError}.
   */
  entries(lo: number, hi: number, maxBytes: number): Entry[];
  /** The term of entry `i`; the snapshot's index is valid too. */
  term(i: number): number;
  /** The index of the first entry still in the log (snapshot index + 1). */
  firstIndex(): number;
  /** The index of the last entry in the log. */
  lastIndex(): number;
  /** The most recent snapshot. */
  snapshot(): Snapshot;
}
