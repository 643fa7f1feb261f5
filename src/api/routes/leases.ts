/**
 * Leases: `GET|POST /v1/leases`, `GET|DELETE /v1/leases/{id}`,
 * `POST /v1/leases/{id}/keepalive`. The time left on a lease is the
 * leader's to tell, so a follower forwards `GET /v1/leases/{id}`.
 *
 * @module
 */

import { Hono } from "hono";
import { ApiError } from "../errors.ts";
import { forwardToLeader } from "../forward.ts";
import type { AppOptions } from "../options.ts";
import { idParam, readBody, requestIdOf } from "../request.ts";
import { leaseBody } from "../schemas.ts";

/** The lease routes, relative to `/v1`. */
export function leaseRoutes(options: AppOptions): Hono {
  const svc = options.service;
  const app = new Hono();

  app.post("/leases", async (c) => {
    const b = await readBody(c, leaseBody);
    return c.json(
      await svc.grantLease(b.ttl, { requestId: requestIdOf(c) }),
      201,
    );
  });

  app.post("/leases/:id/keepalive", async (c) => {
    return c.json(
      await svc.keepAlive(idParam(c, "id"), { requestId: requestIdOf(c) }),
    );
  });

  app.get("/leases/:id", async (c) => {
    const id = idParam(c, "id");
    // Only the leader's clock knows the time left.
    if (!svc.node.isLeader && c.req.query("local") === undefined) {
      const fwd = await forwardToLeader(c, svc, false).catch(() => undefined);
      if (fwd) return fwd;
    }
    const l = await svc.lease(id);
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
      keys: l.keys,
      locks: l.locks,
    });
  });

  app.delete("/leases/:id", async (c) => {
    return c.json(
      await svc.revoke(idParam(c, "id"), { requestId: requestIdOf(c) }),
    );
  });

  app.get("/leases", async (c) => c.json({ leases: await svc.leases() }));

  return app;
}
