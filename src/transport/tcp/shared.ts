/**
 * Options, statistics, logging and the state shared by the pieces of the
 * TCP transport (outbound links, inbound connections, snapshot streams).
 *
 * @module
 */

import type { Message, NodeId } from "../../raft/types.ts";
import type { PeerKeys } from "./auth.ts";
import type { TlsMaterial } from "./net.ts";

/** Severity of a log record. */
export type LogLevel = "debug" | "info" | "warn" | "error";

/**
 * A structured logger: one call per event, with a sentence-case message and
 * machine-readable fields (always `node`; often `peer`, `remote`, `reason`).
 */
export type TransportLogger = (
  level: LogLevel,
  message: string,
  fields: Record<string, unknown>,
) => void;

/**
 * The default logger: warnings and errors as JSON lines on stderr; debug
 * and info are dropped.
 */
export const defaultLogger: TransportLogger = (level, message, fields) => {
  if (level !== "warn" && level !== "error") return;
  console.error(
    JSON.stringify({
      time: new Date().toISOString(),
      level,
      component: "transport",
      msg: message,
      ...fields,
    }),
  );
};

/** TLS file paths (PEM). */
export interface TcpTlsOptions {
  /** This node's certificate (chain), signed by the cluster CA. */
  certFile: string;
  /** This node's private key. */
  keyFile: string;
  /** The cluster CA certificate; peers' certificates are verified against it. */
  caFile: string;
}

/** Options of {@linkcode TcpTransport.listen}. */
export interface TcpTransportOptions {
  /** This node's id. */
  id: NodeId;
  /** The cluster id; connections from another cluster are refused. */
  clusterId: string;
  /** Address to listen on for peer traffic, `"host:port"` (port 0 picks one). */
  listen: string;
  /** The other members: id → `"host:port"`. Change later with `addPeer` / `removePeer`. */
  peers?: Record<NodeId, string>;
  /** Structured logger; defaults to {@linkcode defaultLogger}. */
  logger?: TransportLogger;
  /** Largest accepted frame (length prefix value), default 16 MiB. */
  maxFrameBytes?: number;
  /** Per-peer send queue limit in messages, default 4096. */
  maxQueueMessages?: number;
  /** Per-peer send queue limit in encoded bytes, default 64 MiB. */
  maxQueueBytes?: number;
  /** Most bytes written in one batch (one write call), default 1 MiB. */
  maxBatchBytes?: number;
  /** Time a new connection has to complete the handshake, default 5000 ms. */
  handshakeTimeoutMs?: number;
  /** Time a TCP connect may take, default 5000 ms. */
  connectTimeoutMs?: number;
  /** Time one batch write may take before the connection is dropped, default 10000 ms. */
  writeTimeoutMs?: number;
  /** First reconnect delay, default 50 ms (doubles per failure, with jitter). */
  backoffBaseMs?: number;
  /** Reconnect delay cap, default 2000 ms. */
  backoffMaxMs?: number;
  /** Snapshot chunk size, default 256 KiB. */
  snapshotChunkBytes?: number;
  /** Unacknowledged snapshot chunks allowed in flight, default 8. */
  snapshotWindowChunks?: number;
  /** Largest snapshot accepted from a peer, default 1 GiB. */
  maxSnapshotBytes?: number;
  /** A snapshot stream with no progress for this long fails, default 30000 ms. */
  snapshotTimeoutMs?: number;
  /**
   * Inbound connections still in their handshake, default 64. When all
   * are taken, a new connection evicts the oldest unproven handshake (of
   * the host with the most) instead of being refused, so strangers cannot
   * lock a member out; a proven connection is never evicted.
   */
  maxPendingHandshakes?: number;
  /**
   * Of those, the most from one remote host, default 16; a new one from a
   * host at its cap evicts that host's oldest.
   */
  maxPendingHandshakesPerHost?: number;
  /** Optional TLS for all peer connections. */
  tls?: TcpTlsOptions;
  /**
   * The cluster secret, or two during a rotation: every connection then
   * proves in both directions that each end knows one (strings are UTF-8;
   * at least 16 bytes each). The first proves this node; any of them
   * verifies a peer. Without secrets (the default) peers are admitted on
   * their cluster id and node id alone, and a peer that has a secret is
   * refused.
   */
  secrets?: readonly (string | Uint8Array)[];
  /** Called (asynchronously) when a snapshot send to `to` finished or failed. */
  onSnapshotStatus?: (to: NodeId, ok: boolean) => void;
  /** Called (asynchronously) when a connection to `to` failed or broke. */
  onUnreachable?: (to: NodeId) => void;
  /**
   * Called (asynchronously) when `to` refused our handshake, with its reason
   * code; with a secret, only for refusals made after `to` proved it.
   */
  onRefused?: (to: NodeId, reason: string) => void;
  /** Source of jitter in `[0, 1)`; defaults to `Math.random`. */
  random?: () => number;
}

