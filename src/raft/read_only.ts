/**
 * ReadIndex bookkeeping: read requests waiting for a heartbeat round to
 * confirm that the leader is still the leader.
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
  /** Who acknowledged the heartbeat that carried this request's context. */
  acks: Set<NodeId>;
}

/** Pending reads in arrival order. */
export class ReadOnly {
  readonly #pending = new Map<string, ReadIndexStatus>();
  #queue: string[] = [];

  /** Queues a read at commit index `index`. */
  addRequest(index: number, request: Message): void {
    const ctx = request.context ?? "";
    if (this.#pending.has(ctx)) return;
    this.#pending.set(ctx, { index, request, acks: new Set() });
    this.#queue.push(ctx);
  }

  /** Records `id`'s acknowledgement of `ctx`; returns the acks so far. */
  recvAck(id: NodeId, ctx: string): Set<NodeId> | undefined {
    const rs = this.#pending.get(ctx);
    if (!rs) return undefined;
    rs.acks.add(id);
    return rs.acks;
  }

  /**
   * Confirms `ctx` and every read queued before it (a heartbeat that
   * confirms a later read confirms the earlier ones too).
   */
  advance(ctx: string): ReadIndexStatus[] {
    const i = this.#queue.indexOf(ctx);
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

  /** The context of the newest pending read, which the next heartbeat carries. */
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
