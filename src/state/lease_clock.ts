/**
 * Lease expiry on the leader. Not replicated: the leader tracks each
 * lease's deadline with its own monotonic clock (`now`, in ms, is always
 * passed in) and proposes `leaseExpire {id, keepaliveIndex}` for leases
 * past it; apply ignores the proposal if a later keepalive was applied.
 * It tracks pending lock-delays the same way, for `lockDelayEnd`.
 *
 * Use: on winning an election call {@linkcode LeaseClock.onBecomeLeader}
 * with the state's leases (every lease gets a full TTL plus `extendMs`, so
 * failover never expires a live lease early); feed every apply's lease
 * changes (`ServiceStateMachine.onLeaseChanges`) to
 * {@linkcode LeaseClock.onApplied}; poll {@linkcode LeaseClock.due} and
 * {@linkcode LeaseClock.dueLockDelays} from a timer; call
 * {@linkcode LeaseClock.onStepDown} when leadership is lost.
 *
 * Waiters: the leases of lock waiters whose request is open on the leader
 * are held ({@linkcode LeaseClock.hold}) and never due, so they need no
 * keepalive in the log; when the request ends the hold is released and the
 * lease has its full TTL from then. Holds die with the leader: a new leader
 * gives every lease its TTL plus an election timeout, and a lease whose
 * waiting request was on the old leader then expires with its waiter.
 *
 * @module
 */

import type { PendingLockDelay } from "./locks.ts";
import type { LeaseChange } from "./machine.ts";

/** What the clock needs to know of a lease. */
export interface ClockLease {
  /** The lease id. */
  id: number;
  /** Time to live, in seconds. */
  ttl: number;
  /** The log index of its grant or latest keepalive. */
  keepaliveIndex: number;
}

/** A lease past its deadline: propose `leaseExpire` with these fields. */
export interface DueExpiry {
  /** The lease id. */
  id: number;
  /** The keepaliveIndex the expiry is for. */
  keepaliveIndex: number;
}

/** A lock-delay that has elapsed: propose `lockDelayEnd` with these fields. */
export interface DueLockDelay {
  /** The lock's name. */
  name: string;
  /** The revision that identifies the delay. */
  revision: number;
}

/** Options of {@linkcode LeaseClock}. */
export interface LeaseClockOptions {
  /**
   * After {@linkcode LeaseClock.markProposed}, how long (ms) a due item is
   * left out of `due` before it is offered again (default 1000).
   */
  retryMs?: number;
}

interface LeaseDeadline {
  deadline: number;
  ttlMs: number;
  keepaliveIndex: number;
  retryAt: number;
}

interface DelayDeadline {
  deadline: number;
  revision: number;
  retryAt: number;
}

/**
 * The leader's lease and lock-delay deadlines, on its own monotonic clock
 * (never replicated): it says which expiries to propose, and when.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LeaseClock } from "./lease_clock.ts";
 *
 * const clock = new LeaseClock();
 * // Elected at 0 ms: lease 7 (TTL 5 s) gets its TTL plus an election timeout.
 * clock.onBecomeLeader(0, [{ id: 7, ttl: 5, keepaliveIndex: 12 }], 300);
 * assert.deepEqual(clock.due(5_000), []);
 * assert.deepEqual(clock.due(5_300), [{ id: 7, keepaliveIndex: 12 }]);
 * ```
 */
export class LeaseClock {
  readonly #retryMs: number;
  #active = false;
  #leases: Map<number, LeaseDeadline> = new Map();
  #delays: Map<string, DelayDeadline> = new Map();
  #held: Set<number> = new Set();

  /** Creates an inactive clock (not leader). */
  constructor(options: LeaseClockOptions = {}) {
    this.#retryMs = options.retryMs ?? 1000;
  }

  /** Whether the clock is tracking (between becoming leader and stepping down). */
  get active(): boolean {
    return this.#active;
  }

  /** How many leases are tracked. */
  get size(): number {
    return this.#leases.size;
  }

