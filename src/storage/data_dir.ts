/**
 * The raftlock data directory: a version marker and the WAL and snapshot
 * subdirectories.
 *
 * ```
 * <dir>/raftlock.json    {"format":"raftlock-data","version":1,
 *                         "clusterId":"raftlock","nodeId":"n1"}
 * <dir>/wal/             WAL segments (see wal/segment.ts)
 * <dir>/snap/            snapshot files (see snapshot_store.ts)
 * ```
 *
 * A missing or empty directory is initialized (marker first, written
 * atomically, then the subdirectories). A directory with other content but
 * no marker is refused, as is a marker of another format or version.
 *
 * The marker also records whose directory it is: the cluster id and the
 * node id. Opened with an {@linkcode DataDirIdentity}, a directory of
 * another node or cluster is refused (starting n2 on n1's directory would
 * make n2 vote with n1's log and term); a marker written before the ids
 * were recorded gets them on its first open with an identity. Opened
 * without one (tools, tests), the ids are neither checked nor written.
 *
 * @module
 */

import { DataDirError } from "./errors.ts";
import {
  denoFs,
  dirname,
  type FileSystem,
  join,
  TEMP_SUFFIX,
  writeFileAtomic,
} from "./fs.ts";
import { defaultStorageLogger, type StorageLogger } from "./log.ts";

/** The marker file's name. */
export const MARKER_FILE = "raftlock.json";
/** The `format` field of the marker. */
export const DATA_DIR_FORMAT = "raftlock-data";
/** The data directory version this build reads and writes. */
export const DATA_DIR_VERSION = 1;

/** Paths inside an opened data directory. */
export interface DataDirLayout {
  /** The data directory. */
  root: string;
  /** The WAL segment directory. */
  walDir: string;
  /** The snapshot directory. */
  snapDir: string;
  /** True when this call created the directory's marker. */
  created: boolean;
}

/** Whose data directory it is, as its marker records. */
export interface DataDirIdentity {
  /** The cluster's id (`--cluster-id`). */
  clusterId: string;
  /** The node's id (`--id`). */
  nodeId: string;
}

/** Options for {@linkcode openDataDir}. */
export interface DataDirOptions {
  /** File operations (default: the Deno API). */
  fs?: FileSystem;
  /** Where initialization is reported. */
  log?: StorageLogger;
  /**
   * The identity to record in a new directory and to check in an existing
   * one (see the module documentation). Unset: not checked.
   */
  identity?: DataDirIdentity;
}

/**
 * Opens (or initializes) the data directory `dir`. Throws
 * {@linkcode DataDirError} for a directory that is not a raftlock data
 * directory, has an unknown version, or belongs to another node or cluster
 * than `options.identity`.
 *
 * @example
 * ```ts ignore
 * const layout = await openDataDir("./data/n1", {
 *   identity: { clusterId: "raftlock", nodeId: "n1" },
 * });
 * console.log(layout.walDir); // ./data/n1/wal
 * ```
 */
export async function openDataDir(
  dir: string,
  options: DataDirOptions = {},
): Promise<DataDirLayout> {
  const fs = options.fs ?? denoFs;
  const log = options.log ?? defaultStorageLogger;
  const root = dir.length > 1 ? dir.replace(/\/+$/, "") : dir;
  const layout = {
    root,
    walDir: join(root, "wal"),
    snapDir: join(root, "snap"),
  };
  const markerPath = join(root, MARKER_FILE);
  const identity = options.identity;
  const info = await fs.stat(root);
  let created = false;
  if (info === undefined) {
    await fs.mkdir(root);
    await fs.syncDir(dirname(root));
    created = true;
  } else if (!info.isDirectory) {
    throw new DataDirError(root, `Data directory ${root} is not a directory`);
  } else {
    const names = (await fs.readDir(root)).map((e) => e.name);
    if (names.includes(MARKER_FILE)) {
      const marker = checkMarker(root, await fs.readFile(markerPath));
      if (identity !== undefined) {
        checkIdentity(root, marker, identity);
        if (marker.clusterId === undefined || marker.nodeId === undefined) {
          // Written by a build that did not record them: this is the
          // first start that knows them.
          await writeMarker(fs, markerPath, identity);
          log("data_dir.identity_recorded", { dir: root, ...identity });
        }
      }
    } else if (names.every((n) => n === MARKER_FILE + TEMP_SUFFIX)) {
      created = true;
    } else {
      throw new DataDirError(
        root,
        `Directory ${root} is not a raftlock data directory: it is not empty and has no ${MARKER_FILE}; use an empty or new directory`,
      );
    }
  }
  if (created) {
    await writeMarker(fs, markerPath, identity);
    log("data_dir.created", {
      dir: root,
      version: DATA_DIR_VERSION,
      ...identity,
    });
  }
  for (const sub of [layout.walDir, layout.snapDir]) {
    const s = await fs.stat(sub);
    if (s === undefined) {
      await fs.mkdir(sub);
      await fs.syncDir(root);
    } else if (!s.isDirectory) {
      throw new DataDirError(
        root,
        `Data directory entry ${sub} is not a directory`,
      );
    }
  }
  return { ...layout, created };
}

