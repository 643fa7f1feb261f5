/**
 * The backup file (`GET /v1/snapshot`, `raftctl snapshot save`): the whole
 * state with a header saying what it is and checksums that say whether,
 * and where, it was damaged.
 *
 * ```
 * offset       size  field
 * 0            8     magic "RLBACKUP"
 * 8            2     format version, u16 BE (1)
 * 10           4     header length H, u32 BE
 * 14           H     header, JSON: clusterId, nodeId, index, term, revision,
 *                    time, members, leases (see BackupHeader)
 * 14+H         S     the state machine's snapshot (what Raft snapshots hold)
 * B = 14+H+S         end of the body
 * B            4N    CRC-32 of each 4 KiB block of the body (the last may
 *                    be short), u32 BE each
 * B+4N         4     N, u32 BE
 * B+4N+4       4     CRC-32 of the block table and N, u32 BE
 * B+4N+8       32    SHA-256 of every byte before it
 * ```
 *
 * The SHA-256 decides whether the file is intact; when it is not, the
 * CRCs say where: {@linkcode BackupError} names the byte offset of the
 * first damaged 4 KiB block, or of the trailer when the damage is there
 * (the table's own CRC tells a damaged table from damaged data).
 *
 * @module
 */

import { createHash } from "node:crypto";
import { crc32 } from "node:zlib";

/** The file's first 8 bytes. */
export const BACKUP_MAGIC: Uint8Array = new TextEncoder().encode("RLBACKUP");
/** The format version this build writes and reads. */
export const BACKUP_VERSION = 1;
/** Bytes covered by one CRC of the block table. */
export const BACKUP_BLOCK_BYTES = 4096;

const PREFIX_BYTES = 14;
const SHA_BYTES = 32;
// N and the table's CRC, between the table and the digest.
const COUNT_BYTES = 8;
// Hashing yields to the event loop this often, so a node serving a large
// backup keeps answering heartbeats.
const YIELD_BYTES = 1 << 20;

/** A member as the backup records it. */
export interface BackupMember {
  /** Node id. */
  id: string;
  /** Voter or learner. */
  role: "voter" | "learner";
  /** Its peer address, if known. */
  peerAddress?: string;
  /** Its HTTP address, if known. */
  httpAddress?: string;
}

/** A lease as the backup records it. */
export interface BackupLease {
  /** Lease id. */
  id: number;
  /** Its TTL in seconds. */
  ttl: number;
  /**
   * Milliseconds it had left by the leader's clock when the backup was
   * taken (`null` when no leader clock tracked it). Recorded because the
   * lease clock is not replicated; a restored cluster gives every lease
   * its full TTL again (see docs/operations.md).
   */
  remainingMs: number | null;
}

/** What the header says. */
export interface BackupHeader {
  /** The cluster's id (`--cluster-id` of the node that made it). */
  clusterId: string;
  /** The node that made it. */
  nodeId: string;
  /** The log index of the state (the node's applied index). */
  index: number;
  /** The node's term then. */
  term: number;
  /** The state's revision. */
  revision: number;
  /** When it was taken, ISO 8601. */
  time: string;
  /** The members then. */
  members: BackupMember[];
  /** The leases then, with their remaining time. */
  leases: BackupLease[];
}

/** A verified backup. */
export interface Backup {
  /** The header. */
  header: BackupHeader;
  /** The state machine's snapshot (a view into the file's bytes). */
  state: Uint8Array;
  /** The SHA-256 of the file before its last 32 bytes, hex. */
  sha256: string;
  /** The file's size. */
  bytes: number;
}

/** A backup file that is damaged or not a backup; `offset` says where. */
export class BackupError extends Error {
  /** The byte offset of the damage in the file. */
  readonly offset: number;

  /** Creates the error for damage at `offset`. */
  constructor(offset: number, detail: string) {
    super(
      `Backup is damaged at byte offset ${offset}: ${detail}; it cannot be restored, use another backup`,
    );
    this.name = "BackupError";
    this.offset = offset;
  }
}

