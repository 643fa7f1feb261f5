/**
 * The lock service's replicated state machine: config keys with one global
 * revision, watch history, leases, locks with fencing tokens, and the
 * duplicate-suppression table, all behind the node's `StateMachine`
 * interface (`apply`, `snapshot`, `restore`).
 *
 * Deterministic: `apply` reads no clock and no randomness, every iteration
 * that can show in a result, an event or a snapshot is in a defined order
 * (key order, id order, FIFO or log order), and all numbers are integers.
 * Time enters only through commands the leader proposes (`leaseExpire`,
 * `lockDelayEnd`, decided by its {@linkcode LeaseClock}; `time`, the
 * cluster time that ages the duplicate-suppression table).
 *
 * Space: the state keeps a deterministic count of its size
 * ({@linkcode ServiceStateMachine.stateBytes}). While an alarm is on
 * (`alarm` commands: the leader's quota check, or a node whose disk is
 * full), commands that add data are refused with `quota_exceeded`; reads,
 * deletes, lease keepalives and revokes, and lock releases go on.
 *
 * Revisions: every command that writes keys raises the revision once (all
 * its writes share it, as in etcd), and every lock grant raises it again,
 * so fencing tokens (the revision at the grant) strictly increase across
 * all grants of all locks.
 *
 * The snapshot format is in `snapshot.ts`; this file applies commands.
 *
 * @module
 */

import type {
  ElectionEvent,
  ListResult,
  LockGrant as ApiLockGrant,
} from "../wire/types.ts";
import { ByteWriter } from "../codec/byte_writer.ts";
import {
  type AlarmCommand,
  type AlarmKind,
  type Command,
  type Compare,
  decodeCommand,
  type DeleteCommand,
  type Fence,
  isInvalidCommand,
  type LeaseExpireCommand,
  type LockAcquireCommand,
  type LockCancelCommand,
  type LockDelayEndCommand,
  type LockReleaseCommand,
  type PutCommand,
  type TxnCommand,
  type TxnOp,
  validateCommand,
} from "./commands.ts";
import { isRecipeCommand, recipeAddsData } from "./recipe_commands.ts";
import type { ElectionDetail, ElectionInfo } from "./elections.ts";
import type { RecipeContext, RecipeGrant } from "./grant_queue.ts";
import { type RecipeCounts, RecipeTables } from "./recipes.ts";
import type { RwlockDetail } from "./rwlocks.ts";
import type { SemaphoreDetail } from "./semaphores.ts";
import { AuthTable, commandAccess } from "./auth.ts";
import { isAuthCommand } from "./auth_commands.ts";
import { DedupeTable } from "./dedupe.ts";
import {
  type EventsSince,
  History,
  type SinceLimit,
  type WatchEvent,
  type WatchFilter,
} from "./history.ts";
import { compareKeys, KvStore } from "./kv.ts";
import {
  type LeaseDetail,
  type LeaseRecord,
  type LeaseSummary,
  LeaseTable,
} from "./leases.ts";
import {
  type HolderRecord,
  type LockInfo,
  type LockRecord,
  LockTable,
  type PendingLockDelay,
  type WaiterRecord,
} from "./locks.ts";
import {
  type AcquireResult,
  type AlarmInfo,
  type AlarmResult,
  type CancelResult,
  type CommandResult,
  type DeleteResult,
  type Failure,
  failure,
  type KeyValue,
  type LeaseExpireResult,
  type LeaseKeepaliveManyResult,
  type LeaseResult,
  type LeaseRevokeResult,
  type LockDelayEndResult,
  type PutResult,
  type ReleaseResult,
  type ResultFor,
  type TimeResult,
  type TxnOpResult,
  type TxnResult,
} from "./results.ts";
import {
  decodeSnapshot,
  encodeSnapshot,
  encodeSnapshotInto,
  type StateTables,
} from "./snapshot.ts";

/** Where an applied command sits in the log (the node's `ApplyContext`). */
export interface ApplyContext {
  /** The entry's log index. */
  index: number;
  /** The entry's term. */
  term: number;
}

/**
 * Options of {@linkcode ServiceStateMachine}. They shape the replicated
 * state, so every node of a cluster must use the same values.
 */
export interface ServiceStateMachineOptions {
  /** Events kept in the watch history (default 10 000). */
  historySize?: number;
  /** Approximate bytes of keys and values kept in the history (default 64 MiB). */
  historyMaxBytes?: number;
  /**
   * How long, in cluster time, the first result of a request with a
   * request id is kept to answer its retries (default 10 minutes).
   */
  dedupeWindowMs?: number;
  /**
   * The most results kept for duplicate suppression (default 1 000 000);
   * beyond it a request with a new id is refused (`unavailable`).
   */
  dedupeMaxEntries?: number;
  /** Planted bugs, to show the simulator catches them. Never set otherwise. */
  testingKnobs?: StateTestingKnobs;
}

/** Bugs the state machine can plant (tests of the simulator and checker only). */
export interface StateTestingKnobs {
  /**
   * A semaphore grants one permit more than it has free (its free count
   * goes below zero): a permit leak the other way.
   */
  semaphoreExtraPermit?: boolean;
}

/** The default duplicate-suppression window: 10 minutes. */
export const DEFAULT_DEDUPE_WINDOW_MS = 10 * 60 * 1000;
/** The default bound of the duplicate-suppression table. */
export const DEFAULT_DEDUPE_MAX_ENTRIES = 1_000_000;

// Bytes a key, a lease, a lock, a holder or a waiter costs besides its
// strings, in the state's size count (the history counts 64 per event).
const RECORD_OVERHEAD = 64;

/**
 * A lock was granted (immediately at acquire, or to a queued waiter): the
 * API's grant with the waiter it went to.
 */
export interface LockGrant extends ApiLockGrant {
  /** The waiter id of the acquire, if it gave one. */
  waiterId: string | null;
}

/**
 * A change the leader's {@linkcode LeaseClock} tracks: lease deadlines and
 * pending lock-delays.
 */
export type LeaseChange =
  | {
    /** A lease was granted or kept alive: its TTL restarts. */
    type: "grant" | "keepalive";
    /** The lease id. */
    id: number;
    /** Its TTL in seconds. */
    ttl: number;
    /** The log index of this grant or keepalive. */
    keepaliveIndex: number;
  }
  | {
    /** A lease is gone (revoked, expired, or dropped with its lock). */
    type: "revoke" | "expire";
    /** The lease id. */
    id: number;
  }
  | {
    /** A lock-delay started. */
    type: "lockDelayStart";
    /** The lock's name. */
    name: string;
    /** How long, in ms. */
    delayMs: number;
    /** The revision that identifies the delay. */
    revision: number;
  }
  | {
    /** A lock-delay ended. */
    type: "lockDelayEnd";
    /** The lock's name. */
    name: string;
  };

