/**
 * An in-memory, fault-injecting network.
 *
 * {@linkcode FaultyNetwork} is a pure, clock-agnostic message queue with
 * seeded faults (loss, duplication, delay, jitter, reordering, symmetric
 * partitions and one-way cuts). It reads no clock and owns no timers: the
 * caller passes `now` in whatever unit it likes. The deterministic simulator
 * drives it with virtual time; {@linkcode MemoryHub} drives it with
 * `performance.now()` and a single timer, and hands out
 * {@linkcode MemoryTransport}s for tests of the asynchronous node runtime.
 *
 * @module
 */

import type { Message, NodeId } from "../raft/types.ts";
import { mulberry32 } from "../raft/rand.ts";
import type { MessageHandler, PeerAware, Transport } from "./types.ts";

/** The fault settings of a {@linkcode FaultyNetwork}. */
export interface NetworkFaults {
  /** Probability in `[0, 1]` that a message is lost. */
  dropRate: number;
  /**
   * Probability in `[0, 1]` that a message is delivered twice; the second
   * copy gets its own delay (jitter and reordering drawn again).
   */
  duplicateRate: number;
  /**
   * Probability in `[0, 1]` that a message gets an extra delay, uniform in
   * `[0, maxDelay)`, so that it overtakes or is overtaken by others.
   * Has no effect while `maxDelay` is 0.
   */
  reorderRate: number;
  /** Lower bound of the delivery delay, in the caller's time unit. */
  minDelay: number;
  /** Upper bound of the delivery delay (uniform jitter between min and max). */
  maxDelay: number;
}

/**
 * Counters of what a {@linkcode FaultyNetwork} did with its messages.
 *
 * At all times
 * `sent + duplicated === delivered + dropped + partitioned + inFlight()`.
 */
export interface NetworkStats {
  /** Calls to `send`. */
  sent: number;
  /** Messages (copies included) returned by `deliverDue`. */
  delivered: number;
  /** Messages lost to `dropRate` or discarded by `dropTo`. */
  dropped: number;
  /** Extra copies scheduled because of `duplicateRate`. */
  duplicated: number;
  /** Messages blocked by a partition, cut or isolation (at send or at delivery). */
  partitioned: number;
}

/** Options of a {@linkcode FaultyNetwork}. */
export interface FaultyNetworkOptions {
  /** The only source of randomness: returns floats in `[0, 1)`. */
  random: () => number;
  /** Initial faults; unset fields default to no faults and zero delay. */
  faults?: Partial<NetworkFaults>;
}

const NO_FAULTS: NetworkFaults = Object.freeze({
  dropRate: 0,
  duplicateRate: 0,
  reorderRate: 0,
  minDelay: 0,
  maxDelay: 0,
});

function validateFaults(f: NetworkFaults): void {
  for (const k of ["dropRate", "duplicateRate", "reorderRate"] as const) {
    const v = f[k];
    if (!(v >= 0 && v <= 1)) {
      throw new RangeError(`${k} must be in [0, 1], got ${v}`);
    }
  }
  if (!(f.minDelay >= 0 && Number.isFinite(f.minDelay))) {
    throw new RangeError(
      `minDelay must be a finite number >= 0, got ${f.minDelay}`,
    );
  }
  if (!(f.maxDelay >= f.minDelay && Number.isFinite(f.maxDelay))) {
    throw new RangeError(
      `maxDelay must be finite and >= minDelay (${f.minDelay}), got ${f.maxDelay}`,
    );
  }
}

/** One scheduled delivery in the queue. */
interface Pending {
  at: number;
  seq: number;
  message: Message;
}

/** Heap order: earlier delivery time first, then send order. */
function before(a: Pending, b: Pending): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}

/** A binary min-heap of pending deliveries ordered by `(at, seq)`. */
class PendingHeap {
  items: Pending[] = [];

  get size(): number {
    return this.items.length;
  }

  peek(): Pending | undefined {
    return this.items[0];
  }

