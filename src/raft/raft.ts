/**
 * The Raft consensus core: a pure, deterministic state machine in the style
 * of etcd-io/raft. It does no I/O and reads no clock; the host drives it
 * with {@linkcode Raft.tick}, {@linkcode Raft.step} and the propose calls,
 * and carries out each {@linkcode Ready} before calling
 * {@linkcode Raft.advance}.
 *
 * Section references (§) are to the Raft paper and Ongaro's thesis.
 *
 * @module
 */

import {
  applyConfChange,
  decodeConfChange,
  encodeConfChange,
} from "./confchange.ts";
import { ProposalDroppedError, RaftInvariantError } from "./errors.ts";
import { RaftLog } from "./log.ts";
import { mulberry32, randomInt } from "./rand.ts";
import { ReadOnly } from "./read_only.ts";
import {
  SnapshotTemporarilyUnavailableError,
  type Storage,
} from "./storage.ts";
import { ProgressTracker } from "./tracker.ts";
import {
  type ConfChange,
  type ConfState,
  entriesSize,
  type Entry,
  EntryType,
  type HardState,
  hardStateEqual,
  isEmptySnapshot,
  type Message,
  type MessageType,
  type NodeId,
  type ReadState,
  type Ready,
  type Role,
  type Snapshot,
  type SoftState,
} from "./types.ts";
import type { ProgressState } from "./progress.ts";

/** The context a vote request carries when it is part of a leadership transfer. */
export const TRANSFER_CONTEXT = "transfer";

/** A structured event from the core, for logs (leadership, membership, snapshots). */
export interface RaftEvent {
  /** What happened, for example `"becameLeader"`. */
  event: string;
  /** Details: term, leader, configuration, index. */
  [field: string]: unknown;
}

/**
 * Deliberately broken behaviour, only for proving that the simulator's
 * safety checks catch bugs. Never set these outside tests.
 */
export interface TestingKnobs {
  /** Grant any vote request, even after voting for someone else this term. */
  voteTwice?: boolean;
  /** Commit entries of earlier terms by counting replicas (the Figure 8 bug). */
  commitPreviousTermByCounting?: boolean;
  /** Serve read-index requests without the heartbeat round that confirms leadership. */
  skipReadIndexQuorum?: boolean;
}

/** How a core is built. Only `id` and `storage` are required. */
export interface RaftConfig {
  /** This node's id. */
  id: NodeId;
  /** The persisted log the core reads. */
  storage: Storage;
  /** The state machine's applied index on start (e.g. its snapshot's index). */
  applied?: number;
  /** Minimum election timeout in ticks (default 15, i.e. 150 ms at 10 ms ticks). */
  electionTicks?: number;
  /** Maximum randomized election timeout in ticks, inclusive (default 2 × electionTicks). */
  electionTicksMax?: number;
  /** Heartbeat interval in ticks (default 5). */
  heartbeatTicks?: number;
  /** Largest entries payload in one AppendEntries, in bytes (default 1 MiB). */
  maxSizePerMsg?: number;
  /** Most AppendEntries in flight to one follower (default 256). */
  maxInflight?: number;
  /** Most bytes in flight to one follower (default 32 MiB; 0 = unlimited). */
  maxInflightBytes?: number;
  /** Most bytes of committed entries in one Ready (default 64 MiB). */
  maxCommittedSizePerReady?: number;
  /** Run a PreVote round before a real election (default true). */
  preVote?: boolean;
  /** Leader steps down without a recent quorum; voters ignore votes while a leader is alive (default true). */
  checkQuorum?: boolean;
  /** A seeded source of randomness for election timeouts. */
  random?: () => number;
  /** Receives structured events. */
  logger?: (event: RaftEvent) => void;
  /** Planted bugs for testing the tests. */
  testingKnobs?: TestingKnobs;
}

/** A snapshot of a core's state for status pages and tests. */
export interface RaftStatus {
  /** This node. */
  id: NodeId;
  /** Current term. */
  term: number;
  /** Vote in the current term. */
  vote: NodeId;
  /** Known leader or `""`. */
  leader: NodeId;
  /** Role. */
  role: Role;
  /** Commit index. */
  commit: number;
  /** Applied index. */
  applied: number;
  /** Last log index. */
  lastIndex: number;
  /** Index of the snapshot the log starts after. */
  snapshotIndex: number;
  /** The configuration in effect. */
  conf: ConfState;
  /** The transfer target while a transfer is in progress. */
  leadTransferee: NodeId;
  /** On a leader: each member's replication progress. */
  progress: Record<
    NodeId,
    { match: number; next: number; state: ProgressState; recentActive: boolean }
  >;
}

type CampaignType = "preElection" | "election" | "transfer";

/**
 * The consensus core of one node. It does no I/O: the host ticks it, steps
 * peer messages into it, and carries out each {@linkcode Ready} before
 * calling {@linkcode Raft.advance}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryStorage } from "../storage/mod.ts";
 * import { Raft } from "./mod.ts";
 *
 * const storage = new MemoryStorage({ conf: { voters: ["n1"], learners: [] } });
 * const raft = new Raft({ id: "n1", storage });
 * raft.campaign(); // a single voter elects itself
 * while (raft.hasReady()) {
 *   const rd = raft.ready();
 *   storage.save(rd); // persist first
 *   // then send rd.messages, apply rd.committedEntries, serve rd.readStates
 *   raft.advance();
 * }
 * assert.equal(raft.role, "leader");
 * ```
 */
export class Raft {
  /** This node's id. */
  readonly id: NodeId;
  /** Current term. */
  term = 0;
  /** Whom this node voted for in `term`. */
  vote: NodeId = "";
  /** The leader of `term` as far as we know. */
  lead: NodeId = "";
  /** Current role. */
  role: Role = "follower";
  /**
   * The log. For the node runtime, the simulator and tests: the public
   * view is {@linkcode Raft.status}.
   *
   * @internal
   */
  readonly log: RaftLog;
  /**
   * Configuration and peer progress. For the node runtime, the simulator
   * and tests: the public view is {@linkcode Raft.status}.
   *
   * @internal
   */
  readonly tracker: ProgressTracker;

