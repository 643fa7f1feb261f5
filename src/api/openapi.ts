/**
 * The API as an OpenAPI 3.1 document (`GET /openapi.json`), generated from
 * the zod schemas that validate requests (`schemas.ts`) and describe
 * answers (`response_schemas.ts`), with zod's own JSON Schema export.
 *
 * {@linkcode OPERATIONS} lists every route with its parameters, body and
 * answers; a test checks that it names every route of the app, and the
 * route tests validate each answer against the schema it gives for that
 * route and status ({@linkcode responseSchemaFor}).
 *
 * @module
 */

import { z } from "zod";
import * as req from "./schemas.ts";
import * as res from "./response_schemas.ts";

/** An HTTP method the API serves. */
export type Method = "get" | "put" | "post" | "delete";

/**
 * Who may call a route with auth on: anyone, any user, readers or writers
 * of the names it touches, or root.
 */
export type Access = "open" | "user" | "read" | "write" | "root";

/** One query parameter or header. */
export interface Param {
  /** Its name. */
  name: string;
  /** `query` or `header`. */
  in: "query" | "header";
  /** What it does. */
  description: string;
  /** Its JSON Schema. */
  schema: Record<string, unknown>;
  /** Whether it must be given (default false). */
  required?: boolean;
}

/** One answer of an operation. */
export interface ResponseSpec {
  /** What it means. */
  description: string;
  /** The JSON body: one schema, or several of which exactly one fits. */
  schema?: z.ZodType | z.ZodType[];
  /** A body that is not JSON, by content type (JSON Schema of the text). */
  content?: Record<string, Record<string, unknown>>;
}

/** One route: method, path and what goes in and out. */
export interface Operation {
  /** The method. */
  method: Method;
  /** The OpenAPI path (`/v1/kv/{key}`). */
  path: string;
  /** Its id, when the one made from method and path would not be unique. */
  operationId?: string;
  /** A one-line summary. */
  summary: string;
  /** More detail, if any. */
  description?: string;
  /** The group it belongs to. */
  tag: string;
  /** Who may call it with auth on. */
  access: Access;
  /** The JSON body, if it takes one. */
  body?: z.ZodType;
  /** Query parameters and headers. */
  params?: Param[];
  /** Answers by status; errors are the shared `default`. */
  responses: Record<number, ResponseSpec>;
}

const str = { type: "string" };
const int = { type: "integer", minimum: 0 };
const q = (
  name: string,
  description: string,
  schema: Record<string, unknown> = str,
): Param => ({ name, in: "query", description, schema });

const consistency = q(
  "consistency",
  "linearizable (default: confirmed by the leader) or serializable (this node's state, maybe stale)",
  { type: "string", enum: ["linearizable", "serializable"] },
);
const requestId: Param = {
  name: "X-Request-Id",
  in: "header",
  description:
    "<client-id>/<sequence number>: a retry with the same id is applied once and answered with the first result",
  schema: { type: "string", pattern: "^[\\w.:-]{1,128}/\\d{1,15}$" },
};
const tokenQuery = q(
  "token",
  "A fencing token: answer whether it still holds its grant ({valid}) instead",
  { type: "integer", minimum: 1 },
);
const local = q(
  "local",
  "Answer from this node instead of forwarding to the leader",
);
const force = q(
  "force",
  "true: skip the safety check of the membership change",
  { type: "string", enum: ["true", "false", "1", ""] },
);
const lastEventId: Param = {
  name: "Last-Event-ID",
  in: "header",
  description: "Resume after this event id (a revision)",
  schema: { type: "string", pattern: "^\\d+$" },
};

const ok = (
  description: string,
  schema?: z.ZodType | z.ZodType[],
): Record<number, ResponseSpec> => ({ 200: { description, schema } });

const sse = (description: string): Record<number, ResponseSpec> => ({
  200: {
    description,
    content: { "text/event-stream": { type: "string" } },
  },
});

const text = (
  type: string,
  description: string,
): Record<number, ResponseSpec> => ({
  200: { description, content: { [type]: { type: "string" } } },
});

