/**
 * Leader elections, semaphores and read-write locks on one node: acquires
 * that wait in their FIFO queue while the request is open (through the
 * same waiting as lock acquires, {@linkcode LockService.waitQueued}),
 * releases, reads behind the read barrier, and live observation of an
 * election's leader. Reached as `recipesOf(service)`.
 *
 * @module
 */

import type {
  ElectionEvent,
  ElectionGrant,
  ElectionInfo,
  ElectionLeader,
  Fence,
  ReleaseResult,
  ResignResult,
  RwlockGrant,
  RwlockInfo,
  RwlockMode,
  SemaphoreGrant,
  SemaphoreInfo,
} from "../wire/types.ts";
import type {
  Command,
  CommandAuth,
  ElectionCampaignCommand,
  QueueingAcquire,
  RecipeCancelCommand,
  RwlockAcquireCommand,
  SemaphoreAcquireCommand,
} from "../state/commands.ts";
import type { Queued } from "../state/results.ts";
import type { RwlockDetail } from "../state/rwlocks.ts";
import type { SemaphoreDetail } from "../state/semaphores.ts";
import { ServiceError } from "./errors.ts";
import type { LockService, ReadOptions, WriteOptions } from "./service.ts";

/** An election observer: `close()` stops its events. */
export interface ObserveHandle {
  /** Stops the events; idempotent. */
  close(): void;
}

/** How an acquire of a recipe holds and waits. */
export interface RecipeAcquireOptions {
  /** TTL in seconds of a lease made for the grant (when `lease` is not given). */
  ttl?: number;
  /** An existing lease to hold with. */
  lease?: number;
  /** How long to wait in the queue, in ms (0 = try once). */
  wait: number;
  /** Aborts the wait (the client went away). */
  signal?: AbortSignal;
  /** The user the acquire is made for (see {@linkcode WriteOptions.auth}). */
  auth?: CommandAuth;
}

/** What a campaign asks for. */
export interface CampaignOptions extends RecipeAcquireOptions {
  /** The candidate's value (for example its address). */
  value: string;
}

/** What a semaphore acquire asks for. */
export interface SemaphoreAcquireOptions extends RecipeAcquireOptions {
  /** The semaphore's permits (must equal its limit if it exists). */
  limit: number;
  /** How many permits (default 1). */
  permits?: number;
  /** Who holds them (free text). */
  owner?: string;
}

/** What a read-write lock acquire asks for. */
export interface RwlockAcquireOptions extends RecipeAcquireOptions {
  /** Read (shared) or write (exclusive). */
  mode: RwlockMode;
  /** Who holds it (free text). */
  owner?: string;
}

type AcquireCommand =
  | ElectionCampaignCommand
  | SemaphoreAcquireCommand
  | RwlockAcquireCommand;

// An acquire command without how it holds and waits (added per attempt).
type AcquireBase = AcquireCommand extends infer C
  ? C extends AcquireCommand ? Omit<C, Exclude<keyof QueueingAcquire, "name">>
  : never
  : never;

/**
 * The recipes on one node (get it with {@linkcode recipesOf}).
 *
 * @example
 * ```ts ignore
 * const recipes = recipesOf(service);
 * const g = await recipes.campaign("scheduler", {
 *   value: "10.0.0.7:9000",
 *   ttl: 10,
 *   wait: 30_000,
 * });
 * await service.put({
 *   key: "scheduler/epoch",
 *   value: "7",
 *   fence: { election: "scheduler", token: g.token },
 * });
 * await recipes.resign("scheduler", g.token);
 * ```
 */
export class RecipeService {
  readonly #svc: LockService;

  /** The recipes over a service (or use {@linkcode recipesOf}). */
  constructor(service: LockService) {
    this.#svc = service;
  }

  // -------------------------------------------------------------- elections

