/**
 * Lease timing checked against the clients' clocks: the lock model
 * (`lock.ts`) lets a lease expire at any instant, so it cannot see a
 * service that ends leases early. This checker can: it learns each lock
 * holder's lease TTL and renewals from the history and holds the service
 * to them.
 *
 * Operations it reads (every other operation is ignored), each with
 * `op.lock`:
 *
 * | f             | fields                       | outcome it uses                                           |
 * | ------------- | ---------------------------- | --------------------------------------------------------- |
 * | `acquire`     | `ttl` (s), `lockDelay` (ms)  | `ok` with `{token, lease}` (or a bare token)              |
 * | `keepalive`   | `token` (the holder's)       | `ok` with `{ttl}`; `fail` with error `not_found`          |
 * | `fencedWrite` | `token`                      | `fail` with error `stale_token`                           |
 * | `validate`    | `token`                      | `ok` with `false` (or `{valid: false}`)                   |
 * | `release`     | `token`                      | not `fail`: the lock may be free from its invoke; `fail` with `stale_token` |
 *
 * The reasoning. The service renews a lease at some instant between a
 * keepalive's invocation and its acknowledgement, so the holder may count
 * on it until `invoke + TTL`: the invocation is the safe end (the
 * acquire's invocation likewise, for the lease the acquire makes). A
 * grant, or a refusal that shows the lease gone, happened at some instant
 * before the client saw it complete: the completion is the safe end
 * there. So, with `R` the latest invocation of an acknowledged renewal
 * (the acquire or a keepalive) of holder `t` of lock `L`, and no release
 * of `t` invoked before the event in question:
 *
 * 1. **No early grant**: a grant of `L` to a later token must not complete
 *    before `R + TTL + lockDelay − drift` (lock-delay counts because `t`'s
 *    lease, not a release, freed the lock).
 * 2. **No early expiry**: a refusal that shows `t`'s lease gone (a
 *    keepalive answered `not_found`, a fenced write or a release answered
 *    `stale_token`, `validate → false`) must not complete before
 *    `R + TTL − drift`. A renewal acknowledged after such a refusal is the
 *    same fault seen the other way: the lease came back.
 * 3. **Acknowledged keepalives extend the lease**: each one is a renewal in
 *    1 and 2, and the TTL it answers must be the lease's whole TTL.
 *
 * `drift` bounds how far the clocks of the processes that recorded the
 * history may disagree (default 50 ms; processes on one machine read the
 * same monotonic clock, so the real disagreement is far smaller). Timed-out
 * (`info`) renewals are left out (they may not have happened); leaving a
 * renewal out only makes the bounds earlier, so it never invents an
 * anomaly.
 *
 * @module
 */

import {
  type History,
  isEventHistory,
  type Operation,
  toOperations,
} from "./history.ts";
import { tokenOf } from "./lock.ts";

/** Options of {@link checkLeaseTiming}. */
export interface TimingOptions {
  /**
   * How far the clocks of the recording processes may disagree, in ms
   * (default 50).
   */
  driftMs?: number;
  /** How many anomalies to keep in the result (default 20; all are counted). */
  maxAnomalies?: number;
}

/** Which timing promise an anomaly breaks. */
export type TimingAnomalyKind =
  | "early-grant"
  | "early-expiry"
  | "short-renewal";

/** One broken timing promise, with the operations that show it. */
export interface TimingAnomaly {
  /** Which promise. */
  kind: TimingAnomalyKind;
  /** The lock. */
  lock: string;
  /** The earlier holder's token. */
  token: number;
  /** A sentence that says what happened, with times. */
  message: string;
  /** The operations involved, in invocation order. */
  operations: Operation[];
}

/** What {@link checkLeaseTiming} found. */
export interface TimingResult {
  /** True when no anomaly was found. */
  ok: boolean;
  /** How many anomalies were found. */
  count: number;
  /** The first `maxAnomalies` of them. */
  anomalies: TimingAnomaly[];
  /** Acknowledged grants checked. */
  grants: number;
  /** Acknowledged renewals (grants and keepalives) used as bounds. */
  renewals: number;
  /** Refusals that showed a lease gone. */
  expiries: number;
  /** The drift bound used (ms). */
  driftMs: number;
}

interface Holder {
  lock: string;
  token: number;
  ttlMs: number;
  lockDelayMs: number;
  acquire: Operation;
  /** The acknowledged renewal invoked last (the acquire at first). */
  last: Operation;
  /** When a release of this token was first invoked (Infinity: never). */
  releasedFrom: number;
}