// The recipes' routes have the same shape: acquire, release, state, list.
function recipe(
  tag: string,
  plural: string,
  what: string,
  acquire: z.ZodType,
  grant: z.ZodType,
  info: z.ZodType,
  list: z.ZodType,
): Operation[] {
  return [
    {
      method: "post",
      path: `/v1/${plural}/{name}/acquire`,
      summary: `Acquire a ${what}, waiting in its FIFO queue up to wait ms`,
      tag,
      access: "write",
      body: acquire,
      params: [requestId],
      responses: ok("Granted; 409 lock_held when the wait ended first", grant),
    },
    {
      method: "post",
      path: `/v1/${plural}/{name}/release`,
      summary: `Release a ${what} by its token`,
      tag,
      access: "write",
      body: req.releaseBody,
      params: [requestId],
      responses: ok("Released; 409 stale_token when it no longer holds", [
        res.releaseResultSchema,
      ]),
    },
    {
      method: "get",
      path: `/v1/${plural}/{name}`,
      summary: `A ${what}'s holders and waiters (or whether ?token= holds)`,
      tag,
      access: "read",
      params: [tokenQuery],
      responses: ok("The state, or {valid} with ?token=", [
        info,
        res.tokenCheckSchema,
      ]),
    },
    {
      method: "get",
      path: `/v1/${plural}`,
      summary: `Every ${what} the caller may read`,
      tag,
      access: "user",
      responses: ok("The list", list),
    },
  ];
}