  #msgs: Message[] = [];
  #readStates: ReadState[] = [];
  readonly #readOnly = new ReadOnly();
  #pendingReadIndex: Message[] = [];

  #electionElapsed = 0;
  #heartbeatElapsed = 0;
  #randomizedElectionTimeout = 0;
  readonly #electionTimeout: number;
  readonly #electionTimeoutMax: number;
  readonly #heartbeatTimeout: number;
  readonly #maxMsgSize: number;
  readonly #maxCommittedSize: number;
  readonly #preVote: boolean;
  readonly #checkQuorum: boolean;
  readonly #random: () => number;
  readonly #logger?: (event: RaftEvent) => void;
  readonly #knobs: TestingKnobs;

  #leadTransferee: NodeId = "";
  // A conf change may not be proposed while the log holds one above this
  // index that is not yet committed (one change at a time, §4.1).
  #pendingConfIndex = 0;
  // Every configuration-change entry in the log (and the base configuration
  // of the snapshot), so that truncating the log can restore the previous
  // configuration: a configuration is in effect once appended (§4.1).
  #confLog: { index: number; conf: ConfState }[] = [];

  // What the last Ready handed out, for advance() and change detection.
  #prevSoft: SoftState;
  #prevHard: HardState;
  #inFlightReady?: {
    lastEntry?: { index: number; term: number };
    snapshotIndex?: number;
    appliedTo: number;
  };

  /** Builds a core from persisted state in `config.storage`. */
  constructor(config: RaftConfig) {
    if (!config.id) throw new Error("Raft config needs a non-empty id");
    this.id = config.id;
    this.#electionTimeout = config.electionTicks ?? 15;
    this.#electionTimeoutMax = config.electionTicksMax ??
      this.#electionTimeout * 2;
    this.#heartbeatTimeout = config.heartbeatTicks ?? 5;
    if (this.#heartbeatTimeout >= this.#electionTimeout) {
      throw new Error(
        "Heartbeat interval must be shorter than the election timeout",
      );
    }
    if (this.#electionTimeoutMax < this.#electionTimeout) {
      throw new Error("electionTicksMax must be at least electionTicks");
    }
    this.#maxMsgSize = config.maxSizePerMsg ?? 1024 * 1024;
    this.#maxCommittedSize = config.maxCommittedSizePerReady ??
      64 * 1024 * 1024;
    this.#preVote = config.preVote ?? true;
    this.#checkQuorum = config.checkQuorum ?? true;
    this.#random = config.random ?? mulberry32(hashString(config.id));
    this.#logger = config.logger;
    this.#knobs = config.testingKnobs ?? {};
    this.tracker = new ProgressTracker({
      maxInflight: config.maxInflight ?? 256,
      maxInflightBytes: config.maxInflightBytes ?? 32 * 1024 * 1024,
    });

    const storage = config.storage;
    this.log = new RaftLog(storage, config.applied ?? 0);
    const { hardState, confState } = storage.initialState();
    this.#loadConfLog(confState);
    if (hardState.commit > this.log.lastIndex()) {
      throw new RaftInvariantError(
        `Persisted commit ${hardState.commit} is beyond the last log index ${this.log.lastIndex()}; the log was lost or truncated`,
      );
    }
    if (hardState.term > 0 || hardState.commit > 0) {
      this.term = hardState.term;
      this.vote = hardState.vote;
      this.log.commitTo(Math.max(hardState.commit, this.log.committed));
    }
    if (config.applied !== undefined && config.applied > this.log.committed) {
      throw new RaftInvariantError(
        `Applied index ${config.applied} is beyond the commit index ${this.log.committed}`,
      );
    }
    this.becomeFollower(this.term, "");
    this.#prevSoft = this.#softState();
    this.#prevHard = this.hardState();
  }

  // ---------------------------------------------------------------- inputs

  /** Advances logical time by one tick (10 ms by default). */
  tick(): void {
    if (this.role === "leader") this.#tickHeartbeat();
    else this.#tickElection();
  }

  /** Starts an election now (PreVote first when enabled). */
  campaign(): void {
    this.step({ type: "hup", from: this.id, to: this.id, term: 0 });
  }

  /**
   * Proposes commands to append to the log. Throws
   * {@linkcode ProposalDroppedError} when this node knows of no leader, or
   * the leader is transferring leadership.
   */
  propose(...data: Uint8Array[]): void {
    if (data.length === 0) return;
    const entries: Entry[] = data.map((d) => ({
      term: 0,
      index: 0,
      type: EntryType.Normal,
      data: d,
    }));
    this.step({ type: "prop", from: this.id, to: this.id, term: 0, entries });
  }

  /** Proposes a membership change; one may be pending at a time. */
  proposeConfChange(change: ConfChange): void {
    // The resulting configuration is computed by the leader when it appends.
    const data = new TextEncoder().encode(JSON.stringify({ change }));
    this.step({
      type: "prop",
      from: this.id,
      to: this.id,
      term: 0,
      entries: [{ term: 0, index: 0, type: EntryType.ConfChange, data }],
    });
  }

  /**
   * Requests a linearizable read. When leadership is confirmed a
   * {@linkcode ReadState} with this `context` appears in a Ready; serve the
   * read once the state machine has applied its index.
   */
  readIndex(context: string): void {
    this.step({
      type: "readIndex",
      from: this.id,
      to: this.id,
      term: 0,
      context,
    });
  }

  /** Asks the leader to hand leadership to `to`. */
  transferLeader(to: NodeId): void {
    this.step({
      type: "transferLeader",
      from: this.id,
      to: this.id,
      term: 0,
      transferee: to,
    });
  }

  /** The host reports whether a snapshot reached `to`. */
  reportSnapshot(to: NodeId, ok: boolean): void {
    this.step({
      type: "snapStatus",
      from: to,
      to: this.id,
      term: 0,
      reject: !ok,
    });
  }

  /** The host reports that `to` could not be reached. */
  reportUnreachable(to: NodeId): void {
    this.step({ type: "unreachable", from: to, to: this.id, term: 0 });
  }

  /** Feeds one message (from a peer, or local) into the core. */
  step(m: Message): void {
    if (m.term === 0) {
      // Local message or forwarded request: no term to compare.
    } else if (m.term > this.term) {
      if (m.type === "vote" || m.type === "preVote") {
        const force = m.context === TRANSFER_CONTEXT;
        const inLease = this.#checkQuorum && this.lead !== "" &&
          this.#electionElapsed < this.#electionTimeout;
        // §4.2.3: a node that heard from a live leader within the minimum
        // election timeout ignores votes, so removed or partitioned nodes
        // cannot disrupt the cluster.
        if (!force && inLease) return;
      }
      if (m.type === "preVote") {
        // Never change our term in response to a PreVote.
      } else if (m.type === "preVoteResp" && !m.reject) {
        // We raise our term once a quorum grants the PreVote.
      } else if (
        m.type === "app" || m.type === "heartbeat" || m.type === "snap"
      ) {
        this.becomeFollower(m.term, m.from);
      } else {
        this.becomeFollower(m.term, "");
      }
    } else if (m.term < this.term) {
      if (
        (this.#checkQuorum || this.#preVote) &&
        (m.type === "heartbeat" || m.type === "app")
      ) {
        // A stale leader (say, after a partition) would otherwise never learn
        // of the new term: our PreVotes do not raise its term and it ignores
        // lower ones. Tell it with a response at our term.
        this.#send({ type: "appResp", to: m.from, term: this.term });
      } else if (m.type === "preVote") {
        this.#send({
          type: "preVoteResp",
          to: m.from,
          term: this.term,
          reject: true,
        });
      }
      return;
    }

    switch (m.type) {
      case "hup":
        this.#hup(this.#preVote ? "preElection" : "election");
        return;
      case "vote":
      case "preVote":
        this.#handleVoteRequest(m);
        return;
    }
    switch (this.role) {
      case "leader":
        this.#stepLeader(m);
        return;
      case "candidate":
      case "preCandidate":
        this.#stepCandidate(m);
        return;
      case "follower":
        this.#stepFollower(m);
        return;
    }
  }

  // ------------------------------------------------------------- Ready I/O

  /** True when there is something for the host to do. */
  /**
   * Set by the host just before stepping a read request: this leader's
   * leadership is confirmed by its lease (a quorum heard from it recently
   * enough, by the host's clock), so the request is answered at once
   * instead of after a heartbeat round. The core keeps no clock of its own.
   */
  leaseConfirmed = false;

  /** The node leadership is being handed to, or "" when no transfer runs. */
  get leadTransferee(): NodeId {
    return this.#leadTransferee;
  }

  /**
   * Whether this leader has committed an entry of its own term, so its
   * commit index is the cluster's (§6.4: before that, reads must wait).
   */
  committedInCurrentTerm(): boolean {
    return this.#committedEntryInCurrentTerm();
  }

  /**
   * Whether there is a {@linkcode Ready} to hand out: messages, entries to
   * persist or apply, a snapshot, read states, or a changed hard state,
   * role or leader. Always false while the previous Ready awaits
   * {@linkcode Raft.advance}.
   */
  hasReady(): boolean {
    if (this.#inFlightReady) return false;
    if (this.#msgs.length > 0 || this.#readStates.length > 0) return true;
    if (this.log.unstable.entries.length > 0) return true;
    if (this.log.unstable.snapshot) return true;
    if (this.log.hasNextCommittedEntries()) return true;
    const soft = this.#softState();
    if (
      soft.leader !== this.#prevSoft.leader || soft.role !== this.#prevSoft.role
    ) {
      return true;
    }
    return !hardStateEqual(this.hardState(), this.#prevHard);
  }

  /**
   * What the host must do now. Call {@linkcode advance} when done, before
   * asking for the next Ready.
   */
  ready(): Ready {
    if (this.#inFlightReady) {
      throw new RaftInvariantError("ready() called again before advance()");
    }
    const entries = this.log.unstableEntries();
    const snapshot = this.log.unstable.snapshot;
    const committedEntries = this.log.nextCommittedEntries(
      this.#maxCommittedSize,
    );
    const rd: Ready = {
      entries,
      committedEntries,
      messages: withoutSupersededAppends(this.#msgs),
      readStates: this.#readStates,
      mustSync: false,
    };
    if (snapshot) rd.snapshot = snapshot;
    const soft = this.#softState();
    if (
      soft.leader !== this.#prevSoft.leader || soft.role !== this.#prevSoft.role
    ) {
      rd.softState = soft;
      this.#prevSoft = soft;
    }
    const hard = this.hardState();
    if (!hardStateEqual(hard, this.#prevHard)) {
      rd.hardState = hard;
      rd.mustSync = hard.term !== this.#prevHard.term ||
        hard.vote !== this.#prevHard.vote;
      this.#prevHard = hard;
    }
    if (entries.length > 0 || snapshot) rd.mustSync = true;
    this.#msgs = [];
    this.#readStates = [];

    const last = entries.length > 0 ? entries[entries.length - 1] : undefined;
    let appliedTo = this.log.applying;
    if (committedEntries.length > 0) {
      appliedTo = committedEntries[committedEntries.length - 1].index;
      this.log.applying = appliedTo;
    }
    this.#inFlightReady = {
      lastEntry: last ? { index: last.index, term: last.term } : undefined,
      snapshotIndex: snapshot?.metadata.index,
      appliedTo,
    };
    return rd;
  }

  /**
   * Removes and returns the proposals and read requests this node forwards
   * to its leader. They promise nothing about this node's log, so the host
   * may send them while the last Ready is still being persisted (a write
   * waiting for disk space must not hold up the space alarm).
   */
  takeForwarded(): Message[] {
    if (this.#msgs.length === 0) return [];
    const out: Message[] = [];
    const keep: Message[] = [];
    for (const m of this.#msgs) {
      if ((m.type === "prop" || m.type === "readIndex") && m.to !== this.id) {
        out.push(m);
      } else keep.push(m);
    }
    if (out.length > 0) this.#msgs = keep;
    return out;
  }

  /**
   * Acknowledges the last Ready: its entries and snapshot are durable and its
   * committed entries applied.
   */
  advance(): void {
    const rd = this.#inFlightReady;
    if (!rd) return;
    this.#inFlightReady = undefined;
    if (rd.snapshotIndex !== undefined) {
      this.log.stableSnapTo(rd.snapshotIndex);
      if (this.log.applied < rd.snapshotIndex) {
        this.log.applied = rd.snapshotIndex;
        this.log.applying = Math.max(this.log.applying, rd.snapshotIndex);
      }
    }
    if (rd.lastEntry) {
      const { index, term } = rd.lastEntry;
      this.log.stableTo(index, term);
      // The leader's own copy counts toward a quorum once it is durable, so
      // its disk write runs in parallel with the followers' (§10.2.1).
      if (this.role === "leader" && this.log.unstable.offset > index) {
        const pr = this.tracker.progress.get(this.id);
        if (pr && this.log.term(index) === term && pr.maybeUpdate(index)) {
          if (this.#maybeCommit()) this.#afterCommit();
        }
      }
    }
    if (rd.appliedTo > this.log.applied) this.log.appliedTo(rd.appliedTo);
  }

  // ---------------------------------------------------------------- status

  /** The state to persist. */
  hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed };
  }

  /** The configuration in effect (the newest in the log). */
  confState(): ConfState {
    return this.tracker.confState();
  }

  /** Everything a status page or test wants to know. */
  status(): RaftStatus {
    const progress: RaftStatus["progress"] = {};
    if (this.role === "leader") {
      for (const [id, pr] of this.tracker.progress) {
        progress[id] = {
          match: pr.match,
          next: pr.next,
          state: pr.state,
          recentActive: pr.recentActive,
        };
      }
    }
    return {
      id: this.id,
      term: this.term,
      vote: this.vote,
      leader: this.lead,
      role: this.role,
      commit: this.log.committed,
      applied: this.log.applied,
      lastIndex: this.log.lastIndex(),
      snapshotIndex: this.log.firstIndex() - 1,
      conf: this.confState(),
      leadTransferee: this.#leadTransferee,
      progress,
    };
  }

  /** True when this node is a voter in the configuration in effect. */
  promotable(): boolean {
    return this.tracker.voters.has(this.id);
  }

  // ------------------------------------------------------------ transitions

  /** Becomes a follower of `lead` in `term`. */
  becomeFollower(term: number, lead: NodeId): void {
    const was = this.role;
    this.#reset(term);
    this.lead = lead;
    this.role = "follower";
    if (was === "leader") {
      this.#emit({ event: "steppedDown", term, leader: lead });
    }
  }

  #becomeCandidate(): void {
    if (this.role === "leader") {
      throw new RaftInvariantError("A leader cannot become a candidate");
    }
    this.#reset(this.term + 1);
    this.vote = this.id;
    this.role = "candidate";
  }

  #becomePreCandidate(): void {
    if (this.role === "leader") {
      throw new RaftInvariantError("A leader cannot become a pre-candidate");
    }
    // PreVote changes neither term nor vote.
    this.tracker.votes.clear();
    this.lead = "";
    this.role = "preCandidate";
  }

  #becomeLeader(): void {
    if (this.role === "follower") {
      throw new RaftInvariantError(
        "A follower cannot become leader without an election",
      );
    }
    this.#reset(this.term);
    this.lead = this.id;
    this.role = "leader";
    const self = this.tracker.progress.get(this.id);
    if (self) self.becomeReplicate();
    // The no-op that lets this term commit, and with it all earlier entries (§5.4.2, §8).
    this.#appendEntries([{
      term: 0,
      index: 0,
      type: EntryType.Normal,
      data: new Uint8Array(),
    }]);
    // No configuration change until the no-op commits: the fix for the
    // single-server membership bug (Ongaro, raft-dev 2015).
    this.#pendingConfIndex = this.log.lastIndex();
    this.#emit({
      event: "becameLeader",
      term: this.term,
      lastIndex: this.log.lastIndex(),
    });
  }

  #reset(term: number): void {
    if (this.term !== term) {
      this.term = term;
      this.vote = "";
    }
    this.lead = "";
    this.#electionElapsed = 0;
    this.#heartbeatElapsed = 0;
    this.#randomizedElectionTimeout = randomInt(
      this.#random,
      this.#electionTimeout,
      this.#electionTimeoutMax,
    );
    this.#leadTransferee = "";
    this.tracker.votes.clear();
    this.tracker.resetProgress(this.log.lastIndex() + 1);
    const self = this.tracker.progress.get(this.id);
    // Only durable entries count toward the leader's own match.
    if (self) self.match = this.#stableLastIndex();
    this.#pendingConfIndex = 0;
    this.#readOnly.reset();
    this.#pendingReadIndex = [];
  }

  #stableLastIndex(): number {
    if (this.log.unstable.snapshot) return 0;
    return this.log.unstable.offset - 1;
  }

  // -------------------------------------------------------------- elections

  #tickElection(): void {
    this.#electionElapsed++;
    if (
      this.promotable() &&
      this.#electionElapsed >= this.#randomizedElectionTimeout
    ) {
      this.#electionElapsed = 0;
      this.step({ type: "hup", from: this.id, to: this.id, term: 0 });
    }
  }

  #tickHeartbeat(): void {
    this.#heartbeatElapsed++;
    this.#electionElapsed++;
    if (this.#electionElapsed >= this.#electionTimeout) {
      this.#electionElapsed = 0;
      if (this.#checkQuorum) {
        if (!this.tracker.quorumActive(this.id)) {
          // §6.2: a leader that cannot reach a quorum steps down, so clients
          // can find the real leader.
          this.#emit({ event: "lostQuorum", term: this.term });
          this.becomeFollower(this.term, "");
          return;
        }
        for (const [id, pr] of this.tracker.progress) {
          if (id !== this.id) pr.recentActive = false;
        }
      }
      if (this.#leadTransferee !== "") {
        this.#emit({
          event: "transferAborted",
          term: this.term,
          to: this.#leadTransferee,
        });
        this.#leadTransferee = "";
      }
    }
    if (this.role !== "leader") return;
    if (this.#heartbeatElapsed >= this.#heartbeatTimeout) {
      this.#heartbeatElapsed = 0;
      this.#bcastHeartbeat();
    }
  }

  #hup(t: CampaignType): void {
    if (this.role === "leader") return;
    if (!this.promotable()) return;
    this.#campaign(t);
  }

  #campaign(t: CampaignType): void {
    let term: number;
    let voteMsg: MessageType;
    if (t === "preElection") {
      this.#becomePreCandidate();
      voteMsg = "preVote";
      // PreVote asks about the term we would use, without moving to it.
      term = this.term + 1;
    } else {
      this.#becomeCandidate();
      voteMsg = "vote";
      term = this.term;
    }
    this.#emit({
      event: t === "preElection" ? "preCampaign" : "campaign",
      term,
    });
    this.tracker.recordVote(this.id, true);
    if (this.tracker.voteResult() === "won") {
      // A single-voter cluster wins at once.
      if (t === "preElection") this.#campaign("election");
      else this.#becomeLeader();
      return;
    }
    const lastIndex = this.log.lastIndex();
    const lastTerm = this.log.lastTerm();
    for (const id of [...this.tracker.voters].sort()) {
      if (id === this.id) continue;
      const m: Message = {
        type: voteMsg,
        from: this.id,
        to: id,
        term,
        index: lastIndex,
        logTerm: lastTerm,
      };
      if (t === "transfer") m.context = TRANSFER_CONTEXT;
      this.#msgs.push(m);
    }
  }

  #handleVoteRequest(m: Message): void {
    // §5.2, §5.4.1: at most one vote per term, and only for a log at least
    // as up to date as ours. A PreVote for a later term is fine to grant.
    const canVote = this.#knobs.voteTwice ||
      this.vote === m.from ||
      (this.vote === "" && this.lead === "") ||
      (m.type === "preVote" && m.term > this.term);
    const respType: MessageType = m.type === "vote"
      ? "voteResp"
      : "preVoteResp";
    if (canVote && this.log.isUpToDate(m.index ?? 0, m.logTerm ?? 0)) {
      // The response carries the request's term so a PreVote grant is not
      // mistaken for a stale message.
      this.#send({ type: respType, to: m.from, term: m.term });
      if (m.type === "vote") {
        this.#electionElapsed = 0;
        this.vote = m.from;
      }
    } else {
      this.#send({ type: respType, to: m.from, term: this.term, reject: true });
    }
  }

  // ---------------------------------------------------------------- leader

  #stepLeader(m: Message): void {
    switch (m.type) {
      case "beat":
        this.#bcastHeartbeat();
        return;
      case "prop":
        this.#leaderPropose(m);
        return;
      case "readIndex":
        if (
          this.tracker.isSingleton(this.id) ||
          this.#knobs.skipReadIndexQuorum ||
          (this.leaseConfirmed && this.#leadTransferee === "" &&
            this.#committedEntryInCurrentTerm())
        ) {
          this.#respondToReadIndex(m, this.log.committed);
          return;
        }
        // §6.4: until this term has committed an entry the leader may not
        // know the latest commit index; hold reads until then.
        if (!this.#committedEntryInCurrentTerm()) {
          this.#pendingReadIndex.push(m);
          return;
        }
        this.#sendReadIndexHeartbeat(m);
        return;
      case "transferLeader":
        this.#leaderTransfer(m);
        return;
    }

    const pr = this.tracker.progress.get(m.from);
    if (!pr) return;
    switch (m.type) {
      case "appResp": {
        pr.recentActive = true;
        if (m.reject) {
          // Fast backtracking: jump to the last index where the follower's
          // log could match ours, by the follower's hint term.
          let nextProbe = m.rejectHint ?? 0;
          if ((m.logTerm ?? 0) > 0) {
            nextProbe = this.log.findConflictByTerm(nextProbe, m.logTerm!);
          }
          if (pr.maybeDecrTo(m.index ?? 0, nextProbe)) {
            if (pr.state === "replicate") pr.becomeProbe();
            this.#sendAppend(m.from);
          }
          return;
        }
        const oldPaused = pr.isPaused();
        const index = m.index ?? 0;
        // A probe answered at the known match point also ends probing.
        if (
          !pr.maybeUpdate(index) &&
          !(pr.match === index && pr.state === "probe")
        ) {
          if (pr.state === "snapshot" && pr.match >= pr.pendingSnapshot) {
            pr.becomeProbe();
          }
          return;
        }
        if (pr.state === "probe") {
          pr.becomeReplicate();
        } else if (pr.state === "snapshot" && pr.match >= pr.pendingSnapshot) {
          pr.becomeProbe();
          pr.becomeReplicate();
        } else if (pr.state === "replicate") {
          pr.inflights.freeLE(index);
        }
        if (this.#maybeCommit()) {
          this.#afterCommit();
        } else if (oldPaused) {
          this.#sendAppend(m.from);
        }
        // Fill the window now that it has room.
        while (this.#maybeSendAppend(m.from, false)) { /* keep sending */ }
        if (
          m.from === this.#leadTransferee && pr.match === this.log.lastIndex()
        ) {
          this.#emit({
            event: "transferTimeoutNow",
            term: this.term,
            to: m.from,
          });
          this.#send({ type: "timeoutNow", to: m.from, term: this.term });
        }
        return;
      }
      case "heartbeatResp": {
        pr.recentActive = true;
        pr.msgAppFlowPaused = false;
        // A full window with a live peer means an AppendEntries was lost:
        // free a slot so a send gets through and exposes the gap.
        if (pr.state === "replicate" && pr.inflights.full()) {
          pr.inflights.freeFirstOne();
        }
        if (pr.match < this.log.lastIndex()) this.#sendAppend(m.from);
        if (m.context === undefined) return;
        const acks = this.#readOnly.recvAck(m.from, m.context);
        if (!acks) return;
        let ackVoters = 0;
        for (const id of acks) if (this.tracker.voters.has(id)) ackVoters++;
        if (ackVoters < this.tracker.quorum()) return;
        for (const rs of this.#readOnly.advance(m.context)) {
          this.#respondToReadIndex(rs.request, rs.index);
        }
        return;
      }
      case "snapStatus":
        if (pr.state !== "snapshot") return;
        if (m.reject) pr.pendingSnapshot = 0;
        pr.becomeProbe();
        // Wait for a heartbeat response before probing again.
        pr.msgAppFlowPaused = true;
        return;
      case "unreachable":
        if (pr.state === "replicate") pr.becomeProbe();
        return;
    }
  }

  #leaderPropose(m: Message): void {
    const entries = m.entries ?? [];
    if (entries.length === 0) return;
    if (!this.tracker.progress.has(this.id)) {
      this.#drop(
        m,
        "This node was removed from the cluster and no longer accepts proposals",
      );
      return;
    }
    if (this.#leadTransferee !== "") {
      this.#drop(
        m,
        `Leadership is being transferred to ${this.#leadTransferee}; retry shortly`,
      );
      return;
    }
    const out: Entry[] = [];
    let conf = this.tracker.confState();
    let pendingConf = this.#pendingConfIndex;
    let i = this.log.lastIndex();
    for (const e of entries) {
      i++;
      if (e.type !== EntryType.ConfChange) {
        out.push({ term: 0, index: 0, type: EntryType.Normal, data: e.data });
        continue;
      }
      let change: ConfChange;
      try {
        change = (JSON.parse(new TextDecoder().decode(e.data)) as {
          change: ConfChange;
        }).change;
      } catch {
        this.#drop(m, "Configuration change is malformed");
        return;
      }
      if (pendingConf > this.log.committed) {
        this.#drop(
          m,
          "A configuration change is already in progress; retry once it commits",
        );
        return;
      }
      const next = applyConfChange(conf, change);
      if (typeof next === "string") {
        this.#drop(m, next);
        return;
      }
      conf = next;
      pendingConf = i;
      out.push({
        term: 0,
        index: 0,
        type: EntryType.ConfChange,
        data: encodeConfChange({ change, conf: next }),
      });
    }
    this.#pendingConfIndex = pendingConf;
    this.#appendEntries(out);
    this.#bcastAppend();
  }

  #appendEntries(es: Entry[]): void {
    let li = this.log.lastIndex();
    const ents: Entry[] = es.map((e) => ({
      ...e,
      term: this.term,
      index: ++li,
    }));
    this.#logAppend(ents);
    // A single voter commits once its own write is durable (see advance()).
  }

  #leaderTransfer(m: Message): void {
    const to = m.transferee ?? m.from;
    const pr = this.tracker.progress.get(to);
    if (!pr || pr.isLearner) {
      this.#drop(
        m,
        `Cannot transfer leadership to ${to}: it is not a voting member`,
      );
      return;
    }
    if (this.#leadTransferee !== "") {
      if (this.#leadTransferee === to) return;
      this.#leadTransferee = "";
    }
    if (to === this.id) return;
    this.#emit({ event: "transferStarted", term: this.term, to });
    // The transfer must finish within one election timeout (§3.10).
    this.#electionElapsed = 0;
    this.#leadTransferee = to;
    if (pr.match === this.log.lastIndex()) {
      this.#send({ type: "timeoutNow", to, term: this.term });
    } else {
      this.#sendAppend(to);
    }
  }

  #committedEntryInCurrentTerm(): boolean {
    return this.log.term(this.log.committed) === this.term;
  }

  #sendReadIndexHeartbeat(m: Message): void {
    // The heartbeat carries the leader's own id for this read, so requests
    // with equal contexts from different nodes never merge.
    const round = this.#readOnly.addRequest(this.log.committed, m);
    this.#readOnly.recvAck(this.id, round);
    this.#bcastHeartbeat(round);
  }

  #respondToReadIndex(req: Message, index: number): void {
    if (req.from === this.id) {
      this.#readStates.push({ index, context: req.context ?? "" });
    } else {
      this.#send({
        type: "readIndexResp",
        to: req.from,
        term: this.term,
        index,
        context: req.context,
      });
    }
  }

  #maybeCommit(): boolean {
    const mci = this.tracker.committed();
    if (this.#knobs.commitPreviousTermByCounting) {
      if (mci > this.log.committed && mci <= this.log.lastIndex()) {
        this.log.commitTo(mci);
        return true;
      }
      return false;
    }
    return this.log.maybeCommit(mci, this.term);
  }

  // After the leader's commit index moved: tell followers, release held
  // reads, and step down if this leader's removal just committed.
  #afterCommit(): void {
    if (
      this.#pendingReadIndex.length > 0 && this.#committedEntryInCurrentTerm()
    ) {
      const held = this.#pendingReadIndex;
      this.#pendingReadIndex = [];
      for (const m of held) this.#stepLeader(m);
    }
    if (!this.tracker.voters.has(this.id)) {
      const latest = this.#confLog[this.#confLog.length - 1];
      if (latest.index <= this.log.committed) {
        this.#emit({ event: "removedStepDown", term: this.term });
        this.#bcastAppend();
        this.becomeFollower(this.term, "");
        return;
      }
    }
    this.#bcastAppend();
  }

  #bcastAppend(): void {
    for (const id of this.tracker.progress.keys()) {
      if (id !== this.id) this.#sendAppend(id);
    }
  }

  #bcastHeartbeat(ctx = this.#readOnly.lastPendingContext()): void {
    for (const [id, pr] of this.tracker.progress) {
      if (id === this.id) continue;
      // Never tell a follower a commit index beyond what it is known to hold.
      const commit = Math.min(pr.match, this.log.committed);
      const m: Message = {
        type: "heartbeat",
        from: this.id,
        to: id,
        term: this.term,
        commit,
      };
      if (ctx !== undefined) m.context = ctx;
      this.#send(m);
    }
  }

  #sendAppend(to: NodeId): void {
    this.#maybeSendAppend(to, true);
  }

  // Sends entries (or a snapshot) to `to` if its progress allows; returns
  // whether a message was sent.
  #maybeSendAppend(to: NodeId, sendIfEmpty: boolean): boolean {
    const pr = this.tracker.progress.get(to);
    if (!pr || pr.isPaused()) return false;
    const prevIndex = pr.next - 1;
    const prevTerm = this.log.term(prevIndex);
    let ents: Entry[] | undefined;
    if (prevTerm !== undefined) {
      try {
        ents = this.log.entries(pr.next, this.#maxMsgSize);
      } catch {
        ents = undefined;
      }
    }
    if (ents === undefined || prevTerm === undefined) {
      // The entries were compacted away: send the snapshot instead.
      if (!pr.recentActive) return false;
      let snap: Snapshot;
      try {
        snap = this.log.snapshot();
      } catch (e) {
        if (e instanceof SnapshotTemporarilyUnavailableError) return false;
        throw e;
      }
      if (isEmptySnapshot(snap)) {
        throw new RaftInvariantError(
          `Need a snapshot for ${to} but none exists`,
        );
      }
      pr.becomeSnapshot(snap.metadata.index);
      this.#emit({
        event: "sendSnapshot",
        to,
        index: snap.metadata.index,
        term: this.term,
      });
      this.#send({ type: "snap", to, term: this.term, snapshot: snap });
      return true;
    }
    if (ents.length === 0 && !sendIfEmpty) return false;
    this.#send({
      type: "app",
      to,
      term: this.term,
      index: prevIndex,
      logTerm: prevTerm,
      entries: ents,
      commit: this.log.committed,
    });
    pr.sentEntries(ents.length, entriesSize(ents));
    return true;
  }

  // ------------------------------------------------------------- candidate

  #stepCandidate(m: Message): void {
    const myResp: MessageType = this.role === "preCandidate"
      ? "preVoteResp"
      : "voteResp";
    switch (m.type) {
      case "prop":
        this.#drop(
          m,
          "No leader is known (an election is in progress); retry shortly",
        );
        return;
      case "readIndex":
        this.#drop(
          m,
          "No leader is known (an election is in progress); retry shortly",
        );
        return;
      case "transferLeader":
        this.#drop(m, "No leader is known; cannot transfer leadership");
        return;
      case "app":
        this.becomeFollower(m.term, m.from);
        this.#handleAppendEntries(m);
        return;
      case "heartbeat":
        this.becomeFollower(m.term, m.from);
        this.#handleHeartbeat(m);
        return;
      case "snap":
        this.becomeFollower(m.term, m.from);
        this.#handleSnapshot(m);
        return;
      case "timeoutNow":
        return;
    }
    if (m.type !== myResp) return;
    this.tracker.recordVote(m.from, !m.reject);
    switch (this.tracker.voteResult()) {
      case "won":
        if (this.role === "preCandidate") {
          this.#campaign("election");
        } else {
          this.#becomeLeader();
          this.#bcastAppend();
        }
        return;
      case "lost":
        // A rejection at a higher term already made us a follower in step().
        this.becomeFollower(this.term, "");
        return;
    }
  }

  // -------------------------------------------------------------- follower

  #stepFollower(m: Message): void {
    switch (m.type) {
      case "prop":
        this.#forward(m, "No leader is known; retry once one is elected");
        return;
      case "app":
        this.#electionElapsed = 0;
        this.lead = m.from;
        this.#handleAppendEntries(m);
        return;
      case "heartbeat":
        this.#electionElapsed = 0;
        this.lead = m.from;
        this.#handleHeartbeat(m);
        return;
      case "snap":
        this.#electionElapsed = 0;
        this.lead = m.from;
        this.#handleSnapshot(m);
        return;
      case "transferLeader":
        this.#forward(m, "No leader is known; cannot transfer leadership");
        return;
      case "timeoutNow":
        // §3.10: the leader chose us; campaign at once, skipping PreVote and
        // overriding other nodes' leader lease.
        this.#emit({ event: "timeoutNow", term: this.term, from: m.from });
        this.#hup("transfer");
        return;
      case "readIndex":
        this.#forward(
          m,
          "No leader is known; retry the read once one is elected",
        );
        return;
      case "readIndexResp":
        this.#readStates.push({
          index: m.index ?? 0,
          context: m.context ?? "",
        });
        return;
    }
  }

  // Forwards this node's own request to the leader. A request another node
  // forwarded here (it still thought we led) is dropped, not relayed: a
  // relay would have to speak for the original sender, which peers refuse,
  // and the sender's host retries after its timeout anyway.
  #forward(m: Message, noLeader: string): void {
    if (m.from !== this.id) return;
    if (this.lead === "") {
      this.#drop(m, noLeader);
      return;
    }
    this.#send({ ...m, to: this.lead, term: 0 });
  }

  #handleAppendEntries(m: Message): void {
    const prevIndex = m.index ?? 0;
    const prevTerm = m.logTerm ?? 0;
    if (prevIndex < this.log.committed) {
      this.#send({
        type: "appResp",
        to: m.from,
        term: this.term,
        index: this.log.committed,
      });
      return;
    }
    if (this.log.matchTerm(prevIndex, prevTerm)) {
      const ents = m.entries ?? [];
      const lastNew = prevIndex + ents.length;
      const ci = this.log.findConflict(ents);
      if (ci !== 0) {
        if (ci <= this.log.committed) {
          throw new RaftInvariantError(
            `Entry ${ci} conflicts with a committed entry (commit ${this.log.committed})`,
          );
        }
        this.#logAppend(ents.slice(ci - (prevIndex + 1)));
      }
      this.log.commitTo(Math.min(m.commit ?? 0, lastNew));
      this.#send({
        type: "appResp",
        to: m.from,
        term: this.term,
        index: lastNew,
      });
      return;
    }
    // Reject with a hint: the last index at or below prevIndex whose term is
    // at most prevTerm, so the leader can skip a whole term per round trip.
    let hint = Math.min(prevIndex, this.log.lastIndex());
    hint = this.log.findConflictByTerm(hint, prevTerm);
    this.#send({
      type: "appResp",
      to: m.from,
      term: this.term,
      index: prevIndex,
      reject: true,
      rejectHint: hint,
      logTerm: this.log.term(hint) ?? 0,
    });
  }

  #handleHeartbeat(m: Message): void {
    this.log.commitTo(Math.min(m.commit ?? 0, this.log.lastIndex()));
    const resp: Message = {
      type: "heartbeatResp",
      from: this.id,
      to: m.from,
      term: this.term,
    };
    if (m.context !== undefined) resp.context = m.context;
    this.#send(resp);
  }

  #handleSnapshot(m: Message): void {
    const s = m.snapshot;
    if (!s) return;
    if (this.#restore(s)) {
      this.#emit({
        event: "snapshotRestored",
        index: s.metadata.index,
        term: s.metadata.term,
      });
      this.#send({
        type: "appResp",
        to: m.from,
        term: this.term,
        index: this.log.lastIndex(),
      });
    } else {
      this.#send({
        type: "appResp",
        to: m.from,
        term: this.term,
        index: this.log.committed,
      });
    }
  }

  #restore(s: Snapshot): boolean {
    const { index, term } = s.metadata;
    if (index <= this.log.committed) return false;
    if (this.role !== "follower") {
      throw new RaftInvariantError("Only a follower may restore a snapshot");
    }
    if (this.log.matchTerm(index, term)) {
      // We already have the entries: just commit to the snapshot's index.
      this.log.commitTo(index);
      return false;
    }
    this.log.restore(s);
    this.#confLog = [{ index, conf: s.metadata.conf }];
    this.tracker.applyConf(s.metadata.conf, this.log.lastIndex() + 1);
    return true;
  }

  // ---------------------------------------------------- log and membership

  // Appends to the log and keeps the configuration in step with it: a
  // configuration is in effect as soon as it is in the log, and a
  // truncation that removes a configuration entry reverts to the one before.
  #logAppend(ents: Entry[]): void {
    if (ents.length === 0) return;
    const from = ents[0].index;
    let changed = false;
    while (
      this.#confLog.length > 1 &&
      this.#confLog[this.#confLog.length - 1].index >= from
    ) {
      this.#confLog.pop();
      changed = true;
    }
    this.log.append(ents);
    for (const e of ents) {
      if (e.type === EntryType.ConfChange) {
        this.#confLog.push({
          index: e.index,
          conf: decodeConfChange(e.data).conf,
        });
        changed = true;
      }
    }
    if (changed) this.#switchConf();
  }

  #switchConf(): void {
    const { index, conf } = this.#confLog[this.#confLog.length - 1];
    this.tracker.applyConf(conf, this.log.lastIndex() + 1);
    this.#emit({
      event: "confChanged",
      index,
      voters: conf.voters,
      learners: conf.learners,
      term: this.term,
    });
    if (this.role === "leader") {
      const self = this.tracker.progress.get(this.id);
      if (self && self.state !== "replicate") {
        self.match = this.#stableLastIndex();
        self.becomeReplicate();
      }
      // A smaller quorum lets entries commit at the next acknowledgement.
      if (
        this.#leadTransferee !== "" &&
        !this.tracker.voters.has(this.#leadTransferee)
      ) {
        this.#leadTransferee = "";
      }
    }
  }

  #loadConfLog(base: ConfState): void {
    const first = this.log.firstIndex();
    this.#confLog = [{ index: first - 1, conf: base }];
    const last = this.log.lastIndex();
    if (last >= first) {
      for (const e of this.log.slice(first, last + 1)) {
        if (e.type === EntryType.ConfChange) {
          this.#confLog.push({
            index: e.index,
            conf: decodeConfChange(e.data).conf,
          });
        }
      }
    }
    const { conf } = this.#confLog[this.#confLog.length - 1];
    this.tracker.applyConf(conf, last + 1);
  }

  /** The configuration in effect at log index `index` (for snapshots). */
  confStateAt(index: number): ConfState {
    let conf = this.#confLog[0].conf;
    for (const c of this.#confLog) {
      if (c.index <= index) conf = c.conf;
      else break;
    }
    return { voters: [...conf.voters], learners: [...conf.learners] };
  }

  // ----------------------------------------------------------------- utils

  #send(m: Omit<Message, "from"> & { from?: NodeId }): void {
    this.#msgs.push({ ...m, from: this.id } as Message);
  }

  #drop(m: Message, reason: string): void {
    // A local caller learns why; a forwarded request is dropped silently and
    // the remote host times out (as when a message is lost).
    if (m.from === this.id) throw new ProposalDroppedError(reason);
  }

  #softState(): SoftState {
    return { leader: this.lead, role: this.role };
  }

  #emit(e: RaftEvent): void {
    if (this.#logger) this.#logger({ ...e, id: this.id });
  }
}

/**
 * Leaves out each AppendEntries without entries that a later one to the same
 * follower, in the same term and with a commit index as high, makes
 * redundant. An empty append only tells a follower the commit index (or
 * probes it); a leader that commits and then appends new proposals before
 * its host takes the Ready would otherwise send both, and the follower
 * would step and answer both. Leaving a message out is always safe in Raft.
 */
function withoutSupersededAppends(msgs: Message[]): Message[] {
  if (msgs.length < 2) return msgs;
  const lastApp = new Map<NodeId, Message>();
  for (const m of msgs) if (m.type === "app") lastApp.set(m.to, m);
  if (lastApp.size === 0) return msgs;
  return msgs.filter((m) => {
    if (m.type !== "app" || (m.entries?.length ?? 0) > 0) return true;
    const later = lastApp.get(m.to)!;
    return later === m || later.term !== m.term ||
      (later.commit ?? 0) < (m.commit ?? 0);
  });
}

function hashString(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 16777619);
  }
  return h >>> 0;
}
