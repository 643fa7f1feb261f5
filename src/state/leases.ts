/**
 * The lease table: each lease's TTL, the log index of its last grant or
 * keepalive, and what it keeps alive (keys, held locks, queued waiters).
 * Expiry is not decided here: see {@linkcode LeaseClock}.
 *
 * @module
 */

import type { LeaseSummary } from "../wire/types.ts";
import { compareKeys } from "./kv.ts";

// The API's listing shape, defined once with the client's types.
export type { LeaseSummary };

/** A lease and what it keeps alive. */
export interface LeaseRecord {
  /** The lease id. */
  readonly id: number;
  /** Time to live, in seconds. */
  ttl: number;
  /** The log index of the lease's grant or latest keepalive. */
  keepaliveIndex: number;
  /** Keys attached to the lease. */
  readonly keys: Set<string>;
  /** Names of locks the lease holds. */
  readonly locks: Set<string>;
  /** Lock name → ids of the lease's waiters queued on that lock. */
  readonly waiting: Map<string, Set<string>>;
  /**
   * Elections, semaphores and read-write locks the lease holds or waits
   * for, as `kind:name` (see `recipeRef`).
   */
  readonly recipes: Set<string>;
  /**
   * The key this lease was made for by a put with `ttl` (the key's own
   * lease, renewed by the next such put and dropped with the key), or null.
   */
  ownerKey: string | null;
}

/** A lease as a snapshot restores it. */
export interface LeaseEntry extends LeaseSummary {
  /** The key the lease was made for, or null. */
  ownerKey: string | null;
}

/** A lease in detail. */
export interface LeaseDetail extends LeaseSummary {
  /** Its keys, in key order. */
  keys: string[];
  /** The locks it holds, in name order. */
  locks: string[];
  /** Its queued waiters, by lock name then waiter id. */
  waiting: { name: string; waiterId: string }[];
}

/**
 * Leases by id. Ids come from a counter in the state, so they are the same
 * on every node; the map's insertion order is therefore ascending id order.
 */
export class LeaseTable {
  #leases: Map<number, LeaseRecord> = new Map();
  #nextId = 1;

  /** How many leases exist. */
  get size(): number {
    return this.#leases.size;
  }

  /** The id the next grant gets. */
  get nextId(): number {
    return this.#nextId;
  }

  /** Creates a lease with the next id. */
  grant(ttl: number, keepaliveIndex: number): LeaseRecord {
    const rec = this.#insert(this.#nextId, ttl, keepaliveIndex);
    this.#nextId++;
    return rec;
  }

  /** The lease `id`, if it exists. */
  get(id: number): LeaseRecord | undefined {
    return this.#leases.get(id);
  }

  /** Forgets a lease (its keys, locks and waiters must be handled first). */
  delete(id: number): void {
    this.#leases.delete(id);
  }

  /** Every lease, in ascending id order. */
  values(): IterableIterator<LeaseRecord> {
    return this.#leases.values();
  }

  /** Whether the lease keeps nothing alive. */
  static isIdle(rec: LeaseRecord): boolean {
    return rec.keys.size === 0 && rec.locks.size === 0 &&
      rec.waiting.size === 0 && rec.recipes.size === 0;
  }

  /** Records that the lease has a waiter queued on `name`. */
  static addWaiter(rec: LeaseRecord, name: string, waiterId: string): void {
    let set = rec.waiting.get(name);
    if (!set) rec.waiting.set(name, set = new Set());
    set.add(waiterId);
  }

  /** Records that the lease's waiter on `name` left the queue. */
  static removeWaiter(rec: LeaseRecord, name: string, waiterId: string): void {
    const set = rec.waiting.get(name);
    if (!set) return;
    set.delete(waiterId);
    if (set.size === 0) rec.waiting.delete(name);
  }

  /** The lease's waiters, in (name, waiterId) order. */
  static waiters(rec: LeaseRecord): { name: string; waiterId: string }[] {
    const out: { name: string; waiterId: string }[] = [];
    for (const name of [...rec.waiting.keys()].sort(compareKeys)) {
      for (const waiterId of [...rec.waiting.get(name)!].sort(compareKeys)) {
        out.push({ name, waiterId });
      }
    }
    return out;
  }

  /** The lease as listed. */
  static summary(rec: LeaseRecord): LeaseSummary {
    return { id: rec.id, ttl: rec.ttl, keepaliveIndex: rec.keepaliveIndex };
  }

  /** The lease in detail. */
  static detail(rec: LeaseRecord): LeaseDetail {
    return {
      id: rec.id,
      ttl: rec.ttl,
      keepaliveIndex: rec.keepaliveIndex,
      keys: [...rec.keys].sort(compareKeys),
      locks: [...rec.locks].sort(compareKeys),
      waiting: LeaseTable.waiters(rec),
    };
  }

  /** Replaces the table (for restore): leases in ascending id order. */
  load(leases: readonly LeaseEntry[], nextId: number): void {
    this.#leases.clear();
    for (const l of leases) {
      this.#insert(l.id, l.ttl, l.keepaliveIndex).ownerKey = l.ownerKey;
    }
    this.#nextId = nextId;
  }

  #insert(id: number, ttl: number, keepaliveIndex: number): LeaseRecord {
    const rec: LeaseRecord = {
      id,
      ttl,
      keepaliveIndex,
      keys: new Set(),
      locks: new Set(),
      waiting: new Map(),
      recipes: new Set(),
      ownerKey: null,
    };
    this.#leases.set(id, rec);
    return rec;
  }
}
