/**
 * The TCP transport for peer traffic (optionally over TLS).
 *
 * - One long-lived outbound connection per peer carries that node's messages
 *   to the peer as length-prefixed msgpack frames; whatever is queued when
 *   the socket is free goes out in one write.
 * - Each peer has a bounded send queue (messages and bytes): `send` never
 *   blocks and drops (counting it) when the queue is full.
 * - Broken connections are re-established with capped exponential backoff
 *   and jitter; `onUnreachable` is called on every failure.
 * - Every connection starts with a handshake (protocol version, cluster id,
 *   sender id, expected recipient) in which, when a cluster secret is set,
 *   both ends prove they know it (HMAC-SHA-256 over fresh nonces from both
 *   sides; see `./tcp/auth.ts`). The listener closes, with a logged and
 *   counted reason, any connection that fails the handshake, the proof or
 *   the timeout, comes from a node that is not (or no longer) a peer,
 *   sends a bad frame, an undecodable or invalid message (terms and
 *   indexes over 2^52 included), or a message whose `from`/`to` do not
 *   match the connection. No message is read before the proof is checked.
 * - Connections in their handshake hold one of a bounded set of slots (at
 *   most a few per remote host); when they are all taken, a new
 *   connection evicts the oldest unproven one rather than being refused,
 *   so strangers cannot lock a member out (see `./tcp/handshake_slots.ts`).
 * - A `snap` message is streamed on a connection of its own, in chunks with
 *   a window of unacknowledged bytes, so heartbeats keep flowing; the
 *   outcome is reported through `onSnapshotStatus`.
 *
 * See `./tcp/protocol.ts` for the wire format, and
 * {@linkcode TcpTransport} for an example.
 *
 * @module
 */

import { FrameReader } from "../codec/frame.ts";
import { toWire, validateWire } from "../codec/message.ts";
import { encode } from "../codec/msgpack.ts";
import type { Message, NodeId } from "../raft/types.ts";
import { PeerKeys } from "./tcp/auth.ts";
import { HandshakeSlots } from "./tcp/handshake_slots.ts";
import { serveInbound } from "./tcp/inbound.ts";
import { InboundConnections } from "./tcp/inbound_conns.ts";
import { HANDSHAKE_READ_BUFFER_BYTES, type Hello } from "./tcp/protocol.ts";
import {
  closeQuietly,
  errorText,
  formatAddress,
  parseAddress,
  type TlsMaterial,
} from "./tcp/net.ts";
import { PeerLink } from "./tcp/outbound.ts";
import {
  resolveOptions,
  Shared,
  type TcpTransportOptions,
  type TcpTransportStats,
} from "./tcp/shared.ts";
import { sendSnapshot } from "./tcp/snapshot.ts";
import type { MessageHandler, PeerAware, Transport } from "./types.ts";

export type {
  DropCounts,
  LogLevel,
  TcpTlsOptions,
  TcpTransportOptions,
  TcpTransportStats,
  TransportLogger,
} from "./tcp/shared.ts";
export { defaultLogger } from "./tcp/shared.ts";
export { formatAddress, type HostPort, parseAddress } from "./tcp/net.ts";
export { FrameKind, PROTOCOL_VERSION } from "./tcp/protocol.ts";
export {
  ensurePeerSecretFile,
  parsePeerSecrets,
  type PeerSecrets,
  readPeerSecretFile,
} from "./tcp/secret_file.ts";
export { transportMetricsText } from "./tcp/metrics.ts";

/**
 * A Raft transport over TCP (or TLS); create one with
 * {@linkcode TcpTransport.listen}.
 *
 * @example
 * ```ts
 * import { TcpTransport } from "./tcp.ts";
 *
 * // Node n1 of a cluster whose n2 listens on 127.0.0.1:7002.
 * async function startPeerTraffic(): Promise<TcpTransport> {
 *   const t = await TcpTransport.listen({
 *     id: "n1",
 *     clusterId: "c1",
 *     listen: "127.0.0.1:7001",
 *     peers: { n2: "127.0.0.1:7002" },
 *     secrets: ["the same secret on every node"],
 *   });
 *   t.onMessage((m) => console.log(m.type, "from", m.from));
 *   t.send({ type: "heartbeat", from: "n1", to: "n2", term: 1 });
 *   return t; // `await t.close()` when done
 * }
 * ```
 */
export class TcpTransport implements Transport, PeerAware {
  /** This node's id. */
  readonly id: NodeId;
  /** The address actually bound, `"host:port"` (useful after listening on port 0). */
  readonly addr: string;
  readonly #sh: Shared;
  readonly #listener: Deno.Listener;
  readonly #links = new Map<NodeId, PeerLink>();
  /** Snapshot sends in progress: peer → abort. */
  readonly #snapSends = new Map<NodeId, () => void>();
  /** Accepted connections after their handshake, by peer and kind. */
  readonly #inbound = new InboundConnections();
  /** Accepted connections still in their handshake. */
  readonly #slots: HandshakeSlots;
  #closing: Promise<void> | undefined;

