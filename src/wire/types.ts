/**
 * The shapes of the HTTP API's requests and answers (`docs/api.md`): the
 * one definition of each JSON shape. The client (`src/client/`) uses them
 * as they are; the server's state machine imports them (type-only) for the
 * shapes it produces (`src/state/results.ts`, `commands.ts`, `history.ts`),
 * and `tests/wire/` checks at compile time the server shapes that differ.
 *
 * This folder imports nothing, so the client stays free of server code and
 * the server takes no code of the client's.
 *
 * @module
 */

/** A stored key. */
export interface KeyValue {
  /** The key. */
  key: string;
  /** The value. */
  value: string;
  /** The revision that created the key (since it last did not exist). */
  createRevision: number;
  /** The revision of the last write to the key. */
  modRevision: number;
  /** Writes since creation: 1 after the creating put. */
  version: number;
  /** The lease the key is attached to, if any. */
  lease?: number;
}

/** A fence on a lock: the write applies only while `token` holds `lock`. */
export interface LockFence {
  /** The lock's name. */
  lock: string;
  /** The fencing token the writer was granted. */
  token: number;
}

/** A fence on an election: applies only while `token` leads `election`. */
export interface ElectionFence {
  /** The election's name. */
  election: string;
  /** The leader's fencing token. */
  token: number;
}

/** A fence on a semaphore: applies only while `token` holds permits of it. */
export interface SemaphoreFence {
  /** The semaphore's name. */
  semaphore: string;
  /** The holder's fencing token. */
  token: number;
}

/** A fence on a read-write lock: applies only while `token` holds it. */
export interface RwlockFence {
  /** The read-write lock's name. */
  rwlock: string;
  /** The holder's fencing token (of a read or a write hold). */
  token: number;
}

/**
 * A fenced write applies only while `token` is still the live grant it
 * names: the holder of a lock, the leader of an election, a holder of a
 * semaphore or of a read-write lock. Exactly one name field is given.
 */
export type Fence = LockFence | ElectionFence | SemaphoreFence | RwlockFence;

/** What a grant with a fencing token is of. */
export type GrantKind = "lock" | "election" | "semaphore" | "rwlock";

/** The answer to a put. */
export interface PutResult {
  /** The revision of the write. */
  revision: number;
  /** For a put with `ttl`: the key's own lease, made or renewed by the put. */
  lease?: number;
}

/** The answer to a delete. */
export interface DeleteResult {
  /** How many keys were deleted. */
  deleted: number;
  /** The revision after the delete. */
  revision: number;
}

/** A page (or, with `all`, the whole) of a key listing. */
export interface ListResult {
  /** The keys, in key order. */
  kvs: KeyValue[];
  /** Whether more keys follow (always false with `all`). */
  more: boolean;
  /** The revision the (last) page was read at. */
  revision: number;
}

/** A transaction compare operator. */
export type CompareOp = "==" | "!=" | "<" | ">";

/**
 * One transaction compare. A missing key has version, modRevision,
 * createRevision and lease 0; a `value` compare on a missing key is false.
 */
export type Compare =
  | { key: string; target: "value"; op: CompareOp; value: string }
  | {
    key: string;
    target: "version" | "modRevision" | "createRevision" | "lease";
    op: CompareOp;
    value: number;
  };

/** One operation of a transaction branch, as the API spells it. */
export type TxnOp =
  | { put: { key: string; value: string; lease?: number } }
  | { delete: { key: string; prefix?: boolean } }
  | { get: { key: string; prefix?: boolean; limit?: number } };

/** A transaction: compares, then `success` if all hold, else `failure`. */
export interface TxnRequest {
  /** The compares (all must hold). */
  compare?: Compare[];
  /** Run when every compare holds. */
  success?: TxnOp[];
  /** Run otherwise. */
  failure?: TxnOp[];
  /** The whole transaction applies only while this fence holds. */
  fence?: Fence;
}

/** The result of one transaction operation. */
export type TxnOpResult =
  | { type: "put"; revision: number }
  | { type: "delete"; deleted: number }
  | { type: "get"; kvs: KeyValue[]; more: boolean };

/** The answer to a transaction. */
export interface TxnResult {
  /** Whether the compares held (and `success` ran). */
  succeeded: boolean;
  /** The results of the branch that ran, in order. */
  results: TxnOpResult[];
  /** The revision after the transaction. */
  revision: number;
}

/** A granted or renewed lease. */
export interface Lease {
  /** The lease id. */
  id: number;
  /** Time to live, in seconds. */
  ttl: number;
}

/** A lease in detail. */
export interface LeaseInfo extends Lease {
  /** Seconds left by the leader's clock, or null when unknown. */
  remaining: number | null;
  /** Keys attached to the lease. */
  keys: string[];
  /** Locks the lease holds. */
  locks: string[];
}

