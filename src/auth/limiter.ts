/**
 * A bound on concurrent slow work (password hashes): at most `maxActive`
 * run at once, at most `maxQueued` wait, and anything beyond is refused at
 * once with `too_many_requests`, so a flood of logins costs the node a
 * fixed share of its CPU and never an unbounded queue.
 *
 * @module
 */

import { AuthError } from "./errors.ts";

/** Bounds of a {@linkcode ConcurrencyLimiter}. */
export interface LimiterOptions {
  /** Tasks running at once (default 2). */
  maxActive?: number;
  /** Tasks waiting for a slot (default 8). */
  maxQueued?: number;
}

/**
 * Runs async tasks with bounded concurrency and a bounded queue.
 *
 * @example
 * ```ts
 * import { ConcurrencyLimiter } from "./limiter.ts";
 *
 * const limiter = new ConcurrencyLimiter({ maxActive: 1, maxQueued: 0 });
 * let release = () => {};
 * const first = limiter.run(() => new Promise<void>((r) => (release = r)));
 * await limiter.run(async () => {}).catch((e) => console.log(e.code)); // too_many_requests
 * release();
 * await first;
 * ```
 */
export class ConcurrencyLimiter {
  readonly #maxActive: number;
  readonly #maxQueued: number;
  #active = 0;
  readonly #queue: (() => void)[] = [];
  /** Tasks refused because the queue was full, for metrics. */
  refused = 0;

  /** Creates a limiter. */
  constructor(options: LimiterOptions = {}) {
    this.#maxActive = Math.max(1, options.maxActive ?? 2);
    this.#maxQueued = Math.max(0, options.maxQueued ?? 8);
  }

  /** Tasks running now. */
  get active(): number {
    return this.#active;
  }

  /** Tasks waiting now. */
  get queued(): number {
    return this.#queue.length;
  }

  /**
   * Runs `task` when a slot is free; throws `too_many_requests` at once
   * when every slot is busy and the queue is full.
   */
  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.#active >= this.#maxActive) {
      if (this.#queue.length >= this.#maxQueued) {
        this.refused++;
        throw new AuthError(
          "too_many_requests",
          "Too many password checks are in progress; retry shortly",
        );
      }
      await new Promise<void>((resolve) => this.#queue.push(resolve));
    } else {
      this.#active++;
    }
    try {
      return await task();
    } finally {
      // Hand the slot straight to the next waiter, or free it.
      const next = this.#queue.shift();
      if (next) next();
      else this.#active--;
    }
  }
}
