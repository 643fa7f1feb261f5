/**
 * Read-write locks: many readers or one writer, each hold kept by a lease
 * with its own fencing token. Waiters are served in strict FIFO order: a
 * waiting writer blocks the readers that come after it (so writers are not
 * starved), and when it is done the readers queued together behind it are
 * granted together.
 *
 * @module
 */

import type {
  RwlockGrant,
  RwlockHolder,
  RwlockInfo,
  RwlockMode,
  RwlockWaiter,
} from "../wire/types.ts";
import type { RwlockAcquireCommand } from "./recipe_commands.ts";
import {
  type Acquired,
  GrantQueue,
  type Holding,
  type QueueRecord,
  type RecipeContext,
  type RecipeGrant,
  type Waiting,
} from "./grant_queue.ts";
import type { RwlockAcquireResult } from "./results.ts";

export type { RwlockInfo };

/** A queued acquire of a read-write lock. */
export interface RwRequest extends Waiting {
  /** Read or write. */
  mode: RwlockMode;
}

/** A holder of a read-write lock. */
export type RwHolder = RwRequest & Holding;

/** A read-write lock. */
export type RwlockRecord = QueueRecord<RwRequest, RwHolder>;

/** A read-write lock in detail, as the state shows it (waiters with ids). */
export interface RwlockDetail extends Omit<RwlockInfo, "waiters"> {
  /** Waiters, first in line first. */
  waiters: (RwlockWaiter & { waiterId: string | null })[];
}

/** Read-write locks by name. */
export class RwlockTable extends GrantQueue<RwRequest, RwHolder, RwlockRecord> {
  /** The recipe. */
  readonly kind = "rwlock" as const;
  /** How messages name a read-write lock. */
  protected readonly noun = "Read-write lock";

  /** Acquires for reading or writing, or queues (or fails). */
  acquire(ctx: RecipeContext, cmd: RwlockAcquireCommand): RwlockAcquireResult {
    const r: Acquired<RwlockRecord, RwHolder> = this.acquireWith(
      ctx,
      cmd,
      { owner: cmd.owner ?? "", mode: cmd.mode },
      () => ({ name: cmd.name, holders: [], waiters: [] }),
    );
    if (!r.ok || !("granted" in r)) return r;
    return { ok: true, ...grant(cmd.name, r.granted) };
  }

  /** The lock in detail (not held, nobody waiting, when it does not exist). */
  detail(name: string): RwlockDetail {
    const rec = this.get(name);
    return {
      name,
      mode: rec?.holders[0]?.mode ?? null,
      holders: (rec?.holders ?? []).map(holderOf),
      waiters: (rec?.waiters ?? []).map((w) => ({
        waiterId: w.waiterId,
        lease: w.lease,
        owner: w.owner,
        mode: w.mode,
      })),
    };
  }

  /** Every read-write lock in detail, by name. */
  list(): RwlockDetail[] {
    return this.sorted().map((rec) => this.detail(rec.name));
  }

  protected fits(rec: RwlockRecord, w: RwRequest): boolean {
    return w.mode === "write"
      ? rec.holders.length === 0
      : rec.holders.every((h) => h.mode === "read");
  }

  protected hold(_rec: RwlockRecord, w: RwRequest, token: number): RwHolder {
    return { ...w, token };
  }

  protected grantOf(rec: RwlockRecord, h: RwHolder): RecipeGrant {
    return { kind: "rwlock", waiterId: h.waiterId, grant: grant(rec.name, h) };
  }

  protected busy(rec: RwlockRecord, w: RwRequest): string {
    if (rec.holders.length > 0 && !this.fits(rec, w)) {
      const mode = rec.holders[0].mode === "write"
        ? "for writing"
        : "for reading";
      return `Read-write lock '${rec.name}' is held ${mode}`;
    }
    return `Read-write lock '${rec.name}' has ${rec.waiters.length} waiter(s) ahead`;
  }

  protected newRecord(name: string): RwlockRecord {
    return { name, holders: [], waiters: [] };
  }

  protected entryExtra(w: RwRequest): unknown[] {
    return [w.mode === "write" ? 1 : 0];
  }

  protected entryFrom(base: Waiting, extra: unknown[]): RwRequest {
    return { ...base, mode: modeOf(extra[0]) };
  }

  protected holderFrom(
    base: Waiting & { token: number },
    extra: unknown[],
  ): RwHolder {
    return { ...base, mode: modeOf(extra[0]) };
  }

  protected override recordViolations(rec: RwlockRecord): string[] {
    const writers = rec.holders.filter((h) => h.mode === "write").length;
    if (writers > 1) return [`has ${writers} writers`];
    if (writers === 1 && rec.holders.length > 1) {
      return ["has a writer and readers at once"];
    }
    return [];
  }
}

function modeOf(v: unknown): RwlockMode {
  if (v === 0) return "read";
  if (v === 1) return "write";
  throw new Error(`expected a mode (0 or 1), got ${String(v)}`);
}

function holderOf(h: RwHolder): RwlockHolder {
  return { token: h.token, lease: h.lease, mode: h.mode, owner: h.owner };
}

function grant(name: string, h: RwHolder): RwlockGrant {
  return {
    name,
    token: h.token,
    lease: h.lease,
    mode: h.mode,
    owner: h.owner,
  };
}
