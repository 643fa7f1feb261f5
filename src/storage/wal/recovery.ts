/**
 * Opening a WAL directory: read every segment, check every record, rebuild
 * the log, and repair only what a crash can legitimately leave behind.
 *
 * Outcomes, in the order they are checked:
 *
 * - `*.tmp` files (a segment whose creation was interrupted) are removed.
 * - Two segments with one sequence number, or a sequence number missing
 *   between the first and the last segment: {@linkcode CorruptionError}.
 * - A segment whose header record is damaged, or names another sequence or
 *   first index than its file name (for example a copied segment), or
 *   disagrees with the state replayed from the segments before it:
 *   {@linkcode CorruptionError}.
 * - A damaged record in any segment but the last: {@linkcode CorruptionError}
 *   naming the file and byte offset. Only the last segment is ever written
 *   to without a sync behind it.
 * - A damaged record in the last segment followed by a valid record (damage
 *   in the middle, such as a flipped bit): {@linkcode CorruptionError}.
 * - Nothing but zeros after a segment's last record: the space the writer
 *   fills ahead of its records. It is kept; appends overwrite it.
 * - A damaged record in the last segment with no valid record after it (a
 *   torn, partial or garbage tail): the tail is cut back to
 *   the last whole record and the cut bytes are kept beside the segment as
 *   `<segment>.broken` (or `<segment>.<n>.broken`; on a full disk the copy
 *   is skipped and the log line says so), with a log line. Since
 *   every write is one record, this removes exactly the unsynced write.
 *   (A flipped bit in the very last record looks the same as a torn write
 *   and is handled as one; its bytes stay in the `.broken` file.)
 * - Entries missing from the start of the log that no snapshot covers:
 *   {@linkcode CorruptionError}.
 *
 * @module
 */

import { CorruptionError, isNoSpace } from "../errors.ts";
import { type FileSystem, join, writeFileAtomic } from "../fs.ts";
import type { StorageLogger } from "../log.ts";
import {
  decodeBatch,
  decodeSegmentHeader,
  findValidFrameAfter,
  FrameType,
  readFrame,
  RecordFormatError,
  type SegmentHeader,
} from "./record.ts";
import { LogReplay, ReplayError, type ReplayResult } from "./replay.ts";
import {
  BROKEN_SUFFIX,
  isAllZero,
  listSegments,
  type SegmentInfo,
} from "./segment.ts";

/** What recovery found in a WAL directory that has segments. */
export interface RecoveredWal {
  /** The log, snapshot marker and hard state the WAL holds. */
  result: ReplayResult;
  /** The last index written (the end of `result.entries`). */
  lastIndex: number;
  /** The segments, oldest first. */
  segments: SegmentInfo[];
  /** The end of the last segment's records after any repair. */
  tailSize: number;
  /** The last segment's file length (zeros may follow the records). */
  tailFileSize: number;
  /** The size of the last segment's header record. */
  tailHeaderSize: number;
}

/** Options for {@linkcode recoverWal}. */
export interface RecoverOptions {
  /** File operations. */
  fs: FileSystem;
  /** Where recovery actions are reported. */
  log: StorageLogger;
}

/**
 * Recovers the WAL in `dir`, or resolves `undefined` when it holds no
 * segments. Throws {@linkcode CorruptionError} for damage it must not repair.
 */
