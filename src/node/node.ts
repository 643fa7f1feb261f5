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
 * @module
 */

import { decode, encode } from "../codec/msgpack.ts";
import { ByteWriter } from "../codec/byte_writer.ts";
import { concatYielding } from "../codec/concat.ts";
import { decodeConfChange } from "../raft/confchange.ts";
import { ProposalDroppedError } from "../raft/errors.ts";
import { Raft, type RaftConfig, type RaftEvent } from "../raft/raft.ts";
import { mulberry32 } from "../raft/rand.ts";
import {
  type ConfChange,
  type ConfState,
  type Entry,
  EntryType,
  type HardState,
  type Message,
  type NodeId,
  type Ready,
  type Role,
} from "../raft/types.ts";
import type { LogStore } from "../storage/types.ts";
import { StorageFatalError } from "../storage/errors.ts";
import type { Transport } from "../transport/types.ts";
import {
  decodeEnvelope,
  encodeEnvelope,
  EnvelopeKind,
  type MemberInfo,
  newNonce,
} from "./envelope.ts";
import { ProposalLostError, TimeoutError, UnavailableError } from "./errors.ts";
import { type Logger, nullLogger } from "./logger.ts";
import type { StateMachine } from "./state_machine.ts";

/** A transport that can learn and forget peers as membership changes. */
export interface PeerDirectory {
  /** Starts talking to `id` at `address`. */
  addPeer(id: NodeId, address: string): void;
  /** Stops talking to `id`. */
  removePeer(id: NodeId): void;
}

// Set by the process (cli/raftd.ts); tests and embedders leave it unset.
let reclaimMemory: (() => void) | undefined;

/**
 * Sets what every node in this process calls shortly after a large one-off
 * allocation turned into garbage: a snapshot restored at start or
 * installed from the leader, or (once the node has applied nothing for a
 * second) a snapshot written; tens of MB each with 100 000 keys. `cli/raftd.ts` passes a full garbage collection: V8 runs
 * a full collection only when its heap grows, and an idle node allocates
 * too little for that, so without it the garbage (and a young generation
 * grown during the burst) stays resident. `undefined` turns it off.
 */
export function setMemoryReclaimer(fn: (() => void) | undefined): void {
  reclaimMemory = fn;
}

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

/** The result of an applied proposal. */
export interface Applied<T = unknown> {
  /** The log index the command was applied at. */
  index: number;
  /** What the state machine returned. */
  result: T;
}

interface PendingProposal {
  resolve: (a: Applied) => void;
  reject: (e: Error) => void;
  timer: ReturnType<typeof setTimeout>;
  index?: number;
  term?: number;
}

interface ReadWaiter {
  resolve: (index: number) => void;
  reject: (e: Error) => void;
  timer?: ReturnType<typeof setTimeout>;
  done: boolean;
}

// One ReadIndex round, shared by every read that was waiting when the Ready
// loop last came round.
interface PendingRead {
  waiters: ReadWaiter[];
  index?: number;
  // When the leader started the round (performance.now()); its quorum
  // confirms leadership from this instant on.
  sentAt?: number;
}

function settleRead(
  w: ReadWaiter,
  outcome: { index: number } | { error: Error },
): void {
  if (w.done) return;
  w.done = true;
  clearTimeout(w.timer);
  if ("index" in outcome) w.resolve(outcome.index);
  else w.reject(outcome.error);
}

interface ConfWaiter {
  done: (conf: ConfState) => boolean;
  resolve: () => void;
  reject: (e: Error) => void;
  timer: ReturnType<typeof setTimeout>;
}

// Messages a leader may send before its own write is durable: they carry
// entries or leadership, never a promise that this node persisted anything.
const EARLY = new Set(["app", "heartbeat", "snap", "timeoutNow"]);

