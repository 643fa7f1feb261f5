/**
 * Leader elections: at most one leader per election, candidates queued
 * FIFO behind it, each kept by a lease. The leader's fencing token is the
 * revision of its grant; a proclaim changes its value (and the election's
 * revision) but not its token. Every change of leader — a grant, a
 * proclaim, or the end of leadership with nobody to follow — has its own
 * revision and is reported, so observers see the changes in revision
 * order. An election exists only while somebody leads it.
 *
 * @module
 */

import type {
  ElectionGrant,
  ElectionInfo,
  ElectionLeader,
} from "../wire/types.ts";
import type { ElectionCampaignCommand } from "./recipe_commands.ts";
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
import {
  type CampaignResult,
  failure,
  type ProclaimResult,
  type ResignResult,
} from "./results.ts";

export type { ElectionInfo, ElectionLeader };

/** A candidate: its `owner` is its value. */
export type Candidate = Waiting;

/** The leader. */
export interface LeaderRecord extends Holding {
  /** The revision of the grant or of the latest proclaim. */
  revision: number;
}

/** An election. */
export type ElectionRecord = QueueRecord<Candidate, LeaderRecord>;

/** An election in detail, as the state shows it. */
export interface ElectionDetail {
  /** The election's name. */
  name: string;
  /** The leader, or null. */
  leader: ElectionLeader | null;
  /** Candidates behind the leader, first in line first. */
  candidates: { waiterId: string | null; lease: number; value: string }[];
}

/** Elections by name. */
export class ElectionTable
  extends GrantQueue<Candidate, LeaderRecord, ElectionRecord> {
  /** The recipe. */
  readonly kind = "election" as const;
  /** How messages name an election. */
  protected readonly noun = "Election";

  /** Campaigns: leads at once if nobody leads, else queues (or fails). */
  campaign(ctx: RecipeContext, cmd: ElectionCampaignCommand): CampaignResult {
    const r: Acquired<ElectionRecord, LeaderRecord> = this.acquireWith(
      ctx,
      cmd,
      { owner: cmd.value },
      () => ({ name: cmd.name, holders: [], waiters: [] }),
    );
    if (!r.ok || !("granted" in r)) return r;
    return { ok: true, ...grant(cmd.name, r.granted) };
  }

  /** Changes the leader's value; its token stays, the revision moves on. */
  proclaim(
    ctx: RecipeContext,
    name: string,
    token: number,
    value: string,
  ): ProclaimResult {
    const h = this.get(name)?.holders[0];
    if (!h || h.token !== token) {
      return failure(
        "stale_token",
        `Token ${token} does not lead election '${name}'`,
      );
    }
    h.owner = value;
    h.revision = ctx.nextRevision();
    const leader = leaderOf(name, h);
    ctx.electionChanged({ name, revision: h.revision, leader });
    return { ok: true, ...leader };
  }

  /** Resigns the leadership held with `token`; the next candidate leads. */
  resign(ctx: RecipeContext, name: string, token: number): ResignResult {
    const r = this.release(ctx, name, token);
    if (!r.ok) {
      return failure(
        "stale_token",
        `Token ${token} does not lead election '${name}'`,
      );
    }
    return { ok: true, resigned: true, revision: r.revision };
  }

  /** The leader of `name`, or null. */
  leader(name: string): ElectionLeader | null {
    const h = this.get(name)?.holders[0];
    return h ? leaderOf(name, h) : null;
  }

  /** The election in detail (no leader, no candidates when it does not exist). */
  detail(name: string): ElectionDetail {
    const rec = this.get(name);
    return {
      name,
      leader: this.leader(name),
      candidates: (rec?.waiters ?? []).map((w) => ({
        waiterId: w.waiterId,
        lease: w.lease,
        value: w.owner,
      })),
    };
  }

  /** Every election, by name, as listed. */
  list(): ElectionInfo[] {
    return this.sorted().map((rec) => ({
      name: rec.name,
      leader: this.leader(rec.name),
      candidates: rec.waiters.length,
    }));
  }

  protected fits(rec: ElectionRecord): boolean {
    return rec.holders.length === 0;
  }

  protected hold(
    _rec: ElectionRecord,
    w: Candidate,
    token: number,
  ): LeaderRecord {
    return { ...w, token, revision: token };
  }

  protected grantOf(rec: ElectionRecord, h: LeaderRecord): RecipeGrant {
    return {
      kind: "election",
      waiterId: h.waiterId,
      grant: grant(rec.name, h),
    };
  }

  protected busy(rec: ElectionRecord): string {
    const h = rec.holders[0];
    return h
      ? `Election '${rec.name}' has a leader (token ${h.token})`
      : `Election '${rec.name}' has candidates waiting`;
  }

  protected override afterGrant(
    ctx: RecipeContext,
    rec: ElectionRecord,
    h: LeaderRecord,
  ): void {
    ctx.electionChanged({
      name: rec.name,
      revision: h.revision,
      leader: leaderOf(rec.name, h),
    });
  }

  // Nobody leads any more: that change gets a revision of its own, so an
  // observer resuming after the last leader's revision learns of it.
  protected override vacated(ctx: RecipeContext, name: string): void {
    ctx.electionChanged({ name, revision: ctx.nextRevision(), leader: null });
  }

  protected newRecord(name: string): ElectionRecord {
    return { name, holders: [], waiters: [] };
  }

  protected entryExtra(): unknown[] {
    return [];
  }

  protected override holderExtra(h: LeaderRecord): unknown[] {
    return [h.revision];
  }

  protected entryFrom(base: Waiting): Candidate {
    return base;
  }

  protected holderFrom(
    base: Waiting & { token: number },
    extra: unknown[],
  ): LeaderRecord {
    return { ...base, revision: int(extra[0]) };
  }

  protected override recordViolations(rec: ElectionRecord): string[] {
    const out: string[] = [];
    if (rec.holders.length !== 1) {
      out.push(`has ${rec.holders.length} leaders`);
    }
    for (const h of rec.holders) {
      if (h.revision < h.token) out.push("leader revision before its token");
    }
    return out;
  }
}

function grant(name: string, h: LeaderRecord): ElectionGrant {
  return { name, token: h.token, lease: h.lease, value: h.owner };
}

function leaderOf(name: string, h: LeaderRecord): ElectionLeader {
  return { ...grant(name, h), revision: h.revision };
}
