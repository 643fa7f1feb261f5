/**
 * What the coordination recipes (elections, semaphores, read-write locks)
 * share: a table of named records, each with holders (granted, with a
 * fencing token: the global revision of the grant) and a strict FIFO queue
 * of waiters, every entry kept by a lease. {@linkcode GrantQueue} is that
 * table; each recipe says when an entry fits, what a holder is, and what
 * a grant looks like.
 *
 * Strict FIFO: an acquire is granted at once only when nobody waits and it
 * fits; after any release, cancel or lease end, waiters are granted from
 * the head for as long as the head fits, so a waiter at the head blocks
 * later ones even if they would fit (a big request is never starved).
 *
 * A lease lists each record it holds or waits in (`lease.recipes`, as
 * {@linkcode recipeRef}), so that revoking or expiring it releases them.
 *
 * @module
 */

import type {
  ElectionEvent,
  ElectionGrant,
  RwlockGrant,
  SemaphoreGrant,
} from "../wire/types.ts";
import type { QueueingAcquire } from "./recipe_commands.ts";
import { compareKeys } from "./kv.ts";
import type { LeaseRecord, LeaseTable } from "./leases.ts";
import {
  type CancelResult,
  type Failure,
  failure,
  type Queued,
  type ReleaseResult,
} from "./results.ts";

/** The recipes built on grant queues. */
export type RecipeKind = "election" | "semaphore" | "rwlock";

/** How a lease names a record it holds or waits in: `kind:name`. */
export function recipeRef(kind: RecipeKind, name: string): string {
  return `${kind}:${name}`;
}

/** The kind and name of a {@linkcode recipeRef}. */
export function parseRecipeRef(
  ref: string,
): { kind: RecipeKind; name: string } {
  const i = ref.indexOf(":");
  return { kind: ref.slice(0, i) as RecipeKind, name: ref.slice(i + 1) };
}

/** A grant an apply made, for the request waiting for it. */
export type RecipeGrant =
  | {
    /** An election was won. */
    kind: "election";
    /** The waiter id of the campaign, if it gave one. */
    waiterId: string | null;
    /** The grant. */
    grant: ElectionGrant;
  }
  | {
    /** Permits of a semaphore were granted. */
    kind: "semaphore";
    /** The waiter id of the acquire, if it gave one. */
    waiterId: string | null;
    /** The grant. */
    grant: SemaphoreGrant;
  }
  | {
    /** A read-write lock was granted. */
    kind: "rwlock";
    /** The waiter id of the acquire, if it gave one. */
    waiterId: string | null;
    /** The grant. */
    grant: RwlockGrant;
  };

/** What a recipe table needs of the state machine while a command applies. */
export interface RecipeContext {
  /** The leases. */
  readonly leases: LeaseTable;
  /** Raises the global revision by one and answers it (a grant's token). */
  nextRevision(): number;
  /** The global revision now. */
  revision(): number;
  /** Grants a lease of `ttl` seconds at this command's log index. */
  grantLease(ttl: number): LeaseRecord;
  /** Forgets a lease an acquire made once it keeps nothing alive. */
  dropLeaseIfIdle(lease: LeaseRecord): void;
  /** Reports a grant (to the request that waits for it). */
  granted(grant: RecipeGrant): void;
  /** Reports a change of an election's leader (to observers). */
  electionChanged(event: ElectionEvent): void;
}

/** What every queued acquire has. */
export interface Waiting {
  /** The caller's waiter id (null: a try-acquire that named none). */
  waiterId: string | null;
  /** The lease that keeps the entry. */
  lease: number;
  /** The owner string (an election candidate's value). */
  owner: string;
  /** Whether the acquire created the lease (given a ttl). */
  createdLease: boolean;
}

/** What every holder has. */
export interface Holding extends Waiting {
  /** The fencing token: the global revision of the grant. */
  token: number;
}

/** A named record: its holders in grant order and its FIFO waiters. */
export interface QueueRecord<W extends Waiting, H extends W & Holding> {
  /** The name. */
  readonly name: string;
  /** Holders, in grant order. */
  holders: H[];
  /** Waiters, first in line first. */
  waiters: W[];
}

/** The outcome of an acquire: granted (with the record), queued, failed. */
export type Acquired<R, H> =
  | { ok: true; granted: H; record: R }
  | Queued
  | Failure;

/**
 * A table of named records with holders and FIFO waiters (see the module
 * doc). Subclasses give the recipe's rules.
 */
export abstract class GrantQueue<
  W extends Waiting,
  H extends W & Holding,
  R extends QueueRecord<W, H>,