/**
 * The backup of `state` with `header`, as parts to write one after the
 * other (the state is not copied): prefix and header, the state, the
 * checksum trailer.
 *
 * @example
 * ```ts
 * import { decodeBackup, encodeBackup } from "./backup.ts";
 *
 * const parts = await encodeBackup({
 *   clusterId: "raftlock", nodeId: "n1", index: 7, term: 2, revision: 3,
 *   time: new Date(0).toISOString(), members: [], leases: [],
 * }, new Uint8Array([1, 2, 3]));
 * const file = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
 * parts.reduce((at, p) => (file.set(p, at), at + p.byteLength), 0);
 * console.log((await decodeBackup(file)).header.index); // 7
 * ```
 */
export async function encodeBackup(
  header: BackupHeader,
  state: Uint8Array,
): Promise<Uint8Array[]> {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const prefix = new Uint8Array(PREFIX_BYTES + json.byteLength);
  prefix.set(BACKUP_MAGIC, 0);
  const dv = new DataView(prefix.buffer);
  dv.setUint16(8, BACKUP_VERSION);
  dv.setUint32(10, json.byteLength);
  prefix.set(json, PREFIX_BYTES);
  const body = [prefix, state];
  const crcs = await blockCrcs(body);
  const table = new Uint8Array(crcs.length * 4 + COUNT_BYTES);
  const tv = new DataView(table.buffer);
  crcs.forEach((c, i) => tv.setUint32(i * 4, c));
  tv.setUint32(crcs.length * 4, crcs.length);
  tv.setUint32(
    crcs.length * 4 + 4,
    crc32(table.subarray(0, crcs.length * 4 + 4)) >>> 0,
  );
  const sha = await sha256([...body, table]);
  return [prefix, state, concat(table, sha)];
}

/**
 * Verifies and decodes a backup file. Throws {@linkcode BackupError},
 * with the offset of the damage, when it is not intact.
 *
 * @example
 * ```ts ignore
 * try {
 *   const backup = await decodeBackup(await Deno.readFile("backup.snap"));
 *   console.log(backup.header.revision, backup.sha256);
 * } catch (e) {
 *   if (e instanceof BackupError) console.error(`damaged at ${e.offset}`);
 * }
 * ```
 */
export async function decodeBackup(file: Uint8Array): Promise<Backup> {
  const len = file.byteLength;
  if (len < BACKUP_MAGIC.byteLength || !startsWithMagic(file)) {
    throw new BackupError(0, "not a raftlock backup (no RLBACKUP magic)");
  }
  if (len < PREFIX_BYTES + COUNT_BYTES + SHA_BYTES) {
    throw new BackupError(len, `the file ends after ${len} bytes`);
  }
  const shaAt = len - SHA_BYTES;
  const digest = await sha256([file.subarray(0, shaAt)]);
  if (!equal(digest, file.subarray(shaAt))) {
    throw new BackupError(...locateDamage(file));
  }
  const dv = new DataView(file.buffer, file.byteOffset, len);
  const n = dv.getUint32(shaAt - COUNT_BYTES);
  const bodyEnd = shaAt - COUNT_BYTES - 4 * n;
  const version = dv.getUint16(8);
  if (version !== BACKUP_VERSION) {
    throw new BackupError(
      8,
      `format version ${version}; this build reads version ${BACKUP_VERSION}`,
    );
  }
  const h = dv.getUint32(10);
  if (PREFIX_BYTES + h > bodyEnd) {
    throw new BackupError(10, `a header of ${h} bytes does not fit`);
  }
  let header: BackupHeader;
  try {
    header = JSON.parse(
      new TextDecoder("utf-8", { fatal: true }).decode(
        file.subarray(PREFIX_BYTES, PREFIX_BYTES + h),
      ),
    );
  } catch (e) {
    throw new BackupError(
      PREFIX_BYTES,
      `the header is not JSON: ${(e as Error).message}`,
    );
  }
  const bad = badHeader(header);
  if (bad) throw new BackupError(PREFIX_BYTES, bad);
  return {
    header,
    state: file.subarray(PREFIX_BYTES + h, bodyEnd),
    sha256: hex(digest),
    bytes: len,
  };
}

