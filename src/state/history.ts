/**
 * Watch history: a bounded ring of the most recent key events, so a watcher
 * can resume from a revision. Once an event has been evicted, asking for
 * its revision answers "compacted".
 *
 * @module
 */

import type { DeleteEvent, PutEvent, WatchEvent } from "../wire/types.ts";

// The API's event shapes, defined once with the client's types.
export type { DeleteEvent, PutEvent, WatchEvent };

/** Which events a watcher wants: one key, a prefix, or (empty) all. */
export interface WatchFilter {
  /** Exactly this key. */
  key?: string;
  /** Every key starting with this. */
  prefix?: string;
}

/** The answer of {@linkcode History.since}. */
export type EventsSince =
  | {
    /** The history reaches back far enough. */
    compacted: false;
    /** The matching events with revision > the asked one, oldest first. */
    events: WatchEvent[];
    /**
     * With a {@linkcode SinceLimit} only: true when the answer stopped at
     * the limit and later events remain (ask again after the last
     * event's revision).
     */
    more?: boolean;
  }
  | {
    /** The asked revision's events are gone. */
    compacted: true;
    /** The oldest revision whose events are all still available. */
    compactRevision: number;
  };

/**
 * Bounds one answer of {@linkcode History.since}: a watcher catching up
 * reads the history a slice at a time, as its stream takes them.
 */
export interface SinceLimit {
  /**
   * Stop once the events' approximate size ({@linkcode eventBytes})
   * reaches this. An answer holds whole revisions (every event of a
   * transaction), so it may go past it by one revision's events.
   */
  maxBytes: number;
}

/** Whether `event` passes `filter`. */
export function matchesFilter(
  event: WatchEvent,
  filter: WatchFilter | undefined,
): boolean {
  if (!filter) return true;
  if (filter.key !== undefined) return event.key === filter.key;
  if (filter.prefix !== undefined) return event.key.startsWith(filter.prefix);
  return true;
}

/**
 * The approximate size of an event: its key and value plus some overhead
 * (about what its fields take as JSON). It counts against the history's
 * byte budget and a watcher's send queue.
 */
export function eventBytes(e: WatchEvent): number {
  return 64 + e.key.length + (e.type === "put" ? e.value.length : 0);
}

/** A ring of recent events bounded by count and by (approximate) bytes. */
export class History {
  readonly #capacity: number;
  readonly #maxBytes: number;
  #ring: (WatchEvent | undefined)[] = [];
  #head = 0; // index of the oldest event
  #count = 0;
  #bytes = 0;
  #compactRevision = 1;

  /**
   * @param capacity the most events kept (at least 1)
   * @param maxBytes the most (approximate) bytes of keys and values kept;
   *   the newest event is always kept
   */
  constructor(capacity: number, maxBytes: number) {
    this.#capacity = Math.max(1, Math.floor(capacity));
    this.#maxBytes = Math.max(1, Math.floor(maxBytes));
  }

  /** How many events are kept. */
  get size(): number {
    return this.#count;
  }

  /** The oldest revision whose events are all still available. */
  get compactRevision(): number {
    return this.#compactRevision;
  }

  /** The approximate bytes of the kept events (what the byte bound counts). */
  get bytes(): number {
    return this.#bytes;
  }

  /** Appends an event (revisions must not decrease), evicting the oldest. */
  append(e: WatchEvent): void {
    Object.freeze(e);
    if (this.#count === this.#capacity) this.#evict();
    if (this.#ring.length < this.#capacity) {
      this.#ring.push(e);
    } else {
      this.#ring[(this.#head + this.#count) % this.#capacity] = e;
    }
    this.#count++;
    this.#bytes += eventBytes(e);
    while (this.#bytes > this.#maxBytes && this.#count > 1) {
      this.#evict();
    }
  }

  /**
   * The events with revision > `revision` that pass `filter`, oldest first;
   * or "compacted" if some of them may have been evicted. With `limit`,
   * only the first ones up to its size (whole revisions), and `more` says
   * whether later ones remain.
   */
  since(
    revision: number,
    filter?: WatchFilter,
    limit?: SinceLimit,
  ): EventsSince {
    if (!Number.isFinite(revision)) revision = 0;
    if (revision + 1 < this.#compactRevision) {
      return { compacted: true, compactRevision: this.#compactRevision };
    }
    // Binary search for the first event with revision > `revision`.
    let lo = 0;
    let hi = this.#count;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#at(mid).revision <= revision) lo = mid + 1;
      else hi = mid;
    }
    const events: WatchEvent[] = [];
    if (!limit) {
      for (let i = lo; i < this.#count; i++) {
        const e = this.#at(i);
        if (matchesFilter(e, filter)) events.push(e);
      }
      return { compacted: false, events };
    }
    let bytes = 0;
    let last = -1;
    for (let i = lo; i < this.#count; i++) {
      const e = this.#at(i);
      // Full, and past the last taken revision: the rest is for next time.
      if (bytes >= limit.maxBytes && e.revision !== last) {
        return { compacted: false, events, more: true };
      }
      if (matchesFilter(e, filter)) {
        events.push(e);
        bytes += eventBytes(e);
        last = e.revision;
      }
    }
    return { compacted: false, events, more: false };
  }

  /** Every kept event, oldest first. */
  toArray(): WatchEvent[] {
    const out: WatchEvent[] = [];
    for (let i = 0; i < this.#count; i++) out.push(this.#at(i));
    return out;
  }

  /**
   * Drops every event up to `revision` (inclusive): watchers resuming from
   * before it get "compacted". Returns how many events were dropped.
   */
  compact(revision: number): number {
    let dropped = 0;
    while (this.#count > 0 && this.#at(0).revision <= revision) {
      this.#evict();
      dropped++;
    }
    if (revision + 1 > this.#compactRevision) {
      this.#compactRevision = revision + 1;
    }
    return dropped;
  }

  /** Replaces the contents (for restore); applies this ring's bounds. */
  load(events: readonly WatchEvent[], compactRevision: number): void {
    this.#ring = [];
    this.#head = 0;
    this.#count = 0;
    this.#bytes = 0;
    this.#compactRevision = compactRevision;
    for (const e of events) this.append(e);
  }

  #at(i: number): WatchEvent {
    return this.#ring[(this.#head + i) % this.#capacity]!;
  }

  #evict(): void {
    const e = this.#at(0);
    this.#ring[this.#head] = undefined;
    this.#head = (this.#head + 1) % this.#capacity;
    this.#count--;
    this.#bytes -= eventBytes(e);
    // Other events of the same revision may remain, but the revision is no
    // longer complete.
    if (e.revision + 1 > this.#compactRevision) {
      this.#compactRevision = e.revision + 1;
    }
  }
}
