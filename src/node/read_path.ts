/**
 * Linearizable reads for a {@linkcode RaftNode}: ReadIndex rounds shared by
 * every read waiting when the Ready loop comes round, and the leader's
 * lease that stands in for a round while it holds.
 *
 * @module
 */

import type { Raft } from "../raft/raft.ts";
import type { Message, NodeId, ReadState, Role } from "../raft/types.ts";
import { asUnavailable, TimeoutError, UnavailableError } from "./errors.ts";

/** What the read path needs from the node that owns it. */
export interface ReadHost {
  /** The node's id (read contexts start with it). */
  readonly id: NodeId;
  /** The node's per-process nonce (keeps contexts unique across restarts). */
  readonly nonce: bigint;
  /** The node's core. */
  readonly raft: Pick<
    Raft,
    | "role"
    | "log"
    | "leadTransferee"
    | "committedInCurrentTerm"
    | "readIndex"
    | "leaseConfirmed"
    | "lead"
    | "term"
  >;
  /** The index applied to the state machine. */
  applied(): number;
  /** Wakes the Ready loop. */
  kick(): void;
}

/** How to run a read path. */
export interface ReadPathOptions {
  /** How long a leadership lease lasts in ms; 0 turns leases off. */
  leaseMs: number;
  /** Default timeout for reads in ms. */
  timeoutMs: number;
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
  // The leader and term asked (`n1@3`).
  via?: string;
}

/**
 * Where a request went: the leader and term (`n1@3`) a proposal or a read
 * round was handed to, compared when the leader changes.
 */
