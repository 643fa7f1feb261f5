/**
 * Locks: `POST /v1/locks/{name}/acquire` (waiting in the FIFO queue up to
 * `wait` ms), `POST /v1/locks/{name}/release`, `GET /v1/locks/{name}`
 * (holder, or whether `?token=` still holds it) and `GET /v1/locks`.
 *
 * @module
 */

import { Hono } from "hono";
import type { LockInfo } from "../../state/locks.ts";
import { guardOf, writeOptions } from "../auth.ts";
import { ApiError } from "../errors.ts";
import type { AppOptions } from "../options.ts";
import { checked, queryInt, readBody } from "../request.ts";
import {
  acquireBody,
  MAX_WAIT_MS,
  nameSchema,
  releaseBody,
} from "../schemas.ts";

function lockView(l: LockInfo) {
  return { name: l.name, holder: l.holder, waiters: l.waiters.length };
}

/** The lock routes, relative to `/v1`. */
export function lockRoutes(options: AppOptions): Hono {
  const svc = options.service;
  const app = new Hono();

  app.post("/locks/:name/acquire", async (c) => {
    const b = await readBody(c, acquireBody);
    const name = checked(nameSchema, c.req.param("name"), "lock name");
    if (b.ttl === undefined && b.lease === undefined) {
      throw new ApiError(
        "bad_request",
        "Give ttl (seconds, a lease is made for the lock) or lease (an existing lease id)",
      );
    }
    const guard = guardOf(c);
    guard.write(name);
    const g = await svc.acquire(name, {
      ttl: b.ttl,
      lease: b.lease,
      wait: Math.min(b.wait ?? 0, MAX_WAIT_MS),
      owner: b.owner,
      lockDelay: b.lockDelay,
      signal: c.req.raw.signal,
      auth: guard.commandAuth(),
    });
    options.metrics.lockGrants.inc();
    return c.json(g);
  });

  app.post("/locks/:name/release", async (c) => {
    const b = await readBody(c, releaseBody);
    const name = checked(nameSchema, c.req.param("name"), "lock name");
    guardOf(c).write(name);
    return c.json(await svc.release(name, b.token, writeOptions(c)));
  });

  app.get("/locks/:name", async (c) => {
    const name = checked(nameSchema, c.req.param("name"), "lock name");
    const token = queryInt(c.req.query("token"), "token");
    const guard = guardOf(c);
    const read = { authorize: () => guard.read(name) };
    if (token !== undefined) {
      return c.json({ valid: await svc.checkToken(name, token, read) });
    }
    return c.json(lockView(await svc.lock(name, read)));
  });

  app.get("/locks", async (c) => {
    const guard = guardOf(c);
    const locks = await svc.locks({ authorize: () => guard.user() });
    // Only the locks this user may read.
    return c.json({
      locks: locks.filter((l) => guard.canRead(l.name)).map(lockView),
    });
  });

  return app;
}
