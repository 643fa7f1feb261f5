/**
 * The WAL's on-disk record format.
 *
 * Every write the WAL makes is exactly one record (a "frame"), so a crash
 * leaves each write whole or detectably broken, never half-applied:
 *
 * ```
 * offset 0  u32 LE  length of the payload (L >= 1)
 * offset 4  u32 LE  CRC-32 (zlib polynomial, node:zlib crc32) of bytes [8, 9 + L)
 * offset 8  u8      record type: 1 segment header, 2 batch
 * offset 9  L bytes payload
 * ```
 *
 * A segment header (type 1) opens every segment file: a msgpack map with the
 * format version, the segment's sequence number and first index, and the
 * state recovery needs to start from this segment alone (hard state and
 * snapshot marker as of the segment's creation).
 *
 * A batch (type 2) is everything one group commit writes: the items of one
 * or more `save()`/`createSnapshot()` calls, in call order. Each item is
 * `u8 kind | u32 LE length | body`:
 *
 * - entries (1): `f64 firstIndex | u32 count | count × (f64 term | u8 type | u32 len | data)`
 * - hard state (2): `f64 term | f64 commit | u16 len | vote (UTF-8)`
 * - snapshot marker (3): `u8 mode (1 install, 2 compact) | msgpack {index, term, voters, learners}`
 *
 * Numbers are stored as float64, exact for every safe integer.
 *
 * Why a fixed binary layout for entries and not msgpack: entries are the hot
 * path, and `bench/wal_bench.ts` measured (256 entries of 256 bytes, this
 * project's 2-core VM) about 6 µs to encode them with this layout into a
 * reused buffer against 50–65 µs with msgpackr (`useRecords: false`; about
 * 60–85 µs with records), and 7–8 µs to decode against 12–14 µs; the sizes
 * are within 2 % of each other. The rare records (segment header, snapshot
 * marker) use msgpack for flexibility.
 *
 * @module
 */

import { crc32 } from "node:zlib";
import { decode, encode } from "../../codec/msgpack.ts";
import type {
  ConfState,
  Entry,
  EntryType,
  HardState,
  SnapshotMetadata,
} from "../../raft/types.ts";
import { snapshotMetaFields } from "../snapshot_meta.ts";

/** Bytes before a record's payload: length, CRC, type. */
export const FRAME_HEADER_SIZE = 9;
/** The largest payload a record may have (1 GiB); longer lengths are damage. */
export const MAX_FRAME_PAYLOAD = 1 << 30;
/** The WAL format version written into every segment header. */
export const WAL_FORMAT_VERSION = 1;
const WAL_MAGIC = "raftlock-wal";

/** Record types. */
export const FrameType = {
  /** The first record of every segment. */
  SegmentHeader: 1,
  /** One group commit's items. */
  Batch: 2,
} as const;

/** The numeric value of a {@linkcode FrameType}. */
export type FrameType = typeof FrameType[keyof typeof FrameType];

const ITEM_ENTRIES = 1;
const ITEM_HARD_STATE = 2;
const ITEM_SNAPSHOT = 3;
const ITEM_HEADER_SIZE = 5;
const ENTRY_HEADER_SIZE = 13;

/**
 * How a snapshot marker changes the log on replay: `install` replaces the
 * whole log (a snapshot received from the leader), `compact` drops the
 * entries up to the index (a snapshot this node took).
 */
export type SnapshotMarkerMode = "install" | "compact";

/** One thing a batch record persists. */
export type WalItem =
  | { kind: "entries"; entries: readonly Entry[] }
  | { kind: "hardState"; hardState: HardState }
  | {
    kind: "snapshot";
    mode: SnapshotMarkerMode;
    metadata: SnapshotMetadata;
  };

/** What every segment header records. */
export interface SegmentHeader {
  /** The segment's sequence number (also in its file name). */
  seq: number;
  /** The log index the segment was created to hold next (also in its file name). */
  firstIndex: number;
  /** The hard state when the segment was created. */
  hardState: HardState;
  /** The snapshot in effect when the segment was created. */
  snapshot: SnapshotMetadata;
}

/** A record found in a buffer. */
export interface Frame {
  /** Byte offset of the record's first byte. */
  offset: number;
  /** Byte offset just past the record. */
  end: number;
  /** The record type. */
  type: FrameType;
  /** The payload (a view into the buffer). */
  payload: Uint8Array;
}