> {
  readonly #records: Map<string, R> = new Map();
  /** The recipe. */
  abstract readonly kind: RecipeKind;
  /** How messages name a record ("Election", "Semaphore", ...). */
  protected abstract readonly noun: string;

  /** Whether `w` could be granted now (ignoring the queue). */
  protected abstract fits(rec: R, w: W): boolean;
  /** Makes the holder of a grant of `w`; may update the record's counts. */
  protected abstract hold(rec: R, w: W, token: number): H;
  /** Updates the record's counts when `h` stops holding. */
  protected unhold(_rec: R, _h: H): void {}
  /** The grant, as reported to a waiting request. */
  protected abstract grantOf(rec: R, h: H): RecipeGrant;
  /** Why `w` cannot be granted now (the `lock_held` message). */
  protected abstract busy(rec: R, w: W): string;
  /** Called after each grant (an election reports its new leader). */
  protected afterGrant(_ctx: RecipeContext, _rec: R, _h: H): void {}
  /** Called when holders left and none is left (an election is vacant). */
  protected vacated(_ctx: RecipeContext, _name: string): void {}
  /** Extra fields of the record in a snapshot (a semaphore's limit). */
  protected recordHead(_rec: R): unknown[] {
    return [];
  }
  /** A record from its snapshot name and head. */
  protected abstract newRecord(name: string, head: unknown[]): R;
  /** Extra fields of a waiter in a snapshot. */
  protected abstract entryExtra(w: W): unknown[];
  /** Extra fields of a holder in a snapshot (default: a waiter's). */
  protected holderExtra(h: H): unknown[] {
    return this.entryExtra(h);
  }
  /** A waiter from its snapshot base fields and extras. */
  protected abstract entryFrom(base: Waiting, extra: unknown[]): W;
  /** A holder from its snapshot base fields and extras. */
  protected abstract holderFrom(
    base: Waiting & { token: number },
    extra: unknown[],
  ): H;
  /** Problems with one record's own bookkeeping (empty: none). */
  protected recordViolations(_rec: R): string[] {
    return [];
  }

  /** How many records exist. */
  get size(): number {
    return this.#records.size;
  }

  /** The record `name`, if it exists (do not change it). */
  get(name: string): R | undefined {
    return this.#records.get(name);
  }

  /** Every record, in name order. */
  sorted(): R[] {
    return [...this.#records.values()].sort((a, b) =>
      compareKeys(a.name, b.name)
    );
  }

  /** Whether `token` is a holder's token of record `name`. */
  holds(name: string, token: number): boolean {
    return this.#records.get(name)?.holders.some((h) => h.token === token) ??
      false;
  }

  /** How many waiters are queued across all records. */
  waiterCount(): number {
    let n = 0;
    for (const r of this.#records.values()) n += r.waiters.length;
    return n;
  }

  /** How many holders there are across all records. */
  holderCount(): number {
    let n = 0;
    for (const r of this.#records.values()) n += r.holders.length;
    return n;
  }

  /**
   * Grants `entry` at once if nobody waits and it fits, else queues it
   * (or, with `tryOnly`, fails with `lock_held`). A `ttl` makes the
   * entry's lease in the same command. `create` makes the record when it
   * does not exist; `check` refuses an acquire the existing record does
   * not allow (a semaphore's other limit).
   */
  protected acquireWith(
    ctx: RecipeContext,
    cmd: QueueingAcquire,
    entry: Omit<W, keyof Waiting> & { owner: string },
    create: () => R,
    check?: (rec: R) => Failure | undefined,
  ): Acquired<R, H> {
    let leaseRec: LeaseRecord | undefined;
    if (cmd.lease !== undefined) {
      leaseRec = ctx.leases.get(cmd.lease);
      if (!leaseRec) {
        return failure("not_found", `Lease ${cmd.lease} not found`);
      }
    }
    const name = cmd.name;
    const existing = this.#records.get(name);
    const waiterId = cmd.waiterId ?? null;
    if (existing) {
      const refused = check?.(existing);
      if (refused) return refused;
      if (
        waiterId !== null &&
        (existing.holders.some((h) => h.waiterId === waiterId) ||
          existing.waiters.some((w) => w.waiterId === waiterId))
      ) {
        return failure(
          "bad_request",
          `Waiter '${waiterId}' already holds or waits for ${this.noun.toLowerCase()} '${name}'`,
        );
      }
    }
    const probe = {
      ...entry,
      waiterId,
      lease: 0,
      createdLease: false,
    } as unknown as W;
    if (
      existing &&
      (existing.waiters.length > 0 || !this.fits(existing, probe))
    ) {
      if (cmd.tryOnly) return failure("lock_held", this.busy(existing, probe));
      const createdLease = leaseRec === undefined;
      leaseRec ??= ctx.grantLease(cmd.ttl!);
      existing.waiters.push({
        ...probe,
        lease: leaseRec.id,
        createdLease,
      });
      leaseRec.recipes.add(recipeRef(this.kind, name));
      return {
        ok: true,
        queued: true,
        name,
        position: existing.waiters.length,
        lease: leaseRec.id,
        waiterId: waiterId!,
      };
    }
    const createdLease = leaseRec === undefined;
    leaseRec ??= ctx.grantLease(cmd.ttl!);
    let rec = existing;
    if (!rec) {
      rec = create();
      this.#records.set(name, rec);
    }
    const h = this.#grant(ctx, rec, {
      ...probe,
      lease: leaseRec.id,
      createdLease,
    });
    return { ok: true, granted: h, record: rec };
  }

  /** Releases the grant held with `token` and grants the next waiters. */
  release(ctx: RecipeContext, name: string, token: number): ReleaseResult {
    const rec = this.#records.get(name);
    const i = rec?.holders.findIndex((h) => h.token === token) ?? -1;
    if (!rec || i < 0) {
      return failure(
        "stale_token",
        `Token ${token} does not hold ${this.noun.toLowerCase()} '${name}'`,
      );
    }
    this.#releaseAt(ctx, rec, i);
    this.#settle(ctx, rec, true);
    return { ok: true, released: true, revision: ctx.revision() };
  }

  /**
   * Removes a queued waiter; if that waiter was already granted (its
   * client gave up before learning so), releases the grant instead.
   */
  cancel(ctx: RecipeContext, name: string, waiterId: string): CancelResult {
    const rec = this.#records.get(name);
    if (rec) {
      const i = rec.waiters.findIndex((w) => w.waiterId === waiterId);
      if (i >= 0) {
        const [w] = rec.waiters.splice(i, 1);
        this.#unlink(ctx, rec, w);
        this.#settle(ctx, rec, false);
        return {
          ok: true,
          cancelled: true,
          released: false,
          revision: ctx.revision(),
        };
      }
      const j = rec.holders.findIndex((h) => h.waiterId === waiterId);
      if (j >= 0) {
        // Nobody knows the token: release it rather than let it hold
        // until the lease expires.
        this.#releaseAt(ctx, rec, j);
        this.#settle(ctx, rec, true);
        return {
          ok: true,
          cancelled: true,
          released: true,
          revision: ctx.revision(),
        };
      }
    }
    return failure(
      "not_found",
      `Waiter '${waiterId}' is not queued for ${this.noun.toLowerCase()} '${name}'`,
    );
  }

  /**
   * Drops every holder and waiter of record `name` kept by lease `id`
   * (the lease is being revoked or has expired, and is already gone from
   * the lease table), then grants the next waiters.
   */
  dropLease(ctx: RecipeContext, name: string, id: number): void {
    const rec = this.#records.get(name);
    if (!rec) return;
    rec.waiters = rec.waiters.filter((w) => w.lease !== id);
    const gone = rec.holders.filter((h) => h.lease === id);
    if (gone.length > 0) {
      rec.holders = rec.holders.filter((h) => h.lease !== id);
      for (const h of gone) this.unhold(rec, h);
    }
    this.#settle(ctx, rec, gone.length > 0);
  }

  /** Problems with the table's bookkeeping (empty: none), for tests and the simulator. */
  violations(leases: LeaseTable, revision: number): string[] {
    const out: string[] = [];
    const tokens = new Set<number>();
    for (const rec of this.sorted()) {
      const where = `${this.kind} '${rec.name}'`;
      if (rec.holders.length === 0 && rec.waiters.length === 0) {
        out.push(`${where} is idle but kept`);
      }
      const ref = recipeRef(this.kind, rec.name);
      for (const e of [...rec.holders, ...rec.waiters]) {
        if (!leases.get(e.lease)?.recipes.has(ref)) {
          out.push(`${where} has an entry whose lease ${e.lease} is gone`);
        }
      }
      for (const h of rec.holders) {
        if (tokens.has(h.token) || h.token > revision) {
          out.push(`${where} has a bad token ${h.token}`);
        }
        tokens.add(h.token);
      }
      if (rec.waiters.length > 0 && this.fits(rec, rec.waiters[0])) {
        out.push(`${where} has a waiter at the head that fits`);
      }
      out.push(...this.recordViolations(rec).map((v) => `${where}: ${v}`));
    }
    return out;
  }

  /** The table as snapshot tuples, by name. */
  toTuples(): unknown[] {
    return this.sorted().map((rec) => [
      rec.name,
      this.recordHead(rec),
      rec.holders.map((h) => [
        h.token,
        h.lease,
        h.owner,
        h.waiterId,
        h.createdLease,
        ...this.holderExtra(h),
      ]),
      rec.waiters.map((w) => [
        w.waiterId,
        w.lease,
        w.owner,
        w.createdLease,
        ...this.entryExtra(w),
      ]),
    ]);
  }

  /**
   * Replaces the table with snapshot tuples, recording each entry in its
   * lease (`leaseOf` throws for a missing lease). Throws on a malformed
   * tuple.
   */
  load(tuples: unknown, leaseOf: (id: number) => LeaseRecord): void {
    this.#records.clear();
    for (const t of arr(tuples)) {
      const [name, head, holders, waiters] = tuple(t, 4);
      const rec = this.newRecord(text(name), arr(head));
      const ref = recipeRef(this.kind, rec.name);
      for (const ht of arr(holders)) {
        const a = arr(ht);
        if (a.length < 5) throw new Error("short holder tuple");
        const [token, lease, owner, waiterId, createdLease] = a;
        const h = this.holderFrom({
          token: int(token),
          lease: int(lease),
          owner: text(owner),
          waiterId: waiterId === null ? null : text(waiterId),
          createdLease: bool(createdLease),
        }, a.slice(5));
        rec.holders.push(h);
        leaseOf(h.lease).recipes.add(ref);
      }
      for (const wt of arr(waiters)) {
        const a = arr(wt);
        if (a.length < 4) throw new Error("short waiter tuple");
        const [waiterId, lease, owner, createdLease] = a;
        const w = this.entryFrom({
          waiterId: waiterId === null ? null : text(waiterId),
          lease: int(lease),
          owner: text(owner),
          createdLease: bool(createdLease),
        }, a.slice(4));
        rec.waiters.push(w);
        leaseOf(w.lease).recipes.add(ref);
      }
      const bad = this.recordViolations(rec);
      if (bad.length > 0) throw new Error(`${rec.name}: ${bad[0]}`);
      this.#records.set(rec.name, rec);
    }
  }

  // Grants `w` on `rec` (it fits); raises the revision: the token.
  #grant(ctx: RecipeContext, rec: R, w: W): H {
    const h = this.hold(rec, w, ctx.nextRevision());
    rec.holders.push(h);
    ctx.leases.get(h.lease)?.recipes.add(recipeRef(this.kind, rec.name));
    ctx.granted(this.grantOf(rec, h));
    this.afterGrant(ctx, rec, h);
    return h;
  }

  // Removes holder i; a lease the acquire made goes with it if idle.
  #releaseAt(ctx: RecipeContext, rec: R, i: number): void {
    const [h] = rec.holders.splice(i, 1);
    this.unhold(rec, h);
    this.#unlink(ctx, rec, h);
  }

  // After an entry left: the lease stops listing the record if nothing in
  // it uses the lease any more, and a lease the acquire made is dropped
  // when it keeps nothing alive.
  #unlink(ctx: RecipeContext, rec: R, e: W): void {
    const lease = ctx.leases.get(e.lease);
    if (!lease) return;
    const uses = (x: Waiting) => x.lease === e.lease;
    if (!rec.holders.some(uses) && !rec.waiters.some(uses)) {
      lease.recipes.delete(recipeRef(this.kind, rec.name));
    }
    if (e.createdLease) ctx.dropLeaseIfIdle(lease);
  }

  // Grants waiters from the head while it fits; reports a vacancy if
  // holders left and none is left; forgets an idle record.
  #settle(ctx: RecipeContext, rec: R, holdersLeft: boolean): void {
    while (rec.waiters.length > 0 && this.fits(rec, rec.waiters[0])) {
      const w = rec.waiters.shift()!;
      const lease = ctx.leases.get(w.lease);
      if (!lease) continue; // cannot happen: a lease takes its entries along
      this.#grant(ctx, rec, w);
    }
    if (holdersLeft && rec.holders.length === 0) this.vacated(ctx, rec.name);
    if (rec.holders.length === 0 && rec.waiters.length === 0) {
      this.#records.delete(rec.name);
    }
  }
}

/** `v` as a safe integer, or throws (snapshot decoding). */
export function int(v: unknown): number {
  if (typeof v !== "number" || !Number.isSafeInteger(v)) {
    throw new Error(`expected an integer, got ${typeof v}`);
  }
  return v;
}

/** `v` as a string, or throws (snapshot decoding). */
export function text(v: unknown): string {
  if (typeof v !== "string") {
    throw new Error(`expected a string, got ${typeof v}`);
  }
  return v;
}

function bool(v: unknown): boolean {
  if (typeof v !== "boolean") {
    throw new Error(`expected a boolean, got ${typeof v}`);
  }
  return v;
}

function arr(v: unknown): unknown[] {
  if (!Array.isArray(v)) throw new Error(`expected an array, got ${typeof v}`);
  return v;
}

function tuple(v: unknown, n: number): unknown[] {
  const a = arr(v);
  if (a.length !== n) throw new Error(`expected ${n} fields, got ${a.length}`);
  return a;
}
