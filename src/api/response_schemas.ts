/**
 * Response schemas (zod): the JSON the API answers, one schema per shape
 * of `src/wire/types.ts` (tests/wire/ checks at compile time that each
 * schema's `z.infer` equals its wire type), plus the answers that only the
 * server sends (auth administration, health). `GET /openapi.json` is
 * generated from these and from the request schemas of `schemas.ts`; the
 * route tests validate every answer against them.
 *
 * Objects are strict, so a field the spec does not name fails the tests;
 * error bodies alone stay open, as later codes may carry more fields.
 *
 * @module
 */

import { z } from "zod";
import { type ErrorCode, STATUS } from "./errors.ts";

const count = z.number().int().min(0);
const revision = count;
const id = z.number().int().min(1);
const role = z.enum(["voter", "learner"]);

/** A stored key (`KeyValue`). */
export const keyValueSchema = z.strictObject({
  key: z.string(),
  value: z.string(),
  createRevision: revision,
  modRevision: revision,
  version: count,
  lease: id.optional(),
});

/** `PutResult`. */
export const putResultSchema = z.strictObject({
  revision,
  lease: id.optional(),
});

/** `DeleteResult`. */
export const deleteResultSchema = z.strictObject({
  deleted: count,
  revision,
});

/** `ListResult`. */
export const listResultSchema = z.strictObject({
  kvs: z.array(keyValueSchema),
  more: z.boolean(),
  revision,
});

/** `TxnOpResult`. */
export const txnOpResultSchema = z.discriminatedUnion("type", [
  z.strictObject({ type: z.literal("put"), revision }),
  z.strictObject({ type: z.literal("delete"), deleted: count }),
  z.strictObject({
    type: z.literal("get"),
    kvs: z.array(keyValueSchema),
    more: z.boolean(),
  }),
]);

/** `TxnResult`. */
export const txnResultSchema = z.strictObject({
  succeeded: z.boolean(),
  results: z.array(txnOpResultSchema),
  revision,
});

/** `Lease`: a granted or renewed lease. */
export const leaseSchema = z.strictObject({ id, ttl: count });

/** `LeaseInfo`. */
export const leaseInfoSchema = z.strictObject({
  id,
  ttl: count,
  remaining: z.number().min(0).nullable(),
  keys: z.array(z.string()),
  locks: z.array(z.string()),
});

/** `LeaseSummary`. */
export const leaseSummarySchema = z.strictObject({
  id,
  ttl: count,
  keepaliveIndex: count,
});

/** `GET /v1/leases`. */
export const leaseListSchema = z.strictObject({
  leases: z.array(leaseSummarySchema),
});

/** `RevokeResult`. */
export const revokeResultSchema = z.strictObject({
  id,
  deleted: count,
  revision,
});

/** `LockGrant`. */
export const lockGrantSchema = z.strictObject({
  name: z.string(),
  token: id,
  lease: id,
  owner: z.string(),
});

/** `LockHolder`. */
export const lockHolderSchema = z.strictObject({
  token: id,
  lease: id,
  owner: z.string(),
});

/** `LockInfo`. */
export const lockInfoSchema = z.strictObject({
  name: z.string(),
  holder: lockHolderSchema.nullable(),
  waiters: count,
});

/** `GET /v1/locks`. */
export const lockListSchema = z.strictObject({
  locks: z.array(lockInfoSchema),
});

/** `ReleaseResult`. */
export const releaseResultSchema = z.strictObject({
  released: z.literal(true),
  revision,
});

/** `TokenCheck`: `GET ...?token=t`. */
export const tokenCheckSchema = z.strictObject({ valid: z.boolean() });

/** `NodeStatus`. */
export const nodeStatusSchema = z.strictObject({
  id: z.string(),
  role: z.string(),
  term: count,
  leader: z.string(),
  commit: count,
  applied: count,
  lastIndex: count,
  snapshotIndex: count,
  revision,
  space: z.strictObject({
    stateBytes: count,
    quotaBytes: count,
    noSpace: z.boolean(),
    alarms: z.array(z.strictObject({
      kind: z.enum(["quota", "nospace"]),
      node: z.string().optional(),
      detail: z.string(),
      since: count,
    })),
  }),
});

