/**
 * `GET /v1/stats`: the node's request counters and latency buckets since
 * it started, as JSON, so the console can chart writes/s, reads/s and
 * latency percentiles by sampling it, with no Prometheus server between.
 * The numbers come from the same histogram `GET /metrics` renders.
 *
 * Counted are the data routes (keys, transactions, leases, locks,
 * elections, semaphores, read-write locks); streams (watch, observe),
 * status, cluster, auth and these stats are left out, so a console that
 * polls does not chart itself.
 *
 * @module
 */

import { Hono } from "hono";
import type { NodeStats } from "../../wire/types.ts";
import { guardOf } from "../auth.ts";
import type { AppOptions } from "../options.ts";

// The data routes, by the route pattern Hono matched.
const DATA_ROUTE =
  /^\/v1\/(kv|txn|leases|locks|elections|semaphores|rwlocks)(\/|$)/;

/** Whether a request on `route` is one the stats count. */
export function countedRoute(route: string): boolean {
  return DATA_ROUTE.test(route) && !route.endsWith("/observe");
}

/** The stats route, relative to `/v1`. */
export function statsRoutes(options: AppOptions): Hono {
  const node = options.service.node;
  const metrics = options.metrics;
  const app = new Hono();

  app.get("/stats", (c) => {
    guardOf(c).user();
    const bounds = [...metrics.http.bounds];
    const buckets = new Array<number>(bounds.length).fill(0);
    let reads = 0, writes = 0, count = 0, sum = 0;
    for (const s of metrics.http.series()) {
      if (!countedRoute(s.labels.route ?? "")) continue;
      const method = s.labels.method ?? "";
      if (method === "GET" || method === "HEAD") reads += s.count;
      else writes += s.count;
      count += s.count;
      sum += s.sum;
      for (let i = 0; i < bounds.length; i++) buckets[i] += s.buckets[i];
    }
    const st = node.status();
    const stats: NodeStats = {
      id: st.id,
      time: Date.now(),
      role: st.role,
      leader: st.leader,
      term: st.term,
      writes,
      reads,
      latency: { bounds, buckets, count, sum },
      leaderChanges: metrics.leaderChanges.get(),
    };
    return c.json(stats);
  });

  return app;
}
