/**
 * The typed raftlock client: every HTTP API route as a method, failover
 * across endpoints (preferring the leader), writes that carry an
 * `X-Request-Id` so a retried write applies once, held locks, leadership,
 * semaphore permits and read-write locks with background keepalives,
 * resumable watches and election observers, and config helpers. See
 * {@linkcode Client} for an example.
 *
 * @module
 */

import { AuthAdmin } from "./auth_admin.ts";
import { isRaftlockError, RaftlockError } from "./errors.ts";
import { type CampaignOptions, Election } from "./election.ts";
import { renewedAt } from "./held.ts";
import { Lock, type LockOptions } from "./lock.ts";
import { type ObserveOptions, Observer } from "./observe.ts";
import {
  type HoldOptions,
  Permits,
  type RecipeBackend,
  RwLock,
  type SemaphoreOptions,
} from "./semaphore.ts";
import {
  type CallOptions,
  type ClientOptions,
  sleep,
  Transport,
} from "./transport.ts";
import { Watch, type WatchFilter, type WatchOptions } from "./watch.ts";
import type {
  ClusterInfo,
  DeleteResult,
  ElectionGrant,
  ElectionInfo,
  ElectionLeader,
  Fence,
  KeyValue,
  Lease,
  LeaseInfo,
  LeaseSummary,
  ListResult,
  LockGrant,
  LockInfo,
  NodeStatus,
  PutResult,
  ReleaseResult,
  ResignResult,
  RevokeResult,
  RwlockGrant,
  RwlockInfo,
  RwlockMode,
  SemaphoreGrant,
  SemaphoreInfo,
  TxnRequest,
  TxnResult,
  WatchEvent,
} from "./types.ts";

export type { ClientOptions };

/** Options of {@linkcode Client.get}. */
export interface GetOptions extends CallOptions {
  /** Read the answering node's state without a Raft round (may be stale). */
  serializable?: boolean;
}

/** Options of {@linkcode Client.put}. */
export interface PutOptions extends CallOptions {
  /** Attach the key to this lease (deleted when the lease ends). */
  lease?: number;
  /**
   * Give the key its own lease of this many seconds instead (made by the
   * first put with `ttl`, renewed with the new TTL by the next); the key
   * is deleted when it expires. The answer's `lease` is its id.
   */
  ttl?: number;
  /** Write only if the key's modRevision equals this (0: must not exist). */
  ifModRevision?: number;
  /** Write only if the key's version equals this (0: must not exist). */
  ifVersion?: number;
  /** Write only while this fencing token holds its grant. */
  fence?: Fence;
}

/** Options of {@linkcode Client.delete}. */
export interface DeleteOptions extends CallOptions {
  /** Delete every key starting with the key. */
  prefix?: boolean;
  /** Delete only if the key's modRevision equals this. */
  ifModRevision?: number;
}

/** Options of {@linkcode Client.list}. */
export interface ListOptions extends CallOptions {
  /** At most this many keys per page (0 or absent: all in one answer). */
  limit?: number;
  /** Only keys after this one (paging). */
  startAfter?: string;
  /** Follow pages (of `limit` keys, default 1000) until the last one. */
  all?: boolean;
  /** Read without a Raft round (may be stale). */
  serializable?: boolean;
}

/** Options of {@linkcode Client.acquire}. */
export interface AcquireOptions extends CallOptions {
  /** TTL in seconds of a lease made for the lock (when `lease` is not given). */
  ttl?: number;
  /** Hold the lock with this existing lease instead. */
  lease?: number;
  /** How long to wait in the queue, in ms (default 0: fail at once). */
  wait?: number;
  /** Who holds it (free text). */
  owner?: string;
  /** Lock-delay in ms after the holder's lease expires. */
  lockDelay?: number;
}

/** How a one-shot acquire of a recipe holds and waits. */
export interface RecipeAcquireOptions extends CallOptions {
  /** TTL in seconds of a lease made for the grant (default 10, unless `lease`). */
  ttl?: number;
  /** Hold with this existing lease instead. */
  lease?: number;
  /** How long to wait in the queue, in ms (default 0: fail at once). */
  wait?: number;
}

/** Options of {@linkcode Client.acquireSemaphore}. */
export interface SemaphoreAcquireOptions extends RecipeAcquireOptions {
  /** How many permits the semaphore has (fixed by its first acquirer). */
  limit: number;
  /** How many permits to take (default 1). */
  permits?: number;
  /** Who holds them (free text). */
  owner?: string;
}

