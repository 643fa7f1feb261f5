/**
 * What applying a command answers: a discriminated union on `ok`. Success
 * shapes are the HTTP API's response bodies (from `src/wire/types.ts`,
 * the one definition of the JSON shapes) with `ok: true`; failures carry an
 * `error: {code, message}` the API maps to a status.
 *
 * @module
 */

import type * as wire from "../wire/types.ts";
import type { KeyValue, LockHolder, TxnOpResult } from "../wire/types.ts";
import type { AlarmKind, CommandType } from "./commands.ts";

// The API's JSON shapes, defined once with the client's types.
export type { KeyValue, LockHolder, TxnOpResult };

/** An alarm that is on (see the `alarm` command). */
export interface AlarmInfo {
  /** `quota` (the state passed the quota) or `nospace` (a node's disk is full). */
  kind: AlarmKind;
  /** For `nospace`: the node. */
  node?: string;
  /** What the node that raised it saw. */
  detail: string;
  /** The log index of the raise. */
  since: number;
}

/** A successful result: the API's answer `T` with `ok: true`. */
export type Ok<T> = { ok: true } & T;

/**
 * Why a command failed. `quota_exceeded`: a write that adds data while a
 * space alarm is on; `too_many_waiters`: a lock's queue is full;
 * `unavailable`: a new request id while the duplicate-suppression table
 * is full (retry later, with the same id).
 */
export type ErrorCode =
  | "conflict"
  | "not_found"
  | "lock_held"
  | "stale_token"
  | "bad_request"
  | "unauthenticated"
  | "permission_denied"
  | "quota_exceeded"
  | "too_many_waiters"
  | "unavailable";

/** A failed command's error. */
export interface ErrorInfo {
  /** The error code. */
  code: ErrorCode;
  /** What went wrong, sentence case, no final period. */
  message: string;
  /** For `conflict`: the key as it is now (null: missing). */
  current?: KeyValue | null;
  /** For `lock_held`: the holder (null while a lock-delay is pending). */
  holder?: LockHolder | null;
}

/** A failed command. */
export interface Failure {
  /** Always false. */
  ok: false;
  /** What went wrong. */
  error: ErrorInfo;
}

/** put → the revision of the write. */
export type PutResult = Ok<wire.PutResult> | Failure;
/** delete → how many keys were deleted, and the revision after. */
export type DeleteResult = Ok<wire.DeleteResult> | Failure;
/** txn → which branch ran, its operations' results, the revision after. */
export type TxnResult = Ok<wire.TxnResult> | Failure;
/** leaseGrant and leaseKeepalive → the lease id and its TTL (seconds). */
export type LeaseResult = Ok<wire.Lease> | Failure;
/** leaseRevoke → keys deleted and locks released; revision after. */
export type LeaseRevokeResult =
  | Ok<wire.RevokeResult & { revoked: true }>
  | Failure;
/** leaseExpire → whether it expired (false: a later keepalive won). */
export type LeaseExpireResult =
  | {
    ok: true;
    id: number;
    expired: boolean;
    deleted: number;
    revision: number;
  }
  | Failure;
/** An acquire (of a lock or a recipe) that queued. */
export interface Queued {
  /** Always true. */
  ok: true;
  /** Always true. */
  queued: true;
  /** The name queued for. */
  name: string;
  /** 1-based place in the queue. */
  position: number;
  /** The waiter's lease (created by the command when it gave a ttl). */
  lease: number;
  /** The waiter's id. */
  waiterId: string;
}

/** lockAcquire → granted (with the fencing token) or queued. */
export type AcquireResult = Ok<wire.LockGrant> | Queued | Failure;
/** electionCampaign → leads (with the fencing token) or queued. */
export type CampaignResult = Ok<wire.ElectionGrant> | Queued | Failure;
/** electionProclaim → the leader with its new value and revision. */
export type ProclaimResult = Ok<wire.ElectionLeader> | Failure;
/** electionResign → resigned; the revision after. */
export type ResignResult = Ok<wire.ResignResult> | Failure;
/** semaphoreAcquire → granted (with the fencing token) or queued. */
export type SemaphoreAcquireResult =
  | Ok<wire.SemaphoreGrant>
  | Queued
  | Failure;
