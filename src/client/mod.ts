/**
 * The raftlock client: a typed HTTP client with failover, idempotent
 * retries, held locks, leadership, semaphore permits and read-write locks
 * with keepalive, resumable watches and election observers, and config
 * helpers.
 *
 * @example
 * ```ts
 * import { Client } from "./mod.ts";
 *
 * // Records a nightly job's run, one holder at a time across the cluster.
 * async function markRun(): Promise<void> {
 *   await using client = new Client({ endpoints: ["http://127.0.0.1:8001"] });
 *   await using lock = await client.lock("jobs/nightly", { ttl: 10 });
 *   await client.put("jobs/nightly/last", new Date().toISOString(), {
 *     fence: lock.fence(),
 *   });
 * }
 * ```
 *
 * @module
 */

export {
  type AcquireOptions,
  type AddMemberOptions,
  Client,
  type ClientOptions,
  type ClusterOptions,
  type DeleteOptions,
  type FollowOptions,
  type GetOptions,
  type ListOptions,
  type MemberChangeOptions,
  type PrefixChange,
  type PrefixOptions,
  type PrefixValues,
  type PutOptions,
  type RecipeAcquireOptions,
  type RwlockAcquireOptions,
  type SemaphoreAcquireOptions,
  type StatusOptions,
} from "./client.ts";
export {
  isRaftlockError,
  RaftlockError,
  type RaftlockErrorCode,
  type RaftlockErrorDetails,
} from "./errors.ts";
export { AuthAdmin } from "./auth_admin.ts";
export type { AuthOptions } from "./auth.ts";
export { Lock, type LockBackend, type LockOptions } from "./lock.ts";
export { Held, type HeldBackend, type HeldOptions } from "./held.ts";
export {
  type CampaignOptions,
  Election,
  type ElectionBackend,
} from "./election.ts";
export {
  type HoldOptions,
  Permits,
  type RecipeBackend,
  RwLock,
  type SemaphoreOptions,
} from "./semaphore.ts";
export { type ObserveOptions, Observer } from "./observe.ts";
export { Watch, type WatchFilter, type WatchOptions } from "./watch.ts";
export { type CallOptions, DEFAULT_ENDPOINTS } from "./transport.ts";
export { type SseMessage, SseParser } from "./sse.ts";
export type * from "./types.ts";
