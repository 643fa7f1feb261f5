/**
 * The write-ahead log: a directory of segment files, appended one batch
 * record per write and made durable with one `syncData()` per write.
 *
 * The `Wal` is a single writer: callers serialize `append()` (the
 * {@linkcode DiskStorage} flush loop does). After any failed write, sync,
 * create, rename or remove it refuses further use, except a write or a
 * segment creation that found the disk full: that one is undone and
 * `append()` throws `NoSpaceError`, and the same append may be retried.
 *
 * @module
 */

import type {
  ConfState,
  HardState,
  SnapshotMetadata,
} from "../../raft/types.ts";
import { EMPTY_HARD_STATE } from "../../raft/types.ts";
import { CorruptionError, NoSpaceError } from "../errors.ts";
import { denoFs, type FileSystem } from "../fs.ts";
import { defaultStorageLogger, type StorageLogger } from "../log.ts";
import { BatchEncoder, type WalItem } from "./record.ts";
import { recoverWal } from "./recovery.ts";
import { type ReplayResult, WalState } from "./replay.ts";
import {
  PREALLOCATE_BYTES,
  type SegmentInfo,
  SegmentWriter,
} from "./segment.ts";

/** The default segment size limit: 64 MiB. */
export const DEFAULT_SEGMENT_SIZE = 64 * 1024 * 1024;

/** Options for {@linkcode Wal.open}. */
export interface WalOptions {
  /** File operations (default: the Deno API). */
  fs?: FileSystem;
  /**
   * Roll to a new segment when a write would take the current one past
   * this many bytes (default 64 MiB). A record larger than the limit gets a
   * segment of its own.
   */
  segmentSize?: number;
  /** The configuration recorded in a brand-new WAL (ignored when reopening). */
  conf?: ConfState;
  /** Where recovery actions are reported (default: JSON lines on stderr). */
  log?: StorageLogger;
  /**
   * Refuse to start a new WAL when the directory has no segments (set when
   * other state, such as snapshots, shows that a WAL existed).
   */
  mustExist?: boolean;
}

/** Counters for benchmarks and tests. */
export interface WalStats {
  /** Batch records written. */
  records: number;
  /** Bytes written in batch records. */
  bytes: number;
  /** `syncData()` calls made for batch records. */
  syncs: number;
  /** Segments created after the first. */
  rolls: number;
  /** Segments removed after snapshots. */
  removed: number;
  /** Records written and synced on the calling thread. */
  blockingWrites: number;
}

/**
 * The largest record written on the calling thread when asked to block: a
 * follower's batch is usually a few KiB; a bigger write goes through the
 * thread pool so that the event loop never waits long.
 */
export const MAX_BLOCKING_BYTES = 256 * 1024;