/** Options with every default filled in. */
export type ResolvedOptions =
  & Required<
    Omit<
      TcpTransportOptions,
      | "peers"
      | "tls"
      | "secrets"
      | "onSnapshotStatus"
      | "onUnreachable"
      | "onRefused"
      | "logger"
    >
  >
  & Pick<
    TcpTransportOptions,
    "onSnapshotStatus" | "onUnreachable" | "onRefused"
  >
  & { logger: TransportLogger };

/** Fills in defaults and checks ranges. */
export function resolveOptions(o: TcpTransportOptions): ResolvedOptions {
  const r: ResolvedOptions = {
    id: o.id,
    clusterId: o.clusterId,
    listen: o.listen,
    logger: o.logger ?? defaultLogger,
    maxFrameBytes: o.maxFrameBytes ?? 16 * 1024 * 1024,
    maxQueueMessages: o.maxQueueMessages ?? 4096,
    maxQueueBytes: o.maxQueueBytes ?? 64 * 1024 * 1024,
    maxBatchBytes: o.maxBatchBytes ?? 1024 * 1024,
    handshakeTimeoutMs: o.handshakeTimeoutMs ?? 5000,
    connectTimeoutMs: o.connectTimeoutMs ?? 5000,
    writeTimeoutMs: o.writeTimeoutMs ?? 10_000,
    backoffBaseMs: o.backoffBaseMs ?? 50,
    backoffMaxMs: o.backoffMaxMs ?? 2000,
    snapshotChunkBytes: o.snapshotChunkBytes ?? 256 * 1024,
    snapshotWindowChunks: o.snapshotWindowChunks ?? 8,
    maxSnapshotBytes: o.maxSnapshotBytes ?? 1024 * 1024 * 1024,
    snapshotTimeoutMs: o.snapshotTimeoutMs ?? 30_000,
    maxPendingHandshakes: o.maxPendingHandshakes ?? 64,
    maxPendingHandshakesPerHost: o.maxPendingHandshakesPerHost ?? 16,
    random: o.random ?? Math.random,
    onSnapshotStatus: o.onSnapshotStatus,
    onUnreachable: o.onUnreachable,
    onRefused: o.onRefused,
  };
  if (typeof r.id !== "string" || r.id === "") {
    throw new TypeError("id must be a non-empty string");
  }
  if (typeof r.clusterId !== "string") {
    throw new TypeError("clusterId must be a string");
  }
  const positive = [
    "maxFrameBytes",
    "maxQueueMessages",
    "maxQueueBytes",
    "maxBatchBytes",
    "handshakeTimeoutMs",
    "connectTimeoutMs",
    "writeTimeoutMs",
    "backoffBaseMs",
    "backoffMaxMs",
    "snapshotChunkBytes",
    "snapshotWindowChunks",
    "maxSnapshotBytes",
    "snapshotTimeoutMs",
    "maxPendingHandshakes",
    "maxPendingHandshakesPerHost",
  ] as const;
  for (const k of positive) {
    const v = r[k];
    if (!(Number.isFinite(v) && v > 0)) {
      throw new RangeError(`${k} must be a positive number, got ${v}`);
    }
  }
  if (r.maxFrameBytes > 0xffff_ffff) {
    throw new RangeError("maxFrameBytes must fit in 32 bits");
  }
  if (r.snapshotChunkBytes + 1 > r.maxFrameBytes) {
    throw new RangeError("snapshotChunkBytes must be below maxFrameBytes");
  }
  if (r.backoffMaxMs < r.backoffBaseMs) {
    throw new RangeError("backoffMaxMs must be at least backoffBaseMs");
  }
  return r;
}

