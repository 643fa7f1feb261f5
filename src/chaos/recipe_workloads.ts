/**
 * The chaos run's clients of the coordination recipes — elections,
 * semaphores and read-write locks — each a loop through the typed client
 * (`src/client/`, which fails over between nodes and retries writes under
 * one request id) until its signal aborts, every operation recorded for
 * the recipe's model (`electionModel`, `semaphoreModel`, `rwlockModel` of
 * `src/check/`).
 *
 * A cycle: acquire once (a campaign, some permits of a semaphore of limit
 * {@linkcode CHAOS_SEMAPHORE_LIMIT}, a read or write hold), with a lease of
 * the lock clients' TTL and a short wait in the queue; then hold it a
 * while with fenced writes (an election's leader also proclaims and reads
 * who leads) and lease keepalives every third of the TTL; then release.
 * Now and then the client abandons its grant instead, as a crashed one
 * would (no keepalive, no release), and waits out the lease. A fenced
 * write or proclaim refused as stale, or a keepalive refused as not found,
 * ends the cycle: the grant is gone.
 *
 * Outcomes: a refusal that certainly changed nothing (`stale_token`,
 * `lock_held`, `conflict`, `not_found`, `bad_request`) is `fail`; anything
 * else that is not an answer (unreachable, timeout, unavailable) is `info`.
 *
 * Recorded: `campaign {election, value}` → `{token, lease}`, `proclaim
 * {election, token, value}`, `resign {election, token}`, `leader
 * {election}` → `{token}` or `null`; `semAcquire {semaphore, limit,
 * permits}` → `{token, lease}`, `semRelease {semaphore, token}`;
 * `rwAcquire {rwlock, mode}` → `{token, lease}`, `rwRelease {rwlock,
 * token}`; `fencedWrite {<kind>: name, token}` and `recipeKeepalive
 * {<kind>: name, lease}` (which no model reads) for all three.
 *
 * @module
 */

import type { Op } from "../check/mod.ts";
import { Client } from "../client/mod.ts";
import { isRaftlockError } from "../client/errors.ts";
import type { Fence } from "../client/types.ts";
import {
  abandonSchedule,
  going,
  sleep,
  type WorkloadContext,
} from "./workloads.ts";

/** The recipes the chaos clients exercise. */
export type ChaosRecipe = "election" | "semaphore" | "rwlock";

/** Every recipe workload, in a fixed order. */
export const CHAOS_RECIPES: readonly ChaosRecipe[] = [
  "election",
  "semaphore",
  "rwlock",
];

/** The limit of the chaos run's semaphores. */
export const CHAOS_SEMAPHORE_LIMIT = 3;

/** Error codes that mean the request certainly had no effect. */
const NO_EFFECT = new Set([
  "stale_token",
  "lock_held",
  "conflict",
  "not_found",
  "bad_request",
]);

/**
 * Cycles one recipe until stopped (see the module documentation). `name`
 * is the client's name in the history.
 *
 * @example
 * ```ts ignore
 * await recipeClient(ctx, "e0", "election");
 * ```
 */
