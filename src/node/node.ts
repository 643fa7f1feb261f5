/**
 * A running Raft node: drives the pure core with a ticker, a transport, a
 * durable store and a state machine, and gives callers promises —
 * `propose` settles when the command is applied here, `read` when a
 * linearizable read may be served.
 *
 * The Ready loop follows the core's contract: persist (one durable write per
 * Ready; the store batches concurrent writes into one sync), send, apply,
 * advance. A leader sends its AppendEntries before its own write finishes,
 * since it counts itself only once `advance()` reports the write durable.
 *
 * This file holds the loop and proposals; reads and the leader lease
 * (`read_path.ts`), membership and addresses (`membership.ts`) and
 * snapshots (`snapshots.ts`) are collaborators the node owns and calls.
 *
 * @module
 */

import { Raft, type RaftConfig, type RaftEvent } from "../raft/raft.ts";
import { mulberry32 } from "../raft/rand.ts";
import {
  type Entry,
  EntryType,
  type HardState,
  type Message,
  type NodeId,
  type Ready,
  type Role,
} from "../raft/types.ts";
import type { LogStore } from "../storage/types.ts";
import type { Transport } from "../transport/types.ts";
import {
  decodeEnvelope,
  encodeEnvelope,
  EnvelopeKind,
  type MemberInfo,
  newNonce,
} from "./envelope.ts";
import {
  asUnavailable,
  ProposalLostError,
  TimeoutError,
  UnavailableError,
} from "./errors.ts";
import { type Logger, nullLogger } from "./logger.ts";
import { Membership, type PeerDirectory } from "./membership.ts";
import { leaderAt, ReadPath } from "./read_path.ts";
import { type Applied, PendingProposals } from "./pending.ts";
export type { Applied } from "./pending.ts";
import { NodeSnapshots } from "./snapshots.ts";
import type { StateMachine } from "./state_machine.ts";

export type { PeerDirectory } from "./membership.ts";

/** How to run a node. */
export interface NodeOptions {
  /** This node's id. */
  id: NodeId;
  /** The durable store (already opened and recovered). */
  storage: LogStore;
  /** The peer transport. */
  transport: Transport & Partial<PeerDirectory>;
  /** The replicated state machine. */
  stateMachine: StateMachine;
  /** This node's addresses, published to the cluster through the log. */
  self?: Omit<MemberInfo, "id">;
  /** Addresses known from configuration (bootstrap peers). */
  peers?: MemberInfo[];
  /** Milliseconds per Raft tick (default 10). */
  tickMs?: number;
  /** Snapshot after this many entries applied since the last snapshot (default 10 000). */
  snapshotEvery?: number;
  /** Default timeout for proposals and reads in ms (default 5 000). */
  requestTimeoutMs?: number;
  /** Structured log lines. */
  logger?: Logger;
  /** Called once if the store fails; the process must exit (default: log only). */
  onFatal?: (error: Error) => void;
  /**
   * Called once when this node learns it was removed from the cluster (it
   * applied its own removal, or a majority of the voters refuse it as an
   * unknown node). The node has stopped ticking; the process should exit.
   */
  onRemoved?: () => void;
  /** Called after each durable write with its duration in seconds (metrics). */
  onPersisted?: (seconds: number, entries: number) => void;
  /** Core settings (timeouts, flow control, PreVote, CheckQuorum). */
  raft?: Omit<RaftConfig, "id" | "storage" | "applied" | "logger">;
  /** Planted bugs, only for showing that the tests catch them. */
  testingKnobs?: NodeTestingKnobs;
  /**
   * Serve linearizable reads on the leader without a heartbeat round while
   * its leadership lease holds (default true; needs CheckQuorum). See
   * {@linkcode RaftNode.read}.
   */
  readLease?: boolean;
}

/**
 * Deliberately broken node behaviour, only for proving that the chaos
 * suite catches bugs. Never set these outside tests.
 */
export interface NodeTestingKnobs {
  /** A follower answers linearizable reads from its own state, without ReadIndex. */
  followerReadsWithoutReadIndex?: boolean;
}

