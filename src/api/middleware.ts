/**
 * Middleware every request goes through: latency by matched route, the
 * `X-Raft-*` headers, and 404/405 answers in the API's error shape.
 *
 * @module
 */

import type { Context, Hono, MiddlewareHandler, NotFoundHandler } from "hono";
import { methodNotAllowed } from "hono/method-not-allowed";
import { matchedRoutes } from "hono/route";
import type { LockService } from "../service/service.ts";
import type { ApiMetrics } from "./api_metrics.ts";
import { ApiError, errorResponse } from "./errors.ts";

/**
 * The route pattern a request matched (`/v1/kv/:key{.+}`), from Hono's own
 * routing, or `unknown` when no route but middleware matched. Bounded, so
 * fit for a metrics label.
 */
export function routeLabel(c: Context): string {
  // Middleware is registered for every method ("ALL"); routes are not.
  return matchedRoutes(c).findLast((r) => r.method !== "ALL")?.path ??
    "unknown";
}

/** Records each request's latency by route, method and status. */
export function recordLatency(metrics: ApiMetrics): MiddlewareHandler {
  return async function recordLatency(c, next) {
    const t0 = performance.now();
    try {
      await next();
    } finally {
      metrics.http.observe((performance.now() - t0) / 1000, {
        route: routeLabel(c),
        method: c.req.method,
        status: String(c.res.status),
      });
    }
  };
}

/**
 * Sets `X-Raft-Revision` and `X-Raft-Term` on every answer, errors
 * included (Hono turns a thrown error into a response before this
 * middleware's `next()` returns), and `Cache-Control: no-store` unless the
 * route chose its own caching: an answer holds data no cache should keep.
 */
export function raftHeaders(svc: LockService): MiddlewareHandler {
  return async function raftHeaders(c, next) {
    try {
      await next();
    } finally {
      try {
        const h = c.res.headers;
        h.set("X-Raft-Revision", String(svc.state.revision));
        h.set("X-Raft-Term", String(svc.node.term));
        if (!h.has("Cache-Control")) h.set("Cache-Control", "no-store");
      } catch {
        // A response from fetch has immutable headers; a streaming one may
        // have sent them already.
      }
    }
  };
}

/**
 * Answers a known path asked with a method it does not serve with 405, an
 * `Allow` header listing the methods it does serve (from Hono's routes),
 * and the API's error body.
 */
export function jsonMethodNotAllowed(app: Hono): MiddlewareHandler {
  return methodNotAllowed({
    app,
    onMethodNotAllowed: (c, methods) => {
      const r = errorResponse(
        new ApiError(
          "method_not_allowed",
          `${c.req.method} is not allowed on ${c.req.path}; use ${
            methods.join(" or ")
          }`,
        ),
      );
      r.headers.set("Allow", methods.join(", "));
      return r;
    },
  });
}

/** Answers a path no route serves with 404 in the API's error shape. */
export const jsonNotFound: NotFoundHandler = (c) =>
  errorResponse(
    new ApiError("not_found", `No route for ${c.req.method} ${c.req.path}`),
  );
