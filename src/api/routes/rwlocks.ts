/**
 * Read-write locks: `POST /v1/rwlocks/{name}/acquire` (`mode` read or
 * write, waiting in the FIFO queue up to `wait` ms),
 * `POST /v1/rwlocks/{name}/release`, `GET /v1/rwlocks/{name}` (holders and
 * waiters, or whether `?token=` still holds it) and `GET /v1/rwlocks`.
 *
 * @module
 */

import { Hono } from "hono";
import { recipesOf } from "../../service/recipes.ts";
import { guardOf, writeOptions } from "../auth.ts";
import type { AppOptions } from "../options.ts";
import { readBody } from "../request.ts";
import { releaseBody, rwlockAcquireBody } from "../schemas.ts";
import { holdingOf, nameOf, tokenQuery } from "./holding.ts";

/** The read-write lock routes, relative to `/v1`. */
export function rwlockRoutes(options: AppOptions): Hono {
  const recipes = recipesOf(options.service);
  const app = new Hono();

  app.post("/rwlocks/:name/acquire", async (c) => {
    const b = await readBody(c, rwlockAcquireBody);
    const name = nameOf(c, "read-write lock");
    guardOf(c).write(name);
    return c.json(
      await recipes.acquireRwlock(name, {
        ...holdingOf(c, b, "lock"),
        mode: b.mode,
        owner: b.owner,
      }),
    );
  });

  app.post("/rwlocks/:name/release", async (c) => {
    const b = await readBody(c, releaseBody);
    const name = nameOf(c, "read-write lock");
    guardOf(c).write(name);
    return c.json(await recipes.releaseRwlock(name, b.token, writeOptions(c)));
  });

  app.get("/rwlocks/:name", async (c) => {
    const name = nameOf(c, "read-write lock");
    const token = tokenQuery(c);
    const guard = guardOf(c);
    const read = { authorize: () => guard.read(name) };
    if (token !== undefined) {
      return c.json({
        valid: await recipes.checkFence({ rwlock: name, token }, read),
      });
    }
    return c.json(await recipes.rwlock(name, read));
  });

  app.get("/rwlocks", async (c) => {
    const guard = guardOf(c);
    const all = await recipes.rwlocks({ authorize: () => guard.user() });
    return c.json({ rwlocks: all.filter((l) => guard.canRead(l.name)) });
  });

  return app;
}