  private constructor(sh: Shared, listener: Deno.Listener) {
    this.#sh = sh;
    this.#slots = new HandshakeSlots(
      sh.o.maxPendingHandshakes,
      sh.o.maxPendingHandshakesPerHost,
    );
    this.id = sh.id;
    this.#listener = listener;
    const a = listener.addr as Deno.NetAddr;
    this.addr = formatAddress(a.hostname, a.port);
  }

  /**
   * Binds the listen address and starts serving. Peers are dialled lazily,
   * when there is something to send to them.
   *
   * @throws {TypeError | RangeError} on invalid options (a secret shorter
   * than 16 bytes, more than two); errors of `Deno.listen` (address in use)
   * and of reading TLS files propagate.
   */
  static async listen(options: TcpTransportOptions): Promise<TcpTransport> {
    const o = resolveOptions(options);
    const keys = options.secrets === undefined || options.secrets.length === 0
      ? undefined
      : await PeerKeys.from(options.secrets);
    const { hostname, port } = parseAddress(o.listen);
    let tls: TlsMaterial | undefined;
    if (options.tls !== undefined) {
      const [cert, key, ca] = await Promise.all([
        Deno.readTextFile(options.tls.certFile),
        Deno.readTextFile(options.tls.keyFile),
        Deno.readTextFile(options.tls.caFile),
      ]);
      tls = { cert, key, ca };
    }
    const listener: Deno.Listener = tls === undefined
      ? Deno.listen({ hostname, port, transport: "tcp" })
      : Deno.listenTls({ hostname, port, cert: tls.cert, key: tls.key });
    const sh = new Shared(o, tls, keys);
    const t = new TcpTransport(sh, listener);
    for (const [id, addr] of Object.entries(options.peers ?? {})) {
      t.addPeer(id, addr);
    }
    sh.spawn("accept", () => t.#acceptLoop());
    sh.log("info", "Transport listening", {
      addr: t.addr,
      tls: tls !== undefined,
      auth: keys !== undefined,
      peers: Object.keys(options.peers ?? {}),
    });
    return t;
  }

  /**
   * Queues `message` for `message.to`. Never blocks and never throws: a
   * message for an unknown peer, one that fails validation, or one that
   * finds the peer's queue full is dropped and counted. A `snap` message
   * starts a snapshot stream (its outcome goes to `onSnapshotStatus`).
   */
  send(message: Message): void {
    const sh = this.#sh;
    if (sh.closed) {
      sh.drop("closed");
      return;
    }
    const link = this.#links.get(message.to);
    if (link === undefined) {
      sh.drop("unknownPeer");
      sh.log("debug", "Dropped message for unknown peer", {
        peer: message.to,
        type: message.type,
      });
      if (message.type === "snap") sh.reportSnapshot(message.to, false);
      return;
    }
    let body: Uint8Array | undefined;
    let err: string | undefined;
    try {
      if (message.from !== this.id) {
        err = `from is ${message.from}, not this node`;
      } else {
        const wire = toWire(message);
        err = validateWire(wire);
        if (err === undefined && message.type !== "snap") {
          body = encode(wire);
          if (body.byteLength + 1 > sh.o.maxFrameBytes) {
            err = `encoded message of ${body.byteLength} bytes is over ` +
              `the frame limit of ${sh.o.maxFrameBytes}`;
          }
        }
      }
    } catch (e) {
      err = errorText(e);
    }
    if (err !== undefined) {
      sh.drop("invalid");
      sh.log("error", "Dropped invalid outgoing message", {
        peer: message.to,
        type: message.type,
        reason: err,
      });
      if (message.type === "snap") sh.reportSnapshot(message.to, false);
      return;
    }
    if (body === undefined) {
      this.#sendSnapshot(link, message);
      return;
    }
    link.enqueue(body);
  }

  /**
   * Sets the function that receives inbound messages (replacing any earlier
   * one). Messages that arrive while no handler is set are discarded.
   */
  onMessage(handler: MessageHandler): void {
    this.#sh.handler = handler;
  }

  /**
   * Adds a peer, or changes its address (the connection to the old address
   * is closed). Messages from a node are accepted only while it is a peer.
   *
   * @throws {TypeError} on a malformed address or when `id` is this node.
   */
  addPeer(id: NodeId, addr: string): void {
    if (id === this.id) throw new TypeError("A node cannot be its own peer");
    if (typeof id !== "string" || id === "") {
      throw new TypeError("Peer id must be a non-empty string");
    }
    parseAddress(addr);
    const sh = this.#sh;
    if (sh.closed) return;
    sh.peers.set(id, addr);
    const link = this.#links.get(id);
    if (link === undefined) {
      this.#links.set(id, new PeerLink(sh, id, addr));
      sh.log("debug", "Peer added", { peer: id, addr });
    } else if (link.addr !== addr) {
      link.setAddress(addr);
      sh.log("info", "Peer address changed", { peer: id, addr });
    }
  }

  /**
   * Removes a peer: its outbound queue is dropped, its connections (both
   * directions, snapshot streams included) are closed, it can no longer
   * connect, and nothing more it sent is delivered (not even frames
   * already read). Unknown ids are ignored.
   */
  removePeer(id: NodeId): void {
    const sh = this.#sh;
    sh.peers.delete(id);
    const link = this.#links.get(id);
    if (link === undefined) return;
    this.#links.delete(id);
    link.close();
    this.#snapSends.get(id)?.();
    for (const kind of ["msg", "snap"] as const) {
      const conn = this.#inbound.get(id, kind);
      if (conn !== undefined) closeQuietly(conn);
    }
    sh.log("info", "Peer removed", { peer: id });
  }

  /** The ids of the current peers. */
  peers(): NodeId[] {
    return [...this.#links.keys()];
  }

  /** The address of peer `id`, if it is a peer. */
  peerAddress(id: NodeId): string | undefined {
    return this.#sh.peers.get(id);
  }

  /** A snapshot of the counters. */
  stats(): TcpTransportStats {
    const s = this.#sh.stats;
    return {
      ...s,
      drops: { ...s.drops },
      rejected: { ...s.rejected },
      handshaking: this.#slots.size,
    };
  }

  /**
   * Stops listening, closes every connection, cancels every timer and
   * snapshot stream, drops what is queued, and resolves once every
   * background task has ended. Idempotent.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    const sh = this.#sh;
    sh.closed = true;
    closeQuietly(this.#listener);
    for (const link of this.#links.values()) link.close();
    for (const abort of [...this.#snapSends.values()]) abort();
    for (const conn of [...sh.conns]) closeQuietly(conn);
    await sh.drain();
    sh.conns.clear();
    sh.handler = undefined;
    sh.log("info", "Transport closed", {});
  }

  #sendSnapshot(link: PeerLink, m: Message): void {
    const sh = this.#sh;
    const to = link.peer;
    if (this.#snapSends.has(to)) {
      sh.drop("snapshotBusy");
      sh.log("warn", "Dropped snapshot: one is already streaming to the peer", {
        peer: to,
        index: m.snapshot?.metadata.index,
      });
      sh.reportSnapshot(to, false);
      return;
    }
    const register = (abort: () => void) => {
      this.#snapSends.set(to, abort);
      return () => {
        if (this.#snapSends.get(to) === abort) this.#snapSends.delete(to);
      };
    };
    sh.spawn("snapshot", async () => {
      const ok = await sendSnapshot(sh, to, link.addr, m, register);
      sh.reportSnapshot(to, ok);
    });
  }

  async #acceptLoop(): Promise<void> {
    const sh = this.#sh;
    const registry = {
      slots: this.#slots,
      attach: (
        peer: NodeId,
        kind: Hello["k"],
        conn: Deno.Conn,
        remote: string,
      ) => this.#inbound.claim(peer, kind, conn, remote),
      heard: (conn: Deno.Conn) => this.#inbound.heard(conn),
      detach: (peer: NodeId, kind: Hello["k"], conn: Deno.Conn) =>
        this.#inbound.release(peer, kind, conn),
    };
    for (;;) {
      let conn: Deno.Conn;
      try {
        conn = await this.#listener.accept();
      } catch (e) {
        if (sh.closed) return;
        if (
          e instanceof Deno.errors.BadResource ||
          e instanceof Deno.errors.Interrupted
        ) {
          return;
        }
        sh.log("error", "Accept failed", { error: errorText(e) });
        // Back off briefly (for example when out of file descriptors).
        await new Promise((r) => setTimeout(r, 50));
        continue;
      }
      if (sh.closed) {
        closeQuietly(conn);
        return;
      }
      if ("setNoDelay" in conn) {
        try {
          (conn as Deno.TcpConn).setNoDelay(true);
        } catch {
          // Latency only.
        }
      }
      sh.conns.add(conn);
      sh.stats.inbound++;
      sh.spawn("inbound", async () => {
        try {
          // Small until the peer has identified itself.
          const reader = new FrameReader(conn, {
            bufferBytes: HANDSHAKE_READ_BUFFER_BYTES,
          });
          await serveInbound(sh, conn, reader, registry);
        } finally {
          sh.conns.delete(conn);
          sh.stats.inbound--;
        }
      });
    }
  }
}
