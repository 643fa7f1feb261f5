/**
 * The HTTP API's JSON shapes are defined once, in `src/wire/types.ts`.
 * The server imports them where its shapes are the same; where a server
 * type legitimately differs (an `ok` discriminant, internal fields, the
 * command spelling of a txn operation), these compile-time checks fail
 * `deno check` and `deno test` as soon as the two drift apart.
 *
 * Each check is mutual assignability: `Equal<A, B>` holds when an `A` is a
 * `B` and a `B` is an `A` (same fields, same optionality, same types).
 */

import assert from "node:assert/strict";
import type * as wire from "../../src/wire/types.ts";
import type { RaftlockErrorDetails } from "../../src/client/errors.ts";
import type * as state from "../../src/state/mod.ts";
import type { IssuedToken } from "../../src/auth/mod.ts";
import type {
  Granted,
  LeaseView,
  LockService,
} from "../../src/service/service.ts";
import type { RecipeService } from "../../src/service/recipes.ts";

type Assert<T extends true> = T;
type Equal<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false)
  : false;

// A command's success as the API sends it: without the `ok` discriminant.
type Success<R> = Omit<Extract<R, { ok: true }>, "ok">;
// What a service method answers (the API sends it as it is).
type Answer<M extends keyof LockService> = LockService[M] extends (
  ...args: never[]
) => Promise<infer T> ? T
  : never;
// What a recipe method answers (the API sends it as it is).
type RecipeAnswer<M extends keyof RecipeService> = RecipeService[M] extends (
  ...args: never[]
) => Promise<infer T> ? T
  : never;
// A granted (not queued) acquire's success.
type Granting<R> = Success<Extract<R, { token: number }>>;

type SameShapes = [
  Assert<Equal<state.KeyValue, wire.KeyValue>>,
  Assert<Equal<state.LockHolder, wire.LockHolder>>,
  Assert<Equal<state.Fence, wire.Fence>>,
  Assert<Equal<state.Compare, wire.Compare>>,
  Assert<Equal<state.CompareOp, wire.CompareOp>>,
  Assert<Equal<state.TxnOpResult, wire.TxnOpResult>>,
  Assert<Equal<state.PutEvent, wire.PutEvent>>,
  Assert<Equal<state.DeleteEvent, wire.DeleteEvent>>,
  Assert<Equal<state.WatchEvent, wire.WatchEvent>>,
  Assert<Equal<state.LeaseSummary, wire.LeaseSummary>>,
  Assert<Equal<state.RangeResult, wire.ListResult>>,
];

// Command results: the API's answer plus `ok: true`.
type CommandResults = [
  Assert<Equal<Success<state.PutResult>, wire.PutResult>>,
  Assert<Equal<Success<state.DeleteResult>, wire.DeleteResult>>,
  Assert<Equal<Success<state.TxnResult>, wire.TxnResult>>,
  Assert<Equal<Success<state.LeaseResult>, wire.Lease>>,
  Assert<
    Equal<Omit<Success<state.LeaseRevokeResult>, "revoked">, wire.RevokeResult>
  >,
  Assert<
    Equal<
      Success<Extract<state.AcquireResult, { token: number }>>,
      wire.LockGrant
    >
  >,
  Assert<Equal<Success<state.ReleaseResult>, wire.ReleaseResult>>,
  Assert<Equal<Granting<state.CampaignResult>, wire.ElectionGrant>>,
  Assert<Equal<Success<state.ProclaimResult>, wire.ElectionLeader>>,
  Assert<Equal<Success<state.ResignResult>, wire.ResignResult>>,
  Assert<Equal<Granting<state.SemaphoreAcquireResult>, wire.SemaphoreGrant>>,
  Assert<Equal<Granting<state.RwlockAcquireResult>, wire.RwlockGrant>>,
];