/** A lease as listed. */
export interface LeaseSummary extends Lease {
  /** The log index of the lease's grant or latest keepalive. */
  keepaliveIndex: number;
}

/** The answer to a lease revoke. */
export interface RevokeResult {
  /** The lease id. */
  id: number;
  /** Keys deleted with the lease. */
  deleted: number;
  /** The revision after the revoke. */
  revision: number;
}

/** A granted lock. */
export interface LockGrant {
  /** The lock's name. */
  name: string;
  /** The fencing token: strictly increasing across all grants. */
  token: number;
  /** The lease that keeps the lock. */
  lease: number;
  /** The owner string given at acquire. */
  owner: string;
}

/** A lock's holder. */
export interface LockHolder {
  /** The fencing token of the grant. */
  token: number;
  /** The lease that keeps the lock. */
  lease: number;
  /** The owner string given at acquire. */
  owner: string;
}

/** A lock's state. */
export interface LockInfo {
  /** The lock's name. */
  name: string;
  /** The holder, or null. */
  holder: LockHolder | null;
  /** How many acquires wait in the queue. */
  waiters: number;
}

/** The answer to a lock release. */
export interface ReleaseResult {
  /** Always true. */
  released: true;
  /** The revision after the release. */
  revision: number;
}

/** One node's status (`GET /v1/status`). */
export interface NodeStatus {
  /** The node's id. */
  id: string;
  /** Its Raft role (leader, follower, candidate, precandidate, learner...). */
  role: string;
  /** Its current term. */
  term: number;
  /** The leader it knows, or "". */
  leader: string;
  /** Its commit index. */
  commit: number;
  /** Its applied index. */
  applied: number;
  /** Its last log index. */
  lastIndex: number;
  /** The index of its newest snapshot. */
  snapshotIndex: number;
  /** The revision of its state machine. */
  revision: number;
  /** The space quota, the state's size and the alarms that are on. */
  space: SpaceStatus;
}

/** An alarm that is on: while any is, writes that add data get 507 `quota_exceeded`. */
export interface SpaceAlarm {
  /** `quota`: the state passed the quota; `nospace`: a node's disk is full. */
  kind: "quota" | "nospace";
  /** For `nospace`: the node. */
  node?: string;
  /** What the node that raised it saw. */
  detail: string;
  /** The log index of the raise. */
  since: number;
}

/** The space section of `GET /v1/status`. */
export interface SpaceStatus {
  /** The state's size in bytes, as the quota counts it. */
  stateBytes: number;
  /** This node's quota (`raftd --quota-bytes`); the leader's raises the alarm. */
  quotaBytes: number;
  /** Whether this node's disk is full now. */
  noSpace: boolean;
  /** The alarms that are on, cluster-wide. */
  alarms: SpaceAlarm[];
}

/** Replication progress of one member, as the leader sees it. */
export interface MemberProgress {
  /** The highest index known to be replicated on the member. */
  match: number;
  /** The next index to send. */
  next: number;
  /** probe, replicate or snapshot. */
  state: string;
}

/** A cluster member. */
export interface Member {
  /** The member's id. */
  id: string;
  /** voter or learner. */
  role: "voter" | "learner";
  /** Where peers reach it (host:port). */
  peerAddress?: string;
  /** Where clients reach its HTTP API (host:port). */
  httpAddress?: string;
  /** Whether it is the leader. */
  isLeader: boolean;
  /** Its replication progress (only when the answer came from the leader). */
  progress?: MemberProgress;
}

/** The cluster (`GET /v1/cluster`). */
export interface ClusterInfo {
  /** The leader's id, or "" when none is known. */
  leader: string;
  /** The term. */
  term: number;
  /** Voters and learners. */
  members: Member[];
}

/** A key was written. */
export interface PutEvent {
  /** The event type. */
  type: "put";
  /** The key. */
  key: string;
  /** The new value. */
  value: string;
  /** The key's modRevision after the write (equals `revision`). */
  modRevision: number;
  /** The revision of the write. */
  revision: number;
  /** The key's createRevision. */
  createRevision: number;
  /** The key's version after the write. */
  version: number;
  /** The key's lease, if any. */
  lease?: number;
}

/** A key was deleted (directly, by prefix, or with its lease). */
export interface DeleteEvent {
  /** The event type. */
  type: "delete";
  /** The key. */
  key: string;
  /** Never set on a delete. */
  value?: undefined;
  /** The revision of the delete (equals `revision`). */
  modRevision: number;
  /** The revision of the delete. */
  revision: number;
}

/** A watch event. */
export type WatchEvent = PutEvent | DeleteEvent;