export function leaderAt(raft: Pick<Raft, "lead" | "term">): string {
  return `${raft.lead}@${raft.term}`;
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

/**
 * The read side of a node: queues read barriers, starts ReadIndex rounds
 * (or answers from the lease), and settles them as the Ready loop reports
 * read states and applies entries. The node calls it from its Ready loop;
 * nothing here runs on its own timer except each read's timeout.
 *
 * @example
 * ```ts ignore
 * const reads = new ReadPath(host, { leaseMs: 105, timeoutMs: 5_000 });
 * const index = reads.read(); // then, in the Ready loop:
 * reads.flush(); // ...persist, send, apply...
 * reads.settle(rd.readStates);
 * ```
 */
export class ReadPath {
  readonly #host: ReadHost;
  readonly #leaseMs: number;
  readonly #timeoutMs: number;
  #readSeq = 0;
  #readQueue: ReadWaiter[] = [];
  readonly #reads = new Map<string, PendingRead>();
  // Until when (performance.now()) this leader's leadership is confirmed.
  #leaseUntil = 0;
  // The context of the lease renewal round in flight, if any.
  #renewal = "";

  /** Creates the read path of the node behind `host`. */
  constructor(host: ReadHost, options: ReadPathOptions) {
    this.#host = host;
    this.#leaseMs = options.leaseMs;
    this.#timeoutMs = options.timeoutMs;
  }

  /**
   * A read barrier: resolves with the index to wait for once a leader
   * confirmed it (see `RaftNode.read`). Queued until the next
   * {@linkcode ReadPath.flush}.
   */
  read(options: { timeoutMs?: number } = {}): Promise<number> {
    // The leader's lease confirms it now and it has applied all it
    // committed: answer at once, with no timer and no trip through the
    // Ready loop (the hot path of linearizable gets on the leader).
    const now = performance.now();
    if (this.#leaseHolds(now)) {
      const committed = this.#host.raft.log.committed;
      if (this.#host.applied() >= committed) {
        if (this.#renewLease(now)) this.#host.kick();
        return Promise.resolve(committed);
      }
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
      this.#host.kick();
    });
  }

  /** Whether reads wait for the next {@linkcode ReadPath.flush}. */
  get queued(): boolean {
    return this.#readQueue.length > 0;
  }

  /** Hands the queued reads to the lease or to one ReadIndex round. */
  flush(): void {
    if (this.#readQueue.length === 0) return;
    const waiters = this.#readQueue.filter((w) => !w.done);
    this.#readQueue = [];
    if (waiters.length === 0) return;
    const now = performance.now();
    if (this.#leaseHolds(now)) {
      // Confirmed by the lease: wait only for the apply.
      const ctx = `${this.#host.id}:${this.#host.nonce}:${++this.#readSeq}`;
      this.#reads.set(ctx, { waiters, index: this.#host.raft.log.committed });
      // Usually applied already: answer now, not at the next Ready.
      this.serve();
      this.#renewLease(now);
      return;
    }
    this.#startRound(waiters);
  }

  /**
   * Called just before the core steps `m`: a follower's read request is
   * answered at once by the leader's lease (and the lease is renewed ahead
   * of expiry while such requests keep coming). The node clears
   * `leaseConfirmed` after the step.
   */
  beforeStep(m: Message): void {
    const raft = this.#host.raft;
    const leaseRead = m.type === "readIndex" && this.#leaseMs > 0 &&
      raft.role === "leader";
    if (leaseRead) {
      const now = performance.now();
      raft.leaseConfirmed = this.#leaseHolds(now);
      this.#renewLease(now);
    }
  }

  /**
   * Takes a Ready's read states (after its entries are applied): records
   * each round's index, extends the lease by the rounds this leader
   * started, and serves what is applied.
   */
  settle(readStates: readonly ReadState[]): void {
    for (const rs of readStates) {
      const r = this.#reads.get(rs.context);
      if (!r) continue;
      r.index = rs.index;
      // A quorum confirmed this leader's own round: extend its lease.
      if (r.sentAt !== undefined && this.#host.raft.role === "leader") {
        this.#leaseUntil = Math.max(
          this.#leaseUntil,
          r.sentAt + this.#leaseMs,
        );
      }
    }
    this.serve();
  }

  /** Resolves the reads whose index is applied; forgets timed-out rounds. */
  serve(): void {
    if (this.#reads.size === 0) return;
    const applied = this.#host.applied();
    for (const [ctx, r] of this.#reads) {
      if (r.index !== undefined && applied >= r.index) {
        this.#reads.delete(ctx);
        for (const w of r.waiters) settleRead(w, { index: r.index });
      } else if (r.waiters.length > 0 && r.waiters.every((w) => w.done)) {
        this.#reads.delete(ctx); // every caller timed out
      }
    }
  }

  /** The node's role changed (persisted): a non-leader holds no lease. */
  onRole(role: Role): void {
    if (role !== "leader") this.#leaseUntil = 0;
  }

  /**
   * The known leader changed to `now` (`n2@4`): unconfirmed reads sent to
   * another died with that leader's read queue; they are safe to retry, so
   * fail them now rather than time out.
   */
  failUnconfirmed(now: string): void {
    const error = new UnavailableError(
      "Leadership changed before the read was confirmed; retry",
    );
    for (const [ctx, r] of this.#reads) {
      if (r.index === undefined && r.via !== now) {
        this.#reads.delete(ctx);
        for (const w of r.waiters) settleRead(w, { error });
      }
    }
  }

  /**
   * The same leader is back in the same term after this node lost sight of
   * it: its answers to our rounds may have been dropped meanwhile, so the
   * unconfirmed reads start a new round (a round begun later confirms at
   * least as much).
   */
  retryUnconfirmed(): void {
    for (const [ctx, r] of this.#reads) {
      if (r.index !== undefined) continue;
      this.#reads.delete(ctx);
      for (const w of r.waiters) if (!w.done) this.#readQueue.push(w);
    }
    if (this.#readQueue.length > 0) this.#host.kick();
  }

  /** Rejects every read, started or queued, with `err`. */
  failAll(err: Error): void {
    for (const r of this.#reads.values()) {
      for (const w of r.waiters) settleRead(w, { error: err });
    }
    this.#reads.clear();
    for (const w of this.#readQueue) settleRead(w, { error: err });
    this.#readQueue = [];
  }

  #leaseHolds(now: number): boolean {
    const raft = this.#host.raft;
    return this.#leaseMs > 0 && now < this.#leaseUntil &&
      raft.role === "leader" && raft.leadTransferee === "" &&
      raft.committedInCurrentTerm();
  }

  // Starts a renewal round once the lease is half spent (or gone), so
  // steady reads never wait for a round; one renewal at a time.
  // Returns whether it started one.
  #renewLease(now: number): boolean {
    if (
      this.#leaseUntil - now >= this.#leaseMs / 2 ||
      this.#reads.has(this.#renewal)
    ) return false;
    this.#renewal = this.#startRound([]) ?? "";
    return this.#renewal !== "";
  }

  // One ReadIndex round for `waiters` (none: a lease renewal); returns its
  // context, or undefined when the core refused it.
  #startRound(waiters: ReadWaiter[]): string | undefined {
    const ctx = `${this.#host.id}:${this.#host.nonce}:${++this.#readSeq}`;
    const sentAt = performance.now();
    try {
      this.#host.raft.readIndex(ctx);
    } catch (e) {
      const error = asUnavailable(e);
      for (const w of waiters) settleRead(w, { error });
      return undefined;
    }
    this.#reads.set(ctx, { waiters, sentAt, via: leaderAt(this.#host.raft) });
    return ctx;
  }
}
