/**
 * The replicated state machine of raftlock: config keys with revisions,
 * watch history, leases, locks with fencing tokens, leader elections,
 * semaphores and read-write locks, and duplicate suppression ({@linkcode ServiceStateMachine}), its commands
 * ({@linkcode encodeCommand}, {@linkcode decodeCommand}), and the leader's
 * non-replicated lease clock ({@linkcode LeaseClock}).
 *
 * @module
 */

export * from "./commands.ts";
export * from "./results.ts";
export {
  type Access,
  AuthTable,
  commandAccess,
  type CommandNeeds,
  type LeaseHoldings,
  permits,
  type RoleRecord,
  type UserInfo,
  type UserRecord,
} from "./auth.ts";
export type {
  AuthCommand,
  AuthRoleDeleteCommand,
  AuthRolePutCommand,
  AuthSigningKeyCommand,
  AuthToggleCommand,
  AuthUserDeleteCommand,
  AuthUserPutCommand,
  AuthUserRoleCommand,
  PasswordHash,
  Permission,
  SigningKey,
} from "./auth_commands.ts";
export { compareKeys, type RangePage } from "./kv.ts";
export {
  type DeleteEvent,
  type EventsSince,
  matchesFilter,
  type PutEvent,
  type SinceLimit,
  type WatchEvent,
  type WatchFilter,
} from "./history.ts";
export type { LeaseDetail, LeaseSummary } from "./leases.ts";
export type { LockDelay, LockInfo, PendingLockDelay } from "./locks.ts";
export type { ElectionDetail } from "./elections.ts";
export type { SemaphoreDetail } from "./semaphores.ts";
export type { RwlockDetail } from "./rwlocks.ts";
export type { RecipeGrant, RecipeKind } from "./grant_queue.ts";
export type { RecipeCounts } from "./recipes.ts";
export {
  type ApplyContext,
  type AuthView,
  DEFAULT_DEDUPE_MAX_ENTRIES,
  DEFAULT_DEDUPE_WINDOW_MS,
  type LeaseChange,
  type LockGrant,
  LockService,
  type RangeQuery,
  type RangeResult,
  ServiceStateMachine,
  type ServiceStateMachineOptions,
  type StateCounts,
  type StateTestingKnobs,
} from "./machine.ts";
// The encode and decode functions take the internal tables, so only the
// format's version is public.
export { SNAPSHOT_VERSION } from "./snapshot.ts";
export {
  type ClockLease,
  type DueExpiry,
  type DueLockDelay,
  LeaseClock,
  type LeaseClockOptions,
} from "./lease_clock.ts";
