/**
 * One peer's outbound message stream: a bounded send queue and a single
 * long-lived connection, flushed in batches, re-established with capped
 * exponential backoff and jitter.
 *
 * @module
 */

import {
  FRAME_HEADER_BYTES,
  type FrameReader,
  writeFrameHeader,
} from "../../codec/frame.ts";
import type { NodeId } from "../../raft/types.ts";
import { HandshakeRefusedError, openStream } from "./dialer.ts";
import { closeQuietly, errorText, writeAll } from "./net.ts";
import { FrameKind, MAX_CONTROL_FRAME_BYTES } from "./protocol.ts";
import type { Shared } from "./shared.ts";

type LinkState = "idle" | "connecting" | "connected" | "closed";

/** A connection up at least this long resets the reconnect backoff. */
const HEALTHY_CONNECTION_MS = 1000;

/**
 * The outbound side for one peer. `enqueue` never blocks: it drops when the
 * queue is full. The connection is opened when there is something to send
 * and kept open; after a failure the next attempt waits
 * `min(max, base * 2^(failures-1))`, scaled by a random factor in
 * `[0.5, 1)`; the failure count resets once a connection has stayed up
 * for a second.
 */
export class PeerLink {
  /** The peer's id. */
  readonly peer: NodeId;
  #addr: string;
  readonly #sh: Shared;
  #state: LinkState = "idle";
  #conn: Deno.Conn | undefined;
  #queue: Uint8Array[] = [];
  #queueBytes = 0;
  #flushing = false;
  #failures = 0;
  #connectedAt = 0;
  #everConnected = false;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  #nextAttemptAt = 0;
  /** Reported unreachable since the last successful connection. */
  #downLogged = false;

  /** Creates an idle link; nothing happens until a message is queued. */
  constructor(sh: Shared, peer: NodeId, addr: string) {
    this.#sh = sh;
    this.peer = peer;
    this.#addr = addr;
  }

  /** The peer's address. */
  get addr(): string {
    return this.#addr;
  }

  /** Messages waiting to be written. */
  get queued(): number {
    return this.#queue.length;
  }

  /** Whether the connection is up. */
  get connected(): boolean {
    return this.#state === "connected";
  }

  /**
   * Queues one encoded message. Returns false (and counts a drop) when the
   * queue is at its message or byte limit.
   */
  enqueue(body: Uint8Array): boolean {
    const sh = this.#sh;
    if (this.#state === "closed") {
      sh.drop("closed");
      return false;
    }
    const size = body.byteLength + FRAME_HEADER_BYTES;
    if (
      this.#queue.length >= sh.o.maxQueueMessages ||
      this.#queueBytes + size > sh.o.maxQueueBytes
    ) {
      sh.drop("queueFull");
      return false;
    }
    this.#queue.push(body);
    this.#queueBytes += size;
    sh.stats.queued++;
    this.#kick();
    return true;
  }