/** Every route of the API, the console and the reference. */
export const OPERATIONS: readonly Operation[] = [
  // ------------------------------------------------------------------ keys
  {
    method: "get",
    path: "/v1/kv",
    summary: "List keys under a prefix, one page at a time",
    tag: "keys",
    access: "read",
    params: [
      q("prefix", "Keys starting with this (default: every key)"),
      q("limit", "Page size (absent or 0: 10 000, the most)", {
        ...int,
        maximum: req.MAX_LIST_LIMIT,
      }),
      q("startAfter", "The last key of the previous page"),
      consistency,
    ],
    responses: ok("A page of keys", res.listResultSchema),
  },
  {
    method: "get",
    path: "/v1/kv/{key}",
    summary: "Read a key",
    tag: "keys",
    access: "read",
    params: [consistency],
    responses: ok("The key; 404 when it does not exist", res.keyValueSchema),
  },
  {
    method: "put",
    path: "/v1/kv/{key}",
    summary: "Write a key (conditionally, fenced, with a lease or a ttl)",
    description:
      "ifModRevision / ifVersion make it a compare-and-swap: 409 conflict with current (the key now, or null) when it fails",
    tag: "keys",
    access: "write",
    body: req.putBody,
    params: [requestId],
    responses: ok("Written", res.putResultSchema),
  },
  {
    method: "delete",
    path: "/v1/kv/{key}",
    summary: "Delete a key, or every key under a prefix",
    tag: "keys",
    access: "write",
    params: [
      q("prefix", "true: delete every key starting with {key}", {
        type: "string",
        enum: ["true", "false"],
      }),
      q("ifModRevision", "Delete only if the key's modRevision is this", int),
      requestId,
    ],
    responses: ok("Deleted (deleted: 0 when nothing was)", [
      res.deleteResultSchema,
    ]),
  },
  {
    method: "post",
    path: "/v1/txn",
    summary: "A transaction: compares, then the success or failure ops",
    tag: "keys",
    access: "write",
    body: req.txnBody,
    params: [requestId],
    responses: ok("Which branch ran and its results", res.txnResultSchema),
  },
  {
    method: "get",
    path: "/v1/watch",
    summary: "Key events as server-sent events",
    description:
      "Events: put and delete (data: WatchEvent, id: its revision), progress while idle (data: ProgressEvent), compacted (data: CompactedEvent, then the end), error (data: ErrorBody, then the end). Resume with Last-Event-ID.",
    tag: "watch",
    access: "read",
    params: [
      q("key", "Watch one key"),
      q("prefix", "Watch every key starting with this (default: all)"),
      q("fromRevision", "Start with the events at this revision", int),
      lastEventId,
    ],
    responses: sse("The event stream"),
  },
  // ---------------------------------------------------------------- leases
  {
    method: "post",
    path: "/v1/leases",
    summary: "Grant a lease",
    tag: "leases",
    access: "user",
    body: req.leaseBody,
    params: [requestId],
    responses: { 201: { description: "Granted", schema: res.leaseSchema } },
  },
  {
    method: "post",
    path: "/v1/leases/{id}/keepalive",
    summary: "Renew a lease",
    tag: "leases",
    access: "user",
    params: [requestId],
    responses: ok("Renewed; 404 when it has expired", res.leaseSchema),
  },
  {
    method: "get",
    path: "/v1/leases/{id}",
    summary: "A lease: time left by the leader's clock, keys and locks",
    tag: "leases",
    access: "user",
    params: [local],
    responses: ok("The lease", res.leaseInfoSchema),
  },
  {
    method: "delete",
    path: "/v1/leases/{id}",
    summary: "Revoke a lease: its keys are deleted, its locks released",
    tag: "leases",
    access: "write",
    params: [requestId],
    responses: ok("Revoked", res.revokeResultSchema),
  },
  {
    method: "get",
    path: "/v1/leases",
    summary: "Every lease",
    tag: "leases",
    access: "user",
    responses: ok("The leases", res.leaseListSchema),
  },
  // ----------------------------------------------------------------- locks
  {
    method: "post",
    path: "/v1/locks/{name}/acquire",
    summary: "Acquire a lock, waiting in its FIFO queue up to wait ms",
    tag: "locks",
    access: "write",
    body: req.acquireBody,
    params: [requestId],
    responses: ok(
      "Granted with a fencing token; 409 lock_held with holder when the wait ended first",
      res.lockGrantSchema,
    ),
  },
  {
    method: "post",
    path: "/v1/locks/{name}/release",
    summary: "Release a lock by its token",
    tag: "locks",
    access: "write",
    body: req.releaseBody,
    params: [requestId],
    responses: ok(
      "Released; 409 stale_token when the token no longer holds",
      res.releaseResultSchema,
    ),
  },
  {
    method: "get",
    path: "/v1/locks/{name}",
    summary: "A lock's holder and waiters (or whether ?token= holds it)",
    tag: "locks",
    access: "read",
    params: [tokenQuery],
    responses: ok("The lock, or {valid} with ?token=", [
      res.lockInfoSchema,
      res.tokenCheckSchema,
    ]),
  },
  {
    method: "get",
    path: "/v1/locks",
    summary: "Every lock the caller may read",
    tag: "locks",
    access: "user",
    responses: ok("The locks", res.lockListSchema),
  },
  // ------------------------------------------------------------- elections
  {
    method: "post",
    path: "/v1/elections/{name}/campaign",
    summary: "Campaign: answers once the caller leads (waits up to wait ms)",
    tag: "elections",
    access: "write",
    body: req.campaignBody,
    params: [requestId],
    responses: ok("Leading", res.electionGrantSchema),
  },
  {
    method: "post",
    path: "/v1/elections/{name}/proclaim",
    summary: "Change the leader's value",
    tag: "elections",
    access: "write",
    body: req.proclaimBody,
    params: [requestId],
    responses: ok("Proclaimed", res.electionLeaderSchema),
  },
  {
    method: "post",
    path: "/v1/elections/{name}/resign",
    summary: "Step down",
    tag: "elections",
    access: "write",
    body: req.releaseBody,
    params: [requestId],
    responses: ok("Resigned", res.resignResultSchema),
  },
  {
    method: "get",
    path: "/v1/elections/{name}/observe",
    summary: "The leader's changes as server-sent events",
    description:
      "Events: leader (data: ElectionEvent, id: its revision), progress while idle, error (then the end). Resume with Last-Event-ID.",
    tag: "elections",
    access: "read",
    params: [lastEventId],
    responses: sse("The event stream"),
  },
  {
    method: "get",
    path: "/v1/elections/{name}",
    summary: "The leader (404 when nobody leads), or whether ?token= leads",
    tag: "elections",
    access: "read",
    params: [tokenQuery],
    responses: ok("The leader, or {valid} with ?token=", [
      res.electionLeaderSchema,
      res.tokenCheckSchema,
    ]),
  },
  {
    method: "get",
    path: "/v1/elections",
    summary: "Every election the caller may read",
    tag: "elections",
    access: "user",
    responses: ok("The elections", res.electionListSchema),
  },
  ...recipe(
    "semaphores",
    "semaphores",
    "semaphore's permits",
    req.semaphoreAcquireBody,
    res.semaphoreGrantSchema,
    res.semaphoreInfoSchema,
    res.semaphoreListSchema,
  ),
  ...recipe(
    "rwlocks",
    "rwlocks",
    "read-write lock",
    req.rwlockAcquireBody,
    res.rwlockGrantSchema,
    res.rwlockInfoSchema,
    res.rwlockListSchema,
  ),
  // --------------------------------------------------------------- cluster
  {
    method: "get",
    path: "/v1/status",
    summary: "This node's status",
    tag: "cluster",
    access: "user",
    responses: ok("The status", res.nodeStatusSchema),
  },
  {
    method: "get",
    path: "/v1/cluster",
    summary: "Members and the leader's replication progress (from the leader)",
    tag: "cluster",
    access: "user",
    params: [local],
    responses: ok("The cluster", res.clusterInfoSchema),
  },
  {
    method: "get",
    path: "/v1/cluster/status",
    summary: "Every member's status, gathered by this node",
    tag: "cluster",
    access: "user",
    responses: ok(
      "Each member with its status, or null and why",
      res.clusterStatusSchema,
    ),
  },
  {
    method: "post",
    path: "/v1/cluster/members",
    summary: "Add a member (a learner unless learner: false)",
    tag: "cluster",
    access: "root",
    body: req.memberBody,
    responses: {
      201: { description: "Added", schema: res.memberRoleSchema },
    },
  },
  {
    method: "delete",
    path: "/v1/cluster/members/{id}",
    summary: "Remove a member",
    tag: "cluster",
    access: "root",
    params: [force],
    responses: ok("Removed", res.memberRemovedSchema),
  },
  {
    method: "post",
    path: "/v1/cluster/members/{id}/promote",
    summary: "Promote a learner to voter",
    tag: "cluster",
    access: "root",
    params: [force],
    responses: ok("Promoted", res.memberRoleSchema),
  },
  {
    method: "post",
    path: "/v1/cluster/leader",
    summary: "Move leadership to another voter",
    tag: "cluster",
    access: "root",
    body: req.transferBody,
    responses: ok("The new leader", res.transferResultSchema),
  },
  {
    method: "get",
    path: "/v1/snapshot",
    summary: "A backup of the whole state (from the leader)",
    tag: "cluster",
    access: "root",
    responses: {
      200: {
        description: "The backup file",
        content: {
          "application/octet-stream": { type: "string", format: "binary" },
        },
      },
    },
  },
  {
    method: "get",
    path: "/v1/stats",
    summary: "This node's request counters and latency buckets",
    description:
      "Cumulative since the node started; sample twice and subtract for rates and percentiles. The console charts these.",
    tag: "cluster",
    access: "user",
    responses: ok("The counters", res.nodeStatsSchema),
  },
  // ------------------------------------------------------------------ auth
  {
    method: "get",
    path: "/v1/auth/status",
    summary: "Whether auth is on",
    tag: "auth",
    access: "open",
    responses: ok("The switch", res.authStatusSchema),
  },
  {
    method: "post",
    path: "/v1/auth/token",
    summary: "Log in: a bearer token for a user and password",
    tag: "auth",
    access: "open",
    body: req.tokenBody,
    responses: ok("The token", res.issuedTokenSchema),
  },
  {
    method: "post",
    path: "/v1/auth/enable",
    summary: "Turn auth on (needs a root user)",
    tag: "auth",
    access: "root",
    params: [requestId],
    responses: ok("On", res.authSwitchSchema),
  },
  {
    method: "post",
    path: "/v1/auth/disable",
    summary: "Turn auth off",
    tag: "auth",
    access: "root",
    params: [requestId],
    responses: ok("Off", res.authSwitchSchema),
  },
  {
    method: "post",
    path: "/v1/auth/rotate-key",
    summary: "Sign new tokens with a new key",
    tag: "auth",
    access: "root",
    params: [requestId],
    responses: ok("The new key's id", res.rotatedKeySchema),
  },
  {
    method: "get",
    path: "/v1/auth/users",
    summary: "Every user",
    tag: "auth",
    access: "root",
    responses: ok("The users", res.userListSchema),
  },
  {
    method: "get",
    path: "/v1/auth/users/{name}",
    summary: "A user",
    tag: "auth",
    access: "root",
    responses: ok("The user", res.userSchema),
  },
  {
    method: "put",
    path: "/v1/auth/users/{name}",
    summary: "Create or change a user",
    tag: "auth",
    access: "root",
    body: req.userBody,
    params: [requestId],
    responses: ok("The user now", res.userChangedSchema),
  },
  {
    method: "delete",
    path: "/v1/auth/users/{name}",
    summary: "Delete a user",
    tag: "auth",
    access: "root",
    params: [requestId],
    responses: ok("Deleted", res.authDeletedSchema),
  },
  {
    method: "post",
    path: "/v1/auth/users/{name}/roles",
    summary: "Grant a user a role",
    tag: "auth",
    access: "root",
    body: req.grantBody,
    params: [requestId],
    responses: ok("The user now", res.userChangedSchema),
  },
  {
    method: "delete",
    path: "/v1/auth/users/{name}/roles/{role}",
    summary: "Take a role from a user",
    tag: "auth",
    access: "root",
    params: [requestId],
    responses: ok("The user now", res.userChangedSchema),
  },
  {
    method: "get",
    path: "/v1/auth/roles",
    summary: "Every role",
    tag: "auth",
    access: "root",
    responses: ok("The roles", res.roleListSchema),
  },
  {
    method: "get",
    path: "/v1/auth/roles/{name}",
    summary: "A role",
    tag: "auth",
    access: "root",
    responses: ok("The role", res.roleSchema),
  },
  {
    method: "put",
    path: "/v1/auth/roles/{name}",
    summary: "Create or change a role",
    tag: "auth",
    access: "root",
    body: req.roleBody,
    params: [requestId],
    responses: ok("The role now", res.roleChangedSchema),
  },
  {
    method: "delete",
    path: "/v1/auth/roles/{name}",
    summary: "Delete a role",
    tag: "auth",
    access: "root",
    params: [requestId],
    responses: ok("Deleted", res.authDeletedSchema),
  },
  // ------------------------------------------------------------ operations
  {
    method: "get",
    path: "/healthz",
    summary: "The process answers",
    tag: "operations",
    access: "open",
    responses: ok("Alive", res.healthSchema),
  },
  {
    method: "get",
    path: "/readyz",
    summary: "A leader is known and this node has applied what it knows",
    tag: "operations",
    access: "open",
    responses: {
      200: { description: "Ready", schema: res.readySchema },
      503: { description: "Not ready", schema: res.readySchema },
    },
  },
  {
    method: "get",
    path: "/metrics",
    summary: "Prometheus metrics",
    tag: "operations",
    access: "open",
    responses: text("text/plain", "The exposition text"),
  },
  // ------------------------------------------------- console and reference
  {
    method: "get",
    path: "/ui",
    summary: "The web console",
    tag: "console",
    access: "open",
    responses: text("text/html", "The console's page"),
  },
  {
    method: "get",
    path: "/ui/",
    operationId: "redirectUi",
    summary: "Redirects to /ui",
    tag: "console",
    access: "open",
    responses: { 301: { description: "To /ui" } },
  },
  {
    method: "get",
    path: "/ui/{file}",
    summary: "The console's scripts and style sheet",
    tag: "console",
    access: "open",
    responses: {
      200: {
        description: "The file",
        content: {
          "text/javascript": { type: "string" },
          "text/css": { type: "string" },
        },
      },
    },
  },
  {
    method: "get",
    path: "/openapi.json",
    summary: "This document",
    tag: "console",
    access: "open",
    responses: {
      200: {
        description: "The OpenAPI 3.1 document",
        content: { "application/json": { type: "object" } },
      },
    },
  },
  {
    method: "get",
    path: "/docs",
    summary: "The API reference, rendered from this document",
    tag: "console",
    access: "open",
    responses: text("text/html", "The reference's page"),
  },
];

