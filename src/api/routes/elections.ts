/**
 * Leader elections: `POST /v1/elections/{name}/campaign` (answers once the
 * caller leads, waiting in the FIFO line of candidates up to `wait` ms),
 * `POST .../proclaim`, `POST .../resign`, `GET /v1/elections/{name}` (the
 * leader, or 404; or whether `?token=` still leads), `GET /v1/elections`,
 * and `GET /v1/elections/{name}/observe`: the leader's changes as
 * server-sent events, resumable with `Last-Event-ID`.
 *
 * An observe stream starts with the election's state now (unless it has
 * not changed since `Last-Event-ID`), then sends every change; ids are
 * revisions and strictly increase along a stream and across resumes, so
 * an observer never sees an older leader after a newer one. Idle streams
 * get a `progress` event. With auth on, the stream ends with an `error`
 * event when the token expires, as a watch does.
 *
 * @module
 */

import { Hono } from "hono";
import { streamSSE } from "hono/streaming";
import type { ElectionEvent } from "../../wire/types.ts";
import { recipesOf } from "../../service/recipes.ts";
import { guardOf, writeOptions } from "../auth.ts";
import { ApiError } from "../errors.ts";
import type { AppOptions } from "../options.ts";
import { queryInt, readBody } from "../request.ts";
import { campaignBody, proclaimBody, releaseBody } from "../schemas.ts";
import { holdingOf, nameOf, tokenQuery } from "./holding.ts";

/** The election routes, relative to `/v1`. */
export function electionRoutes(options: AppOptions): Hono {
  const svc = options.service;
  const recipes = recipesOf(svc);
  const authn = options.authenticator!;
  const app = new Hono();

  app.post("/elections/:name/campaign", async (c) => {
    const b = await readBody(c, campaignBody);
    const name = nameOf(c, "election");
    guardOf(c).write(name);
    return c.json(
      await recipes.campaign(name, {
        ...holdingOf(c, b, "leadership"),
        value: b.value,
      }),
    );
  });

  app.post("/elections/:name/proclaim", async (c) => {
    const b = await readBody(c, proclaimBody);
    const name = nameOf(c, "election");
    guardOf(c).write(name);
    return c.json(
      await recipes.proclaim(name, b.token, b.value, writeOptions(c)),
    );
  });

  app.post("/elections/:name/resign", async (c) => {
    const b = await readBody(c, releaseBody);
    const name = nameOf(c, "election");
    guardOf(c).write(name);
    return c.json(await recipes.resign(name, b.token, writeOptions(c)));
  });

  app.get("/elections/:name/observe", async (c) => {
    const name = nameOf(c, "election");
    const guard = guardOf(c);
    const lastId = c.req.header("last-event-id");
    const after = lastId === undefined || lastId === ""
      ? undefined
      : queryInt(lastId, "Last-Event-ID");
    // Caught up to the request before the first state is read, so even a
    // lagging follower never starts with a stale leader.
    await svc.barrier();
    guard.read(name);
    const progressMs = (options.watchProgressSeconds ?? 5) * 1000;
    return streamSSE(c, async (stream) => {
      let closed = false;
      let queue: Promise<void> = Promise.resolve();
      const send = (m: { event: string; data: string; id?: string }) => {
        queue = queue.then(() => (closed ? undefined : stream.writeSSE(m)))
          .catch(() => {
            closed = true;
          });
      };
      let timer: ReturnType<typeof setTimeout> | undefined;
      let wake = () => {};
      const nap = (ms: number) =>
        new Promise<void>((resolve) => {
          wake = resolve;
          timer = setTimeout(resolve, ms);
        });
      const stop = () => {
        closed = true;
        clearTimeout(timer);
        wake();
      };
      // With auth on: why this stream may no longer be served, if so.
      const refusal = (): string | undefined => {
        if (!authn.enabled) return undefined;
        if (!guard.principal) {
          return "Auth was turned on; reconnect with a token";
        }
        return authn.invalidReason(guard.principal) ??
          (guard.canRead(name) ? undefined : `May no longer read ${name}`);
      };
      let ended = false;
      const endIfRefused = (): boolean => {
        if (ended) return true;
        const why = refusal();
        if (why === undefined) return false;
        ended = true;
        send({
          event: "error",
          data: JSON.stringify({
            error: { code: "unauthenticated", message: why },
          }),
        });
        queue = queue.then(() => {
          stop();
          return stream.close();
        });
        return true;
      };
      let lastSent = Date.now();
      const handle = recipes.observe(name, after, (e: ElectionEvent) => {
        if (endIfRefused()) return;
        lastSent = Date.now();
        send({
          id: String(e.revision),
          event: "leader",
          data: JSON.stringify(e),
        });
      });
      stream.onAbort(() => {
        stop();
        handle.close();
      });
      const stopping = options.shutdown;
      stopping?.addEventListener("abort", stop, { once: true });
      if (stopping?.aborted) stop();
      try {
        while (!closed) {
          await nap(Math.min(1000, progressMs));
          if (!closed && endIfRefused()) continue;
          if (!closed && Date.now() - lastSent >= progressMs) {
            lastSent = Date.now();
            send({
              event: "progress",
              data: JSON.stringify({ revision: svc.state.revision }),
            });
          }
        }
        await queue;
      } finally {
        stopping?.removeEventListener("abort", stop);
        handle.close();
      }
    });
  });

  app.get("/elections/:name", async (c) => {
    const name = nameOf(c, "election");
    const token = tokenQuery(c);
    const guard = guardOf(c);
    const read = { authorize: () => guard.read(name) };
    if (token !== undefined) {
      return c.json({
        valid: await recipes.checkFence({ election: name, token }, read),
      });
    }
    const leader = await recipes.leader(name, read);
    if (!leader) {
      throw new ApiError("not_found", `Election ${name} has no leader`);
    }
    return c.json(leader);
  });

  app.get("/elections", async (c) => {
    const guard = guardOf(c);
    const all = await recipes.elections({ authorize: () => guard.user() });
    return c.json({ elections: all.filter((e) => guard.canRead(e.name)) });
  });

  return app;
}
