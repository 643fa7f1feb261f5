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
 * - {@linkcode NoSpaceError}: a write found the disk full (`ENOSPC`) and was
 *   undone; the store is still usable and retries once there is space.
 *   A failed sync stays fatal whatever its cause.
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

/**
 * A write ran out of disk space (`ENOSPC`) and was undone: the bytes that
 * reached the file were cut off again, so the file ends where it did
 * before. Nothing durable was lost and the store stays usable; the write
 * is retried once there is space. (A sync that fails is never retried: it
 * raises {@linkcode StorageFatalError} whatever the cause.)
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isNoSpace, NoSpaceError } from "./errors.ts";
 *
 * const full = Object.assign(new Error("No space left on device (os error 28)"), {
 *   code: "ENOSPC",
 * });
 * assert.equal(isNoSpace(full), true);
 * assert.equal(isNoSpace(new NoSpaceError("appending to the WAL", { cause: full })), true);
 * assert.equal(isNoSpace(new Error("EIO")), false);
 * ```
 */
export class NoSpaceError extends Error {
  /** Creates the error for the operation that found the disk full. */
  constructor(operation: string, options?: { cause?: unknown }) {
    super(
      `No space left on the disk while ${operation}; nothing was lost, the write is retried once there is space`,
      options,
    );
    this.name = "NoSpaceError";
  }
}

/** Whether `e` (or its cause) says the disk is full: `ENOSPC`, errno 28. */
export function isNoSpace(e: unknown): boolean {
  for (let x = e, depth = 0; x && depth < 8; depth++) {
    if (x instanceof NoSpaceError) return true;
    const o = x as { code?: unknown; message?: unknown; cause?: unknown };
    if (o.code === "ENOSPC") return true;
    if (typeof o.message === "string" && /\(os error 28\)/.test(o.message)) {
      return true;
    }
    x = o.cause;
  }
  return false;
}

function describeCause(cause: unknown): string {
  if (cause === undefined) return "";
  if (cause instanceof Error) return `: ${cause.message}`;
  return `: ${String(cause)}`;
}
