/**
 * WAL segment files: naming, listing, creating and appending.
 *
 * A segment is named `<seq>-<firstIndex>.wal` with both numbers as 16
 * lower-case hex digits, for example `0000000000000003-00000000000004d2.wal`:
 * `seq` counts segments from 1 without gaps, `firstIndex` is the log index
 * the segment was created to hold next. The first record of every segment is
 * a segment header repeating both numbers.
 *
 * A new segment is written as `<name>.tmp` with its header, synced, renamed
 * into place and the directory synced, so a segment file with a final name
 * always starts with a whole header.
 *
 * @module
 */

import {
  type FileHandle,
  type FileSystem,
  join,
  TEMP_SUFFIX,
  writeAll,
  writeAllBlocking,
  writeFileAtomic,
} from "../fs.ts";
import { isNoSpace, NoSpaceError } from "../errors.ts";
import { encodeSegmentHeader, type SegmentHeader } from "./record.ts";

/** The file name suffix of a segment. */
export const SEGMENT_SUFFIX = ".wal";
/** The suffix of bytes cut off a torn tail, kept for inspection. */
export const BROKEN_SUFFIX = ".broken";

const NAME_RE = /^([0-9a-f]{16})-([0-9a-f]{16})\.wal$/;

/** A segment file found on disk. */
export interface SegmentInfo {
  /** The file name. */
  name: string;
  /** The full path. */
  path: string;
  /** The sequence number from the name. */
  seq: number;
  /** The first index from the name. */
  firstIndex: number;
}

/** The file name of segment `seq` that starts at `firstIndex`. */
export function segmentName(seq: number, firstIndex: number): string {
  return `${hex16(seq)}-${hex16(firstIndex)}${SEGMENT_SUFFIX}`;
}

/** Parses a segment file name, or returns `undefined` if it is not one. */
export function parseSegmentName(
  name: string,
): { seq: number; firstIndex: number } | undefined {
  const m = NAME_RE.exec(name);
  if (!m) return undefined;
  const seq = parseInt(m[1], 16);
  const firstIndex = parseInt(m[2], 16);
  if (!Number.isSafeInteger(seq) || !Number.isSafeInteger(firstIndex)) {
    return undefined;
  }
  return { seq, firstIndex };
}

/** What a WAL directory holds: segments sorted by sequence, and leftovers. */
export interface WalListing {
  /** Segment files, sorted by `seq` (duplicates kept, adjacent). */
  segments: SegmentInfo[];
  /** Names of unfinished segment files (`*.tmp`). */
  temps: string[];
}

/** Lists the segments and temp files of a WAL directory. */
export async function listSegments(
  fs: FileSystem,
  dir: string,
): Promise<WalListing> {
  const segments: SegmentInfo[] = [];
  const temps: string[] = [];
  for (const e of await fs.readDir(dir)) {
    if (!e.isFile) continue;
    const parsed = parseSegmentName(e.name);
    if (parsed) {
      segments.push({ name: e.name, path: join(dir, e.name), ...parsed });
    } else if (e.name.endsWith(TEMP_SUFFIX)) {
      temps.push(e.name);
    }
  }
  segments.sort((a, b) => a.seq - b.seq || a.firstIndex - b.firstIndex);
  return { segments, temps };
}

/** The open tail segment that the WAL appends to. */
export class SegmentWriter {
  /** The segment's file. */
  readonly info: SegmentInfo;
  /** The size of the header record: appends start after it. */
  readonly headerSize: number;
  #file: FileHandle;
  #size: number;

  private constructor(
    info: SegmentInfo,
    file: FileHandle,
    size: number,
    headerSize: number,
  ) {
    this.info = info;
    this.#file = file;
    this.#size = size;
    this.headerSize = headerSize;
  }

  /**
   * Creates segment `header.seq` in `dir`: temp file, header, sync, rename,
   * directory sync. Resolves with the segment open for appending.
   */
  static async create(
    fs: FileSystem,
    dir: string,
    header: SegmentHeader,
  ): Promise<SegmentWriter> {
    const name = segmentName(header.seq, header.firstIndex);
    const path = join(dir, name);
    const bytes = encodeSegmentHeader(header);
    try {
      await writeFileAtomic(fs, path, bytes);
    } catch (e) {
      // The temp file is gone again and the segment was not created.
      if (isNoSpace(e)) {
        throw new NoSpaceError(`creating WAL segment ${name}`, { cause: e });
      }
      throw e;
    }
    const file = await fs.open(path, { append: true });
    return new SegmentWriter(
      { name, path, seq: header.seq, firstIndex: header.firstIndex },
      file,
      bytes.byteLength,
      bytes.byteLength,
    );
  }

  /** Opens an existing segment of `size` bytes (already checked) for appending. */
  static async openTail(
    fs: FileSystem,
    info: SegmentInfo,
    sizes: { size: number; headerSize: number },
  ): Promise<SegmentWriter> {
    const file = await fs.open(info.path, { append: true });
    return new SegmentWriter(info, file, sizes.size, sizes.headerSize);
  }

  /** The segment's size in bytes, including what was appended. */
  get size(): number {
    return this.#size;
  }

  /**
   * Appends bytes at the end of the segment (not yet durable), on the
   * calling thread when `blocking` (only if {@linkcode canBlock}). When the
   * disk is full, what reached the file is cut off again and
   * {@linkcode NoSpaceError} is thrown: the segment ends at its last whole
   * record, as before the call.
   */
  async append(bytes: Uint8Array, blocking = false): Promise<void> {
    // Count the bytes first: if the write fails otherwise, the size is
    // unknown and the WAL is dead anyway.
    const before = this.#size;
    this.#size += bytes.byteLength;
    try {
      if (blocking) writeAllBlocking(this.#file, bytes);
      else await writeAll(this.#file, bytes);
    } catch (e) {
      if (!isNoSpace(e)) throw e;
      // Unsynced and unacknowledged: nothing is lost by cutting it. If the
      // cut fails, that error (not a NoSpaceError) makes the WAL fail.
      await this.#file.truncate(before);
      this.#size = before;
      throw new NoSpaceError(`appending to ${this.info.name}`, { cause: e });
    }
  }

  /**
   * Makes everything appended so far durable (`fdatasync`), on the calling
   * thread when `blocking` (only if {@linkcode canBlock}).
   */
  syncData(blocking = false): Promise<void> {
    if (!blocking) return this.#file.syncData();
    this.#file.syncDataSync!();
    return Promise.resolve();
  }

  /** Whether {@linkcode append} and {@linkcode syncData} can block instead. */
  get canBlock(): boolean {
    return this.#file.writeSync !== undefined &&
      this.#file.syncDataSync !== undefined;
  }

  /** Closes the file. */
  close(): void {
    this.#file.close();
  }
}

function hex16(n: number): string {
  return n.toString(16).padStart(16, "0");
}