export async function recoverWal(
  dir: string,
  options: RecoverOptions,
): Promise<RecoveredWal | undefined> {
  const { fs, log } = options;
  const listing = await listSegments(fs, dir);
  if (listing.temps.length > 0) {
    for (const t of listing.temps) {
      await fs.remove(join(dir, t));
      log("wal.temp_removed", { file: join(dir, t) });
    }
    await fs.syncDir(dir);
  }
  const segs = listing.segments;
  if (segs.length === 0) return undefined;
  for (let i = 1; i < segs.length; i++) {
    const prev = segs[i - 1];
    const cur = segs[i];
    if (cur.seq === prev.seq) {
      throw new CorruptionError(
        cur.path,
        `duplicate segment: sequence number ${cur.seq} is also used by ${prev.name}`,
      );
    }
    if (cur.seq !== prev.seq + 1) {
      throw new CorruptionError(
        dir,
        `segment ${
          prev.seq + 1
        } is missing between ${prev.name} and ${cur.name}`,
      );
    }
  }

  let replay: LogReplay | undefined;
  let torn: { offset: number; bytes: Uint8Array; reason: string } | undefined;
  let tailSize = 0;
  let tailFileSize = 0;
  let tailHeaderSize = 0;
  for (let i = 0; i < segs.length; i++) {
    const seg = segs[i];
    const isLast = i === segs.length - 1;
    const buf = await fs.readFile(seg.path);
    const first = readFrame(buf, 0);
    if (!first.frame || first.frame.type !== FrameType.SegmentHeader) {
      throw new CorruptionError(
        seg.path,
        `the segment header is damaged: ${first.error ?? "wrong record type"}`,
        { offset: 0 },
      );
    }
    let header: SegmentHeader;
    try {
      header = decodeSegmentHeader(first.frame.payload);
    } catch (e) {
      throw new CorruptionError(seg.path, describe(e), { offset: 0, cause: e });
    }
    if (header.seq !== seg.seq || header.firstIndex !== seg.firstIndex) {
      throw new CorruptionError(
        seg.path,
        `the segment header says sequence ${header.seq} and first index ${header.firstIndex}, which does not match the file name (a copied or renamed segment)`,
        { offset: 0 },
      );
    }
    if (replay === undefined) {
      replay = new LogReplay(header);
    } else {
      checkHeader(seg, header, replay);
    }
    let off = first.frame.end;
    while (off < buf.byteLength) {
      const r = readFrame(buf, off);
      if (r.frame) {
        if (r.frame.type !== FrameType.Batch) {
          throw new CorruptionError(
            seg.path,
            "a segment header record appears in the middle of the segment",
            { offset: off },
          );
        }
        try {
          for (const item of decodeBatch(r.frame.payload)) replay.apply(item);
        } catch (e) {
          if (e instanceof RecordFormatError || e instanceof ReplayError) {
            throw new CorruptionError(seg.path, describe(e), {
              offset: off,
              cause: e,
            });
          }
          throw e;
        }
        off = r.frame.end;
        continue;
      }
      // Zeros to the end: space the writer filled ahead of its records
      // (segment.ts), in any segment. A lost record in the middle of the
      // log would still be caught: the next segment's header must
      // continue from the last entry read here.
      if (isAllZero(buf.subarray(off))) break;
      if (r.unknown) {
        throw new CorruptionError(
          seg.path,
          `${r.error} (written by a newer version?)`,
          { offset: off },
        );
      }
      if (!isLast) {
        throw new CorruptionError(
          seg.path,
          `bad record (${r.error}); only the last segment may end in a torn write`,
          { offset: off },
        );
      }
      const next = findValidFrameAfter(buf, off);
      if (next !== undefined) {
        throw new CorruptionError(
          seg.path,
          `bad record (${r.error}) followed by a valid record at byte offset ${next}, so this is not a torn tail`,
          { offset: off },
        );
      }
      torn = { offset: off, bytes: buf.subarray(off), reason: r.error };
      break;
    }
    if (isLast) {
      tailSize = off;
      tailFileSize = torn ? off : buf.byteLength;
      tailHeaderSize = first.frame.end;
    }
  }

  let result: ReplayResult;
  try {
    result = replay!.finish();
  } catch (e) {
    if (e instanceof ReplayError) {
      throw new CorruptionError(dir, describe(e), { cause: e });
    }
    throw e;
  }

  if (torn) {
    const seg = segs[segs.length - 1];
    const broken = await cutTail(fs, seg, torn.offset, torn.bytes);
    log("wal.torn_tail_cut", {
      file: seg.path,
      offset: torn.offset,
      bytes: torn.bytes.byteLength,
      reason: torn.reason,
      keptIn: broken ?? "nowhere: the disk is full",
    });
  }
  return {
    result,
    lastIndex: replay!.lastIndex,
    segments: segs,
    tailSize,
    tailFileSize,
    tailHeaderSize,
  };
}

function checkHeader(
  seg: SegmentInfo,
  h: SegmentHeader,
  replay: LogReplay,
): void {
  const hs = replay.hardState;
  const snap = replay.snapshot;
  const problems: string[] = [];
  if (h.firstIndex !== replay.lastIndex + 1) {
    problems.push(
      `first index ${h.firstIndex} but the log before it ends at ${replay.lastIndex}`,
    );
  }
  if (
    h.hardState.term !== hs.term || h.hardState.vote !== hs.vote ||
    h.hardState.commit !== hs.commit
  ) {
    problems.push(
      `hard state ${
        JSON.stringify(h.hardState)
      } but the segments before it end with ${JSON.stringify(hs)}`,
    );
  }
  if (h.snapshot.index !== snap.index || h.snapshot.term !== snap.term) {
    problems.push(
      `snapshot ${h.snapshot.index}/${h.snapshot.term} but the segments before it end with ${snap.index}/${snap.term}`,
    );
  }
  if (problems.length > 0) {
    throw new CorruptionError(
      seg.path,
      `the segment header does not continue the previous segment: ${
        problems.join("; ")
      }`,
      { offset: 0 },
    );
  }
}

// Keeps the cut bytes beside the segment, then truncates the segment, each
// step durable before the next.
async function cutTail(
  fs: FileSystem,
  seg: SegmentInfo,
  offset: number,
  bytes: Uint8Array,
): Promise<string | null> {
  let brokenPath: string | null = seg.path + BROKEN_SUFFIX;
  for (let n = 1; await fs.stat(brokenPath) !== undefined; n++) {
    brokenPath = `${seg.path}.${n}${BROKEN_SUFFIX}`;
  }
  try {
    await writeFileAtomic(fs, brokenPath, bytes);
  } catch (e) {
    // On a full disk the copy is skipped (the bytes were never synced, so
    // nothing acknowledged is in them): a node must start to report it.
    if (!isNoSpace(e)) throw e;
    brokenPath = null;
  }
  const f = await fs.open(seg.path, { write: true });
  try {
    await f.truncate(offset);
    await f.sync();
  } finally {
    f.close();
  }
  return brokenPath;
}

function describe(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