/** rwlockAcquire → granted (with the fencing token) or queued. */
export type RwlockAcquireResult = Ok<wire.RwlockGrant> | Queued | Failure;
/** lockRelease → released; the revision after (a next waiter's grant raises it). */
export type ReleaseResult = Ok<wire.ReleaseResult> | Failure;
/** lockCancel → the waiter was removed, or its grant released. */
export type CancelResult =
  | { ok: true; cancelled: true; released: boolean; revision: number }
  | Failure;
/** leaseKeepaliveMany → how many of the leases exist (and were renewed). */
export type LeaseKeepaliveManyResult = { ok: true; kept: number } | Failure;
/** time → the cluster time now, and how many remembered results were forgotten. */
export type TimeResult = { ok: true; now: number; forgotten: number } | Failure;
/** compact → the history's compact revision after it, and the events dropped. */
export type CompactResult =
  | { ok: true; compactRevision: number; dropped: number }
  | Failure;
/** alarm → whether the alarm state changed. */
export type AlarmResult = { ok: true; changed: boolean } | Failure;
/** lockDelayEnd → whether a pending delay ended. */
export type LockDelayEndResult =
  | { ok: true; ended: boolean; revision: number }
  | Failure;

/**
 * An auth command → the auth revision after it (raised by every change of
 * users, roles, the signing key or the on/off switch).
 */
export type AuthResult = Ok<{ authRevision: number }> | Failure;

/** The result type of each command type. */
export interface ResultMap {
  /** put */
  put: PutResult;
  /** delete */
  delete: DeleteResult;
  /** txn */
  txn: TxnResult;
  /** leaseGrant */
  leaseGrant: LeaseResult;
  /** leaseKeepalive */
  leaseKeepalive: LeaseResult;
  /** leaseKeepaliveMany */
  leaseKeepaliveMany: LeaseKeepaliveManyResult;
  /** leaseRevoke */
  leaseRevoke: LeaseRevokeResult;
  /** leaseExpire */
  leaseExpire: LeaseExpireResult;
  /** lockAcquire */
  lockAcquire: AcquireResult;
  /** lockRelease */
  lockRelease: ReleaseResult;
  /** lockCancel */
  lockCancel: CancelResult;
  /** lockDelayEnd */
  lockDelayEnd: LockDelayEndResult;
  /** electionCampaign */
  electionCampaign: CampaignResult;
  /** electionProclaim */
  electionProclaim: ProclaimResult;
  /** electionResign */
  electionResign: ResignResult;
  /** electionCancel */
  electionCancel: CancelResult;
  /** semaphoreAcquire */
  semaphoreAcquire: SemaphoreAcquireResult;
  /** semaphoreRelease */
  semaphoreRelease: ReleaseResult;
  /** semaphoreCancel */
  semaphoreCancel: CancelResult;
  /** rwlockAcquire */
  rwlockAcquire: RwlockAcquireResult;
  /** rwlockRelease */
  rwlockRelease: ReleaseResult;
  /** rwlockCancel */
  rwlockCancel: CancelResult;
  /** time */
  time: TimeResult;
  /** alarm */
  alarm: AlarmResult;
  /** compact */
  compact: CompactResult;
  /** authUserPut */
  authUserPut: AuthResult;
  /** authUserDelete */
  authUserDelete: AuthResult;
  /** authUserGrant */
  authUserGrant: AuthResult;
  /** authUserRevoke */
  authUserRevoke: AuthResult;
  /** authRolePut */
  authRolePut: AuthResult;
  /** authRoleDelete */
  authRoleDelete: AuthResult;
  /** authEnable */
  authEnable: AuthResult;
  /** authDisable */
  authDisable: AuthResult;
  /** authSigningKey */
  authSigningKey: AuthResult;
}

/** The result of a command of type `T`. */
export type ResultFor<T extends CommandType> = ResultMap[T];

/** Any command's result. */
export type CommandResult = ResultMap[CommandType];

/** Builds a failure. */
export function failure(
  code: ErrorCode,
  message: string,
  extra?: { current?: KeyValue | null; holder?: LockHolder | null },
): Failure {
  return { ok: false, error: { code, message, ...extra } };
}