  /**
   * Campaigns: answers once this caller leads, waiting in the FIFO line of
   * candidates up to `wait` ms; `lock_held` when it did not win in time.
   */
  campaign(name: string, options: CampaignOptions): Promise<ElectionGrant> {
    return this.#acquire<ElectionGrant>(
      { type: "electionCampaign", name, value: options.value },
      options,
      "electionCancel",
      (aborted) =>
        aborted
          ? `Election ${name} was not won before the request ended`
          : `Election ${name} has a leader; it was not won within ${options.wait} ms`,
    );
  }

  /** Changes the leader's value; `stale_token` unless `token` leads. */
  proclaim(
    name: string,
    token: number,
    value: string,
    options?: WriteOptions,
  ): Promise<ElectionLeader> {
    return this.#svc.run(
      { type: "electionProclaim", name, token, value },
      options,
    )
      .then(({ ok: _ok, ...leader }) => leader);
  }

  /** Gives up leadership; `stale_token` unless `token` leads. */
  resign(
    name: string,
    token: number,
    options?: WriteOptions,
  ): Promise<ResignResult> {
    return this.#svc.run({ type: "electionResign", name, token }, options)
      .then((r) => ({ resigned: true as const, revision: r.revision }));
  }

  /** The election's leader, or null. */
  async leader(
    name: string,
    options?: ReadOptions,
  ): Promise<ElectionLeader | null> {
    await this.#readPoint(options);
    return this.#svc.state.election(name).leader;
  }

  /** Every election that has a leader. */
  async elections(options?: ReadOptions): Promise<ElectionInfo[]> {
    await this.#readPoint(options);
    return this.#svc.state.elections();
  }

  /**
   * Observes an election: first its state now, unless it has not changed
   * since revision `after` (a resume), then every change, each with a
   * revision higher than the last one sent — never an older leader after
   * a newer one. The state now is the leader (at the revision of its last
   * change) or, when nobody leads, a vacancy at the current revision (a
   * resume may thus repeat a vacancy, never a leader). Call after the
   * read barrier so the first state is not stale.
   */
  observe(
    name: string,
    after: number | undefined,
    onEvent: (event: ElectionEvent) => void,
  ): ObserveHandle {
    const state = this.#svc.state;
    let last = after ?? -1;
    let closed = false;
    const send = (e: ElectionEvent) => {
      if (closed || e.revision <= last) return;
      last = e.revision;
      onEvent(e);
    };
    const now = (): ElectionEvent => {
      const leader = state.election(name).leader;
      return leader
        ? { name, revision: leader.revision, leader }
        : { name, revision: state.revision, leader: null };
    };
    // Subscribing and reading the state in one synchronous step leaves no
    // gap; after a snapshot restore, changes in between were not seen.
    const off = [
      state.onElectionChange((e) => e.name === name && send(e)),
      state.onRestore(() => send(now())),
    ];
    send(now());
    return {
      close() {
        closed = true;
        for (const f of off) f();
      },
    };
  }

  // ------------------------------------------------------------- semaphores

  /**
   * Acquires permits of a semaphore, waiting in its FIFO queue up to
   * `wait` ms; `conflict` when it exists with another limit, `lock_held`
   * when not granted in time.
   */
  acquireSemaphore(
    name: string,
    options: SemaphoreAcquireOptions,
  ): Promise<SemaphoreGrant> {
    return this.#acquire<SemaphoreGrant>(
      {
        type: "semaphoreAcquire",
        name,
        limit: options.limit,
        permits: options.permits,
        owner: options.owner,
      },
      options,
      "semaphoreCancel",
      (aborted) =>
        aborted
          ? `Semaphore ${name} did not grant ${
            options.permits ?? 1
          } permit(s) before the request ended`
          : `Semaphore ${name} did not grant ${
            options.permits ?? 1
          } permit(s) within ${options.wait} ms`,
    );
  }

  /** Releases the permits held with `token`. */
  releaseSemaphore(
    name: string,
    token: number,
    options?: WriteOptions,
  ): Promise<ReleaseResult> {
    return this.#release("semaphoreRelease", name, token, options);
  }

  /** A semaphore's limit, holders and waiters. */
  async semaphore(name: string, options?: ReadOptions): Promise<SemaphoreInfo> {
    await this.#readPoint(options);
    return semaphoreInfo(this.#svc.state.semaphore(name));
  }

  /** Every semaphore that is held or waited for. */
  async semaphores(options?: ReadOptions): Promise<SemaphoreInfo[]> {
    await this.#readPoint(options);
    return this.#svc.state.semaphores().map(semaphoreInfo);
  }

  // --------------------------------------------------------- read-write locks

  /**
   * Acquires a read-write lock for reading or writing, waiting in its FIFO
   * queue up to `wait` ms; `lock_held` when not granted in time.
   */
  acquireRwlock(
    name: string,
    options: RwlockAcquireOptions,
  ): Promise<RwlockGrant> {
    return this.#acquire<RwlockGrant>(
      {
        type: "rwlockAcquire",
        name,
        mode: options.mode,
        owner: options.owner,
      },
      options,
      "rwlockCancel",
      (aborted) =>
        aborted
          ? `Read-write lock ${name} was not granted for ${options.mode} before the request ended`
          : `Read-write lock ${name} was not granted for ${options.mode} within ${options.wait} ms`,
    );
  }

  /** Releases the read-write lock hold with `token`. */
  releaseRwlock(
    name: string,
    token: number,
    options?: WriteOptions,
  ): Promise<ReleaseResult> {
    return this.#release("rwlockRelease", name, token, options);
  }

  /** A read-write lock's holders and waiters. */
  async rwlock(name: string, options?: ReadOptions): Promise<RwlockInfo> {
    await this.#readPoint(options);
    return rwlockInfo(this.#svc.state.rwlock(name));
  }

  /** Every read-write lock that is held or waited for. */
  async rwlocks(options?: ReadOptions): Promise<RwlockInfo[]> {
    await this.#readPoint(options);
    return this.#svc.state.rwlocks().map(rwlockInfo);
  }

  // ------------------------------------------------------------------ shared

  /** Whether a fence's token is still the live grant it names. */
  async checkFence(fence: Fence, options?: ReadOptions): Promise<boolean> {
    await this.#readPoint(options);
    return this.#svc.state.fenceHolds(fence);
  }

  async #readPoint(options: ReadOptions = {}): Promise<void> {
    await this.#svc.barrier(options.consistency);
    options.authorize?.();
  }

  #release(
    type: "semaphoreRelease" | "rwlockRelease",
    name: string,
    token: number,
    options?: WriteOptions,
  ): Promise<ReleaseResult> {
    return this.#svc.run({ type, name, token }, options).then((r) => ({
      released: true as const,
      revision: r.revision,
    }));
  }

  // Tries once (wait 0) or waits in the queue through the service's
  // waiting, which keeps a lease the acquire made alive meanwhile.
  async #acquire<G>(
    base: AcquireBase,
    options: RecipeAcquireOptions,
    cancel: RecipeCancelCommand["type"],
    notGranted: (aborted: boolean) => string,
  ): Promise<G> {
    const hold = {
      ttl: options.lease === undefined ? options.ttl : undefined,
      lease: options.lease,
    };
    const as = { auth: options.auth };
    const cmd = (extra: Partial<QueueingAcquire>) =>
      ({ ...base, ...hold, ...extra }) as AcquireCommand;
    if (options.wait <= 0) {
      const r = await this.#svc.run(cmd({ tryOnly: true }), as);
      if ("queued" in r) throw new Error("A try-acquire was queued");
      return grantOf<G>(r);
    }
    const waiterId = crypto.randomUUID();
    return await this.#svc.waitQueued<G>({
      waiterId,
      enqueue: async () => {
        const r = await this.#svc.run(cmd({ waiterId }), as);
        return "queued" in r
          ? { queued: r as Queued }
          : { granted: grantOf<G>(r) };
      },
      keepAliveTtl: hold.ttl,
      wait: options.wait,
      signal: options.signal,
      cancel: { type: cancel, name: base.name, waiterId } satisfies Command,
      notGranted: (aborted) =>
        new ServiceError("lock_held", notGranted(aborted)),
    });
  }
}

const byService = new WeakMap<LockService, RecipeService>();

/** The recipes over `service` (one per service). */
export function recipesOf(service: LockService): RecipeService {
  let r = byService.get(service);
  if (!r) byService.set(service, r = new RecipeService(service));
  return r;
}

// A successful acquire's answer without the `ok` discriminant.
function grantOf<G>(r: { ok: true }): G {
  const { ok: _ok, ...grant } = r;
  return grant as G;
}

function semaphoreInfo(s: SemaphoreDetail): SemaphoreInfo {
  return {
    ...s,
    waiters: s.waiters.map((w) => ({
      lease: w.lease,
      owner: w.owner,
      permits: w.permits,
    })),
  };
}

function rwlockInfo(l: RwlockDetail): RwlockInfo {
  return {
    ...l,
    waiters: l.waiters.map((w) => ({
      lease: w.lease,
      owner: w.owner,
      mode: w.mode,
    })),
  };
}
