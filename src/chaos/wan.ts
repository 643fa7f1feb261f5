/**
 * The WAN profile of namespaced chaos runs: nodes and client processes
 * spread over three simulated sites, with one-way delays between sites of
 * 20 ms (A–B), 50 ms (A–C) and 80 ms (B–C), ±10% jitter, so round trips
 * between sites take 40–160 ms; within a site there is no added delay.
 *
 * The Raft timing the docs recommend for such a network, and that the
 * profile runs with: election timeout at least ten round trips of the
 * slowest pair (160 ms here, so ≥ 1.6 s: 2–4 s randomized), a heartbeat
 * about one round trip (200 ms):
 *
 * ```sh
 * raftd ... --tick-ms 100 --election-ticks 20 --heartbeat-ticks 2
 * ```
 *
 * Lock leases get 6 s (longer than the longest election timeout, so a
 * holder's lease outlives a failover), clients 5 s a request.
 *
 * @module
 */

import type { BaseDelay } from "./netem.ts";

/** The sites, by name. */
export const SITES = ["A", "B", "C"] as const;

/** One-way delay between two sites, ms. */
export const SITE_DELAY_MS: Readonly<Record<string, number>> = {
  "A-B": 20,
  "A-C": 50,
  "B-C": 80,
};

/** The raftd flags for a WAN (see the module documentation). */
export const WAN_RAFT_FLAGS: readonly string[] = [
  "--tick-ms",
  "100",
  "--election-ticks",
  "20",
  "--heartbeat-ticks",
  "2",
];

/** Lock lease TTL for WAN runs, seconds. */
export const WAN_LOCK_TTL = 6;

/** Request timeout for WAN clients, ms. */
export const WAN_TIMEOUT_MS = 5000;

/**
 * Sites of `nodes` (in order, split as evenly as they go: 5 nodes are
 * A A B B C) and of `clients` (round robin).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { assignSites, wanDelays } from "./wan.ts";
 *
 * const sites = assignSites(["n1", "n2", "n3"], ["l0"]);
 * assert.equal(sites.get("n3"), "C");
 * assert.equal(wanDelays(sites).find((d) => d.from === "n1" && d.to === "n3")?.delayMs, 50);
 * ```
 */
export function assignSites(
  nodes: readonly string[],
  clients: readonly string[],
): Map<string, string> {
  const site = new Map<string, string>();
  nodes.forEach((n, i) =>
    site.set(n, SITES[Math.floor((i * SITES.length) / nodes.length)])
  );
  clients.forEach((c, i) => site.set(c, SITES[i % SITES.length]));
  return site;
}

/** The base delays between every two members on different sites. */
export function wanDelays(site: ReadonlyMap<string, string>): BaseDelay[] {
  const out: BaseDelay[] = [];
  for (const [a, sa] of site) {
    for (const [b, sb] of site) {
      if (sa === sb) continue;
      const key = sa < sb ? `${sa}-${sb}` : `${sb}-${sa}`;
      const delayMs = SITE_DELAY_MS[key];
      out.push({ from: a, to: b, delayMs, jitterMs: delayMs / 10 });
    }
  }
  return out;
}