// The SHA-256 does not match. The table's own CRC says whether the block
// table can be trusted; if it can, the first block whose CRC does not
// match is the damage; if they all match, the digest itself is damaged.
function locateDamage(file: Uint8Array): [number, string] {
  const len = file.byteLength;
  const shaAt = len - SHA_BYTES;
  const countAt = shaAt - COUNT_BYTES;
  const dv = new DataView(file.buffer, file.byteOffset, len);
  const n = dv.getUint32(countAt);
  const bodyEnd = countAt - 4 * n;
  const cut =
    `the checksum trailer is damaged or the file was cut short (${len} bytes)`;
  if (
    bodyEnd < PREFIX_BYTES ||
    n !== Math.ceil(bodyEnd / BACKUP_BLOCK_BYTES)
  ) {
    return [countAt, cut];
  }
  const tableCrc = crc32(file.subarray(bodyEnd, countAt + 4)) >>> 0;
  if (tableCrc !== dv.getUint32(countAt + 4)) {
    return [bodyEnd, "the block checksums after the data are damaged"];
  }
  for (let i = 0; i < n; i++) {
    const at = i * BACKUP_BLOCK_BYTES;
    const end = Math.min(bodyEnd, at + BACKUP_BLOCK_BYTES);
    if (crc32(file.subarray(at, end)) >>> 0 !== dv.getUint32(bodyEnd + i * 4)) {
      return [
        at,
        `bytes ${at}-${end - 1} do not match their checksum (SHA-256 mismatch)`,
      ];
    }
  }
  return [shaAt, "the SHA-256 at the end is damaged"];
}

function badHeader(h: BackupHeader): string | undefined {
  if (h === null || typeof h !== "object") return "the header is not an object";
  for (const f of ["clusterId", "nodeId", "time"] as const) {
    if (typeof h[f] !== "string") return `the header's ${f} is not a string`;
  }
  for (const f of ["index", "term", "revision"] as const) {
    if (!Number.isSafeInteger(h[f]) || h[f] < 0) {
      return `the header's ${f} is not a whole number`;
    }
  }
  if (h.index < 1) return "the header's index is 0: nothing was applied";
  if (!Array.isArray(h.members) || !Array.isArray(h.leases)) {
    return "the header lacks its members or leases";
  }
  return undefined;
}

async function blockCrcs(parts: Uint8Array[]): Promise<number[]> {
  const out: number[] = [];
  let crc = 0;
  let inBlock = 0;
  let sinceYield = 0;
  for (const part of parts) {
    for (let at = 0; at < part.byteLength;) {
      const take = Math.min(BACKUP_BLOCK_BYTES - inBlock, part.byteLength - at);
      crc = crc32(part.subarray(at, at + take), crc);
      at += take;
      inBlock += take;
      if (inBlock === BACKUP_BLOCK_BYTES) {
        out.push(crc >>> 0);
        crc = 0;
        inBlock = 0;
      }
      sinceYield += take;
      if (sinceYield >= YIELD_BYTES) {
        sinceYield = 0;
        await new Promise((r) => setTimeout(r, 0));
      }
    }
  }
  if (inBlock > 0) out.push(crc >>> 0);
  return out;
}

async function sha256(parts: Uint8Array[]): Promise<Uint8Array> {
  const h = createHash("sha256");
  for (const part of parts) {
    for (let at = 0; at < part.byteLength; at += YIELD_BYTES) {
      h.update(part.subarray(at, at + YIELD_BYTES));
      if (at + YIELD_BYTES < part.byteLength) {
        await new Promise((r) => setTimeout(r, 0));
      }
    }
  }
  return new Uint8Array(h.digest());
}

function startsWithMagic(file: Uint8Array): boolean {
  return BACKUP_MAGIC.every((b, i) => file[i] === b);
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && a.every((v, i) => v === b[i]);
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.byteLength + b.byteLength);
  out.set(a, 0);
  out.set(b, a.byteLength);
  return out;
}

function hex(b: Uint8Array): string {
  return [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
}
