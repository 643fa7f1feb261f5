/**
 * Held grants of semaphores and read-write locks: {@linkcode Permits}
 * (some of a semaphore's permits) and {@linkcode RwLock} (a read or write
 * hold of a read-write lock), each with its lease kept alive in the
 * background. Get them with `client.semaphore()` and `client.rwlock()`.
 *
 * @module
 */

import type { RaftlockError } from "./errors.ts";
import { Held, type HeldBackend } from "./held.ts";
import type { CallOptions } from "./transport.ts";
import type {
  ReleaseResult,
  RwlockFence,
  RwlockGrant,
  RwlockMode,
  SemaphoreFence,
  SemaphoreGrant,
} from "./types.ts";

/** What {@linkcode Permits} and {@linkcode RwLock} need from the client. */
export interface RecipeBackend extends HeldBackend {
  /** Releases the semaphore permits or read-write lock held with `token`. */
  release(
    kind: "semaphore" | "rwlock",
    name: string,
    token: number,
    options?: CallOptions,
  ): Promise<ReleaseResult>;
}

/** How a held grant waits and holds. */
export interface HoldOptions {
  /** TTL in seconds of the lease made for the grant (default 10). */
  ttl?: number;
  /** How long to wait in the queue, in ms (default 0: fail at once). */
  wait?: number;
  /** Who holds it (free text, shown by the status). */
  owner?: string;
  /** Called once if the grant is lost (keepalives failed past the TTL). */
  onLost?: (error: RaftlockError) => void;
  /** Aborts the acquire. */
  signal?: AbortSignal;
}

/** Options of `client.semaphore()`. */
export interface SemaphoreOptions extends HoldOptions {
  /** How many permits the semaphore has (fixed by its first acquirer). */
  limit: number;
  /** How many permits to take (default 1). */
  permits?: number;
}

type Start = {
  ttl: number;
  renewedAt: number;
  onLost?: (error: RaftlockError) => void;
};

/**
 * Permits of a semaphore, held: like a {@linkcode Lock}, with its lease
 * renewed in the background and a signal that aborts when they are lost.
 *
 * @example
 * ```ts
 * import type { Client } from "./mod.ts";
 *
 * // At most 4 exports run at once across the cluster.
 * async function exportOne(client: Client, run: () => Promise<void>) {
 *   await using _slot = await client.semaphore("exports", {
 *     limit: 4,
 *     wait: 60_000,
 *   });
 *   await run();
 * }
 * ```
 */
export class Permits extends Held {
  /** The semaphore's name. */
  readonly name: string;
  /** How many permits are held. */
  readonly permits: number;
  /** The owner string. */
  readonly owner: string;
  readonly #backend: RecipeBackend;

  /** Wraps a grant and starts its keepalives (use `client.semaphore`). */
  constructor(backend: RecipeBackend, grant: SemaphoreGrant, options: Start) {
    super(backend, grant, options);
    this.#backend = backend;
    this.name = grant.name;
    this.permits = grant.permits;
    this.owner = grant.owner;
  }

  /** The fence to pass to fenced writes: `{semaphore: name, token}`. */
  fence(): SemaphoreFence {
    return { semaphore: this.name, token: this.token };
  }

  /** What is held, in messages. */
  protected get description(): string {
    return `Permits of semaphore ${this.name}`;
  }

  /** Releases the permits. */
  protected releaseGrant(): Promise<unknown> {
    return this.#backend.release("semaphore", this.name, this.token);
  }
}

/**
 * A read or write hold of a read-write lock: like a {@linkcode Lock}, with
 * its lease renewed in the background and a signal that aborts when it is
 * lost.
 *
 * @example
 * ```ts
 * import type { Client } from "./mod.ts";
 *
 * async function rewrite(client: Client, body: string): Promise<void> {
 *   await using w = await client.rwlock("doc", "write", { wait: 10_000 });
 *   await client.put("doc/body", body, { fence: w.fence() });
 * }
 * ```
 */
export class RwLock extends Held {
  /** The lock's name. */
  readonly name: string;
  /** Read (shared) or write (exclusive). */
  readonly mode: RwlockMode;
  /** The owner string. */
  readonly owner: string;
  readonly #backend: RecipeBackend;

  /** Wraps a grant and starts its keepalives (use `client.rwlock`). */
  constructor(backend: RecipeBackend, grant: RwlockGrant, options: Start) {
    super(backend, grant, options);
    this.#backend = backend;
    this.name = grant.name;
    this.mode = grant.mode;
    this.owner = grant.owner;
  }

  /** The fence to pass to fenced writes: `{rwlock: name, token}`. */
  fence(): RwlockFence {
    return { rwlock: this.name, token: this.token };
  }

  /** What is held, in messages. */
  protected get description(): string {
    return `Read-write lock ${this.name} (${this.mode})`;
  }

  /** Releases the hold. */
  protected releaseGrant(): Promise<unknown> {
    return this.#backend.release("rwlock", this.name, this.token);
  }
}
