/**
 * Restoring a backup offline (`raftctl snapshot restore`, like `etcdutl
 * snapshot restore`): a verified backup file becomes a fresh data
 * directory of a new cluster, holding one Raft snapshot at the backup's
 * index with the backup's state and the new membership. Every member of
 * the new cluster is restored from the same file (with its own `--id`),
 * then started with the same `--peers`; they agree on the log up to the
 * snapshot and elect a leader as a new cluster would.
 *
 * What comes back: every key with its revisions, the global revision, the
 * watch history, leases, locks with their holders, fencing tokens and
 * waiters, the duplicate-suppression table, and whatever else the state
 * machine keeps in its snapshot. Leases start with their full TTL (plus an
 * election timeout) once the new cluster has a leader, as after any
 * failover: the lease clock is not replicated, and a full TTL never takes
 * a lock from a live holder early. Each lease's remaining time at backup
 * is in the backup's header for the record.
 *
 * @module
 */

import { encodeNodeSnapshot } from "../node/snapshots.ts";
import type { ConfState, NodeId } from "../raft/types.ts";
import { type BackupHeader, decodeBackup } from "../storage/backup.ts";
import { DiskStorage } from "../storage/disk_storage.ts";
import { denoFs, type FileSystem } from "../storage/fs.ts";

/** Where and as whom to restore. */
export interface RestoreOptions {
  /** The data directory to create (it must not exist, or be empty). */
  dataDir: string;
  /** The node id this directory is for. */
  id: NodeId;
  /** Every member of the new cluster, id → peer address (this node included). */
  peers: Record<NodeId, string>;
  /** The new cluster's id (default: the backup's). */
  clusterId?: string;
  /** File operations (default: the Deno API). */
  fs?: FileSystem;
}

/** What was restored. */
export interface RestoreResult {
  /** The backup's header. */
  header: BackupHeader;
  /** The data directory written. */
  dataDir: string;
  /** The cluster id recorded in it. */
  clusterId: string;
  /** The new configuration. */
  conf: ConfState;
  /** The backup's SHA-256 (hex). */
  sha256: string;
}

/**
 * Verifies `file` and writes a fresh data directory from it. Throws
 * `BackupError` (with the byte offset) for a damaged file, and `Error`
 * for a data directory that is not empty or peers that omit `id`.
 *
 * @example
 * ```ts ignore
 * const file = await Deno.readFile("backup.snap");
 * for (const id of ["n1", "n2", "n3"]) {
 *   await restoreBackup(file, {
 *     dataDir: `./data/${id}`,
 *     id,
 *     peers: { n1: "10.0.0.1:7001", n2: "10.0.0.2:7001", n3: "10.0.0.3:7001" },
 *   });
 * }
 * ```
 */
export async function restoreBackup(
  file: Uint8Array,
  options: RestoreOptions,
): Promise<RestoreResult> {
  const fs = options.fs ?? denoFs;
  const { dataDir, id } = options;
  if (!(id in options.peers)) {
    throw new Error(
      `The peers (${
        Object.keys(options.peers).join(", ")
      }) must include this node (${id})`,
    );
  }
  const backup = await decodeBackup(file);
  const info = await fs.stat(dataDir);
  if (info !== undefined) {
    if (!info.isDirectory) {
      throw new Error(`${dataDir} exists and is not a directory`);
    }
    if ((await fs.readDir(dataDir)).length > 0) {
      throw new Error(
        `Data directory ${dataDir} is not empty: a restore writes a fresh data directory for a new cluster; give a new or empty one (move the old one aside first)`,
      );
    }
  }
  const clusterId = options.clusterId ?? backup.header.clusterId;
  const conf: ConfState = {
    voters: Object.keys(options.peers).sort(),
    learners: [],
  };
  const members = conf.voters.map((m) => ({
    id: m,
    peerAddress: options.peers[m],
  }));
  const data = await encodeNodeSnapshot(members, backup.state);
  const { index, term } = backup.header;
  const storage = await DiskStorage.open(dataDir, {
    conf,
    identity: { clusterId, nodeId: id },
    fs,
    log: () => {},
  });
  try {
    await storage.save({
      snapshot: { metadata: { index, term, conf }, data },
      entries: [],
      hardState: { term, vote: "", commit: index },
    });
  } finally {
    await storage.close();
  }
  return {
    header: backup.header,
    dataDir,
    clusterId,
    conf,
    sha256: backup.sha256,
  };
}