/** The write-ahead log of one data directory. */
export class Wal {
  #fs: FileSystem;
  #dir: string;
  #segmentSize: number;
  #segments: SegmentInfo[];
  #tail: SegmentWriter;
  #state: WalState;
  #failed: unknown = undefined;
  #closed = false;
  #stats: WalStats = {
    records: 0,
    bytes: 0,
    syncs: 0,
    rolls: 0,
    removed: 0,
    blockingWrites: 0,
  };
  #encoder = new BatchEncoder();

  private constructor(
    fs: FileSystem,
    dir: string,
    segmentSize: number,
    segments: SegmentInfo[],
    tail: SegmentWriter,
    state: WalState,
  ) {
    this.#fs = fs;
    this.#dir = dir;
    this.#segmentSize = segmentSize;
    this.#segments = segments;
    this.#tail = tail;
    this.#state = state;
  }

  /**
   * Opens the WAL in `dir` (which must exist), recovering what it holds, or
   * starts a new one when it has no segments. Throws `CorruptionError` for
   * damage recovery must not repair.
   */
  static async open(
    dir: string,
    options: WalOptions = {},
  ): Promise<{ wal: Wal; recovered: ReplayResult; fresh: boolean }> {
    const fs = options.fs ?? denoFs;
    const log = options.log ?? defaultStorageLogger;
    const segmentSize = options.segmentSize ?? DEFAULT_SEGMENT_SIZE;
    if (!(segmentSize > 0)) {
      throw new RangeError(`Segment size ${segmentSize} must be positive`);
    }
    const rec = await recoverWal(dir, { fs, log });
    if (rec === undefined) {
      if (options.mustExist) {
        throw new CorruptionError(
          dir,
          "the WAL has no segments although this data directory has snapshots, so the log was lost",
        );
      }
      const conf = options.conf ?? { voters: [], learners: [] };
      const snapshot: SnapshotMetadata = {
        index: 0,
        term: 0,
        conf: { voters: [...conf.voters], learners: [...conf.learners] },
      };
      const hardState: HardState = { ...EMPTY_HARD_STATE };
      const tail = await SegmentWriter.create(fs, dir, {
        seq: 1,
        firstIndex: 1,
        hardState,
        snapshot,
      }, preallocation(segmentSize));
      const state = new WalState({ hardState, snapshot, lastIndex: 0 });
      return {
        wal: new Wal(fs, dir, segmentSize, [tail.info], tail, state),
        recovered: { snapshot, entries: [], hardState },
        fresh: true,
      };
    }
    const last = rec.segments[rec.segments.length - 1];
    const tail = await SegmentWriter.openTail(fs, last, {
      size: rec.tailSize,
      headerSize: rec.tailHeaderSize,
      fileSize: rec.tailFileSize,
    }, preallocation(segmentSize));
    const state = new WalState({
      hardState: rec.result.hardState,
      snapshot: rec.result.snapshot,
      lastIndex: rec.lastIndex,
    });
    return {
      wal: new Wal(fs, dir, segmentSize, rec.segments, tail, state),
      recovered: rec.result,
      fresh: false,
    };
  }

  /** The segments, oldest first. */
  get segments(): readonly SegmentInfo[] {
    return this.#segments;
  }

  /** The snapshot marker as of the last durable write. */
  get snapshot(): SnapshotMetadata {
    return this.#state.snapshot;
  }

  /** The hard state as of the last durable write. */
  get hardState(): HardState {
    return this.#state.hardState;
  }

  /** The last log index as of the last durable write. */
  get lastIndex(): number {
    return this.#state.lastIndex;
  }

  /** Counters since open. */
  get stats(): Readonly<WalStats> {
    return this.#stats;
  }

  /**
   * Writes the items of several calls (in order) as one record and makes it
   * durable with one `syncData()`, rolling to a new segment first if the
   * record does not fit. With `blocking`, a record of at most
   * {@linkcode MAX_BLOCKING_BYTES} is written and synced on the calling
   * thread if the file allows it (see `DiskStorage.preferBlockingWrites`);
   * resolves with whether it was. Items must have passed `validateItems`.
   * A full disk undoes the write and throws `NoSpaceError` (retry later);
   * any other I/O error leaves the WAL failed; it must not be used again.
   */
  async append(
    groups: readonly (readonly WalItem[])[],
    blocking = false,
  ): Promise<boolean> {
    this.#checkUsable();
    if (groups.every((g) => g.length === 0)) return false;
    const frame = this.#encoder.encode(groups);
    let block = false;
    try {
      const tail = this.#tail;
      if (
        tail.size > tail.headerSize &&
        tail.size + frame.byteLength > this.#segmentSize
      ) {
        await this.#roll();
      }
      block = blocking && frame.byteLength <= MAX_BLOCKING_BYTES &&
        this.#tail.canBlock;
      await this.#tail.append(frame, block);
      await this.#tail.syncData(block);
      if (block) this.#stats.blockingWrites++;
    } catch (e) {
      // A full disk undid its write (segment.ts): the WAL is as it was and
      // the caller retries later. Anything else, a failed sync above all,
      // is final.
      if (!(e instanceof NoSpaceError)) this.#failed = e;
      throw e;
    }
    this.#stats.records++;
    this.#stats.bytes += frame.byteLength;
    this.#stats.syncs++;
    for (const g of groups) {
      for (const item of g) this.#state.apply(item);
    }
    return block;
  }

  /**
   * Removes the segments whose entries all lie at or below the snapshot
   * index of the last durable write (never the segment being written),
   * oldest first, then syncs the directory. Resolves with the removed names.
   */
  async removeObsoleteSegments(): Promise<string[]> {
    this.#checkUsable();
    const index = this.#state.snapshot.index;
    const segs = this.#segments;
    let k = 0;
    // Segment k holds no entry above segs[k + 1].firstIndex - 1: that was
    // the last index when segment k + 1 was created.
    while (k < segs.length - 1 && segs[k + 1].firstIndex - 1 <= index) k++;
    if (k === 0) return [];
    const removed: string[] = [];
    try {
      for (let j = 0; j < k; j++) {
        await this.#fs.remove(segs[j].path);
        removed.push(segs[j].name);
      }
      await this.#fs.syncDir(this.#dir);
    } catch (e) {
      this.#failed = e;
      throw e;
    } finally {
      this.#segments = segs.slice(removed.length);
    }
    this.#stats.removed += removed.length;
    return removed;
  }

  /**
   * Closes the current segment (after any zero-filling in progress).
   * Nothing is lost: every write was synced.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#tail.close();
  }

  async #roll(): Promise<void> {
    const s = this.#state;
    const next = await SegmentWriter.create(this.#fs, this.#dir, {
      seq: this.#tail.info.seq + 1,
      firstIndex: s.lastIndex + 1,
      hardState: s.hardState,
      snapshot: s.snapshot,
    }, preallocation(this.#segmentSize));
    const done = this.#tail;
    this.#tail = next;
    this.#segments = [...this.#segments, next.info];
    this.#stats.rolls++;
    // The finished segment gives back its zeros (not synced: recovery
    // takes an all-zero rest of a segment as its end either way).
    await done.close(true);
  }

  #checkUsable(): void {
    if (this.#failed !== undefined) {
      throw new Error("The WAL failed earlier and cannot be used", {
        cause: this.#failed,
      });
    }
    if (this.#closed) throw new Error("The WAL is closed");
  }
}

// Zero-filling ahead never makes a segment much longer than its limit.
function preallocation(segmentSize: number): number {
  return Math.min(PREALLOCATE_BYTES, segmentSize);
}