// Named schemas: request bodies are read as input (defaults optional),
// answers as output.
const REQUESTS: [string, z.ZodType][] = [
  ["PutRequest", req.putBody],
  ["TxnRequest", req.txnBody],
  ["LeaseRequest", req.leaseBody],
  ["LockAcquireRequest", req.acquireBody],
  ["ReleaseRequest", req.releaseBody],
  ["CampaignRequest", req.campaignBody],
  ["ProclaimRequest", req.proclaimBody],
  ["SemaphoreAcquireRequest", req.semaphoreAcquireBody],
  ["RwlockAcquireRequest", req.rwlockAcquireBody],
  ["MemberRequest", req.memberBody],
  ["TransferRequest", req.transferBody],
  ["TokenRequest", req.tokenBody],
  ["UserRequest", req.userBody],
  ["GrantRoleRequest", req.grantBody],
  ["RoleRequest", req.roleBody],
];

const RESPONSES: [string, z.ZodType][] = [
  ["KeyValue", res.keyValueSchema],
  ["PutResult", res.putResultSchema],
  ["DeleteResult", res.deleteResultSchema],
  ["ListResult", res.listResultSchema],
  ["TxnOpResult", res.txnOpResultSchema],
  ["TxnResult", res.txnResultSchema],
  ["Lease", res.leaseSchema],
  ["LeaseInfo", res.leaseInfoSchema],
  ["LeaseSummary", res.leaseSummarySchema],
  ["LeaseList", res.leaseListSchema],
  ["RevokeResult", res.revokeResultSchema],
  ["LockGrant", res.lockGrantSchema],
  ["LockHolder", res.lockHolderSchema],
  ["LockInfo", res.lockInfoSchema],
  ["LockList", res.lockListSchema],
  ["ReleaseResult", res.releaseResultSchema],
  ["TokenCheck", res.tokenCheckSchema],
  ["NodeStatus", res.nodeStatusSchema],
  ["MemberProgress", res.memberProgressSchema],
  ["Member", res.memberSchema],
  ["ClusterInfo", res.clusterInfoSchema],
  ["MemberStatus", res.memberStatusSchema],
  ["ClusterStatus", res.clusterStatusSchema],
  ["LatencyBuckets", res.latencyBucketsSchema],
  ["NodeStats", res.nodeStatsSchema],
  ["PutEvent", res.putEventSchema],
  ["DeleteEvent", res.deleteEventSchema],
  ["WatchEvent", res.watchEventSchema],
  ["ProgressEvent", res.progressEventSchema],
  ["CompactedEvent", res.compactedEventSchema],
  ["ElectionGrant", res.electionGrantSchema],
  ["ElectionLeader", res.electionLeaderSchema],
  ["ElectionEvent", res.electionEventSchema],
  ["ElectionInfo", res.electionInfoSchema],
  ["ElectionList", res.electionListSchema],
  ["ResignResult", res.resignResultSchema],
  ["SemaphoreGrant", res.semaphoreGrantSchema],
  ["SemaphoreHolder", res.semaphoreHolderSchema],
  ["SemaphoreWaiter", res.semaphoreWaiterSchema],
  ["SemaphoreInfo", res.semaphoreInfoSchema],
  ["SemaphoreList", res.semaphoreListSchema],
  ["RwlockGrant", res.rwlockGrantSchema],
  ["RwlockHolder", res.rwlockHolderSchema],
  ["RwlockWaiter", res.rwlockWaiterSchema],
  ["RwlockInfo", res.rwlockInfoSchema],
  ["RwlockList", res.rwlockListSchema],
  ["ErrorCode", res.errorCodeSchema],
  ["ErrorBody", res.errorBodySchema],
  ["Health", res.healthSchema],
  ["Ready", res.readySchema],
  ["MemberRole", res.memberRoleSchema],
  ["MemberRemoved", res.memberRemovedSchema],
  ["TransferResult", res.transferResultSchema],
  ["AuthStatus", res.authStatusSchema],
  ["AuthSwitch", res.authSwitchSchema],
  ["IssuedToken", res.issuedTokenSchema],
  ["RotatedKey", res.rotatedKeySchema],
  ["User", res.userSchema],
  ["UserList", res.userListSchema],
  ["UserChanged", res.userChangedSchema],
  ["AuthDeleted", res.authDeletedSchema],
  ["Role", res.roleSchema],
  ["RoleList", res.roleListSchema],
  ["RoleChanged", res.roleChangedSchema],
];

