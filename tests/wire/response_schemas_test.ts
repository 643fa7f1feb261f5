/**
 * The response schemas (`src/api/response_schemas.ts`, from which the
 * OpenAPI spec is made) against the wire types (`src/wire/types.ts`,
 * which the client and the server use): `z.infer` of each schema must be
 * its wire type, checked by the type checker, so the spec cannot drift
 * from the shapes the code sends.
 */

import assert from "node:assert/strict";
import type { z } from "zod";
import type * as wire from "../../src/wire/types.ts";
import type * as res from "../../src/api/response_schemas.ts";
import type { IssuedToken } from "../../src/auth/mod.ts";
import type { RoleRecord, UserInfo } from "../../src/state/auth.ts";
import type { ErrorCode } from "../../src/api/errors.ts";

type Assert<T extends true> = T;
// Identical types (optional fields included), not just mutually
// assignable ones.
type Equal<A, B> = (<T>() => T extends Same<A> ? 1 : 2) extends
  (<T>() => T extends Same<B> ? 1 : 2) ? true : false;
type Same<T> = T extends object ? { [K in keyof T]: Same<T[K]> } : T;
type Of<S extends z.ZodType> = z.infer<S>;

type WireShapes = [
  Assert<Equal<Of<typeof res.keyValueSchema>, wire.KeyValue>>,
  Assert<Equal<Of<typeof res.putResultSchema>, wire.PutResult>>,
  Assert<Equal<Of<typeof res.deleteResultSchema>, wire.DeleteResult>>,
  Assert<Equal<Of<typeof res.listResultSchema>, wire.ListResult>>,
  Assert<Equal<Of<typeof res.txnOpResultSchema>, wire.TxnOpResult>>,
  Assert<Equal<Of<typeof res.txnResultSchema>, wire.TxnResult>>,
  Assert<Equal<Of<typeof res.leaseSchema>, wire.Lease>>,
  Assert<Equal<Of<typeof res.leaseInfoSchema>, wire.LeaseInfo>>,
  Assert<Equal<Of<typeof res.leaseSummarySchema>, wire.LeaseSummary>>,
  Assert<Equal<Of<typeof res.revokeResultSchema>, wire.RevokeResult>>,
  Assert<Equal<Of<typeof res.lockGrantSchema>, wire.LockGrant>>,
  Assert<Equal<Of<typeof res.lockHolderSchema>, wire.LockHolder>>,
  Assert<Equal<Of<typeof res.lockInfoSchema>, wire.LockInfo>>,
  Assert<Equal<Of<typeof res.releaseResultSchema>, wire.ReleaseResult>>,
  Assert<Equal<Of<typeof res.tokenCheckSchema>, wire.TokenCheck>>,
  Assert<Equal<Of<typeof res.nodeStatusSchema>, wire.NodeStatus>>,
  Assert<Equal<Of<typeof res.memberProgressSchema>, wire.MemberProgress>>,
  Assert<Equal<Of<typeof res.memberSchema>, wire.Member>>,
  Assert<Equal<Of<typeof res.clusterInfoSchema>, wire.ClusterInfo>>,
  Assert<Equal<Of<typeof res.memberStatusSchema>, wire.MemberStatus>>,
  Assert<Equal<Of<typeof res.clusterStatusSchema>, wire.ClusterStatus>>,
  Assert<Equal<Of<typeof res.latencyBucketsSchema>, wire.LatencyBuckets>>,
  Assert<Equal<Of<typeof res.nodeStatsSchema>, wire.NodeStats>>,
  Assert<Equal<Of<typeof res.putEventSchema>, wire.PutEvent>>,
  Assert<Equal<Of<typeof res.deleteEventSchema>, wire.DeleteEvent>>,
  Assert<Equal<Of<typeof res.watchEventSchema>, wire.WatchEvent>>,
  Assert<Equal<Of<typeof res.electionGrantSchema>, wire.ElectionGrant>>,
  Assert<Equal<Of<typeof res.electionLeaderSchema>, wire.ElectionLeader>>,
  Assert<Equal<Of<typeof res.electionEventSchema>, wire.ElectionEvent>>,
  Assert<Equal<Of<typeof res.electionInfoSchema>, wire.ElectionInfo>>,
  Assert<Equal<Of<typeof res.resignResultSchema>, wire.ResignResult>>,
  Assert<Equal<Of<typeof res.semaphoreGrantSchema>, wire.SemaphoreGrant>>,
  Assert<Equal<Of<typeof res.semaphoreHolderSchema>, wire.SemaphoreHolder>>,
  Assert<Equal<Of<typeof res.semaphoreWaiterSchema>, wire.SemaphoreWaiter>>,
  Assert<Equal<Of<typeof res.semaphoreInfoSchema>, wire.SemaphoreInfo>>,
  Assert<Equal<Of<typeof res.rwlockGrantSchema>, wire.RwlockGrant>>,
  Assert<Equal<Of<typeof res.rwlockHolderSchema>, wire.RwlockHolder>>,
  Assert<Equal<Of<typeof res.rwlockWaiterSchema>, wire.RwlockWaiter>>,
  Assert<Equal<Of<typeof res.rwlockInfoSchema>, wire.RwlockInfo>>,
];

// The lists the API wraps in an object.
type Lists = [
  Assert<
    Equal<Of<typeof res.leaseListSchema>, { leases: wire.LeaseSummary[] }>
  >,
  Assert<Equal<Of<typeof res.lockListSchema>, { locks: wire.LockInfo[] }>>,
  Assert<
    Equal<Of<typeof res.electionListSchema>, { elections: wire.ElectionInfo[] }>
  >,
  Assert<
    Equal<
      Of<typeof res.semaphoreListSchema>,
      { semaphores: wire.SemaphoreInfo[] }
    >
  >,
  Assert<
    Equal<Of<typeof res.rwlockListSchema>, { rwlocks: wire.RwlockInfo[] }>
  >,
];

// The server's own answers, against the server's types.
type ServerShapes = [
  Assert<Equal<Of<typeof res.issuedTokenSchema>, IssuedToken>>,
  Assert<Equal<Of<typeof res.userSchema>, UserInfo>>,
  Assert<Equal<Of<typeof res.roleSchema>, RoleRecord>>,
  Assert<Equal<Of<typeof res.errorCodeSchema>, ErrorCode>>,
];

type Checks = [...WireShapes, ...Lists, ...ServerShapes];

Deno.test("response schemas: z.infer of each is its wire type (checked by the type checker)", () => {
  const checks: Checks[number] = true;
  assert.equal(checks, true);
});
