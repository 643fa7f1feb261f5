/**
 * Counting semaphores: `limit` permits, set by the first acquire of a
 * semaphore that does not exist (one exists while anybody holds or waits
 * for it); each grant holds some permits with a lease and a fencing token.
 * Waiters are served in strict FIFO order, so a big request at the head is
 * never starved by smaller ones behind it. The free count is kept apart
 * from the holders, so `held + free == limit` is a real check of the
 * bookkeeping ({@linkcode SemaphoreTable.violations}).
 *
 * @module
 */

import type {
  SemaphoreGrant,
  SemaphoreHolder,
  SemaphoreInfo,
  SemaphoreWaiter,
} from "../wire/types.ts";
import type { SemaphoreAcquireCommand } from "./recipe_commands.ts";
import {
  type Acquired,
  GrantQueue,
  type Holding,
  int,
  type QueueRecord,
  type RecipeContext,
  type RecipeGrant,
  type Waiting,
} from "./grant_queue.ts";
import { failure, type SemaphoreAcquireResult } from "./results.ts";

export type { SemaphoreInfo };

/** A queued acquire of permits. */
export interface PermitRequest extends Waiting {
  /** How many permits. */
  permits: number;
}

/** A holder of permits. */
export type PermitHolder = PermitRequest & Holding;

/** A semaphore. */
export interface SemaphoreRecord
  extends QueueRecord<PermitRequest, PermitHolder> {
  /** How many permits exist. */
  readonly limit: number;
  /** How many are not held. */
  free: number;
}

/** A semaphore in detail, as the state shows it (waiters with their ids). */
export interface SemaphoreDetail extends Omit<SemaphoreInfo, "waiters"> {
  /** Waiters, first in line first. */
  waiters: (SemaphoreWaiter & { waiterId: string | null })[];
}

/** Semaphores by name. */
export class SemaphoreTable
  extends GrantQueue<PermitRequest, PermitHolder, SemaphoreRecord> {
  /** The recipe. */
  readonly kind = "semaphore" as const;
  /** How messages name a semaphore. */
  protected readonly noun = "Semaphore";
  /**
   * A planted bug (`StateTestingKnobs.semaphoreExtraPermit`): grants one
   * permit more than is free. Never set outside tests.
   */
  testingExtraPermit = false;

  /**
   * Acquires permits: granted at once if nobody waits and enough are free,
   * else queued (or failed). A semaphore that exists with another limit
   * refuses with `conflict`.
   */
  acquire(
    ctx: RecipeContext,
    cmd: SemaphoreAcquireCommand,
  ): SemaphoreAcquireResult {
    const r: Acquired<SemaphoreRecord, PermitHolder> = this.acquireWith(
      ctx,
      cmd,
      { owner: cmd.owner ?? "", permits: cmd.permits ?? 1 },
      () => ({
        name: cmd.name,
        limit: cmd.limit,
        free: cmd.limit,
        holders: [],
        waiters: [],
      }),
      (rec) =>
        rec.limit === cmd.limit ? undefined : failure(
          "conflict",
          `Semaphore '${cmd.name}' has limit ${rec.limit}, not ${cmd.limit}`,
        ),
    );
    if (!r.ok || !("granted" in r)) return r;
    return { ok: true, ...grant(cmd.name, r.granted) };
  }

  /** The semaphore in detail (limit 0 when it does not exist). */
  detail(name: string): SemaphoreDetail {
    const rec = this.get(name);
    if (!rec) {
      return { name, limit: 0, held: 0, free: 0, holders: [], waiters: [] };
    }
    return {
      name,
      limit: rec.limit,
      held: held(rec),
      free: rec.free,
      holders: rec.holders.map(holderOf),
      waiters: rec.waiters.map((w) => ({
        waiterId: w.waiterId,
        lease: w.lease,
        owner: w.owner,
        permits: w.permits,
      })),
    };
  }

  /** Every semaphore in detail, by name. */
  list(): SemaphoreDetail[] {
    return this.sorted().map((rec) => this.detail(rec.name));
  }

  protected fits(rec: SemaphoreRecord, w: PermitRequest): boolean {
    return w.permits <= rec.free + (this.testingExtraPermit ? 1 : 0);
  }

  protected hold(
    rec: SemaphoreRecord,
    w: PermitRequest,
    token: number,
  ): PermitHolder {
    rec.free -= w.permits;
    return { ...w, token };
  }

  protected override unhold(rec: SemaphoreRecord, h: PermitHolder): void {
    rec.free += h.permits;
  }

  protected grantOf(rec: SemaphoreRecord, h: PermitHolder): RecipeGrant {
    return {
      kind: "semaphore",
      waiterId: h.waiterId,
      grant: grant(rec.name, h),
    };
  }

  protected busy(rec: SemaphoreRecord, w: PermitRequest): string {
    return rec.waiters.length > 0 && w.permits <= rec.free
      ? `Semaphore '${rec.name}' has ${rec.waiters.length} waiter(s) ahead`
      : `Semaphore '${rec.name}' has ${rec.free} of ${rec.limit} permits free, ${w.permits} wanted`;
  }

  protected override recordHead(rec: SemaphoreRecord): unknown[] {
    return [rec.limit, rec.free];
  }

  protected newRecord(name: string, head: unknown[]): SemaphoreRecord {
    return {
      name,
      limit: int(head[0]),
      free: int(head[1]),
      holders: [],
      waiters: [],
    };
  }

  protected entryExtra(w: PermitRequest): unknown[] {
    return [w.permits];
  }

  protected entryFrom(base: Waiting, extra: unknown[]): PermitRequest {
    return { ...base, permits: int(extra[0]) };
  }

  protected holderFrom(
    base: Waiting & { token: number },
    extra: unknown[],
  ): PermitHolder {
    return { ...base, permits: int(extra[0]) };
  }

  protected override recordViolations(rec: SemaphoreRecord): string[] {
    const out: string[] = [];
    const h = held(rec);
    if (h + rec.free !== rec.limit) {
      out.push(`held ${h} + free ${rec.free} is not the limit ${rec.limit}`);
    }
    if (rec.free < 0) out.push(`free is ${rec.free}`);
    for (const e of [...rec.holders, ...rec.waiters]) {
      if (e.permits < 1 || e.permits > rec.limit) {
        out.push(`an entry wants ${e.permits} permits`);
      }
    }
    return out;
  }
}

function held(rec: SemaphoreRecord): number {
  let n = 0;
  for (const h of rec.holders) n += h.permits;
  return n;
}

function holderOf(h: PermitHolder): SemaphoreHolder {
  return { token: h.token, lease: h.lease, permits: h.permits, owner: h.owner };
}

function grant(name: string, h: PermitHolder): SemaphoreGrant {
  return {
    name,
    token: h.token,
    lease: h.lease,
    permits: h.permits,
    owner: h.owner,
  };
}
