/**
 * The lock, lease and config service on one node: turns requests into
 * replicated commands, serves reads behind a ReadIndex barrier, holds lock
 * waiters while their request is open, runs live watches, and — while this
 * node leads — proposes lease expiries and lock-delay ends from its own
 * monotonic clock, the cluster time that ages the duplicate-request table,
 * and the space quota's alarm.
 *
 * Lock waiters keep their lease alive without a log entry each: on the
 * leader the lease clock holds the lease of every waiter whose request is
 * open here; a follower renews all of its open waiters' leases with one
 * `leaseKeepaliveMany` per interval (a third of the shortest TTL, at least
 * 200 ms). Either way a waiter goes when its node does: the hold dies with
 * the leader, the batches stop with the follower, and the lease expires.
 *
 * @module
 */

import type { RaftNode } from "../node/node.ts";
import {
  type Command,
  type CommandAuth,
  encodeCommand,
  type Fence,
  MAX_KEEPALIVE_BATCH,
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
import type { PutResult } from "../wire/types.ts";

/** The default of {@linkcode LockServiceOptions.maxLockWaiters}. */
export const DEFAULT_MAX_LOCK_WAITERS = 10_000;
/** The default of {@linkcode LockServiceOptions.maxLockWaitersPerLock}. */
export const DEFAULT_MAX_LOCK_WAITERS_PER_LOCK = 1_000;
/** The default of {@linkcode LockServiceOptions.quotaBytes}: 2 GiB, as etcd. */
export const DEFAULT_QUOTA_BYTES = 2 * 1024 * 1024 * 1024;
/** The quota alarm clears once the state is back under this share of the quota. */
export const QUOTA_CLEAR_RATIO = 0.95;

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
  /**
   * Lock acquires that may wait at once on this node (default 10 000);
   * more are refused with `too_many_waiters` (`raftd --max-lock-waiters`).
   */
  maxLockWaiters?: number;
  /**
   * Waiters one lock's queue may hold (default 1 000); more are refused
   * with `too_many_waiters` (`raftd --max-lock-waiters-per-lock`).
   */
  maxLockWaitersPerLock?: number;
  /**
   * The state's size (see `ServiceStateMachine.stateBytes`) past which
   * this node, when it leads, raises the cluster's quota alarm (default
   * 2 GiB; `raftd --quota-bytes`). It clears below 95 % of it.
   */
  quotaBytes?: number;
  /**
   * Whether this node's disk is full (its store is out of space): the
   * service raises the `nospace` alarm for this node while it is.
   */
  noSpace?: () => boolean;
  /**
   * How often, at most, the leader proposes the cluster time while the
   * duplicate-request table has results to stamp, in ms (default 1 000).
   */
  timeIntervalMs?: number;
  /** Planted bugs, for chaos runs only. */
  testingKnobs?: ServiceTestingKnobs;
}

