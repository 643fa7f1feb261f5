/**
 * The TCP transport's counters in the Prometheus text format, for a
 * node's `GET /metrics`: messages and bytes, drops by cause, connections,
 * and inbound connections refused by reason (failed proofs of the peer
 * secret among them).
 *
 * @module
 */

import type { TcpTransportStats } from "./shared.ts";

function escapeLabel(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

function one(
  name: string,
  type: "counter" | "gauge",
  help: string,
  value: number,
): string {
  return `# HELP ${name} ${help}\n# TYPE ${name} ${type}\n${name} ${value}`;
}

function labelled(
  name: string,
  help: string,
  label: string,
  values: Record<string, number>,
): string {
  const lines = [`# HELP ${name} ${help}`, `# TYPE ${name} counter`];
  const keys = Object.keys(values).sort();
  if (keys.length === 0) lines.push(`${name} 0`);
  for (const k of keys) {
    lines.push(`${name}{${label}="${escapeLabel(k)}"} ${values[k]}`);
  }
  return lines.join("\n");
}

/**
 * Renders `stats` (from `TcpTransport.stats()`) as exposition lines, every
 * name prefixed `raftlock_peer_`; no trailing newline.
 *
 * @example
 * ```ts
 * import { TcpTransport, transportMetricsText } from "../tcp.ts";
 * const t = await TcpTransport.listen({ id: "n1", clusterId: "c", listen: "127.0.0.1:0" });
 * console.log(transportMetricsText(t.stats()));
 * await t.close();
 * ```
 */
export function transportMetricsText(stats: TcpTransportStats): string {
  const p = "raftlock_peer_";
  return [
    one(
      `${p}messages_sent_total`,
      "counter",
      "Raft messages written to peers",
      stats.sent,
    ),
    one(
      `${p}messages_received_total`,
      "counter",
      "Raft messages received from peers and delivered",
      stats.received,
    ),
    labelled(
      `${p}messages_dropped_total`,
      "Outgoing Raft messages dropped, by cause",
      "cause",
      { ...stats.drops },
    ),
    one(
      `${p}bytes_sent_total`,
      "counter",
      "Bytes of message frames written",
      stats.bytesSent,
    ),
    one(
      `${p}bytes_received_total`,
      "counter",
      "Bytes of frames read from accepted connections",
      stats.bytesReceived,
    ),
    one(
      `${p}connects_total`,
      "counter",
      "Outbound connections established",
      stats.connects,
    ),
    one(
      `${p}connect_failures_total`,
      "counter",
      "Outbound connection attempts that failed or connections that broke",
      stats.connectFailures,
    ),
    one(
      `${p}bad_listener_proofs_total`,
      "counter",
      "Outbound handshakes in which the peer failed to prove the cluster secret",
      stats.badListenerProofs,
    ),
    labelled(
      `${p}connections_rejected_total`,
      "Inbound peer connections closed by this node, by reason (bad_proof: a failed proof of the cluster secret)",
      "reason",
      stats.rejected,
    ),
    one(
      `${p}snapshots_sent_total`,
      "counter",
      "Snapshots streamed to peers",
      stats.snapshotsSent,
    ),
    one(
      `${p}snapshots_failed_total`,
      "counter",
      "Snapshot sends that failed",
      stats.snapshotsFailed,
    ),
    one(
      `${p}snapshots_received_total`,
      "counter",
      "Snapshots received from peers",
      stats.snapshotsReceived,
    ),
    one(
      `${p}queued_messages`,
      "gauge",
      "Messages waiting in send queues",
      stats.queued,
    ),
    one(
      `${p}inbound_connections`,
      "gauge",
      "Inbound peer connections open",
      stats.inbound,
    ),
    one(
      `${p}handshakes_pending`,
      "gauge",
      "Inbound peer connections still in their handshake (unproven)",
      stats.handshaking,
    ),
  ].join("\n");
}