/** What `status()` reports. */
export interface NodeStatus {
  /** This node. */
  id: NodeId;
  /** Its role. */
  role: Role;
  /** Current term. */
  term: number;
  /** Known leader or `""`. */
  leader: NodeId;
  /** Commit index. */
  commit: number;
  /** Applied index. */
  applied: number;
  /** Last log index. */
  lastIndex: number;
  /** Index of the newest snapshot. */
  snapshotIndex: number;
  /** Voters and learners with their addresses. */
  members: (MemberInfo & { role: "voter" | "learner" })[];
  /** On the leader: replication progress per member. */
  progress: Record<NodeId, { match: number; next: number; state: string }>;
}

// Messages a leader may send before its own write is durable: they carry
// entries or leadership, never a promise that this node persisted anything.
const EARLY = new Set(["app", "heartbeat", "snap", "timeoutNow"]);
// A follower's forwarded proposals and reads promise nothing about its own
// log, so they need not wait for its write. A write slower than this (a
// disk waiting for space, a stalled device) stops holding them back: the
// space alarm must reach the leader while the write waits.
const STUCK_SAVE_MS = 20;

/**
 * A Raft node running in this process: start one with
 * {@linkcode RaftNode.start}, then propose commands and wait for reads.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryStorage } from "../storage/mod.ts";
 * import { MemoryHub } from "../transport/mod.ts";
 * import { RaftNode, type StateMachine } from "./mod.ts";
 *
 * // A state machine that counts the commands applied to it.
 * let count = 0;
 * const counter: StateMachine = {
 *   apply: () => ++count,
 *   snapshot: () => Uint8Array.of(count),
 *   restore: (data) => {
 *     count = data[0];
 *   },
 * };
 * const hub = new MemoryHub();
 * const node = RaftNode.start({
 *   id: "n1",
 *   storage: new MemoryStorage({ conf: { voters: ["n1"], learners: [] } }),
 *   transport: hub.connect("n1"),
 *   stateMachine: counter,
 * });
 * await node.waitForLeader();
 * const applied = await node.propose(new TextEncoder().encode("add"));
 * assert.equal(applied.result, 1);
 * await node.stop();
 * hub.close();
 * ```
 */
export class RaftNode {
  /** This node's id. */
  readonly id: NodeId;
  readonly #raft: Raft;
  readonly #storage: LogStore;
  readonly #transport: Transport & Partial<PeerDirectory>;
  readonly #sm: StateMachine;
  readonly #log: Logger;
  readonly #onFatal?: (e: Error) => void;
  readonly #onPersisted?: (seconds: number, entries: number) => void;
  readonly #onRemoved?: () => void;
  #removed = false;
  readonly #tickMs: number;
  readonly #timeoutMs: number;
  readonly #electionTimeoutMs: number;
  readonly #nonce = newNonce();
  #seq = 0;
  #batch: { data: Uint8Array; seq: number }[] = [];
  readonly #pending = new PendingProposals();
  #applied: number;
  readonly #knobs: NodeTestingKnobs;
  readonly #membership: Membership;
  readonly #snapshots: NodeSnapshots;
  readonly #reads: ReadPath;
  #ticker: ReturnType<typeof setInterval> | undefined;
  #wake: (() => void) | undefined;
  // When the write in progress started (performance.now()), if one is.
  #savingSince: number | undefined;
  #stuckTimer: ReturnType<typeof setTimeout> | undefined;
  #loop: Promise<void> | undefined;
  #stopped = false;
  #fatal: Error | undefined;
  #leader: NodeId = "";
  // The last leader this node knew of, and in which term (see leaderAt).
  #lastLeaderAt = "";
  #role: Role = "follower";
  // When a message from each peer last arrived (performance.now()).
  readonly #lastHeard = new Map<NodeId, number>();
  readonly #leaderWaiters = new Set<() => void>();
  readonly #roleListeners = new Set<
    (role: Role, leader: NodeId, term: number) => void
  >();
  readonly #delayListeners = new Set<(seconds: number) => void>();