  /**
   * Points the link at a new address: the current connection (if any) is
   * closed and the next one goes to `addr`. Queued messages stay.
   */
  setAddress(addr: string): void {
    if (addr === this.#addr) return;
    this.#addr = addr;
    if (this.#conn !== undefined) {
      this.#lost(this.#conn, "peer address changed", false);
    }
    this.#failures = 0;
    this.#nextAttemptAt = 0;
    if (this.#retryTimer !== undefined) clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    this.#kick();
  }

  /** Closes the connection, stops retrying and drops what is queued. */
  close(): void {
    if (this.#state === "closed") return;
    this.#state = "closed";
    if (this.#retryTimer !== undefined) clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    const conn = this.#conn;
    this.#conn = undefined;
    if (conn !== undefined) {
      closeQuietly(conn);
      this.#sh.conns.delete(conn);
    }
    this.#dropQueue("closed");
  }

  #dropQueue(cause: "closed"): void {
    if (this.#queue.length === 0) return;
    this.#sh.drop(cause, this.#queue.length);
    this.#sh.stats.queued -= this.#queue.length;
    this.#queue = [];
    this.#queueBytes = 0;
  }

  /** Starts a flush or a connection attempt, whichever is due. */
  #kick(): void {
    if (this.#queue.length === 0) return;
    switch (this.#state) {
      case "connected":
        if (!this.#flushing) {
          this.#flushing = true;
          // Deferred so that every message sent in this tick joins the batch.
          queueMicrotask(() => this.#sh.spawn("flush", () => this.#flush()));
        }
        return;
      case "idle": {
        if (this.#retryTimer !== undefined) return;
        const wait = this.#nextAttemptAt - performance.now();
        if (wait > 0) {
          this.#retryTimer = setTimeout(() => {
            this.#retryTimer = undefined;
            this.#kick();
          }, wait);
          return;
        }
        this.#state = "connecting";
        this.#sh.spawn("connect", () => this.#connect());
        return;
      }
      default:
        return;
    }
  }

  async #connect(): Promise<void> {
    const sh = this.#sh;
    const addr = this.#addr;
    let stream;
    try {
      stream = await openStream(sh, this.peer, addr, "msg");
    } catch (e) {
      if (this.#state === "closed") return;
      if (e instanceof HandshakeRefusedError && e.trusted) {
        sh.reportRefused(this.peer, e.reason);
      }
      this.#failed(`connect to ${addr} failed: ${errorText(e)}`);
      return;
    }
    if (this.#state === "closed" || addr !== this.#addr) {
      closeQuietly(stream.conn);
      sh.conns.delete(stream.conn);
      if (this.#state !== "closed") {
        this.#state = "idle";
        this.#kick();
      }
      return;
    }
    this.#state = "connected";
    this.#conn = stream.conn;
    this.#connectedAt = performance.now();
    sh.stats.connects++;
    if (this.#everConnected) sh.stats.reconnects++;
    this.#everConnected = true;
    sh.log(this.#downLogged ? "info" : "debug", "Connected to peer", {
      peer: this.peer,
      addr,
    });
    this.#downLogged = false;
    const conn = stream.conn;
    sh.spawn("watch", () => this.#watch(conn, stream.reader));
    this.#kick();
  }

  /**
   * Reads from the connection only to notice when it closes: the listener
   * never sends anything after the handshake.
   */
  async #watch(conn: Deno.Conn, reader: FrameReader): Promise<void> {
    let why: string;
    try {
      const frame = await reader.read(MAX_CONTROL_FRAME_BYTES);
      why = frame === null
        ? "peer closed the connection"
        : `unexpected frame kind ${frame.kind} from peer`;
    } catch (e) {
      why = `read failed: ${errorText(e)}`;
    }
    this.#lost(conn, why, true);
  }

  async #flush(): Promise<void> {
    const sh = this.#sh;
    try {
      while (this.#state === "connected" && this.#queue.length > 0) {
        const conn = this.#conn!;
        // Take as many queued messages as fit in one batch (at least one).
        let n = 0;
        let bytes = 0;
        for (const body of this.#queue) {
          const size = body.byteLength + FRAME_HEADER_BYTES;
          if (n > 0 && bytes + size > sh.o.maxBatchBytes) break;
          n++;
          bytes += size;
        }
        const batch = this.#queue.splice(0, n);
        this.#queueBytes -= bytes;
        sh.stats.queued -= n;
        const buf = new Uint8Array(bytes);
        let off = 0;
        for (const body of batch) {
          off = writeFrameHeader(buf, off, FrameKind.Message, body.byteLength);
          buf.set(body, off);
          off += body.byteLength;
        }
        try {
          await writeAll(conn, buf, sh.o.writeTimeoutMs);
        } catch (e) {
          sh.drop("connectionLost", n);
          this.#lost(conn, `write failed: ${errorText(e)}`, true);
          return;
        }
        sh.stats.sent += n;
        sh.stats.writes++;
        sh.stats.bytesSent += bytes;
      }
    } finally {
      this.#flushing = false;
    }
    // Messages may have arrived while the last write was in flight.
    this.#kick();
  }

  /** The connection `conn` broke (or is being replaced). */
  #lost(conn: Deno.Conn, why: string, unreachable: boolean): void {
    closeQuietly(conn);
    this.#sh.conns.delete(conn);
    if (this.#conn !== conn) return;
    this.#conn = undefined;
    if (this.#state === "closed") return;
    this.#state = "idle";
    // Only a connection that stayed up a while resets the backoff, so a peer
    // that accepts and then drops at once is not redialled in a tight loop.
    if (performance.now() - this.#connectedAt >= HEALTHY_CONNECTION_MS) {
      this.#failures = 0;
    }
    if (unreachable) {
      this.#failed(`connection lost: ${why}`);
    } else {
      this.#kick();
    }
  }

  /** A connection attempt failed or an established connection broke. */
  #failed(why: string): void {
    const sh = this.#sh;
    this.#state = "idle";
    this.#failures++;
    sh.stats.connectFailures++;
    const o = sh.o;
    const exp = Math.min(
      o.backoffMaxMs,
      o.backoffBaseMs * 2 ** Math.min(this.#failures - 1, 30),
    );
    const delay = exp * (0.5 + 0.5 * o.random());
    this.#nextAttemptAt = performance.now() + delay;
    sh.log(this.#downLogged ? "debug" : "warn", "Peer unreachable", {
      peer: this.peer,
      addr: this.#addr,
      reason: why,
      failures: this.#failures,
      retryInMs: Math.round(delay),
    });
    this.#downLogged = true;
    sh.reportUnreachable(this.peer);
    this.#kick();
  }
}
