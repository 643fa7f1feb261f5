/**
 * Property tests of the recipes (elections, semaphores, read-write
 * locks, keys with a TTL) under random sequences of acquires, releases,
 * cancels, proclaims, lease keepalives, revokes and expiries:
 *
 * - the bookkeeping invariants hold after every step (at most one leader,
 *   `held + free == limit` for every semaphore — no permit ever leaks —,
 *   never a writer beside another holder, no waiter at the head that
 *   fits, every entry's lease alive and listing it);
 * - queued waiters are granted in FIFO order;
 * - fencing tokens strictly increase over all grants, and each election's
 *   changes come in strictly increasing revisions;
 * - a machine restored from a snapshot at any point and fed the rest
 *   answers the same and ends byte-identical.
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import {
  type Command,
  encodeCommand,
  type RecipeGrant,
  ServiceStateMachine,
} from "../../src/state/mod.ts";
import type { ElectionEvent } from "../../src/wire/types.ts";
import { assertProperty } from "../support/property.ts";

const names = fc.constantFrom("A", "B");
const waiters = fc.constantFrom("w1", "w2", "w3", "w4", "w5");
// 0: the newest lease; else a lease id that may or may not exist.
const leaseRef = fc.oneof(
  { weight: 3, arbitrary: fc.constant(0) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 10 }) },
);

type Kind = "election" | "semaphore" | "rwlock";

type Intent =
  | {
    k: "acquire";
    kind: Kind;
    name: string;
    waiter: string;
    useLease: boolean;
    lease: number;
    tryOnly: boolean;
    permits: number;
    limit: number;
    write: boolean;
  }
  | { k: "release"; kind: Kind; name: string; pick: number; real: boolean }
  | { k: "cancel"; kind: Kind; name: string; waiter: string }
  | { k: "proclaim"; name: string; real: boolean }
  | { k: "grant" }
  | { k: "keepalive"; lease: number }
  | { k: "revoke"; lease: number }
  | { k: "expire"; lease: number; stale: boolean }
  | { k: "ttlPut"; key: string; ttl: number; plain: boolean };

const kinds = fc.constantFrom<Kind>("election", "semaphore", "rwlock");

const intent: fc.Arbitrary<Intent> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.record({
      k: fc.constant("acquire" as const),
      kind: kinds,
      name: names,
      waiter: waiters,
      useLease: fc.boolean(),
      lease: leaseRef,
      tryOnly: fc.constantFrom(false, false, true),
      permits: fc.integer({ min: 1, max: 3 }),
      // Mostly the same limit, sometimes another (a conflict).
      limit: fc.constantFrom(3, 3, 3, 3, 2),
      write: fc.boolean(),
    }),
  },
  {
    weight: 5,
    arbitrary: fc.record({
      k: fc.constant("release" as const),
      kind: kinds,
      name: names,
      pick: fc.nat(),
      real: fc.constantFrom(true, true, true, false),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      k: fc.constant("cancel" as const),
      kind: kinds,
      name: names,
      waiter: waiters,
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      k: fc.constant("proclaim" as const),
      name: names,
      real: fc.boolean(),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ k: "grant" as const }) },
  {
    weight: 1,
    arbitrary: fc.record({
      k: fc.constant("keepalive" as const),
      lease: leaseRef,
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      k: fc.constant("revoke" as const),
      lease: leaseRef,
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      k: fc.constant("expire" as const),
      lease: fc.integer({ min: 1, max: 12 }),
      stale: fc.constantFrom(false, false, true),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      k: fc.constant("ttlPut" as const),
      key: fc.constantFrom("t1", "t2"),
      ttl: fc.integer({ min: 1, max: 9 }),
      plain: fc.constantFrom(false, false, true),
    }),
  },
);

function leaseId(sm: ServiceStateMachine, ref: number): number {
  if (ref === 0) return sm.leases().at(-1)?.id ?? 1;
  return ref;
}

function holderTokens(sm: ServiceStateMachine, kind: Kind, name: string) {
  switch (kind) {
    case "election": {
      const l = sm.election(name).leader;
      return l ? [l.token] : [];
    }
    case "semaphore":
      return sm.semaphore(name).holders.map((h) => h.token);
    case "rwlock":
      return sm.rwlock(name).holders.map((h) => h.token);
  }
}

function kindOf(cmd: Command): Kind {
  return cmd.type.startsWith("election")
    ? "election"
    : cmd.type.startsWith("semaphore")
    ? "semaphore"
    : "rwlock";
}

function materialize(sm: ServiceStateMachine, i: Intent): Command {
  switch (i.k) {
    case "acquire": {
      const hold = i.useLease ? { lease: leaseId(sm, i.lease) } : { ttl: 5 };
      const q = {
        name: i.name,
        ...hold,
        tryOnly: i.tryOnly,
        waiterId: i.waiter,
      };
      if (i.kind === "election") {
        return { type: "electionCampaign", ...q, value: i.waiter };
      }
      if (i.kind === "semaphore") {
        return {
          type: "semaphoreAcquire",
          ...q,
          limit: i.limit,
          permits: Math.min(i.permits, i.limit),
          owner: i.waiter,
        };
      }
      return {
        type: "rwlockAcquire",
        ...q,
        mode: i.write ? "write" : "read",
        owner: i.waiter,
      };
    }
    case "release": {
      const tokens = holderTokens(sm, i.kind, i.name);
      const token = i.real && tokens.length > 0
        ? tokens[i.pick % tokens.length]
        : 1 + (i.pick % 60);
      if (i.kind === "election") {
        return { type: "electionResign", name: i.name, token };
      }
      return {
        type: i.kind === "semaphore" ? "semaphoreRelease" : "rwlockRelease",
        name: i.name,
        token,
      };
    }
    case "cancel":
      return {
        type: `${i.kind}Cancel` as
          | "electionCancel"
          | "semaphoreCancel"
          | "rwlockCancel",
        name: i.name,
        waiterId: i.waiter,
      };
    case "proclaim":
      return {
        type: "electionProclaim",
        name: i.name,
        token: i.real ? sm.election(i.name).leader?.token ?? 1 : 1,
        value: `p${sm.revision}`,
      };
    case "grant":
      return { type: "leaseGrant", ttl: 5 };
    case "keepalive":
      return { type: "leaseKeepalive", id: leaseId(sm, i.lease) };
    case "revoke":
      return { type: "leaseRevoke", id: leaseId(sm, i.lease) };
    case "expire": {
      const ka = sm.lease(i.lease)?.keepaliveIndex ?? 0;
      return {
        type: "leaseExpire",
        id: i.lease,
        keepaliveIndex: i.stale ? Math.max(0, ka - 1) : ka,
      };
    }
    case "ttlPut":
      return i.plain
        ? { type: "put", key: i.key, value: "v" }
        : { type: "put", key: i.key, value: "v", ttl: i.ttl };
  }
}

/** FIFO bookkeeping: the waiters each queue should hold, in order. */
class FifoModel {
  #queues = new Map<string, { waiterId: string; lease: number }[]>();