/** A Raft node running in this process. */
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
  readonly #refusedBy = new Set<NodeId>();
  readonly #tickMs: number;
  readonly #snapshotEvery: number;
  readonly #timeoutMs: number;
  readonly #electionTimeoutMs: number;
  readonly #self?: Omit<MemberInfo, "id">;
  readonly #nonce = newNonce();
  #seq = 0;
  #readSeq = 0;
  #readQueue: ReadWaiter[] = [];
  #batch: { data: Uint8Array; seq: number }[] = [];
  readonly #pending = new Map<number, PendingProposal>();
  readonly #reads = new Map<string, PendingRead>();
  #confWaiters: ConfWaiter[] = [];
  readonly #members = new Map<NodeId, MemberInfo>();
  // Peer addresses from the configuration, and what the transport dials.
  readonly #configured = new Map<NodeId, string>();
  readonly #dialed = new Map<NodeId, string>();
  #applied: number;
  readonly #knobs: NodeTestingKnobs;
  readonly #leaseMs: number;
  // Until when (performance.now()) this leader's leadership is confirmed.
  #leaseUntil = 0;
  // The context of the lease renewal round in flight, if any.
  #renewal = "";
  #snapshotIndex: number;
  #ticker: ReturnType<typeof setInterval> | undefined;
  #reclaimTimer: ReturnType<typeof setTimeout> | undefined;
  #quietTimer: ReturnType<typeof setInterval> | undefined;
  #wake: (() => void) | undefined;
  #loop: Promise<void> | undefined;
  #stopped = false;
  #fatal: Error | undefined;
  #leader: NodeId = "";
  #role: Role = "follower";
  // What the log says about this node's addresses.
  #appliedSelf: MemberInfo | undefined;
  #publishing = false;
  readonly #leaderWaiters = new Set<() => void>();
  readonly #roleListeners = new Set<
    (role: Role, leader: NodeId, term: number) => void
  >();

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
    this.#snapshotEvery = options.snapshotEvery ?? 10_000;
    this.#snapshotJitter = Math.floor(
      Math.random() * (this.#snapshotEvery / 4),
    );
    this.#timeoutMs = options.requestTimeoutMs ?? 5_000;
    this.#knobs = options.testingKnobs ?? {};
    const electionMinMs = (options.raft?.electionTicks ?? 15) * this.#tickMs;
    // Followers that acknowledged a round refuse to vote until a whole
    // minimum election timeout passes (CheckQuorum); 70 % of it leaves room
    // for clock-rate differences and a late tick.
    this.#leaseMs = options.readLease === false ||
        options.raft?.checkQuorum === false
      ? 0
      : Math.floor(electionMinMs * 0.7);
    const et = options.raft?.electionTicks ?? 15;
    this.#electionTimeoutMs = (options.raft?.electionTicksMax ?? et * 2) *
      this.#tickMs;
    this.#self = options.self;
    for (const p of options.peers ?? []) {
      this.#members.set(p.id, { ...p });
      if (p.peerAddress && p.id !== this.id) {
        this.#configured.set(p.id, p.peerAddress);
      }
    }
    if (this.#self) this.#members.set(this.id, { id: this.id, ...this.#self });

    const snap = this.#storage.snapshot();
    this.#applied = snap.metadata.index;
    this.#snapshotIndex = snap.metadata.index;
    if (snap.data.byteLength > 0) this.#restoreSnapshot(snap.data);
    // The snapshot's bytes (tens of MB with many keys) are needed again
    // only to catch up a follower; the store reads them back then.
    this.#storage.releaseSnapshotData?.();
    // Not at once: a forced collection of a large restored state takes
    // most of a second, and the node should be ready first.
    if (snap.data.byteLength > 0) this.#reclaimWhenQuiet();
    const seed = crypto.getRandomValues(new Uint32Array(1))[0];
    this.#raft = new Raft({
      ...options.raft,
      id: this.id,
      storage: this.#storage,
      applied: snap.metadata.index,
      random: options.raft?.random ?? mulberry32(seed),
      logger: (e) => this.#onRaftEvent(e),
    });
    this.#log("node.start", {
      level: "info",
      id: this.id,
      term: this.#raft.term,
      commit: this.#raft.log.committed,
      snapshotIndex: this.#snapshotIndex,
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
    const conf = new Set([...c.voters, ...c.learners]);
    for (const id of node.#members.keys()) {
      if (id !== node.id && (conf.size === 0 || conf.has(id))) node.#dial(id);
    }
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
    return new Promise<Applied>((resolve, reject) => {
      // Queued, and handed to the core as one batch when the Ready loop
      // next runs: proposals that arrive while a write is syncing become
      // one append and one AppendEntries per follower.
      this.#batch.push({ data, seq });
      const timeout = options.timeoutMs ?? this.#timeoutMs;
      const timer = setTimeout(() => {
        this.#pending.delete(seq);
        reject(
          new TimeoutError(
            `Proposal was not applied within ${timeout} ms; it may still be applied later, so retry with the same request id`,
          ),
        );
      }, timeout);
      this.#pending.set(seq, { resolve, reject, timer });
      this.#kick();
    });
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
    return new Promise<number>((resolve, reject) => {
      const w: ReadWaiter = { resolve, reject, done: false };
      const timeout = options.timeoutMs ?? this.#timeoutMs;
      w.timer = setTimeout(() => {
        settleRead(w, {
          error: new TimeoutError(
            `Read could not be confirmed by a leader within ${timeout} ms; retry`,
          ),
        });
      }, timeout);
      // Reads waiting when the Ready loop comes round share one ReadIndex
      // round (one heartbeat exchange) instead of one each.
      this.#readQueue.push(w);
      this.#kick();
    });
  }

  #flushReads(): void {
    if (this.#readQueue.length === 0) return;
    const waiters = this.#readQueue.filter((w) => !w.done);
    this.#readQueue = [];
    if (waiters.length === 0) return;
    const now = performance.now();
    if (this.#leaseHolds(now)) {
      // Confirmed by the lease: wait only for the apply.
      const ctx = `${this.id}:${this.#nonce}:${++this.#readSeq}`;
      this.#reads.set(ctx, { waiters, index: this.#raft.log.committed });
      // Usually applied already: answer now, not at the next Ready.
      this.#serveReads();
      this.#renewLease(now);
      return;
    }
    this.#startRound(waiters);
  }

  #leaseHolds(now: number): boolean {
    return this.#leaseMs > 0 && now < this.#leaseUntil &&
      this.#raft.role === "leader" && this.#raft.leadTransferee === "" &&
      this.#raft.committedInCurrentTerm();
  }

  // Starts a renewal round once the lease is half spent (or gone), so
  // steady reads never wait for a round; one renewal at a time.
  #renewLease(now: number): void {
    if (
      this.#leaseUntil - now < this.#leaseMs / 2 &&
      !this.#reads.has(this.#renewal)
    ) this.#renewal = this.#startRound([]) ?? "";
  }

  // One ReadIndex round for `waiters` (none: a lease renewal); returns its
  // context, or undefined when the core refused it.
  #startRound(waiters: ReadWaiter[]): string | undefined {
    const ctx = `${this.id}:${this.#nonce}:${++this.#readSeq}`;
    const sentAt = performance.now();
    try {
      this.#raft.readIndex(ctx);
    } catch (e) {
      const error = this.#asUnavailable(e);
      for (const w of waiters) settleRead(w, { error });
      return undefined;
    }
    this.#reads.set(ctx, { waiters, sentAt });
    return ctx;
  }

  /** Adds a member as a learner (it receives the log but does not vote). */
  addLearner(
    id: NodeId,
    info: Omit<MemberInfo, "id"> = {},
    options: { timeoutMs?: number } = {},
  ): Promise<void> {
    return this.#confChange(
      {
        type: "addLearner",
        node: id,
        context: JSON.stringify({ id, ...info }),
      },
      (c) => c.learners.includes(id) || c.voters.includes(id),
      options,
    );
  }

  /** Adds a voting member directly (prefer addLearner then promote). */
  addVoter(
    id: NodeId,
    info: Omit<MemberInfo, "id"> = {},
    options: { timeoutMs?: number } = {},
  ): Promise<void> {
    return this.#confChange(
      { type: "addVoter", node: id, context: JSON.stringify({ id, ...info }) },
      (c) => c.voters.includes(id),
      options,
    );
  }

  /** Promotes a learner to a voter. */
  promote(id: NodeId, options: { timeoutMs?: number } = {}): Promise<void> {
    return this.#confChange(
      { type: "promote", node: id },
      (c) => c.voters.includes(id),
      options,
    );
  }

  /** Removes a member. */
  removeMember(
    id: NodeId,
    options: { timeoutMs?: number } = {},
  ): Promise<void> {
    return this.#confChange(
      { type: "remove", node: id },
      (c) => !c.voters.includes(id) && !c.learners.includes(id),
      options,
    );
  }

  async #confChange(
    change: ConfChange,
    done: (c: ConfState) => boolean,
    options: { timeoutMs?: number },
  ): Promise<void> {
    this.#assertRunning();
    const timeout = options.timeoutMs ?? this.#timeoutMs;
    const deadline = Date.now() + timeout;
    // The core refuses a change while another is uncommitted (including a
    // new leader's no-op): wait for that, within the timeout.
    for (;;) {
      if (this.#raft.role !== "leader") {
        throw new UnavailableError(
          this.#raft.lead
            ? `Membership changes go to the leader; this node is not it (leader is ${this.#raft.lead})`
            : "No leader is known; retry once one is elected",
        );
      }
      try {
        this.#raft.proposeConfChange(change);
        break;
      } catch (e) {
        if (
          !(e instanceof ProposalDroppedError) ||
          !/in progress/.test(e.message) || Date.now() > deadline
        ) {
          throw this.#asUnavailable(e);
        }
      }
      await new Promise((r) => setTimeout(r, 10));
      this.#assertRunning();
    }
    this.#kick();
    await new Promise<void>((resolve, reject) => {
      const waiter: ConfWaiter = {
        done,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.#confWaiters = this.#confWaiters.filter((w) => w !== waiter);
          reject(
            new TimeoutError(
              `Membership change ${change.type} ${change.node} was not applied within ${timeout} ms`,
            ),
          );
        }, Math.max(1, deadline - Date.now())),
      };
      this.#confWaiters.push(waiter);
    });
  }

  /** Asks the leader to hand leadership to `to` (must be called on the leader). */
  transferLeadership(to: NodeId): void {
    this.#assertRunning();
    try {
      this.#raft.transferLeader(to);
    } catch (e) {
      throw this.#asUnavailable(e);
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
    const conf = this.#raft.confState();
    // A node that is not a member yet (joining) is unknown to peers too.
    if (!conf.voters.includes(this.id) && !conf.learners.includes(this.id)) {
      return;
    }
    if (!conf.voters.includes(peer)) return;
    this.#refusedBy.add(peer);
    if (this.#refusedBy.size >= Math.floor(conf.voters.length / 2) + 1) {
      this.#becomeRemoved(
        `a majority of the voters (${
          [...this.#refusedBy].join(", ")
        }) refuse it as unknown`,
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
    return this.#members.get(id);
  }

  /** Everything a status page wants. */
  status(): NodeStatus {
    const s = this.#raft.status();
    const members: NodeStatus["members"] = [];
    for (const id of s.conf.voters) {
      members.push({ ...this.#members.get(id), id, role: "voter" });
    }
    for (const id of s.conf.learners) {
      members.push({ ...this.#members.get(id), id, role: "learner" });
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
      snapshotIndex: this.#snapshotIndex,
      members,
      progress,
    };
  }

  /** Stops the node: no more ticks or messages; pending requests are rejected. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    clearInterval(this.#ticker);
    clearTimeout(this.#reclaimTimer);
    clearInterval(this.#quietTimer);
    this.#kick();
    await this.#loop;
    await this.#snapshotting;
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

  #asUnavailable(e: unknown): Error {
    if (e instanceof ProposalDroppedError) {
      return new UnavailableError(e.message);
    }
    return e instanceof Error ? e : new Error(String(e));
  }

  #step(m: Message): void {
    if (this.#stopped) return;
    // A follower's read request: the leader's lease answers it at once
    // (and is renewed ahead of expiry while such requests keep coming).
    const leaseRead = m.type === "readIndex" && this.#leaseMs > 0 &&
      this.#raft.role === "leader";
    if (leaseRead) {
      const now = performance.now();
      this.#raft.leaseConfirmed = this.#leaseHolds(now);
      this.#renewLease(now);
    }
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
    }
  }

  #flushProposals(): void {
    if (this.#batch.length === 0) return;
    const batch = this.#batch;
    this.#batch = [];
    try {
      this.#raft.propose(...batch.map((b) => b.data));
    } catch (e) {
      const err = this.#asUnavailable(e);
      for (const b of batch) {
        const p = this.#pending.get(b.seq);
        if (!p) continue;
        clearTimeout(p.timer);
        this.#pending.delete(b.seq);
        p.reject(err);
      }
    }
  }

  async #run(): Promise<void> {
    while (!this.#stopped) {
      this.#flushProposals();
      this.#flushReads();
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
    clearTimeout(this.#reclaimTimer);
    clearInterval(this.#quietTimer);
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
    const late: Message[] = [];
    for (const m of rd.messages) {
      if (termDurable && this.#raft.role === "leader" && EARLY.has(m.type)) {
        this.#transport.send(m);
      } else late.push(m);
    }
    for (const e of rd.entries) this.#noteOwnEntry(e);
    // A change of the commit index alone needs no sync: Raft may forget it
    // (a restarted node learns it again). Carry it with the next write
    // instead of paying a sync on the path of every commit.
    const hardState = rd.hardState ?? this.#lazyHard;
    if (rd.mustSync || rd.snapshot || rd.entries.length > 0) {
      const t0 = performance.now();
      await this.#storage.save({
        snapshot: rd.snapshot,
        entries: rd.entries,
        hardState,
      });
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
      this.#restoreSnapshot(rd.snapshot.data);
      this.#applied = rd.snapshot.metadata.index;
      this.#snapshotIndex = rd.snapshot.metadata.index;
      this.#storage.releaseSnapshotData?.();
      this.#reclaimSoon();
      this.#log("node.snapshotInstalled", {
        level: "info",
        id: this.id,
        index: this.#applied,
      });
    }
    for (const e of rd.committedEntries) this.#apply(e);
    for (const rs of rd.readStates) {
      const r = this.#reads.get(rs.context);
      if (!r) continue;
      r.index = rs.index;
      // A quorum confirmed this leader's own round: extend its lease.
      if (r.sentAt !== undefined && this.#raft.role === "leader") {
        this.#leaseUntil = Math.max(
          this.#leaseUntil,
          r.sentAt + this.#leaseMs,
        );
      }
    }
    this.#serveReads();
    if (
      !this.#snapshotting &&
      this.#applied - this.#snapshotIndex >=
        this.#snapshotEvery + this.#snapshotJitter
    ) this.#startSnapshot();
    if (!this.#publishing && this.#raft.lead && !this.#selfPublished()) {
      this.#publishSelf();
    }
  }

  #durableTerm = -1;
  #snapshotting: Promise<void> | undefined;
  // Nodes reach the snapshot point at different entries, so they do not
  // all snapshot at once.
  #snapshotJitter = 0;
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
      this.#applyConfChange(e);
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
      this.#applyMemberInfo(env.payload);
    }
    if (env.nonce === this.#nonce) {
      const p = this.#pending.get(env.seq);
      if (p) {
        clearTimeout(p.timer);
        this.#pending.delete(env.seq);
        p.resolve({ index: e.index, result });
      }
    } else {
      this.#failLostAt(e.index, e.term);
    }
  }

  // A proposal of ours that was appended at `index` in another term lost
  // its place: a different entry is committed there.
  #failLostAt(index: number, term: number): void {
    if (this.#pending.size === 0) return;
    for (const [seq, p] of this.#pending) {
      if (p.index === index && p.term !== term) {
        clearTimeout(p.timer);
        this.#pending.delete(seq);
        p.reject(
          new ProposalLostError(
            `Proposal was overwritten at log index ${index} after a leader change; it was not applied, retry`,
          ),
        );
      }
    }
  }

  #applyConfChange(e: Entry): void {
    const { change, conf } = decodeConfChange(e.data);
    if (change.context) {
      try {
        const info = JSON.parse(change.context) as MemberInfo;
        if (info && typeof info === "object") {
          this.#setMember({ ...info, id: change.node });
        }
      } catch {
        // Context is optional host data; a bad one only loses addresses.
      }
    }
    if (change.type === "remove" && change.node === this.id) {
      // Applied here, so committed: this node is out for good.
      queueMicrotask(() => this.#becomeRemoved("it applied its own removal"));
    }
    if (change.type === "remove") {
      this.#members.delete(change.node);
      if (change.node !== this.id) {
        this.#transport.removePeer?.(change.node);
        this.#dialed.delete(change.node);
      }
    }
    this.#log("node.membership", {
      level: "info",
      id: this.id,
      index: e.index,
      change: change.type,
      node: change.node,
      voters: conf.voters,
      learners: conf.learners,
    });
    for (const w of [...this.#confWaiters]) {
      if (w.done(conf)) {
        clearTimeout(w.timer);
        this.#confWaiters = this.#confWaiters.filter((x) => x !== w);
        w.resolve();
      }
    }
  }

  #applyMemberInfo(payload: Uint8Array): void {
    try {
      const info = JSON.parse(new TextDecoder().decode(payload)) as MemberInfo;
      if (info && typeof info.id === "string") this.#setMember(info);
    } catch {
      this.#log("node.badMemberInfo", { level: "warn", id: this.id });
    }
  }

  #setMember(info: MemberInfo, fromLog = true): void {
    const prev = this.#members.get(info.id);
    const next = { ...prev, ...info };
    this.#members.set(info.id, next);
    if (fromLog && info.id === this.id) this.#appliedSelf = next;
    if (info.id !== this.id) this.#dial(info.id);
  }

  // Points the transport at a peer: an address given in the configuration
  // (--peers) wins over the one the peer published about itself, which may
  // be a bind address that others cannot use (0.0.0.0, behind a proxy).
  #dial(id: NodeId): void {
    const addr = this.#configured.get(id) ?? this.#members.get(id)?.peerAddress;
    if (!addr || this.#dialed.get(id) === addr) return;
    this.#dialed.set(id, addr);
    this.#transport.addPeer?.(id, addr);
  }

  // Each node publishes its addresses through the log so every node can
  // tell clients where the others are; once the log agrees, it stops.
  #publishSelf(): void {
    this.#publishing = true;
    const payload = new TextEncoder().encode(
      JSON.stringify({ id: this.id, ...this.#self }),
    );
    this.#proposeEnvelope(EnvelopeKind.MemberInfo, payload, {})
      .catch(() => {/* retried after a later Ready */})
      .finally(() => (this.#publishing = false));
  }

  #selfPublished(): boolean {
    const a = this.#appliedSelf;
    return !this.#self ||
      (a !== undefined && a.httpAddress === this.#self.httpAddress &&
        a.peerAddress === this.#self.peerAddress);
  }

  #serveReads(): void {
    if (this.#reads.size === 0) return;
    for (const [ctx, r] of this.#reads) {
      if (r.index !== undefined && this.#applied >= r.index) {
        this.#reads.delete(ctx);
        for (const w of r.waiters) settleRead(w, { index: r.index });
      } else if (r.waiters.length > 0 && r.waiters.every((w) => w.done)) {
        this.#reads.delete(ctx); // every caller timed out
      }
    }
  }

  #onSoftState(leader: NodeId, role: Role): void {
    if (role !== "leader") this.#leaseUntil = 0;
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
    if (changed && this.#leader !== "") {
      // Unconfirmed reads died with the old leader's read queue; they are
      // safe to retry, so fail them now rather than time out.
      const error = new UnavailableError(
        "Leadership changed before the read was confirmed; retry",
      );
      for (const [ctx, r] of this.#reads) {
        if (r.index === undefined) {
          this.#reads.delete(ctx);
          for (const w of r.waiters) settleRead(w, { error });
        }
      }
    }
    if (changed && this.#leader !== "") {
      // A proposal that never reached this node's log was with the old
      // leader: it may be lost, or the new leader may still commit it. Say
      // so at once instead of timing out; a retry with the same request id
      // is applied at most once.
      // Queued ones not yet handed to the core are dropped with them.
      this.#batch = [];
      for (const [seq, p] of this.#pending) {
        if (p.index === undefined) {
          clearTimeout(p.timer);
          this.#pending.delete(seq);
          p.reject(
            new UnavailableError(
              "Leadership changed while the write was in flight; it may or may not have been applied, so retry with the same X-Request-Id",
            ),
          );
        }
      }
    }
    this.#leader = leader;
    this.#role = role;
    if (leader) { for (const w of [...this.#leaderWaiters]) w(); }
    for (const fn of this.#roleListeners) fn(role, leader, this.#raft.term);
  }

  // Snapshots run beside the Ready loop: the state is captured at the
  // applied index at once, encoded in chunks (when the state machine can),
  // and written while the node keeps replicating and answering heartbeats.
  #startSnapshot(): void {
    if (this.#snapshotting) return;
    const index = this.#applied;
    const conf = this.#raft.confStateAt(index);
    const members = [...this.#members.values()].map((m) => ({ ...m }));
    const sm = this.#sm;
    // Each way captures the state before its first await.
    const encoded = sm.snapshotInto
      ? encodeNodeSnapshotInto(members, (out) => sm.snapshotInto!(out))
      : (sm.snapshotAsync ? sm.snapshotAsync() : Promise.resolve(sm.snapshot()))
        .then((app) => encodeNodeSnapshot(members, app));
    const t0 = performance.now();
    this.#snapshotting = (async () => {
      const data = await encoded;
      await this.#storage.createSnapshot(index, conf, data);
      this.#snapshotIndex = Math.max(this.#snapshotIndex, index);
      this.#storage.releaseSnapshotData?.();
      this.#reclaimWhenQuiet();
      // Spread the next snapshot point so nodes do not all write at once.
      this.#snapshotJitter = Math.floor(
        Math.random() * (this.#snapshotEvery / 4),
      );
      this.#log("node.snapshot", {
        level: "info",
        id: this.id,
        index,
        bytes: data.byteLength,
        ms: Math.round(performance.now() - t0),
      });
    })().catch((e) => {
      if (e instanceof StorageFatalError) this.#die(e);
      else {this.#log("node.snapshotFailed", {
          level: "warn",
          id: this.id,
          index,
          error: String(e),
        });}
    }).finally(() => (this.#snapshotting = undefined));
  }

  // Runs the process's memory reclaimer (see setMemoryReclaimer) once the
  // current task is done, so the released snapshot bytes and references
  // still on this stack are gone by then; calls close together run it
  // once. At start and after installing a snapshot the pause is harmless:
  // the node is a follower catching up, and a follower's pause starts no
  // election.
  #reclaimSoon(): void {
    if (!reclaimMemory || this.#reclaimTimer !== undefined) return;
    this.#reclaimTimer = setTimeout(() => {
      this.#reclaimTimer = undefined;
      if (!this.#stopped) reclaimMemory?.();
    }, 0);
  }

  // After a snapshot was written: a node busy applying entries allocates
  // enough for V8 to collect on its own (incrementally, with short
  // pauses), and a forced full collection on a busy leader is a pause of
  // up to a few hundred ms on a loaded machine. So the reclaimer runs only
  // once nothing was applied for a second; a node that stays busy never
  // needs it.
  #reclaimWhenQuiet(): void {
    if (!reclaimMemory || this.#quietTimer !== undefined) return;
    let seen = this.#applied;
    this.#quietTimer = setInterval(() => {
      if (this.#applied !== seen) {
        seen = this.#applied;
        return;
      }
      clearInterval(this.#quietTimer);
      this.#quietTimer = undefined;
      this.#reclaimSoon();
    }, 1000);
  }

  #restoreSnapshot(data: Uint8Array): void {
    const s = decode<{ v: number; members: MemberInfo[]; app: Uint8Array }>(
      data,
    );
    if (!s || s.v !== 1 || !(s.app instanceof Uint8Array)) {
      throw new Error("Snapshot is not a raftlock node snapshot (version 1)");
    }
    this.#sm.restore(s.app);
    for (const m of s.members ?? []) this.#setMember(m);
  }

  #onRaftEvent(e: RaftEvent): void {
    const { event, ...fields } = e;
    const quiet = event === "preCampaign" || event === "sendSnapshot";
    this.#log(`raft.${event}`, { level: quiet ? "debug" : "info", ...fields });
  }

  #failAll(err: Error): void {
    for (const p of this.#pending.values()) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    this.#pending.clear();
    for (const r of this.#reads.values()) {
      for (const w of r.waiters) settleRead(w, { error: err });
    }
    this.#reads.clear();
    for (const w of this.#readQueue) settleRead(w, { error: err });
    this.#readQueue = [];
    for (const w of this.#confWaiters) {
      clearTimeout(w.timer);
      w.reject(err);
    }
    this.#confWaiters = [];
  }
}

// The node snapshot, msgpack {v: 1, members, app}, written by hand so the
// (possibly large) app bytes are copied a slice at a time, not in one go.
function encodeNodeSnapshot(
  members: MemberInfo[],
  app: Uint8Array,
): Promise<Uint8Array> {
  return concatYielding([...nodeSnapshotHead(members, app.byteLength), app]);
}

// The same bytes with the state machine writing its part in place: one
// buffer for the whole snapshot, the bin 32 length filled in at the end.
async function encodeNodeSnapshotInto(
  members: MemberInfo[],
  writeApp: (out: ByteWriter) => Promise<void>,
): Promise<Uint8Array> {
  const out = new ByteWriter();
  for (const part of nodeSnapshotHead(members, 0)) out.write(part);
  const at = out.length;
  await writeApp(out);
  out.setUint32(at - 4, out.length - at);
  return await out.finish();
}

function nodeSnapshotHead(members: MemberInfo[], appLength: number) {
  const bin = new Uint8Array(5);
  bin[0] = 0xc6; // bin 32
  new DataView(bin.buffer).setUint32(1, appLength);
  return [
    Uint8Array.of(0x83),
    encode("v"),
    encode(1),
    encode("members"),
    encode(members),
    encode("app"),
    bin,
  ];
}