/** The outcome of reading one record: the record, or why there is none. */
export type FrameRead =
  | { frame: Frame; error?: undefined }
  | {
    frame?: undefined;
    /** What is wrong at this offset. */
    error: string;
    /** True when the bytes check out but cannot be understood (never a torn write). */
    unknown?: boolean;
  };

/** Thrown when a record with a valid checksum has a malformed payload. */
export class RecordFormatError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "RecordFormatError";
  }
}

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder("utf-8", { fatal: true });

/** Wraps `payload` in a record of `type` (length, CRC, type, payload). */
export function encodeFrame(type: FrameType, payload: Uint8Array): Uint8Array {
  const buf = new Uint8Array(FRAME_HEADER_SIZE + payload.byteLength);
  buf.set(payload, FRAME_HEADER_SIZE);
  sealFrame(buf, type);
  return buf;
}

// Fills in the length, type and CRC of a frame whose payload is in place.
function sealFrame(buf: Uint8Array, type: FrameType): void {
  const len = buf.byteLength - FRAME_HEADER_SIZE;
  if (len < 1 || len > MAX_FRAME_PAYLOAD) {
    throw new RangeError(`Record payload of ${len} bytes is out of range`);
  }
  const dv = new DataView(buf.buffer, buf.byteOffset, FRAME_HEADER_SIZE);
  dv.setUint32(0, len, true);
  buf[8] = type;
  dv.setUint32(4, crc32(buf.subarray(8)), true);
}

/** Encodes a segment header record. */
export function encodeSegmentHeader(h: SegmentHeader): Uint8Array {
  return encodeFrame(
    FrameType.SegmentHeader,
    encode({
      magic: WAL_MAGIC,
      version: WAL_FORMAT_VERSION,
      seq: h.seq,
      firstIndex: h.firstIndex,
      hardState: {
        term: h.hardState.term,
        vote: h.hardState.vote,
        commit: h.hardState.commit,
      },
      snapshot: snapshotMetaFields(h.snapshot),
    }),
  );
}

/** Decodes a segment header payload; throws {@linkcode RecordFormatError}. */
export function decodeSegmentHeader(payload: Uint8Array): SegmentHeader {
  // deno-lint-ignore no-explicit-any
  let m: any;
  try {
    m = decode(payload);
  } catch (e) {
    throw new RecordFormatError(`Segment header is not valid msgpack: ${e}`);
  }
  if (m === null || typeof m !== "object" || m.magic !== WAL_MAGIC) {
    throw new RecordFormatError("Segment header lacks the raftlock WAL magic");
  }
  if (m.version !== WAL_FORMAT_VERSION) {
    throw new RecordFormatError(
      `Segment header has WAL format version ${m.version}, this build reads version ${WAL_FORMAT_VERSION}`,
    );
  }
  const hs = m.hardState ?? {};
  const s = m.snapshot ?? {};
  const h: SegmentHeader = {
    seq: checkIndex(m.seq, "seq"),
    firstIndex: checkIndex(m.firstIndex, "firstIndex"),
    hardState: {
      term: checkIndex(hs.term, "hardState.term"),
      vote: checkString(hs.vote, "hardState.vote"),
      commit: checkIndex(hs.commit, "hardState.commit"),
    },
    snapshot: {
      index: checkIndex(s.index, "snapshot.index"),
      term: checkIndex(s.term, "snapshot.term"),
      conf: {
        voters: checkStrings(s.voters, "snapshot.voters"),
        learners: checkStrings(s.learners, "snapshot.learners"),
      },
    },
  };
  return h;
}

interface Prepared {
  size: number;
  extra?: Uint8Array;
}

/**
 * Checks that `items` can be encoded: indexes and terms are non-negative
 * safe integers, entries are consecutive, votes fit. Throws `RangeError`.
 * {@linkcode BatchEncoder.encode} assumes items passed this check.
 */