/** Options of {@linkcode Client.acquireRwlock}. */
export interface RwlockAcquireOptions extends RecipeAcquireOptions {
  /** Who holds it (free text). */
  owner?: string;
}

/** The longest wait of one acquire request, in ms (the API's bound). */
const MAX_WAIT_MS = 300_000;

/** Options of {@linkcode Client.addMember}. */
export interface AddMemberOptions extends CallOptions {
  /** The new member's HTTP API address (host:port). */
  httpAddress?: string;
  /** Add it as a voter at once (default: a learner, to promote later). */
  voter?: boolean;
  /** Skip the leader's safety check (a voter added at once, say). */
  force?: boolean;
}

/** Options of {@linkcode Client.removeMember} and {@linkcode Client.promote}. */
export interface MemberChangeOptions extends CallOptions {
  /**
   * Skip the leader's safety check (a removal that leaves no quorum, a
   * learner promoted before it caught up).
   */
  force?: boolean;
}

/** Options of {@linkcode Client.status}. */
export interface StatusOptions extends CallOptions {
  /** Ask this node (URL or host:port) rather than any endpoint. */
  endpoint?: string;
}

/** Options of {@linkcode Client.cluster}. */
export interface ClusterOptions extends CallOptions {
  /** Answer from the node asked, without forwarding to the leader. */
  local?: boolean;
  /** Ask this node (URL or host:port) rather than any endpoint. */
  endpoint?: string;
}

/** Options of {@linkcode Client.getPrefix}. */
export interface PrefixOptions extends CallOptions {
  /** Drop the prefix from the keys of the map (default false). */
  stripPrefix?: boolean;
}

/** The answer of {@linkcode Client.getPrefix}. */
export interface PrefixValues {
  /** Key → value of every key under the prefix. */
  values: Record<string, string>;
  /** The revision the values were read at. */
  revision: number;
}

/** Options of {@linkcode Client.followPrefix}. */
export interface FollowOptions {
  /** Drop the prefix from the keys of the map (default false). */
  stripPrefix?: boolean;
  /** Stops following. */
  signal?: AbortSignal;
  /** Called on errors the follower recovers from (it keeps retrying). */
  onError?: (error: unknown) => void;
}

/** What {@linkcode Client.followPrefix} passes to its callback. */
export interface PrefixChange {
  /** The revision of the map. */
  revision: number;
  /** The events that led here (empty for the initial load). */
  events: WatchEvent[];
}

const enc = encodeURIComponent;

/**
 * A raftlock client over `fetch`. Any endpoint serves any request; the
 * client prefers the leader (learned from `GET /v1/cluster`), remembers
 * the last endpoint that answered, and on a network error, a 503 or a 504
 * tries the next one, with backoff once every endpoint has failed. Every
 * write carries `X-Request-Id: <clientId>/<seq>`; its retries reuse the id
 * so the cluster applies it once. Failures are {@linkcode RaftlockError}s.
 *
 * With auth on, give `token` (sent as it is), or `user` and `password`:
 * the client logs in (`POST /v1/auth/token`), sends
 * `Authorization: Bearer …` on every request and watch, renews the token
 * before it expires, and after a 401 logs in again and retries once; a
 * watch cut off by an expired token resumes where it stopped.
 *
 * @example
 * ```ts
 * import { Client } from "./mod.ts";
 *
 * // Counts the runs of a job, one run at a time across the cluster.
 * async function countRun(endpoints: string[]): Promise<number> {
 *   await using client = new Client({ endpoints });
 *   await using lock = await client.lock("jobs/nightly", { ttl: 10 });
 *   const runs = Number((await client.get("jobs/nightly/runs"))?.value ?? 0);
 *   await client.put("jobs/nightly/runs", String(runs + 1), {
 *     fence: lock.fence(), // refused if the lock was lost meanwhile
 *   });
 *   return runs + 1;
 * }
 * ```
 */
export class Client implements AsyncDisposable {
  readonly #t: Transport;
  #auth: AuthAdmin | undefined;

  /**
   * Creates a client; it connects lazily. With `user` and `password` it
   * logs in when it first needs a token and renews the token by itself.
   */
  constructor(options: ClientOptions = {}) {
    this.#t = new Transport(options);
  }

