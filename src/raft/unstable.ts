/**
 * The tail of the log the host has not yet persisted: entries (and maybe an
 * incoming snapshot) handed out in `Ready` but not yet acknowledged by
 * `advance()`.
 *
 * @module
 */

import type { Entry, Snapshot } from "./types.ts";

/** Unpersisted entries starting at `offset`, and a pending snapshot. */
export class Unstable {
  /** A snapshot received from the leader and not yet persisted. */
  snapshot: Snapshot | undefined;
  /** Entries not yet persisted; `entries[0].index === offset`. */
  entries: Entry[] = [];
  /** The index of `entries[0]` (one past the last stable entry). */
  offset: number;

  /** Starts empty at `offset`. */
  constructor(offset: number) {
    this.offset = offset;
  }

  /** The first index if a snapshot is pending. */
  maybeFirstIndex(): number | undefined {
    return this.snapshot ? this.snapshot.metadata.index + 1 : undefined;
  }

  /** The last index of the unstable entries or of the pending snapshot. */
  maybeLastIndex(): number | undefined {
    if (this.entries.length > 0) return this.offset + this.entries.length - 1;
    return this.snapshot?.metadata.index;
  }

  /** The term of entry `i` if this part of the log knows it. */
  maybeTerm(i: number): number | undefined {
    if (i < this.offset) {
      if (this.snapshot && this.snapshot.metadata.index === i) {
        return this.snapshot.metadata.term;
      }
      return undefined;
    }
    const last = this.maybeLastIndex();
    if (last === undefined || i > last) return undefined;
    return this.entries[i - this.offset].term;
  }

  /** Marks entries up to `i` (with term `t`) persisted. */
  stableTo(i: number, t: number): void {
    const gt = this.maybeTerm(i);
    if (gt === undefined) return;
    // Only if the entry is still the one that was persisted: a later
    // append may have replaced it while the host was writing.
    if (gt === t && i >= this.offset) {
      this.entries = this.entries.slice(i + 1 - this.offset);
      this.offset = i + 1;
    }
  }

  /** Marks the pending snapshot at index `i` persisted. */
  stableSnapTo(i: number): void {
    if (this.snapshot && this.snapshot.metadata.index === i) {
      this.snapshot = undefined;
    }
  }

  /** Replaces everything with an incoming snapshot. */
  restore(s: Snapshot): void {
    this.offset = s.metadata.index + 1;
    this.entries = [];
    this.snapshot = s;
  }

  /** Appends entries, first cutting any suffix they overwrite. */
  truncateAndAppend(ents: readonly Entry[]): void {
    const after = ents[0].index;
    if (after === this.offset + this.entries.length) {
      // In place: a Ready hands out a copy, never this array.
      for (const e of ents) this.entries.push(e);
    } else if (after <= this.offset) {
      // The log is being replaced from before the unstable part.
      this.offset = after;
      this.entries = ents.slice();
    } else {
      this.entries = this.entries.slice(0, after - this.offset).concat(ents);
    }
  }

  /** Entries in `[lo, hi)`, which must lie within the unstable part. */
  slice(lo: number, hi: number): Entry[] {
    return this.entries.slice(lo - this.offset, hi - this.offset);
  }
}