/** Why messages were dropped, by cause. */
export interface DropCounts {
  /** The peer's send queue was full (count or bytes). */
  queueFull: number;
  /** The recipient is not a known peer (or is this node). */
  unknownPeer: number;
  /** Written to, or queued for, a connection that then failed. */
  connectionLost: number;
  /** Queued when the transport closed or the peer was removed. */
  closed: number;
  /** Could not be encoded or failed validation before sending. */
  invalid: number;
  /** A snapshot was already streaming to that peer. */
  snapshotBusy: number;
}

/** Counters of a {@linkcode TcpTransport}; see {@linkcode TcpTransport.stats}. */
export interface TcpTransportStats {
  /** Messages written to a socket (snapshots count once each, when done). */
  sent: number;
  /** Messages received and handed to the handler. */
  received: number;
  /** Messages dropped, all causes (sum of `drops`). */
  dropped: number;
  /** Dropped messages by cause. */
  drops: DropCounts;
  /** Socket write calls that carried message batches. */
  writes: number;
  /** Bytes of message frames written. */
  bytesSent: number;
  /** Bytes of frames read from accepted connections. */
  bytesReceived: number;
  /** Outbound connections established (handshake done), the first ones included. */
  connects: number;
  /** Outbound connections re-established after an earlier one to the same peer failed. */
  reconnects: number;
  /** Outbound connect or handshake attempts that failed, plus established outbound connections that broke. */
  connectFailures: number;
  /** Outbound handshakes in which the listener failed to prove the secret (or sent no proof). */
  badListenerProofs: number;
  /** Inbound connections closed by this node, by reason code. */
  rejected: Record<string, number>;
  /** Snapshots fully delivered to a peer. */
  snapshotsSent: number;
  /** Snapshot sends that failed. */
  snapshotsFailed: number;
  /** Snapshots received and delivered. */
  snapshotsReceived: number;
  /** Snapshot chunk frames written. */
  snapshotChunksSent: number;
  /** Messages waiting in send queues right now. */
  queued: number;
  /** Inbound connections open right now. */
  inbound: number;
  /** Inbound connections still in their handshake right now. */
  handshaking: number;
}

/** A mutable, zeroed stats record. */
export function emptyStats(): TcpTransportStats {
  return {
    sent: 0,
    received: 0,
    dropped: 0,
    drops: {
      queueFull: 0,
      unknownPeer: 0,
      connectionLost: 0,
      closed: 0,
      invalid: 0,
      snapshotBusy: 0,
    },
    writes: 0,
    bytesSent: 0,
    bytesReceived: 0,
    connects: 0,
    reconnects: 0,
    connectFailures: 0,
    badListenerProofs: 0,
    rejected: {},
    snapshotsSent: 0,
    snapshotsFailed: 0,
    snapshotsReceived: 0,
    snapshotChunksSent: 0,
    queued: 0,
    inbound: 0,
    handshaking: 0,
  };
}

/**
 * What the transport's parts share: options, counters, logging, task
 * tracking (so `close()` can wait for every loop) and the callbacks.
 */
