/**
 * What every held grant of the client shares — a lock, an election's
 * leadership, semaphore permits, a read-write lock: a lease kept alive in
 * the background, the knowledge of when the grant was lost, and a release
 * that also revokes the lease. See {@linkcode Held}.
 *
 * @module
 */

import { isRaftlockError, RaftlockError } from "./errors.ts";
import { type CallOptions, sleep } from "./transport.ts";
import type { Lease } from "./types.ts";

/** What a {@linkcode Held} grant needs from the client. */
export interface HeldBackend {
  /** Renews a lease. */
  keepAlive(id: number, options?: CallOptions): Promise<Lease>;
  /** Revokes a lease. */
  revokeLease(id: number, options?: CallOptions): Promise<unknown>;
  /** Aborts when the client closes. */
  readonly closed: AbortSignal;
}

/** How a {@linkcode Held} grant starts. */
export interface HeldOptions {
  /** The lease TTL in seconds. */
  ttl: number;
  /** A time (ms since the epoch) by which the lease was surely last renewed. */
  renewedAt: number;
  /** Called once if the grant is lost. */
  onLost?: (error: RaftlockError) => void;
}

/**
 * A grant held with a lease of its own. The lease is renewed every
 * `ttl / 3` seconds; if renewals fail for longer than the TTL (or the lease
 * is gone), the grant marks itself lost: {@linkcode Held.lost} turns true,
 * {@linkcode Held.signal} aborts (with a `lock_lost`
 * {@linkcode RaftlockError}) and `onLost` is called. Subclasses say what
 * releasing the grant is.
 */
export abstract class Held implements AsyncDisposable {
  /** The fencing token: strictly increasing across all grants. */
  readonly token: number;
  /** The lease holding the grant. */
  readonly lease: number;
  /** The lease TTL in seconds. */
  readonly ttl: number;
  readonly #backend: HeldBackend;
  readonly #onLost?: (error: RaftlockError) => void;
  readonly #held = new AbortController();
  readonly #stop = new AbortController();
  readonly #loop: Promise<void>;
  #lastOk: number;
  #lost = false;
  #releasing: Promise<void> | undefined;

  /** Wraps a grant and starts its keepalives. */
  constructor(
    backend: HeldBackend,
    grant: { token: number; lease: number },
    options: HeldOptions,
  ) {
    this.#backend = backend;
    this.token = grant.token;
    this.lease = grant.lease;
    this.ttl = options.ttl;
    this.#onLost = options.onLost;
    this.#lastOk = options.renewedAt;
    this.#loop = this.#keepAlive();
  }

  /** What is held, in messages ("Lock job"). */
  protected abstract get description(): string;

  /** Gives the grant back (before the lease is revoked). */
  protected abstract releaseGrant(): Promise<unknown>;

  /** Whether the grant was lost (its lease could not be kept alive). */
  get lost(): boolean {
    return this.#lost;
  }

  /** Whether {@linkcode Held.release} was called. */
  get released(): boolean {
    return this.#releasing !== undefined;
  }

  /**
   * Aborts when the grant is no longer held: lost (reason: a `lock_lost`
   * RaftlockError) or released.
   */
  get signal(): AbortSignal {
    return this.#held.signal;
  }

  /**
   * Stops the keepalives, gives the grant back and revokes its lease
   * (which deletes keys attached to it). Safe to call more than once; a
   * grant that was already lost or released only cleans up.
   */
  release(): Promise<void> {
    this.#releasing ??= this.#release();
    return this.#releasing;
  }

  /** Releases the grant (for `await using`). */
  [Symbol.asyncDispose](): Promise<void> {
    return this.release();
  }

  /**
   * Marks the grant lost now (a subclass learned it another way, for
   * example a proclaim refused as stale).
   */
  protected markLost(why: string): void {
    if (this.#lost) return;
    this.#lost = true;
    const err = new RaftlockError(
      "lock_lost",
      `${this.description} (token ${this.token}) was lost: ${why}`,
    );
    this.#held.abort(err);
    try {
      this.#onLost?.(err);
    } catch {
      // A failing callback must not break the client.
    }
  }

  async #release(): Promise<void> {
    this.#stop.abort();
    await this.#loop;
    let error: unknown;
    try {
      if (!this.#lost) {
        try {
          await this.releaseGrant();
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
          new RaftlockError("stale_token", `${this.description} was released`),
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
    while (!stop.aborted && !this.#lost) {
      try {
        await sleep(next, stop);
      } catch {
        return;
      }
      const sentAt = Date.now();
      const left = this.#lastOk + ttlMs - sentAt;
      if (left <= 0) return this.markLost("keepalives failed for the TTL");
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
          return this.markLost("its lease expired or was revoked");
        }
        const rest = this.#lastOk + ttlMs - Date.now();
        if (rest <= 0) {
          return this.markLost(
            `keepalives failed for longer than the ${this.ttl} s TTL (${
              (e as Error)?.message ?? e
            })`,
          );
        }
        next = Math.min(Math.max(100, every / 4), rest);
      }
    }
  }
}

function isGone(e: unknown): boolean {
  return isRaftlockError(e, "not_found") || isRaftlockError(e, "stale_token");
}

/**
 * A time by which a lease was surely last renewed, for a grant whose
 * request was sent at `sentAt` and answered now: after a wait in the queue
 * the node renewed the lease every ttl / 3 while the request was open, so
 * count from the last renewal it may have made (the first keepalive then
 * goes out at once).
 */
export function renewedAt(sentAt: number, ttl: number): number {
  const now = Date.now();
  const every = (ttl * 1000) / 3;
  return now - sentAt > every / 2
    ? Math.max(sentAt, now - every - 500)
    : sentAt;
}