/** Whether a fencing token still holds its grant (`GET ...?token=t`). */
export interface TokenCheck {
  /** True while the token is a live grant of the name. */
  valid: boolean;
}

/** A won election: this caller leads. */
export interface ElectionGrant {
  /** The election's name. */
  name: string;
  /** The fencing token: the revision of the grant of leadership. */
  token: number;
  /** The lease that keeps the leadership. */
  lease: number;
  /** The leader's value (for example its address). */
  value: string;
}

/** An election's current leader. */
export interface ElectionLeader extends ElectionGrant {
  /** The revision of the last change: the grant, or the latest proclaim. */
  revision: number;
}

/**
 * A change of an election's leader, as `GET /v1/elections/{name}/observe`
 * sends it (the SSE id is `revision`).
 */
export interface ElectionEvent {
  /** The election's name. */
  name: string;
  /** The revision of the change; strictly increasing along a stream. */
  revision: number;
  /** The leader after the change, or null when nobody leads. */
  leader: ElectionLeader | null;
}

/** An election as listed (`GET /v1/elections`). */
export interface ElectionInfo {
  /** The election's name. */
  name: string;
  /** The leader, or null. */
  leader: ElectionLeader | null;
  /** How many candidates wait behind the leader. */
  candidates: number;
}

/** The answer to a resign. */
export interface ResignResult {
  /** Always true. */
  resigned: true;
  /** The revision after the resign (a next candidate's grant raises it). */
  revision: number;
}

/** Permits of a semaphore, granted. */
export interface SemaphoreGrant {
  /** The semaphore's name. */
  name: string;
  /** The fencing token: the revision of the grant. */
  token: number;
  /** The lease that keeps the permits. */
  lease: number;
  /** How many permits this grant holds. */
  permits: number;
  /** The owner string given at acquire. */
  owner: string;
}

/** A holder of a semaphore. */
export interface SemaphoreHolder {
  /** The holder's fencing token. */
  token: number;
  /** The lease that keeps the permits. */
  lease: number;
  /** How many permits it holds. */
  permits: number;
  /** The owner string given at acquire. */
  owner: string;
}

/** A queued acquire of a semaphore or read-write lock, as the API shows it. */
export interface RecipeWaiter {
  /** The waiter's lease. */
  lease: number;
  /** The owner string given at acquire. */
  owner: string;
}

/** A queued acquire of a semaphore. */
export interface SemaphoreWaiter extends RecipeWaiter {
  /** How many permits it asks for. */
  permits: number;
}

/**
 * A semaphore's state. One exists while anybody holds or waits for it;
 * otherwise `limit`, `held` and `free` are 0 and the next acquire sets the
 * limit. Always `held + free == limit`.
 */
export interface SemaphoreInfo {
  /** The semaphore's name. */
  name: string;
  /** How many permits exist (0: the semaphore does not exist now). */
  limit: number;
  /** Permits held. */
  held: number;
  /** Permits free. */
  free: number;
  /** Holders, in grant order. */
  holders: SemaphoreHolder[];
  /** Waiters, first in line first. */
  waiters: SemaphoreWaiter[];
}

/** A read-write lock's mode. */
export type RwlockMode = "read" | "write";

/** A read-write lock, granted. */
export interface RwlockGrant {
  /** The lock's name. */
  name: string;
  /** The fencing token: the revision of the grant. */
  token: number;
  /** The lease that keeps the hold. */
  lease: number;
  /** Read (shared) or write (exclusive). */
  mode: RwlockMode;
  /** The owner string given at acquire. */
  owner: string;
}

/** A holder of a read-write lock. */
export interface RwlockHolder {
  /** The holder's fencing token. */
  token: number;
  /** The lease that keeps the hold. */
  lease: number;
  /** Read or write. */
  mode: RwlockMode;
  /** The owner string given at acquire. */
  owner: string;
}

/** A queued acquire of a read-write lock. */
export interface RwlockWaiter extends RecipeWaiter {
  /** The mode it asks for. */
  mode: RwlockMode;
}

/** A read-write lock's state. */
export interface RwlockInfo {
  /** The lock's name. */
  name: string;
  /** How it is held now: by readers, by a writer, or not (null). */
  mode: RwlockMode | null;
  /** Holders, in grant order. */
  holders: RwlockHolder[];
  /** Waiters, first in line first. */
  waiters: RwlockWaiter[];
}

// ------------------------------------------------------------------- auth

/**
 * Read and/or write access to every key and lock whose name starts with
 * `prefix` (`""` covers everything), as a role lists it.
 */
export interface AuthPermission {
  /** The name prefix covered. */
  prefix: string;
  /** Reads: get, list, watch, lock status. */
  read: boolean;
  /** Writes: put, delete, txn writes, lock acquire and release. */
  write: boolean;
}

