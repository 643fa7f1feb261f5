/**
 * The lock table: each lock's holder, its FIFO queue of waiters, and a
 * pending lock-delay. A lock exists only while it is held, waited for, or
 * delayed.
 *
 * @module
 */

import { compareKeys } from "./kv.ts";
import type { LockHolder } from "./results.ts";

/** The current holder of a lock. */
export interface HolderRecord {
  /** The fencing token: the global revision of the grant. */
  token: number;
  /** The lease that keeps the lock. */
  lease: number;
  /** The owner string given at acquire. */
  owner: string;
  /** The waiter id the grant went to, if it was queued or named. */
  waiterId: string | null;
  /** Lock-delay (ms) to apply if the lease expires. */
  lockDelay: number;
  /** Whether the acquire created the lease (given a ttl). */
  createdLease: boolean;
}

/** A queued acquire. */
export interface WaiterRecord {
  /** The caller-chosen waiter id. */
  waiterId: string;
  /** The waiter's lease. */
  lease: number;
  /** The owner string given at acquire. */
  owner: string;
  /** Lock-delay (ms) to apply if the lease expires while holding. */
  lockDelay: number;
  /** Whether the acquire created the lease (given a ttl). */
  createdLease: boolean;
}

/** A pending lock-delay. */
export interface LockDelay {
  /** How long the lock stays ungranted, in ms (the leader's clock decides). */
  delayMs: number;
  /** The revision at which the delay started (identifies it). */
  revision: number;
}

/** A lock. */
export interface LockRecord {
  /** The lock's name. */
  readonly name: string;
  /** The holder, or null. */
  holder: HolderRecord | null;
  /** Waiters, first in line first. */
  waiters: WaiterRecord[];
  /** A pending lock-delay (no grant until it ends), or null. */
  delay: LockDelay | null;
}

/** A lock as the API shows it. */
export interface LockInfo {
  /** The lock's name. */
  name: string;
  /** The holder, or null. */
  holder: LockHolder | null;
  /** Waiters, first in line first. */
  waiters: { waiterId: string; lease: number; owner: string }[];
  /** A pending lock-delay, or null. */
  lockDelay: LockDelay | null;
}

/** A lock-delay waiting for the leader to end it. */
export interface PendingLockDelay {
  /** The lock's name. */
  name: string;
  /** How long the lock must stay ungranted, in ms. */
  delayMs: number;
  /** The revision at which the delay started; pass it to `lockDelayEnd`. */
  revision: number;
}

/** Locks by name. */
export class LockTable {
  #locks: Map<string, LockRecord> = new Map();

  /** How many locks exist. */
  get size(): number {
    return this.#locks.size;
  }

  /** The lock `name`, if it exists. */
  get(name: string): LockRecord | undefined {
    return this.#locks.get(name);
  }

  /** The lock `name`, created empty if missing. */
  ensure(name: string): LockRecord {
    let rec = this.#locks.get(name);
    if (!rec) {
      rec = { name, holder: null, waiters: [], delay: null };
      this.#locks.set(name, rec);
    }
    return rec;
  }

  /** Forgets the lock if it is not held, waited for, or delayed. */
  dropIfIdle(rec: LockRecord): void {
    if (!rec.holder && rec.waiters.length === 0 && !rec.delay) {
      this.#locks.delete(rec.name);
    }
  }

  /** Every lock, in name order. */
  sorted(): LockRecord[] {
    return [...this.#locks.values()].sort((a, b) =>
      compareKeys(a.name, b.name)
    );
  }

  /** How many waiters are queued across all locks. */
  waiterCount(): number {
    let n = 0;
    for (const l of this.#locks.values()) n += l.waiters.length;
    return n;
  }

  /** Removes every lock. */
  clear(): void {
    this.#locks.clear();
  }

  /** The lock as the API shows it. */
  static info(rec: LockRecord): LockInfo {
    return {
      name: rec.name,
      holder: rec.holder ? LockTable.holder(rec.holder) : null,
      waiters: rec.waiters.map((w) => ({
        waiterId: w.waiterId,
        lease: w.lease,
        owner: w.owner,
      })),
      lockDelay: rec.delay ? { ...rec.delay } : null,
    };
  }

  /** A holder as the API shows it. */
  static holder(h: HolderRecord): LockHolder {
    return { token: h.token, lease: h.lease, owner: h.owner };
  }
}
