/**
 * The Raft log as the core sees it: the host's stable storage followed by
 * the unstable tail, plus the commit and apply cursors.
 *
 * @module
 */

import { RaftInvariantError } from "./errors.ts";
import { CompactedError, type Storage, UnavailableError } from "./storage.ts";
import { Unstable } from "./unstable.ts";
import { type Entry, entrySize, type Snapshot } from "./types.ts";

/** Stable storage plus unstable tail, with `committed` and `applied`. */
export class RaftLog {
  /** The host's persisted log. */
  readonly storage: Storage;
  /** Entries and snapshot not yet persisted. */
  readonly unstable: Unstable;
  /** The highest index known to be committed. */
  committed: number;
  /** The highest index the host has applied. */
  applied: number;
  /** The highest index handed to the host for applying (may exceed `applied` until `advance`). */
  applying: number;

  /** Opens the log over `storage`; `applied` is where the state machine starts. */
  constructor(storage: Storage, applied = 0) {
    this.storage = storage;
    const first = storage.firstIndex();
    const last = storage.lastIndex();
    this.unstable = new Unstable(last + 1);
    this.committed = first - 1;
    this.applied = Math.max(first - 1, applied);
    this.applying = this.applied;
  }

  /** The first index still available (snapshot index + 1). */
  firstIndex(): number {
    return this.unstable.maybeFirstIndex() ?? this.storage.firstIndex();
  }

  /** The last index in the log. */
  lastIndex(): number {
    return this.unstable.maybeLastIndex() ?? this.storage.lastIndex();
  }

  /** The term of the last entry. */
  lastTerm(): number {
    return this.term(this.lastIndex()) ?? 0;
  }

  /**
   * The term of entry `i`, or `undefined` when `i` is compacted away or
   * beyond the last index. `firstIndex() - 1` (the snapshot) is valid.
   */
  term(i: number): number | undefined {
    const dummy = this.firstIndex() - 1;
    if (i < dummy || i > this.lastIndex()) return undefined;
    const t = this.unstable.maybeTerm(i);
    if (t !== undefined) return t;
    try {
      return this.storage.term(i);
    } catch (e) {
      if (e instanceof CompactedError || e instanceof UnavailableError) {
        return undefined;
      }
      throw e;
    }
  }

  /** True when entry `i` exists with term `t`. */
  matchTerm(i: number, t: number): boolean {
    return this.term(i) === t;
  }

  /**
   * The index of the first entry in `ents` whose term differs from ours
   * (or that we lack), or 0 when all of them are already present.
   */
  findConflict(ents: readonly Entry[]): number {
    for (const e of ents) {
      if (!this.matchTerm(e.index, e.term)) return e.index;
    }
    return 0;
  }

  /**
   * The largest index at or below `index` whose term is at most `term`:
   * where a leader's log and ours can possibly match (fast backtracking).
   */
  findConflictByTerm(index: number, term: number): number {
    for (; index > 0; index--) {
      const t = this.term(index);
      // Unknown (compacted) terms: stop here and let the probe go on.
      if (t === undefined || t <= term) break;
    }
    return index;
  }

  /** Appends entries (possibly overwriting an uncommitted suffix); returns the new last index. */
  append(ents: readonly Entry[]): number {
    if (ents.length === 0) return this.lastIndex();
    const after = ents[0].index - 1;
    if (after < this.committed) {
      throw new RaftInvariantError(
        `Append at index ${
          after + 1
        } would overwrite committed index ${this.committed}`,
      );
    }
    this.unstable.truncateAndAppend(ents);
    return this.lastIndex();
  }

  /** The unstable entries, copied for a Ready. */
  unstableEntries(): Entry[] {
    return this.unstable.entries.slice();
  }

  /** Committed entries not yet handed out for applying, at most `maxBytes` (at least one). */
  nextCommittedEntries(maxBytes = Infinity): Entry[] {
    const off = Math.max(this.applying + 1, this.firstIndex());
    if (this.committed + 1 > off) {
      return this.slice(off, this.committed + 1, maxBytes);
    }
    return [];
  }