  queued(kind: Kind, name: string, waiterId: string, lease: number) {
    const q = this.#queues.get(`${kind}:${name}`) ?? [];
    q.push({ waiterId, lease });
    this.#queues.set(`${kind}:${name}`, q);
  }

  /** Forgets waiters that left: cancelled, or whose lease is gone. */
  prune(sm: ServiceStateMachine, cancelled?: { key: string; id: string }) {
    for (const [key, q] of this.#queues) {
      this.#queues.set(
        key,
        q.filter((w) =>
          sm.lease(w.lease) !== null &&
          !(cancelled?.key === key && cancelled.id === w.waiterId)
        ),
      );
    }
  }

  /** A grant to a queued waiter must go to the head of its queue. */
  granted(g: RecipeGrant) {
    const q = this.#queues.get(`${g.kind}:${g.grant.name}`) ?? [];
    if (g.waiterId === null || !q.some((w) => w.waiterId === g.waiterId)) {
      // Granted at its acquire: only when nobody waited.
      assert.equal(q.length, 0, "granted at once past waiting acquires");
      return;
    }
    assert.equal(q[0].waiterId, g.waiterId, "granted out of FIFO order");
    q.shift();
  }
}

function run(
  steps: Intent[],
  onStep?: (
    sm: ServiceStateMachine,
    step: { cmd: Command; result: unknown },
    grants: RecipeGrant[],
    elections: ElectionEvent[],
  ) => void,
) {
  const sm = new ServiceStateMachine({ historySize: 16 });
  const grants: RecipeGrant[] = [];
  const elections: ElectionEvent[] = [];
  sm.onRecipeGranted((g) => grants.push(g));
  sm.onElectionChange((e) => elections.push(e));
  const cmds: Command[] = [];
  const results: unknown[] = [];
  steps.forEach((i, n) => {
    const cmd = materialize(sm, i);
    cmds.push(cmd);
    const result = sm.apply(encodeCommand(cmd), { index: n + 1, term: 1 });
    results.push(result);
    onStep?.(sm, { cmd, result }, grants.splice(0), elections.splice(0));
  });
  return { sm, cmds, results };
}

