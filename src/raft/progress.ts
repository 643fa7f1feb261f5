/**
 * What a leader knows about one follower's log, and how it sends to it:
 * probing for the match point, replicating optimistically in a window, or
 * waiting for a snapshot to land.
 *
 * @module
 */

import { Inflights } from "./inflights.ts";

/** The replication states of a follower, as in etcd-io/raft. */
export type ProgressState = "probe" | "replicate" | "snapshot";

/** Replication progress of one peer, as seen by the leader. */
export class Progress {
  /** The highest index known to match the leader's log. */
  match: number;
  /** The next index to send. */
  next: number;
  /** How the leader sends to this peer now. */
  state: ProgressState = "probe";
  /** In snapshot state: the index of the snapshot being sent. */
  pendingSnapshot = 0;
  /** Heard from within the last election timeout (for CheckQuorum). */
  recentActive = false;
  /** In probe state: one probe is out, wait for an answer or a heartbeat. */
  msgAppFlowPaused = false;
  /** In-flight AppendEntries in replicate state. */
  readonly inflights: Inflights;
  /** True for a non-voting member. */
  isLearner: boolean;

  /** A peer whose next index is `next`. */
  constructor(
    next: number,
    options: {
      maxInflight: number;
      maxInflightBytes: number;
      isLearner?: boolean;
    },
  ) {
    this.match = 0;
    this.next = next;
    this.inflights = new Inflights(
      options.maxInflight,
      options.maxInflightBytes,
    );
    this.isLearner = options.isLearner ?? false;
  }

  #resetState(state: ProgressState): void {
    this.msgAppFlowPaused = false;
    this.pendingSnapshot = 0;
    this.state = state;
    this.inflights.reset();
  }

  /** Back to probing: send one message at a time until the match point is found. */
  becomeProbe(): void {
    if (this.state === "snapshot") {
      const pending = this.pendingSnapshot;
      this.#resetState("probe");
      this.next = Math.max(this.match + 1, pending + 1);
    } else {
      this.#resetState("probe");
      this.next = this.match + 1;
    }
  }

  /** The match point is known: stream entries optimistically. */
  becomeReplicate(): void {
    this.#resetState("replicate");
    this.next = this.match + 1;
  }

  /** The peer needs a snapshot at `index`; stop sending entries meanwhile. */
  becomeSnapshot(index: number): void {
    this.#resetState("snapshot");
    this.pendingSnapshot = index;
  }

  /** Accounts for an AppendEntries carrying `count` entries of `bytes`. */
  sentEntries(count: number, bytes: number): void {
    if (this.state === "replicate") {
      if (count > 0) {
        const last = this.next + count - 1;
        this.next = last + 1;
        this.inflights.add(last, bytes);
      }
    } else if (this.state === "probe") {
      // One probe at a time: wait for its answer (or a heartbeat response).
      this.msgAppFlowPaused = true;
    }
  }

  /** The peer acknowledged `n`; returns true when that is news. */
  maybeUpdate(n: number): boolean {
    let updated = false;
    if (this.match < n) {
      this.match = n;
      updated = true;
      this.msgAppFlowPaused = false;
    }
    this.next = Math.max(this.next, n + 1);
    return updated;
  }

  /**
   * The peer rejected an AppendEntries whose previous index was `rejected`,
   * hinting that its log may match up to `matchHint`. Returns false when the
   * rejection is stale.
   */
  maybeDecrTo(rejected: number, matchHint: number): boolean {
    if (this.state === "replicate") {
      // Stale: we already know a higher match.
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    // In probe state only the answer to the latest probe counts.
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, matchHint + 1), this.match + 1, 1);
    this.msgAppFlowPaused = false;
    return true;
  }

  /** True when nothing more may be sent to this peer now. */
  isPaused(): boolean {
    switch (this.state) {
      case "probe":
        return this.msgAppFlowPaused;
      case "replicate":
        return this.inflights.full();
      case "snapshot":
        return true;
    }
  }
}