/** Counts for metrics. */
export interface StateCounts {
  /** Keys stored. */
  keys: number;
  /** Leases alive. */
  leases: number;
  /** Locks held, waited for or delayed. */
  locks: number;
  /** Waiters queued across all locks. */
  waiters: number;
  /** Events in the watch history. */
  historyEvents: number;
  /** Results in the duplicate-suppression table. */
  dedupeEntries: number;
}

/**
 * The auth state as the service and the API read it: users, roles, the
 * switch and the signing keys (records must not be changed).
 */
export type AuthView = Readonly<
  Pick<
    AuthTable,
    | "enabled"
    | "revision"
    | "current"
    | "previous"
    | "user"
    | "role"
    | "users"
    | "roles"
    | "key"
    | "isRoot"
    | "permissions"
    | "allows"
  >
>;

/** A page of keys with the revision it was read at (the API's listing). */
export type RangeResult = ListResult;

/** Options of {@linkcode ServiceStateMachine.range}. */
export interface RangeQuery {
  /** Only keys starting with this (default "": all). */
  prefix?: string;
  /** At most this many keys (absent or 0: all). */
  limit?: number;
  /** Only keys after this one (paging). */
  startAfter?: string;
}

type Listener<T> = (value: T) => void;

interface Pending {
  events: WatchEvent[];
  grants: LockGrant[];
  leaseChanges: LeaseChange[];
  recipeGrants: RecipeGrant[];
  elections: ElectionEvent[];
}

