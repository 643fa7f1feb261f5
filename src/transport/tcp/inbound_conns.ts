/**
 * The accepted peer connections that passed their handshake, one per peer
 * and stream kind, and the rule that keeps a second process claiming a
 * member's id from taking that member's place.
 *
 * Two processes with the same id (a copied configuration, a node started
 * twice) would otherwise replace each other's connection on every
 * reconnect, and Raft would see one member speaking with two logs. A live
 * connection wins: a newcomer claiming peer X while X's message stream is
 * attached and has shown life within {@linkcode DUPLICATE_ID_WINDOW_MS} is
 * refused (`duplicate_id`).
 *
 * Why this does not lock out a node that restarted: a connection whose
 * process died delivers nothing more, so it stops counting as alive one
 * window after its last frame, whether or not its close was noticed (a
 * host that lost power sends no FIN). The restarted node is refused at
 * most for that long and gets in on a later retry of its dialer (which
 * backs off up to 2 s). A process that redials on its own first closes
 * its old connection (write failure, address change), and its handshake
 * takes round trips after that close, so the close is normally seen first.
 *
 * What it cannot tell apart: a link that carries no traffic. Messages flow
 * every heartbeat between the leader and each follower (both ways), and a
 * node without a leader campaigns every election timeout, but two healthy
 * followers may send each other nothing for a long time. There a silent
 * original looks like a dead one, and the newcomer replaces it — logged
 * as a warning naming both addresses, so the operator sees the duplicate.
 *
 * Snapshot streams keep the earlier rule (the newest replaces the older):
 * a sender starts a new stream only after abandoning the last one.
 *
 * @module
 */

import type { NodeId } from "../../raft/types.ts";
import type { StreamKind } from "./protocol.ts";

/**
 * How long an attached message stream counts as alive after its last frame
 * (or after it was attached): 1 s, several heartbeats and more than the
 * longest election timeout, so an active member always counts.
 */
export const DUPLICATE_ID_WINDOW_MS = 1000;

/** One attached connection. */
interface Attached {
  conn: Deno.Conn;
  remote: string;
  // performance.now() of the attach and of the last frame read.
  attachedAt: number;
  lastFrameAt: number;
}

/** What {@linkcode InboundConnections.claim} decided. */
export type ClaimResult =
  | {
    /** The connection is attached. */
    admitted: true;
    /** The older connection it replaced (and that the caller should close), if any. */
    replaced?: { conn: Deno.Conn; remote: string; silentMs: number };
  }
  | {
    /** The connection is refused: a live one holds the id. */
    admitted: false;
    /** The live connection's remote address. */
    holder: string;
    /** Milliseconds since the live connection last showed life. */
    heardMsAgo: number;
  };

/** Options of {@linkcode InboundConnections}. */
export interface InboundConnectionsOptions {
  /** See {@linkcode DUPLICATE_ID_WINDOW_MS} (the default). */
  windowMs?: number;
  /** The clock in ms (default `performance.now`). */
  now?: () => number;
}

/**
 * The attached inbound connections, by peer and stream kind.
 *
 * @example
 * ```ts ignore
 * const conns = new InboundConnections();
 * const r = conns.claim("n2", "msg", conn, "10.0.0.2:51234");
 * if (!r.admitted) refuse(`n2 is connected from ${r.holder}`);
 * conns.heard(conn); // for every frame read
 * conns.release("n2", "msg", conn); // when it ends
 * ```
 */
export class InboundConnections {
  readonly #windowMs: number;
  readonly #now: () => number;
  readonly #byKey = new Map<string, Attached>();
  readonly #byConn = new Map<Deno.Conn, Attached>();

  /** An empty registry. */
  constructor(options: InboundConnectionsOptions = {}) {
    this.#windowMs = options.windowMs ?? DUPLICATE_ID_WINDOW_MS;
    this.#now = options.now ?? (() => performance.now());
  }

  /**
   * Attaches `conn` as peer `peer`'s `kind` stream, unless a live message
   * stream holds that id (see the module documentation). A replaced older
   * connection is forgotten here and returned for the caller to close.
   */
  claim(
    peer: NodeId,
    kind: StreamKind,
    conn: Deno.Conn,
    remote: string,
  ): ClaimResult {
    const key = peer + "\0" + kind;
    const now = this.#now();
    const old = this.#byKey.get(key);
    let replaced:
      | { conn: Deno.Conn; remote: string; silentMs: number }
      | undefined;
    if (old !== undefined && old.conn !== conn) {
      const silentMs = now - Math.max(old.attachedAt, old.lastFrameAt);
      if (kind === "msg" && silentMs < this.#windowMs) {
        return {
          admitted: false,
          holder: old.remote,
          heardMsAgo: Math.round(silentMs),
        };
      }
      this.#byConn.delete(old.conn);
      replaced = {
        conn: old.conn,
        remote: old.remote,
        silentMs: Math.round(silentMs),
      };
    }
    const a: Attached = { conn, remote, attachedAt: now, lastFrameAt: now };
    this.#byKey.set(key, a);
    this.#byConn.set(conn, a);
    return replaced ? { admitted: true, replaced } : { admitted: true };
  }

  /** Notes a frame read on `conn`: it is alive. */
  heard(conn: Deno.Conn): void {
    const a = this.#byConn.get(conn);
    if (a !== undefined) a.lastFrameAt = this.#now();
  }

  /** Forgets `conn` (if it is still the one attached for `peer` and `kind`). */
  release(peer: NodeId, kind: StreamKind, conn: Deno.Conn): void {
    const key = peer + "\0" + kind;
    if (this.#byKey.get(key)?.conn === conn) this.#byKey.delete(key);
    this.#byConn.delete(conn);
  }

  /** The connection attached for `peer` and `kind`, if any. */
  get(peer: NodeId, kind: StreamKind): Deno.Conn | undefined {
    return this.#byKey.get(peer + "\0" + kind)?.conn;
  }
}
