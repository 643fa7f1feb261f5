/**
 * Snapshot files: one file per snapshot, written so that a crash leaves
 * either no file or a whole one, and checked by a CRC trailer on read.
 *
 * A snapshot is named `<term>-<index>.snap` (16 hex digits each) and laid
 * out as:
 *
 * ```
 * "RLSNAP" 0x00 0x01          magic and format version (8 bytes)
 * u32 LE  metadata length M
 * M bytes msgpack {index, term, voters, learners}
 * ...     the state machine's data
 * u32 LE  CRC-32 of every byte before it       trailer
 * "RLSNAPOK"                                  trailer magic (8 bytes)
 * ```
 *
 * Writing: temp file, sync, rename, sync the directory. The store keeps the
 * newest snapshots (two by default) and removes older ones after a newer
 * one is durable in the WAL.
 *
 * @module
 */

import { crc32 } from "node:zlib";
import { decode, encode } from "../codec/msgpack.ts";
import type { Snapshot, SnapshotMetadata } from "../raft/types.ts";
import { CorruptionError } from "./errors.ts";
import {
  denoFs,
  type FileSystem,
  join,
  TEMP_SUFFIX,
  writeFileAtomic,
} from "./fs.ts";
import { defaultStorageLogger, type StorageLogger } from "./log.ts";
import { snapshotMetaFields } from "./snapshot_meta.ts";

const MAGIC = new Uint8Array([0x52, 0x4c, 0x53, 0x4e, 0x41, 0x50, 0x00, 0x01]);
const TRAILER_MAGIC = new TextEncoder().encode("RLSNAPOK");
const TRAILER_SIZE = 12;
const NAME_RE = /^([0-9a-f]{16})-([0-9a-f]{16})\.snap$/;

/** The file name of the snapshot at `index` taken in `term`. */
export function snapshotFileName(term: number, index: number): string {
  return `${hex16(term)}-${hex16(index)}.snap`;
}

/** A snapshot file on disk. */
export interface SnapshotFileInfo {
  /** The file name. */
  name: string;
  /** The full path. */
  path: string;
  /** The snapshot's last included index (from the name). */
  index: number;
  /** The term of that entry (from the name). */
  term: number;
}

/** Options for {@linkcode SnapshotStore.open}. */
export interface SnapshotStoreOptions {
  /** File operations (default: the Deno API). */
  fs?: FileSystem;
  /** Where removals of leftovers are reported. */
  log?: StorageLogger;
}

/** Encodes a snapshot in the file format described in this module. */
export function encodeSnapshotFrame(
  snapshot: Snapshot,
): { head: Uint8Array; trailer: Uint8Array } {
  const meta = encode(snapshotMetaFields(snapshot.metadata));
  const head = new Uint8Array(MAGIC.byteLength + 4 + meta.byteLength);
  head.set(MAGIC, 0);
  new DataView(head.buffer).setUint32(MAGIC.byteLength, meta.byteLength, true);
  head.set(meta, MAGIC.byteLength + 4);
  const trailer = new Uint8Array(TRAILER_SIZE);
  new DataView(trailer.buffer).setUint32(
    0,
    crc32(snapshot.data, crc32(head)),
    true,
  );
  trailer.set(TRAILER_MAGIC, 4);
  return { head, trailer };
}

/** The whole snapshot file in one buffer (see {@linkcode encodeSnapshotFrame}). */
export function encodeSnapshotFile(snapshot: Snapshot): Uint8Array {
  const { head, trailer } = encodeSnapshotFrame(snapshot);
  const buf = new Uint8Array(
    head.byteLength + snapshot.data.byteLength + trailer.byteLength,
  );
  buf.set(head, 0);
  buf.set(snapshot.data, head.byteLength);
  buf.set(trailer, head.byteLength + snapshot.data.byteLength);
  return buf;
}

/**
 * Decodes a snapshot file; throws {@linkcode CorruptionError} (naming
 * `path`) when it is cut short, damaged or not a snapshot.
 */
export function decodeSnapshotFile(path: string, buf: Uint8Array): Snapshot {
  const min = MAGIC.byteLength + 4 + TRAILER_SIZE;
  if (buf.byteLength < min) {
    throw new CorruptionError(
      path,
      `snapshot file is only ${buf.byteLength} bytes`,
    );
  }
  for (let i = 0; i < MAGIC.byteLength; i++) {
    if (buf[i] !== MAGIC[i]) {
      throw new CorruptionError(
        path,
        "not a raftlock snapshot file (bad magic)",
        {
          offset: 0,
        },
      );
    }
  }
  const end = buf.byteLength - TRAILER_SIZE;
  for (let i = 0; i < TRAILER_MAGIC.byteLength; i++) {
    if (buf[end + 4 + i] !== TRAILER_MAGIC[i]) {
      throw new CorruptionError(
        path,
        "snapshot trailer is missing (the file is cut short or damaged)",
        { offset: end },
      );
    }
  }
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const stored = dv.getUint32(end, true);
  const actual = crc32(buf.subarray(0, end));
  if (stored !== actual) {
    throw new CorruptionError(
      path,
      `snapshot checksum mismatch (stored ${stored}, computed ${actual})`,
      { offset: end },
    );
  }
  const metaLen = dv.getUint32(MAGIC.byteLength, true);
  const metaStart = MAGIC.byteLength + 4;
  if (metaStart + metaLen > end) {
    throw new CorruptionError(path, "snapshot metadata runs past the data", {
      offset: MAGIC.byteLength,
    });
  }
  // deno-lint-ignore no-explicit-any
  let m: any;
  try {
    m = decode(buf.subarray(metaStart, metaStart + metaLen));
  } catch (e) {
    throw new CorruptionError(path, "snapshot metadata is not valid msgpack", {
      offset: metaStart,
      cause: e,
    });
  }
  const ok = m !== null && typeof m === "object" &&
    Number.isSafeInteger(m.index) && Number.isSafeInteger(m.term) &&
    isStrings(m.voters) && isStrings(m.learners);
  if (!ok) {
    throw new CorruptionError(path, "snapshot metadata is malformed", {
      offset: metaStart,
    });
  }
  return {
    metadata: {
      index: m.index,
      term: m.term,
      conf: { voters: m.voters, learners: m.learners },
    },
    // A view, not a copy: the file buffer is hardly larger than the data,
    // and a copy would briefly need twice the snapshot's size.
    data: buf.subarray(metaStart + metaLen, end),
  };
}