function emptyPending(): Pending {
  return {
    events: [],
    grants: [],
    leaseChanges: [],
    recipeGrants: [],
    elections: [],
  };
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function compareWith(op: Compare["op"], d: number): boolean {
  switch (op) {
    case "==":
      return d === 0;
    case "!=":
      return d !== 0;
    case "<":
      return d < 0;
    case ">":
      return d > 0;
  }
}

function sign(a: number, b: number): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The replicated state machine of raftlock. Implements the node's
 * `StateMachine` interface (`apply`, `snapshot`, `restore`) and the
 * read-side queries the API serves after a read barrier.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeCommand, ServiceStateMachine } from "./mod.ts";
 *
 * const state = new ServiceStateMachine();
 * const cmd = encodeCommand({ type: "put", key: "app/mode", value: "on" });
 * assert.deepEqual(state.apply(cmd, { index: 1, term: 1 }), {
 *   ok: true,
 *   revision: 1,
 * });
 * assert.equal(state.get("app/mode")?.value, "on");
 *
 * const copy = new ServiceStateMachine(); // another node, from a snapshot
 * copy.restore(state.snapshot());
 * assert.equal(copy.get("app/mode")?.value, "on");
 * ```
 */
export class ServiceStateMachine {
  readonly #options: Required<Omit<ServiceStateMachineOptions, "testingKnobs">>;
  #revision = 0;
  #kv: KvStore = new KvStore();
  #history: History;
  #leases: LeaseTable = new LeaseTable();
  #locks: LockTable = new LockTable();
  #recipes: RecipeTables = new RecipeTables();
  #knobs: StateTestingKnobs = {};
  #dedupe: DedupeTable;
  #auth: AuthTable = new AuthTable();
  #pending: Pending = emptyPending();
  #index = 0;
  readonly #recipeContext: RecipeContext;
  #time = 0;
  #alarms: Map<string, AlarmInfo> = new Map();
  #kvBytes = 0;
  #authBytes: { revision: number; bytes: number } = { revision: -1, bytes: 0 };

  #eventListeners: Set<Listener<readonly WatchEvent[]>> = new Set();
  #grantListeners: Set<Listener<LockGrant>> = new Set();
  #recipeGrantListeners: Set<Listener<RecipeGrant>> = new Set();
  #electionListeners: Set<Listener<ElectionEvent>> = new Set();
  #leaseListeners: Set<Listener<readonly LeaseChange[]>> = new Set();
  #restoreListeners: Set<Listener<number>> = new Set();

  // Plants the testing knobs in tables made anew (at start, on restore).
  #plantKnobs(): void {
    this.#recipes.semaphores.testingExtraPermit =
      this.#knobs.semaphoreExtraPermit === true;
  }

  /** Creates an empty state (revision 0). */
  constructor(options: ServiceStateMachineOptions = {}) {
    this.#options = {
      historySize: options.historySize ?? 10_000,
      historyMaxBytes: options.historyMaxBytes ?? 64 * 1024 * 1024,
      dedupeWindowMs: options.dedupeWindowMs ?? DEFAULT_DEDUPE_WINDOW_MS,
      dedupeMaxEntries: options.dedupeMaxEntries ?? DEFAULT_DEDUPE_MAX_ENTRIES,
    };
    this.#history = this.#newHistory();
    this.#dedupe = this.#newDedupe();
    this.#knobs = options.testingKnobs ?? {};
    this.#plantKnobs();
    // What the recipe tables may do to the rest of the state while a
    // command applies (at log index #index). The lease table is replaced
    // by a restore, hence the getter.
    // deno-lint-ignore no-this-alias
    const machine = this;
    this.#recipeContext = {
      get leases() {
        return machine.#leases;
      },
      nextRevision: () => ++this.#revision,
      revision: () => this.#revision,
      grantLease: (ttl) => this.#grantLease(ttl, this.#index),
      dropLeaseIfIdle: (lease) => this.#dropLeaseIfIdle(lease),
      granted: (g) => this.#pending.recipeGrants.push(g),
      electionChanged: (e) => this.#pending.elections.push(e),
    };
  }

  // ---------------------------------------------------------------------
  // StateMachine

  /**
   * Applies one encoded command (see {@linkcode decodeCommand}). Never
   * throws: a malformed command answers `bad_request`. Listeners are called
   * synchronously before this returns.
   */
  apply(command: Uint8Array, context: ApplyContext): CommandResult {
    const cmd = decodeCommand(command);
    if (isInvalidCommand(cmd)) return { ok: false, error: cmd.error };
    return this.#run(cmd, context);
  }

  /**
   * Applies an in-memory command (validated as {@linkcode apply} would):
   * the same result `apply(encodeCommand(cmd), context)` gives.
   */
  applyCommand<C extends Command>(
    cmd: C,
    context: ApplyContext,
  ): ResultFor<C["type"]> {
    const valid = validateCommand(cmd);
    if (isInvalidCommand(valid)) {
      return { ok: false, error: valid.error } as ResultFor<C["type"]>;
    }
    return this.#run(valid, context) as ResultFor<C["type"]>;
  }

  /**
   * Encodes the whole state; equal states give byte-identical snapshots
   * (see {@linkcode encodeSnapshot}).
   */
  snapshot(): Uint8Array {
    return encodeSnapshot(this.#tables());
  }

  /**
   * The same state as {@linkcode snapshot}, captured now but encoded a
   * chunk of keys at a time, yielding to the event loop in between, so a
   * node with a large state keeps answering heartbeats while it snapshots.
   * The bytes differ from `snapshot()`'s (array headers), the decoded state
   * does not; `restore` reads both.
   */
  async snapshotAsync(chunkBytes = 256 * 1024): Promise<Uint8Array> {
    const out = new ByteWriter();
    await this.snapshotInto(out, chunkBytes);
    return await out.finish();
  }

  /**
   * {@linkcode snapshotAsync}, written at the end of `out`: a host that
   * frames the state (the node adds its member list) gets the whole
   * snapshot in one buffer, sized from an estimate up front, without
   * joining pieces. The state is captured before the first await.
   */
  snapshotInto(out: ByteWriter, chunkBytes = 256 * 1024): Promise<void> {
    return encodeSnapshotInto(out, this.#tables(), chunkBytes);
  }

  /**
   * Replaces the whole state with a snapshot's. Throws if `data` is not a
   * snapshot of this state machine (the state is then left unchanged).
   * Restore listeners are called afterwards.
   */
  restore(data: Uint8Array): void {
    const s = decodeSnapshot(data, {
      history: () => this.#newHistory(),
      dedupe: () => this.#newDedupe(),
    });
    this.#revision = s.revision;
    this.#kv = s.kv;
    this.#leases = s.leases;
    this.#locks = s.locks;
    this.#recipes = s.recipes;
    this.#plantKnobs();
    this.#history = s.history;
    this.#dedupe = s.dedupe;
    this.#auth = s.auth;
    this.#time = s.time;
    this.#alarms = new Map(s.alarms.map((a) => [alarmKey(a.kind, a.node), a]));
    this.#kvBytes = 0;
    for (const kv of this.#kv.entries()) this.#kvBytes += kvCost(kv);
    this.#authBytes = { revision: -1, bytes: 0 };
    for (const fn of this.#restoreListeners) {
      this.#call(fn, this.#revision);
    }
  }

  // ---------------------------------------------------------------------
  // Listeners

  /**
   * Calls `fn` synchronously after each apply that produced key events,
   * with those events (in revision order). Returns an unsubscribe function.
   */
  onEvents(fn: (events: readonly WatchEvent[]) => void): () => void {
    this.#eventListeners.add(fn);
    return () => this.#eventListeners.delete(fn);
  }

  /**
   * Calls `fn` synchronously after an apply for every lock grant it made
   * (immediate grants and grants to queued waiters, in grant order).
   * Returns an unsubscribe function.
   */
  onLockGranted(fn: (grant: LockGrant) => void): () => void {
    this.#grantListeners.add(fn);
    return () => this.#grantListeners.delete(fn);
  }

  /**
   * Calls `fn` synchronously after an apply for every election,
   * semaphore and read-write lock grant it made (immediate grants and
   * grants to queued waiters, in grant order). Returns an unsubscribe
   * function.
   */
  onRecipeGranted(fn: (grant: RecipeGrant) => void): () => void {
    this.#recipeGrantListeners.add(fn);
    return () => this.#recipeGrantListeners.delete(fn);
  }

  /**
   * Calls `fn` synchronously after an apply for every change of an
   * election's leader it made (a new leader, a proclaim, nobody leading
   * any more), in revision order. Returns an unsubscribe function.
   */
  onElectionChange(fn: (event: ElectionEvent) => void): () => void {
    this.#electionListeners.add(fn);
    return () => this.#electionListeners.delete(fn);
  }

  /**
   * Calls `fn` synchronously after each apply that changed leases or
   * lock-delays; feed them to the leader's {@linkcode LeaseClock}.
   * Returns an unsubscribe function.
   */
  onLeaseChanges(fn: (changes: readonly LeaseChange[]) => void): () => void {
    this.#leaseListeners.add(fn);
    return () => this.#leaseListeners.delete(fn);
  }

  /**
   * Calls `fn` after a snapshot was restored (with the new revision): live
   * watchers may have missed events and should resume from the history.
   * Returns an unsubscribe function.
   */
  onRestore(fn: (revision: number) => void): () => void {
    this.#restoreListeners.add(fn);
    return () => this.#restoreListeners.delete(fn);
  }

  // ---------------------------------------------------------------------
  // Queries

  /** The current global revision. */
  get revision(): number {
    return this.#revision;
  }

  /** The oldest revision whose events the history still holds. */
  get compactRevision(): number {
    return this.#history.compactRevision;
  }

  /** The watch history's share of {@linkcode stateBytes}. */
  get historyBytes(): number {
    return this.#history.bytes;
  }

  /** The key's record, or null. Records are frozen. */
  get(key: string): KeyValue | null {
    return this.#kv.get(key) ?? null;
  }

  /** A page of keys under a prefix, in key order. */
  range(query: RangeQuery = {}): RangeResult {
    const page = this.#kv.range(query);
    return { kvs: page.kvs, more: page.more, revision: this.#revision };
  }

  /**
   * The key events with revision > `revision` that pass `filter`, oldest
   * first, or `{compacted: true, compactRevision}` when the history no
   * longer reaches back that far; with `limit`, a slice at a time (see
   * {@linkcode History.since}).
   */
  eventsSince(
    revision: number,
    filter?: WatchFilter,
    limit?: SinceLimit,
  ): EventsSince {
    return this.#history.since(revision, filter, limit);
  }

  /** The lease in detail, or null. */
  lease(id: number): LeaseDetail | null {
    const rec = this.#leases.get(id);
    return rec ? LeaseTable.detail(rec) : null;
  }

  /** Every lease, by ascending id. */
  leases(): LeaseSummary[] {
    return [...this.#leases.values()].map(LeaseTable.summary);
  }

  /** The lock (a lock nobody holds or waits for shows no holder, no waiters). */
  lock(name: string): LockInfo {
    const rec = this.#locks.get(name);
    return rec
      ? LockTable.info(rec)
      : { name, holder: null, waiters: [], lockDelay: null };
  }

  /** Every lock that is held, waited for or delayed, by name. */
  locks(): LockInfo[] {
    return this.#locks.sorted().map(LockTable.info);
  }

  /** Whether `token` is the current holder's fencing token of lock `name`. */
  checkToken(name: string, token: number): boolean {
    const h = this.#locks.get(name)?.holder;
    return h !== null && h !== undefined && h.token === token;
  }

  /**
   * Whether a fence holds: its token is the live grant it names (the
   * holder of a lock, the leader of an election, a holder of a semaphore
   * or of a read-write lock).
   */
  fenceHolds(fence: Fence): boolean {
    if ("lock" in fence) return this.checkToken(fence.lock, fence.token);
    if ("election" in fence) {
      return this.#recipes.holds("election", fence.election, fence.token);
    }
    if ("semaphore" in fence) {
      return this.#recipes.holds("semaphore", fence.semaphore, fence.token);
    }
    return this.#recipes.holds("rwlock", fence.rwlock, fence.token);
  }

  /** The election's leader and candidates (none when nobody leads). */
  election(name: string): ElectionDetail {
    return this.#recipes.elections.detail(name);
  }

  /** Every election that has a leader, by name. */
  elections(): ElectionInfo[] {
    return this.#recipes.elections.list();
  }

  /** The semaphore's holders and waiters (limit 0 when it does not exist). */
  semaphore(name: string): SemaphoreDetail {
    return this.#recipes.semaphores.detail(name);
  }

  /** Every semaphore that is held or waited for, by name. */
  semaphores(): SemaphoreDetail[] {
    return this.#recipes.semaphores.list();
  }

  /** The read-write lock's holders and waiters. */
  rwlock(name: string): RwlockDetail {
    return this.#recipes.rwlocks.detail(name);
  }

  /** Every read-write lock that is held or waited for, by name. */
  rwlocks(): RwlockDetail[] {
    return this.#recipes.rwlocks.list();
  }

  /**
   * Problems with the bookkeeping of elections, semaphores and read-write
   * locks (empty: none): at most one leader per election, `held + free ==
   * limit` for every semaphore, never a writer beside another holder, no
   * waiter at the head of a queue that fits, unique tokens, and every
   * entry's lease alive and listing it. For tests and the simulator.
   */
  invariantViolations(): string[] {
    return this.#recipes.violations(this.#leases, this.#revision);
  }

  /** Lock-delays waiting for the leader's `lockDelayEnd`, by name. */
  pendingLockDelays(): PendingLockDelay[] {
    const out: PendingLockDelay[] = [];
    for (const l of this.#locks.sorted()) {
      if (l.delay) {
        out.push({
          name: l.name,
          delayMs: l.delay.delayMs,
          revision: l.delay.revision,
        });
      }
    }
    return out;
  }

  /** Users, roles, whether auth is on, and the token signing keys. */
  get auth(): AuthView {
    return this.#auth;
  }

  /** Counts for metrics. */
  counts(): StateCounts {
    return {
      keys: this.#kv.size,
      leases: this.#leases.size,
      locks: this.#locks.size,
      waiters: this.#locks.waiterCount(),
      historyEvents: this.#history.size,
      dedupeEntries: this.#dedupe.size,
    };
  }

  /**
   * Counts of elections, candidates, semaphores (with the permits held
   * and free across them), read-write locks and their waiters.
   */
  recipeCounts(): RecipeCounts {
    return this.#recipes.counts();
  }

  /**
   * The state's size in bytes, as the space quota counts it: keys and
   * values, the watch history, leases, locks and waiters, the
   * duplicate-suppression table and the auth tables, each string by its
   * length plus a fixed overhead per record. Deterministic: every node
   * counts the same for the same state.
   */
  stateBytes(): number {
    let locks = 0;
    for (const l of this.#locks.sorted()) {
      locks += RECORD_OVERHEAD + l.name.length;
      if (l.holder) {
        locks += RECORD_OVERHEAD + l.holder.owner.length +
          (l.holder.waiterId?.length ?? 0);
      }
      for (const w of l.waiters) {
        locks += RECORD_OVERHEAD + w.waiterId.length + w.owner.length;
      }
    }
    if (this.#authBytes.revision !== this.#auth.revision) {
      this.#authBytes = {
        revision: this.#auth.revision,
        bytes: authSize(this.#auth.toTuple()),
      };
    }
    return this.#kvBytes + this.#history.bytes +
      this.#leases.size * RECORD_OVERHEAD + locks + this.#dedupe.bytes +
      this.#authBytes.bytes;
  }

  /** The alarms that are on, by kind then node. */
  alarms(): AlarmInfo[] {
    return [...this.#alarms.values()].sort((a, b) =>
      compareKeys(alarmKey(a.kind, a.node), alarmKey(b.kind, b.node))
    ).map((a) => ({ ...a }));
  }

  /** The cluster time of the last `time` command applied, in ms. */
  get clusterTime(): number {
    return this.#time;
  }

  /**
   * The duplicate-suppression table: results kept, how many await their
   * stamp (the next `time` command), the oldest stamp, the bound and the
   * window.
   */
  dedupeStats(): {
    entries: number;
    fresh: number;
    oldestStamp: number | undefined;
    maxEntries: number;
    windowMs: number;
  } {
    return {
      entries: this.#dedupe.size,
      fresh: this.#dedupe.freshCount,
      oldestStamp: this.#dedupe.oldestStamp,
      maxEntries: this.#dedupe.maxEntries,
      windowMs: this.#dedupe.windowMs,
    };
  }

  /** Whether an alarm is on. */
  get alarmed(): boolean {
    return this.#alarms.size > 0;
  }

  /**
   * The `quota_exceeded` failure that a command adding data gets while an
   * alarm is on, saying which alarms are on.
   */
  alarmFailure(): Failure {
    const why = this.alarms().map((a) =>
      a.kind === "quota"
        ? `the state is over its space quota${a.detail ? ` (${a.detail})` : ""}`
        : `node ${a.node}'s disk is full${a.detail ? ` (${a.detail})` : ""}`
    ).join("; ");
    return failure(
      "quota_exceeded",
      `The cluster's space alarm is on: ${why}. Writes that add data are refused until space is freed; reads, deletes, lease revokes and lock releases still work`,
    );
  }

  /**
   * Whether `cmd` would add data to the state as it is now: what an
   * alarm refuses (a put that adds a key or grows its value, a lease
   * grant, a lock acquire; a transaction if either branch has such a put).
   * The service asks before proposing; apply decides again exactly.
   */
  addsData(cmd: Command): boolean {
    switch (cmd.type) {
      case "put":
        return this.#grows(cmd.key, cmd.value);
      case "txn":
        return this.#opsGrow(cmd.success) || this.#opsGrow(cmd.failure);
      case "leaseGrant":
      case "lockAcquire":
        return true;
      default:
        return isRecipeCommand(cmd) && recipeAddsData(cmd);
    }
  }

  // ---------------------------------------------------------------------
  // Apply

  #run(cmd: Command, context: ApplyContext): CommandResult {
    const rid = cmd.requestId;
    // Each user has its own request ids: nobody gets another user's
    // remembered result by reusing its id. (User names hold no '/'.)
    const client = rid && cmd.auth?.user
      ? `${cmd.auth.user}/${rid.client}`
      : rid?.client;
    if (rid) {
      const first = this.#dedupe.lookup(client!, rid.seq);
      if (first !== undefined) return first as CommandResult;
      if (this.#dedupe.full) {
        // Refused, not applied and not remembered: a retry with this id
        // applies once there is room, so nothing applies twice.
        return failure(
          "unavailable",
          `The duplicate-request table is full (${this.#dedupe.size} requests with a request id in the last ${
            Math.round(this.#dedupe.windowMs / 1000)
          } s); retry later with the same X-Request-Id`,
        );
      }
    }
    this.#pending = emptyPending();
    const index = Number.isSafeInteger(context?.index) ? context.index : 0;
    this.#index = index;
    let result: CommandResult;
    try {
      result = this.#execute(cmd, index);
    } catch (e) {
      // A bug, not bad input: still answer deterministically.
      result = failure("bad_request", `Command failed to apply: ${message(e)}`);
    }
    if (rid) this.#dedupe.remember(client!, rid.seq, result);
    this.#dispatch();
    return result;
  }

  #execute(cmd: Command, index: number): CommandResult {
    const denied = this.#authorize(cmd);
    if (denied) return denied;
    if (isAuthCommand(cmd)) return this.#auth.apply(cmd);
    const full = this.#spaceRefusal(cmd);
    if (full) return full;
    if (isRecipeCommand(cmd)) {
      return this.#recipes.apply(cmd, this.#recipeContext);
    }
    switch (cmd.type) {
      case "put":
        return this.#put(cmd, index);
      case "delete":
        return this.#delete(cmd);
      case "txn":
        return this.#txn(cmd);
      case "leaseGrant":
        return this.#leaseGrant(cmd.ttl, index);
      case "leaseKeepalive":
        return this.#leaseKeepalive(cmd.id, index);
      case "leaseKeepaliveMany":
        return this.#leaseKeepaliveMany(cmd.ids, index);
      case "time":
        return this.#advanceTime(cmd.now);
      case "alarm":
        return this.#alarm(cmd, index);
      case "compact": {
        const dropped = this.#history.compact(
          Math.min(cmd.revision, this.#revision),
        );
        return {
          ok: true,
          compactRevision: this.#history.compactRevision,
          dropped,
        };
      }
      case "leaseRevoke":
        return this.#leaseRevoke(cmd.id);
      case "leaseExpire":
        return this.#leaseExpire(cmd);
      case "lockAcquire":
        return this.#acquire(cmd, index);
      case "lockRelease":
        return this.#release(cmd);
      case "lockCancel":
        return this.#cancel(cmd);
      case "lockDelayEnd":
        return this.#lockDelayEnd(cmd);
    }
  }

  // With auth on, a client's command applies only if its user still
  // exists (with the token's epoch) and its roles allow the command now: a
  // node with stale roles, or one that had not yet seen auth turned on,
  // cannot let a write through. Commands the nodes make themselves (lease
  // expiry, a waiter's keepalive) carry no `auth` and are not checked.
  #authorize(cmd: Command): Failure | undefined {
    if (!this.#auth.enabled || !cmd.auth) return undefined;
    if (cmd.auth.user === undefined) {
      return failure(
        "unauthenticated",
        "Auth is on: the request needs a token (POST /v1/auth/token)",
      );
    }
    const user = this.#auth.user(cmd.auth.user);
    if (
      !user || (cmd.auth.epoch !== undefined && cmd.auth.epoch !== user.epoch)
    ) {
      return failure(
        "unauthenticated",
        `User ${cmd.auth.user} no longer exists or its password changed; get a new token`,
      );
    }
    const needs = commandAccess(cmd, (id) => {
      const rec = this.#leases.get(id);
      return rec && {
        keys: rec.keys,
        locks: [
          ...rec.locks,
          ...rec.waiting.keys(),
          // Elections, semaphores and read-write locks share the names.
          ...[...rec.recipes].map((r) => r.slice(r.indexOf(":") + 1)),
        ],
      };
    });
    if (this.#auth.allows(user, needs)) return undefined;
    return failure(
      "permission_denied",
      needs === "root"
        ? `User ${user.name} is not root`
        : `User ${user.name} may not ${cmd.type} here`,
    );
  }

  // --- space

  // While an alarm is on, a command that adds data is refused. (A txn is
  // judged in #txn, once its compares chose a branch.)
  #spaceRefusal(cmd: Command): Failure | undefined {
    if (this.#alarms.size === 0 || cmd.type === "txn") return undefined;
    return this.addsData(cmd) ? this.alarmFailure() : undefined;
  }

  // Whether writing `value` at `key` makes the state larger.
  #grows(key: string, value: string): boolean {
    const prev = this.#kv.get(key);
    return prev === undefined || value.length > prev.value.length;
  }

  #opsGrow(ops: readonly TxnOp[]): boolean {
    return ops.some((op) => op.type === "put" && this.#grows(op.key, op.value));
  }

  #advanceTime(now: number): TimeResult {
    // Cluster time never goes back, whatever a new leader proposes.
    if (now > this.#time) this.#time = now;
    const forgotten = this.#dedupe.advance(this.#time);
    return { ok: true, now: this.#time, forgotten };
  }

  #alarm(cmd: AlarmCommand, index: number): AlarmResult {
    const key = alarmKey(cmd.kind, cmd.node);
    if (cmd.action === "clear") {
      return { ok: true, changed: this.#alarms.delete(key) };
    }
    if (this.#alarms.has(key)) return { ok: true, changed: false };
    const a: AlarmInfo = {
      kind: cmd.kind,
      detail: cmd.detail ?? "",
      since: index,
    };
    if (cmd.node !== undefined) a.node = cmd.node;
    this.#alarms.set(key, a);
    return { ok: true, changed: true };
  }

  #dispatch(): void {
    const { events, grants, leaseChanges, recipeGrants, elections } =
      this.#pending;
    this.#pending = emptyPending();
    if (events.length > 0) {
      for (const fn of this.#eventListeners) this.#call(fn, events);
    }
    for (const g of grants) {
      for (const fn of this.#grantListeners) this.#call(fn, g);
    }
    for (const g of recipeGrants) {
      for (const fn of this.#recipeGrantListeners) this.#call(fn, g);
    }
    for (const e of elections) {
      for (const fn of this.#electionListeners) this.#call(fn, e);
    }
    if (leaseChanges.length > 0) {
      for (const fn of this.#leaseListeners) this.#call(fn, leaseChanges);
    }
  }

  #call<T>(fn: Listener<T>, value: T): void {
    try {
      fn(value);
    } catch (e) {
      // A listener is local to this node and must not break apply.
      console.error("raftlock state listener threw:", e);
    }
  }

  // --- keys

  #put(cmd: PutCommand, index: number): PutResult {
    const fenced = this.#checkFence(cmd.fence);
    if (fenced) return fenced;
    const cond = this.#checkConditions(
      cmd.key,
      cmd.ifModRevision,
      cmd.ifVersion,
    );
    if (cond) return cond;
    if (cmd.lease !== undefined && !this.#leases.get(cmd.lease)) {
      return failure("not_found", `Lease ${cmd.lease} not found`);
    }
    const lease = cmd.ttl === undefined
      ? cmd.lease
      : this.#keyLease(cmd.key, cmd.ttl, index);
    const rev = this.#revision + 1;
    this.#putKey(cmd.key, cmd.value, lease, rev);
    this.#revision = rev;
    return cmd.ttl === undefined
      ? { ok: true, revision: rev }
      : { ok: true, revision: rev, lease };
  }

  // The key's own lease for a put with `ttl`: the one an earlier such put
  // made, kept alive with the new TTL, or a new one.
  #keyLease(key: string, ttl: number, index: number): number {
    const id = this.#kv.get(key)?.lease;
    const own = id === undefined ? undefined : this.#leases.get(id);
    if (own && own.ownerKey === key) {
      own.ttl = ttl;
      own.keepaliveIndex = index;
      this.#pending.leaseChanges.push({
        type: "keepalive",
        id: own.id,
        ttl,
        keepaliveIndex: index,
      });
      return own.id;
    }
    const rec = this.#grantLease(ttl, index);
    rec.ownerKey = key;
    return rec.id;
  }

  #delete(cmd: DeleteCommand): DeleteResult {
    const fenced = this.#checkFence(cmd.fence);
    if (fenced) return fenced;
    let keys: string[];
    if (cmd.prefix) {
      keys = this.#kv.keysWithPrefix(cmd.key);
    } else {
      const cond = this.#checkConditions(
        cmd.key,
        cmd.ifModRevision,
        cmd.ifVersion,
      );
      if (cond) return cond;
      keys = this.#kv.get(cmd.key) ? [cmd.key] : [];
    }
    const deleted = this.#deleteKeys(keys);
    return { ok: true, deleted, revision: this.#revision };
  }

  #txn(cmd: TxnCommand): TxnResult {
    const fenced = this.#checkFence(cmd.fence);
    if (fenced) return fenced;
    const succeeded = cmd.compare.every((c) => this.#compare(c));
    const ops = succeeded ? cmd.success : cmd.failure;
    // Check everything that can fail before writing: a txn is atomic.
    if (this.#alarms.size > 0 && this.#opsGrow(ops)) {
      return this.alarmFailure();
    }
    for (const op of ops) {
      if (
        op.type === "put" && op.lease !== undefined &&
        !this.#leases.get(op.lease)
      ) {
        return failure("not_found", `Lease ${op.lease} not found`);
      }
    }
    const rev = this.#revision + 1;
    let wrote = false;
    const results: TxnOpResult[] = [];
    for (const op of ops) {
      switch (op.type) {
        case "put":
          this.#putKey(op.key, op.value, op.lease, rev);
          wrote = true;
          results.push({ type: "put", revision: rev });
          break;
        case "delete": {
          const keys = op.prefix
            ? this.#kv.keysWithPrefix(op.key)
            : this.#kv.get(op.key)
            ? [op.key]
            : [];
          for (const k of keys) this.#deleteKey(k, rev);
          if (keys.length > 0) wrote = true;
          results.push({ type: "delete", deleted: keys.length });
          break;
        }
        case "get": {
          if (op.prefix) {
            const page = this.#kv.range({ prefix: op.key, limit: op.limit });
            results.push({ type: "get", kvs: page.kvs, more: page.more });
          } else {
            const kv = this.#kv.get(op.key);
            results.push({ type: "get", kvs: kv ? [kv] : [], more: false });
          }
          break;
        }
      }
    }
    if (wrote) this.#revision = rev;
    return { ok: true, succeeded, results, revision: this.#revision };
  }

  #compare(c: Compare): boolean {
    const kv = this.#kv.get(c.key);
    if (c.target === "value") {
      if (!kv) return false;
      return compareWith(c.op, compareKeys(kv.value, c.value));
    }
    let actual = 0;
    if (kv) {
      actual = c.target === "lease" ? kv.lease ?? 0 : kv[c.target];
    }
    return compareWith(c.op, sign(actual, c.value));
  }

  #checkFence(fence: Fence | undefined): Failure | undefined {
    if (!fence || this.fenceHolds(fence)) return undefined;
    const [what, name] = "lock" in fence
      ? ["hold lock", fence.lock]
      : "election" in fence
      ? ["lead election", fence.election]
      : "semaphore" in fence
      ? ["hold semaphore", fence.semaphore]
      : ["hold read-write lock", fence.rwlock];
    return failure(
      "stale_token",
      `Token ${fence.token} does not ${what} '${name}'`,
    );
  }

  #checkConditions(
    key: string,
    ifModRevision: number | undefined,
    ifVersion: number | undefined,
  ): Failure | undefined {
    const kv = this.#kv.get(key);
    const modRevision = kv?.modRevision ?? 0;
    const version = kv?.version ?? 0;
    if (ifModRevision !== undefined && ifModRevision !== modRevision) {
      return failure(
        "conflict",
        ifModRevision === 0
          ? `Key '${key}' already exists`
          : `Key '${key}' has modRevision ${modRevision}, not ${ifModRevision}`,
        { current: kv ?? null },
      );
    }
    if (ifVersion !== undefined && ifVersion !== version) {
      return failure(
        "conflict",
        ifVersion === 0
          ? `Key '${key}' already exists`
          : `Key '${key}' has version ${version}, not ${ifVersion}`,
        { current: kv ?? null },
      );
    }
    return undefined;
  }

  // Writes a key at `rev` (the caller raises the revision to it).
  #putKey(key: string, value: string, lease: number | undefined, rev: number) {
    const prev = this.#kv.get(key);
    if (prev?.lease !== undefined && prev.lease !== lease) {
      this.#detachKey(key, prev.lease);
    }
    if (lease !== undefined) this.#leases.get(lease)!.keys.add(key);
    const createRevision = prev ? prev.createRevision : rev;
    const version = prev ? prev.version + 1 : 1;
    const kv: KeyValue = lease !== undefined
      ? { key, value, createRevision, modRevision: rev, version, lease }
      : { key, value, createRevision, modRevision: rev, version };
    if (prev) this.#kvBytes -= kvCost(prev);
    this.#kvBytes += kvCost(kv);
    this.#kv.set(kv);
    const e: WatchEvent = lease !== undefined
      ? {
        type: "put",
        key,
        value,
        modRevision: rev,
        revision: rev,
        createRevision,
        version,
        lease,
      }
      : {
        type: "put",
        key,
        value,
        modRevision: rev,
        revision: rev,
        createRevision,
        version,
      };
    this.#event(e);
  }

  // Deletes a key at `rev` (the caller raises the revision to it).
  #deleteKey(key: string, rev: number): void {
    const prev = this.#kv.delete(key);
    if (!prev) return;
    this.#kvBytes -= kvCost(prev);
    if (prev.lease !== undefined) this.#detachKey(key, prev.lease);
    this.#event({ type: "delete", key, modRevision: rev, revision: rev });
  }

  // Deletes existing keys under one new revision; returns how many.
  #deleteKeys(keys: readonly string[]): number {
    if (keys.length === 0) return 0;
    const rev = this.#revision + 1;
    for (const k of keys) this.#deleteKey(k, rev);
    this.#revision = rev;
    return keys.length;
  }

  // The key leaves its lease; the key's own lease (from a put with `ttl`)
  // goes with it when it keeps nothing else alive.
  #detachKey(key: string, id: number): void {
    const lease = this.#leases.get(id);
    if (!lease) return;
    lease.keys.delete(key);
    if (lease.ownerKey === key) this.#dropLeaseIfIdle(lease);
  }

  #event(e: WatchEvent): void {
    this.#history.append(e);
    this.#pending.events.push(e);
  }

  // --- leases

  #grantLease(ttl: number, index: number): LeaseRecord {
    const rec = this.#leases.grant(ttl, index);
    this.#pending.leaseChanges.push({
      type: "grant",
      id: rec.id,
      ttl,
      keepaliveIndex: index,
    });
    return rec;
  }

  #leaseGrant(ttl: number, index: number): LeaseResult {
    const rec = this.#grantLease(ttl, index);
    return { ok: true, id: rec.id, ttl: rec.ttl };
  }

  #leaseKeepalive(id: number, index: number): LeaseResult {
    const rec = this.#leases.get(id);
    if (!rec) return failure("not_found", `Lease ${id} not found`);
    rec.keepaliveIndex = index;
    this.#pending.leaseChanges.push({
      type: "keepalive",
      id,
      ttl: rec.ttl,
      keepaliveIndex: index,
    });
    return { ok: true, id, ttl: rec.ttl };
  }

  #leaseKeepaliveMany(
    ids: readonly number[],
    index: number,
  ): LeaseKeepaliveManyResult {
    let kept = 0;
    for (const id of ids) {
      const rec = this.#leases.get(id);
      if (!rec || rec.keepaliveIndex === index) continue;
      rec.keepaliveIndex = index;
      this.#pending.leaseChanges.push({
        type: "keepalive",
        id,
        ttl: rec.ttl,
        keepaliveIndex: index,
      });
      kept++;
    }
    return { ok: true, kept };
  }

  #leaseRevoke(id: number): LeaseRevokeResult {
    const rec = this.#leases.get(id);
    if (!rec) return failure("not_found", `Lease ${id} not found`);
    const deleted = this.#removeLease(rec, false);
    return { ok: true, id, revoked: true, deleted, revision: this.#revision };
  }

  #leaseExpire(cmd: LeaseExpireCommand): LeaseExpireResult {
    const rec = this.#leases.get(cmd.id);
    if (!rec) return failure("not_found", `Lease ${cmd.id} not found`);
    if (rec.keepaliveIndex !== cmd.keepaliveIndex) {
      // A keepalive was applied after the leader decided: the lease lives.
      return {
        ok: true,
        id: cmd.id,
        expired: false,
        deleted: 0,
        revision: this.#revision,
      };
    }
    const deleted = this.#removeLease(rec, true);
    return {
      ok: true,
      id: cmd.id,
      expired: true,
      deleted,
      revision: this.#revision,
    };
  }

  // Revokes or expires a lease: drops its waiters, deletes its keys (one
  // revision), releases its locks (each grant to a next waiter raises the
  // revision; on expiry a holder's lock-delay holds the lock back instead).
  #removeLease(rec: LeaseRecord, expired: boolean): number {
    for (const { name, waiterId } of LeaseTable.waiters(rec)) {
      const lock = this.#locks.get(name);
      if (!lock) continue;
      lock.waiters = lock.waiters.filter((w) => w.waiterId !== waiterId);
      this.#locks.dropIfIdle(lock);
    }
    rec.waiting.clear();
    // Gone from the table first, so deleting its keys does not drop it
    // again as a key's own idle lease.
    this.#leases.delete(rec.id);
    const deleted = this.#deleteKeys([...rec.keys].sort(compareKeys));
    this.#pending.leaseChanges.push({
      type: expired ? "expire" : "revoke",
      id: rec.id,
    });
    for (const name of [...rec.locks].sort(compareKeys)) {
      const lock = this.#locks.get(name);
      if (!lock?.holder) continue;
      const holder = lock.holder;
      lock.holder = null;
      if (expired && holder.lockDelay > 0) {
        lock.delay = { delayMs: holder.lockDelay, revision: this.#revision };
        this.#pending.leaseChanges.push({
          type: "lockDelayStart",
          name,
          delayMs: holder.lockDelay,
          revision: this.#revision,
        });
      } else {
        this.#grantNext(lock);
      }
    }
    rec.locks.clear();
    this.#recipes.removeLease(rec, this.#recipeContext);
    return deleted;
  }

  // --- locks

  #acquire(cmd: LockAcquireCommand, index: number): AcquireResult {
    let leaseRec: LeaseRecord | undefined;
    if (cmd.lease !== undefined) {
      leaseRec = this.#leases.get(cmd.lease);
      if (!leaseRec) {
        return failure("not_found", `Lease ${cmd.lease} not found`);
      }
    }
    const owner = cmd.owner ?? "";
    const lockDelay = cmd.lockDelay ?? 0;
    const existing = this.#locks.get(cmd.name);
    if (
      existing &&
      (existing.holder || existing.delay || existing.waiters.length > 0)
    ) {
      if (cmd.tryOnly) {
        return failure(
          "lock_held",
          existing.holder
            ? `Lock '${cmd.name}' is held`
            : `Lock '${cmd.name}' is in its lock-delay`,
          {
            holder: existing.holder ? LockTable.holder(existing.holder) : null,
          },
        );
      }
      const waiterId = cmd.waiterId!;
      if (existing.holder?.waiterId === waiterId) {
        return failure(
          "bad_request",
          `Waiter '${waiterId}' already holds lock '${cmd.name}'`,
        );
      }
      if (existing.waiters.some((w) => w.waiterId === waiterId)) {
        return failure(
          "bad_request",
          `Waiter '${waiterId}' is already queued for lock '${cmd.name}'`,
        );
      }
      if (
        cmd.maxWaiters !== undefined &&
        existing.waiters.length >= cmd.maxWaiters
      ) {
        return failure(
          "too_many_waiters",
          `Lock '${cmd.name}' has ${existing.waiters.length} waiters queued, the most allowed; retry later`,
        );
      }
      const createdLease = leaseRec === undefined;
      leaseRec ??= this.#grantLease(cmd.ttl!, index);
      const w: WaiterRecord = {
        waiterId,
        lease: leaseRec.id,
        owner,
        lockDelay,
        createdLease,
      };
      existing.waiters.push(w);
      LeaseTable.addWaiter(leaseRec, cmd.name, waiterId);
      return {
        ok: true,
        queued: true,
        name: cmd.name,
        position: existing.waiters.length,
        lease: leaseRec.id,
        waiterId,
      };
    }
    const createdLease = leaseRec === undefined;
    leaseRec ??= this.#grantLease(cmd.ttl!, index);
    const lock = this.#locks.ensure(cmd.name);
    const h = this.#grant(
      lock,
      { lease: leaseRec.id, owner, lockDelay, createdLease },
      cmd.waiterId ?? null,
    );
    return {
      ok: true,
      name: cmd.name,
      token: h.token,
      lease: h.lease,
      owner: h.owner,
    };
  }

  #release(cmd: LockReleaseCommand): ReleaseResult {
    const lock = this.#locks.get(cmd.name);
    if (!lock?.holder || lock.holder.token !== cmd.token) {
      return failure(
        "stale_token",
        `Token ${cmd.token} does not hold lock '${cmd.name}'`,
      );
    }
    this.#releaseHolder(lock);
    this.#grantNext(lock);
    return { ok: true, released: true, revision: this.#revision };
  }

  #cancel(cmd: LockCancelCommand): CancelResult {
    const lock = this.#locks.get(cmd.name);
    if (lock) {
      const i = lock.waiters.findIndex((w) => w.waiterId === cmd.waiterId);
      if (i >= 0) {
        const [w] = lock.waiters.splice(i, 1);
        const lease = this.#leases.get(w.lease);
        if (lease) {
          LeaseTable.removeWaiter(lease, cmd.name, w.waiterId);
          if (w.createdLease) this.#dropLeaseIfIdle(lease);
        }
        this.#locks.dropIfIdle(lock);
        return {
          ok: true,
          cancelled: true,
          released: false,
          revision: this.#revision,
        };
      }
      if (lock.holder && lock.holder.waiterId === cmd.waiterId) {
        // Granted after its client gave up: nobody knows the token, so
        // release it rather than leave it held until the lease expires.
        this.#releaseHolder(lock);
        this.#grantNext(lock);
        return {
          ok: true,
          cancelled: true,
          released: true,
          revision: this.#revision,
        };
      }
    }
    return failure(
      "not_found",
      `Waiter '${cmd.waiterId}' is not queued for lock '${cmd.name}'`,
    );
  }

  #lockDelayEnd(cmd: LockDelayEndCommand): LockDelayEndResult {
    const lock = this.#locks.get(cmd.name);
    if (
      !lock?.delay ||
      (cmd.revision !== undefined && cmd.revision !== lock.delay.revision)
    ) {
      return { ok: true, ended: false, revision: this.#revision };
    }
    lock.delay = null;
    this.#pending.leaseChanges.push({ type: "lockDelayEnd", name: cmd.name });
    this.#grantNext(lock);
    return { ok: true, ended: true, revision: this.#revision };
  }

  // Grants `lock` (which must be free); raises the revision: the token.
  #grant(
    lock: LockRecord,
    w: Omit<WaiterRecord, "waiterId">,
    waiterId: string | null,
  ): HolderRecord {
    this.#revision += 1;
    const holder: HolderRecord = {
      token: this.#revision,
      lease: w.lease,
      owner: w.owner,
      waiterId,
      lockDelay: w.lockDelay,
      createdLease: w.createdLease,
    };
    lock.holder = holder;
    this.#leases.get(w.lease)?.locks.add(lock.name);
    this.#pending.grants.push({
      name: lock.name,
      waiterId,
      token: holder.token,
      lease: holder.lease,
      owner: holder.owner,
    });
    return holder;
  }

  // Grants a free, undelayed lock to its first waiter; forgets an idle lock.
  #grantNext(lock: LockRecord): void {
    while (!lock.holder && !lock.delay && lock.waiters.length > 0) {
      const w = lock.waiters.shift()!;
      const lease = this.#leases.get(w.lease);
      if (!lease) continue; // cannot happen: a lease takes its waiters along
      LeaseTable.removeWaiter(lease, lock.name, w.waiterId);
      this.#grant(lock, w, w.waiterId);
    }
    this.#locks.dropIfIdle(lock);
  }

  // Clears the holder; a lease the acquire created goes with it if idle.
  #releaseHolder(lock: LockRecord): void {
    const h = lock.holder!;
    lock.holder = null;
    const lease = this.#leases.get(h.lease);
    if (!lease) return;
    lease.locks.delete(lock.name);
    if (h.createdLease) this.#dropLeaseIfIdle(lease);
  }

  #dropLeaseIfIdle(lease: LeaseRecord): void {
    if (!LeaseTable.isIdle(lease)) return;
    this.#leases.delete(lease.id);
    this.#pending.leaseChanges.push({ type: "revoke", id: lease.id });
  }

  // ---------------------------------------------------------------------
  // Snapshot and restore

  #tables(): StateTables {
    return {
      revision: this.#revision,
      kv: this.#kv,
      history: this.#history,
      leases: this.#leases,
      locks: this.#locks,
      recipes: this.#recipes,
      dedupe: this.#dedupe,
      auth: this.#auth,
      time: this.#time,
      alarms: this.alarms(),
    };
  }

  #newHistory(): History {
    return new History(
      this.#options.historySize,
      this.#options.historyMaxBytes,
    );
  }

  #newDedupe(): DedupeTable {
    return new DedupeTable(
      this.#options.dedupeWindowMs,
      this.#options.dedupeMaxEntries,
    );
  }
}

function alarmKey(kind: AlarmKind, node: string | undefined): string {
  return node === undefined ? kind : `${kind}/${node}`;
}

function kvCost(kv: KeyValue): number {
  return RECORD_OVERHEAD + kv.key.length + kv.value.length;
}

// The auth tables' size: their snapshot tuple's strings and numbers.
function authSize(v: unknown): number {
  if (typeof v === "string") return v.length;
  if (Array.isArray(v)) {
    let n = 8;
    for (const x of v) n += authSize(x);
    return n;
  }
  if (v instanceof Uint8Array) return v.byteLength;
  if (v !== null && typeof v === "object") {
    let n = 8;
    for (const [k, x] of Object.entries(v)) n += k.length + authSize(x);
    return n;
  }
  return 8;
}

/** The lock service's state machine (an alias of {@linkcode ServiceStateMachine}). */
export { ServiceStateMachine as LockService };