export function validateItems(items: readonly WalItem[]): void {
  for (const item of items) {
    switch (item.kind) {
      case "entries": {
        const ents = item.entries;
        if (ents.length === 0) break;
        const first = checkArg(ents[0].index, "entry index");
        for (let j = 0; j < ents.length; j++) {
          const e = ents[j];
          if (e.index !== first + j) {
            throw new RangeError(
              `Entries are not consecutive: index ${e.index} follows ${
                first + j - 1
              }`,
            );
          }
          checkArg(e.term, "entry term");
          if (!(e.data instanceof Uint8Array)) {
            throw new RangeError(`Entry ${e.index} has no Uint8Array data`);
          }
        }
        break;
      }
      case "hardState":
        checkArg(item.hardState.term, "term");
        checkArg(item.hardState.commit, "commit");
        if (item.hardState.vote.length > 0x3fff) {
          throw new RangeError("Vote is too long");
        }
        break;
      case "snapshot":
        checkArg(item.metadata.index, "snapshot index");
        checkArg(item.metadata.term, "snapshot term");
        break;
    }
  }
}

// The encoder keeps buffers up to this size for reuse; larger records get
// a buffer of their own.
const MAX_REUSED_BUFFER = 8 * 1024 * 1024;

/**
 * Encodes batch records into one reused buffer: allocating a fresh buffer
 * per record costs more than encoding it (V8 zero-fills and accounts every
 * new ArrayBuffer), so the WAL, which writes one record at a time, reuses
 * one. A returned record is valid until the next `encode()`.
 */
export class BatchEncoder {
  #buf = new Uint8Array(64 * 1024);

  /**
   * Encodes the items of several calls (in order) as one batch record.
   * Items must have passed {@linkcode validateItems}. Returns a view into
   * the encoder's buffer, overwritten by the next call.
   */
  encode(groups: readonly (readonly WalItem[])[]): Uint8Array {
    const prep: Prepared[] = [];
    let total = FRAME_HEADER_SIZE;
    for (const items of groups) {
      for (const item of items) {
        const p = prepare(item);
        prep.push(p);
        total += p.size;
      }
    }
    let buf = this.#buf;
    if (total > buf.byteLength) {
      buf = new Uint8Array(Math.max(total, buf.byteLength * 2));
      if (buf.byteLength <= MAX_REUSED_BUFFER) this.#buf = buf;
    }
    const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    let pos = FRAME_HEADER_SIZE;
    let k = 0;
    for (const items of groups) {
      for (const item of items) {
        writeItem(buf, dv, pos, item, prep[k]);
        pos += prep[k].size;
        k++;
      }
    }
    const frame = buf.subarray(0, total);
    sealFrame(frame, FrameType.Batch);
    return frame;
  }
}

/**
 * Encodes `items` as one batch record in a new buffer. Throws `RangeError`
 * for items that fail {@linkcode validateItems}.
 */
export function encodeBatch(items: readonly WalItem[]): Uint8Array {
  validateItems(items);
  return new BatchEncoder().encode([items]).slice();
}

function prepare(item: WalItem): Prepared {
  switch (item.kind) {
    case "entries": {
      let size = ITEM_HEADER_SIZE + 12;
      const ents = item.entries;
      for (let i = 0; i < ents.length; i++) {
        size += ENTRY_HEADER_SIZE + ents[i].data.byteLength;
      }
      return { size };
    }
    case "hardState": {
      const vote = textEncoder.encode(item.hardState.vote);
      return { size: ITEM_HEADER_SIZE + 18 + vote.byteLength, extra: vote };
    }
    case "snapshot": {
      const body = encode(snapshotMetaFields(item.metadata));
      return { size: ITEM_HEADER_SIZE + 1 + body.byteLength, extra: body };
    }
  }
}

