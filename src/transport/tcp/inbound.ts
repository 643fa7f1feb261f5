/**
 * The accepting side: handshake checks (the dialer's claims, then its proof
 * of the cluster secret, then that it is a current peer), then the message
 * loop (or one snapshot stream). Anything wrong closes the connection with
 * a logged, counted reason; nothing a peer sends can stop the node, and
 * nothing it sends before its proof is checked reaches the Raft core.
 *
 * @module
 */

import {
  encodeFrame,
  FrameError,
  type FrameReader,
} from "../../codec/frame.ts";
import { decodeMessage } from "../../codec/message.ts";
import type { NodeId } from "../../raft/types.ts";
import { type HandshakeFacts, randomNonce } from "./auth.ts";
import type { ClaimResult } from "./inbound_conns.ts";
import {
  closeQuietly,
  Deadline,
  errorText,
  remoteOf,
  writeAll,
} from "./net.ts";
import {
  encodeControl,
  FrameKind,
  type Hello,
  MAX_HANDSHAKE_FRAME_BYTES,
  parseAuth,
  parseHello,
  PROTOCOL_VERSION,
  STREAM_READ_BUFFER_BYTES,
} from "./protocol.ts";
import type { HandshakeSlots } from "./handshake_slots.ts";
import type { Shared } from "./shared.ts";
import { receiveSnapshot } from "./snapshot.ts";

/** Why the listener refused or closed a connection. */
export class Refusal extends Error {
  /** Reason code (the key in `stats().rejected`). */
  readonly reason: string;
  /** Send a Reject frame to the peer before closing. */
  readonly tell: boolean;

  /** Creates a refusal. */
  constructor(reason: string, detail: string, tell = false) {
    super(detail);
    this.reason = reason;
    this.tell = tell;
  }
}

/** Bookkeeping the transport keeps about accepted connections. */
export interface InboundRegistry {
  /**
   * Called once the handshake passed: attaches the connection, or refuses
   * it because a live connection holds the peer's id (see
   * `inbound_conns.ts`). A replaced connection is closed by the caller.
   */
  attach(
    peer: NodeId,
    kind: Hello["k"],
    conn: Deno.Conn,
    remote: string,
  ): ClaimResult;
  /** Called for every frame read on an attached connection. */
  heard(conn: Deno.Conn): void;
  /** Called when the connection is finished. */
  detach(peer: NodeId, kind: Hello["k"], conn: Deno.Conn): void;
  /** Slots of inbound connections still in their handshake. */
  slots: HandshakeSlots;
}

