/**
 * The HTTP API (Hono): config keys, transactions, watches (SSE), leases,
 * locks, leader elections, semaphores, read-write locks, cluster membership, status, health and metrics. Every node serves
 * every route: writes and linearizable reads go through Raft (proposals are
 * forwarded to the leader, reads confirmed by ReadIndex); membership
 * changes are forwarded to the leader over HTTP.
 *
 * Each feature is its own Hono app under `routes/`, mounted here; what
 * every request shares (latency metrics, `X-Raft-*` headers, 404/405, body
 * limit, error answers) is set up here once.
 *
 * @module
 */

import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { HTTPException } from "hono/http-exception";
import { secureHeaders } from "hono/secure-headers";
import { Authenticator } from "../auth/mod.ts";
import { authenticate } from "./auth.ts";
import { bindAuthMetrics } from "./api_metrics.ts";
import { ApiError, errorResponse } from "./errors.ts";
import {
  jsonMethodNotAllowed,
  jsonNotFound,
  raftHeaders,
  recordLatency,
} from "./middleware.ts";
import type { AppOptions } from "./options.ts";
import { authRoutes } from "./routes/auth.ts";
import { clusterRoutes } from "./routes/cluster.ts";
import { clusterStatusRoutes } from "./routes/cluster_status.ts";
import { docsRoutes } from "./routes/docs.ts";
import { electionRoutes } from "./routes/elections.ts";
import { kvRoutes } from "./routes/kv.ts";
import { leaseRoutes } from "./routes/leases.ts";
import { lockRoutes } from "./routes/locks.ts";
import { opsRoutes } from "./routes/ops.ts";
import { rwlockRoutes } from "./routes/rwlocks.ts";
import { semaphoreRoutes } from "./routes/semaphores.ts";
import { statsRoutes } from "./routes/stats.ts";
import { uiRoutes } from "./routes/ui.ts";
import { watchRoutes } from "./routes/watch.ts";

export type { AppOptions } from "./options.ts";

/** Largest request body by default: 2 MiB. */
export const DEFAULT_MAX_BODY_BYTES = 2 * 1024 * 1024;

/**
 * The security headers of a JSON answer, after the OWASP REST Security
 * Cheat Sheet: no sniffing, no framing (CSP `frame-ancestors` and
 * `X-Frame-Options`), not readable cross-origin, and HSTS over HTTPS;
 * `Cache-Control: no-store` comes with the `X-Raft-*` headers. The
 * headers meant for HTML pages (referrer, DNS prefetch, XSS filter,
 * opener and agent-cluster policies) are set by the console's own routes:
 * each header costs the server about half a microsecond per answer, a
 * fifth of a linearizable get (docs/performance.md). A route's own header
 * (the console's CSP) is kept.
 */
function apiSecureHeaders(
  https: boolean,
): Parameters<typeof secureHeaders>[0] {
  return {
    contentSecurityPolicy: { frameAncestors: ["'none'"] },
    xFrameOptions: "DENY",
    strictTransportSecurity: https,
    crossOriginOpenerPolicy: false,
    originAgentCluster: false,
    referrerPolicy: false,
    xDnsPrefetchControl: false,
    xDownloadOptions: false,
    xPermittedCrossDomainPolicies: false,
    xXssProtection: false,
    removePoweredBy: false,
    overwrite: false,
  };
}

/**
 * Builds the Hono app for one node.
 *
 * @example
 * ```ts ignore
 * import { createApp } from "./app.ts";
 * import { bindNodeMetrics, createMetrics } from "./api_metrics.ts";
 *
 * const metrics = createMetrics();
 * bindNodeMetrics(metrics, node, service);
 * const app = createApp({ service, metrics });
 * const r = await app.request("/v1/kv/app/mode");
 * ```
 */
export function createApp(appOptions: AppOptions): Hono {
  const options: AppOptions = {
    ...appOptions,
    authenticator: appOptions.authenticator ??
      new Authenticator(appOptions.service.state, appOptions.authOptions),
  };
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  bindAuthMetrics(options.metrics, options.authenticator!);
  const app = new Hono();

  // Outermost first: latency sees the final status, the headers land on
  // every answer (errors, 404 and 405 included).
  app.use(recordLatency(options.metrics));
  app.use(raftHeaders(options.service));
  app.use(secureHeaders(apiSecureHeaders(options.https ?? false)));
  app.use(jsonMethodNotAllowed(app));
  app.use(bodyLimit({
    maxSize: maxBodyBytes,
    onError: () =>
      errorResponse(
        new ApiError(
          "too_large",
          `Request body is larger than ${maxBodyBytes} bytes`,
        ),
      ),
  }));
  // The console's assets and the API's reference hold no data: they are
  // served before authentication (the console then sends its token).
  app.route("/", uiRoutes());
  app.route("/", docsRoutes());
  app.use(authenticate(options.authenticator!));
  app.onError((e, _c) => {
    // bearer-auth's refusals carry our JSON answer.
    if (e instanceof HTTPException && e.res) return e.getResponse();
    const r = errorResponse(e);
    if (r.status === 500) console.error(e);
    return r;
  });
  app.notFound(jsonNotFound);

  app.route("/v1", kvRoutes(options));
  app.route("/v1", watchRoutes(options));
  app.route("/v1", leaseRoutes(options));
  app.route("/v1", lockRoutes(options));
  app.route("/v1", electionRoutes(options));
  app.route("/v1", semaphoreRoutes(options));
  app.route("/v1", rwlockRoutes(options));
  app.route("/v1", clusterStatusRoutes(options));
  app.route("/v1", clusterRoutes(options));
  app.route("/v1", statsRoutes(options));
  app.route("/v1", authRoutes(options));
  app.route("/", opsRoutes(options));
  return app;
}
