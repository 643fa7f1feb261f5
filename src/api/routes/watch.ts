/**
 * `GET /v1/watch`: key events as server-sent events, from a revision or
 * `Last-Event-ID` on, with progress events while idle and a `compacted`
 * event (then the end) when the history no longer reaches back.
 *
 * With auth on, the token must allow reading the whole watched range; each
 * event is checked again against the roles as they are when it is sent,
 * and the stream ends with an `error` event (`unauthenticated`) once the
 * token expires or its user is gone: reconnect with a new token and
 * `Last-Event-ID`.
 *
 * @module
 */

import { Hono } from "hono";
import { streamSSE } from "hono/streaming";
import { guardOf } from "../auth.ts";
import { ApiError } from "../errors.ts";
import type { AppOptions } from "../options.ts";
import { checked, queryInt } from "../request.ts";
import { keySchema } from "../schemas.ts";

/** The watch route, relative to `/v1`. */
export function watchRoutes(options: AppOptions): Hono {
  const svc = options.service;
  const metrics = options.metrics;
  const authn = options.authenticator!;
  const app = new Hono();

  app.get("/watch", (c) => {
    const key = c.req.query("key");
    const prefix = c.req.query("prefix");
    if (key !== undefined && prefix !== undefined) {
      throw new ApiError("bad_request", "Give key or prefix, not both");
    }
    if (key !== undefined) checked(keySchema, key, "key");
    const guard = guardOf(c);
    guard.read(key ?? prefix ?? "");
    const lastId = c.req.header("last-event-id");
    let after: number;
    if (lastId !== undefined && lastId !== "") {
      after = queryInt(lastId, "Last-Event-ID")!;
    } else {
      const from = queryInt(c.req.query("fromRevision"), "fromRevision");
      // fromRevision r: events at r and later. Default: from now on.
      after = from === undefined || from === 0 ? svc.state.revision : from - 1;
    }
    const progressMs = (options.watchProgressSeconds ?? 5) * 1000;
    return streamSSE(c, async (stream) => {
      metrics.watchers.inc();
      let closed = false;
      let queue: Promise<void> = Promise.resolve();
      const send = (m: { event: string; data: string; id?: string }) => {
        queue = queue.then(() => (closed ? undefined : stream.writeSSE(m)))
          .catch(() => {
            closed = true;
          });
      };
      let lastSent = Date.now();
      // The loop naps between progress checks; stopping ends the nap at
      // once, so neither shutdown nor a closed stream waits on a timer.
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
      // Why this stream may no longer be served (auth turned on without a
      // token, token expired, user gone), or undefined.
      const refusal = (): string | undefined => {
        if (!authn.enabled) return undefined;
        if (!guard.principal) {
          return "Auth was turned on; reconnect with a token";
        }
        return authn.invalidReason(guard.principal);
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
      const handle = svc.watch(
        key !== undefined ? { key } : { prefix: prefix ?? "" },
        after,
        {
          onEvents(events) {
            if (endIfRefused()) return;
            lastSent = Date.now();
            for (const e of events) {
              // Roles as they are now: a revoked read stops at once.
              if (!guard.canRead(e.key)) continue;
              send({
                id: String(e.revision),
                event: e.type,
                data: JSON.stringify(e),
              });
            }
          },
          onCompacted(compactRevision) {
            send({
              event: "compacted",
              data: JSON.stringify({ compactRevision }),
            });
            // Close only after the queued event is written.
            queue = queue.then(() => {
              stop();
              return stream.close();
            });
          },
        },
      );
      stream.onAbort(() => {
        stop();
        handle.close();
      });
      // Wake early when the server stops, so shutdown never waits on a watch.
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
        metrics.watchers.dec();
      }
    });
  });

  return app;
}