/** Bugs the service can plant, to show the chaos run catches them. */
export interface ServiceTestingKnobs {
  /** The leader expires leases after half their TTL. */
  expireLeasesAtHalfTtl?: boolean;
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
 * An acquire that may queue (a lock's, an election's, a semaphore's or a
 * read-write lock's), for {@linkcode LockService.waitQueued}.
 */
export interface QueuedAcquire<G> {
  /** The waiter id the acquire command names. */
  waiterId: string;
  /** Proposes the acquire: granted at once, or queued with its lease. */
  enqueue(): Promise<{ granted: G } | { queued: { lease: number } }>;
  /**
   * The TTL (s) of the waiter's lease when the acquire made it: this node
   * keeps that lease alive while the request waits (absent: the caller's
   * own lease, which the caller keeps alive).
   */
  keepAliveTtl?: number;
  /** How long to wait in the queue, in ms. */
  wait: number;
  /** Aborts the wait (the client went away). */
  signal?: AbortSignal;
  /** The command that leaves the queue, or releases a grant that raced it. */
  cancel: Command;
  /** The error when the wait ends without a grant (`aborted`: the request ended). */
  notGranted(aborted: boolean): Error;
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
  // Waiting acquires by waiter id; a grant (of any kind) is handed over.
  readonly #grantWaiters = new Map<string, (grant: unknown) => void>();
  readonly #unsubscribe: (() => void)[] = [];
  readonly #clockTimer: ReturnType<typeof setInterval>;
  readonly #maxWaiters: number;
  readonly #maxWaitersPerLock: number;
  readonly #quotaBytes: number;
  readonly #noSpace: () => boolean;
  readonly #timeIntervalMs: number;
  #closing = false;
  // Acquires waiting on this node now (slots taken before they propose).
  #waiting = 0;
  // Leases of this node's open waits that it keeps alive: id → TTL (s).
  readonly #heldLeases = new Map<number, number>();
  #nextBatchAt = 0;
  // The cluster time last seen applied, and when (performance.now()).
  #timeSeen = { time: -1, at: 0 };
  #lastTimeProposal = -Infinity;
  #lastAlarmCheck = -Infinity;
  #lastCompact = -Infinity;
  readonly #alarmProposedAt = new Map<string, number>();
  // Wakes every acquire that is waiting in a lock queue.
  readonly #waits = new Set<() => void>();
  readonly #watchers = new Set<WatchFeed>();
  /** Requests served, by outcome, for metrics. */
  readonly counters: {
    proposals: number;
    proposalErrors: number;
    leaseExpiries: number;
    waitersRefused: number;
    quotaRefused: number;
    waiterKeepalives: number;
    dedupeRefused: number;
  } = {
    proposals: 0,
    proposalErrors: 0,
    leaseExpiries: 0,
    waitersRefused: 0,
    quotaRefused: 0,
    waiterKeepalives: 0,
    dedupeRefused: 0,
  };

  /** Wires the service to a node and its state machine. */
  constructor(options: LockServiceOptions) {
    this.#node = options.node;
    this.#state = options.state;
    this.#log = options.logger ?? nullLogger;
    this.#maxWaiters = options.maxLockWaiters ?? DEFAULT_MAX_LOCK_WAITERS;
    this.#maxWaitersPerLock = options.maxLockWaitersPerLock ??
      DEFAULT_MAX_LOCK_WAITERS_PER_LOCK;
    this.#quotaBytes = options.quotaBytes ?? DEFAULT_QUOTA_BYTES;
    this.#noSpace = options.noSpace ?? (() => false);
    this.#timeIntervalMs = options.timeIntervalMs ?? 1000;
    this.#timeSeen = { time: this.#state.clusterTime, at: performance.now() };
    if (options.testingKnobs?.expireLeasesAtHalfTtl) {
      this.#clock.plantExpireAtHalfTtl();
    }
    this.#unsubscribe.push(
      this.#state.onLockGranted((g) => {
        if (g.waiterId) this.#grantWaiters.get(g.waiterId)?.(g);
      }),
      this.#state.onRecipeGranted((g) => {
        if (g.waiterId) this.#grantWaiters.get(g.waiterId)?.(g.grant);
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
      () => this.#tick(),
      options.clockIntervalMs ?? 50,
    );
  }

  /** The limits this node applies. */
  get limits(): {
    maxLockWaiters: number;
    maxLockWaitersPerLock: number;
    quotaBytes: number;
  } {
    return {
      maxLockWaiters: this.#maxWaiters,
      maxLockWaitersPerLock: this.#maxWaitersPerLock,
      quotaBytes: this.#quotaBytes,
    };
  }

  /** Lock acquires waiting on this node now. */
  get waiting(): number {
    return this.#waiting;
  }

  /** Whether this node's disk is full now. */
  get noSpace(): boolean {
    return this.#noSpace();
  }

  /**
   * Checks the space alarms at once instead of at the next tick. The store
   * calls it when the disk fills: the alarm proposal must be queued before
   * the space its reserve freed is used up, or this node's writes block
   * with the alarm still unsent.
   */
  spaceChanged(): void {
    const now = performance.now();
    this.#lastAlarmCheck = now;
    this.#checkAlarms(now);
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
      // This node's open waits need no keepalives while it leads.
      for (const id of this.#heldLeases.keys()) this.#clock.hold(id);
      this.#log("service.leaseClock", {
        level: "info",
        leases: this.#clock.size,
        state: "started",
      });
    } else if (this.#clock.active) {
      this.#clock.onStepDown();
      // The new leader knows nothing of our holds: renew at once.
      this.#nextBatchAt = 0;
      this.#log("service.leaseClock", { level: "info", state: "stopped" });
    }
  }

  #tick(): void {
    const now = performance.now();
    const time = this.#state.clusterTime;
    if (time !== this.#timeSeen.time) this.#timeSeen = { time, at: now };
    this.#keepWaitersAlive(now);
    if (now - this.#lastAlarmCheck >= 250) {
      this.#lastAlarmCheck = now;
      this.#checkAlarms(now);
    }
    this.#driveClock(now);
  }

  // A follower (or a leader whose clock is not running) renews the leases
  // of its open waits, all in one command per interval.
  #keepWaitersAlive(now: number): void {
    if (this.#heldLeases.size === 0) return;
    if (this.#clock.active && this.#node.isLeader) return;
    if (now < this.#nextBatchAt) return;
    const ids = [...this.#heldLeases.keys()].sort((a, b) => a - b);
    for (let i = 0; i < ids.length; i += MAX_KEEPALIVE_BATCH) {
      this.counters.waiterKeepalives++;
      this.#proposeQuiet({
        type: "leaseKeepaliveMany",
        ids: ids.slice(i, i + MAX_KEEPALIVE_BATCH),
      });
    }
    this.#nextBatchAt = now + this.#batchIntervalMs();
  }

  #batchIntervalMs(): number {
    let ttl = Infinity;
    for (const t of this.#heldLeases.values()) ttl = Math.min(ttl, t);
    return Math.max(200, (ttl * 1000) / 3);
  }

  #holdWaiter(lease: number, ttl: number): void {
    this.#heldLeases.set(lease, ttl);
    if (this.#clock.active) this.#clock.hold(lease);
    // A short TTL among long ones: the next batch must come soon enough.
    this.#nextBatchAt = Math.min(
      this.#nextBatchAt,
      performance.now() + Math.max(200, (ttl * 1000) / 3),
    );
  }

  #releaseWaiter(lease: number): void {
    if (!this.#heldLeases.delete(lease)) return;
    this.#clock.release(lease, performance.now());
  }

  // Raises and clears the alarms this node is responsible for: its own
  // disk's (any node), the quota's and those of departed nodes (leader).
  #checkAlarms(now: number): void {
    const alarms = this.#state.alarms();
    const id = this.#node.id;
    const full = this.#noSpace();
    const mine = alarms.some((a) => a.kind === "nospace" && a.node === id);
    if (full && !mine) {
      this.#proposeAlarm(now, {
        action: "raise",
        kind: "nospace",
        node: id,
        detail: "no space left on the data directory's disk",
      });
    } else if (!full && mine) {
      this.#proposeAlarm(now, { action: "clear", kind: "nospace", node: id });
    }
    if (!this.#node.isLeader) return;
    // The watch history counts, but gives way first: when it is what
    // takes the state over the quota, the leader compacts it (watchers
    // resuming from before get "compacted"); the alarm is for the rest.
    const bytes = this.#state.stateBytes();
    const history = this.#state.historyBytes;
    const low = this.#quotaBytes * QUOTA_CLEAR_RATIO;
    const compact = history > 0 && bytes - history < low;
    if (alarms.some((a) => a.kind === "quota")) {
      if (bytes < low) {
        this.#proposeAlarm(now, { action: "clear", kind: "quota" });
      } else if (compact) this.#compactHistory(now);
    } else if (bytes > this.#quotaBytes) {
      if (compact) this.#compactHistory(now);
      else {
        this.#proposeAlarm(now, {
          action: "raise",
          kind: "quota",
          detail: `${bytes} bytes, quota ${this.#quotaBytes}`,
        });
      }
    }
    const members = new Set(this.#node.status().members.map((m) => m.id));
    for (const a of alarms) {
      if (a.kind === "nospace" && a.node && !members.has(a.node)) {
        this.#proposeAlarm(now, {
          action: "clear",
          kind: "nospace",
          node: a.node,
        });
      }
    }
  }

  #compactHistory(now: number): void {
    if (now - this.#lastCompact < 1000) return;
    this.#lastCompact = now;
    this.#log("service.historyCompact", {
      level: "info",
      revision: this.#state.revision,
      historyBytes: this.#state.historyBytes,
      stateBytes: this.#state.stateBytes(),
      quotaBytes: this.#quotaBytes,
    });
    this.#proposeQuiet({ type: "compact", revision: this.#state.revision });
  }

  #proposeAlarm(
    now: number,
    cmd: {
      action: "raise" | "clear";
      kind: "quota" | "nospace";
      node?: string;
      detail?: string;
    },
  ): void {
    const key = `${cmd.action}/${cmd.kind}/${cmd.node ?? ""}`;
    if (now - (this.#alarmProposedAt.get(key) ?? -Infinity) < 1000) return;
    this.#alarmProposedAt.set(key, now);
    this.#log("service.alarm", { level: "warn", ...cmd });
    this.#proposeQuiet({ type: "alarm", ...cmd });
  }

  #driveClock(now: number): void {
    if (!this.#clock.active || !this.#node.isLeader) return;
    this.#driveTime(now);
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

  // The leader stamps fresh duplicate-request results with the cluster
  // time, and ages old ones out, through `time` commands: the cluster time
  // last applied plus what this node's monotonic clock measured since it
  // saw it applied (an underestimate of the real time, so a result is
  // never forgotten early).
  #driveTime(now: number): void {
    if (now - this.#lastTimeProposal < this.#timeIntervalMs) return;
    const d = this.#state.dedupeStats();
    const clusterNow = Math.floor(
      Math.max(0, this.#timeSeen.time) + (now - this.#timeSeen.at),
    );
    const due = d.fresh > 0 ||
      (d.oldestStamp !== undefined && clusterNow - d.oldestStamp >= d.windowMs);
    if (!due) return;
    this.#lastTimeProposal = now;
    this.#proposeQuiet({ type: "time", now: clusterNow });
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
    this.#checkSpace(cmd);
    // Only a client's own request id is remembered: nobody retries the
    // others, and each would take room in the table for 10 minutes.
    const withId = {
      ...cmd,
      ...(options.requestId ? { requestId: options.requestId } : {}),
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
      if (code === "quota_exceeded") this.counters.quotaRefused++;
      if (code === "too_many_waiters") this.counters.waitersRefused++;
      if (code === "unavailable") this.counters.dedupeRefused++;
      throw new ServiceError(code, message, details);
    }
    return r as unknown as Extract<ResultFor<T["type"]>, { ok: true }>;
  }

  // A write that adds data is refused before it takes room in the log
  // while an alarm is on or this node's disk is full (apply decides again).
  #checkSpace(cmd: Command): void {
    const full = this.#noSpace();
    if (!full && !this.#state.alarmed) return;
    if (!this.#state.addsData(cmd)) return;
    this.counters.quotaRefused++;
    if (this.#state.alarmed) {
      throw new ServiceError(
        "quota_exceeded",
        this.#state.alarmFailure().error.message,
      );
    }
    throw new ServiceError(
      "quota_exceeded",
      `The disk of node ${this.#node.id} is full: writes that add data are refused until space is freed; reads, deletes, lease revokes and lock releases still work`,
    );
  }

  /**
   * Puts a key. With `ttl`, the same command gives the key its own lease
   * (made by the first such put, renewed with the new TTL by the next).
   */
  put(
    body: {
      key: string;
      value: string;
      lease?: number;
      ttl?: number;
      ifModRevision?: number;
      ifVersion?: number;
      fence?: Fence;
    },
    options?: WriteOptions,
  ): Promise<PutResult> {
    return this.run({ type: "put", ...body }, options).then((r) =>
      r.lease === undefined
        ? { revision: r.revision }
        : { revision: r.revision, lease: r.lease }
    );
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
    const queued = this.#state.lock(name).waiters.length;
    if (queued >= this.#maxWaitersPerLock) {
      this.counters.waitersRefused++;
      throw new ServiceError(
        "too_many_waiters",
        `Lock '${name}' has ${queued} waiters queued, the most allowed; retry later`,
      );
    }
    const waiterId = crypto.randomUUID();
    const g = await this.waitQueued<Granted>({
      waiterId,
      enqueue: async () => {
        const r = await this.run({
          ...base,
          waiterId,
          maxWaiters: this.#maxWaitersPerLock,
        }, as);
        return "queued" in r ? { queued: r } : { granted: r };
      },
      keepAliveTtl: options.lease === undefined ? options.ttl : undefined,
      wait: options.wait,
      signal: options.signal,
      cancel: { type: "lockCancel", name, waiterId },
      notGranted: (aborted) =>
        new ServiceError(
          "lock_held",
          aborted
            ? `Lock ${name} was not granted before the request ended`
            : `Lock ${name} is held; it was not granted within ${options.wait} ms`,
          { holder: this.#state.lock(name).holder },
        ),
    });
    return { name: g.name, token: g.token, lease: g.lease, owner: g.owner };
  }

  /**
   * Proposes an acquire that may queue and, if it queued, waits up to
   * `wait` ms for its grant. While it waits, a lease the acquire made is
   * kept alive by this node only as long as the request is open: a waiter
   * never outlives its client. A wait that ends without a grant proposes
   * `cancel` (which also releases a grant that raced it) and throws
   * `notGranted`. Locks, elections, semaphores and read-write locks all
   * wait here.
   */
  async waitQueued<G>(q: QueuedAcquire<G>): Promise<G> {
    if (this.#waiting >= this.#maxWaiters) {
      this.counters.waitersRefused++;
      throw new ServiceError(
        "too_many_waiters",
        `Node ${this.#node.id} has ${this.#waiting} acquires waiting, the most it allows; retry later or on another node`,
      );
    }
    let granted: G | undefined;
    let wake: (() => void) | undefined;
    this.#grantWaiters.set(q.waiterId, (g) => {
      granted = g as G;
      wake?.();
    });
    let held: number | undefined;
    this.#waiting++;
    try {
      const r = await q.enqueue();
      if ("granted" in r) return r.granted;
      if (!granted) {
        if (q.keepAliveTtl !== undefined) {
          // Keep the waiter's own lease alive while the request is open.
          held = r.queued.lease;
          this.#holdWaiter(held, q.keepAliveTtl);
        }
        await new Promise<void>((resolve) => {
          const finish = () => {
            clearTimeout(timer);
            q.signal?.removeEventListener("abort", finish);
            resolve();
          };
          const timer = setTimeout(finish, q.wait);
          q.signal?.addEventListener("abort", finish, { once: true });
          if (q.signal?.aborted || this.#closing) finish();
          wake = finish;
          this.#waits.add(finish);
        });
        if (wake) this.#waits.delete(wake);
      }
      if (granted) return granted;
      if (this.#closing) {
        // The node is stopping: the waiter's lease (no longer kept alive)
        // expires and takes the waiter with it.
        throw new UnavailableError(
          "The node is shutting down; retry on another node",
        );
      }
      // Not granted in time: leave the queue. If the grant raced the
      // cancel, the cancel releases it, since our client never saw it.
      await this.run(q.cancel).catch(() => undefined);
      throw q.notGranted(q.signal?.aborted ?? false);
    } finally {
      this.#waiting--;
      if (held !== undefined) this.#releaseWaiter(held);
      this.#grantWaiters.delete(q.waiterId);
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