/** What a marker file holds. */
export interface DataDirMarker {
  /** Always {@linkcode DATA_DIR_FORMAT}. */
  format: string;
  /** The directory's version. */
  version: number;
  /** The cluster id, once recorded. */
  clusterId?: string;
  /** The node id, once recorded. */
  nodeId?: string;
}

/**
 * Reads the marker of data directory `dir` without changing anything;
 * `undefined` when there is none. Throws {@linkcode DataDirError} for a
 * marker that is not raftlock's or of another version.
 */
export async function readDataDirMarker(
  dir: string,
  fs: FileSystem = denoFs,
): Promise<DataDirMarker | undefined> {
  const path = join(dir, MARKER_FILE);
  if ((await fs.stat(path)) === undefined) return undefined;
  return checkMarker(dir, await fs.readFile(path));
}

async function writeMarker(
  fs: FileSystem,
  path: string,
  identity: DataDirIdentity | undefined,
): Promise<void> {
  const marker: DataDirMarker = {
    format: DATA_DIR_FORMAT,
    version: DATA_DIR_VERSION,
    ...(identity && {
      clusterId: identity.clusterId,
      nodeId: identity.nodeId,
    }),
  };
  const text = JSON.stringify(marker) + "\n";
  await writeFileAtomic(fs, path, new TextEncoder().encode(text));
}

function checkIdentity(
  root: string,
  marker: DataDirMarker,
  want: DataDirIdentity,
): void {
  if (marker.nodeId !== undefined && marker.nodeId !== want.nodeId) {
    throw new DataDirError(
      root,
      `Data directory ${root} belongs to node ${
        JSON.stringify(marker.nodeId)
      }, but this node is ${
        JSON.stringify(want.nodeId)
      } (--id): start ${marker.nodeId} with it, or give ${want.nodeId} its own data directory (an empty one joins as a new member)`,
    );
  }
  if (marker.clusterId !== undefined && marker.clusterId !== want.clusterId) {
    throw new DataDirError(
      root,
      `Data directory ${root} belongs to cluster ${
        JSON.stringify(marker.clusterId)
      }, but this node runs with --cluster-id ${
        JSON.stringify(want.clusterId)
      }: start it with --cluster-id ${marker.clusterId}, or use an empty data directory for a member of ${want.clusterId}`,
    );
  }
}

function checkMarker(root: string, bytes: Uint8Array): DataDirMarker {
  // deno-lint-ignore no-explicit-any
  let m: any;
  try {
    m = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    m = undefined;
  }
  if (m === null || typeof m !== "object" || m.format !== DATA_DIR_FORMAT) {
    throw new DataDirError(
      root,
      `Directory ${root} is not a raftlock data directory: ${MARKER_FILE} is not a raftlock marker`,
    );
  }
  if (m.version !== DATA_DIR_VERSION) {
    throw new DataDirError(
      root,
      `Data directory ${root} has version ${
        JSON.stringify(m.version)
      } but this build reads only version ${DATA_DIR_VERSION}; use a matching raftlock build or migrate the directory`,
    );
  }
  for (const field of ["clusterId", "nodeId"] as const) {
    if (m[field] !== undefined && typeof m[field] !== "string") {
      throw new DataDirError(
        root,
        `Data directory ${root} has a ${MARKER_FILE} whose ${field} is not a string`,
      );
    }
  }
  return m as DataDirMarker;
}
