/**
 * Replaying WAL items into the log they describe, with the same semantics
 * as `MemoryStorage.save()`: an install marker replaces the log, a compact
 * marker drops entries up to its index, entries at an existing index
 * overwrite the log from there, entries the snapshot covers are skipped.
 *
 * Replay may start at a segment whose predecessors were removed after a
 * snapshot. The entries before that segment's first index are then unknown
 * (a gap), and so are those before any entries that lie past the end of
 * what replay knows; that is allowed as long as a later snapshot marker
 * covers the gap. A gap still open at the end means records are missing.
 *
 * @module
 */

import type { Entry, HardState, SnapshotMetadata } from "../../raft/types.ts";
import type { SegmentHeader, WalItem } from "./record.ts";

/** A replayed item that cannot be right (the WAL is damaged or was written wrongly). */
export class ReplayError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "ReplayError";
  }
}

/** The state a WAL describes. */
export interface ReplayResult {
  /** The snapshot in effect (index 0: none; its `conf` is the bootstrap configuration). */
  snapshot: SnapshotMetadata;
  /** The entries after the snapshot, consecutive from `snapshot.index + 1`. */
  entries: Entry[];
  /** The last hard state written. */
  hardState: HardState;
}

/** Rebuilds the log from a segment header and the items that follow it. */
export class LogReplay {
  #snap: SnapshotMetadata;
  #hs: HardState;
  // The log is #ents, holding indexes #base + 1 onwards. Outside a gap,
  // #base equals the snapshot index. Inside a gap, nothing at or below
  // #base is known.
  #base: number;
  #ents: Entry[] = [];
  #gap = false;

  /** Starts from the state a segment header records. */
  constructor(header: SegmentHeader) {
    this.#snap = cloneMeta(header.snapshot);
    this.#hs = { ...header.hardState };
    this.#base = header.snapshot.index;
    if (header.firstIndex - 1 > header.snapshot.index) {
      // The entries before this segment were in segments removed after a
      // snapshot; a snapshot marker further on must cover them.
      this.#base = header.firstIndex - 1;
      this.#gap = true;
    }
  }

  /** The index of the last entry replayed so far. */
  get lastIndex(): number {
    return this.#base + this.#ents.length;
  }

  /** The hard state replayed so far. */
  get hardState(): HardState {
    return this.#hs;
  }

  /** The snapshot marker replayed so far. */
  get snapshot(): SnapshotMetadata {
    return this.#snap;
  }

  /** Applies one item; throws {@linkcode ReplayError} for an impossible one. */
  apply(item: WalItem): void {
    switch (item.kind) {
      case "hardState":
        this.#hs = item.hardState;
        return;
      case "entries":
        this.#append(item.entries);
        return;
      case "snapshot": {
        const m = item.metadata;
        if (m.index <= this.#snap.index) return;
        if (item.mode === "install") {
          this.#snap = m;
          this.#base = m.index;
          this.#ents = [];
          this.#gap = false;
          return;
        }
        if (this.#gap && m.index < this.#base) {
          // Still inside the gap: the log above it stays as it is.
          this.#snap = m;
          return;
        }
        if (m.index > this.lastIndex) {
          throw new ReplayError(
            `Snapshot marker at index ${m.index} lies beyond the last log index ${this.lastIndex}`,
          );
        }
        if (m.index > this.#base) {
          const t = this.#ents[m.index - this.#base - 1].term;
          if (t !== m.term) {
            throw new ReplayError(
              `Snapshot marker at index ${m.index} has term ${m.term} but the entry there has term ${t}`,
            );
          }
        }
        this.#snap = m;
        this.#ents = this.#ents.slice(m.index - this.#base);
        this.#base = m.index;
        this.#gap = false;
        return;
      }
    }
  }

  #append(list: readonly Entry[]): void {
    const n = list.length;
    if (n === 0) return;
    const snapIndex = this.#snap.index;
    if (list[0].index + n - 1 <= snapIndex) return;
    const ents = list[0].index <= snapIndex
      ? list.slice(snapIndex + 1 - list[0].index)
      : list;
    const f = ents[0].index;
    if (f > this.lastIndex + 1 || (this.#gap && f <= this.#base)) {
      // Entries before f were in removed segments; a snapshot marker
      // further on must cover them.
      this.#gap = true;
      this.#base = f - 1;
      this.#ents = ents.slice();
      return;
    }
    this.#ents.length = f - this.#base - 1;
    for (let i = 0; i < ents.length; i++) this.#ents.push(ents[i]);
  }

  /** Ends the replay; throws {@linkcode ReplayError} if entries are missing. */
  finish(): ReplayResult {
    if (this.#gap) {
      throw new ReplayError(
        `Log entries up to index ${this.#base} are missing and no snapshot covers them (snapshot index ${this.#snap.index})`,
      );
    }
    return {
      snapshot: cloneMeta(this.#snap),
      entries: compactData(this.#ents),
      hardState: { ...this.#hs },
    };
  }
}

// Decoded entries' data are views into the segment files read whole during
// recovery (up to 64 MiB each), which would stay in memory as long as any
// entry does. Copying the retained entries' data into one buffer of their
// own size lets the segment buffers go.
function compactData(ents: Entry[]): Entry[] {
  let size = 0;
  for (const e of ents) size += e.data.byteLength;
  const buf = new Uint8Array(size);
  let at = 0;
  return ents.map((e) => {
    const n = e.data.byteLength;
    buf.set(e.data, at);
    const data = buf.subarray(at, at + n);
    at += n;
    return { term: e.term, index: e.index, type: e.type, data };
  });
}

/**
 * The WAL writer's running summary of what it has written: enough to write
 * the header of the next segment (hard state, snapshot, last index) without
 * keeping the log itself. Follows the same rules as {@linkcode LogReplay}.
 */
export class WalState {
  /** The last hard state written. */
  hardState: HardState;
  /** The snapshot marker in effect. */
  snapshot: SnapshotMetadata;
  /** The last log index written. */
  lastIndex: number;

  /** Starts from a replayed state. */
  constructor(
    r: { hardState: HardState; snapshot: SnapshotMetadata; lastIndex: number },
  ) {
    this.hardState = { ...r.hardState };
    this.snapshot = cloneMeta(r.snapshot);
    this.lastIndex = r.lastIndex;
  }

  /** Accounts for one written item. */
  apply(item: WalItem): void {
    switch (item.kind) {
      case "hardState":
        this.hardState = { ...item.hardState };
        return;
      case "entries": {
        const n = item.entries.length;
        if (n === 0) return;
        const last = item.entries[0].index + n - 1;
        if (last <= this.snapshot.index) return;
        this.lastIndex = last;
        return;
      }
      case "snapshot": {
        const m = item.metadata;
        if (m.index <= this.snapshot.index) return;
        this.snapshot = cloneMeta(m);
        if (item.mode === "install") this.lastIndex = m.index;
        return;
      }
    }
  }
}

function cloneMeta(m: SnapshotMetadata): SnapshotMetadata {
  return {
    index: m.index,
    term: m.term,
    conf: { voters: [...m.conf.voters], learners: [...m.conf.learners] },
  };
}