const isNum = (x: unknown): x is number =>
  typeof x === "number" && Number.isFinite(x);

/**
 * Checks lease timing in `history` (events or paired operations); see the
 * module documentation for what it promises.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkLeaseTiming } from "./timing.ts";
 *
 * // c1 takes lock L with a 3 s lease at 0 ms and never renews it; c2 is
 * // granted L 1 s later: too early.
 * const result = checkLeaseTiming([
 *   {
 *     id: 0, client: "c1", status: "ok", start: 0, end: 10,
 *     op: { f: "acquire", lock: "L", ttl: 3 }, result: { token: 5, lease: 1 },
 *   },
 *   {
 *     id: 1, client: "c2", status: "ok", start: 900, end: 1000,
 *     op: { f: "acquire", lock: "L", ttl: 3 }, result: { token: 9, lease: 2 },
 *   },
 * ]);
 * assert.equal(result.ok, false);
 * assert.equal(result.anomalies[0].kind, "early-grant");
 * ```
 */
export function checkLeaseTiming(
  history: History | readonly Operation[],
  options: TimingOptions = {},
): TimingResult {
  const drift = options.driftMs ?? 50;
  const keep = options.maxAnomalies ?? 20;
  const ops = isEventHistory(history)
    ? toOperations(history as History)
    : history as readonly Operation[];
  const anomalies: TimingAnomaly[] = [];
  let count = 0;
  const report = (a: TimingAnomaly) => {
    count++;
    if (anomalies.length < keep) {
      a.operations.sort((x, y) => x.start - y.start);
      anomalies.push(a);
    }
  };

  // Holders by lock and token, from acknowledged grants.
  const holders = new Map<string, Map<number, Holder>>();
  let renewals = 0;
  for (const o of ops) {
    if (o.op.f !== "acquire" || o.status !== "ok") continue;
    const lock = o.op.lock, ttl = o.op.ttl;
    const token = tokenOf(o.result);
    if (typeof lock !== "string" || !isNum(ttl) || !isNum(token)) continue;
    let m = holders.get(lock);
    if (!m) holders.set(lock, m = new Map());
    m.set(token, {
      lock,
      token,
      ttlMs: ttl * 1000,
      lockDelayMs: isNum(o.op.lockDelay) ? o.op.lockDelay : 0,
      acquire: o,
      last: o,
      releasedFrom: Infinity,
    });
    renewals++;
  }
  const holderOf = (o: Operation): Holder | undefined => {
    const lock = o.op.lock, token = o.op.token;
    return typeof lock === "string" && isNum(token)
      ? holders.get(lock)?.get(token)
      : undefined;
  };

  // Renewals and releases.
  for (const o of ops) {
    const h = holderOf(o);
    if (!h) continue;
    if (o.op.f === "keepalive" && o.status === "ok") {
      renewals++;
      if (o.start > h.last.start) h.last = o;
      const ttl = (o.result as { ttl?: unknown } | undefined)?.ttl;
      if (isNum(ttl) && ttl * 1000 < h.ttlMs) {
        report({
          kind: "short-renewal",
          lock: h.lock,
          token: h.token,
          message:
            `A keepalive of ${h.lock}#${h.token} was acknowledged with a TTL of ${ttl} s, less than the lease's ${
              h.ttlMs / 1000
            } s`,
          operations: [h.acquire, o],
        });
      }
    } else if (o.op.f === "release" && o.status !== "fail") {
      h.releasedFrom = Math.min(h.releasedFrom, o.start);
    }
  }

  // 1. No grant while an earlier holder's lease may still be valid.
  let grants = 0;
  for (const byToken of holders.values()) {
    const order = [...byToken.values()].sort((a, b) => a.token - b.token);
    grants += order.length;
    // suffixMin[k]: the earliest completion of grant k or later. An earlier
    // holder whose bound is below it can flag no later grant: drop it.
    const suffixMin = new Array<number>(order.length + 1).fill(Infinity);
    for (let k = order.length - 1; k >= 0; k--) {
      suffixMin[k] = Math.min(suffixMin[k + 1], order[k].acquire.end);
    }
    let open: { h: Holder; bound: number }[] = [];
    for (let k = 0; k < order.length; k++) {
      const next = order[k];
      const granted = next.acquire.end;
      open = open.filter((x) =>
        x.bound > suffixMin[k] && x.h.releasedFrom >= suffixMin[k]
      );
      for (const { h, bound } of open) {
        if (h.releasedFrom < granted) continue; // it may have been released
        if (granted >= bound) continue;
        const renewed = h.last.start;
        report({
          kind: "early-grant",
          lock: h.lock,
          token: h.token,
          message:
            `${h.lock} was granted to token ${next.token} (acknowledged at ${
              fmt(granted)
            } ms) while token ${h.token}'s lease, renewed no earlier than ${
              fmt(renewed)
            } ms with a TTL of ${h.ttlMs} ms${
              h.lockDelayMs ? ` and a lock-delay of ${h.lockDelayMs} ms` : ""
            }, could be valid until ${fmt(bound + drift)} ms (${
              fmt(bound + drift - granted)
            } ms early; drift bound ${drift} ms)`,
          operations: uniq([h.acquire, h.last, next.acquire]),
        });
      }
      open.push({
        h: next,
        bound: next.last.start + next.ttlMs + next.lockDelayMs - drift,
      });
    }
  }

  // 2. No refusal that shows a lease gone before its TTL ran out.
  let expiries = 0;
  for (const o of ops) {
    if (!showsGone(o)) continue;
    const h = holderOf(o);
    if (!h) continue;
    expiries++;
    if (h.releasedFrom < o.end) continue;
    const bound = h.last.start + h.ttlMs - drift;
    if (o.end >= bound) continue;
    const back = h.last.start > o.end;
    report({
      kind: "early-expiry",
      lock: h.lock,
      token: h.token,
      message: back
        ? `${h.lock}#${h.token}'s lease was seen gone (${describe(o)}, at ${
          fmt(o.end)
        } ms) and then renewed (a keepalive invoked at ${
          fmt(h.last.start)
        } ms was acknowledged)`
        : `${h.lock}#${h.token}'s lease was seen gone (${describe(o)}) at ${
          fmt(o.end)
        } ms, but it was renewed no earlier than ${
          fmt(h.last.start)
        } ms with a TTL of ${h.ttlMs} ms: valid until ${
          fmt(bound + drift)
        } ms (${fmt(bound + drift - o.end)} ms early; drift bound ${drift} ms)`,
      operations: uniq([h.acquire, h.last, o]),
    });
  }

  return {
    ok: count === 0,
    count,
    anomalies,
    grants,
    renewals,
    expiries,
    driftMs: drift,
  };
}

