/**
 * A won election held by this client: its lease kept alive in the
 * background, its value changed with `proclaim`, its leadership given up
 * with `resign` (or at the end of an `await using` scope), and a signal
 * that aborts when leadership is lost. Get one with `client.campaign()`.
 *
 * @module
 */

import type { RaftlockError } from "./errors.ts";
import { isRaftlockError } from "./errors.ts";
import { Held, type HeldBackend } from "./held.ts";
import type { CallOptions } from "./transport.ts";
import type {
  ElectionFence,
  ElectionGrant,
  ElectionLeader,
  ResignResult,
} from "./types.ts";

/** What an {@linkcode Election} needs from the client. */
export interface ElectionBackend extends HeldBackend {
  /** Changes the leader's value. */
  proclaim(
    name: string,
    token: number,
    value: string,
    options?: CallOptions,
  ): Promise<ElectionLeader>;
  /** Gives up leadership. */
  resign(
    name: string,
    token: number,
    options?: CallOptions,
  ): Promise<ResignResult>;
}

/** Options of `client.campaign()`. */
export interface CampaignOptions {
  /** TTL in seconds of the lease made for the leadership (default 10). */
  ttl?: number;
  /**
   * How long to wait in the line of candidates, in ms (default: until
   * elected, or until `signal` aborts; 0: fail at once if another leads).
   */
  wait?: number;
  /** Called once if leadership is lost (keepalives failed past the TTL). */
  onLost?: (error: RaftlockError) => void;
  /** Aborts the campaign. */
  signal?: AbortSignal;
}

/**
 * Leadership of an election. Like a {@linkcode Lock}: its lease is renewed
 * every `ttl / 3` seconds; when renewals fail for longer than the TTL (or
 * the lease is gone), {@linkcode Election.lost} turns true,
 * {@linkcode Election.signal} aborts with a `lock_lost` error and `onLost`
 * is called — another candidate may lead by then. Pass
 * {@linkcode Election.fence} to the writes leadership protects.
 *
 * @example
 * ```ts
 * import type { Client } from "./mod.ts";
 *
 * async function lead(
 *   client: Client,
 *   serve: (signal: AbortSignal) => Promise<void>,
 * ): Promise<void> {
 *   // Waits until elected.
 *   await using leader = await client.campaign("scheduler", "10.0.0.7:9000");
 *   await client.put("scheduler/epoch", String(leader.token), {
 *     fence: leader.fence(), // refused once another leads
 *   });
 *   await serve(leader.signal); // aborts if leadership is lost
 *   // resigned (and its lease revoked) at the end of the scope
 * }
 * ```
 */
export class Election extends Held {
  /** The election's name. */
  readonly name: string;
  readonly #backend: ElectionBackend;
  #value: string;

  /** Wraps a won campaign and starts its keepalives (use `client.campaign`). */
  constructor(
    backend: ElectionBackend,
    grant: ElectionGrant,
    options: {
      ttl: number;
      renewedAt: number;
      onLost?: (error: RaftlockError) => void;
    },
  ) {
    super(backend, grant, options);
    this.#backend = backend;
    this.name = grant.name;
    this.#value = grant.value;
  }

  /** The leader's value, as last proclaimed by this client. */
  get value(): string {
    return this.#value;
  }

  /** The fence to pass to fenced writes: `{election: name, token}`. */
  fence(): ElectionFence {
    return { election: this.name, token: this.token };
  }

  /**
   * Changes the value observers see, keeping leadership and its token.
   * Throws `stale_token` (and marks leadership lost) when this client no
   * longer leads.
   */
  async proclaim(
    value: string,
    options?: CallOptions,
  ): Promise<ElectionLeader> {
    try {
      const leader = await this.#backend.proclaim(
        this.name,
        this.token,
        value,
        options,
      );
      this.#value = leader.value;
      return leader;
    } catch (e) {
      if (isRaftlockError(e, "stale_token")) {
        this.markLost("another candidate leads now");
      }
      throw e;
    }
  }

  /** Gives up leadership (the next candidate leads) and revokes the lease. */
  resign(): Promise<void> {
    return this.release();
  }

  /** What is held, in messages. */
  protected get description(): string {
    return `Leadership of election ${this.name}`;
  }

  /** Resigns. */
  protected releaseGrant(): Promise<unknown> {
    return this.#backend.resign(this.name, this.token);
  }
}
