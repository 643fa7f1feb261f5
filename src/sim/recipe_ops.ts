/**
 * The simulated clients' operations on the coordination recipes —
 * elections, semaphores and read-write locks — for the client workload
 * (`workload.ts`): try-acquires (campaign, permits, read or write holds),
 * then fenced writes, proclaims, lease keepalives and releases with the
 * token, and reads of the election's leader. Each recipe has a history of
 * its own, checked with its model (`electionModel`, `semaphoreModel`,
 * `rwlockModel` of `src/check/`).
 *
 * @module
 */

import type { Op } from "../check/mod.ts";
import type { Command } from "../state/commands.ts";
import type { ServiceStateMachine } from "../state/machine.ts";
import type { CommandResult } from "../state/results.ts";

/** The recipes the workload exercises. */
export type RecipeKind = "election" | "semaphore" | "rwlock";

/** The recipes, in a fixed order. */
export const RECIPE_KINDS: readonly RecipeKind[] = [
  "election",
  "semaphore",
  "rwlock",
];

/** The names each recipe's clients contend for. */
export const RECIPE_NAMES: Readonly<Record<RecipeKind, readonly string[]>> = {
  election: ["e0", "e1"],
  semaphore: ["s0"],
  rwlock: ["rw0"],
};

/** The simulated semaphores' limit. */
export const SIM_SEMAPHORE_LIMIT = 2;

/** A grant a client believes it holds. */
export interface RecipeHold {
  /** The recipe. */
  kind: RecipeKind;
  /** The record's name. */
  name: string;
  /** The fencing token. */
  token: number;
  /** The lease that keeps it. */
  lease: number;
}

/** What a recipe operation needs from the workload, for one client. */
export interface RecipeOpContext {
  /** The client's name. */
  client: string;
  /** What the client holds, by `kind:name`. */
  holds: Map<string, RecipeHold>;
  /** The simulation's random source. */
  random(): number;
  /** Records `op` in the recipe's history and proposes `cmd`. */
  propose(
    kind: RecipeKind,
    op: Op,
    cmd: Command,
    onResult: (result: CommandResult) => void,
  ): void;
  /** Records `op` and answers it from a linearizable read of the state. */
  read(
    kind: RecipeKind,
    op: Op,
    value: (sm: ServiceStateMachine) => unknown,
  ): void;
  /** Completes the client's pending operation. */
  complete(how: "ok" | "fail", value?: unknown): void;
}

const ttl = 10;

/**
 * Starts one recipe operation: acts on a grant the client holds (a fenced
 * write or proclaim, a keepalive, a release), or tries to acquire one, or
 * reads an election's leader.
 *
 * @example
 * ```ts ignore
 * startRecipeOp(ctx, "semaphore");
 * ```
 */
export function startRecipeOp(ctx: RecipeOpContext, kind: RecipeKind): void {
  const names = RECIPE_NAMES[kind];
  const name = names[Math.floor(ctx.random() * names.length)];
  const hold = ctx.holds.get(`${kind}:${name}`);
  if (hold) return act(ctx, hold);
  if (kind === "election" && ctx.random() < 0.25) {
    ctx.read(
      kind,
      { f: "leader", election: name },
      (sm) => {
        const l = sm.election(name).leader;
        return l ? { token: l.token } : null;
      },
    );
    return;
  }
  let op: Op;
  let cmd: Command;
  if (kind === "election") {
    const value = `${ctx.client}`;
    op = { f: "campaign", election: name, value };
    cmd = {
      type: "electionCampaign",
      name,
      value,
      ttl,
      tryOnly: true,
    };
  } else if (kind === "semaphore") {
    const permits = ctx.random() < 0.2 ? 2 : 1;
    op = {
      f: "semAcquire",
      semaphore: name,
      limit: SIM_SEMAPHORE_LIMIT,
      permits,
    };
    cmd = {
      type: "semaphoreAcquire",
      name,
      limit: SIM_SEMAPHORE_LIMIT,
      permits,
      owner: ctx.client,
      ttl,
      tryOnly: true,
    };
  } else {
    const mode = ctx.random() < 0.3 ? "write" : "read";
    op = { f: "rwAcquire", rwlock: name, mode };
    cmd = {
      type: "rwlockAcquire",
      name,
      mode,
      owner: ctx.client,
      ttl,
      tryOnly: true,
    };
  }
  ctx.propose(kind, op, cmd, (res) => {
    if (res.ok && "token" in res && "lease" in res) {
      const token = res.token as number;
      const lease = res.lease as number;
      ctx.holds.set(`${kind}:${name}`, { kind, name, token, lease });
      ctx.complete("ok", { token });
    } else ctx.complete("fail", res.ok ? "queued" : res.error.code);
  });
}

function act(ctx: RecipeOpContext, h: RecipeHold): void {
  const { kind, name, token } = h;
  const key = `${kind}:${name}`;
  const roll = ctx.random();
  // A refusal means the grant is gone (its lease expired).
  const needsHold = (res: CommandResult) => {
    if (res.ok) ctx.complete("ok");
    else {
      ctx.holds.delete(key);
      ctx.complete("fail", res.error.code);
    }
  };
  if (roll < 0.45) {
    if (kind === "election" && roll < 0.2) {
      const value = `${ctx.client}-${Math.floor(ctx.random() * 1000)}`;
      ctx.propose(
        kind,
        { f: "proclaim", election: name, token, value },
        { type: "electionProclaim", name, token, value },
        needsHold,
      );
      return;
    }
    const fence = kind === "election"
      ? { election: name, token }
      : kind === "semaphore"
      ? { semaphore: name, token }
      : { rwlock: name, token };
    ctx.propose(
      kind,
      { f: "fencedWrite", [kind]: name, token },
      {
        type: "put",
        key: `fenced/${kind}/${name}`,
        value: `${ctx.client}-${token}`,
        fence,
      },
      needsHold,
    );
    return;
  }
  if (roll < 0.65) {
    // Renew the lease, racing the janitor's expiry (no model reads it).
    ctx.propose(
      kind,
      { f: "recipeKeepalive", [kind]: name, lease: h.lease },
      { type: "leaseKeepalive", id: h.lease },
      needsHold,
    );
    return;
  }
  ctx.holds.delete(key);
  const cmd: Command = kind === "election"
    ? { type: "electionResign", name, token }
    : {
      type: kind === "semaphore" ? "semaphoreRelease" : "rwlockRelease",
      name,
      token,
    };
  const f = kind === "election"
    ? "resign"
    : kind === "semaphore"
    ? "semRelease"
    : "rwRelease";
  ctx.propose(
    kind,
    { f, [kind]: name, token },
    cmd,
    (res) => res.ok ? ctx.complete("ok") : ctx.complete("fail", res.error.code),
  );
}

/**
 * The lease of one holder of a recipe record on `sm` (chosen with
 * `random`), for the janitor that stands in for the lease clock.
 *
 * @example
 * ```ts ignore
 * const lease = recipeHolderLease(leader.service!, "rwlock", "rw0", random);
 * ```
 */
export function recipeHolderLease(
  sm: ServiceStateMachine,
  kind: RecipeKind,
  name: string,
  random: () => number,
): number | undefined {
  const leases = kind === "election"
    ? [sm.election(name).leader?.lease].filter((l) => l !== undefined)
    : kind === "semaphore"
    ? sm.semaphore(name).holders.map((x) => x.lease)
    : sm.rwlock(name).holders.map((x) => x.lease);
  if (leases.length === 0) return undefined;
  return leases[Math.floor(random() * leases.length)];
}