function writeItem(
  buf: Uint8Array,
  dv: DataView,
  pos: number,
  item: WalItem,
  p: Prepared,
): void {
  dv.setUint32(pos + 1, p.size - ITEM_HEADER_SIZE, true);
  const body = pos + ITEM_HEADER_SIZE;
  switch (item.kind) {
    case "entries": {
      buf[pos] = ITEM_ENTRIES;
      const ents = item.entries;
      dv.setFloat64(body, ents.length > 0 ? ents[0].index : 0, true);
      dv.setUint32(body + 8, ents.length, true);
      let q = body + 12;
      for (let j = 0; j < ents.length; j++) {
        const e = ents[j];
        dv.setFloat64(q, e.term, true);
        buf[q + 8] = e.type;
        const len = e.data.byteLength;
        dv.setUint32(q + 9, len, true);
        buf.set(e.data, q + ENTRY_HEADER_SIZE);
        q += ENTRY_HEADER_SIZE + len;
      }
      return;
    }
    case "hardState": {
      buf[pos] = ITEM_HARD_STATE;
      const hs = item.hardState;
      dv.setFloat64(body, hs.term, true);
      dv.setFloat64(body + 8, hs.commit, true);
      const vote = p.extra!;
      dv.setUint16(body + 16, vote.byteLength, true);
      buf.set(vote, body + 18);
      return;
    }
    case "snapshot": {
      buf[pos] = ITEM_SNAPSHOT;
      buf[body] = item.mode === "install" ? 1 : 2;
      buf.set(p.extra!, body + 1);
      return;
    }
  }
}

/**
 * Decodes a batch payload into its items. Entry data are views into
 * `payload`. Throws {@linkcode RecordFormatError} when the layout is wrong.
 */
export function decodeBatch(payload: Uint8Array): WalItem[] {
  const dv = new DataView(
    payload.buffer,
    payload.byteOffset,
    payload.byteLength,
  );
  const items: WalItem[] = [];
  let pos = 0;
  const n = payload.byteLength;
  while (pos < n) {
    if (pos + ITEM_HEADER_SIZE > n) throw bad("item header is cut short");
    const kind = payload[pos];
    const len = dv.getUint32(pos + 1, true);
    const body = pos + ITEM_HEADER_SIZE;
    const end = body + len;
    if (end > n) throw bad("item runs past the end of its record");
    switch (kind) {
      case ITEM_ENTRIES: {
        if (len < 12) throw bad("entries item is too short");
        const first = readIndex(dv, body, "entry index");
        const count = dv.getUint32(body + 8, true);
        const entries: Entry[] = new Array(count);
        let q = body + 12;
        for (let j = 0; j < count; j++) {
          if (q + ENTRY_HEADER_SIZE > end) throw bad("entry is cut short");
          const term = readIndex(dv, q, "entry term");
          const type = payload[q + 8] as EntryType;
          const dlen = dv.getUint32(q + 9, true);
          const ds = q + ENTRY_HEADER_SIZE;
          if (ds + dlen > end) throw bad("entry data runs past its item");
          entries[j] = {
            term,
            index: first + j,
            type,
            data: payload.subarray(ds, ds + dlen),
          };
          q = ds + dlen;
        }
        if (q !== end) throw bad("entries item has trailing bytes");
        items.push({ kind: "entries", entries });
        break;
      }
      case ITEM_HARD_STATE: {
        if (len < 18) throw bad("hard state item is too short");
        const term = readIndex(dv, body, "term");
        const commit = readIndex(dv, body + 8, "commit");
        const vlen = dv.getUint16(body + 16, true);
        if (18 + vlen !== len) throw bad("hard state item has a bad length");
        let vote: string;
        try {
          vote = textDecoder.decode(payload.subarray(body + 18, end));
        } catch {
          throw bad("vote is not valid UTF-8");
        }
        items.push({ kind: "hardState", hardState: { term, vote, commit } });
        break;
      }
      case ITEM_SNAPSHOT: {
        if (len < 2) throw bad("snapshot marker is too short");
        const modeByte = payload[body];
        if (modeByte !== 1 && modeByte !== 2) {
          throw bad(`snapshot marker has unknown mode ${modeByte}`);
        }
        // deno-lint-ignore no-explicit-any
        let m: any;
        try {
          m = decode(payload.subarray(body + 1, end));
        } catch {
          throw bad("snapshot marker is not valid msgpack");
        }
        if (m === null || typeof m !== "object") {
          throw bad("snapshot marker is not a map");
        }
        items.push({
          kind: "snapshot",
          mode: modeByte === 1 ? "install" : "compact",
          metadata: {
            index: checkIndex(m.index, "snapshot index"),
            term: checkIndex(m.term, "snapshot term"),
            conf: confOf(m),
          },
        });
        break;
      }
      default:
        throw bad(`unknown item kind ${kind}`);
    }
    pos = end;
  }
  if (items.length === 0) throw bad("batch record has no items");
  return items;
}

