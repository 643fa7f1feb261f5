/**
 * {@linkcode DiskStorage}: the durable {@linkcode LogStore}, a WAL plus
 * snapshot files in a raftlock data directory, with the retained log kept
 * in memory for the core's synchronous reads (as etcd does).
 *
 * A full disk is not fatal (see the class documentation): a write that
 * finds no space is undone and retried, a reserve file gives the node room
 * to go on while the cluster's space alarm stops writes that add data, and
 * a snapshot that cannot be written is skipped.
 *
 * @module
 */

import {
  type InitialState,
  SnapshotTemporarilyUnavailableError,
  UnavailableError,
} from "../raft/storage.ts";
import type { ConfState, Entry, HardState, Snapshot } from "../raft/types.ts";
import { type DataDirIdentity, openDataDir } from "./data_dir.ts";
import {
  CorruptionError,
  isNoSpace,
  NoSpaceError,
  StorageFatalError,
} from "./errors.ts";
import { denoFs, type FileSystem, join, writeAll } from "./fs.ts";
import { defaultStorageLogger, type StorageLogger } from "./log.ts";
import { MemoryStorage } from "./memory.ts";
import { SnapshotStore } from "./snapshot_store.ts";
import type { LogStore, PersistUpdate } from "./types.ts";
import { validateItems, type WalItem } from "./wal/record.ts";
import { DEFAULT_SEGMENT_SIZE, Wal, type WalStats } from "./wal/wal.ts";

/** Options for {@linkcode DiskStorage.open}. */
export interface DiskStorageOptions {
  /** The bootstrap configuration, recorded only when the directory is new. */
  conf?: ConfState;
  /**
   * The cluster and node this directory must belong to (recorded when it
   * is new; see `openDataDir`). Unset: not checked.
   */
  identity?: DataDirIdentity;
  /** WAL segment size limit in bytes (default 64 MiB). */
  segmentSize?: number;
  /** How many snapshot files to keep (default 2, at least 1). */
  keepSnapshots?: number;
  /** File operations (default: the Deno API); tests inject failures here. */
  fs?: FileSystem;
  /** Where recovery actions and fatal errors are reported (default: JSON lines on stderr). */
  log?: StorageLogger;
  /**
   * Called once, with the error, when a write or sync fails. The node must
   * stop; a typical handler logs and exits the process.
   */
  onFatal?: (error: StorageFatalError) => void;
  /**
   * Bytes of disk kept in reserve in `space.reserve` (default 0: none).
   * When a write finds the disk full, the reserve is deleted so the node
   * can go on (the alarm stops writes that add data, deletes free room);
   * it is written again once there is space, which ends the no-space
   * state.
   */
  reserveBytes?: number;
  /** How often to retry a write, or the reserve, while out of space (ms, default 1000). */
  noSpaceRetryMs?: number;
  /** Called when the store runs out of disk space (true) and when it has space again (false). */
  onNoSpace?: (noSpace: boolean) => void;
}

/** A blocking WAL write slower than this sends writes to the thread pool. */
export const SLOW_BLOCKING_WRITE_MS = 20;
/** How long writes go through the thread pool after a slow blocking one. */
export const POOL_AFTER_SLOW_MS = 10_000;

/** The reserve file's name, in the data directory. */
export const RESERVE_FILE = "space.reserve";

/** Counters since open, for benchmarks and tests. */
export interface DiskStorageStats extends WalStats {
  /** Calls to `save()` and `createSnapshot()` that reached the write queue. */
  operations: number;
}

interface PendingOp {
  items: WalItem[];
  snapshotFile?: Promise<unknown>;
  // The snapshot of `snapshotFile`, and whether it is installed (must be
  // written, retried while out of space) rather than taken (may be skipped).
  snapshot?: Snapshot;
  install?: boolean;
  // Resolve only after the old segments and snapshots are removed.
  late?: boolean;
  resolve: () => void;
  reject: (e: unknown) => void;
}

