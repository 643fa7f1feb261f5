/**
 * Errors raised by durable storage.
 *
 * - {@linkcode StorageFatalError}: a write or sync failed. The store refuses
 *   all further use and the node must exit (after an fsync error the kernel
 *   may have dropped the dirty pages, so retrying could report success for
 *   data that is gone).
 * - {@linkcode CorruptionError}: recovery found damage it must not repair
 *   by itself; the node must not start from this directory.
 * - {@linkcode DataDirError}: the directory is not a raftlock data directory
 *   of a version this build reads.
 *
 * @module
 */

/**
 * A write, sync, rename or remove failed while persisting. The store is
 * unusable from then on: every later call throws this error again. The node
 * must stop (exit the process) and recover from disk on restart; it must
 * never retry the operation and carry on.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { StorageFatalError } from "./errors.ts";
 *
 * const error = new StorageFatalError("WAL sync", { cause: new Error("EIO") });
 * assert.match(error.message, /^Storage failed during WAL sync; the node must/);
 * assert.equal((error.cause as Error).message, "EIO");
 * ```
 */
export class StorageFatalError extends Error {
  /** Creates the error for the operation that failed; `cause` is the I/O error. */
  constructor(operation: string, options?: { cause?: unknown }) {
    super(
      `Storage failed during ${operation}; the node must stop and recover from disk on restart${
        describeCause(options?.cause)
      }`,
      options,
    );
    this.name = "StorageFatalError";
  }
}

/**
 * Recovery found a damaged file that it must not repair on its own: a bad
 * record that is not a torn tail, a missing or duplicate segment, a
 * snapshot whose checksum does not match.
 */
export class CorruptionError extends Error {
  /** The damaged file. */
  readonly path: string;
  /** The byte offset of the damage within the file, if it is known. */
  readonly offset: number | undefined;

  /** Creates the error for `path`, with the offset and what was found. */
  constructor(
    path: string,
    detail: string,
    options: { offset?: number; cause?: unknown } = {},
  ) {
    const at = options.offset === undefined
      ? ""
      : ` at byte offset ${options.offset}`;
    super(
      `Corrupt data in ${path}${at}: ${detail}; refusing to start: restore this node's data directory from a snapshot, or wipe it and let the node rejoin and catch up from its peers`,
      { cause: options.cause },
    );
    this.name = "CorruptionError";
    this.path = path;
    this.offset = options.offset;
  }
}

/** The directory is not a raftlock data directory, or of an unknown version. */
export class DataDirError extends Error {
  /** The directory in question. */
  readonly path: string;

  /** Creates the error for `path` with what is wrong. */
  constructor(path: string, message: string) {
    super(message);
    this.name = "DataDirError";
    this.path = path;
  }
}

function describeCause(cause: unknown): string {
  if (cause === undefined) return "";
  if (cause instanceof Error) return `: ${cause.message}`;
  return `: ${String(cause)}`;
}
