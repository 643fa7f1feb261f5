/**
 * The HTTP listener's counters in the Prometheus text format, for a node's
 * `GET /metrics`: open connections against the cap, connections accepted,
 * refused or idle ones evicted at the cap, closed by a timeout, and failed
 * accepts.
 *
 * @module
 */

import type { HttpListenerStats } from "./http_listener.ts";

function one(
  name: string,
  type: "counter" | "gauge",
  help: string,
  value: number,
): string {
  return `# HELP ${name} ${help}\n# TYPE ${name} ${type}\n${name} ${value}`;
}

/**
 * Renders `stats` (from `HttpListener.stats()`) as exposition lines, every
 * name prefixed `raftlock_http_`; no trailing newline.
 *
 * @example
 * ```ts
 * import { HttpListener } from "./http_listener.ts";
 * import { httpListenerMetricsText } from "./http_metrics.ts";
 *
 * const l = HttpListener.listen({
 *   hostname: "127.0.0.1",
 *   port: 0,
 *   handler: () => new Response("ok"),
 * });
 * console.log(httpListenerMetricsText(l.stats()));
 * await l.shutdown();
 * ```
 */
export function httpListenerMetricsText(stats: HttpListenerStats): string {
  const p = "raftlock_http_";
  return [
    one(
      `${p}connections`,
      "gauge",
      "HTTP connections open",
      stats.open,
    ),
    one(
      `${p}max_connections`,
      "gauge",
      "The cap on open HTTP connections (--max-connections); 0 when not enforced",
      stats.enforced ? stats.maxConnections : 0,
    ),
    one(
      `${p}connections_accepted_total`,
      "counter",
      "HTTP connections accepted and served",
      stats.accepted,
    ),
    one(
      `${p}connections_refused_total`,
      "counter",
      "HTTP connections closed at once because --max-connections were open, each with a request in flight",
      stats.refused,
    ),
    one(
      `${p}connections_evicted_total`,
      "counter",
      "Idle HTTP connections closed at --max-connections to let a new one in",
      stats.evicted,
    ),
    [
      `# HELP ${p}connections_timed_out_total HTTP connections closed by a timeout: header (no request in time) or idle (keep-alive with nothing in flight)`,
      `# TYPE ${p}connections_timed_out_total counter`,
      `${p}connections_timed_out_total{reason="header"} ${stats.timedOut.header}`,
      `${p}connections_timed_out_total{reason="idle"} ${stats.timedOut.idle}`,
    ].join("\n"),
    one(
      `${p}tls_handshakes_abandoned_total`,
      "counter",
      "HTTPS connections closed in their TLS handshake; each keeps its socket until the client sends or closes (Deno cannot cancel the handshake)",
      stats.tlsAbandoned,
    ),
    one(
      `${p}accept_errors_total`,
      "counter",
      "Failed accepts of HTTP connections (out of file descriptors, say); the node keeps serving",
      stats.acceptErrors,
    ),
  ].join("\n");
}
