/**
 * The client's error type: every failure of a {@linkcode Client} call is a
 * {@linkcode RaftlockError} carrying the API's error code (or
 * `"unreachable"` when no endpoint answered), the HTTP status and the extra
 * fields the API sends beside the error (`current` on a conflict, `holder`
 * when a lock is held, `compactRevision` when a watch was compacted).
 *
 * @module
 */

import type { KeyValue, LockHolder } from "./types.ts";

/**
 * Error codes: the API's codes, plus `unreachable` (no endpoint answered),
 * `lock_lost` (a held lock's keepalives failed for longer than its TTL) and
 * `http_error` (an answer that is not the API's error shape).
 */
export type RaftlockErrorCode =
  | "bad_request"
  | "unauthenticated"
  | "permission_denied"
  | "not_found"
  | "method_not_allowed"
  | "conflict"
  | "lock_held"
  | "stale_token"
  | "compacted"
  | "too_large"
  | "too_many_requests"
  | "too_many_waiters"
  | "quota_exceeded"
  | "unavailable"
  | "timeout"
  | "internal"
  | "unreachable"
  | "lock_lost"
  | "http_error";

/** Extra fields of a {@linkcode RaftlockError}. */
export interface RaftlockErrorDetails {
  /** The HTTP status (0 when no answer was received). */
  status?: number;
  /** For `conflict`: the key as it is now (null: it does not exist). */
  current?: KeyValue | null;
  /** For `lock_held`: the current holder (null while a lock-delay runs). */
  holder?: LockHolder | null;
  /** For `compacted`: the oldest revision a watch can still start from. */
  compactRevision?: number;
  /** The endpoint that answered, or the endpoints tried for `unreachable`. */
  endpoint?: string;
  /** The underlying error, if any. */
  cause?: unknown;
}

/**
 * A failed raftlock call.
 *
 * @example
 * ```ts
 * import { type Client, RaftlockError } from "./mod.ts";
 *
 * // Compare-and-set: retried until no one wrote in between.
 * async function increment(client: Client, key: string): Promise<void> {
 *   for (;;) {
 *     const kv = await client.get(key);
 *     try {
 *       await client.put(key, String(Number(kv?.value ?? 0) + 1), {
 *         ifModRevision: kv?.modRevision ?? 0, // 0: must not exist yet
 *       });
 *       return;
 *     } catch (e) {
 *       if (!(e instanceof RaftlockError) || e.code !== "conflict") throw e;
 *     }
 *   }
 * }
 * ```
 */
export class RaftlockError extends Error {
  /** The API's error code, or `unreachable`, `lock_lost`, `http_error`. */
  readonly code: RaftlockErrorCode;
  /** The HTTP status (0 when no answer was received). */
  readonly status: number;
  /** For `conflict`: the key as it is now (null: it does not exist). */
  readonly current?: KeyValue | null;
  /** For `lock_held`: the current holder (null while a lock-delay runs). */
  readonly holder?: LockHolder | null;
  /** For `compacted`: the oldest revision a watch can still start from. */
  readonly compactRevision?: number;
  /** The endpoint that answered, or the endpoints tried for `unreachable`. */
  readonly endpoint?: string;

  /** Creates an error. */
  constructor(
    code: RaftlockErrorCode,
    message: string,
    details: RaftlockErrorDetails = {},
  ) {
    super(
      message,
      details.cause === undefined ? undefined : { cause: details.cause },
    );
    this.name = "RaftlockError";
    this.code = code;
    this.status = details.status ?? 0;
    if ("current" in details) this.current = details.current;
    if ("holder" in details) this.holder = details.holder;
    if (details.compactRevision !== undefined) {
      this.compactRevision = details.compactRevision;
    }
    if (details.endpoint !== undefined) this.endpoint = details.endpoint;
  }
}

/**
 * Whether `e` is a {@linkcode RaftlockError}, optionally of one code.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isRaftlockError, RaftlockError } from "./errors.ts";
 *
 * const e = new RaftlockError("lock_held", "Lock is held", { status: 409 });
 * assert.equal(isRaftlockError(e), true);
 * assert.equal(isRaftlockError(e, "lock_held"), true);
 * assert.equal(isRaftlockError(e, "not_found"), false);
 * assert.equal(isRaftlockError(new Error("other")), false);
 * ```
 */
export function isRaftlockError(
  e: unknown,
  code?: RaftlockErrorCode,
): e is RaftlockError {
  return e instanceof RaftlockError && (code === undefined || e.code === code);
}