  /** True when committed entries wait to be applied. */
  hasNextCommittedEntries(): boolean {
    return this.committed > Math.max(this.applying, this.firstIndex() - 1);
  }

  /** The pending incoming snapshot, or the storage's. */
  snapshot(): Snapshot {
    return this.unstable.snapshot ?? this.storage.snapshot();
  }

  /** Raises the commit index to `toCommit` (never lowers it). */
  commitTo(toCommit: number): void {
    if (this.committed < toCommit) {
      if (this.lastIndex() < toCommit) {
        throw new RaftInvariantError(
          `Commit index ${toCommit} is beyond the last index ${this.lastIndex()}; the log is corrupt, truncated or lost`,
        );
      }
      this.committed = toCommit;
    }
  }

  /** Records that the host applied everything up to `i`. */
  appliedTo(i: number): void {
    if (i === 0) return;
    if (this.committed < i || i < this.applied) {
      throw new RaftInvariantError(
        `Applied index ${i} is out of range [${this.applied}, ${this.committed}]`,
      );
    }
    this.applied = i;
    if (this.applying < i) this.applying = i;
  }

  /** Marks entries up to `i`/`t` persisted. */
  stableTo(i: number, t: number): void {
    this.unstable.stableTo(i, t);
  }

  /** Marks the snapshot at `i` persisted. */
  stableSnapTo(i: number): void {
    this.unstable.stableSnapTo(i);
  }

  /** Entries from `i` to the end, at most `maxBytes` (at least one). */
  entries(i: number, maxBytes: number): Entry[] {
    if (i > this.lastIndex()) return [];
    return this.slice(i, this.lastIndex() + 1, maxBytes);
  }

  /** True when a log ending at (`lastIndex`, `term`) is at least as up to date as ours (§5.4.1). */
  isUpToDate(lastIndex: number, term: number): boolean {
    const ourTerm = this.lastTerm();
    return term > ourTerm ||
      (term === ourTerm && lastIndex >= this.lastIndex());
  }

  /**
   * Commits up to `maxIndex` if that entry is from `term` (§5.4.2: only
   * entries of the current term commit by counting replicas).
   */
  maybeCommit(maxIndex: number, term: number): boolean {
    if (maxIndex > this.committed && this.term(maxIndex) === term) {
      this.commitTo(maxIndex);
      return true;
    }
    return false;
  }

  /** Replaces the log with a snapshot. */
  restore(s: Snapshot): void {
    this.committed = s.metadata.index;
    this.unstable.restore(s);
  }

  /** Entries in `[lo, hi)` at most `maxBytes` beyond the first; throws if compacted. */
  slice(lo: number, hi: number, maxBytes = Infinity): Entry[] {
    if (lo > hi) throw new RaftInvariantError(`Invalid slice ${lo} > ${hi}`);
    const first = this.firstIndex();
    if (lo < first) throw new CompactedError(lo);
    if (hi > this.lastIndex() + 1) {
      throw new RaftInvariantError(
        `Slice [${lo}, ${hi}) is out of bounds [${first}, ${this.lastIndex()}]`,
      );
    }
    if (lo === hi) return [];
    let ents: Entry[] = [];
    const uoff = this.unstable.offset;
    if (lo < uoff) {
      ents = this.storage.entries(lo, Math.min(hi, uoff), maxBytes);
      // Storage stopped early because of the byte limit.
      if (ents.length < Math.min(hi, uoff) - lo) return ents;
    }
    if (hi > uoff) {
      const u = this.unstable.slice(Math.max(lo, uoff), hi);
      if (ents.length === 0) ents = u;
      else ents = ents.concat(u);
    }
    return limitSize(ents, maxBytes);
  }
}

function limitSize(ents: Entry[], maxBytes: number): Entry[] {
  if (ents.length === 0 || maxBytes === Infinity) return ents;
  let size = entrySize(ents[0]);
  let n = 1;
  for (; n < ents.length; n++) {
    size += entrySize(ents[n]);
    if (size > maxBytes) break;
  }
  return n === ents.length ? ents : ents.slice(0, n);
}