/** The snapshot files of one data directory. */
export class SnapshotStore {
  #fs: FileSystem;
  #dir: string;

  private constructor(fs: FileSystem, dir: string) {
    this.#fs = fs;
    this.#dir = dir;
  }

  /**
   * Opens the snapshot directory `dir` (which must exist) and removes
   * leftovers of interrupted writes (`*.tmp`).
   */
  static async open(
    dir: string,
    options: SnapshotStoreOptions = {},
  ): Promise<SnapshotStore> {
    const fs = options.fs ?? denoFs;
    const log = options.log ?? defaultStorageLogger;
    let removed = false;
    for (const e of await fs.readDir(dir)) {
      if (e.isFile && e.name.endsWith(TEMP_SUFFIX)) {
        await fs.remove(join(dir, e.name));
        log("snapshot.temp_removed", { file: join(dir, e.name) });
        removed = true;
      }
    }
    if (removed) await fs.syncDir(dir);
    return new SnapshotStore(fs, dir);
  }

  /** The directory holding the snapshots. */
  get dir(): string {
    return this.#dir;
  }

  /** The snapshot files, oldest (lowest index) first. */
  async list(): Promise<SnapshotFileInfo[]> {
    const out: SnapshotFileInfo[] = [];
    for (const e of await this.#fs.readDir(this.#dir)) {
      const m = e.isFile ? NAME_RE.exec(e.name) : null;
      if (!m) continue;
      out.push({
        name: e.name,
        path: join(this.#dir, e.name),
        term: parseInt(m[1], 16),
        index: parseInt(m[2], 16),
      });
    }
    out.sort((a, b) => a.index - b.index || a.term - b.term);
    return out;
  }

  /**
   * Writes `snapshot` durably: temp file, sync, rename, directory sync.
   * Resolves with the file's path.
   */
  async save(snapshot: Snapshot): Promise<string> {
    const m = snapshot.metadata;
    const path = join(this.#dir, snapshotFileName(m.term, m.index));
    // Written as head, data, trailer, with the CRC carried across, so the
    // (possibly large) data is never copied into one more buffer.
    const { head, trailer } = encodeSnapshotFrame(snapshot);
    await writeFileAtomic(this.#fs, path, [head, snapshot.data, trailer]);
    return path;
  }

  /**
   * Reads and checks the snapshot `meta` names. Throws
   * {@linkcode CorruptionError} when the file is missing, damaged, or holds
   * another snapshot.
   */
  async load(
    meta: Pick<SnapshotMetadata, "index" | "term">,
  ): Promise<Snapshot> {
    const path = join(this.#dir, snapshotFileName(meta.term, meta.index));
    const info = await this.#fs.stat(path);
    if (info === undefined) {
      throw new CorruptionError(
        path,
        `the snapshot at index ${meta.index} (term ${meta.term}) that the WAL refers to is missing`,
      );
    }
    const snap = decodeSnapshotFile(path, await this.#fs.readFile(path));
    if (
      snap.metadata.index !== meta.index || snap.metadata.term !== meta.term
    ) {
      throw new CorruptionError(
        path,
        `the file holds the snapshot at index ${snap.metadata.index} term ${snap.metadata.term}, not the one its name says`,
      );
    }
    return snap;
  }

  /**
   * Removes snapshots above `index` (written before a crash but never
   * recorded in the WAL). Resolves with the removed names.
   */
  async removeNewerThan(index: number): Promise<string[]> {
    const doomed = (await this.list()).filter((s) => s.index > index);
    return await this.#removeAll(doomed);
  }

  /**
   * Keeps the newest `keep` snapshots at or below `index` (the snapshot the
   * WAL durably refers to) and removes older ones; snapshots above `index`
   * are pending and kept. Resolves with the removed names.
   */
  async prune(index: number, keep: number): Promise<string[]> {
    const settled = (await this.list()).filter((s) => s.index <= index);
    return await this.#removeAll(
      settled.slice(0, Math.max(0, settled.length - keep)),
    );
  }

  async #removeAll(files: SnapshotFileInfo[]): Promise<string[]> {
    if (files.length === 0) return [];
    for (const f of files) await this.#fs.remove(f.path);
    await this.#fs.syncDir(this.#dir);
    return files.map((f) => f.name);
  }
}

function isStrings(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((s) => typeof s === "string");
}

function hex16(n: number): string {
  return n.toString(16).padStart(16, "0");
}
