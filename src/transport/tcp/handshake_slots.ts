/**
 * Slots for inbound peer connections that have not yet proved who they
 * are. There are a fixed number, and at most a few per remote host. When a
 * new connection needs a slot and none is free, the oldest handshake of
 * the busiest host (of those tied, the one waiting longest) makes room (its connection is closed): a stranger who
 * opens many silent connections cannot keep a real member out, because
 * the member's fresh handshake evicts an old one instead of being refused.
 * A connection leaves its slot once its handshake is done, so a proven
 * member is never evicted.
 *
 * @module
 */

/** One taken slot. */
export interface HandshakeSlot {
  /** True once the slot was taken away to make room for a newer handshake. */
  readonly evicted: boolean;
  /** Gives the slot back (the handshake ended, either way). Idempotent. */
  release(): void;
}

interface Entry {
  host: string;
  seq: number;
  evicted: boolean;
  released: boolean;
  onEvict: () => void;
}

/**
 * A bounded set of pending handshakes with a per-host cap, evicting the
 * oldest of the busiest host when full.
 *
 * @example
 * ```ts
 * import { HandshakeSlots } from "./handshake_slots.ts";
 *
 * const slots = new HandshakeSlots(64, 16);
 * const conn = await Deno.connect({ hostname: "127.0.0.1", port: 7001 });
 * const slot = slots.take("10.0.0.9", () => conn.close());
 * // ... the handshake ...
 * slot.release();
 * ```
 */
export class HandshakeSlots {
  readonly #max: number;
  readonly #perHost: number;
  // Insertion order is age order: the first of a set is its oldest.
  readonly #byHost = new Map<string, Set<Entry>>();
  #size = 0;
  #evictions = 0;
  #seq = 0;

  /** `max` slots in all, at most `perHost` of them for one remote host. */
  constructor(max: number, perHost: number) {
    if (!(max >= 1 && perHost >= 1)) {
      throw new RangeError("max and perHost must be at least 1");
    }
    this.#max = max;
    this.#perHost = Math.min(perHost, max);
  }

  /** Handshakes pending now. */
  get size(): number {
    return this.#size;
  }

  /** Handshakes evicted so far. */
  get evictions(): number {
    return this.#evictions;
  }

  /** Pending handshakes from `host`. */
  pendingFrom(host: string): number {
    return this.#byHost.get(host)?.size ?? 0;
  }

  /**
   * Takes a slot for a handshake from `host`, first evicting (and calling
   * `onEvict` of) the oldest handshake of `host` if it is at its cap, or
   * else the oldest of the busiest host if every slot is taken (of hosts
   * tied, the one whose oldest has waited longest).
   */
  take(host: string, onEvict: () => void): HandshakeSlot {
    const own = this.#byHost.get(host);
    if (own !== undefined && own.size >= this.#perHost) {
      this.#evict(own);
    } else if (this.#size >= this.#max) {
      let busiest: Set<Entry> | undefined;
      for (const set of this.#byHost.values()) {
        if (
          busiest === undefined || set.size > busiest.size ||
          (set.size === busiest.size && oldestOf(set) < oldestOf(busiest))
        ) busiest = set;
      }
      this.#evict(busiest!);
    }
    const entry: Entry = {
      host,
      seq: this.#seq++,
      evicted: false,
      released: false,
      onEvict,
    };
    let set = this.#byHost.get(host);
    if (set === undefined) {
      set = new Set();
      this.#byHost.set(host, set);
    }
    set.add(entry);
    this.#size++;
    return {
      get evicted() {
        return entry.evicted;
      },
      release: () => this.#release(entry),
    };
  }

  #evict(set: Set<Entry>): void {
    const [oldest] = set;
    oldest.evicted = true;
    this.#evictions++;
    this.#release(oldest);
    try {
      oldest.onEvict();
    } catch {
      // Closing an already closed connection.
    }
  }

  #release(entry: Entry): void {
    if (entry.released) return;
    entry.released = true;
    const set = this.#byHost.get(entry.host)!;
    set.delete(entry);
    if (set.size === 0) this.#byHost.delete(entry.host);
    this.#size--;
  }
}

function oldestOf(set: Set<Entry>): number {
  const [first] = set;
  return first.seq;
}