/** A permission as given to `PUT /v1/auth/roles/{name}` (absent: false). */
export interface AuthPermissionInput {
  /** The name prefix covered. */
  prefix: string;
  /** Allow reads (default false). */
  read?: boolean;
  /** Allow writes (default false). */
  write?: boolean;
}

/** `GET /v1/auth/status`. */
export interface AuthStatus {
  /** Whether client authentication is on. */
  enabled: boolean;
}

/** The body of `POST /v1/auth/token`. */
export interface TokenRequest {
  /** The user name. */
  user: string;
  /** Its password. */
  password: string;
}

/** An issued token (`POST /v1/auth/token`). */
export interface IssuedToken {
  /** The bearer token: send it as `Authorization: Bearer <token>`. */
  token: string;
  /** When it expires, in ms since the epoch (by the issuing node's clock). */
  expiresAt: number;
  /** Its lifetime, in seconds. */
  ttl: number;
}

/** The answer to `POST /v1/auth/enable` and `POST /v1/auth/disable`. */
export interface AuthToggleResult {
  /** Whether auth is now on. */
  enabled: boolean;
  /** Counts every change of users, roles, keys and the switch. */
  authRevision: number;
}

/** The answer to `POST /v1/auth/rotate-key`. */
export interface RotateKeyResult {
  /** The new signing key's id. */
  kid: string;
  /** Counts every change of users, roles, keys and the switch. */
  authRevision: number;
}

/** A user as listed (`GET /v1/auth/users[/{name}]`); never the hash. */
export interface AuthUser {
  /** The user name. */
  name: string;
  /** Its roles. */
  roles: string[];
}

/** The answer to a user change (put, grant, revoke). */
export interface AuthUserResult extends AuthUser {
  /** Counts every change of users, roles, keys and the switch. */
  authRevision: number;
}

/** The body of `PUT /v1/auth/users/{name}`. */
export interface UserPut {
  /** The password (required to create; given on a change, a new password). */
  password?: string;
  /** The roles (replace the user's roles; absent: kept). */
  roles?: string[];
}

/** A role (`GET /v1/auth/roles[/{name}]`). */
export interface AuthRole {
  /** The role name. */
  name: string;
  /** What it allows. */
  permissions: AuthPermission[];
}

/** The answer to `PUT /v1/auth/roles/{name}`. */
export interface AuthRoleResult {
  /** The role name. */
  name: string;
  /** The permissions as stored (absent flags as false). */
  permissions: AuthPermission[];
  /** Counts every change of users, roles, keys and the switch. */
  authRevision: number;
}

/** The answer to deleting a user or a role. */
export interface AuthDeleteResult {
  /** The user or role name. */
  name: string;
  /** Always true. */
  deleted: true;
  /** Counts every change of users, roles, keys and the switch. */
  authRevision: number;
}

/** A member with its own status, as one node gathers it. */
export interface MemberStatus extends Member {
  /** The member's `GET /v1/status`, or null when it did not answer. */
  status: NodeStatus | null;
  /** Why there is no status (unreachable, timed out, refused). */
  error?: string;
}

/**
 * Every member's status, gathered by the answering node
 * (`GET /v1/cluster/status`): what the console shows.
 */
export interface ClusterStatus {
  /** The node that gathered the statuses. */
  id: string;
  /** The leader it knows, or "". */
  leader: string;
  /** Its term. */
  term: number;
  /** Voters and learners, each with its status or why there is none. */
  members: MemberStatus[];
}

/** Cumulative latency buckets of a node's requests. */
export interface LatencyBuckets {
  /** Upper bounds of the buckets, in seconds, ascending. */
  bounds: number[];
  /** Requests at or below each bound (cumulative), one per bound. */
  buckets: number[];
  /** Every request counted (the `+Inf` bucket). */
  count: number;
  /** Their summed latency, in seconds. */
  sum: number;
}

/**
 * A node's counters since it started (`GET /v1/stats`): sample twice and
 * subtract for rates and latency percentiles over the interval.
 */
export interface NodeStats {
  /** The node. */
  id: string;
  /** Its clock, in ms since the epoch, when the counters were read. */
  time: number;
  /** Its role. */
  role: string;
  /** The leader it knows, or "". */
  leader: string;
  /** Its term. */
  term: number;
  /** Write requests answered (keys, transactions, leases, locks, recipes). */
  writes: number;
  /** Read requests answered on the same routes (streams left out). */
  reads: number;
  /** Latency of those reads and writes. */
  latency: LatencyBuckets;
  /** Leader changes this node has seen. */
  leaderChanges: number;
}
