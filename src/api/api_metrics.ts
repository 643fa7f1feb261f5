/**
 * The metrics a node exposes at `GET /metrics`: Raft (term, indexes, leader
 * changes, proposals, WAL persist latency), the event loop's delay, HTTP
 * latency by route, the service's keys, leases, locks and watchers (with
 * their send queues and overflows), its limits (lock waiters, the space
 * quota and its alarm, the duplicate-request table), and client auth.
 *
 * @module
 */

import type { Authenticator } from "../auth/mod.ts";
import type { RaftNode } from "../node/node.ts";
import type { LockService } from "../service/service.ts";
import {
  Counter,
  Gauge,
  Histogram,
  ProcessMemory,
  Registry,
} from "./metrics.ts";

/** A gauge that the code moves up and down. */
export class UpDown {
  /** The current value. */
  value = 0;
  /** Adds one. */
  inc(): void {
    this.value++;
  }
  /** Removes one. */
  dec(): void {
    this.value--;
  }
  /** Adds `n` (negative to remove). */
  add(n: number): void {
    this.value += n;
  }
}

/**
 * Buckets of `raftlock_event_loop_delay_seconds`: 1 ms to 1 s. Past the
 * election timeout (150 ms by default) a leader's followers stop hearing
 * from it.
 */
export const EVENT_LOOP_DELAY_BUCKETS: readonly number[] = [
  0.001,
  0.002,
  0.005,
  0.01,
  0.02,
  0.05,
  0.1,
  0.15,
  0.2,
  0.3,
  0.5,
  1,
];

/** The node's metrics. */
export interface ApiMetrics {
  /** Everything, for rendering. */
  registry: Registry;
  /** HTTP request latency by route, method and status. */
  http: Histogram;
  /** Time to make one Ready durable (write + sync). */
  persist: Histogram;
  /** Leader changes seen by this node. */
  leaderChanges: Counter;
  /** How late each Raft tick came (the event loop's delay). */
  eventLoopDelay: Histogram;
  /** Locks granted through this node. */
  lockGrants: Counter;
  /** Open watch streams. */
  watchers: UpDown;
  /** Bytes of events queued for watchers and not yet handed to their streams. */
  watchQueueBytes: UpDown;
  /** Watchers closed with a `lagging` event because their queue filled. */
  watchOverflows: Counter;
  /** Watches refused (429) because the node had `--max-watchers` open. */
  watchRefused: Counter;
}

/** Creates the metrics; call {@linkcode bindNodeMetrics} once the node and service exist. */
export function createMetrics(): ApiMetrics {
  const registry = new Registry();
  return {
    registry,
    http: registry.add(
      new Histogram(
        "raftlock_http_request_duration_seconds",
        "HTTP request latency",
      ),
    ),
    persist: registry.add(
      new Histogram(
        "raftlock_wal_persist_duration_seconds",
        "Time to write and sync one batch to the WAL",
      ),
    ),
    leaderChanges: registry.add(
      new Counter(
        "raftlock_leader_changes_total",
        "Leaders seen by this node: each new leader or new term of a leader, the first one included",
      ),
    ),
    eventLoopDelay: registry.add(
      new Histogram(
        "raftlock_event_loop_delay_seconds",
        "How late each Raft tick ran: the event loop's delay, sampled every tick",
        EVENT_LOOP_DELAY_BUCKETS,
      ),
    ),
    lockGrants: registry.add(
      new Counter(
        "raftlock_lock_grants_total",
        "Locks granted through this node",
      ),
    ),
    watchers: new UpDown(),
    watchQueueBytes: new UpDown(),
    watchOverflows: registry.add(
      new Counter(
        "raftlock_watch_overflows_total",
        "Watchers closed with a lagging event because their send queue filled",
      ),
    ),
    watchRefused: registry.add(
      new Counter(
        "raftlock_watch_refused_total",
        "Watches refused with 429 because the node had --max-watchers open",
      ),
    ),
  };
}

/** Adds the gauges of client auth: the switch, logins, password checks. */
export function bindAuthMetrics(m: ApiMetrics, authn: Authenticator): void {
  const r = m.registry;
  r.add(
    new Gauge(
      "raftlock_auth_enabled",
      "1 if requests need a token",
      () => (authn.enabled ? 1 : 0),
    ),
  );
  r.add(
    new Gauge(
      "raftlock_auth_tokens_issued_total",
      "Tokens issued by this node",
      () => authn.counters.issued,
    ),
  );
  r.add(
    new Gauge(
      "raftlock_auth_logins_failed_total",
      "Logins refused for a wrong user name or password",
      () => authn.counters.failed,
    ),
  );
  r.add(
    new Gauge(
      "raftlock_auth_password_checks_active",
      "Password hashes running now",
      () => authn.limiter.active,
    ),
  );
  r.add(
    new Gauge(
      "raftlock_auth_password_checks_refused_total",
      "Password checks refused (429) because too many were running or queued",
      () => authn.limiter.refused,
    ),
  );
}