/** Serves one accepted connection until it closes. Never throws. */
export async function serveInbound(
  sh: Shared,
  conn: Deno.Conn,
  reader: FrameReader,
  reg: InboundRegistry,
): Promise<void> {
  const remote = remoteOf(conn);
  let peer: NodeId | undefined;
  let kind: Hello["k"] | undefined;
  let attached = false;
  // When every slot is taken, an older unproven handshake makes room.
  const slot = reg.slots.take(hostOf(conn), () => closeQuietly(conn));
  let pending = true;
  const deadline = new Deadline(
    sh.o.handshakeTimeoutMs,
    () => closeQuietly(conn),
  );
  try {
    // Handshake.
    let hello: Hello;
    try {
      hello = await readHello(sh, reader);
      peer = hello.f;
      kind = hello.k;
      await authenticate(sh, conn, reader, hello);
    } catch (e) {
      if (slot.evicted) throw evictedRefusal(sh);
      if (deadline.expired) {
        throw new Refusal(
          "handshake_timeout",
          `no handshake within ${sh.o.handshakeTimeoutMs} ms`,
        );
      }
      throw e;
    }
    // Only now, to a peer that proved the secret, may the answer tell
    // whether it is a member.
    if (!sh.peers.has(peer) || peer === sh.id) {
      throw new Refusal("unknown_node", `node ${peer} is not a peer`, true);
    }
    // Before AuthOk, so that a refused duplicate hears why in the handshake.
    attachOrRefuse(sh, reg, { peer, kind, conn, remote });
    attached = true;
    await writeAll(
      conn,
      encodeFrame(FrameKind.AuthOk, encodeControl({})),
      sh.o.writeTimeoutMs,
    );
    deadline.clear();
    if (slot.evicted) throw evictedRefusal(sh);
    slot.release();
    pending = false;
    if (sh.closed) return;
    if (!sh.peers.has(peer)) {
      throw new Refusal("unknown_node", `node ${peer} was removed`);
    }
    reader.resize(STREAM_READ_BUFFER_BYTES);
    sh.log("debug", "Accepted peer connection", { peer, remote, stream: kind });

    if (kind === "snap") {
      const failure = await receiveSnapshot(sh, peer, conn, reader);
      if (failure?.reason !== undefined) {
        throw new Refusal(failure.reason, failure.detail);
      }
      if (failure !== undefined && !sh.closed) {
        sh.log("warn", "Snapshot receive failed", {
          peer,
          remote,
          reason: failure.detail,
        });
      }
      return;
    }
    await messageLoop(sh, peer, reader, () => reg.heard(conn));
  } catch (e) {
    if (sh.closed) return;
    let refusal: Refusal;
    if (e instanceof Refusal) {
      refusal = e;
    } else if (pending && slot.evicted) {
      refusal = evictedRefusal(sh);
    } else if (e instanceof FrameError) {
      refusal = new Refusal(e.code, e.message);
    } else if (deadline.expired) {
      refusal = new Refusal(
        "handshake_timeout",
        `no handshake within ${sh.o.handshakeTimeoutMs} ms`,
      );
    } else if (pending) {
      // The socket or TLS failed before the peer identified itself.
      refusal = new Refusal("handshake_failed", errorText(e));
    } else {
      // The socket failed (reset, closed under us): not the peer's fault.
      sh.log("debug", "Peer connection ended", {
        peer,
        remote,
        reason: errorText(e),
      });
      return;
    }
    sh.countRejected(refusal.reason);
    const quiet = refusal.reason === "closed_before_handshake" ||
      refusal.reason === "handshake_evicted";
    sh.log(quiet ? "info" : "warn", "Closing peer connection", {
      peer,
      remote,
      stream: kind,
      reason: refusal.reason,
      detail: refusal.message,
    });
    if (refusal.tell) {
      try {
        await writeAll(
          conn,
          encodeFrame(
            FrameKind.Reject,
            encodeControl({ r: refusal.reason, d: refusal.message }),
          ),
          1000,
        );
      } catch {
        // Best effort.
      }
    }
  } finally {
    deadline.clear();
    slot.release();
    closeQuietly(conn);
    if (attached) reg.detach(peer!, kind!, conn);
  }
}

// A second process claiming the id of a member whose connection is alive
// is refused, and the member keeps its connection; a silent older
// connection (its process died unnoticed) gives way to the newcomer.
function attachOrRefuse(
  sh: Shared,
  reg: InboundRegistry,
  c: { peer: NodeId; kind: Hello["k"]; conn: Deno.Conn; remote: string },
): void {
  const r = reg.attach(c.peer, c.kind, c.conn, c.remote);
  if (!r.admitted) {
    throw new Refusal(
      "duplicate_id",
      `node ${c.peer} is already connected from ${r.holder} (heard ${r.heardMsAgo} ms ago); ` +
        `this connection from ${c.remote} claims the same id: two processes run as ${c.peer}, stop one of them`,
      true,
    );
  }
  if (r.replaced !== undefined) {
    closeQuietly(r.replaced.conn);
    sh.log(
      c.kind === "msg" ? "warn" : "debug",
      "Replacing older connection from peer",
      {
        peer: c.peer,
        stream: c.kind,
        remote: c.remote,
        oldRemote: r.replaced.remote,
        oldSilentMs: r.replaced.silentMs,
        hint: c.kind === "msg"
          ? "the old connection was silent (its process restarted, or two processes use this id on an idle link)"
          : undefined,
      },
    );
  }
}

function evictedRefusal(sh: Shared): Refusal {
  return new Refusal(
    "handshake_evicted",
    `all ${sh.o.maxPendingHandshakes} handshake slots (or the ${sh.o.maxPendingHandshakesPerHost} of its host) were taken; the oldest unproven handshake made room for a newer one`,
  );
}

function hostOf(conn: Deno.Conn): string {
  try {
    return (conn.remoteAddr as Deno.NetAddr).hostname;
  } catch {
    return "unknown";
  }
}