  private constructor(options: NodeOptions) {
    this.id = options.id;
    this.#storage = options.storage;
    this.#transport = options.transport;
    this.#sm = options.stateMachine;
    this.#log = options.logger ?? nullLogger;
    this.#onFatal = options.onFatal;
    this.#onPersisted = options.onPersisted;
    this.#onRemoved = options.onRemoved;
    this.#tickMs = options.tickMs ?? 10;
    this.#timeoutMs = options.requestTimeoutMs ?? 5_000;
    this.#knobs = options.testingKnobs ?? {};
    const electionMinMs = (options.raft?.electionTicks ?? 15) * this.#tickMs;
    // Followers that acknowledged a round refuse to vote until a whole
    // minimum election timeout passes (CheckQuorum); 70 % of it leaves room
    // for clock-rate differences and a late tick.
    const leaseMs = options.readLease === false ||
        options.raft?.checkQuorum === false
      ? 0
      : Math.floor(electionMinMs * 0.7);
    const et = options.raft?.electionTicks ?? 15;
    this.#electionTimeoutMs = (options.raft?.electionTicksMax ?? et * 2) *
      this.#tickMs;
    // The collaborators read the core through these getters: it is created
    // below, after the snapshot they restore.
    const raft = () => this.#raft;
    const lastHeard = this.#lastHeard;
    this.#membership = new Membership({
      id: this.id,
      get raft() {
        return raft();
      },
      transport: this.#transport,
      log: this.#log,
      timeoutMs: this.#timeoutMs,
      assertRunning: () => this.#assertRunning(),
      kick: () => this.#kick(),
      proposeMemberInfo: (payload) =>
        this.#proposeEnvelope(EnvelopeKind.MemberInfo, payload, {}),
      becomeRemoved: (why) => this.#becomeRemoved(why),
      heardMsAgo: (id) => {
        const t = lastHeard.get(id);
        return t === undefined ? undefined : performance.now() - t;
      },
      // Heartbeats are answered every 50 ms, but a loaded machine stalls
      // for hundreds of ms (and after a stall of this node's own loop, its
      // peers' queued messages may be read after the request that asks).
      // 2 s, or two election timeouts if longer, counts a dead member as
      // active only briefly (etcd allows 5 s).
      activeWindowMs: Math.max(2000, 2 * this.#electionTimeoutMs),
    }, { self: options.self, peers: options.peers });

