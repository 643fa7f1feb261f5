/**
 * A held lock that keeps its lease alive in the background and knows when
 * it has been lost. Get one with `client.lock(name)`; see
 * {@linkcode Lock} for an example.
 *
 * @module
 */

import type { RaftlockError } from "./errors.ts";
import { Held, type HeldBackend } from "./held.ts";
import type { LockFence, LockGrant, ReleaseResult } from "./types.ts";
import type { CallOptions } from "./transport.ts";

/** What a {@linkcode Lock} needs from the client. */
export interface LockBackend extends HeldBackend {
  /** Releases a lock. */
  release(
    name: string,
    token: number,
    options?: CallOptions,
  ): Promise<ReleaseResult>;
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
export class Lock extends Held {
  /** The lock's name. */
  readonly name: string;
  /** The owner string. */
  readonly owner: string;
  readonly #backend: LockBackend;

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
    super(backend, grant, options);
    this.#backend = backend;
    this.name = grant.name;
    this.owner = grant.owner;
  }

  /** The fence to pass to fenced writes: `{lock: name, token}`. */
  fence(): LockFence {
    return { lock: this.name, token: this.token };
  }

  /** What is held, in messages. */
  protected get description(): string {
    return `Lock ${this.name}`;
  }

  /** Releases the lock. */
  protected releaseGrant(): Promise<unknown> {
    return this.#backend.release(this.name, this.token);
  }
}