async function readHello(sh: Shared, reader: FrameReader): Promise<Hello> {
  const frame = await reader.read(MAX_HANDSHAKE_FRAME_BYTES);
  if (frame === null) {
    throw new Refusal(
      "closed_before_handshake",
      "peer closed the connection before the handshake",
    );
  }
  sh.stats.bytesReceived += frame.body.byteLength + 5;
  if (frame.kind !== FrameKind.Hello) {
    throw new Refusal(
      "bad_handshake",
      `expected a handshake, got frame kind ${frame.kind}`,
    );
  }
  const hello = parseHello(frame.body);
  if (typeof hello === "string") throw new Refusal("bad_handshake", hello);
  if (hello.v !== PROTOCOL_VERSION) {
    throw new Refusal(
      "wrong_version",
      `protocol version ${hello.v}, expected ${PROTOCOL_VERSION}`,
      true,
    );
  }
  if (hello.c !== sh.o.clusterId) {
    throw new Refusal(
      "wrong_cluster",
      `cluster ${JSON.stringify(hello.c)}, expected ${
        JSON.stringify(sh.o.clusterId)
      }`,
      true,
    );
  }
  if (hello.t !== sh.id) {
    throw new Refusal(
      "wrong_recipient",
      `handshake for node ${hello.t}, this is ${sh.id}`,
      true,
    );
  }
  if (sh.keys !== undefined && hello.n === undefined) {
    throw new Refusal(
      "auth_required",
      `node ${sh.id} requires peers to prove the cluster secret; give every node the same --peer-secret-file`,
      true,
    );
  }
  if (sh.keys === undefined && hello.n !== undefined) {
    throw new Refusal(
      "auth_not_configured",
      `node ${sh.id} has no peer secret; give every node the same --peer-secret-file`,
      true,
    );
  }
  return hello;
}

// Answers the Hello (with this node's nonce and proof when a secret is
// set), then reads the dialer's Auth frame and checks its proof. Nothing
// else is read before that.
async function authenticate(
  sh: Shared,
  conn: Deno.Conn,
  reader: FrameReader,
  hello: Hello,
): Promise<void> {
  const keys = sh.keys;
  const reply: Record<string, unknown> = {
    v: PROTOCOL_VERSION,
    c: sh.o.clusterId,
    f: sh.id,
  };
  let facts: HandshakeFacts | undefined;
  if (keys !== undefined) {
    facts = {
      version: PROTOCOL_VERSION,
      clusterId: sh.o.clusterId,
      dialer: hello.f,
      listener: sh.id,
      kind: hello.k,
      dialerNonce: hello.n!,
      listenerNonce: randomNonce(),
    };
    reply.n = facts.listenerNonce;
    reply.p = await keys.prove("listener", facts);
  }
  await writeAll(
    conn,
    encodeFrame(FrameKind.HelloOk, encodeControl(reply)),
    sh.o.writeTimeoutMs,
  );
  const frame = await reader.read(MAX_HANDSHAKE_FRAME_BYTES);
  if (frame === null) {
    // Also what a dialer does that cannot verify this node's proof.
    throw new Refusal(
      "closed_during_handshake",
      "peer closed the connection before proving itself",
    );
  }
  sh.stats.bytesReceived += frame.body.byteLength + 5;
  if (frame.kind !== FrameKind.Auth) {
    throw new Refusal(
      "bad_handshake",
      `expected the peer's proof, got frame kind ${frame.kind}`,
    );
  }
  const auth = parseAuth(frame.body);
  if (typeof auth === "string") throw new Refusal("bad_handshake", auth);
  if (facts === undefined) return;
  if (
    auth.p === undefined || !await keys!.verify("dialer", facts, auth.p)
  ) {
    throw new Refusal(
      "bad_proof",
      `node ${hello.f} did not prove the cluster secret`,
      true,
    );
  }
}

async function messageLoop(
  sh: Shared,
  peer: NodeId,
  reader: FrameReader,
  heard: () => void,
): Promise<void> {
  const max = sh.o.maxFrameBytes;
  const stats = sh.stats;
  for (;;) {
    const frame = await reader.read(max);
    if (frame === null) {
      sh.log("debug", "Peer closed its connection", { peer });
      return;
    }
    stats.bytesReceived += frame.body.byteLength + 5;
    heard();
    if (frame.kind !== FrameKind.Message) {
      throw new Refusal(
        "unexpected_frame",
        `expected a message, got frame kind ${frame.kind}`,
      );
    }
    const r = decodeMessage(frame.body);
    if (!r.ok) {
      throw new Refusal(
        r.reason === "undecodable" ? "undecodable" : "invalid_message",
        r.error,
      );
    }
    const m = r.message;
    if (m.from !== peer) {
      throw new Refusal(
        "wrong_sender",
        `message from ${m.from} on a connection from ${peer}`,
      );
    }
    if (m.to !== sh.id) {
      throw new Refusal(
        "wrong_recipient",
        `message for ${m.to} arrived at ${sh.id}`,
      );
    }
    if (sh.closed) return;
    // Removing a peer closes its connections, but frames already read
    // into the buffer must not slip through either.
    if (!sh.peers.has(peer)) {
      throw new Refusal("unknown_node", `node ${peer} was removed`);
    }
    sh.deliver(m);
  }
}
