/**
 * The coordination recipes together — elections, semaphores, read-write
 * locks — as the state machine uses them: applying their commands,
 * releasing what a revoked or expired lease held, checking fences, and
 * their part of the snapshot.
 *
 * @module
 */

import type { RecipeCommand } from "./recipe_commands.ts";
import { ElectionTable } from "./elections.ts";
import {
  type GrantQueue,
  parseRecipeRef,
  type QueueRecord,
  type RecipeContext,
  type RecipeKind,
  type Waiting,
} from "./grant_queue.ts";
import { compareKeys } from "./kv.ts";
import type { LeaseRecord, LeaseTable } from "./leases.ts";
import type { CommandResult } from "./results.ts";
import { RwlockTable } from "./rwlocks.ts";
import { SemaphoreTable } from "./semaphores.ts";

// deno-lint-ignore no-explicit-any
type AnyQueue = GrantQueue<any, any, QueueRecord<any, any>>;

/** Counts of the recipes, for metrics and the simulator. */
export interface RecipeCounts {
  /** Elections with a leader. */
  elections: number;
  /** Candidates waiting across all elections. */
  candidates: number;
  /** Semaphores held or waited for. */
  semaphores: number;
  /** Permits held across all semaphores. */
  permitsHeld: number;
  /** Permits free across all semaphores. */
  permitsFree: number;
  /** Read-write locks held or waited for. */
  rwlocks: number;
  /** Waiters across all semaphores and read-write locks. */
  recipeWaiters: number;
}

/** The recipe tables of the state. */
export class RecipeTables {
  /** Leader elections. */
  readonly elections: ElectionTable = new ElectionTable();
  /** Semaphores. */
  readonly semaphores: SemaphoreTable = new SemaphoreTable();
  /** Read-write locks. */
  readonly rwlocks: RwlockTable = new RwlockTable();

  /** The table of a kind. */
  table(kind: RecipeKind): AnyQueue {
    switch (kind) {
      case "election":
        return this.elections;
      case "semaphore":
        return this.semaphores;
      case "rwlock":
        return this.rwlocks;
    }
  }

  /** Applies a recipe command. */
  apply(cmd: RecipeCommand, ctx: RecipeContext): CommandResult {
    switch (cmd.type) {
      case "electionCampaign":
        return this.elections.campaign(ctx, cmd);
      case "electionProclaim":
        return this.elections.proclaim(ctx, cmd.name, cmd.token, cmd.value);
      case "electionResign":
        return this.elections.resign(ctx, cmd.name, cmd.token);
      case "electionCancel":
        return this.elections.cancel(ctx, cmd.name, cmd.waiterId);
      case "semaphoreAcquire":
        return this.semaphores.acquire(ctx, cmd);
      case "semaphoreRelease":
        return this.semaphores.release(ctx, cmd.name, cmd.token);
      case "semaphoreCancel":
        return this.semaphores.cancel(ctx, cmd.name, cmd.waiterId);
      case "rwlockAcquire":
        return this.rwlocks.acquire(ctx, cmd);
      case "rwlockRelease":
        return this.rwlocks.release(ctx, cmd.name, cmd.token);
      case "rwlockCancel":
        return this.rwlocks.cancel(ctx, cmd.name, cmd.waiterId);
    }
  }

  /**
   * Releases everything a lease held or waited for (the lease is already
   * gone from the table), in (kind, name) order; next waiters are granted.
   */
  removeLease(rec: LeaseRecord, ctx: RecipeContext): void {
    for (const ref of [...rec.recipes].sort(compareKeys)) {
      const { kind, name } = parseRecipeRef(ref);
      this.table(kind).dropLease(ctx, name, rec.id);
    }
    rec.recipes.clear();
  }

  /** Whether `token` is a live grant of the recipe `kind` named `name`. */
  holds(kind: RecipeKind, name: string, token: number): boolean {
    return this.table(kind).holds(name, token);
  }

  /** Counts, for metrics and the simulator. */
  counts(): RecipeCounts {
    let permitsHeld = 0;
    let permitsFree = 0;
    for (const s of this.semaphores.sorted()) {
      permitsFree += s.free;
      for (const h of s.holders) permitsHeld += h.permits;
    }
    return {
      elections: this.elections.size,
      candidates: this.elections.waiterCount(),
      semaphores: this.semaphores.size,
      permitsHeld,
      permitsFree,
      rwlocks: this.rwlocks.size,
      recipeWaiters: this.semaphores.waiterCount() +
        this.rwlocks.waiterCount(),
    };
  }

  /**
   * Problems with the bookkeeping of every recipe and of the leases'
   * references to them (empty: none).
   */
  violations(leases: LeaseTable, revision: number): string[] {
    const out = [
      ...this.elections.violations(leases, revision),
      ...this.semaphores.violations(leases, revision),
      ...this.rwlocks.violations(leases, revision),
    ];
    for (const l of leases.values()) {
      for (const ref of l.recipes) {
        const { kind, name } = parseRecipeRef(ref);
        const rec = this.table(kind).get(name);
        const uses = (e: Waiting) => e.lease === l.id;
        if (!rec || (!rec.holders.some(uses) && !rec.waiters.some(uses))) {
          out.push(`lease ${l.id} lists ${ref}, which does not use it`);
        }
      }
    }
    return out;
  }

  /** The tables as snapshot fields. */
  toSnapshot(): { elections: unknown; semaphores: unknown; rwlocks: unknown } {
    return {
      elections: this.elections.toTuples(),
      semaphores: this.semaphores.toTuples(),
      rwlocks: this.rwlocks.toTuples(),
    };
  }

  /** Tables from snapshot fields (absent in older snapshots: empty). */
  static fromSnapshot(
    values: Record<string, unknown>,
    leaseOf: (id: number) => LeaseRecord,
  ): RecipeTables {
    const t = new RecipeTables();
    t.elections.load(values.elections ?? [], leaseOf);
    t.semaphores.load(values.semaphores ?? [], leaseOf);
    t.rwlocks.load(values.rwlocks ?? [], leaseOf);
    return t;
  }
}