/** `MemberProgress`. */
export const memberProgressSchema = z.strictObject({
  match: count,
  next: count,
  state: z.string(),
});

const memberFields = {
  id: z.string(),
  role,
  peerAddress: z.string().optional(),
  httpAddress: z.string().optional(),
  isLeader: z.boolean(),
  progress: memberProgressSchema.optional(),
};

/** `Member`. */
export const memberSchema = z.strictObject(memberFields);

/** `ClusterInfo`. */
export const clusterInfoSchema = z.strictObject({
  leader: z.string(),
  term: count,
  members: z.array(memberSchema),
});

/** `MemberStatus`. */
export const memberStatusSchema = z.strictObject({
  ...memberFields,
  status: nodeStatusSchema.nullable(),
  error: z.string().optional(),
});

/** `ClusterStatus`. */
export const clusterStatusSchema = z.strictObject({
  id: z.string(),
  leader: z.string(),
  term: count,
  members: z.array(memberStatusSchema),
});

/** `LatencyBuckets`. */
export const latencyBucketsSchema = z.strictObject({
  bounds: z.array(z.number()),
  buckets: z.array(count),
  count,
  sum: z.number().min(0),
});

/** `NodeStats`. */
export const nodeStatsSchema = z.strictObject({
  id: z.string(),
  time: z.number(),
  role: z.string(),
  leader: z.string(),
  term: count,
  writes: count,
  reads: count,
  latency: latencyBucketsSchema,
  leaderChanges: count,
});

/** `PutEvent`. */
export const putEventSchema = z.strictObject({
  type: z.literal("put"),
  key: z.string(),
  value: z.string(),
  modRevision: revision,
  revision,
  createRevision: revision,
  version: count,
  lease: id.optional(),
});

/** `DeleteEvent`. */
export const deleteEventSchema = z.strictObject({
  type: z.literal("delete"),
  key: z.string(),
  value: z.never().optional(),
  modRevision: revision,
  revision,
});

/** `WatchEvent`: the data of a watch's `put` and `delete` events. */
export const watchEventSchema = z.discriminatedUnion("type", [
  putEventSchema,
  deleteEventSchema,
]);

/** `ElectionGrant`. */
export const electionGrantSchema = z.strictObject({
  name: z.string(),
  token: id,
  lease: id,
  value: z.string(),
});

/** `ElectionLeader`. */
export const electionLeaderSchema = z.strictObject({
  name: z.string(),
  token: id,
  lease: id,
  value: z.string(),
  revision,
});

/** `ElectionEvent`: the data of an observe stream's `leader` events. */
export const electionEventSchema = z.strictObject({
  name: z.string(),
  revision,
  leader: electionLeaderSchema.nullable(),
});

/** `ElectionInfo`. */
export const electionInfoSchema = z.strictObject({
  name: z.string(),
  leader: electionLeaderSchema.nullable(),
  candidates: count,
});

/** `GET /v1/elections`. */
export const electionListSchema = z.strictObject({
  elections: z.array(electionInfoSchema),
});

/** `ResignResult`. */
export const resignResultSchema = z.strictObject({
  resigned: z.literal(true),
  revision,
});

/** `SemaphoreGrant`. */
export const semaphoreGrantSchema = z.strictObject({
  name: z.string(),
  token: id,
  lease: id,
  permits: id,
  owner: z.string(),
});

/** `SemaphoreHolder`. */
export const semaphoreHolderSchema = z.strictObject({
  token: id,
  lease: id,
  permits: id,
  owner: z.string(),
});

/** `SemaphoreWaiter`. */
export const semaphoreWaiterSchema = z.strictObject({
  lease: id,
  owner: z.string(),
  permits: id,
});

/** `SemaphoreInfo`. */
export const semaphoreInfoSchema = z.strictObject({
  name: z.string(),
  limit: count,
  held: count,
  free: count,
  holders: z.array(semaphoreHolderSchema),
  waiters: z.array(semaphoreWaiterSchema),
});

/** `GET /v1/semaphores`. */
export const semaphoreListSchema = z.strictObject({
  semaphores: z.array(semaphoreInfoSchema),
});

const rwlockMode = z.enum(["read", "write"]);

/** `RwlockGrant`. */
export const rwlockGrantSchema = z.strictObject({
  name: z.string(),
  token: id,
  lease: id,
  mode: rwlockMode,
  owner: z.string(),
});