/**
 * Reads the record at `offset`, checking its length, CRC and type. Reading
 * never throws: a damaged or incomplete record comes back as an error.
 */
export function readFrame(buf: Uint8Array, offset: number): FrameRead {
  const avail = buf.byteLength - offset;
  if (avail < FRAME_HEADER_SIZE) {
    return {
      error:
        `incomplete record header (${avail} of ${FRAME_HEADER_SIZE} bytes)`,
    };
  }
  const dv = new DataView(
    buf.buffer,
    buf.byteOffset + offset,
    FRAME_HEADER_SIZE,
  );
  const len = dv.getUint32(0, true);
  if (len === 0 || len > MAX_FRAME_PAYLOAD) {
    return { error: `impossible record length ${len}` };
  }
  const end = offset + FRAME_HEADER_SIZE + len;
  if (end > buf.byteLength) {
    return {
      error: `record of ${len} bytes runs ${
        end - buf.byteLength
      } bytes past the end of the file`,
    };
  }
  const stored = dv.getUint32(4, true);
  const actual = crc32(buf.subarray(offset + 8, end));
  if (stored !== actual) {
    return {
      error: `checksum mismatch (stored ${hex32(stored)}, computed ${
        hex32(actual)
      })`,
    };
  }
  const type = buf[offset + 8];
  if (type !== FrameType.SegmentHeader && type !== FrameType.Batch) {
    return { error: `unknown record type ${type}`, unknown: true };
  }
  return {
    frame: {
      offset,
      end,
      type: type as FrameType,
      payload: buf.subarray(offset + FRAME_HEADER_SIZE, end),
    },
  };
}

/**
 * Looks for any whole, checksum-valid record starting after `from`. Used to
 * tell a torn tail (nothing valid follows) from damage in the middle
 * (valid records follow). `budget` caps the bytes checksummed; when it runs
 * out the answer is "found" (the cautious answer: refuse to start).
 */
export function findValidFrameAfter(
  buf: Uint8Array,
  from: number,
  budget = 256 * 1024 * 1024,
): number | undefined {
  const n = buf.byteLength;
  const dv = new DataView(buf.buffer, buf.byteOffset, n);
  for (let p = from + 1; p + FRAME_HEADER_SIZE <= n; p++) {
    const len = dv.getUint32(p, true);
    if (len === 0 || p + FRAME_HEADER_SIZE + len > n) continue;
    const type = buf[p + 8];
    if (type !== FrameType.SegmentHeader && type !== FrameType.Batch) continue;
    budget -= len;
    if (budget < 0) return p;
    if (
      crc32(buf.subarray(p + 8, p + FRAME_HEADER_SIZE + len)) ===
        dv.getUint32(p + 4, true)
    ) {
      return p;
    }
  }
  return undefined;
}

function bad(what: string): RecordFormatError {
  return new RecordFormatError(`Malformed batch record: ${what}`);
}

function readIndex(dv: DataView, at: number, what: string): number {
  const v = dv.getFloat64(at, true);
  if (!Number.isSafeInteger(v) || v < 0) throw bad(`${what} ${v} is not valid`);
  return v;
}

function checkArg(v: number, what: string): number {
  if (!Number.isSafeInteger(v) || v < 0) {
    throw new RangeError(`The ${what} ${v} is not a non-negative safe integer`);
  }
  return v;
}

function checkIndex(v: unknown, what: string): number {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) {
    throw new RecordFormatError(`Field ${what} is not a valid index: ${v}`);
  }
  return v;
}

function checkString(v: unknown, what: string): string {
  if (typeof v !== "string") {
    throw new RecordFormatError(`Field ${what} is not a string`);
  }
  return v;
}

function checkStrings(v: unknown, what: string): string[] {
  if (!Array.isArray(v) || !v.every((s) => typeof s === "string")) {
    throw new RecordFormatError(`Field ${what} is not a list of strings`);
  }
  return v as string[];
}

// deno-lint-ignore no-explicit-any
function confOf(m: any): ConfState {
  return {
    voters: checkStrings(m.voters, "snapshot voters"),
    learners: checkStrings(m.learners, "snapshot learners"),
  };
}

function hex32(v: number): string {
  return `0x${v.toString(16).padStart(8, "0")}`;
}
