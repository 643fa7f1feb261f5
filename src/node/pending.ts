/**
 * The proposals a node waits on, each until its entry is applied, it is
 * lost, or its timeout passes.
 *
 * The timeouts share one timer: a busy leader proposes thousands of
 * entries a second, and a timer each (set, then cleared a millisecond
 * later) cost it about 3 µs of its only thread per write. Proposals with the
 * same timeout expire in the order they were made, so a queue per timeout
 * length holds them in deadline order and the one timer is armed for the
 * earliest live head.
 *
 * @module
 */

import { TimeoutError } from "./errors.ts";

/** The result of an applied proposal. */
export interface Applied<T = unknown> {
  /** The log index the command was applied at. */
  index: number;
  /** What the state machine returned. */
  result: T;
}

/** One proposal being waited on. */
export interface PendingProposal {
  /** Settles the caller's promise with the applied result. */
  resolve: (a: Applied) => void;
  /** Settles the caller's promise with an error. */
  reject: (e: Error) => void;
  /** How long the caller waits, in ms. */
  timeoutMs: number;
  /** When it times out, on the `now` clock. */
  deadline: number;
  /** Where it was appended in this node's log, once known. */
  index?: number;
  /** The term it was appended in, once known. */
  term?: number;
  /** The leader and term it was handed to (`n1@3`), once it left this node. */
  via?: string;
}

// Sequence numbers of one timeout length, oldest (earliest deadline) first;
// `head` skips those already taken off.
interface DeadlineQueue {
  seqs: number[];
  head: number;
}

/**
 * Proposals by sequence number, with their timeouts on one timer.
 *
 * @example
 * ```ts
 * import { PendingProposals } from "./pending.ts";
 *
 * const pending = new PendingProposals();
 * const applied = pending.add(1, 5_000);
 * pending.resolve(1, { index: 7, result: "ok" });
 * console.log((await applied).index); // 7
 * pending.close();
 * ```
 */
export class PendingProposals {
  readonly #byId = new Map<number, PendingProposal>();
  readonly #queues = new Map<number, DeadlineQueue>();
  readonly #now: () => number;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #armedFor = Infinity;

  /** `now` is the clock deadlines are measured on (ms, monotonic). */
  constructor(now: () => number = () => performance.now()) {
    this.#now = now;
  }

  /** How many proposals are waited on. */
  get size(): number {
    return this.#byId.size;
  }

  /**
   * Waits on proposal `seq`: the promise settles when it is resolved or
   * rejected here, or rejects with a {@linkcode TimeoutError} once
   * `timeoutMs` have passed.
   */
  add(seq: number, timeoutMs: number): Promise<Applied> {
    const deadline = this.#now() + timeoutMs;
    return new Promise<Applied>((resolve, reject) => {
      this.#byId.set(seq, { resolve, reject, timeoutMs, deadline });
      let q = this.#queues.get(timeoutMs);
      if (!q) this.#queues.set(timeoutMs, q = { seqs: [], head: 0 });
      this.#dropSettledHeads(q);
      q.seqs.push(seq);
      if (deadline < this.#armedFor) this.#arm(deadline);
    });
  }

  /** The proposal `seq`, if it is still waited on. */
  get(seq: number): PendingProposal | undefined {
    return this.#byId.get(seq);
  }

  /** Every proposal still waited on, oldest first. */
  entries(): IterableIterator<[number, PendingProposal]> {
    return this.#byId.entries();
  }

  /** Settles `seq` with its applied result; false if nobody waits on it. */
  resolve(seq: number, applied: Applied): boolean {
    const p = this.#take(seq);
    p?.resolve(applied);
    return p !== undefined;
  }

  /** Settles `seq` with an error; false if nobody waits on it. */
  reject(seq: number, err: Error): boolean {
    const p = this.#take(seq);
    p?.reject(err);
    return p !== undefined;
  }

  // Removes `seq` from those waited on (its queue entry goes lazily).
  #take(seq: number): PendingProposal | undefined {
    const p = this.#byId.get(seq);
    if (p) this.#byId.delete(seq);
    return p;
  }

  /** Rejects everything waited on with `err`. */
  rejectAll(err: Error): void {
    const all = [...this.#byId.values()];
    this.#byId.clear();
    this.#queues.clear();
    this.close();
    for (const p of all) p.reject(err);
  }

  /** Stops the timer (proposals still waited on no longer time out). */
  close(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#armedFor = Infinity;
  }

  #arm(deadline: number): void {
    clearTimeout(this.#timer);
    this.#armedFor = deadline;
    const wait = Math.max(0, Math.ceil(deadline - this.#now()));
    this.#timer = setTimeout(() => this.#expire(), wait);
  }

  // Rejects every proposal past its deadline, then arms the timer for the
  // earliest one left.
  #expire(): void {
    this.#timer = undefined;
    this.#armedFor = Infinity;
    const now = this.#now();
    const expired: PendingProposal[] = [];
    let next = Infinity;
    for (const [timeoutMs, q] of this.#queues) {
      for (; q.head < q.seqs.length; q.head++) {
        const p = this.#byId.get(q.seqs[q.head]);
        if (!p) continue;
        if (p.deadline > now) {
          next = Math.min(next, p.deadline);
          break;
        }
        this.#byId.delete(q.seqs[q.head]);
        expired.push(p);
      }
      this.#compact(q);
      if (q.head === q.seqs.length) this.#queues.delete(timeoutMs);
    }
    if (next < Infinity) this.#arm(next);
    for (const p of expired) {
      p.reject(
        new TimeoutError(
          `Proposal was not applied within ${p.timeoutMs} ms; it may still be applied later, so retry with the same request id`,
        ),
      );
    }
  }

  // Proposals mostly settle in the order they were made, so taking the
  // settled ones off the front keeps a queue about as long as the number
  // in flight.
  #dropSettledHeads(q: DeadlineQueue): void {
    while (q.head < q.seqs.length && !this.#byId.has(q.seqs[q.head])) q.head++;
    this.#compact(q);
  }

  #compact(q: DeadlineQueue): void {
    if (q.head === q.seqs.length) {
      q.seqs.length = 0;
      q.head = 0;
    } else if (q.head >= 1024 && q.head * 2 >= q.seqs.length) {
      q.seqs = q.seqs.slice(q.head);
      q.head = 0;
    }
  }
}