/** Adds the gauges that read the node and the service. */
export function bindNodeMetrics(
  m: ApiMetrics,
  node: RaftNode,
  service: LockService,
): void {
  const r = m.registry;
  r.add(new Gauge("raftlock_raft_term", "Current Raft term", () => node.term));
  r.add(
    new Gauge(
      "raftlock_raft_is_leader",
      "1 if this node is the leader",
      () => (node.isLeader ? 1 : 0),
    ),
  );
  r.add(
    new Gauge(
      "raftlock_raft_commit_index",
      "Commit index",
      () => node.status().commit,
    ),
  );
  r.add(
    new Gauge(
      "raftlock_raft_applied_index",
      "Applied index",
      () => node.applied,
    ),
  );
  r.add(
    new Gauge(
      "raftlock_proposals_total",
      "Proposals made by this node's service",
      () => service.counters.proposals,
    ),
  );
  r.add(
    new Gauge(
      "raftlock_proposal_errors_total",
      "Proposals that failed (no leader, timeout)",
      () => service.counters.proposalErrors,
    ),
  );
  r.add(
    new Gauge(
      "raftlock_revision",
      "Current revision of the key space",
      () => service.state.revision,
    ),
  );
  r.add(
    new Gauge(
      "raftlock_keys",
      "Keys stored",
      () => service.state.counts().keys,
    ),
  );
  r.add(
    new Gauge(
      "raftlock_leases",
      "Leases alive",
      () => service.state.counts().leases,
    ),
  );
  r.add(
    new Gauge(
      "raftlock_locks",
      "Locks known",
      () => service.state.counts().locks,
    ),
  );
  r.add(
    new Gauge(
      "raftlock_lock_waiters",
      "Queued lock waiters",
      () => service.state.counts().waiters,
    ),
  );
  r.add(
    new Gauge(
      "raftlock_watchers",
      "Open watch streams on this node",
      () => m.watchers.value,
    ),
  );
  bindLimitMetrics(r, service);
  r.add(
    new Gauge(
      "raftlock_watch_queue_bytes",
      "Bytes of events queued for this node's watchers, not yet handed to their streams",
      () => m.watchQueueBytes.value,
    ),
  );
  r.add(new ProcessMemory());
  // A leader change is a new leader, or the same one in a new term (it was
  // deposed and won again): an election either way. Role changes that
  // leave the leader as it was (a follower's candidacy that failed) are not.
  let seen = { leader: "", term: -1 };
  node.onRoleChange((_role, leader, term) => {
    if (leader === "" || (leader === seen.leader && term === seen.term)) {
      return;
    }
    seen = { leader, term };
    m.leaderChanges.inc();
  });
  node.onEventLoopDelay((s) => m.eventLoopDelay.observe(s));
}

// The limits: each one's setting, how full it is, and its refusals.
function bindLimitMetrics(r: Registry, service: LockService): void {
  const gauges: [string, string, () => number][] = [
    [
      "raftlock_lock_waits",
      "Lock acquires waiting on this node",
      () => service.waiting,
    ],
    [
      "raftlock_lock_waits_limit",
      "Lock acquires that may wait at once on this node (--max-lock-waiters)",
      () => service.limits.maxLockWaiters,
    ],
    [
      "raftlock_lock_waiters_per_lock_limit",
      "Waiters one lock may queue (--max-lock-waiters-per-lock)",
      () => service.limits.maxLockWaitersPerLock,
    ],
    [
      "raftlock_lock_waiters_refused_total",
      "Lock acquires refused with too_many_waiters",
      () => service.counters.waitersRefused,
    ],
    [
      "raftlock_waiter_keepalive_batches_total",
      "leaseKeepaliveMany commands this node proposed for its waiting acquires",
      () => service.counters.waiterKeepalives,
    ],
    [
      "raftlock_quota_bytes",
      "The state size past which the leader raises the space alarm (--quota-bytes)",
      () => service.limits.quotaBytes,
    ],
    [
      "raftlock_state_bytes",
      "The state's size as the space quota counts it",
      () => service.state.stateBytes(),
    ],
    [
      "raftlock_quota_alarm",
      "1 while a space alarm is on (quota passed or a node's disk full): writes that add data get 507",
      () => (service.state.alarmed ? 1 : 0),
    ],
    [
      "raftlock_disk_no_space",
      "1 while this node's disk is full",
      () => (service.noSpace ? 1 : 0),
    ],
    [
      "raftlock_quota_refused_total",
      "Writes refused with quota_exceeded through this node",
      () => service.counters.quotaRefused,
    ],
    [
      "raftlock_dedupe_entries",
      "Results kept to answer retried requests (X-Request-Id)",
      () => service.state.dedupeStats().entries,
    ],
    [
      "raftlock_dedupe_max_entries",
      "The most results kept; new request ids are refused (503) beyond it",
      () => service.state.dedupeStats().maxEntries,
    ],
    [
      "raftlock_dedupe_refused_total",
      "Requests refused (503) because the duplicate-request table was full",
      () => service.counters.dedupeRefused,
    ],
  ];
  for (const [name, help, read] of gauges) r.add(new Gauge(name, help, read));
}