// A definite refusal (or answer) that says the holder's lease is gone.
function showsGone(o: Operation): boolean {
  const code = errorCode(o.error);
  switch (o.op.f) {
    case "keepalive":
      return o.status === "fail" && code === "not_found";
    case "fencedWrite":
    case "release":
      return o.status === "fail" && code === "stale_token";
    case "validate": {
      if (o.status !== "ok") return false;
      const v = typeof o.result === "object" && o.result !== null
        ? (o.result as { valid?: unknown }).valid
        : o.result;
      return v === false;
    }
    default:
      return false;
  }
}

function errorCode(e: unknown): unknown {
  if (typeof e === "object" && e !== null && "code" in e) {
    return (e as { code: unknown }).code;
  }
  return e;
}

function describe(o: Operation): string {
  const what = o.op.f === "validate"
    ? "validate → false"
    : `${o.op.f} → ${String(errorCode(o.error))}`;
  return `${what} by ${o.client}`;
}

function uniq(ops: Operation[]): Operation[] {
  return [...new Set(ops)];
}

const fmt = (ms: number) => (Math.round(ms * 10) / 10).toString();

/**
 * A readable report of a timing check: one line of counts, then each
 * anomaly with its operations (client, invoke and completion times).
 */
export function formatTimingReport(result: TimingResult): string {
  const head = result.ok
    ? `Lease timing: ok (${result.grants} grants, ${result.renewals} renewals, ${result.expiries} expiries seen; drift bound ${result.driftMs} ms)`
    : `ILLEGAL: lease timing broken ${result.count} time(s) (${result.grants} grants, ${result.renewals} renewals, ${result.expiries} expiries seen; drift bound ${result.driftMs} ms)`;
  const lines = [head];
  for (const a of result.anomalies) {
    lines.push(`  ${a.kind}: ${a.message}`);
    for (const o of a.operations) {
      const end = Number.isFinite(o.end) ? fmt(o.end) : "?";
      const res = o.status === "ok"
        ? JSON.stringify(o.result ?? null)
        : String(errorCode(o.error) ?? "");
      lines.push(
        `    ${o.client}\t${fmt(o.start)}\t${end}\t${o.status}\t${o.op.f}(${
          o.op.lock ?? ""
        }${o.op.token === undefined ? "" : `#${o.op.token}`}) ${res}`,
      );
    }
  }
  return lines.join("\n");
}
