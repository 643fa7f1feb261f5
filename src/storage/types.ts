/**
 * The host's side of Raft storage: the core reads through
 * {@linkcode Storage}; the host writes each `Ready` through {@linkcode LogStore}.
 *
 * @module
 */

import type { Storage } from "../raft/storage.ts";
import type { ConfState, Entry, HardState, Snapshot } from "../raft/types.ts";

/** One `Ready`'s worth of state to make durable together. */
export interface PersistUpdate {
  /** A snapshot received from the leader; it replaces the log before it. */
  snapshot?: Snapshot;
  /** Entries to append; an entry at an existing index overwrites that suffix. */
  entries: Entry[];
  /** The new hard state, if it changed. */
  hardState?: HardState;
}

/** A durable Raft log store: the read interface plus the writes a host makes. */
export interface LogStore extends Storage {
  /**
   * Persist an update durably (one sync for all of it). Order within the
   * update: snapshot, then entries, then hard state.
   */
  save(update: PersistUpdate): void | Promise<void>;
  /**
   * Record a snapshot of the state machine taken at `index` (at most the
   * applied index) and compact the log up to it.
   */
  createSnapshot(
    index: number,
    conf: ConfState,
    data: Uint8Array,
  ): Snapshot | Promise<Snapshot>;
  /**
   * The host no longer needs the current snapshot's bytes in memory (it
   * has restored or sent them): a store that can read them back from disk
   * may drop them, and `snapshot()` then throws
   * `SnapshotTemporarilyUnavailableError` while it reads them again.
   * Optional; stores without it keep the bytes.
   */
  releaseSnapshotData?(): void;
  /**
   * Whether the store may write on the calling thread, blocking it: the
   * node asks for it while it follows (one batch per leader message) and
   * not while it leads (proposals arriving during a write make the next
   * batch). Optional; stores without it ignore the hint.
   */
  preferBlockingWrites?(on: boolean): void;
  /** Release files and handles. */
  close(): void | Promise<void>;
}