export async function recipeClient(
  ctx: WorkloadContext,
  name: string,
  kind: ChaosRecipe,
): Promise<void> {
  const { history, random } = ctx;
  const ttl = ctx.lockTtl ?? 3;
  const abandons = abandonSchedule(ctx, name);
  let grants = 0;
  // Each client starts on a different node; the client fails over.
  const k = Math.floor(random() * ctx.http.length);
  const endpoints = [...ctx.http.slice(k), ...ctx.http.slice(0, k)].map((h) =>
    `http://${h}`
  );
  const timeoutMs = ctx.timeoutMs ?? 1000;
  const client = new Client({
    endpoints,
    attemptTimeoutMs: timeoutMs,
    timeoutMs: timeoutMs * 3,
    clientId: `chaos-${name}`,
  });
  const pause = (ms: number) =>
    Promise.race([
      sleep(ms),
      new Promise<void>((r) =>
        ctx.signal.addEventListener("abort", () => r(), { once: true })
      ),
    ]);
  // Runs `call` recorded as `op`: ok with its value, fail when it
  // certainly had no effect, else info. Answers the error code, if any.
  const run = async <T>(
    op: Op,
    call: () => Promise<T>,
    result: (v: T) => unknown = () => undefined,
  ): Promise<{ value?: T; code?: string }> => {
    const id = history.invoke(name, op);
    try {
      const value = await call();
      history.ok(id, result(value));
      ctx.counts.ok++;
      return { value };
    } catch (e) {
      const code = isRaftlockError(e) ? e.code : "unreachable";
      if (NO_EFFECT.has(code)) {
        history.fail(id, code);
        ctx.counts.fail++;
      } else {
        history.info(id, code);
        ctx.counts.info++;
      }
      return { code };
    }
  };
  const records = kind === "election"
    ? ["e0", "e1"]
    : kind === "semaphore"
    ? ["s0"]
    : ["rw0"];
  try {
    while (going(ctx)) {
      const rec = records[Math.floor(random() * records.length)];
      const wait = Math.round((ttl * 1000) / 6);
      let grant: { token: number; lease: number } | undefined;
      if (kind === "election") {
        const value = `${name}-${grants + 1}`;
        grant = (await run(
          { f: "campaign", election: rec, value },
          () => client.campaignOnce(rec, value, { ttl, wait }),
          (g) => ({ token: g.token, lease: g.lease }),
        )).value;
      } else if (kind === "semaphore") {
        const permits = random() < 0.25 ? 2 : 1;
        grant = (await run(
          {
            f: "semAcquire",
            semaphore: rec,
            limit: CHAOS_SEMAPHORE_LIMIT,
            permits,
          },
          () =>
            client.acquireSemaphore(rec, {
              limit: CHAOS_SEMAPHORE_LIMIT,
              permits,
              owner: name,
              ttl,
              wait,
            }),
          (g) => ({ token: g.token, lease: g.lease }),
        )).value;
      } else {
        const mode = random() < 0.3 ? "write" : "read";
        grant = (await run(
          { f: "rwAcquire", rwlock: rec, mode },
          () => client.acquireRwlock(rec, mode, { owner: name, ttl, wait }),
          (g) => ({ token: g.token, lease: g.lease }),
        )).value;
      }
      if (grant === undefined) {
        await pause(20 + random() * 80);
        continue;
      }
      const { token, lease } = grant;
      grants++;
      const abandon = abandons();
      const holdMs = random() < 0.4 ? 0 : random() * ttl * 700;
      const until = performance.now() + holdMs;
      let renewed = performance.now();
      let lost = false;
      const fence = { [kind]: rec, token } as unknown as Fence;
      for (;;) {
        const roll = random();
        if (kind === "election" && roll < 0.25) {
          const value = `${name}-${token}-${Math.floor(random() * 1000)}`;
          const r = await run(
            { f: "proclaim", election: rec, token, value },
            () => client.proclaim(rec, token, value),
          );
          lost = r.code === "stale_token";
        } else if (kind === "election" && roll < 0.4) {
          await run(
            { f: "leader", election: rec },
            () => client.leader(rec),
            (l) => (l ? { token: l.token } : null),
          );
        } else {
          const r = await run(
            { f: "fencedWrite", [kind]: rec, token },
            () =>
              client.put(`fenced/${kind}/${rec}`, `${name}-${token}`, {
                fence,
              }),
          );
          lost = r.code === "stale_token";
        }
        if (lost || ctx.signal.aborted || performance.now() >= until) break;
        if (performance.now() - renewed >= (ttl * 1000) / 3) {
          renewed = performance.now();
          const r = await run(
            { f: "recipeKeepalive", [kind]: rec, lease },
            () => client.keepAlive(lease),
            (l) => ({ ttl: l.ttl }),
          );
          lost = r.code === "not_found";
          if (lost) break;
        }
        await pause(100 + random() * 200);
      }
      if (lost) continue;
      if (abandon) {
        // A crashed holder: its lease runs out on its own.
        await pause(ttl * 1000 + 200);
        continue;
      }
      if (kind === "election") {
        await run(
          { f: "resign", election: rec, token },
          () => client.resign(rec, token),
        );
      } else if (kind === "semaphore") {
        await run(
          { f: "semRelease", semaphore: rec, token },
          () => client.releaseSemaphore(rec, token),
        );
      } else {
        await run(
          { f: "rwRelease", rwlock: rec, token },
          () => client.releaseRwlock(rec, token),
        );
      }
    }
  } finally {
    await client.close();
  }
}
