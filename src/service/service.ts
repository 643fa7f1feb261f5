/**
 * The lock, lease and config service on one node: turns requests into
 * replicated commands, serves reads behind a ReadIndex barrier, holds lock
 * waiters while their request is open, runs live watches, and — while this
 * node leads — proposes lease expiries and lock-delay ends from its own
 * monotonic clock.
 *
 * @module
 */

import type { RaftNode } from "../node/node.ts";
import {
  type Command,
  type CommandAuth,
  encodeCommand,
  type Fence,
  type PasswordHash,
  type Permission,
  type RequestId,
  type SigningKey,
  type TxnCommand,
} from "../state/commands.ts";
import type { RoleRecord, UserInfo } from "../state/auth.ts";
import type { WatchFilter } from "../state/history.ts";
import { LeaseClock } from "../state/lease_clock.ts";
import type {
  LockGrant,
  RangeQuery,
  RangeResult,
  ServiceStateMachine,
} from "../state/machine.ts";
import type { KeyValue, ResultFor } from "../state/results.ts";
import type { LeaseDetail, LeaseSummary } from "../state/leases.ts";
import type { LockInfo } from "../state/locks.ts";
import { UnavailableError } from "../node/errors.ts";
import { ServiceError } from "./errors.ts";
import { WatchFeed, type WatchFeedOptions } from "./watch_feed.ts";
import { type Logger, nullLogger } from "../node/logger.ts";

/** Options for a {@linkcode LockService}. */
export interface LockServiceOptions {
  /** The running node. */
  node: RaftNode;
  /** The state machine the node applies to. */
  state: ServiceStateMachine;
  /** Structured logs. */
  logger?: Logger;
  /** How often the leader checks lease deadlines, in ms (default 50). */
  clockIntervalMs?: number;
}

/** Options common to writes. */
export interface WriteOptions {
  /** A client-chosen request id: a retry with the same id is applied once. */
  requestId?: RequestId;
  /** Deadline in ms. */
  timeoutMs?: number;
  /**
   * The user the write is made for (from a verified token): with auth on,
   * the state machine applies it only if that user's roles allow it then.
   */
  auth?: CommandAuth;
}

/** A read's consistency and its permission check. */
export interface ReadOptions {
  /** Linearizable (default) or serializable. */
  consistency?: Consistency;
  /**
   * Called after the read barrier, before reading: throws if the request
   * may not read this (so roles are checked as of the read point).
   */
  authorize?: () => void;
}

/** Consistency of a read. */
export type Consistency = "linearizable" | "serializable";

/** What a lock acquire asks for. */
export interface AcquireOptions {
  /** TTL in seconds of a lease made for this lock (when `lease` is not given). */
  ttl?: number;
  /** An existing lease to hold the lock with. */
  lease?: number;
  /** How long to wait in the queue, in ms (0 = try once). */
  wait: number;
  /** Who holds it (free text). */
  owner?: string;
  /** Lock-delay in ms after the holder's lease expires. */
  lockDelay?: number;
  /** Aborts the wait (the client went away). */
  signal?: AbortSignal;
  /** The user the acquire is made for (see {@linkcode WriteOptions.auth}). */
  auth?: CommandAuth;
}

/** A granted lock. */
export interface Granted {
  /** The lock's name. */
  name: string;
  /** The fencing token. */
  token: number;
  /** The lease holding it. */
  lease: number;
  /** The owner string. */
  owner: string;
}

/** A lease with its remaining time. */
export interface LeaseView extends LeaseDetail {
  /** Seconds left before the lease expires (by the leader's clock), or null when unknown. */
  remaining: number | null;
}

/**
 * The service on one node: what the HTTP API calls, with no HTTP in it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { RaftNode } from "../node/mod.ts";
 * import { ServiceStateMachine } from "../state/mod.ts";
 * import { MemoryStorage } from "../storage/mod.ts";
 * import { MemoryHub } from "../transport/mod.ts";
 * import { LockService } from "./mod.ts";
 *
 * const hub = new MemoryHub();
 * const state = new ServiceStateMachine();
 * const node = RaftNode.start({
 *   id: "n1",
 *   storage: new MemoryStorage({ conf: { voters: ["n1"], learners: [] } }),
 *   transport: hub.connect("n1"),
 *   stateMachine: state,
 * });
 * const service = new LockService({ node, state });
 * await node.waitForLeader();
 * await service.put({ key: "app/mode", value: "on" });
 * assert.equal((await service.get("app/mode"))?.value, "on");
 * service.close();
 * await node.stop();
 * hub.close();
 * ```
 */
