/**
 * Raft log storage: the durable {@linkcode DiskStorage} (WAL segments and
 * snapshot files in a versioned data directory) and the in-memory
 * {@linkcode MemoryStorage}, both implementing {@linkcode LogStore}.
 *
 * @module
 */

export * from "./types.ts";
export { MemoryStorage, type MemoryStorageOptions } from "./memory.ts";
export {
  DiskStorage,
  type DiskStorageOptions,
  type DiskStorageStats,
} from "./disk_storage.ts";
export { CorruptionError, DataDirError, StorageFatalError } from "./errors.ts";
export {
  type Backup,
  BACKUP_VERSION,
  BackupError,
  type BackupHeader,
  type BackupLease,
  type BackupMember,
  decodeBackup,
  encodeBackup,
} from "./backup.ts";
export {
  DATA_DIR_VERSION,
  type DataDirIdentity,
  type DataDirLayout,
  type DataDirMarker,
  MARKER_FILE,
  openDataDir,
  readDataDirMarker,
} from "./data_dir.ts";
export {
  denoFs,
  type DirEntryInfo,
  type FileHandle,
  type FileSystem,
  type PathInfo,
} from "./fs.ts";
export { defaultStorageLogger, type StorageLogger } from "./log.ts";
export {
  type SnapshotFileInfo,
  SnapshotStore,
  type SnapshotStoreOptions,
} from "./snapshot_store.ts";
export {
  DEFAULT_SEGMENT_SIZE,
  Wal,
  type WalOptions,
  type WalStats,
} from "./wal/wal.ts";
