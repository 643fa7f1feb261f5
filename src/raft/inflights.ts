/**
 * The window of AppendEntries a leader has sent to one follower and not yet
 * seen acknowledged, bounded by message count and by bytes (flow control).
 *
 * @module
 */

/** A ring buffer of (last index, bytes) per in-flight AppendEntries. */
export class Inflights {
  readonly #maxCount: number;
  readonly #maxBytes: number;
  #indexes: number[] = [];
  #sizes: number[] = [];
  #start = 0;
  #count = 0;
  #bytes = 0;

  /** A window of at most `maxCount` messages and `maxBytes` bytes (0 = no byte limit). */
  constructor(maxCount: number, maxBytes = 0) {
    this.#maxCount = maxCount;
    this.#maxBytes = maxBytes;
  }

  /** Records a message whose last entry is `index` and whose entries weigh `bytes`. */
  add(index: number, bytes: number): void {
    if (this.full()) throw new Error("Cannot add to a full inflights window");
    const cap = this.#indexes.length;
    if (this.#count === cap) this.#grow();
    const next = (this.#start + this.#count) % this.#indexes.length;
    this.#indexes[next] = index;
    this.#sizes[next] = bytes;
    this.#count++;
    this.#bytes += bytes;
  }

  #grow(): void {
    const cap = Math.min(Math.max(this.#indexes.length * 2, 4), this.#maxCount);
    const idx: number[] = new Array(cap);
    const sz: number[] = new Array(cap);
    for (let i = 0; i < this.#count; i++) {
      const j = (this.#start + i) % this.#indexes.length;
      idx[i] = this.#indexes[j];
      sz[i] = this.#sizes[j];
    }
    this.#indexes = idx;
    this.#sizes = sz;
    this.#start = 0;
  }

  /** Frees every message whose last index is at most `to` (they were acknowledged). */
  freeLE(to: number): void {
    const cap = this.#indexes.length;
    while (this.#count > 0 && this.#indexes[this.#start] <= to) {
      this.#bytes -= this.#sizes[this.#start];
      this.#start = (this.#start + 1) % cap;
      this.#count--;
    }
    if (this.#count === 0) this.#start = 0;
  }

  /** Frees the oldest message: a heartbeat answer shows the peer is alive, so a lost message must not block the window forever. */
  freeFirstOne(): void {
    if (this.#count > 0) this.freeLE(this.#indexes[this.#start]);
  }

  /** True when no more messages may be sent until some are acknowledged. */
  full(): boolean {
    return this.#count >= this.#maxCount ||
      (this.#maxBytes > 0 && this.#bytes >= this.#maxBytes);
  }

  /** Messages in flight. */
  count(): number {
    return this.#count;
  }

  /** Bytes in flight. */
  bytes(): number {
    return this.#bytes;
  }

  /** Empties the window. */
  reset(): void {
    this.#start = 0;
    this.#count = 0;
    this.#bytes = 0;
  }
}