// Recipe state with internal fields, as the API narrows it.
type RecipeShapes = [
  // An election's listing and its change events are the wire's.
  Assert<
    Equal<
      ReturnType<state.ServiceStateMachine["elections"]>,
      wire.ElectionInfo[]
    >
  >,
  Assert<Equal<state.ElectionDetail["leader"], wire.ElectionLeader | null>>,
  // Semaphores and read-write locks: waiters without their ids.
  Assert<
    Equal<
      Omit<state.SemaphoreDetail, "waiters"> & {
        waiters: Omit<state.SemaphoreDetail["waiters"][number], "waiterId">[];
      },
      wire.SemaphoreInfo
    >
  >,
  Assert<
    Equal<
      Omit<state.RwlockDetail, "waiters"> & {
        waiters: Omit<state.RwlockDetail["waiters"][number], "waiterId">[];
      },
      wire.RwlockInfo
    >
  >,
  Assert<Equal<RecipeAnswer<"campaign">, wire.ElectionGrant>>,
  Assert<Equal<RecipeAnswer<"proclaim">, wire.ElectionLeader>>,
  Assert<Equal<RecipeAnswer<"resign">, wire.ResignResult>>,
  Assert<Equal<RecipeAnswer<"leader">, wire.ElectionLeader | null>>,
  Assert<Equal<RecipeAnswer<"elections">, wire.ElectionInfo[]>>,
  Assert<Equal<RecipeAnswer<"acquireSemaphore">, wire.SemaphoreGrant>>,
  Assert<Equal<RecipeAnswer<"semaphore">, wire.SemaphoreInfo>>,
  Assert<Equal<RecipeAnswer<"acquireRwlock">, wire.RwlockGrant>>,
  Assert<Equal<RecipeAnswer<"rwlock">, wire.RwlockInfo>>,
  Assert<Equal<RecipeAnswer<"releaseSemaphore">, wire.ReleaseResult>>,
];

// State shapes with internal fields, as the API narrows them.
type InternalShapes = [
  // A grant event also names the waiter it went to.
  Assert<Equal<Omit<state.LockGrant, "waiterId">, wire.LockGrant>>,
  // GET /v1/locks/:name sends the waiters' count, not the queue.
  Assert<
    Equal<
      Omit<state.LockInfo, "waiters" | "lockDelay"> & { waiters: number },
      wire.LockInfo
    >
  >,
  // GET /v1/leases/:id sends the service's view without the internals.
  Assert<Equal<Omit<LeaseView, "keepaliveIndex" | "waiting">, wire.LeaseInfo>>,
  // A failure's extra fields become the client error's.
  Assert<
    Equal<
      Pick<state.ErrorInfo, "current" | "holder">,
      Pick<RaftlockErrorDetails, "current" | "holder">
    >
  >,
];

// A txn operation: the command's `{type: "put", ...}` is the API's
// `{put: {...}}`.
type TxnOps = [
  Assert<
    Equal<
      Omit<Extract<state.TxnOp, { type: "put" }>, "type">,
      Extract<wire.TxnOp, { put: unknown }>["put"]
    >
  >,
  Assert<
    Equal<
      Omit<Extract<state.TxnOp, { type: "delete" }>, "type">,
      Extract<wire.TxnOp, { delete: unknown }>["delete"]
    >
  >,
  Assert<
    Equal<
      Omit<Extract<state.TxnOp, { type: "get" }>, "type">,
      Extract<wire.TxnOp, { get: unknown }>["get"]
    >
  >,
];

// The service's answers, which the API sends as they are.
type ServiceAnswers = [
  Assert<Equal<Answer<"put">, wire.PutResult>>,
  Assert<Equal<Answer<"delete">, wire.DeleteResult>>,
  Assert<Equal<Answer<"grantLease">, wire.Lease>>,
  Assert<Equal<Answer<"keepAlive">, wire.Lease>>,
  Assert<Equal<Answer<"revoke">, wire.RevokeResult>>,
  Assert<Equal<Answer<"release">, wire.ReleaseResult>>,
  Assert<Equal<Answer<"range">, wire.ListResult>>,
  Assert<Equal<Answer<"get">, wire.KeyValue | null>>,
  Assert<Equal<Answer<"leases">, wire.LeaseSummary[]>>,
  Assert<Equal<Granted, wire.LockGrant>>,
];

// Auth: users, roles and permissions as the service answers them.
type AuthShapes = [
  Assert<Equal<state.Permission, wire.AuthPermission>>,
  Assert<Equal<state.UserInfo, wire.AuthUser>>,
  Assert<Equal<state.RoleRecord, wire.AuthRole>>,
  Assert<Equal<Answer<"users">, wire.AuthUser[]>>,
  Assert<Equal<Answer<"user">, wire.AuthUser | null>>,
  Assert<Equal<Answer<"roles">, wire.AuthRole[]>>,
  Assert<Equal<Answer<"role">, wire.AuthRole | null>>,
  Assert<Equal<IssuedToken, wire.IssuedToken>>,
];

type Checks = [
  ...SameShapes,
  ...AuthShapes,
  ...CommandResults,
  ...RecipeShapes,
  ...InternalShapes,
  ...TxnOps,
  ...ServiceAnswers,
];

Deno.test("wire types: server and client shapes agree (checked by the type checker)", () => {
  // Compiling this file is the test; a drifted shape makes a check above
  // `false`, which `Assert` rejects.
  const checks: Checks[number] = true;
  assert.equal(checks, true);
});
