/**
 * Semaphores: `POST /v1/semaphores/{name}/acquire` (waiting in the FIFO
 * queue up to `wait` ms), `POST /v1/semaphores/{name}/release`,
 * `GET /v1/semaphores/{name}` (limit, holders and waiters, or whether
 * `?token=` still holds permits) and `GET /v1/semaphores`.
 *
 * @module
 */

import { Hono } from "hono";
import { recipesOf } from "../../service/recipes.ts";
import { guardOf, writeOptions } from "../auth.ts";
import type { AppOptions } from "../options.ts";
import { readBody } from "../request.ts";
import { releaseBody, semaphoreAcquireBody } from "../schemas.ts";
import { holdingOf, nameOf, tokenQuery } from "./holding.ts";

/** The semaphore routes, relative to `/v1`. */
export function semaphoreRoutes(options: AppOptions): Hono {
  const recipes = recipesOf(options.service);
  const app = new Hono();

  app.post("/semaphores/:name/acquire", async (c) => {
    const b = await readBody(c, semaphoreAcquireBody);
    const name = nameOf(c, "semaphore");
    guardOf(c).write(name);
    return c.json(
      await recipes.acquireSemaphore(name, {
        ...holdingOf(c, b, "permits"),
        limit: b.limit,
        permits: b.permits,
        owner: b.owner,
      }),
    );
  });

  app.post("/semaphores/:name/release", async (c) => {
    const b = await readBody(c, releaseBody);
    const name = nameOf(c, "semaphore");
    guardOf(c).write(name);
    return c.json(
      await recipes.releaseSemaphore(name, b.token, writeOptions(c)),
    );
  });

  app.get("/semaphores/:name", async (c) => {
    const name = nameOf(c, "semaphore");
    const token = tokenQuery(c);
    const guard = guardOf(c);
    const read = { authorize: () => guard.read(name) };
    if (token !== undefined) {
      return c.json({
        valid: await recipes.checkFence({ semaphore: name, token }, read),
      });
    }
    return c.json(await recipes.semaphore(name, read));
  });

  app.get("/semaphores", async (c) => {
    const guard = guardOf(c);
    const all = await recipes.semaphores({ authorize: () => guard.user() });
    return c.json({ semaphores: all.filter((s) => guard.canRead(s.name)) });
  });

  return app;
}