/**
 * A durable Raft log store in a data directory.
 *
 * Semantics:
 *
 * - Reads (`entries`, `term`, `firstIndex`, `lastIndex`, `snapshot`,
 *   `initialState`) are synchronous and served from memory. They reflect
 *   every `save()` and `createSnapshot()` as soon as it is called, in call
 *   order, whether or not it is durable yet; this matches
 *   {@linkcode MemoryStorage} call for call.
 * - `save()` and `createSnapshot()` resolve only once what they wrote is
 *   durable (covered by a `syncData()`). Calls made while a write is in
 *   flight are queued and written together as one WAL record with one sync
 *   (group commit); each promise resolves when its record is durable,
 *   in call order. The host must not act on an update (send the messages
 *   of its `Ready`, acknowledge it) before its promise resolves.
 * - After a crash, reopening gives exactly the state after some prefix of
 *   the calls: every call whose promise resolved, plus possibly whole later
 *   ones (a write that reached the disk but whose sync did not return).
 *   Never part of a call.
 * - Snapshot bytes: after `releaseSnapshotData()`, the current snapshot's
 *   bytes are dropped from memory once its file is durable (a snapshot of
 *   100 000 keys is tens of MB, and a node needs them only to restore at
 *   start or to catch up a follower). `snapshot()` then starts reading the
 *   file and throws `SnapshotTemporarilyUnavailableError` until it is back
 *   (the core retries, as etcd's does); a failed read is fatal like a
 *   failed write.
 * - An invalid update (entries that leave a gap after the last index, or
 *   that are not consecutive) is rejected with a plain `Error` and changes
 *   nothing.
 * - A failed write, sync, rename or remove is fatal: that call and every
 *   queued and later call reject with the same {@linkcode StorageFatalError},
 *   reads throw it too, `onFatal` is called once, and the node must exit.
 *   Nothing is retried, with one exception:
 * - A full disk (`ENOSPC` from a write or a file creation, never from a
 *   sync) is not fatal. The write is undone (the WAL segment cut back to
 *   its last whole record), the store enters the no-space state
 *   (`noSpace`, `onNoSpace(true)`), deletes its reserve file if it has one
 *   and retries at once, else every `noSpaceRetryMs`; saves wait meanwhile
 *   (nothing is acknowledged before it is durable). A snapshot taken by
 *   this node (`createSnapshot`) that finds the disk full is skipped: its
 *   promise resolves, the WAL keeps the entries, the next one tries again.
 *   A snapshot installed from the leader is retried until it is written.
 *   The no-space state ends when the reserve can be written again (or,
 *   without a reserve, a 1 MiB probe file).
 * - Blocking writes: after `preferBlockingWrites(true)` (a follower), a
 *   WAL record of at most 256 KiB is written and synced on the calling
 *   thread. A write + `fdatasync` through Deno's thread pool costs two
 *   thread hand-offs, which on a busy machine cost more than the sync
 *   itself; a follower's one batch per leader message gains nothing from
 *   the event loop running meanwhile. A leader must not block: proposals
 *   that arrive while it writes make its next batch. If a blocking write
 *   takes over 20 ms (a slow or failing disk), writes go through the
 *   thread pool again for 10 s, so the event loop (heartbeats, the HTTP
 *   API) is not held by a slow disk.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { EntryType } from "../raft/mod.ts";
 * import { DiskStorage } from "./disk_storage.ts";
 *
 * const dir = await Deno.makeTempDir();
 * const store = await DiskStorage.open(dir, {
 *   conf: { voters: ["n1"], learners: [] },
 * });
 * await store.save({ // resolves once durable
 *   hardState: { term: 1, vote: "n1", commit: 0 },
 *   entries: [
 *     { term: 1, index: 1, type: EntryType.Normal, data: new Uint8Array([1]) },
 *   ],
 * });
 * await store.close();
 *
 * const reopened = await DiskStorage.open(dir); // recovers the WAL
 * assert.equal(reopened.lastIndex(), 1);
 * await reopened.close();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export class DiskStorage implements LogStore {
  #view: MemoryStorage;
  #wal: Wal;
  #snaps: SnapshotStore;
  #dir: string;
  #keep: number;
  #log: StorageLogger;
  #onFatal: ((error: StorageFatalError) => void) | undefined;
  #queue: PendingOp[] = [];
  #flushing: Promise<void> = Promise.resolve();
  #running = false;
  #fatal: StorageFatalError | undefined;
  #closed = false;
  #operations = 0;
  // The newest snapshot file being written (or written) by this process.
  #snapFile: { index: number; done: Promise<unknown> } | undefined;
  // The index of the current snapshot when its bytes are on disk only.
  #dataOnDisk: number | undefined;
  #loading: Promise<void> | undefined;
  #fs: FileSystem;
  #reserveBytes: number;
  #retryMs: number;
  #onNoSpace: ((noSpace: boolean) => void) | undefined;
  #noSpace = false;
  #spaceTimer: ReturnType<typeof setInterval> | undefined;
  #probing: Promise<void> | undefined;
  // Wakes the flush loop waiting for space (on close, or to retry now).
  #wakeSpace: (() => void) | undefined;

  private constructor(
    view: MemoryStorage,
    wal: Wal,
    snaps: SnapshotStore,
    dir: string,
    options: DiskStorageOptions,
  ) {
    this.#view = view;
    this.#wal = wal;
    this.#snaps = snaps;
    this.#dir = dir;
    this.#keep = Math.max(1, options.keepSnapshots ?? 2);
    this.#log = options.log ?? defaultStorageLogger;
    this.#onFatal = options.onFatal;
    this.#fs = options.fs ?? denoFs;
    this.#reserveBytes = Math.max(0, Math.floor(options.reserveBytes ?? 0));
    this.#retryMs = Math.max(1, options.noSpaceRetryMs ?? 1000);
    this.#onNoSpace = options.onNoSpace;
  }

  /**
   * Opens the data directory `dir` (creating it if it is missing or empty),
   * recovers the WAL and the snapshot it refers to, and returns a store
   * ready for use. Throws `DataDirError` for a directory that is not a
   * raftlock data directory of this version, and `CorruptionError` (naming
   * the file and offset) for damage that recovery must not repair.
   */
  static async open(
    dir: string,
    options: DiskStorageOptions = {},
  ): Promise<DiskStorage> {
    const started = performance.now();
    const fs = options.fs ?? denoFs;
    const log = options.log ?? defaultStorageLogger;
    const layout = await openDataDir(dir, {
      fs,
      log,
      identity: options.identity,
    });
    const snaps = await SnapshotStore.open(layout.snapDir, { fs, log });
    const existing = await snaps.list();
    const { wal, recovered, fresh } = await Wal.open(layout.walDir, {
      fs,
      log,
      conf: options.conf,
      segmentSize: options.segmentSize ?? DEFAULT_SEGMENT_SIZE,
      mustExist: existing.length > 0,
    });
    try {
      const meta = recovered.snapshot;
      const view = new MemoryStorage({ conf: meta.conf });
      if (meta.index > 0) {
        const snap = await snaps.load(meta);
        if (!sameConf(snap.metadata.conf, meta.conf)) {
          throw new CorruptionError(
            snaps.dir,
            `the snapshot file at index ${meta.index} and the WAL disagree about the configuration`,
          );
        }
        view.applySnapshot(snap);
      }
      view.append(recovered.entries);
      view.setHardState(recovered.hardState);
      const store = new DiskStorage(view, wal, snaps, layout.root, options);
      const orphans = await snaps.removeNewerThan(meta.index);
      if (orphans.length > 0) {
        log("snapshot.orphans_removed", { dir: snaps.dir, files: orphans });
      }
      await store.#removeObsolete();
      await store.#openReserve();
      if (!fresh) {
        log("storage.recovered", {
          dir: layout.root,
          firstIndex: view.firstIndex(),
          lastIndex: view.lastIndex(),
          snapshotIndex: meta.index,
          hardState: recovered.hardState,
          segments: wal.segments.length,
          ms: Math.round(performance.now() - started),
        });
      }
      return store;
    } catch (e) {
      await wal.close().catch(() => {});
      throw e;
    }
  }

  /** The data directory. */
  get dir(): string {
    return this.#dir;
  }

  /** Whether the disk is full: see the class documentation. */
  get noSpace(): boolean {
    return this.#noSpace;
  }

  /** The fatal error that stopped this store, if any. */
  get fatalError(): StorageFatalError | undefined {
    return this.#fatal;
  }

  /** Counters since open. */
  get stats(): DiskStorageStats {
    return { ...this.#wal.stats, operations: this.#operations };
  }

  /** The WAL segment file names, oldest first. */
  get segments(): string[] {
    return this.#wal.segments.map((s) => s.name);
  }

  /** The persisted hard state and the configuration at the snapshot. */
  initialState(): InitialState {
    return this.#read().initialState();
  }

  /** The last hard state saved. */
  hardState(): HardState {
    return this.#read().hardState();
  }

  /** Entries in `[lo, hi)` limited to `maxBytes` (at least one). */
  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    return this.#read().entries(lo, hi, maxBytes);
  }

  /** The term of entry `i` (the snapshot's index too). */
  term(i: number): number {
    return this.#read().term(i);
  }

  /** The first index still in the log. */
  firstIndex(): number {
    return this.#read().firstIndex();
  }

  /** The last index in the log. */
  lastIndex(): number {
    return this.#read().lastIndex();
  }

  /**
   * The latest snapshot. Throws `SnapshotTemporarilyUnavailableError` while
   * its released bytes are read back from the file (see
   * {@linkcode DiskStorage.releaseSnapshotData}).
   */
  snapshot(): Snapshot {
    const snap = this.#read().snapshot();
    if (this.#dataOnDisk !== snap.metadata.index) return snap;
    this.#loadSnapshotData(snap.metadata.index, snap.metadata.term);
    throw new SnapshotTemporarilyUnavailableError();
  }

  /** Whether the current snapshot's bytes are in memory (for tests and metrics). */
  get snapshotDataInMemory(): boolean {
    return this.#dataOnDisk === undefined;
  }

  /**
   * Drops the current snapshot's bytes from memory once its file is
   * durable; `snapshot()` reads them back on demand. Call it when the bytes
   * have been restored or sent. Does nothing for an empty snapshot.
   */
  releaseSnapshotData(): void {
    if (this.#unusable()) return;
    const index = this.#view.snapshot().metadata.index;
    if (index === 0 || this.#dataOnDisk === index) return;
    const file = this.#snapFile?.index === index
      ? this.#snapFile.done
      : undefined;
    // Without a write in this process the snapshot came from its file at
    // open, so the file is there.
    if (!file) this.#dropSnapshotData(index);
    else file.then(() => this.#dropSnapshotData(index), () => {});
  }

  /**
   * Persists a `Ready`'s update: snapshot, then entries, then hard state,
   * as one WAL record (shared with concurrent calls). Visible to reads at
   * once; resolves when durable (with a snapshot: once the snapshot file
   * and the record are durable and the WAL segments and snapshots it makes
   * obsolete are removed). See the class documentation.
   */
  save(update: PersistUpdate): Promise<void> {
    const unusable = this.#unusable();
    if (unusable) return Promise.reject(unusable);
    const view = this.#view;
    const items: WalItem[] = [];
    let snapIndex = view.firstIndex() - 1;
    let lastIndex = view.lastIndex();
    const snap = update.snapshot;
    const install = snap !== undefined && snap.metadata.index > snapIndex;
    if (install) {
      items.push({
        kind: "snapshot",
        mode: "install",
        metadata: snap.metadata,
      });
      snapIndex = lastIndex = snap.metadata.index;
    }
    const ents = update.entries;
    if (ents.length > 0 && ents[0].index + ents.length - 1 > snapIndex) {
      // A copy: the items are encoded when the write happens.
      const kept = ents.slice(Math.max(0, snapIndex + 1 - ents[0].index));
      if (kept[0].index > lastIndex + 1) {
        return Promise.reject(
          new Error(
            `Missing log entry before index ${
              kept[0].index
            }; last is ${lastIndex}`,
          ),
        );
      }
      items.push({ kind: "entries", entries: kept });
    }
    if (update.hardState) {
      items.push({ kind: "hardState", hardState: { ...update.hardState } });
    }
    try {
      validateItems(items);
    } catch (e) {
      return Promise.reject(e);
    }
    view.save(update);
    if (!install) return this.#enqueue(items, undefined);
    return this.#enqueue(items, this.#writeSnapshot(snap), true, {
      snapshot: snap,
      install: true,
    });
  }

  /**
   * Records a snapshot of the state machine at `index` (at most the
   * applied index) and compacts the log up to it, like
   * `MemoryStorage.createSnapshot` (visible to reads at once). Resolves
   * when the snapshot file and its WAL marker are durable and the WAL
   * segments wholly below `index` and all but the newest snapshots have
   * been removed.
   * Rejects with `UnavailableError` if `index` is past the last index; an
   * `index` at or below the current snapshot's resolves with the current
   * snapshot (with empty data if its bytes were released).
   */
  createSnapshot(
    index: number,
    conf: ConfState,
    data: Uint8Array,
  ): Promise<Snapshot> {
    const unusable = this.#unusable();
    if (unusable) return Promise.reject(unusable);
    const view = this.#view;
    const current = view.snapshot();
    if (index <= current.metadata.index) {
      return this.#enqueue([], undefined).then(() => current);
    }
    if (index > view.lastIndex()) {
      return Promise.reject(new UnavailableError(index));
    }
    const snap = view.createSnapshot(index, conf, data);
    const items: WalItem[] = [{
      kind: "snapshot",
      mode: "compact",
      metadata: snap.metadata,
    }];
    // The snapshot file is written and synced beside the WAL, so saves keep
    // flowing meanwhile; only its marker (which needs the file durable)
    // joins the write queue, after whatever was saved in the meantime.
    const file = this.#writeSnapshot(snap);
    const enqueue = () =>
      this.#enqueue(items, file, true, { snapshot: snap, install: false });
    return file.then(enqueue, enqueue).then(() => snap);
  }

  /**
   * Whether later WAL writes may block the calling thread (see the class
   * documentation): the node asks for it while it follows.
   */
  preferBlockingWrites(on: boolean): void {
    this.#blockingPreferred = on;
  }

  #blockingPreferred = false;
  // Until when writes go through the thread pool after a slow blocking one.
  #poolUntil = 0;

  #writeBlocking(): boolean {
    return this.#blockingPreferred && performance.now() >= this.#poolUntil;
  }

  #blockingWriteTook(ms: number): void {
    if (ms <= SLOW_BLOCKING_WRITE_MS) return;
    this.#poolUntil = performance.now() + POOL_AFTER_SLOW_MS;
    this.#log("storage.slow_blocking_write", {
      level: "warn",
      ms: Math.round(ms),
      hint:
        `A WAL write and sync on the event loop took over ${SLOW_BLOCKING_WRITE_MS} ms: writing through the thread pool for ${
          POOL_AFTER_SLOW_MS / 1000
        } s. A disk this slow also slows every write; check the disk (iostat) and what else uses it`,
    });
  }

  /** Resolves once everything saved so far is durable. */
  flush(): Promise<void> {
    const unusable = this.#unusable();
    if (unusable) return Promise.reject(unusable);
    return this.#enqueue([], undefined);
  }

  /**
   * Waits for queued writes to finish, then closes the files. Later calls
   * reject. Resolves even after a fatal error (the handles are released).
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#spaceTimer);
    this.#wakeSpace?.();
    while (this.#running) await this.#flushing;
    await this.#probing;
    await this.#wal.close();
  }

  /**
   * Gives up writes that wait for disk space, now and later: they reject
   * with a plain error (they were never acknowledged). For a node that
   * stops while the disk is full, so that it can stop.
   */
  abortWaitingForSpace(): void {
    this.#abortSpaceWait = true;
    this.#wakeSpace?.();
  }

  #abortSpaceWait = false;

  #read(): MemoryStorage {
    if (this.#fatal) throw this.#fatal;
    return this.#view;
  }

  #unusable(): Error | undefined {
    if (this.#fatal) return this.#fatal;
    if (this.#closed) return new Error("Storage is closed");
    return undefined;
  }

  #dropSnapshotData(index: number): void {
    if (this.#fatal || this.#closed) return;
    if (this.#view.setSnapshotData(index, new Uint8Array())) {
      this.#dataOnDisk = index;
    }
  }

  // Reads the current snapshot's file back into memory, once at a time.
  #loadSnapshotData(index: number, term: number): void {
    if (this.#loading || this.#closed) return;
    this.#loading = this.#snaps.load({ index, term }).then(
      (snap) => {
        if (
          this.#dataOnDisk === index &&
          this.#view.setSnapshotData(index, snap.data)
        ) this.#dataOnDisk = undefined;
      },
      (e) => {
        if (!this.#closed) this.#fail("reading a snapshot file", e);
      },
    ).finally(() => (this.#loading = undefined));
  }

  #writeSnapshot(snap: Snapshot): Promise<unknown> {
    const p = this.#snaps.save(snap);
    this.#snapFile = { index: snap.metadata.index, done: p };
    // The flush loop awaits it; this only keeps an early failure from
    // counting as unhandled before then.
    p.catch(() => {});
    return p;
  }

  #enqueue(
    items: WalItem[],
    snapshotFile: Promise<unknown> | undefined,
    late = false,
    snap: { snapshot: Snapshot; install: boolean } | undefined = undefined,
  ): Promise<void> {
    this.#operations++;
    return new Promise<void>((resolve, reject) => {
      this.#queue.push({
        items,
        snapshotFile,
        late,
        resolve,
        reject,
        ...snap,
      });
      if (!this.#running) {
        // Starts writing at once (the loop runs synchronously up to its
        // first I/O), so a lone call pays no extra latency.
        this.#running = true;
        this.#flushing = this.#flushLoop();
      }
    });
  }

  // Writes everything queued as one record with one sync, resolves those
  // callers, and repeats while calls arrived in the meantime.
  async #flushLoop(): Promise<void> {
    try {
      while (this.#queue.length > 0) {
        const batch = this.#queue;
        this.#queue = [];
        if (this.#fatal) {
          for (const op of batch) op.reject(this.#fatal);
          continue;
        }
        let snapshotWritten = false;
        let stage = "writing a snapshot file";
        try {
          for (const op of batch) {
            if (op.snapshotFile && await this.#snapshotFileDone(op)) {
              snapshotWritten = true;
            }
          }
          stage = "writing the WAL";
          for (;;) {
            try {
              const t0 = performance.now();
              const blocked = await this.#wal.append(
                batch.map((op) => op.items),
                this.#writeBlocking(),
              );
              if (blocked) this.#blockingWriteTook(performance.now() - t0);
              break;
            } catch (e) {
              if (!(e instanceof NoSpaceError)) throw e;
              await this.#waitForSpace(stage, e);
            }
          }
        } catch (e) {
          if (e instanceof SpaceWaitAborted) {
            for (const op of batch) op.reject(e);
            continue;
          }
          const err = this.#fail(stage, e);
          for (const op of batch) op.reject(err);
          continue;
        }
        for (const op of batch) if (!op.late) op.resolve();
        if (snapshotWritten) {
          try {
            await this.#removeObsolete();
          } catch (e) {
            const err = this.#fail(
              "removing old WAL segments and snapshots",
              e,
            );
            for (const op of batch) if (op.late) op.reject(err);
            continue;
          }
        }
        for (const op of batch) if (op.late) op.resolve();
      }
    } finally {
      // Cleared in the same turn as the queue was last seen empty (no await
      // in between), so any later call starts a new loop.
      this.#running = false;
    }
  }

  // Waits for an op's snapshot file. True once it is written; false when
  // a snapshot this node took was skipped for lack of space (its WAL
  // marker is dropped, so the WAL keeps the entries). An installed one is
  // written again until there is room. Other failures throw.
  async #snapshotFileDone(op: PendingOp): Promise<boolean> {
    for (;;) {
      try {
        await op.snapshotFile;
        return true;
      } catch (e) {
        if (!isNoSpace(e) || !op.snapshot) throw e;
        const m = op.snapshot.metadata;
        if (!op.install) {
          op.items = [];
          op.snapshotFile = undefined;
          this.#log("snapshot.skipped_no_space", {
            dir: this.#dir,
            index: m.index,
            hint:
              "The disk is full: the snapshot was not written; the WAL keeps its entries and the next snapshot tries again",
          });
          this.#enterNoSpace("writing a snapshot file", e);
          return false;
        }
        await this.#waitForSpace("writing a snapshot file", e);
        op.snapshotFile = this.#writeSnapshot(op.snapshot);
      }
    }
  }

  // The disk is full: free the reserve and retry at once if there is one,
  // else wait a while. Throws SpaceWaitAborted when the store closes.
  async #waitForSpace(stage: string, cause: unknown): Promise<void> {
    this.#enterNoSpace(stage, cause);
    if (!this.#closed && !this.#abortSpaceWait && await this.#dropReserve()) {
      return;
    }
    if (!this.#closed && !this.#abortSpaceWait) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, this.#retryMs);
        function done() {
          clearTimeout(timer);
          resolve();
        }
        this.#wakeSpace = done;
      });
      this.#wakeSpace = undefined;
    }
    if (this.#closed || this.#abortSpaceWait) throw new SpaceWaitAborted();
  }

  #enterNoSpace(stage: string, cause: unknown): void {
    if (this.#noSpace) return;
    this.#noSpace = true;
    this.#log("storage.no_space", {
      dir: this.#dir,
      stage,
      error: cause instanceof Error ? cause.message : String(cause),
      hint:
        "The disk is full: writes that add data are refused (space alarm) until space is freed; the node keeps running",
    });
    try {
      this.#onNoSpace?.(true);
    } catch {
      // A listener's failure must not stop the store.
    }
    clearInterval(this.#spaceTimer);
    this.#spaceTimer = setInterval(() => this.#probeSpace(), this.#retryMs);
  }

  // While out of space: once the reserve (or a probe) can be written,
  // there is room again.
  #probeSpace(): void {
    if (this.#probing || this.#closed || !this.#noSpace) return;
    this.#probing = this.#tryReserve().catch((e) => {
      if (!this.#closed) {
        this.#log("storage.space_probe_failed", {
          dir: this.#dir,
          error: String(e),
        });
      }
    }).finally(() => (this.#probing = undefined));
  }

  async #tryReserve(): Promise<void> {
    if (!await this.#writeReserve() || this.#closed) return;
    this.#noSpace = false;
    clearInterval(this.#spaceTimer);
    this.#spaceTimer = undefined;
    this.#log("storage.space_ok", {
      dir: this.#dir,
      reserveBytes: this.#reserveBytes,
    });
    try {
      this.#onNoSpace?.(false);
    } catch {
      // A listener's failure must not stop the store.
    }
    // A write that waits for space goes now.
    this.#wakeSpace?.();
  }

  // At open: the reserve is written if missing or short; a full disk
  // starts the store in the no-space state instead of failing.
  async #openReserve(): Promise<void> {
    if (this.#reserveBytes === 0) return;
    const info = await this.#fs.stat(this.#reservePath);
    if (info?.isFile && info.size >= this.#reserveBytes) return;
    if (!await this.#writeReserve()) {
      this.#enterNoSpace("writing the space reserve", "no space");
    }
  }

  get #reservePath(): string {
    return join(this.#dir, RESERVE_FILE);
  }

  // Writes the reserve file (or, without a reserve, a 1 MiB probe that is
  // removed again). To leave room after it, twice its size is written
  // first and then cut back. Resolves false when the disk is full.
  async #writeReserve(): Promise<boolean> {
    const probe = this.#reserveBytes === 0;
    const size = probe ? 1024 * 1024 : this.#reserveBytes;
    const path = probe ? join(this.#dir, "space.probe") : this.#reservePath;
    const tmp = `${path}.tmp`;
    try {
      const f = await this.#fs.open(tmp, {
        write: true,
        create: true,
        truncate: true,
      });
      try {
        const zeros = new Uint8Array(Math.min(size, 1024 * 1024));
        for (let left = 2 * size; left > 0; left -= zeros.byteLength) {
          await writeAll(
            f,
            zeros.subarray(0, Math.min(left, zeros.byteLength)),
          );
        }
        await f.truncate(size);
        await f.sync();
      } finally {
        f.close();
      }
      if (probe) await this.#fs.remove(tmp);
      else await this.#fs.rename(tmp, path);
      await this.#fs.syncDir(this.#dir);
      return true;
    } catch (e) {
      await this.#fs.remove(tmp).catch(() => {});
      if (isNoSpace(e)) return false;
      throw e;
    }
  }

  // Deletes the reserve file; true if there was one.
  async #dropReserve(): Promise<boolean> {
    if (this.#reserveBytes === 0) return false;
    try {
      if (!await this.#fs.stat(this.#reservePath)) return false;
      await this.#fs.remove(this.#reservePath);
      await this.#fs.syncDir(this.#dir);
    } catch (e) {
      this.#log("storage.reserve_release_failed", {
        dir: this.#dir,
        error: String(e),
      });
      return false;
    }
    this.#log("storage.reserve_released", {
      dir: this.#dir,
      bytes: this.#reserveBytes,
    });
    return true;
  }

  async #removeObsolete(): Promise<void> {
    const segs = await this.#wal.removeObsoleteSegments();
    const index = this.#wal.snapshot.index;
    if (segs.length > 0) {
      this.#log("wal.segments_removed", {
        dir: this.#dir,
        files: segs,
        snapshotIndex: index,
      });
    }
    const snaps = await this.#snaps.prune(index, this.#keep);
    if (snaps.length > 0) {
      this.#log("snapshot.pruned", {
        dir: this.#dir,
        files: snaps,
        keep: this.#keep,
      });
    }
  }

  #fail(stage: string, cause: unknown): StorageFatalError {
    if (this.#fatal) return this.#fatal;
    const err = new StorageFatalError(stage, { cause });
    this.#fatal = err;
    this.#log("storage.fatal", { dir: this.#dir, error: err.message });
    try {
      this.#onFatal?.(err);
    } catch {
      // The handler's own failure must not hide the storage failure.
    }
    return err;
  }
}

// A write that waited for space was given up (the store closed).
class SpaceWaitAborted extends Error {
  constructor() {
    super(
      "Storage stopped while waiting for disk space; the write was not made",
    );
    this.name = "SpaceWaitAborted";
  }
}

function sameConf(a: ConfState, b: ConfState): boolean {
  const eq = (x: string[], y: string[]) =>
    x.length === y.length && x.every((v, i) => v === y[i]);
  return eq(a.voters, b.voters) && eq(a.learners, b.learners);
}
