/**
 * The leader's and candidate's view of the cluster: the configuration,
 * each peer's progress, votes, and the quorum arithmetic.
 *
 * @module
 */

import { Progress } from "./progress.ts";
import type { ConfState, NodeId } from "./types.ts";

/** Outcome of counting votes. */
export type VoteResult = "won" | "lost" | "pending";

/** Limits applied to every peer's in-flight window. */
export interface FlowLimits {
  /** Maximum AppendEntries in flight to one peer. */
  maxInflight: number;
  /** Maximum bytes of entries in flight to one peer (0 = unlimited). */
  maxInflightBytes: number;
}

/** Configuration, progress and votes. */
export class ProgressTracker {
  /** Members whose votes count. */
  voters: Set<NodeId> = new Set();
  /** Non-voting members. */
  learners: Set<NodeId> = new Set();
  /** Progress of every member (voters and learners). */
  readonly progress: Map<NodeId, Progress> = new Map();
  /** Votes received in the current election. */
  readonly votes: Map<NodeId, boolean> = new Map();
  readonly #limits: FlowLimits;

  /** An empty tracker with the given flow limits. */
  constructor(limits: FlowLimits) {
    this.#limits = limits;
  }

  /** The current configuration. */
  confState(): ConfState {
    return {
      voters: [...this.voters].sort(),
      learners: [...this.learners].sort(),
    };
  }

  /**
   * Switches to `conf`; new members get progress starting at `nextIndex`,
   * departed members lose theirs.
   */
  applyConf(conf: ConfState, nextIndex: number): void {
    this.voters = new Set(conf.voters);
    this.learners = new Set(conf.learners);
    for (const id of [...this.progress.keys()]) {
      if (!this.voters.has(id) && !this.learners.has(id)) {
        this.progress.delete(id);
      }
    }
    for (const id of [...conf.voters, ...conf.learners]) {
      let pr = this.progress.get(id);
      if (!pr) {
        pr = new Progress(nextIndex, this.#limits);
        // A new member counts as active so CheckQuorum does not depose the
        // leader before the member has had a chance to answer.
        pr.recentActive = true;
        this.progress.set(id, pr);
      }
      pr.isLearner = this.learners.has(id);
    }
  }

  /** Makes a fresh progress for every member (on a change of role or term). */
  resetProgress(nextIndex: number): void {
    for (const id of [...this.progress.keys()]) {
      const pr = new Progress(nextIndex, this.#limits);
      pr.isLearner = this.learners.has(id);
      this.progress.set(id, pr);
    }
  }

  /** Votes needed to win, and acknowledgements needed to commit. */
  quorum(): number {
    return Math.floor(this.voters.size / 2) + 1;
  }

  /** True when `id` is the only voter. */
  isSingleton(id: NodeId): boolean {
    return this.voters.size === 1 && this.voters.has(id);
  }

  /** The highest index a quorum of voters has matched. */
  committed(): number {
    const n = this.voters.size;
    if (n === 0) return 0;
    const matches: number[] = [];
    for (const id of this.voters) {
      matches.push(this.progress.get(id)?.match ?? 0);
    }
    matches.sort((a, b) => b - a);
    return matches[this.quorum() - 1];
  }

  /** Records a vote (the first one from a node counts). */
  recordVote(id: NodeId, granted: boolean): void {
    if (!this.votes.has(id)) this.votes.set(id, granted);
  }

  /** Counts votes among the voters. */
  voteResult(): VoteResult {
    const { granted, rejected } = this.tally();
    const q = this.quorum();
    if (granted >= q) return "won";
    if (this.voters.size - rejected < q) return "lost";
    return "pending";
  }

  /** Votes granted and rejected so far. */
  tally(): { granted: number; rejected: number } {
    let granted = 0;
    let rejected = 0;
    for (const id of this.voters) {
      const v = this.votes.get(id);
      if (v === true) granted++;
      else if (v === false) rejected++;
    }
    return { granted, rejected };
  }

  /** True when a quorum of voters (counting `self`) was recently active. */
  quorumActive(self: NodeId): boolean {
    let active = 0;
    for (const id of this.voters) {
      if (id === self || this.progress.get(id)?.recentActive) active++;
    }
    return active >= this.quorum();
  }
}
