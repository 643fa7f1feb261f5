/**
 * A held lock that keeps its lease alive in the background and knows when
 * it has been lost. Get one with `client.lock(name)`; see
 * {@linkcode Lock} for an example.
 *
 * @module
 */

import { isRaftlockError, RaftlockError } from "./errors.ts";
import { sleep } from "./transport.ts";
import type { Fence, Lease, LockGrant, ReleaseResult } from "./types.ts";
import type { CallOptions } from "./transport.ts";

/** What a {@linkcode Lock} needs from the client. */
export interface LockBackend {
  /** Renews a lease. */
  keepAlive(id: number, options?: CallOptions): Promise<Lease>;
  /** Releases a lock. */
  release(
    name: string,
    token: number,
    options?: CallOptions,
  ): Promise<ReleaseResult>;
  /** Revokes a lease. */
  revokeLease(id: number, options?: CallOptions): Promise<unknown>;
  /** Aborts when the client closes. */
  readonly closed: AbortSignal;
}

/** Options of `client.lock()`. */
export interface LockOptions {
  /** TTL in seconds of the lease made for the lock (default 10). */
  ttl?: number;
  /** How long to wait in the queue, in ms (default 0: fail at once if held). */
  wait?: number;
  /** Who holds it (free text, shown by `lockInfo`). */
  owner?: string;
  /** Lock-delay in ms after this holder's lease expires. */
  lockDelay?: number;
  /** Called once if the lock is lost (keepalives failed past the TTL). */
  onLost?: (error: RaftlockError) => void;
  /** Aborts the acquire. */
  signal?: AbortSignal;
}

/**
 * A held lock. Its lease is renewed every `ttl / 3` seconds; if renewals
 * fail for longer than the TTL (or the lease is gone), the lock marks
 * itself lost: {@linkcode Lock.lost} turns true, {@linkcode Lock.signal}
 * aborts (with a `lock_lost` {@linkcode RaftlockError}) and `onLost` is
 * called. Work done under the lock should pass {@linkcode Lock.fence} to
 * the writes it protects, or watch `signal`.
 *
 * @example
 * ```ts
 * import type { Client } from "./mod.ts";
 *
 * async function nightly(
 *   client: Client,
 *   work: (signal: AbortSignal) => Promise<void>,
 * ): Promise<void> {
 *   await using lock = await client.lock("jobs/nightly", { ttl: 10 });
 *   await client.put("jobs/nightly/state", "running", { fence: lock.fence() });
 *   await work(lock.signal); // aborts if the lock is lost
 *   // released (and its lease revoked) at the end of the scope
 * }
 * ```
 */
export class Lock implements AsyncDisposable {
  /** The lock's name. */
  readonly name: string;
  /** The fencing token: strictly increasing across all grants. */
  readonly token: number;
  /** The lease holding the lock. */
  readonly lease: number;
  /** The owner string. */
  readonly owner: string;
  /** The lease TTL in seconds. */
  readonly ttl: number;
  readonly #backend: LockBackend;
  readonly #onLost?: (error: RaftlockError) => void;
  readonly #held = new AbortController();
  readonly #stop = new AbortController();
  readonly #loop: Promise<void>;
  #lastOk: number;
  #lost = false;
  #releasing: Promise<void> | undefined;

  /**
   * Wraps a grant and starts its keepalives (use `client.lock`).
   * `renewedAt` is a time (ms since the epoch) by which the lease was
   * surely last renewed.
   */
  constructor(
    backend: LockBackend,
    grant: LockGrant,
    options: {
      ttl: number;
      renewedAt: number;
      onLost?: (error: RaftlockError) => void;
    },
  ) {
    this.#backend = backend;
    this.name = grant.name;
    this.token = grant.token;
    this.lease = grant.lease;
    this.owner = grant.owner;
    this.ttl = options.ttl;
    this.#onLost = options.onLost;
    this.#lastOk = options.renewedAt;
    this.#loop = this.#keepAlive();
  }

  /** Whether the lock was lost (its lease could not be kept alive). */
  get lost(): boolean {
    return this.#lost;
  }

  /** Whether {@linkcode Lock.release} was called. */
  get released(): boolean {
    return this.#releasing !== undefined;
  }

  /**
   * Aborts when the lock is no longer held: lost (reason: a `lock_lost`
   * RaftlockError) or released.
   */
  get signal(): AbortSignal {
    return this.#held.signal;
  }

  /** The fence to pass to fenced writes: `{lock: name, token}`. */
  fence(): Fence {
    return { lock: this.name, token: this.token };
  }

  /**
   * Stops the keepalives, releases the lock and revokes its lease (which
   * deletes keys attached to it). Safe to call more than once; a lock that
   * was already lost or released only cleans up.
   */
  release(): Promise<void> {
    this.#releasing ??= this.#release();
    return this.#releasing;
  }

  /** Releases the lock (for `await using`). */
  [Symbol.asyncDispose](): Promise<void> {
    return this.release();
  }

  async #release(): Promise<void> {
    this.#stop.abort();
    await this.#loop;
    let error: unknown;
    try {
      if (!this.#lost) {
        try {
          await this.#backend.release(this.name, this.token);
        } catch (e) {
          if (!isGone(e)) error = e;
        }
      }
      try {
        await this.#backend.revokeLease(this.lease);
      } catch (e) {
        if (!isGone(e) && !error && !this.#lost) error = e;
      }
    } finally {
      if (!this.#held.signal.aborted) {
        this.#held.abort(
          new RaftlockError("stale_token", `Lock ${this.name} was released`),
        );
      }
    }
    if (error) throw error;
  }

  async #keepAlive(): Promise<void> {
    const ttlMs = this.ttl * 1000;
    const every = ttlMs / 3;
    const stop = AbortSignal.any([this.#stop.signal, this.#backend.closed]);
    // Renew at once if the grant came late (after a wait in the queue).
    let next = Math.max(0, this.#lastOk + every - Date.now());
    while (!stop.aborted) {
      try {
        await sleep(next, stop);
      } catch {
        return;
      }
      const sentAt = Date.now();
      const left = this.#lastOk + ttlMs - sentAt;
      if (left <= 0) return this.#markLost("keepalives failed for the TTL");
      try {
        await this.#backend.keepAlive(this.lease, {
          signal: stop,
          timeoutMs: left,
        });
        this.#lastOk = sentAt;
        next = every;
      } catch (e) {
        if (stop.aborted) return;
        if (isRaftlockError(e, "not_found")) {
          return this.#markLost("its lease expired or was revoked");
        }
        const rest = this.#lastOk + ttlMs - Date.now();
        if (rest <= 0) {
          return this.#markLost(
            `keepalives failed for longer than the ${this.ttl} s TTL (${
              (e as Error)?.message ?? e
            })`,
          );
        }
        next = Math.min(Math.max(100, every / 4), rest);
      }
    }
  }

  #markLost(why: string): void {
    if (this.#lost) return;
    this.#lost = true;
    const err = new RaftlockError(
      "lock_lost",
      `Lock ${this.name} (token ${this.token}) was lost: ${why}`,
    );
    this.#held.abort(err);
    try {
      this.#onLost?.(err);
    } catch {
      // A failing callback must not break the client.
    }
  }
}

function isGone(e: unknown): boolean {
  return isRaftlockError(e, "not_found") || isRaftlockError(e, "stale_token");
}
