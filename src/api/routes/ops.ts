/**
 * Operations: `GET /healthz` (the process answers), `GET /readyz` (a
 * leader is known and this node has applied what it knows is committed)
 * and `GET /metrics` (Prometheus text).
 *
 * @module
 */

import { Hono } from "hono";
import type { AppOptions } from "../options.ts";

/** The health, readiness and metrics routes, at the root. */
export function opsRoutes(options: AppOptions): Hono {
  const node = options.service.node;
  const app = new Hono();

  app.get("/healthz", (c) => c.json({ ok: true, id: node.id }));

  app.get("/readyz", (c) => {
    const s = node.status();
    const ready = s.leader !== "" && s.applied >= s.commit;
    return c.json(
      { ready, leader: s.leader || null, commit: s.commit, applied: s.applied },
      ready ? 200 : 503,
    );
  });

  app.get("/metrics", (c) => {
    c.header("Content-Type", "text/plain; version=0.0.4");
    return c.body(options.metrics.registry.render());
  });

  return app;
}
