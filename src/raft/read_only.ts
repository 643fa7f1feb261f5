/**
 * ReadIndex bookkeeping: read requests waiting for a heartbeat round to
 * confirm that the leader is still the leader.
 *
 * Each request gets a round id of the leader's own making, carried as the
 * heartbeat context; requests are never merged by the caller's context, so
 * two nodes (or a restarted node) using the same context are each answered
 * at their own index.
 *
 * @module
 */

import type { Message, NodeId } from "./types.ts";

/** One read waiting for confirmation. */
export interface ReadIndexStatus {
  /** The original request (local or forwarded from a follower). */
  request: Message;
  /** The commit index when the request arrived. */
  index: number;
  /** Who acknowledged a heartbeat carrying this round or a later one. */
  acks: Set<NodeId>;
}

/** Pending reads in arrival order. */
export class ReadOnly {
  readonly #pending = new Map<string, ReadIndexStatus>();
  #queue: string[] = [];
  #seq = 0;

  /** Queues a read at commit index `index`; returns its round id. */
  addRequest(index: number, request: Message): string {
    const round = `rd${++this.#seq}`;
    this.#pending.set(round, { index, request, acks: new Set() });
    this.#queue.push(round);
    return round;
  }

  /** Records `id`'s acknowledgement of `round`; returns the acks so far. */
  recvAck(id: NodeId, round: string): Set<NodeId> | undefined {
    const rs = this.#pending.get(round);
    if (!rs) return undefined;
    rs.acks.add(id);
    return rs.acks;
  }

  /**
   * Confirms `round` and every read queued before it (a heartbeat that
   * confirms a later read confirms the earlier ones too).
   */
  advance(round: string): ReadIndexStatus[] {
    const i = this.#queue.indexOf(round);
    if (i < 0) return [];
    const done = this.#queue.slice(0, i + 1);
    this.#queue = this.#queue.slice(i + 1);
    const out: ReadIndexStatus[] = [];
    for (const c of done) {
      const rs = this.#pending.get(c);
      if (rs) out.push(rs);
      this.#pending.delete(c);
    }
    return out;
  }

  /** The newest pending round, which the next heartbeat carries. */
  lastPendingContext(): string | undefined {
    return this.#queue.length > 0
      ? this.#queue[this.#queue.length - 1]
      : undefined;
  }

  /** Reads waiting. */
  size(): number {
    return this.#queue.length;
  }

  /** Drops all pending reads (leadership lost). */
  reset(): void {
    this.#pending.clear();
    this.#queue = [];
  }
}