const seen = { queued: 0, granted: 0, expired: 0, conflict: 0, vacant: 0 };

Deno.test("recipes: invariants, FIFO grants and increasing tokens under random sequences", (t) => {
  assertProperty(
    t,
    fc.property(
      fc.array(intent, { minLength: 1, maxLength: 70, size: "max" }),
      (steps) => {
        const fifo = new FifoModel();
        let lastToken = 0;
        const lastRevision = new Map<string, number>();
        run(steps, (sm, { cmd, result }, grants, elections) => {
          const r = result as {
            ok: boolean;
            queued?: boolean;
            waiterId?: string;
            lease?: number;
            expired?: boolean;
            error?: { code: string };
          };
          // The queue changes of this step, then its grants.
          if (r.ok && r.queued) {
            seen.queued++;
            fifo.queued(
              kindOf(cmd),
              (cmd as { name: string }).name,
              r.waiterId!,
              r.lease!,
            );
          }
          if (r.expired) seen.expired++;
          if (r.error?.code === "conflict") seen.conflict++;
          const cancelled = cmd.type.endsWith("Cancel") && r.ok
            ? {
              key: `${kindOf(cmd)}:${(cmd as { name: string }).name}`,
              id: (cmd as { waiterId: string }).waiterId,
            }
            : undefined;
          fifo.prune(sm, cancelled);
          for (const g of grants) {
            seen.granted++;
            fifo.granted(g);
            assert.ok(g.grant.token > lastToken, "tokens strictly increase");
            lastToken = g.grant.token;
          }
          assert.deepEqual(sm.invariantViolations(), []);
          for (const s of sm.semaphores()) {
            const held = s.holders.reduce((n, h) => n + h.permits, 0);
            assert.equal(held + s.free, s.limit, "a permit leaked");
            assert.ok(held <= s.limit);
          }
          const c = sm.recipeCounts();
          assert.equal(
            c.permitsHeld + c.permitsFree,
            sm.semaphores().reduce((n, s) => n + s.limit, 0),
          );
          for (const e of elections) {
            const last = lastRevision.get(e.name) ?? 0;
            assert.ok(e.revision > last, "an election went back in time");
            assert.ok(e.revision <= sm.revision);
            assert.ok(!e.leader || e.leader.token <= e.leader.revision);
            lastRevision.set(e.name, e.revision);
            if (e.leader === null) seen.vacant++;
          }
        });
      },
    ),
    { numRuns: 300 },
  );
  // The generator must keep exercising the interesting cases.
  assert.ok(seen.queued > 100, `queued ${seen.queued}`);
  assert.ok(seen.granted > 200, `granted ${seen.granted}`);
  assert.ok(seen.expired > 20, `expired ${seen.expired}`);
  assert.ok(seen.conflict > 5, `conflict ${seen.conflict}`);
  assert.ok(seen.vacant > 20, `vacant ${seen.vacant}`);
});

Deno.test("recipes: restore at any point then replay gives identical answers and snapshots", (t) => {
  assertProperty(
    t,
    fc.property(
      fc.array(intent, { minLength: 1, maxLength: 60, size: "max" }),
      fc.nat(),
      (steps, cutSeed) => {
        const a = run(steps);
        const cut = cutSeed % (steps.length + 1);
        const b = new ServiceStateMachine({ historySize: 16 });
        const prefix = new ServiceStateMachine({ historySize: 16 });
        a.cmds.slice(0, cut).forEach((cmd, n) =>
          prefix.apply(encodeCommand(cmd), { index: n + 1, term: 1 })
        );
        b.restore(prefix.snapshot());
        assert.deepEqual(b.snapshot(), prefix.snapshot());
        for (let n = cut; n < a.cmds.length; n++) {
          const r = b.apply(encodeCommand(a.cmds[n]), {
            index: n + 1,
            term: 1,
          });
          assert.deepEqual(r, a.results[n], `step ${n}: ${a.cmds[n].type}`);
        }
        assert.deepEqual(b.snapshot(), a.sm.snapshot());
        assert.deepEqual(b.invariantViolations(), []);
      },
    ),
    { numRuns: 200 },
  );
});