  /**
   * Starts tracking as the new leader: every lease gets a full TTL plus
   * `extendMs` (an election timeout) from `now`, and every pending
   * lock-delay its full delay from `now`.
   */
  onBecomeLeader(
    now: number,
    leases: Iterable<ClockLease>,
    extendMs: number,
    lockDelays: Iterable<PendingLockDelay> = [],
  ): void {
    this.#active = true;
    this.#leases.clear();
    this.#delays.clear();
    this.#held.clear();
    for (const l of leases) {
      this.#leases.set(l.id, {
        deadline: now + l.ttl * 1000 + extendMs,
        ttlMs: l.ttl * 1000,
        keepaliveIndex: l.keepaliveIndex,
        retryAt: -Infinity,
      });
    }
    for (const d of lockDelays) {
      this.#delays.set(d.name, {
        deadline: now + d.delayMs,
        revision: d.revision,
        retryAt: -Infinity,
      });
    }
  }

  /** Stops tracking (leadership lost); everything is forgotten. */
  onStepDown(): void {
    this.#active = false;
    this.#leases.clear();
    this.#delays.clear();
    this.#held.clear();
  }

  /**
   * Holds lease `id` (ignored while not leader): it is never due until
   * {@linkcode LeaseClock.release}. For the lease of a lock waiter whose
   * request is open on this node, the leader.
   */
  hold(id: number): void {
    if (this.#active) this.#held.add(id);
  }

  /**
   * Ends a hold: the lease has its full TTL from `now` (it was alive until
   * this moment).
   */
  release(id: number, now: number): void {
    if (!this.#held.delete(id)) return;
    const l = this.#leases.get(id);
    if (l) l.deadline = Math.max(l.deadline, now + l.ttlMs);
  }

  /** Whether lease `id` is held. */
  isHeld(id: number): boolean {
    return this.#held.has(id);
  }

  /**
   * Updates deadlines from the lease changes of an apply (ignored while not
   * leader): a grant or keepalive restarts the TTL from `now`; a revoke or
   * expiry forgets the lease; lock-delays start and end.
   */
  onApplied(now: number, changes: readonly LeaseChange[]): void {
    if (!this.#active) return;
    for (const c of changes) {
      switch (c.type) {
        case "grant":
        case "keepalive":
          this.#leases.set(c.id, {
            deadline: now + c.ttl * 1000,
            ttlMs: c.ttl * 1000,
            keepaliveIndex: c.keepaliveIndex,
            retryAt: -Infinity,
          });
          break;
        case "revoke":
        case "expire":
          this.#leases.delete(c.id);
          this.#held.delete(c.id);
          break;
        case "lockDelayStart":
          this.#delays.set(c.name, {
            deadline: now + c.delayMs,
            revision: c.revision,
            retryAt: -Infinity,
          });
          break;
        case "lockDelayEnd":
          this.#delays.delete(c.name);
          break;
      }
    }
  }

  /**
   * Leases past their deadline at `now` (earliest deadline first), except
   * those marked proposed less than `retryMs` ago. Empty while not leader.
   */
  due(now: number): DueExpiry[] {
    const out: (DueExpiry & { deadline: number })[] = [];
    for (const [id, l] of this.#leases) {
      if (now >= l.deadline && now >= l.retryAt && !this.#held.has(id)) {
        out.push({
          id,
          keepaliveIndex: l.keepaliveIndex,
          deadline: l.deadline,
        });
      }
    }
    out.sort((a, b) => a.deadline - b.deadline || a.id - b.id);
    return out.map(({ id, keepaliveIndex }) => ({ id, keepaliveIndex }));
  }

  /** Notes that an expiry of lease `id` was proposed at `now`. */
  markProposed(id: number, now: number): void {
    const l = this.#leases.get(id);
    if (l) l.retryAt = now + this.#retryMs;
  }

  /** Lock-delays that have elapsed at `now`, by name. */
  dueLockDelays(now: number): DueLockDelay[] {
    const out: DueLockDelay[] = [];
    for (const [name, d] of this.#delays) {
      if (now >= d.deadline && now >= d.retryAt) {
        out.push({ name, revision: d.revision });
      }
    }
    return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** Notes that `lockDelayEnd` for lock `name` was proposed at `now`. */
  markLockDelayProposed(name: string, now: number): void {
    const d = this.#delays.get(name);
    if (d) d.retryAt = now + this.#retryMs;
  }

  /** Milliseconds until lease `id` expires (0 if past), or undefined if untracked. */
  remaining(id: number, now: number): number | undefined {
    const l = this.#leases.get(id);
    if (l === undefined) return undefined;
    // A held lease is kept alive: its whole TTL is ahead.
    if (this.#held.has(id)) return l.ttlMs;
    return Math.max(0, l.deadline - now);
  }

  /** The earliest deadline (lease or lock-delay), for scheduling a timer. */
  nextDeadline(): number | undefined {
    let next: number | undefined;
    for (const [id, l] of this.#leases) {
      if (this.#held.has(id)) continue;
      const t = Math.max(l.deadline, l.retryAt);
      if (next === undefined || t < next) next = t;
    }
    for (const d of this.#delays.values()) {
      const t = Math.max(d.deadline, d.retryAt);
      if (next === undefined || t < next) next = t;
    }
    return next;
  }
}