/** `RwlockHolder`. */
export const rwlockHolderSchema = z.strictObject({
  token: id,
  lease: id,
  mode: rwlockMode,
  owner: z.string(),
});

/** `RwlockWaiter`. */
export const rwlockWaiterSchema = z.strictObject({
  lease: id,
  owner: z.string(),
  mode: rwlockMode,
});

/** `RwlockInfo`. */
export const rwlockInfoSchema = z.strictObject({
  name: z.string(),
  mode: rwlockMode.nullable(),
  holders: z.array(rwlockHolderSchema),
  waiters: z.array(rwlockWaiterSchema),
});

/** `GET /v1/rwlocks`. */
export const rwlockListSchema = z.strictObject({
  rwlocks: z.array(rwlockInfoSchema),
});

// ------------------------------------------------------- the server's own

/** Every error code the API answers with. */
export const errorCodeSchema = z.enum(
  Object.keys(STATUS) as [ErrorCode, ...ErrorCode[]],
);

/**
 * `{"error": {code, message}}` with the extra fields some codes carry
 * (`current` on `conflict`, `holder` on `lock_held`).
 */
export const errorBodySchema = z.looseObject({
  error: z.strictObject({ code: errorCodeSchema, message: z.string() }),
  current: keyValueSchema.nullable().optional(),
  holder: lockHolderSchema.nullable().optional(),
});

/** `GET /healthz`. */
export const healthSchema = z.strictObject({
  ok: z.literal(true),
  id: z.string(),
});

/** `GET /readyz` (200 when ready, 503 when not). */
export const readySchema = z.strictObject({
  ready: z.boolean(),
  leader: z.string().nullable(),
  commit: count,
  applied: count,
});

/** `POST /v1/cluster/members`, `POST .../promote`. */
export const memberRoleSchema = z.strictObject({ id: z.string(), role });

/** `DELETE /v1/cluster/members/{id}`. */
export const memberRemovedSchema = z.strictObject({
  id: z.string(),
  removed: z.literal(true),
});

/** `POST /v1/cluster/leader`. */
export const transferResultSchema = z.strictObject({ leader: z.string() });

/** `GET /v1/auth/status`. */
export const authStatusSchema = z.strictObject({ enabled: z.boolean() });

/** `POST /v1/auth/enable|disable`. */
export const authSwitchSchema = z.strictObject({
  enabled: z.boolean(),
  authRevision: count,
});

/** `POST /v1/auth/token`. */
export const issuedTokenSchema = z.strictObject({
  token: z.string(),
  expiresAt: z.number(),
  ttl: count,
});

/** `POST /v1/auth/rotate-key`. */
export const rotatedKeySchema = z.strictObject({
  kid: z.string(),
  authRevision: count,
});

/** A user (never the password hash). */
export const userSchema = z.strictObject({
  name: z.string(),
  roles: z.array(z.string()),
});

/** `GET /v1/auth/users`. */
export const userListSchema = z.strictObject({ users: z.array(userSchema) });

/** A changed user: `PUT /v1/auth/users/{name}` and its roles' routes. */
export const userChangedSchema = z.strictObject({
  name: z.string(),
  roles: z.array(z.string()),
  authRevision: count,
});

/** A deleted user or role. */
export const authDeletedSchema = z.strictObject({
  name: z.string(),
  deleted: z.literal(true),
  authRevision: count,
});

const permissionSchema = z.strictObject({
  prefix: z.string(),
  read: z.boolean(),
  write: z.boolean(),
});

/** A role. */
export const roleSchema = z.strictObject({
  name: z.string(),
  permissions: z.array(permissionSchema),
});

/** `GET /v1/auth/roles`. */
export const roleListSchema = z.strictObject({ roles: z.array(roleSchema) });

/** A changed role: `PUT /v1/auth/roles/{name}`. */
export const roleChangedSchema = z.strictObject({
  name: z.string(),
  permissions: z.array(permissionSchema),
  authRevision: count,
});

/** The data of an idle stream's `progress` event. */
export const progressEventSchema = z.strictObject({ revision });

/** The data of a watch's `compacted` event. */
export const compactedEventSchema = z.strictObject({
  compactRevision: revision,
});