export class LockService {
  readonly #node: RaftNode;
  readonly #state: ServiceStateMachine;
  readonly #log: Logger;
  readonly #clock = new LeaseClock();
  readonly #grantWaiters = new Map<string, (g: LockGrant) => void>();
  readonly #unsubscribe: (() => void)[] = [];
  readonly #clockTimer: ReturnType<typeof setInterval>;
  readonly #clientId = `svc-${crypto.randomUUID()}`;
  #seq = 0;
  #closing = false;
  // Wakes every acquire that is waiting in a lock queue.
  readonly #waits = new Set<() => void>();
  readonly #watchers = new Set<WatchFeed>();
  /** Requests served, by outcome, for metrics. */
  readonly counters: {
    proposals: number;
    proposalErrors: number;
    leaseExpiries: number;
  } = {
    proposals: 0,
    proposalErrors: 0,
    leaseExpiries: 0,
  };

  /** Wires the service to a node and its state machine. */
  constructor(options: LockServiceOptions) {
    this.#node = options.node;
    this.#state = options.state;
    this.#log = options.logger ?? nullLogger;
    this.#unsubscribe.push(
      this.#state.onLockGranted((g) => {
        if (g.waiterId) this.#grantWaiters.get(g.waiterId)?.(g);
      }),
      this.#state.onLeaseChanges((changes) =>
        this.#clock.onApplied(performance.now(), changes)
      ),
      this.#state.onRestore(() => {
        for (const w of this.#watchers) w.resync();
      }),
      this.#node.onRoleChange((role) => this.#onRole(role)),
    );
    if (this.#node.isLeader) this.#onRole("leader");
    this.#clockTimer = setInterval(
      () => this.#driveClock(),
      options.clockIntervalMs ?? 50,
    );
  }

  /** The state machine (for queries that need no barrier). */
  get state(): ServiceStateMachine {
    return this.#state;
  }

  /** The node. */
  get node(): RaftNode {
    return this.#node;
  }

  /** Stops timers and listeners, and ends waiting lock acquires (503). */
  close(): void {
    this.#closing = true;
    for (const wake of this.#waits) wake();
    clearInterval(this.#clockTimer);
    for (const u of this.#unsubscribe) u();
    for (const w of [...this.#watchers]) w.close();
    this.#watchers.clear();
  }

  // ------------------------------------------------------------ leader clock

  #onRole(role: string): void {
    if (role === "leader") {
      // Every lease gets its full TTL plus an election timeout from now, so
      // a failover never expires a live lease early.
      this.#clock.onBecomeLeader(
        performance.now(),
        this.#state.leases(),
        this.#node.electionTimeoutMs,
        this.#state.pendingLockDelays(),
      );
      this.#log("service.leaseClock", {
        level: "info",
        leases: this.#clock.size,
        state: "started",
      });
    } else if (this.#clock.active) {
      this.#clock.onStepDown();
      this.#log("service.leaseClock", { level: "info", state: "stopped" });
    }
  }

  #driveClock(): void {
    if (!this.#clock.active || !this.#node.isLeader) return;
    const now = performance.now();
    for (const due of this.#clock.due(now)) {
      this.#clock.markProposed(due.id, now);
      this.counters.leaseExpiries++;
      this.#proposeQuiet({
        type: "leaseExpire",
        id: due.id,
        keepaliveIndex: due.keepaliveIndex,
      });
    }
    for (const d of this.#clock.dueLockDelays(now)) {
      this.#clock.markLockDelayProposed(d.name, now);
      this.#proposeQuiet({
        type: "lockDelayEnd",
        name: d.name,
        revision: d.revision,
      });
    }
  }

  #proposeQuiet(cmd: Command): void {
    this.#node.propose(encodeCommand(cmd)).catch((e) => {
      this.#log("service.clockProposalFailed", {
        level: "debug",
        type: cmd.type,
        error: String(e),
      });
    });
  }

  // ------------------------------------------------------------------ writes

  /**
   * Replicates one command and returns its successful result; a failed
   * condition or a bad request becomes a {@linkcode ServiceError}.
   */
  async run<T extends Command>(
    cmd: T,
    options: WriteOptions = {},
  ): Promise<Extract<ResultFor<T["type"]>, { ok: true }>> {
    const withId = {
      ...cmd,
      requestId: options.requestId ??
        { client: this.#clientId, seq: ++this.#seq },
      ...(options.auth ? { auth: options.auth } : {}),
    };
    this.counters.proposals++;
    let applied;
    try {
      applied = await this.#node.propose<ResultFor<T["type"]>>(
        encodeCommand(withId),
        { timeoutMs: options.timeoutMs },
      );
    } catch (e) {
      this.counters.proposalErrors++;
      throw e;
    }
    const r = applied.result;
    if (!r.ok) {
      const { code, message, ...details } = r.error;
      throw new ServiceError(code, message, details);
    }
    return r as Extract<ResultFor<T["type"]>, { ok: true }>;
  }

  /** Puts a key. */
  put(
    body: {
      key: string;
      value: string;
      lease?: number;
      ifModRevision?: number;
      ifVersion?: number;
      fence?: Fence;
    },
    options?: WriteOptions,
  ): Promise<{ revision: number }> {
    return this.run({ type: "put", ...body }, options).then((r) => ({
      revision: r.revision,
    }));
  }

  /** Deletes a key or a prefix. */
  delete(
    body: {
      key: string;
      prefix?: boolean;
      ifModRevision?: number;
      fence?: Fence;
    },
    options?: WriteOptions,
  ): Promise<{ deleted: number; revision: number }> {
    return this.run({ type: "delete", ...body }, options).then((r) => ({
      deleted: r.deleted,
      revision: r.revision,
    }));
  }

  /** Runs a transaction. */
  txn(
    body: Omit<TxnCommand, "type" | "requestId">,
    options?: WriteOptions,
  ): Promise<unknown> {
    return this.run({ type: "txn", ...body }, options).then((
      { ok: _ok, ...rest },
    ) => rest);
  }

  /** Grants a lease. */
  grantLease(
    ttl: number,
    options?: WriteOptions,
  ): Promise<{ id: number; ttl: number }> {
    return this.run({ type: "leaseGrant", ttl }, options).then((r) => ({
      id: r.id,
      ttl: r.ttl,
    }));
  }

  /** Keeps a lease alive. */
  keepAlive(
    id: number,
    options?: WriteOptions,
  ): Promise<{ id: number; ttl: number }> {
    return this.run({ type: "leaseKeepalive", id }, options).then((r) => ({
      id: r.id,
      ttl: r.ttl,
    }));
  }

  /** Revokes a lease (deleting its keys and releasing its locks). */
  revoke(
    id: number,
    options?: WriteOptions,
  ): Promise<{ id: number; deleted: number; revision: number }> {
    return this.run({ type: "leaseRevoke", id }, options).then((r) => ({
      id: r.id,
      deleted: r.deleted,
      revision: r.revision,
    }));
  }

  /** Releases a lock held with `token`. */
  release(
    name: string,
    token: number,
    options?: WriteOptions,
  ): Promise<{ released: true; revision: number }> {
    return this.run({ type: "lockRelease", name, token }, options).then((
      r,
    ) => ({
      released: true as const,
      revision: r.revision,
    }));
  }

  /**
   * Acquires a lock, waiting in the FIFO queue up to `wait` ms. While it
   * waits, a lease made for it is kept alive by this node only as long as
   * the request is open: a waiter never outlives its client. A wait that
   * ends without a grant removes the waiter (and releases the lock if the
   * grant raced the cancel) and answers `lock_held`.
   */
  async acquire(name: string, options: AcquireOptions): Promise<Granted> {
    const base = {
      type: "lockAcquire" as const,
      name,
      owner: options.owner,
      ttl: options.lease === undefined ? options.ttl : undefined,
      lease: options.lease,
      lockDelay: options.lockDelay,
    };
    const as = { auth: options.auth };
    if (options.wait <= 0) {
      const r = await this.run({ ...base, tryOnly: true }, as);
      if ("queued" in r) throw new Error("A try-lock was queued");
      return { name: r.name, token: r.token, lease: r.lease, owner: r.owner };
    }
    const waiterId = crypto.randomUUID();
    let granted: LockGrant | undefined;
    let wake: (() => void) | undefined;
    this.#grantWaiters.set(waiterId, (g) => {
      granted = g;
      wake?.();
    });
    let keepalive: ReturnType<typeof setInterval> | undefined;
    try {
      const r = await this.run({ ...base, waiterId }, as);
      if (!("queued" in r)) {
        return { name: r.name, token: r.token, lease: r.lease, owner: r.owner };
      }
      if (!granted) {
        if (options.ttl !== undefined && options.lease === undefined) {
          // Keep the waiter's own lease alive while the request is open.
          const every = Math.max(200, (options.ttl * 1000) / 3);
          keepalive = setInterval(() => {
            this.#proposeQuiet({ type: "leaseKeepalive", id: r.lease });
          }, every);
        }
        await new Promise<void>((resolve) => {
          const finish = () => {
            clearTimeout(timer);
            options.signal?.removeEventListener("abort", finish);
            resolve();
          };
          const timer = setTimeout(finish, options.wait);
          options.signal?.addEventListener("abort", finish, { once: true });
          if (options.signal?.aborted || this.#closing) finish();
          wake = finish;
          this.#waits.add(finish);
        });
        if (wake) this.#waits.delete(wake);
      }
      if (!granted && this.#closing) {
        // The node is stopping: the waiter's lease (no longer kept alive)
        // expires and takes the waiter with it.
        throw new UnavailableError(
          "The node is shutting down; retry the lock on another node",
        );
      }
      if (granted) {
        return {
          name: granted.name,
          token: granted.token,
          lease: granted.lease,
          owner: granted.owner,
        };
      }
      // Not granted in time: leave the queue. If the grant raced the cancel,
      // the cancel releases it, since our client never saw the token.
      await this.run({ type: "lockCancel", name, waiterId }).catch(() =>
        undefined
      );
      const info = this.#state.lock(name);
      throw new ServiceError(
        "lock_held",
        options.signal?.aborted
          ? `Lock ${name} was not granted before the request ended`
          : `Lock ${name} is held; it was not granted within ${options.wait} ms`,
        { holder: info.holder },
      );
    } finally {
      clearInterval(keepalive);
      this.#grantWaiters.delete(waiterId);
    }
  }

  // ------------------------------------------------------------------- reads

  /** Waits for a linearizable read point unless the read is serializable. */
  async barrier(
    consistency: Consistency = "linearizable",
    timeoutMs?: number,
  ): Promise<void> {
    if (consistency === "linearizable") await this.#node.read({ timeoutMs });
  }

  /** Waits for the read point, then runs the read's permission check. */
  async #readPoint(options: ReadOptions = {}): Promise<void> {
    await this.barrier(options.consistency);
    options.authorize?.();
  }

  /** Reads one key. */
  async get(key: string, options?: ReadOptions): Promise<KeyValue | null> {
    await this.#readPoint(options);
    return this.#state.get(key);
  }

  /** Lists keys by prefix. */
  async range(
    query: RangeQuery,
    options?: ReadOptions,
  ): Promise<RangeResult> {
    await this.#readPoint(options);
    return this.#state.range(query);
  }

  /** A lease's details, with the time left by the leader's clock. */
  async lease(id: number, options?: ReadOptions): Promise<LeaseView | null> {
    await this.#readPoint(options);
    const l = this.#state.lease(id);
    if (!l) return null;
    const ms = this.#clock.active
      ? this.#clock.remaining(id, performance.now())
      : undefined;
    return {
      ...l,
      remaining: ms === undefined
        ? null
        : Math.max(0, Math.round(ms / 100) / 10),
    };
  }

  /**
   * Milliseconds lease `id` has left by the leader's clock, or `undefined`
   * when this node's clock does not track it (not the leader). No barrier:
   * for a backup, which has taken one.
   */
  leaseRemainingMs(id: number): number | undefined {
    return this.#clock.active
      ? this.#clock.remaining(id, performance.now())
      : undefined;
  }

  /** All leases. */
  async leases(options?: ReadOptions): Promise<LeaseSummary[]> {
    await this.#readPoint(options);
    return this.#state.leases();
  }

  /** A lock's holder and waiters. */
  async lock(name: string, options?: ReadOptions): Promise<LockInfo> {
    await this.#readPoint(options);
    return this.#state.lock(name);
  }

  /** All locks. */
  async locks(options?: ReadOptions): Promise<LockInfo[]> {
    await this.#readPoint(options);
    return this.#state.locks();
  }

  /** True when `token` still holds lock `name`. */
  async checkToken(
    name: string,
    token: number,
    options?: ReadOptions,
  ): Promise<boolean> {
    await this.#readPoint(options);
    return this.#state.checkToken(name, token);
  }

  // -------------------------------------------------------------------- auth

  /**
   * Creates or changes a user. `hash` is the new password's hash (made on
   * this node: the password itself never enters the log); absent keeps the
   * password. `roles` replaces the user's roles; absent keeps them.
   */
  putUser(
    name: string,
    change: { hash?: PasswordHash; roles?: string[] },
    options?: WriteOptions,
  ): Promise<{ authRevision: number }> {
    return this.#auth({ type: "authUserPut", name, ...change }, options);
  }

  /** Deletes a user. */
  deleteUser(
    name: string,
    options?: WriteOptions,
  ): Promise<{ authRevision: number }> {
    return this.#auth({ type: "authUserDelete", name }, options);
  }

  /** Grants a user a role (`grant`) or revokes it. */
  userRole(
    name: string,
    role: string,
    grant: boolean,
    options?: WriteOptions,
  ): Promise<{ authRevision: number }> {
    return this.#auth({
      type: grant ? "authUserGrant" : "authUserRevoke",
      name,
      role,
    }, options);
  }

  /** Creates or replaces a role. */
  putRole(
    name: string,
    permissions: Permission[],
    options?: WriteOptions,
  ): Promise<{ authRevision: number }> {
    return this.#auth({ type: "authRolePut", name, permissions }, options);
  }

  /** Deletes a role (and takes it from every user). */
  deleteRole(
    name: string,
    options?: WriteOptions,
  ): Promise<{ authRevision: number }> {
    return this.#auth({ type: "authRoleDelete", name }, options);
  }

  /** Installs a new token signing key (the current one becomes the previous). */
  setSigningKey(
    key: SigningKey,
    options?: WriteOptions,
  ): Promise<{ authRevision: number }> {
    return this.#auth({ type: "authSigningKey", ...key }, options);
  }

  /**
   * Turns auth on or off. Turning it on needs user root with role root and
   * a signing key (see {@linkcode setSigningKey}).
   */
  setAuthEnabled(
    enabled: boolean,
    options?: WriteOptions,
  ): Promise<{ authRevision: number }> {
    return this.#auth({
      type: enabled ? "authEnable" : "authDisable",
    }, options);
  }

  /** Every user (without hashes), by name. */
  async users(options?: ReadOptions): Promise<UserInfo[]> {
    await this.#readPoint(options);
    return this.#state.auth.users().map((u) => ({
      name: u.name,
      roles: u.roles,
    }));
  }

  /** A user (without its hash), or null. */
  async user(name: string, options?: ReadOptions): Promise<UserInfo | null> {
    await this.#readPoint(options);
    const u = this.#state.auth.user(name);
    return u ? { name: u.name, roles: u.roles } : null;
  }

  /** Every stored role, by name (`root` is built in and not listed). */
  async roles(options?: ReadOptions): Promise<RoleRecord[]> {
    await this.#readPoint(options);
    return this.#state.auth.roles();
  }

  /** A role, or null. */
  async role(name: string, options?: ReadOptions): Promise<RoleRecord | null> {
    await this.#readPoint(options);
    return this.#state.auth.role(name) ?? null;
  }

  #auth(
    cmd: Command,
    options?: WriteOptions,
  ): Promise<{ authRevision: number }> {
    return this.run(cmd, options).then((r) => ({
      authRevision: (r as { authRevision: number }).authRevision,
    }));
  }

  // ----------------------------------------------------------------- watches

  /**
   * Watches keys after `afterRevision`: a {@linkcode WatchFeed} that hands
   * out the retained events, a slice per `take`, then every new one
   * through a bounded queue, each exactly once and in revision order. It
   * ends with `compacted` when the history no longer reaches back to
   * where it is, or `lagging` when its queue goes past its bounds; close
   * it when done.
   */
  watch(
    filter: WatchFilter,
    afterRevision: number,
    options: WatchFeedOptions = {},
  ): WatchFeed {
    const feed: WatchFeed = new WatchFeed(this.#state, filter, afterRevision, {
      ...options,
      onEnd: () => {
        this.#watchers.delete(feed);
        options.onEnd?.();
      },
    });
    // A restored snapshot replaced the history: live feeds read it again.
    this.#watchers.add(feed);
    if (this.#closing) feed.close();
    return feed;
  }

  /** Live watches, for metrics. */
  get watchers(): number {
    return this.#watchers.size;
  }
}
