/**
 * The clients of a chaos run, each a loop over the HTTP API of random
 * nodes until its signal aborts, every operation recorded in a
 * {@linkcode HistoryRecorder}:
 *
 * - register clients read, write and compare-and-set a few keys (`r/*`),
 *   moving to fresh keys every few seconds;
 * - lock clients acquire a lock, do fenced writes (holding it a while
 *   with keepalives, or abandoning it now and then), and release it;
 * - watchers follow `r/` from revision 1 with the typed client, which
 *   fails over and resumes, and log every event for `checkWatches`.
 *
 * An operation that certainly had no effect is `fail`; one that may or may
 * not have happened (a timeout, a lost connection, a 5xx after the
 * proposal) is `info`.
 *
 * @module
 */

import type { HistoryRecorder } from "../check/mod.ts";
import { Client } from "../client/mod.ts";
import { isRaftlockError } from "../client/errors.ts";
import { type AckedWrite, type WatcherLog, writeId } from "./watch_check.ts";

/** What every client loop shares. */
export interface WorkloadContext {
  /** The nodes' HTTP addresses (host:port). */
  http: readonly string[];
  /** Where operations are recorded. */
  history: HistoryRecorder;
  /** The run's seeded random source. */
  random: () => number;
  /** Ends the loops. */
  signal: AbortSignal;
  /** Operations by outcome so far. */
  counts: { ok: number; fail: number; info: number };
  /** Writes the cluster acknowledged, for the watch check. */
  acked: { push(write: AckedWrite): unknown };
  /** Every write and compare-and-set attempted, as `writeId(key, value)`. */
  attempted: { add(id: string): unknown };
  /** Stops issuing operations once this many were recorded. */
  maxOps: number;
  /**
   * The current key generation: register clients use keys
   * `r/<generation>-<k>`, so each key's history stays short enough to
   * check even with many operations of unknown outcome (Jepsen's
   * "independent" keys).
   */
  generation: () => number;
  /** How long one HTTP request may take, in ms (default 1000). */
  timeoutMs?: number;
  /** The TTL of the lock clients' leases, in seconds (default 3). */
  lockTtl?: number;
  /**
   * How often a lock client abandons a lock it holds, as a crashed client
   * would: no more keepalives, no release (default 0.08). It is a cadence,
   * not a chance: one grant in `round(1 / abandonRate)`, the first among
   * a client's first five, so every run has some.
   */
  abandonRate?: number;
}

/** Resolves after `ms` milliseconds. */
export const sleep = (ms: number): Promise<unknown> =>
  new Promise((r) => setTimeout(r, ms));