  /** Auth administration: the switch, tokens, users, roles, key rotation. */
  get auth(): AuthAdmin {
    return this.#auth ??= new AuthAdmin(this.#t);
  }

  /** The configured endpoints (normalized). */
  get endpoints(): readonly string[] {
    return this.#t.endpoints;
  }

  /** The client id used in `X-Request-Id`. */
  get clientId(): string {
    return this.#t.clientId;
  }

  /** The highest `X-Raft-Revision` seen so far. */
  get revision(): number {
    return this.#t.revision;
  }

  /** The highest `X-Raft-Term` seen so far. */
  get term(): number {
    return this.#t.term;
  }

  /** The leader's URL, when known. */
  get leaderUrl(): string | undefined {
    return this.#t.leaderUrl;
  }

  /**
   * Stops everything in flight: calls reject, watches end, held locks stop
   * their keepalives (their leases then expire; release them first to
   * free them at once).
   */
  close(): void {
    this.#t.close();
  }

  /** Closes the client (for `await using`). */
  [Symbol.asyncDispose](): Promise<void> {
    this.close();
    return Promise.resolve();
  }

  // ------------------------------------------------------------------ keys

  /** Reads a key; null when it does not exist. Linearizable by default. */
  get(key: string, options: GetOptions = {}): Promise<KeyValue | null> {
    return this.#t.request<KeyValue | null>({
      method: "GET",
      path: `/v1/kv/${enc(key)}`,
      query: { consistency: options.serializable ? "serializable" : undefined },
      kind: "read",
      nullOn404: true,
      options,
    });
  }

  /**
   * Writes a key. A failed condition (`ifModRevision`, `ifVersion`) throws
   * a `conflict` RaftlockError with `current`; a failed fence throws
   * `stale_token`.
   */
  put(
    key: string,
    value: string,
    options: PutOptions = {},
  ): Promise<PutResult> {
    return this.#t.request<PutResult>({
      method: "PUT",
      path: `/v1/kv/${enc(key)}`,
      body: {
        value,
        lease: options.lease,
        ttl: options.ttl,
        ifModRevision: options.ifModRevision,
        ifVersion: options.ifVersion,
        fence: options.fence,
      },
      kind: "write",
      options,
    });
  }

  /** Deletes a key, or every key under a prefix with `prefix: true`. */
  delete(key: string, options: DeleteOptions = {}): Promise<DeleteResult> {
    return this.#t.request<DeleteResult>({
      method: "DELETE",
      path: `/v1/kv/${enc(key)}`,
      query: {
        prefix: options.prefix ? "true" : undefined,
        ifModRevision: options.ifModRevision,
      },
      kind: "write",
      options,
    });
  }

  /**
   * Lists keys under a prefix in key order. With `limit`, one page (see
   * `more`, and pass the last key as `startAfter` for the next); with
   * `all: true`, every page.
   */
  async list(prefix = "", options: ListOptions = {}): Promise<ListResult> {
    const page = (startAfter: string | undefined, limit: number | undefined) =>
      this.#t.request<ListResult>({
        method: "GET",
        path: "/v1/kv",
        query: {
          prefix,
          limit,
          startAfter,
          consistency: options.serializable ? "serializable" : undefined,
        },
        kind: "read",
        options,
      });
    if (!options.all) return page(options.startAfter, options.limit);
    const limit = options.limit || 1000;
    const kvs: KeyValue[] = [];
    let after = options.startAfter;
    for (;;) {
      const r = await page(after, limit);
      kvs.push(...r.kvs);
      if (!r.more || r.kvs.length === 0) {
        return { kvs, more: false, revision: r.revision };
      }
      after = r.kvs[r.kvs.length - 1].key;
    }
  }

  /** Runs a transaction: compares, then `success` or `failure`, atomically. */
  txn(request: TxnRequest, options: CallOptions = {}): Promise<TxnResult> {
    return this.#t.request<TxnResult>({
      method: "POST",
      path: "/v1/txn",
      body: {
        compare: request.compare ?? [],
        success: request.success ?? [],
        failure: request.failure ?? [],
        fence: request.fence,
      },
      kind: "write",
      options,
    });
  }

  // ---------------------------------------------------------------- leases

  /** Grants a lease of `ttl` seconds. */
  grantLease(ttl: number, options: CallOptions = {}): Promise<Lease> {
    return this.#t.request<Lease>({
      method: "POST",
      path: "/v1/leases",
      body: { ttl },
      kind: "write",
      options,
    });
  }

  /** Renews a lease; `not_found` when it has expired or was revoked. */
  keepAlive(id: number, options: CallOptions = {}): Promise<Lease> {
    return this.#t.request<Lease>({
      method: "POST",
      path: `/v1/leases/${id}/keepalive`,
      kind: "write",
      options,
    });
  }

  /** Revokes a lease: deletes its keys and releases its locks. */
  revokeLease(id: number, options: CallOptions = {}): Promise<RevokeResult> {
    return this.#t.request<RevokeResult>({
      method: "DELETE",
      path: `/v1/leases/${id}`,
      kind: "write",
      options,
    });
  }

  /** A lease's details and time left; null when it does not exist. */
  lease(id: number, options: CallOptions = {}): Promise<LeaseInfo | null> {
    return this.#t.request<LeaseInfo | null>({
      method: "GET",
      path: `/v1/leases/${id}`,
      kind: "read",
      nullOn404: true,
      options,
    });
  }

  /** Every lease. */
  async leases(options: CallOptions = {}): Promise<LeaseSummary[]> {
    const r = await this.#t.request<{ leases: LeaseSummary[] }>({
      method: "GET",
      path: "/v1/leases",
      kind: "read",
      options,
    });
    return r.leases;
  }

  // ----------------------------------------------------------------- locks

  /**
   * Acquires a lock once (no keepalive: see {@linkcode Client.lock} for a
   * held lock). Give `ttl` (a lease is made for the lock; default 10 s)
   * or `lease`.
   * Throws `lock_held` (with `holder`) when it is not granted within
   * `wait` ms.
   */
  acquire(name: string, options: AcquireOptions = {}): Promise<LockGrant> {
    const wait = options.wait ?? 0;
    return this.#t.request<LockGrant>({
      method: "POST",
      path: `/v1/locks/${enc(name)}/acquire`,
      body: {
        ttl: options.lease === undefined ? options.ttl ?? 10 : undefined,
        lease: options.lease,
        wait,
        owner: options.owner,
        lockDelay: options.lockDelay,
      },
      kind: "unsafe",
      extraMs: wait,
      options,
    });
  }

  /** Releases a lock held with `token`; `stale_token` if it does not hold it. */
  release(
    name: string,
    token: number,
    options: CallOptions = {},
  ): Promise<ReleaseResult> {
    return this.#t.request<ReleaseResult>({
      method: "POST",
      path: `/v1/locks/${enc(name)}/release`,
      body: { token },
      kind: "write",
      options,
    });
  }

  /** A lock's holder (null when free) and how many wait. */
  lockInfo(name: string, options: CallOptions = {}): Promise<LockInfo> {
    return this.#t.request<LockInfo>({
      method: "GET",
      path: `/v1/locks/${enc(name)}`,
      kind: "read",
      options,
    });
  }

  /** Whether `token` still holds lock `name`. */
  async checkToken(
    name: string,
    token: number,
    options: CallOptions = {},
  ): Promise<boolean> {
    const r = await this.#t.request<{ valid: boolean }>({
      method: "GET",
      path: `/v1/locks/${enc(name)}`,
      query: { token },
      kind: "read",
      options,
    });
    return r.valid;
  }

  /** Every lock that is held or waited for. */
  async locks(options: CallOptions = {}): Promise<LockInfo[]> {
    const r = await this.#t.request<{ locks: LockInfo[] }>({
      method: "GET",
      path: "/v1/locks",
      kind: "read",
      options,
    });
    return r.locks;
  }

  /**
   * Acquires a lock with its own lease of `ttl` seconds (default 10) and
   * returns it held: its lease is kept alive in the background until
   * {@linkcode Lock.release} (or the end of an `await using` scope). Throws
   * `lock_held` when it is not granted within `wait` ms.
   */
  async lock(name: string, options: LockOptions = {}): Promise<Lock> {
    const ttl = options.ttl ?? 10;
    const sentAt = Date.now();
    const grant = await this.acquire(name, {
      ttl,
      wait: options.wait,
      owner: options.owner,
      lockDelay: options.lockDelay,
      signal: options.signal,
    });
    return new Lock(
      {
        keepAlive: (id, o) => this.keepAlive(id, o),
        release: (n, t, o) => this.release(n, t, o),
        revokeLease: (id, o) => this.revokeLease(id, o),
        closed: this.#t.closed,
      },
      grant,
      { ttl, renewedAt: renewedAt(sentAt, ttl), onLost: options.onLost },
    );
  }

  // ------------------------------------------------------------- elections

  /**
   * Campaigns in an election and returns leadership held: its lease of
   * `ttl` seconds (default 10) is kept alive in the background until
   * {@linkcode Election.resign} (or the end of an `await using` scope).
   * Waits in the FIFO line of candidates until elected (or `wait` ms, then
   * `lock_held`; or until `signal` aborts), retrying across failovers.
   */
  async campaign(
    name: string,
    value: string,
    options: CampaignOptions = {},
  ): Promise<Election> {
    const ttl = options.ttl ?? 10;
    const forever = options.wait === undefined;
    const deadline = forever ? Infinity : Date.now() + options.wait!;
    for (let failures = 0;;) {
      const wait = Math.max(0, Math.min(deadline - Date.now(), MAX_WAIT_MS));
      const sentAt = Date.now();
      try {
        const g = await this.campaignOnce(name, value, {
          ttl,
          wait,
          signal: options.signal,
        });
        return new Election(
          {
            keepAlive: (id, o) => this.keepAlive(id, o),
            revokeLease: (id, o) => this.revokeLease(id, o),
            proclaim: (n, t, v, o) => this.proclaim(n, t, v, o),
            resign: (n, t, o) => this.resign(n, t, o),
            closed: this.#t.closed,
          },
          g,
          { ttl, renewedAt: renewedAt(sentAt, ttl), onLost: options.onLost },
        );
      } catch (e) {
        options.signal?.throwIfAborted();
        this.#t.closed.throwIfAborted();
        const held = isRaftlockError(e, "lock_held");
        // A wait that ran out queues again; with no deadline, so does a
        // campaign cut off by a failover (its old candidacy's lease, no
        // longer kept alive by the node it waited on, expires).
        const again = held ||
          (forever &&
            ["unreachable", "timeout", "unavailable"].includes(
              (e as RaftlockError).code,
            ));
        if (!again || Date.now() >= deadline) throw e;
        failures = held ? 0 : failures + 1;
        if (failures > 0) {
          await sleep(Math.min(2000, 100 * 2 ** failures), options.signal);
        }
      }
    }
  }

  /**
   * One campaign request (no keepalive: see {@linkcode Client.campaign}):
   * answers once this caller leads, after waiting up to `wait` ms (default
   * 0), else throws `lock_held`. Give `ttl` (default 10) or `lease`.
   */
  campaignOnce(
    name: string,
    value: string,
    options: RecipeAcquireOptions = {},
  ): Promise<ElectionGrant> {
    return this.#acquireRecipe<ElectionGrant>(
      `/v1/elections/${enc(name)}/campaign`,
      { value },
      options,
    );
  }

  /** Changes the leader's value; `stale_token` unless `token` leads. */
  proclaim(
    name: string,
    token: number,
    value: string,
    options: CallOptions = {},
  ): Promise<ElectionLeader> {
    return this.#t.request<ElectionLeader>({
      method: "POST",
      path: `/v1/elections/${enc(name)}/proclaim`,
      body: { token, value },
      kind: "write",
      options,
    });
  }

  /** Gives up leadership; `stale_token` unless `token` leads. */
  resign(
    name: string,
    token: number,
    options: CallOptions = {},
  ): Promise<ResignResult> {
    return this.#t.request<ResignResult>({
      method: "POST",
      path: `/v1/elections/${enc(name)}/resign`,
      body: { token },
      kind: "write",
      options,
    });
  }

  /** The election's leader, or null when nobody leads. */
  leader(
    name: string,
    options: CallOptions = {},
  ): Promise<ElectionLeader | null> {
    return this.#t.request<ElectionLeader | null>({
      method: "GET",
      path: `/v1/elections/${enc(name)}`,
      kind: "read",
      nullOn404: true,
      options,
    });
  }

  /** Every election that has a leader. */
  async elections(options: CallOptions = {}): Promise<ElectionInfo[]> {
    const r = await this.#t.request<{ elections: ElectionInfo[] }>({
      method: "GET",
      path: "/v1/elections",
      kind: "read",
      options,
    });
    return r.elections;
  }

  /**
   * Observes an election: an async iterable of its state now, then every
   * change of leader, in strictly increasing revisions (never an older
   * leader after a newer one), that resumes on the next endpoint after a
   * disconnect, node failure or leader change.
   */
  observe(name: string, options: ObserveOptions = {}): Observer {
    return new Observer(this.#t, name, options);
  }

  // ------------------------------------------------------------ semaphores

  /**
   * Acquires permits of a semaphore once (no keepalive: see
   * {@linkcode Client.semaphore}). Throws `conflict` when the semaphore
   * exists with another limit, `lock_held` when not granted within `wait`
   * ms.
   */
  acquireSemaphore(
    name: string,
    options: SemaphoreAcquireOptions,
  ): Promise<SemaphoreGrant> {
    return this.#acquireRecipe<SemaphoreGrant>(
      `/v1/semaphores/${enc(name)}/acquire`,
      { limit: options.limit, permits: options.permits, owner: options.owner },
      options,
    );
  }

  /** Releases the permits held with `token`. */
  releaseSemaphore(
    name: string,
    token: number,
    options: CallOptions = {},
  ): Promise<ReleaseResult> {
    return this.#releaseRecipe("semaphores", name, token, options);
  }

  /** A semaphore's limit, holders and waiters (limit 0: nobody holds or waits). */
  semaphoreInfo(
    name: string,
    options: CallOptions = {},
  ): Promise<SemaphoreInfo> {
    return this.#t.request<SemaphoreInfo>({
      method: "GET",
      path: `/v1/semaphores/${enc(name)}`,
      kind: "read",
      options,
    });
  }

  /** Every semaphore that is held or waited for. */
  async semaphores(options: CallOptions = {}): Promise<SemaphoreInfo[]> {
    const r = await this.#t.request<{ semaphores: SemaphoreInfo[] }>({
      method: "GET",
      path: "/v1/semaphores",
      kind: "read",
      options,
    });
    return r.semaphores;
  }

  /**
   * Acquires permits of a semaphore with their own lease of `ttl` seconds
   * (default 10) and returns them held, kept alive in the background
   * until {@linkcode Permits.release} (or the end of an `await using`
   * scope). Throws `lock_held` when not granted within `wait` ms.
   */
  async semaphore(name: string, options: SemaphoreOptions): Promise<Permits> {
    const ttl = options.ttl ?? 10;
    const sentAt = Date.now();
    const g = await this.acquireSemaphore(name, {
      limit: options.limit,
      permits: options.permits,
      owner: options.owner,
      ttl,
      wait: options.wait,
      signal: options.signal,
    });
    return new Permits(this.#recipeBackend(), g, {
      ttl,
      renewedAt: renewedAt(sentAt, ttl),
      onLost: options.onLost,
    });
  }

  // ------------------------------------------------------- read-write locks

  /**
   * Acquires a read-write lock once for reading or writing (no keepalive:
   * see {@linkcode Client.rwlock}). Throws `lock_held` when not granted
   * within `wait` ms.
   */
  acquireRwlock(
    name: string,
    mode: RwlockMode,
    options: RwlockAcquireOptions = {},
  ): Promise<RwlockGrant> {
    return this.#acquireRecipe<RwlockGrant>(
      `/v1/rwlocks/${enc(name)}/acquire`,
      { mode, owner: options.owner },
      options,
    );
  }

  /** Releases the read-write lock hold with `token`. */
  releaseRwlock(
    name: string,
    token: number,
    options: CallOptions = {},
  ): Promise<ReleaseResult> {
    return this.#releaseRecipe("rwlocks", name, token, options);
  }

  /** A read-write lock's mode, holders and waiters. */
  rwlockInfo(name: string, options: CallOptions = {}): Promise<RwlockInfo> {
    return this.#t.request<RwlockInfo>({
      method: "GET",
      path: `/v1/rwlocks/${enc(name)}`,
      kind: "read",
      options,
    });
  }

  /** Every read-write lock that is held or waited for. */
  async rwlocks(options: CallOptions = {}): Promise<RwlockInfo[]> {
    const r = await this.#t.request<{ rwlocks: RwlockInfo[] }>({
      method: "GET",
      path: "/v1/rwlocks",
      kind: "read",
      options,
    });
    return r.rwlocks;
  }

  /**
   * Acquires a read-write lock for reading or writing with its own lease
   * of `ttl` seconds (default 10) and returns it held, kept alive in the
   * background until {@linkcode RwLock.release} (or the end of an
   * `await using` scope). Throws `lock_held` when not granted within
   * `wait` ms.
   */
  async rwlock(
    name: string,
    mode: RwlockMode,
    options: HoldOptions = {},
  ): Promise<RwLock> {
    const ttl = options.ttl ?? 10;
    const sentAt = Date.now();
    const g = await this.acquireRwlock(name, mode, {
      owner: options.owner,
      ttl,
      wait: options.wait,
      signal: options.signal,
    });
    return new RwLock(this.#recipeBackend(), g, {
      ttl,
      renewedAt: renewedAt(sentAt, ttl),
      onLost: options.onLost,
    });
  }

  /**
   * Whether a fence's token is still the live grant it names: the holder
   * of a lock, the leader of an election, a holder of a semaphore or of a
   * read-write lock.
   */
  async checkFence(fence: Fence, options: CallOptions = {}): Promise<boolean> {
    const [kind, name] = "lock" in fence
      ? ["locks", fence.lock]
      : "election" in fence
      ? ["elections", fence.election]
      : "semaphore" in fence
      ? ["semaphores", fence.semaphore]
      : ["rwlocks", fence.rwlock];
    const r = await this.#t.request<{ valid: boolean }>({
      method: "GET",
      path: `/v1/${kind}/${enc(name)}`,
      query: { token: fence.token },
      kind: "read",
      options,
    });
    return r.valid;
  }

  #acquireRecipe<G>(
    path: string,
    body: Record<string, unknown>,
    options: RecipeAcquireOptions,
  ): Promise<G> {
    const wait = options.wait ?? 0;
    return this.#t.request<G>({
      method: "POST",
      path,
      body: {
        ...body,
        ttl: options.lease === undefined ? options.ttl ?? 10 : undefined,
        lease: options.lease,
        wait,
      },
      kind: "unsafe",
      extraMs: wait,
      options,
    });
  }

  #releaseRecipe(
    kind: "semaphores" | "rwlocks",
    name: string,
    token: number,
    options: CallOptions,
  ): Promise<ReleaseResult> {
    return this.#t.request<ReleaseResult>({
      method: "POST",
      path: `/v1/${kind}/${enc(name)}/release`,
      body: { token },
      kind: "write",
      options,
    });
  }

  #recipeBackend(): RecipeBackend {
    return {
      keepAlive: (id, o) => this.keepAlive(id, o),
      revokeLease: (id, o) => this.revokeLease(id, o),
      release: (kind, n, t, o) =>
        kind === "semaphore"
          ? this.releaseSemaphore(n, t, o)
          : this.releaseRwlock(n, t, o),
      closed: this.#t.closed,
    };
  }

  // --------------------------------------------------------------- watches

  /**
   * Watches a key or a prefix: an async iterable of events in revision
   * order, each exactly once, that resumes on the next endpoint after a
   * disconnect, node failure or leader change. A `compacted` RaftlockError
   * (with `compactRevision`) is thrown when the events to resume from are
   * gone.
   */
  watch(filter: WatchFilter, options: WatchOptions = {}): Watch {
    return new Watch(this.#t, filter, options);
  }

  // ---------------------------------------------------------------- config

  /** Every key under a prefix as a map, read at one revision. */
  async getPrefix(
    prefix: string,
    options: PrefixOptions = {},
  ): Promise<PrefixValues> {
    const r = await this.list(prefix, {
      signal: options.signal,
      timeoutMs: options.timeoutMs,
    });
    const values: Record<string, string> = {};
    for (const kv of r.kvs) {
      values[options.stripPrefix ? kv.key.slice(prefix.length) : kv.key] =
        kv.value;
    }
    return { values, revision: r.revision };
  }

  /**
   * Loads every key under a prefix, calls `onChange` with the map, then
   * watches from the next revision and calls `onChange` with the whole
   * updated map after each change. Recovers from failures by itself
   * (reloading if the watch was compacted). Resolves, after the first
   * load, to a function that stops following (its promise settles once
   * the watch has closed).
   */
  async followPrefix(
    prefix: string,
    onChange: (values: Record<string, string>, change: PrefixChange) => void,
    options: FollowOptions = {},
  ): Promise<() => Promise<void>> {
    const stop = new AbortController();
    const signal = options.signal
      ? AbortSignal.any([stop.signal, options.signal])
      : stop.signal;
    const strip = options.stripPrefix ?? false;
    const name = (k: string) => (strip ? k.slice(prefix.length) : k);
    let loaded = await this.getPrefix(prefix, { stripPrefix: strip, signal });
    let values = loaded.values;
    onChange({ ...values }, { revision: loaded.revision, events: [] });
    const run = async () => {
      let from = loaded.revision + 1;
      let failures = 0;
      while (!signal.aborted) {
        try {
          const w = this.watch({ prefix }, { fromRevision: from, signal });
          for await (const batch of w.batches()) {
            failures = 0;
            for (const e of batch) {
              if (e.type === "put") values[name(e.key)] = e.value;
              else delete values[name(e.key)];
            }
            from = batch[batch.length - 1].revision + 1;
            onChange({ ...values }, { revision: from - 1, events: batch });
          }
          return;
        } catch (e) {
          if (signal.aborted) return;
          options.onError?.(e);
          try {
            if (e instanceof RaftlockError && e.code === "compacted") {
              loaded = await this.getPrefix(prefix, {
                stripPrefix: strip,
                signal,
              });
              values = loaded.values;
              from = loaded.revision + 1;
              onChange({ ...values }, {
                revision: loaded.revision,
                events: [],
              });
              continue;
            }
            failures++;
            await sleep(Math.min(5000, 200 * 2 ** failures), signal);
          } catch (e2) {
            if (signal.aborted) return;
            options.onError?.(e2);
          }
        }
      }
    };
    const done = run();
    return () => {
      stop.abort();
      return done;
    };
  }

  // --------------------------------------------------------------- cluster

  /** One node's status (any endpoint, or `endpoint`). */
  status(options: StatusOptions = {}): Promise<NodeStatus> {
    return this.#t.request<NodeStatus>({
      method: "GET",
      path: "/v1/status",
      kind: "read",
      endpoint: options.endpoint,
      options,
    });
  }

  /**
   * The members, their roles and addresses, the leader and the term, as
   * the leader sees them (with replication progress). With `local: true`,
   * as the answering node sees them, without asking the leader (works
   * while there is none).
   */
  async cluster(options: ClusterOptions = {}): Promise<ClusterInfo> {
    const info = await this.#t.request<ClusterInfo>({
      method: "GET",
      path: "/v1/cluster",
      query: { local: options.local ? "true" : undefined },
      kind: "read",
      endpoint: options.endpoint,
      options,
    });
    if (!options.local) this.#t.learn(info);
    return info;
  }

  /** Adds a member (a learner unless `voter: true`). */
  addMember(
    id: string,
    peerAddress: string,
    options: AddMemberOptions = {},
  ): Promise<{ id: string; role: "voter" | "learner" }> {
    return this.#t.request({
      method: "POST",
      path: "/v1/cluster/members",
      body: {
        id,
        peerAddress,
        httpAddress: options.httpAddress,
        learner: !options.voter,
        force: options.force || undefined,
      },
      kind: "unsafe",
      extraMs: 3000,
      options,
    });
  }

  /** Removes a member. */
  removeMember(
    id: string,
    options: MemberChangeOptions = {},
  ): Promise<{ id: string; removed: true }> {
    return this.#t.request({
      method: "DELETE",
      path: `/v1/cluster/members/${enc(id)}`,
      query: { force: options.force ? "true" : undefined },
      kind: "unsafe",
      extraMs: 3000,
      options,
    });
  }

  /** Promotes a learner to voter. */
  promote(
    id: string,
    options: MemberChangeOptions = {},
  ): Promise<{ id: string; role: "voter" }> {
    return this.#t.request({
      method: "POST",
      path: `/v1/cluster/members/${enc(id)}/promote`,
      query: { force: options.force ? "true" : undefined },
      kind: "unsafe",
      extraMs: 3000,
      options,
    });
  }

  /** Moves leadership to voter `to`; resolves once it leads. */
  transferLeader(
    to: string,
    options: CallOptions = {},
  ): Promise<{ leader: string }> {
    return this.#t.request({
      method: "POST",
      path: "/v1/cluster/leader",
      body: { to },
      kind: "unsafe",
      // The node waits up to 3 s for the new leader.
      extraMs: 3500,
      options,
    });
  }

  /** Downloads a consistent snapshot of the whole state (a backup). */
  snapshot(options: CallOptions = {}): Promise<Uint8Array> {
    return this.#t.request<Uint8Array>({
      method: "GET",
      path: "/v1/snapshot",
      kind: "read",
      bytes: true,
      // A large state takes a while to encode and send.
      extraMs: 60_000,
      options,
    });
  }
}