  push(p: Pending): void {
    const a = this.items;
    let i = a.length;
    a.push(p);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(p, a[parent])) break;
      a[i] = a[parent];
      i = parent;
    }
    a[i] = p;
  }

  pop(): Pending | undefined {
    const a = this.items;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0 && last !== undefined) {
      this.siftDown(0, last);
    }
    return top;
  }

  /** Keeps only the items `keep` accepts; returns how many were removed. */
  retain(keep: (p: Pending) => boolean): number {
    const old = this.items;
    const kept = old.filter(keep);
    this.items = kept;
    for (let i = (kept.length >> 1) - 1; i >= 0; i--) {
      this.siftDown(i, kept[i]);
    }
    return old.length - kept.length;
  }

  private siftDown(start: number, p: Pending): void {
    const a = this.items;
    const n = a.length;
    let i = start;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= n) break;
      if (child + 1 < n && before(a[child + 1], a[child])) child++;
      if (!before(a[child], p)) break;
      a[i] = a[child];
      i = child;
    }
    a[i] = p;
  }
}

/**
 * A deterministic message network with injectable faults.
 *
 * It has no timers and reads no clock: {@linkcode FaultyNetwork.send} takes
 * the current time and schedules delivery at `now + delay`;
 * {@linkcode FaultyNetwork.deliverDue} hands back what is due at a given
 * time. All randomness comes from the `random` function given at
 * construction, so the same seed and the same calls give the same result.
 *
 * Reachability is checked both when a message is sent and when it is
 * delivered, so a partition made while a message is in flight stops it.
 * Messages are delivered as the same object that was sent (no copy).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mulberry32 } from "../raft/mod.ts";
 * import { FaultyNetwork } from "./memory.ts";
 *
 * const net = new FaultyNetwork({
 *   random: mulberry32(1),
 *   faults: { minDelay: 5, maxDelay: 5 },
 * });
 * const beat = { type: "heartbeat" as const, from: "n1", to: "n2", term: 1 };
 * net.send(beat, 0);
 * assert.deepEqual(net.deliverDue(4), []); // not due yet
 * assert.deepEqual(net.deliverDue(5), [beat]);
 *
 * net.partition([["n1"], ["n2"]]);
 * net.send(beat, 10);
 * assert.deepEqual(net.deliverDue(20), []); // cut off
 * ```
 */