export class Shared {
  /** Resolved options. */
  readonly o: ResolvedOptions;
  /** Counters (mutated in place). */
  readonly stats: TcpTransportStats = emptyStats();
  /** TLS material, when TLS is on. */
  readonly tls: TlsMaterial | undefined;
  /** The cluster secrets, when peers must authenticate. */
  readonly keys: PeerKeys | undefined;
  /** Set once the transport is closing. */
  closed = false;
  /** The inbound handler. */
  handler: ((m: Message) => void) | undefined;
  /** Peer id → address. */
  readonly peers = new Map<NodeId, string>();
  /** Every open connection (both directions), closed by `close()`. */
  readonly conns = new Set<Deno.Conn>();
  readonly #tasks = new Set<Promise<unknown>>();

  /** Creates the shared state. */
  constructor(
    o: ResolvedOptions,
    tls: TlsMaterial | undefined,
    keys?: PeerKeys,
  ) {
    this.o = o;
    this.tls = tls;
    this.keys = keys;
  }

  /** This node's id. */
  get id(): NodeId {
    return this.o.id;
  }

  /** Logs with `node` set. */
  log(level: LogLevel, message: string, fields: Record<string, unknown> = {}) {
    try {
      this.o.logger(level, message, { node: this.o.id, ...fields });
    } catch {
      // A broken logger must not break the transport.
    }
  }

  /** Counts `n` dropped messages under `cause`. */
  drop(cause: keyof DropCounts, n = 1): void {
    this.stats.drops[cause] += n;
    this.stats.dropped += n;
  }

  /** Counts an inbound connection closed for `reason`. */
  countRejected(reason: string): void {
    this.stats.rejected[reason] = (this.stats.rejected[reason] ?? 0) + 1;
  }

  /** Runs `fn` as a tracked background task; its errors are logged. */
  spawn(name: string, fn: () => Promise<void>): void {
    const p = fn().catch((e) => {
      this.log("error", "Transport task failed", {
        task: name,
        error: e instanceof Error ? e.stack ?? e.message : String(e),
      });
    });
    this.#tasks.add(p);
    p.finally(() => this.#tasks.delete(p));
  }

  /** Resolves when every tracked task (and any they started) has ended. */
  async drain(): Promise<void> {
    while (this.#tasks.size > 0) {
      await Promise.allSettled([...this.#tasks]);
    }
  }

  /** Hands a message to the handler; a throwing handler is logged. */
  deliver(m: Message): void {
    if (this.closed) return;
    this.stats.received++;
    const h = this.handler;
    if (h === undefined) return;
    try {
      h(m);
    } catch (e) {
      this.log("error", "Message handler threw", {
        peer: m.from,
        type: m.type,
        error: e instanceof Error ? e.message : String(e),
      });
    }
  }

  /** Reports a snapshot outcome to the callback, asynchronously. */
  reportSnapshot(to: NodeId, ok: boolean): void {
    const cb = this.o.onSnapshotStatus;
    if (cb === undefined) return;
    queueMicrotask(() => {
      if (this.closed) return;
      try {
        cb(to, ok);
      } catch (e) {
        this.log("error", "onSnapshotStatus threw", { error: String(e) });
      }
    });
  }

  /** Reports a refused handshake to the callback, asynchronously. */
  reportRefused(to: NodeId, reason: string): void {
    const cb = this.o.onRefused;
    if (cb === undefined) return;
    queueMicrotask(() => {
      if (this.closed) return;
      try {
        cb(to, reason);
      } catch (e) {
        this.log("error", "onRefused threw", { error: String(e) });
      }
    });
  }

  /** Reports a peer unreachable to the callback, asynchronously. */
  reportUnreachable(to: NodeId): void {
    const cb = this.o.onUnreachable;
    if (cb === undefined) return;
    queueMicrotask(() => {
      if (this.closed) return;
      try {
        cb(to);
      } catch (e) {
        this.log("error", "onUnreachable threw", { error: String(e) });
      }
    });
  }
}