    const snap = this.#storage.snapshot();
    this.#applied = snap.metadata.index;
    this.#snapshots = new NodeSnapshots({
      id: this.id,
      get raft() {
        return raft();
      },
      storage: this.#storage,
      stateMachine: this.#sm,
      log: this.#log,
      applied: () => this.#applied,
      stopped: () => this.#stopped,
      members: () => this.#membership.list(),
      restoreMember: (info) => this.#membership.setMember(info),
      die: (e) => this.#die(e),
    }, {
      every: options.snapshotEvery ?? 10_000,
      index: snap.metadata.index,
    });
    this.#snapshots.recover(snap);
    const seed = crypto.getRandomValues(new Uint32Array(1))[0];
    this.#raft = new Raft({
      ...options.raft,
      id: this.id,
      storage: this.#storage,
      applied: snap.metadata.index,
      random: options.raft?.random ?? mulberry32(seed),
      logger: (e) => this.#onRaftEvent(e),
    });
    this.#reads = new ReadPath({
      id: this.id,
      nonce: this.#nonce,
      raft: this.#raft,
      applied: () => this.#applied,
      kick: () => this.#kick(),
    }, { leaseMs, timeoutMs: this.#timeoutMs });
    this.#log("node.start", {
      level: "info",
      id: this.id,
      term: this.#raft.term,
      commit: this.#raft.log.committed,
      snapshotIndex: this.#snapshots.index,
      lastIndex: this.#raft.log.lastIndex(),
      voters: this.#raft.confState().voters,
      learners: this.#raft.confState().learners,
    });
  }

  /**
   * Starts a node over an opened store and a transport: restores the state
   * machine from the store's snapshot, then runs the tick and Ready loops.
   */
  static start(options: NodeOptions): RaftNode {
    const node = new RaftNode(options);
    // A bootstrap peer (--peers) missing from the committed configuration
    // was removed: its transport would take its messages again.
    const c = node.#raft.confStateAt(node.#raft.log.committed);
    node.#membership.dialAll([...c.voters, ...c.learners]);
    node.#transport.onMessage((m) => node.#step(m));
    let last = performance.now();
    node.#ticker = setInterval(() => {
      const now = performance.now();
      // A blocked event loop delays ticks, heartbeats and votes alike; say
      // so, since it explains elections that no fault caused.
      if (now - last > 100) {
        node.#log("node.eventLoopStall", {
          level: "warn",
          id: node.id,
          ms: Math.round(now - last),
        });
      }
      // How late this tick came is the event loop's delay: what every
      // timer, heartbeat and request waited on top of its own time.
      if (node.#delayListeners.size > 0) {
        const late = Math.max(0, now - last - node.#tickMs) / 1000;
        for (const fn of node.#delayListeners) fn(late);
      }
      last = now;
      node.#raft.tick();
      node.#kick();
    }, node.#tickMs);
    node.#loop = node.#run();
    return node;
  }

  // ------------------------------------------------------------- requests

  /**
   * Proposes a command; resolves with the state machine's result once it is
   * applied on this node. Rejects with {@linkcode UnavailableError} when no
   * leader is known, {@linkcode TimeoutError} when the outcome is unknown
   * after the timeout, {@linkcode ProposalLostError} when another entry
   * took its place.
   */
  propose<T = unknown>(
    command: Uint8Array,
    options: { timeoutMs?: number } = {},
  ): Promise<Applied<T>> {
    return this.#proposeEnvelope(
      EnvelopeKind.Command,
      command,
      options,
    ) as Promise<Applied<T>>;
  }

  #proposeEnvelope(
    kind: EnvelopeKind,
    payload: Uint8Array,
    options: { timeoutMs?: number },
  ): Promise<Applied> {
    this.#assertRunning();
    const seq = ++this.#seq;
    const data = encodeEnvelope(kind, this.#nonce, seq, payload);
    // Queued, and handed to the core as one batch when the Ready loop next
    // runs: proposals that arrive while a write is syncing become one
    // append and one AppendEntries per follower.
    this.#batch.push({ data, seq });
    const applied = this.#pending.add(
      seq,
      options.timeoutMs ?? this.#timeoutMs,
    );
    this.#kick();
    return applied;
  }

  /**
   * A linearizable read barrier: resolves with an index once this node's
   * state machine has applied everything committed before the call, as
   * confirmed by the leader (ReadIndex). Then read the state machine.
   *
   * On the leader, while its lease holds, the confirmation is the lease:
   * a heartbeat round acknowledged by a quorum at time T means no other
   * leader can exist before T plus the minimum election timeout (those
   * followers ignore votes until then), so reads in 70 % of that window
   * need no round of their own. The lease is measured on the monotonic
   * clock, not in ticks, so a paused process resumes with an expired one;
   * it is dropped on losing leadership and during a transfer (whose
   * election does not wait). Rounds renew it while reads keep coming.
   */
  read(options: { timeoutMs?: number } = {}): Promise<number> {
    this.#assertRunning();
    if (this.#knobs.followerReadsWithoutReadIndex && this.#role !== "leader") {
      return Promise.resolve(this.#applied); // the planted bug
    }
    return this.#reads.read(options);
  }

  /** Adds a member as a learner (it receives the log but does not vote). */
  addLearner(
    id: NodeId,
    info: Omit<MemberInfo, "id"> = {},
    options: { timeoutMs?: number } = {},
  ): Promise<void> {
    return this.#membership.addLearner(id, info, options);
  }

  /** Adds a voting member directly (prefer addLearner then promote). */
  addVoter(
    id: NodeId,
    info: Omit<MemberInfo, "id"> = {},
    options: { timeoutMs?: number } = {},
  ): Promise<void> {
    return this.#membership.addVoter(id, info, options);
  }

  /** Promotes a learner to a voter. */
  promote(id: NodeId, options: { timeoutMs?: number } = {}): Promise<void> {
    return this.#membership.promote(id, options);
  }

  /** Removes a member. */
  removeMember(
    id: NodeId,
    options: { timeoutMs?: number } = {},
  ): Promise<void> {
    return this.#membership.removeMember(id, options);
  }

  /**
   * Why a membership change would be unsafe now, or `undefined` (see
   * `unsafeChange` in membership.ts): a voter added directly, a learner
   * promoted before it caught up, a voter removed while too few of the
   * others are active. Judged from this node's view, so ask the leader.
   * The methods that make changes do not check; the API asks first unless
   * the operator forces the change.
   */
  unsafeMembershipChange(
    type: "addVoter" | "promote" | "remove",
    id: NodeId,
  ): string | undefined {
    return this.#membership.unsafe({ type, node: id });
  }

  /** Asks the leader to hand leadership to `to` (must be called on the leader). */
  transferLeadership(to: NodeId): void {
    this.#assertRunning();
    try {
      this.#raft.transferLeader(to);
    } catch (e) {
      throw asUnavailable(e);
    }
    this.#kick();
  }

  /** Starts an election on this node now. */
  campaign(): void {
    this.#raft.campaign();
    this.#kick();
  }

  /** The transport reports whether a snapshot reached `to`. */
  reportSnapshot(to: NodeId, ok: boolean): void {
    if (this.#stopped) return;
    // The transport is done with the bytes (a stream still running to
    // another peer holds its own reference).
    this.#storage.releaseSnapshotData?.();
    this.#raft.reportSnapshot(to, ok);
    this.#kick();
  }

  /**
   * The transport reports that `peer` refused our handshake. A majority of
   * the voters refusing this node as unknown means it was removed while it
   * could not hear about it (a leader stops replicating to a node as soon
   * as it appends the node's removal).
   */
  reportRefused(peer: NodeId, reason: string): void {
    if (this.#stopped || this.#removed || reason !== "unknown_node") return;
    const refusers = this.#membership.refusedBy(peer);
    if (refusers) {
      const who = refusers.join(", ");
      this.#becomeRemoved(
        `a majority of the voters (${who}) refuse it as unknown`,
      );
    }
  }

  #becomeRemoved(why: string): void {
    if (this.#removed) return;
    this.#removed = true;
    clearInterval(this.#ticker);
    this.#log("node.removed", {
      level: "warn",
      id: this.id,
      why,
      hint:
        "This node is no longer a member; wipe its data directory before adding it back",
    });
    this.#onRemoved?.();
  }

  /** The transport reports `to` unreachable. */
  reportUnreachable(to: NodeId): void {
    if (this.#stopped) return;
    this.#raft.reportUnreachable(to);
  }

  /** Resolves once this node knows a leader (or rejects after the timeout). */
  waitForLeader(timeoutMs = 10_000): Promise<NodeId> {
    if (this.#raft.lead) return Promise.resolve(this.#raft.lead);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#leaderWaiters.delete(check);
        reject(
          new TimeoutError(`No leader was elected within ${timeoutMs} ms`),
        );
      }, timeoutMs);
      const check = () => {
        if (this.#raft.lead) {
          clearTimeout(timer);
          this.#leaderWaiters.delete(check);
          resolve(this.#raft.lead);
        }
      };
      this.#leaderWaiters.add(check);
    });
  }

  /**
   * Calls `fn` whenever this node's role or known leader changes (after the
   * change is persisted). Returns a function that unsubscribes.
   */
  onRoleChange(
    fn: (role: Role, leader: NodeId, term: number) => void,
  ): () => void {
    this.#roleListeners.add(fn);
    return () => this.#roleListeners.delete(fn);
  }

  /**
   * Calls `fn` on every tick with how late it came, in seconds (0 when on
   * time): the event loop's delay, sampled every tick (10 ms by default).
   * A delay near the election timeout deposes a leader, so it is a metric.
   * Returns a function that unsubscribes.
   */
  onEventLoopDelay(fn: (seconds: number) => void): () => void {
    this.#delayListeners.add(fn);
    return () => this.#delayListeners.delete(fn);
  }

  /** The election timeout in ms (the longest randomized one), for lease extension on failover. */
  get electionTimeoutMs(): number {
    return this.#electionTimeoutMs;
  }

  // --------------------------------------------------------------- status

  /** True while this node believes it is the leader. */
  get isLeader(): boolean {
    return this.#raft.role === "leader";
  }

  /** The leader this node knows of, or `""`. */
  get leader(): NodeId {
    return this.#raft.lead;
  }

  /** The current term. */
  get term(): number {
    return this.#raft.term;
  }

  /** The index applied to the state machine. */
  get applied(): number {
    return this.#applied;
  }

  /** The member directory: addresses of every known member. */
  member(id: NodeId): MemberInfo | undefined {
    return this.#membership.get(id);
  }

  /** Everything a status page wants. */
  status(): NodeStatus {
    const s = this.#raft.status();
    const members: NodeStatus["members"] = [];
    for (const id of s.conf.voters) {
      members.push({ ...this.#membership.get(id), id, role: "voter" });
    }
    for (const id of s.conf.learners) {
      members.push({ ...this.#membership.get(id), id, role: "learner" });
    }
    const progress: NodeStatus["progress"] = {};
    for (const [id, p] of Object.entries(s.progress)) {
      progress[id] = { match: p.match, next: p.next, state: p.state };
    }
    return {
      id: this.id,
      role: s.role,
      term: s.term,
      leader: s.leader,
      commit: s.commit,
      applied: this.#applied,
      lastIndex: s.lastIndex,
      snapshotIndex: this.#snapshots.index,
      members,
      progress,
    };
  }

  /** Stops the node: no more ticks or messages; pending requests are rejected. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#sendAfterAnswers();
    this.#stopped = true;
    clearInterval(this.#ticker);
    this.#kick();
    await this.#loop;
    await this.#snapshots.writing;
    if (this.#lazyHard && !this.#fatal) {
      try {
        await this.#storage.save({ entries: [], hardState: this.#lazyHard });
      } catch {
        // The commit index is only a hint on restart; losing it is safe.
      }
      this.#lazyHard = undefined;
    }
    const err = new UnavailableError(
      "The node is shutting down; retry on another node",
    );
    this.#failAll(err);
    await this.#transport.close();
    await this.#storage.close();
    this.#log("node.stop", { level: "info", id: this.id });
  }

  // ------------------------------------------------------------ internals

  #assertRunning(): void {
    if (this.#fatal) {
      throw new UnavailableError(
        `The node stopped after a storage failure: ${this.#fatal.message}`,
      );
    }
    if (this.#stopped) {
      throw new UnavailableError(
        "The node is shutting down; retry on another node",
      );
    }
  }

  #step(m: Message): void {
    if (this.#stopped) return;
    this.#lastHeard.set(m.from, performance.now());
    // A follower's read request: the leader's lease may answer it at once.
    this.#reads.beforeStep(m);
    try {
      this.#raft.step(m);
      this.#raft.leaseConfirmed = false;
    } catch (e) {
      this.#raft.leaseConfirmed = false;
      // A message the core cannot accept must not stop the node.
      this.#log("node.badMessage", {
        level: "warn",
        id: this.id,
        from: m.from,
        type: m.type,
        error: String(e),
      });
    }
    this.#kick();
  }

  #kick(): void {
    const w = this.#wake;
    if (w) {
      this.#wake = undefined;
      w();
    } else if (this.#savingSince !== undefined) this.#forwardSoon();
  }

  // While this follower's write is in progress, proposals and reads wait
  // for the next Ready (one forwarded batch per write). A write that takes
  // longer than STUCK_SAVE_MS stops holding them: they go to the leader.
  #forwardSoon(): void {
    if (this.#stuckTimer !== undefined) return;
    if (this.#batch.length === 0 && !this.#reads.queued) return;
    const wait = STUCK_SAVE_MS - (performance.now() - this.#savingSince!);
    if (wait <= 0) return this.#forwardWhileSaving();
    this.#stuckTimer = setTimeout(() => {
      this.#stuckTimer = undefined;
      this.#forwardWhileSaving();
    }, wait);
  }

  #forwardWhileSaving(): void {
    if (this.#stopped || this.#savingSince === undefined) return;
    if (this.#raft.role === "leader") return; // its batching is group commit
    // With no leader known they would only be refused: they wait for the
    // next leader's first message (or their own timeout).
    if (this.#raft.lead === "") return;
    this.#flushProposals();
    this.#reads.flush();
    for (const m of this.#raft.takeForwarded()) this.#transport.send(m);
  }

  #flushProposals(): void {
    if (this.#batch.length === 0) return;
    const batch = this.#batch;
    this.#batch = [];
    try {
      this.#raft.propose(...batch.map((b) => b.data));
      const via = leaderAt(this.#raft);
      for (const b of batch) {
        const p = this.#pending.get(b.seq);
        if (p) p.via = via;
      }
    } catch (e) {
      const err = asUnavailable(e);
      for (const b of batch) this.#pending.reject(b.seq, err);
    }
  }

  async #run(): Promise<void> {
    while (!this.#stopped) {
      this.#flushProposals();
      this.#reads.flush();
      if (!this.#raft.hasReady()) {
        await new Promise<void>((r) => (this.#wake = r));
        continue;
      }
      const rd = this.#raft.ready();
      try {
        await this.#handleReady(rd);
      } catch (e) {
        this.#die(e instanceof Error ? e : new Error(String(e)));
        return;
      }
      this.#raft.advance();
    }
  }

  #die(e: Error): void {
    this.#fatal = e;
    this.#stopped = true;
    clearInterval(this.#ticker);
    this.#sendAfterAnswers(); // drops them: the node is stopped
    this.#log("node.fatal", { level: "error", id: this.id, error: e.message });
    this.#failAll(
      new UnavailableError(
        `The node stopped after a fatal error: ${e.message}`,
      ),
    );
    this.#onFatal?.(e);
  }

  async #handleReady(rd: Ready): Promise<void> {
    if (rd.softState) this.#onSoftState(rd.softState.leader, rd.softState.role);
    // A leader whose term and vote are already durable may send
    // AppendEntries while its own write is in progress (thesis §10.2.1).
    const termDurable = !rd.hardState ||
      (rd.hardState.term === this.#durableTerm &&
        rd.hardState.vote === this.#durableVote);
    this.#sendAfterAnswers();
    // A leader's Ready that only commits (nothing to write) answers its
    // clients before it tells the followers the new commit index: their
    // apply can wait a moment, the client's answer should not.
    const answerFirst = this.#raft.role === "leader" &&
      rd.committedEntries.length > 0 && !rd.mustSync && !rd.snapshot &&
      rd.entries.length === 0;
    const late: Message[] = [];
    if (answerFirst) this.#afterAnswers.push(...rd.messages);
    else {
      for (const m of rd.messages) {
        if (
          m.type === "prop" || m.type === "readIndex" ||
          (termDurable && this.#raft.role === "leader" && EARLY.has(m.type))
        ) {
          this.#transport.send(m);
        } else late.push(m);
      }
    }
    for (const e of rd.entries) this.#noteOwnEntry(e);
    // A change of the commit index alone needs no sync: Raft may forget it
    // (a restarted node learns it again). Carry it with the next write
    // instead of paying a sync on the path of every commit.
    const hardState = rd.hardState ?? this.#lazyHard;
    if (rd.mustSync || rd.snapshot || rd.entries.length > 0) {
      const t0 = performance.now();
      this.#savingSince = t0;
      try {
        await this.#storage.save({
          snapshot: rd.snapshot,
          entries: rd.entries,
          hardState,
        });
      } finally {
        this.#savingSince = undefined;
        clearTimeout(this.#stuckTimer);
        this.#stuckTimer = undefined;
      }
      this.#lazyHard = undefined;
      this.#onPersisted?.((performance.now() - t0) / 1000, rd.entries.length);
      if (hardState) {
        this.#durableTerm = hardState.term;
        this.#durableVote = hardState.vote;
      }
    } else if (rd.hardState) {
      this.#lazyHard = rd.hardState;
    }
    for (const m of late) this.#transport.send(m);
    if (rd.snapshot) {
      this.#snapshots.restore(rd.snapshot.data);
      this.#applied = rd.snapshot.metadata.index;
      this.#snapshots.installed(this.#applied);
    }
    for (const e of rd.committedEntries) this.#apply(e);
    this.#reads.settle(rd.readStates);
    this.#snapshots.maybeSnapshot();
    this.#membership.publishSelfIfNeeded();
    // The answers go out in the microtasks after this; then the messages.
    if (answerFirst && this.#afterAnswers.length > 0) {
      this.#afterAnswersTimer ??= setTimeout(() => this.#sendAfterAnswers());
    }
  }

  // Messages held until the answers of what they commit are on their way;
  // sent before any later message, so their order is kept.
  #afterAnswers: Message[] = [];
  #afterAnswersTimer: ReturnType<typeof setTimeout> | undefined;

  #sendAfterAnswers(): void {
    clearTimeout(this.#afterAnswersTimer);
    this.#afterAnswersTimer = undefined;
    if (this.#afterAnswers.length === 0) return;
    const ms = this.#afterAnswers;
    this.#afterAnswers = [];
    if (this.#stopped) return;
    for (const m of ms) this.#transport.send(m);
  }

  #durableTerm = -1;
  // A commit-only hard state not yet written (see #handleReady).
  #lazyHard: HardState | undefined;
  #durableVote = "";

  #noteOwnEntry(e: Entry): void {
    if (e.type !== EntryType.Normal) return;
    const env = decodeEnvelope(e.data);
    if (!env || env.nonce !== this.#nonce) return;
    const p = this.#pending.get(env.seq);
    if (p) {
      p.index = e.index;
      p.term = e.term;
    }
  }

  #apply(e: Entry): void {
    if (e.index !== this.#applied + 1) {
      throw new Error(
        `Applying index ${e.index} after ${this.#applied}: the log has a gap`,
      );
    }
    this.#applied = e.index;
    if (e.type === EntryType.ConfChange) {
      this.#membership.applyConfChange(e);
      return;
    }
    const env = decodeEnvelope(e.data);
    if (!env) {
      this.#failLostAt(e.index, e.term);
      return; // the leader's no-op
    }
    let result: unknown;
    if (env.kind === EnvelopeKind.Command) {
      result = this.#sm.apply(env.payload, { index: e.index, term: e.term });
    } else {
      this.#membership.applyMemberInfo(env.payload);
    }
    if (env.nonce === this.#nonce) {
      this.#pending.resolve(env.seq, { index: e.index, result });
    } else {
      this.#failLostAt(e.index, e.term);
    }
  }

  // A proposal of ours that was appended at `index` in another term lost
  // its place: a different entry is committed there.
  #failLostAt(index: number, term: number): void {
    if (this.#pending.size === 0) return;
    for (const [seq, p] of this.#pending.entries()) {
      if (p.index === index && p.term !== term) {
        this.#pending.reject(
          seq,
          new ProposalLostError(
            `Proposal was overwritten at log index ${index} after a leader change; it was not applied, retry`,
          ),
        );
      }
    }
  }

  #onSoftState(leader: NodeId, role: Role): void {
    this.#reads.onRole(role);
    this.#storage.preferBlockingWrites?.(role === "follower");
    const changed = leader !== this.#leader;
    if (changed || role !== this.#role) {
      this.#log("node.leadership", {
        level: "info",
        id: this.id,
        leader,
        role,
        term: this.#raft.term,
      });
    }
    if (changed && leader !== "") this.#onLeaderKnown(leader);
    this.#leader = leader;
    this.#role = role;
    if (leader) { for (const w of [...this.#leaderWaiters]) w(); }
    for (const fn of this.#roleListeners) fn(role, leader, this.#raft.term);
  }

  // A leader is known again. Losing sight of it for a moment (this node
  // timed out and pre-voted, but nobody voted) fails nothing: the same
  // leader in the same term still holds what was forwarded to it. Only
  // what went to a different leader, or in another term, may be gone.
  #onLeaderKnown(leader: NodeId): void {
    const now = leaderAt({ lead: leader, term: this.#raft.term });
    const last = this.#lastLeaderAt;
    this.#lastLeaderAt = now;
    if (last === now) {
      // Its answers to our reads may have been dropped while we were a
      // pre-candidate: ask again (a later round is just as linearizable).
      this.#reads.retryUnconfirmed();
      return;
    }
    if (last === "") return;
    // Unconfirmed reads died with the old leader's read queue.
    this.#reads.failUnconfirmed(now);
    // A proposal that never reached this node's log was with the old
    // leader: it may be lost, or the new leader may still commit it. Say
    // so at once instead of timing out; a retry with the same request id
    // is applied at most once. Those still queued here, or already handed
    // to the new leader (while this node's write hung), are kept.
    for (const [seq, p] of this.#pending.entries()) {
      if (p.index === undefined && p.via !== undefined && p.via !== now) {
        this.#pending.reject(
          seq,
          new UnavailableError(
            "Leadership changed while the write was in flight; it may or may not have been applied, so retry with the same X-Request-Id",
          ),
        );
      }
    }
  }

  #onRaftEvent(e: RaftEvent): void {
    const { event, ...fields } = e;
    const quiet = event === "preCampaign" || event === "sendSnapshot";
    this.#log(`raft.${event}`, { level: quiet ? "debug" : "info", ...fields });
  }

  #failAll(err: Error): void {
    this.#pending.rejectAll(err);
    this.#reads.failAll(err);
    this.#membership.failAll(err);
  }
}
