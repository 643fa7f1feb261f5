/**
 * Leases: `GET|POST /v1/leases`, `GET|DELETE /v1/leases/{id}`,
 * `POST /v1/leases/{id}/keepalive`. The time left on a lease is the
 * leader's to tell, so a follower forwards `GET /v1/leases/{id}`.
 *
 * @module
 */

import { Hono } from "hono";
import { guardOf, writeOptions } from "../auth.ts";
import { ApiError } from "../errors.ts";
import { forwardToLeader } from "../forward.ts";
import type { AppOptions } from "../options.ts";
import { idParam, readBody } from "../request.ts";
import { leaseBody } from "../schemas.ts";

/** The lease routes, relative to `/v1`. */
export function leaseRoutes(options: AppOptions): Hono {
  const svc = options.service;
  const app = new Hono();

  app.post("/leases", async (c) => {
    const b = await readBody(c, leaseBody);
    guardOf(c).user();
    return c.json(await svc.grantLease(b.ttl, writeOptions(c)), 201);
  });

  app.post("/leases/:id/keepalive", async (c) => {
    const id = idParam(c, "id");
    guardOf(c).user();
    return c.json(await svc.keepAlive(id, writeOptions(c)));
  });

  app.get("/leases/:id", async (c) => {
    const id = idParam(c, "id");
    const guard = guardOf(c);
    guard.user();
    // Only the leader's clock knows the time left.
    if (!svc.node.isLeader && c.req.query("local") === undefined) {
      const fwd = await forwardToLeader(c, svc, false).catch(() => undefined);
      if (fwd) return fwd;
    }
    const l = await svc.lease(id, { authorize: () => guard.user() });
    if (!l) {
      throw new ApiError(
        "not_found",
        `Lease ${id} does not exist (it may have expired)`,
      );
    }
    return c.json({
      id: l.id,
      ttl: l.ttl,
      remaining: l.remaining,
      // Only the names this user may read.
      keys: l.keys.filter((k) => guard.canRead(k)),
      locks: l.locks.filter((k) => guard.canRead(k)),
    });
  });

  app.delete("/leases/:id", async (c) => {
    const id = idParam(c, "id");
    // Write access to everything the lease holds (the state machine checks
    // again as it applies).
    guardOf(c).command({ type: "leaseRevoke", id }, (lease) => {
      const l = svc.state.lease(lease);
      if (!l) return undefined;
      return {
        keys: l.keys,
        locks: [...l.locks, ...l.waiting.map((w) => w.name)],
      };
    });
    return c.json(await svc.revoke(id, writeOptions(c)));
  });

  app.get("/leases", async (c) => {
    const guard = guardOf(c);
    return c.json({
      leases: await svc.leases({ authorize: () => guard.user() }),
    });
  });

  return app;
}