export class FaultyNetwork {
  readonly #random: () => number;
  #faults: NetworkFaults;
  readonly #queue = new PendingHeap();
  #seq = 0;
  /** Group index of each node while a partition is active, else undefined. */
  #groups: Map<NodeId, number> | undefined;
  /** One-way cuts, keyed by `from + "\u0000" + to`. */
  readonly #cuts = new Set<string>();
  readonly #isolated = new Set<NodeId>();
  readonly #stats: NetworkStats = {
    sent: 0,
    delivered: 0,
    dropped: 0,
    duplicated: 0,
    partitioned: 0,
  };

  /**
   * Creates a network. `random` must return floats in `[0, 1)`; `faults`
   * default to none (no loss, no duplication, zero delay).
   *
   * @throws {RangeError} when a fault setting is out of range.
   */
  constructor(options: FaultyNetworkOptions) {
    this.#random = options.random;
    const faults = { ...NO_FAULTS, ...options.faults };
    validateFaults(faults);
    this.#faults = faults;
  }

  /**
   * Merges `faults` into the current settings.
   *
   * @throws {RangeError} when the merged settings are out of range (then
   * nothing changes).
   */
  setFaults(faults: Partial<NetworkFaults>): void {
    const merged = { ...this.#faults, ...faults };
    validateFaults(merged);
    this.#faults = merged;
  }

  /** A copy of the current fault settings. */
  faults(): NetworkFaults {
    return { ...this.#faults };
  }

  /**
   * Splits the network symmetrically: nodes in different groups cannot talk
   * and nodes not listed in any group are cut off from everyone. Replaces
   * any earlier partition; one-way cuts and isolations stay.
   */
  partition(groups: NodeId[][]): void {
    const map = new Map<NodeId, number>();
    groups.forEach((group, i) => {
      for (const node of group) map.set(node, i);
    });
    this.#groups = map;
  }

  /** Drops messages from `from` to `to` (one direction only). */
  cut(from: NodeId, to: NodeId): void {
    this.#cuts.add(from + "\u0000" + to);
  }

  /** Cuts both directions between `node` and every other node, present or future. */
  isolate(node: NodeId): void {
    this.#isolated.add(node);
  }

  /** Removes every partition, cut and isolation. Fault settings stay. */
  heal(): void {
    this.#groups = undefined;
    this.#cuts.clear();
    this.#isolated.clear();
  }

  /**
   * Whether a message from `from` to `to` would pass partitions, cuts and
   * isolations right now. A node can always reach itself.
   */
  canDeliver(from: NodeId, to: NodeId): boolean {
    if (from === to) return true;
    if (this.#isolated.has(from) || this.#isolated.has(to)) return false;
    if (this.#cuts.size > 0 && this.#cuts.has(from + "\u0000" + to)) {
      return false;
    }
    const groups = this.#groups;
    if (groups !== undefined) {
      const g = groups.get(from);
      if (g === undefined || g !== groups.get(to)) return false;
    }
    return true;
  }

  /**
   * Sends `message` at time `now`: checks reachability, applies loss and
   * duplication, and schedules each surviving copy at `now + delay`.
   */
  send(message: Message, now: number): void {
    const stats = this.#stats;
    stats.sent++;
    if (!this.canDeliver(message.from, message.to)) {
      stats.partitioned++;
      return;
    }
    const f = this.#faults;
    if (f.dropRate > 0 && this.#random() < f.dropRate) {
      stats.dropped++;
      return;
    }
    this.#schedule(message, now);
    if (f.duplicateRate > 0 && this.#random() < f.duplicateRate) {
      stats.duplicated++;
      this.#schedule(message, now);
    }
  }

  #schedule(message: Message, now: number): void {
    const f = this.#faults;
    let delay = f.minDelay;
    if (f.maxDelay > f.minDelay) {
      delay += this.#random() * (f.maxDelay - f.minDelay);
    }
    if (f.reorderRate > 0 && f.maxDelay > 0 && this.#random() < f.reorderRate) {
      delay += this.#random() * f.maxDelay;
    }
    this.#queue.push({ at: now + delay, seq: this.#seq++, message });
  }

  /**
   * Removes and returns every message due at or before `now`, ordered by
   * delivery time and then by send order. Messages whose path is blocked at
   * this moment are discarded (counted as partitioned).
   */
  deliverDue(now: number): Message[] {
    const out: Message[] = [];
    const q = this.#queue;
    const stats = this.#stats;
    for (
      let top = q.peek();
      top !== undefined && top.at <= now;
      top = q.peek()
    ) {
      q.pop();
      const m = top.message;
      if (this.canDeliver(m.from, m.to)) {
        stats.delivered++;
        out.push(m);
      } else {
        stats.partitioned++;
      }
    }
    return out;
  }

  /** The delivery time of the earliest in-flight message, or undefined if none. */
  nextDueTime(): number | undefined {
    return this.#queue.peek()?.at;
  }

  /** Discards every in-flight message to or from `node` (as on a crash). */
  dropTo(node: NodeId): void {
    const removed = this.#queue.retain((p) =>
      p.message.to !== node && p.message.from !== node
    );
    this.#stats.dropped += removed;
  }

  /** How many messages (copies included) are scheduled and not yet delivered. */
  inFlight(): number {
    return this.#queue.size;
  }

  /** A copy of the counters. */
  stats(): NetworkStats {
    return { ...this.#stats };
  }
}

/** Options of a {@linkcode MemoryHub}. */
export interface MemoryHubOptions {
  /** Seed of the fault randomness; defaults to 1. */
  seed?: number;
  /** Initial faults; delays are in milliseconds. */
  faults?: Partial<NetworkFaults>;
}

/**
 * A real-time in-memory network for tests: wraps a {@linkcode FaultyNetwork}
 * clocked by `performance.now()` (milliseconds) and delivers due messages
 * from a single `setTimeout` set for the next due time. Delivery is always
 * asynchronous, even with zero delay. A message whose recipient is not
 * connected when it falls due is discarded (the network still counts it as
 * delivered).
 *
 * Call {@linkcode MemoryHub.close} at the end of a test so that no timer is
 * left behind.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryHub } from "./memory.ts";
 *
 * const hub = new MemoryHub({ seed: 7, faults: { minDelay: 1, maxDelay: 3 } });
 * const n1 = hub.connect("n1");
 * const n2 = hub.connect("n2");
 * const got = Promise.withResolvers<string>();
 * n2.onMessage((m) => got.resolve(m.from));
 * n1.send({ type: "heartbeat", from: "n1", to: "n2", term: 1 });
 * assert.equal(await got.promise, "n1");
 * hub.close();
 * ```
 */
export class MemoryHub {
  /** The underlying network: use it to set faults, partitions and cuts. */
  readonly network: FaultyNetwork;
  readonly #transports = new Map<NodeId, MemoryTransport>();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #timerAt = Infinity;
  #closed = false;

  /** Creates a hub with a seeded network. */
  constructor(options: MemoryHubOptions = {}) {
    this.network = new FaultyNetwork({
      random: mulberry32(options.seed ?? 1),
      faults: options.faults,
    });
  }

  /**
   * Attaches node `id` and returns its transport. A node whose transport
   * was closed may connect again (a restart).
   *
   * @throws {Error} if `id` is already connected or the hub is closed.
   */
  connect(id: NodeId): MemoryTransport {
    if (this.#closed) throw new Error("MemoryHub is closed");
    if (this.#transports.has(id)) {
      throw new Error(`node ${id} is already connected`);
    }
    const t = new MemoryTransport(id, this);
    this.#transports.set(id, t);
    return t;
  }

  /** The ids of the nodes currently connected. */
  nodes(): NodeId[] {
    return [...this.#transports.keys()];
  }

  /** Stops all delivery, clears the timer and closes every transport. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#clearTimer();
    for (const t of [...this.#transports.values()]) t.close();
  }

  /** @internal Called by a transport to send. */
  _send(message: Message): void {
    if (this.#closed) return;
    this.network.send(message, performance.now());
    this.#reschedule();
  }

  /** @internal Called by a transport when it closes. */
  _disconnect(t: MemoryTransport): void {
    if (this.#transports.get(t.id) !== t) return;
    this.#transports.delete(t.id);
    this.network.dropTo(t.id);
    this.#reschedule();
  }

  #clearTimer(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = Infinity;
  }

  #reschedule(): void {
    if (this.#closed) return;
    const next = this.network.nextDueTime();
    if (next === undefined) {
      this.#clearTimer();
      return;
    }
    if (this.#timer !== undefined && this.#timerAt <= next) return;
    this.#clearTimer();
    const wait = Math.max(0, Math.ceil(next - performance.now()));
    this.#timerAt = next;
    this.#timer = setTimeout(() => this.#fire(), wait);
  }

  #fire(): void {
    this.#timer = undefined;
    this.#timerAt = Infinity;
    if (this.#closed) return;
    const due = this.network.deliverDue(performance.now());
    // A throwing handler must not stop delivery to the others: deliver all,
    // then rethrow the first error.
    let failed = false;
    let error: unknown;
    for (const m of due) {
      if (this.#closed) break;
      try {
        this.#transports.get(m.to)?._receive(m);
      } catch (e) {
        if (!failed) error = e;
        failed = true;
      }
    }
    this.#reschedule();
    if (failed) throw error;
  }
}

/**
 * One node's endpoint on a {@linkcode MemoryHub}. Sending never blocks and
 * may drop; inbound messages go to the handler set with
 * {@linkcode MemoryTransport.onMessage} (messages arriving before a handler
 * is set are discarded).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryHub } from "./memory.ts";
 *
 * const hub = new MemoryHub();
 * const n1 = hub.connect("n1");
 * hub.connect("n2");
 * assert.deepEqual(n1.peers(), ["n2"]);
 * n1.close(); // later sends are ignored; "n1" may connect again
 * assert.deepEqual(hub.nodes(), ["n2"]);
 * hub.close();
 * ```
 */
export class MemoryTransport implements Transport, PeerAware {
  /** The node this transport belongs to. */
  readonly id: NodeId;
  readonly #hub: MemoryHub;
  #handler: MessageHandler | undefined;
  #closed = false;

  /** Use {@linkcode MemoryHub.connect} rather than this constructor. */
  constructor(id: NodeId, hub: MemoryHub) {
    this.id = id;
    this.#hub = hub;
  }

  /** Queues `message` for `message.to`; a no-op once closed. */
  send(message: Message): void {
    if (this.#closed) return;
    this.#hub._send(message);
  }

  /** Sets the function that receives inbound messages. */
  onMessage(handler: MessageHandler): void {
    this.#handler = handler;
  }

  /** The other nodes currently connected to the hub. */
  peers(): NodeId[] {
    return this.#hub.nodes().filter((n) => n !== this.id);
  }

  /**
   * Disconnects this node: in-flight messages to and from it are dropped,
   * later sends are ignored and nothing more is delivered to it.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#handler = undefined;
    this.#hub._disconnect(this);
  }

  /** @internal Called by the hub to deliver. */
  _receive(message: Message): void {
    if (!this.#closed) this.#handler?.(message);
  }
}
