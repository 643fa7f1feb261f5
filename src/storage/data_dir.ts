/**
 * The raftlock data directory: a version marker and the WAL and snapshot
 * subdirectories.
 *
 * ```
 * <dir>/raftlock.json    {"format":"raftlock-data","version":1}
 * <dir>/wal/             WAL segments (see wal/segment.ts)
 * <dir>/snap/            snapshot files (see snapshot_store.ts)
 * ```
 *
 * A missing or empty directory is initialized (marker first, written
 * atomically, then the subdirectories). A directory with other content but
 * no marker is refused, as is a marker of another format or version.
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

/** Options for {@linkcode openDataDir}. */
export interface DataDirOptions {
  /** File operations (default: the Deno API). */
  fs?: FileSystem;
  /** Where initialization is reported. */
  log?: StorageLogger;
}

/**
 * Opens (or initializes) the data directory `dir`. Throws
 * {@linkcode DataDirError} for a directory that is not a raftlock data
 * directory or has an unknown version.
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
      checkMarker(root, await fs.readFile(markerPath));
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
    const marker = JSON.stringify({
      format: DATA_DIR_FORMAT,
      version: DATA_DIR_VERSION,
    }) + "\n";
    await writeFileAtomic(fs, markerPath, new TextEncoder().encode(marker));
    log("data_dir.created", { dir: root, version: DATA_DIR_VERSION });
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

function checkMarker(root: string, bytes: Uint8Array): void {
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
}