const COMPONENT = "#/components/schemas/";

// Each named schema's JSON Schema, with references between them.
function components(
  named: [string, z.ZodType][],
  io: "input" | "output",
): Record<string, Record<string, unknown>> {
  const registry = z.registry<{ id: string }>();
  for (const [id, schema] of named) registry.add(schema, { id });
  const out = z.toJSONSchema(registry, {
    target: "draft-2020-12",
    io,
    uri: (id) => `${COMPONENT}${id}`,
  }).schemas as Record<string, Record<string, unknown>>;
  for (const s of Object.values(out)) {
    delete s.$schema;
    delete s.$id;
  }
  return out;
}

function nameOf(named: [string, z.ZodType][], schema: z.ZodType): string {
  const hit = named.find(([, s]) => s === schema);
  if (!hit) throw new Error("A schema of an operation has no name");
  return hit[0];
}

const ref = (id: string) => ({ $ref: `${COMPONENT}${id}` });

/** The path parameters of an OpenAPI path, in order. */
export function pathParams(path: string): string[] {
  return [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
}

const PATH_PARAMS: Record<string, [string, Record<string, unknown>]> = {
  key: ["The key: 1-1024 bytes, may contain /", { type: "string" }],
  name: ["The name", { type: "string" }],
  id: ["The id", { type: "string" }],
  role: ["The role's name", { type: "string" }],
  file: ["The file's name", { type: "string" }],
};

function operationObject(op: Operation): Record<string, unknown> {
  const parameters: unknown[] = pathParams(op.path).map((name) => {
    const [description, schema] = PATH_PARAMS[name] ?? ["", str];
    return {
      name,
      in: "path",
      required: true,
      description,
      schema: name === "id" && op.tag === "leases"
        ? { type: "integer", minimum: 1 }
        : schema,
    };
  });
  for (const p of op.params ?? []) {
    parameters.push({
      name: p.name,
      in: p.in,
      description: p.description,
      required: p.required ?? false,
      schema: p.schema,
    });
  }
  const responses: Record<string, unknown> = {};
  for (const [status, r] of Object.entries(op.responses)) {
    const out: Record<string, unknown> = { description: r.description };
    if (r.schema !== undefined) {
      const schemas = Array.isArray(r.schema) ? r.schema : [r.schema];
      const refs = schemas.map((s) => ref(nameOf(RESPONSES, s)));
      out.content = {
        "application/json": {
          schema: refs.length === 1 ? refs[0] : { oneOf: refs },
        },
      };
    } else if (r.content) {
      out.content = Object.fromEntries(
        Object.entries(r.content).map(([type, schema]) => [type, { schema }]),
      );
    }
    responses[status] = out;
  }
  responses.default = {
    description: "An error: {error: {code, message}} and its status",
    content: { "application/json": { schema: ref("ErrorBody") } },
  };
  const o: Record<string, unknown> = {
    operationId: operationId(op),
    summary: op.summary,
    tags: [op.tag],
    "x-access": op.access,
    parameters,
    responses,
  };
  if (op.description) o.description = op.description;
  if (op.access === "open") o.security = [];
  if (op.body) {
    o.requestBody = {
      required: false,
      description: "JSON (any Content-Type; an empty body is {})",
      content: {
        "application/json": { schema: ref(nameOf(REQUESTS, op.body)) },
      },
    };
  }
  return o;
}

function operationId(op: Operation): string {
  if (op.operationId) return op.operationId;
  const words = op.path.split(/[/{}.-]+/).filter((w) => w && w !== "v1");
  return [op.method, ...words].map((w, i) =>
    i === 0 ? w : w[0].toUpperCase() + w.slice(1)
  ).join("");
}

let cached: Record<string, unknown> | undefined;

/**
 * The OpenAPI 3.1 document of the API (built once, then shared).
 *
 * @example
 * ```ts
 * import { openApiDocument } from "./openapi.ts";
 *
 * const doc = openApiDocument();
 * console.log(doc.openapi); // 3.1.0
 * ```
 */
export function openApiDocument(): Record<string, unknown> {
  if (cached) return cached;
  const paths: Record<string, Record<string, unknown>> = {};
  for (const op of OPERATIONS) {
    paths[op.path] ??= {};
    paths[op.path][op.method] = operationObject(op);
  }
  cached = {
    openapi: "3.1.0",
    info: {
      title: "raftlock",
      version: "0.1.0",
      description:
        "A distributed lock, lease and configuration service on Raft. Every node serves every route; writes go through Raft. With auth on, routes other than the open ones need Authorization: Bearer <token>. Every answer carries X-Raft-Revision and X-Raft-Term.",
    },
    jsonSchemaDialect: "https://json-schema.org/draft/2020-12/schema",
    tags: [
      "keys",
      "watch",
      "leases",
      "locks",
      "elections",
      "semaphores",
      "rwlocks",
      "cluster",
      "auth",
      "operations",
      "console",
    ].map((name) => ({ name })),
    security: [{ bearer: [] }],
    paths,
    components: {
      securitySchemes: {
        bearer: {
          type: "http",
          scheme: "bearer",
          bearerFormat: "JWT",
          description: "A token from POST /v1/auth/token",
        },
      },
      schemas: {
        ...components(REQUESTS, "input"),
        ...components(RESPONSES, "output"),
      },
    },
  };
  return cached;
}

/** Hono's route path (`/v1/kv/:key{.+}`) as an OpenAPI path (`/v1/kv/{key}`). */
export function openApiPath(honoPath: string): string {
  return honoPath.replace(/:(\w+)(\{(?:[^{}]|\{[^}]*\})*\})?/g, "{$1}");
}

/**
 * What an answer of `method path` (an OpenAPI path) with `status` must
 * look like: a zod schema for JSON, `text` when the operation declares a
 * body of another type, `none` for a body-less answer, or undefined when
 * the operation is unknown or does not declare the status (then an
 * error answer must be an `ErrorBody`).
 */
export function responseSchemaFor(
  method: string,
  path: string,
  status: number,
): z.ZodType | "text" | "none" | undefined {
  const op = OPERATIONS.find((o) =>
    o.method === method.toLowerCase() && o.path === path
  );
  const r = op?.responses[status];
  if (!r) return status >= 400 ? res.errorBodySchema : undefined;
  if (r.schema !== undefined) {
    if (!Array.isArray(r.schema)) return r.schema;
    return r.schema.length === 1 ? r.schema[0] : z.union(r.schema);
  }
  return r.content ? "text" : "none";
}