async function call(url: string, init?: RequestInit, timeoutMs = 1000) {
  const r = await fetch(url, {
    ...init,
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await r.text();
  let body;
  try {
    body = text ? JSON.parse(text) : {};
  } catch {
    body = { raw: text };
  }
  return { status: r.status, body };
}

// A 503 that says the request never reached the log.
const refused = (
  r: { status: number; body: { error?: { message?: unknown } } },
) =>
  r.status === 503 &&
  /No leader is known|shutting down|starting/.test(
    String(r.body?.error?.message),
  );

// Records how operation `id` ended, in the history and the counts.
function settle(
  ctx: WorkloadContext,
  outcome: "ok" | "fail" | "info",
  id: number,
  value?: unknown,
): void {
  ctx.history[outcome](id, value);
  ctx.counts[outcome]++;
}

/**
 * Whether a client should run on: not stopped, and the run's operation
 * budget not spent.
 *
 * @example
 * ```ts ignore
 * while (going(ctx)) await oneOperation();
 * ```
 */
export function going(ctx: WorkloadContext): boolean {
  const { ok, fail, info } = ctx.counts;
  return !ctx.signal.aborted && ok + fail + info < ctx.maxOps;
}

/**
 * Which grants a client abandons (holds without release or keepalive, so
 * its lease must expire): by count, not by chance, one in
 * `round(1 / abandonRate)`, the first among the client's first five
 * (from its name), so every run has some. Call once per grant.
 *
 * @example
 * ```ts ignore
 * const abandons = abandonSchedule(ctx, "c3");
 * if (abandons()) return; // leave this grant to expire
 * ```
 */
export function abandonSchedule(
  ctx: WorkloadContext,
  name: string,
): () => boolean {
  const abandonRate = ctx.abandonRate ?? 0.08;
  const period = abandonRate > 0 ? Math.max(1, Math.round(1 / abandonRate)) : 0;
  let hash = 0;
  for (const ch of name) hash = (hash * 31 + ch.charCodeAt(0)) >>> 0;
  const first = 1 + (hash % 4);
  let grants = 0;
  return () => {
    grants++;
    return period > 0 && grants >= first && (grants - first) % period === 0;
  };
}

/** Reads, writes and compare-and-sets `keys` registers until stopped. */
export async function registerClient(
  ctx: WorkloadContext,
  name: string,
  keys: number,
  clients: number,
): Promise<void> {
  const { history, random } = ctx;
  let reqSeq = 0;
  let seq = 0;
  while (going(ctx)) {
    const base = `http://${ctx.http[Math.floor(random() * ctx.http.length)]}`;
    const key = `r/${ctx.generation()}-${Math.floor(random() * keys)}`;
    const roll = random();
    const value = `${name}-${++seq}`;
    const headers = { "X-Request-Id": `${name}/${++reqSeq}` };
    if (roll < 0.45) {
      const id = history.invoke(name, { f: "read", key });
      try {
        const r = await call(`${base}/v1/kv/${key}`, {}, ctx.timeoutMs);
        if (r.status === 200) settle(ctx, "ok", id, r.body.value);
        else if (r.status === 404) settle(ctx, "ok", id, null);
        else settle(ctx, "fail", id, r.status);
      } catch {
        settle(ctx, "fail", id, "unreachable"); // a read has no effect
      }
    } else {
      const cas = roll > 0.8;
      // Expect a value some client probably wrote lately.
      const expected = cas
        ? `c${Math.floor(random() * clients)}-${
          Math.max(1, seq - Math.floor(random() * 5))
        }`
        : "";
      const id = history.invoke(
        name,
        cas ? { f: "cas", key, expected, value } : { f: "write", key, value },
      );
      ctx.attempted.add(writeId(key, value));
      try {
        const r = cas
          ? await call(`${base}/v1/txn`, {
            method: "POST",
            headers,
            body: JSON.stringify({
              compare: [{ key, target: "value", op: "==", value: expected }],
              success: [{ put: { key, value } }],
            }),
          }, ctx.timeoutMs)
          : await call(`${base}/v1/kv/${key}`, {
            method: "PUT",
            headers,
            body: JSON.stringify({ value }),
          }, ctx.timeoutMs);
        if (r.status === 200) {
          settle(ctx, "ok", id, cas ? r.body.succeeded === true : undefined);
          if (!cas || r.body.succeeded === true) {
            ctx.acked.push({ revision: r.body.revision, key, value });
          }
        } else if (refused(r)) {
          settle(ctx, "fail", id, r.status);
        } else {
          settle(ctx, "info", id, r.status);
        }
      } catch {
        settle(ctx, "info", id, "unreachable");
      }
    }
    if (random() < 0.1) await sleep(random() * 20);
  }
}

/**
 * Cycles locks until stopped: acquire (a lease of `lockTtl` seconds, now
 * and then with a lock-delay), then either one fenced write or a hold of
 * up to 70% of the TTL with fenced writes and keepalives every third of
 * the TTL, then release. Now and then it abandons the lock instead, as a
 * crashed client would (no keepalive, no release), and waits out the
 * lease, so the next holder's grant shows when the service let it go.
 * A fenced write refused as stale, or a keepalive refused as not found,
 * means the lease is gone: the cycle ends there. After a request timed
 * out it asks after its lease (a keepalive, up to three tries through
 * random nodes) before it releases, as a client back from a partition
 * would.
 *
 * Recorded for the checkers: `acquire {lock, ttl, lockDelay?}` → `{token,
 * lease}`; `keepalive {lock, token, lease}` → `{ttl}` or fail `not_found`;
 * `fencedWrite {lock, token}`; `release {lock, token}`.
 */
export async function lockClient(
  ctx: WorkloadContext,
  name: string,
): Promise<void> {
  const { history, random } = ctx;
  const ttl = ctx.lockTtl ?? 3;
  const abandons = abandonSchedule(ctx, name);
  const timeoutMs = ctx.timeoutMs;
  const request = (
    url: string,
    body: unknown,
    method = "POST",
  ) => call(url, { method, body: JSON.stringify(body) }, timeoutMs);
  const pause = (ms: number) =>
    Promise.race([
      sleep(ms),
      new Promise<void>((r) =>
        ctx.signal.addEventListener("abort", () => r(), { once: true })
      ),
    ]);
  while (going(ctx)) {
    const base = `http://${ctx.http[Math.floor(random() * ctx.http.length)]}`;
    const lock = `lock${Math.floor(random() * 2)}`;
    const lockDelay = random() < 0.2 ? 300 : 0;
    const a = history.invoke(name, {
      f: "acquire",
      lock,
      ttl,
      ...(lockDelay ? { lockDelay } : {}),
    });
    let token: number | undefined;
    let lease: number | undefined;
    try {
      const r = await request(`${base}/v1/locks/${lock}/acquire`, {
        ttl,
        wait: Math.round((ttl * 1000) / 6), // 500 ms for 3 s leases
        owner: name,
        ...(lockDelay ? { lockDelay } : {}),
      });
      if (r.status === 200) {
        token = r.body.token;
        lease = r.body.lease;
        settle(ctx, "ok", a, { token, lease });
      } else if (r.status === 409 || refused(r)) {
        settle(ctx, "fail", a, r.status);
      } else {
        settle(ctx, "info", a, r.status);
      }
    } catch {
      settle(ctx, "info", a, "unreachable");
    }
    if (token === undefined) {
      await sleep(20 + random() * 50);
      continue;
    }
    const holdMs = random() < 0.5 ? 0 : random() * ttl * 700;
    const abandon = abandons();
    const until = performance.now() + holdMs;
    let renewed = performance.now();
    let lost = false;
    // Whether some request's outcome is unknown (a timeout): the client
    // then asks after its lease before it lets go, as a real one would.
    let uncertain = false;
    const keepalive = async (node: string) => {
      const k = history.invoke(name, { f: "keepalive", lock, token, lease });
      try {
        const r = await request(`${node}/v1/leases/${lease}/keepalive`, {});
        if (r.status === 200) {
          settle(ctx, "ok", k, { ttl: r.body.ttl });
          return "ok";
        }
        if (r.status === 404 || r.status === 409 || refused(r)) {
          const code = r.body?.error?.code ?? r.status;
          settle(ctx, "fail", k, code);
          return code === "not_found" ? "gone" : "unknown";
        }
        settle(ctx, "info", k, r.status);
      } catch {
        settle(ctx, "info", k, "unreachable");
      }
      uncertain = true;
      return "unknown";
    };
    for (;;) {
      const w = history.invoke(name, { f: "fencedWrite", lock, token });
      try {
        const r = await request(`${base}/v1/kv/fenced/${lock}`, {
          value: `${name}-${token}`,
          fence: { lock, token },
        }, "PUT");
        if (r.status === 200) settle(ctx, "ok", w);
        else if (r.status === 409) {
          settle(ctx, "fail", w, r.body?.error?.code);
          lost = r.body?.error?.code === "stale_token";
        } else {
          settle(ctx, "info", w, r.status);
          uncertain = true;
        }
      } catch {
        settle(ctx, "info", w, "unreachable");
        uncertain = true;
      }
      if (lost || ctx.signal.aborted || performance.now() >= until) break;
      if (performance.now() - renewed >= (ttl * 1000) / 3) {
        renewed = performance.now();
        lost = (await keepalive(base)) === "gone";
        if (lost) break;
      }
      await pause(100 + random() * 200);
    }
    for (let i = 0; uncertain && !lost && !ctx.signal.aborted && i < 3; i++) {
      const node = `http://${ctx.http[Math.floor(random() * ctx.http.length)]}`;
      const answer = await keepalive(node);
      lost = answer === "gone";
      if (answer !== "unknown") break;
    }
    if (lost) continue;
    if (abandon) {
      // A crashed holder: its lease runs out on its own.
      await pause(ttl * 1000 + 200);
      continue;
    }
    const id = history.invoke(name, { f: "release", lock, token });
    try {
      const r = await request(`${base}/v1/locks/${lock}/release`, { token });
      if (r.status === 200) settle(ctx, "ok", id);
      else if (r.status === 409) {
        settle(ctx, "fail", id, r.body?.error?.code);
      } else settle(ctx, "info", id, r.status);
    } catch {
      settle(ctx, "info", id, "unreachable");
    }
  }
}

/**
 * Follows `r/` from revision 1 through the typed client (it fails over
 * between nodes and resumes after the last event) until stopped, logging
 * every event. When the cluster has compacted what it must resume from,
 * the skipped range is logged and the watch restarts after it.
 */
export function watcher(
  ctx: WorkloadContext,
  name: string,
): { log: WatcherLog; done: Promise<void> } {
  const log: WatcherLog = { name, fromRevision: 1, events: [], compacted: [] };
  return { log, done: follow(ctx, log) };
}

async function follow(ctx: WorkloadContext, log: WatcherLog): Promise<void> {
  // Each watcher starts on a different node.
  const k = Math.floor(ctx.random() * ctx.http.length);
  const endpoints = [...ctx.http.slice(k), ...ctx.http.slice(0, k)].map((h) =>
    `http://${h}`
  );
  const client = new Client({ endpoints, attemptTimeoutMs: 2000 });
  let from = 1;
  try {
    while (!ctx.signal.aborted) {
      try {
        const w = client.watch({ prefix: "r/" }, {
          fromRevision: from,
          signal: ctx.signal,
          idleTimeoutMs: 8000,
        });
        for await (const e of w) {
          log.events.push({
            revision: e.revision,
            key: e.key,
            type: e.type,
            value: e.value,
          });
          from = e.revision + 1;
        }
      } catch (e) {
        if (ctx.signal.aborted) break;
        if (isRaftlockError(e, "compacted")) {
          // compactRevision is the oldest revision still held.
          const oldest = Math.max(from, e.compactRevision ?? from);
          log.compacted.push({ from, to: oldest - 1 });
          if (oldest === from) await sleep(200); // the server contradicts itself
          from = oldest;
        } else {
          await sleep(200); // unreachable for a while; try again
        }
      }
    }
  } finally {
    await client.close();
  }
}
