/**
 * The dialing side of a connection: connect (TCP or TLS), send Hello, check
 * HelloOk (and the listener's proof), send Auth (this node's proof), wait
 * for AuthOk, all within the handshake timeout.
 *
 * @module
 */

import { encodeFrame, FrameReader } from "../../codec/frame.ts";
import type { NodeId } from "../../raft/types.ts";
import { type HandshakeFacts, randomNonce } from "./auth.ts";
import { closeQuietly, Deadline, dial, errorText, writeAll } from "./net.ts";
import {
  encodeControl,
  FrameKind,
  HANDSHAKE_READ_BUFFER_BYTES,
  MAX_CONTROL_FRAME_BYTES,
  parseHelloOk,
  parseReject,
  PROTOCOL_VERSION,
  type StreamKind,
} from "./protocol.ts";
import type { Shared } from "./shared.ts";

/** A connection whose handshake succeeded. */
export interface OpenStream {
  /** The connection; registered in `Shared.conns` until closed. */
  conn: Deno.Conn;
  /** A frame reader over it (the handshake reply already consumed). */
  reader: FrameReader;
}

/** Dials `addr`, expecting node `peer`, for a stream of `kind`. */
export async function openStream(
  sh: Shared,
  peer: NodeId,
  addr: string,
  kind: StreamKind,
): Promise<OpenStream> {
  const o = sh.o;
  const conn = await dial(addr, { tls: sh.tls, timeoutMs: o.connectTimeoutMs });
  if (sh.closed) {
    closeQuietly(conn);
    throw new Error("Transport is closed");
  }
  sh.conns.add(conn);
  const deadline = new Deadline(o.handshakeTimeoutMs, () => closeQuietly(conn));
  const reader = new FrameReader(conn, {
    bufferBytes: HANDSHAKE_READ_BUFFER_BYTES,
  });
  try {
    const keys = sh.keys;
    const dialerNonce = keys === undefined ? undefined : randomNonce();
    const hello: Record<string, unknown> = {
      v: PROTOCOL_VERSION,
      c: o.clusterId,
      f: o.id,
      t: peer,
      k: kind,
    };
    if (dialerNonce !== undefined) hello.n = dialerNonce;
    await writeAll(
      conn,
      encodeFrame(FrameKind.Hello, encodeControl(hello)),
      o.writeTimeoutMs,
    );
    // A refusal before the listener proved itself is taken as a reason for
    // the log only: anyone at the address could have sent it.
    const frame = await readReply(reader, keys === undefined);
    if (frame.kind !== FrameKind.HelloOk) {
      throw new Error(`Unexpected frame kind ${frame.kind} in the handshake`);
    }
    const ok = parseHelloOk(frame.body);
    if (typeof ok === "string") throw new Error(ok);
    if (ok.v !== PROTOCOL_VERSION) {
      throw new Error(`Peer speaks protocol version ${ok.v}`);
    }
    if (ok.c !== o.clusterId) {
      throw new Error(`Peer is in cluster ${JSON.stringify(ok.c)}`);
    }
    if (ok.f !== peer) {
      throw new Error(
        `Expected node ${peer} at ${addr} but found ${ok.f}`,
      );
    }
    const auth: Record<string, unknown> = {};
    if (keys !== undefined) {
      if (ok.n === undefined || ok.p === undefined) {
        sh.stats.badListenerProofs++;
        throw new Error(
          "Peer did not prove the peer secret (it has none configured?)",
        );
      }
      const facts: HandshakeFacts = {
        version: PROTOCOL_VERSION,
        clusterId: o.clusterId,
        dialer: o.id,
        listener: peer,
        kind,
        dialerNonce: dialerNonce!,
        listenerNonce: ok.n,
      };
      if (!await keys.verify("listener", facts, ok.p)) {
        sh.stats.badListenerProofs++;
        throw new Error(
          "Peer failed to prove the peer secret (bad_proof): it has a different secret",
        );
      }
      auth.p = await keys.prove("dialer", facts);
    }
    await writeAll(
      conn,
      encodeFrame(FrameKind.Auth, encodeControl(auth)),
      o.writeTimeoutMs,
    );
    const admitted = await readReply(reader, true);
    if (admitted.kind !== FrameKind.AuthOk) {
      throw new Error(
        `Unexpected frame kind ${admitted.kind} in the handshake`,
      );
    }
    return { conn, reader };
  } catch (e) {
    closeQuietly(conn);
    sh.conns.delete(conn);
    if (deadline.expired) {
      throw new Error(`Handshake timed out after ${o.handshakeTimeoutMs} ms`);
    }
    if (e instanceof HandshakeRefusedError) throw e;
    throw new Error(errorText(e));
  } finally {
    deadline.clear();
  }
}

// Reads the next handshake frame; a Reject becomes a HandshakeRefusedError.
async function readReply(
  reader: FrameReader,
  trusted: boolean,
): Promise<{ kind: number; body: Uint8Array }> {
  const frame = await reader.read(MAX_CONTROL_FRAME_BYTES);
  if (frame === null) {
    throw new Error("Peer closed the connection during the handshake");
  }
  if (frame.kind === FrameKind.Reject) {
    const { reason, detail } = parseReject(frame.body);
    throw new HandshakeRefusedError(reason, detail, trusted);
  }
  return frame;
}

/** The peer answered the handshake with a refusal (for example `unknown_node`). */
export class HandshakeRefusedError extends Error {
  /** The peer's reason code. */
  readonly reason: string;
  /**
   * Whether the refusal is known to come from the peer: it came after the
   * peer proved the secret, or no secret is in use. Only a trusted refusal
   * may change what the node believes (for example that it was removed).
   */
  readonly trusted: boolean;
  /** Creates the error. */
  constructor(reason: string, detail?: string, trusted = true) {
    super(
      `Peer refused the handshake: ${reason}${detail ? ` (${detail})` : ""}`,
    );
    this.name = "HandshakeRefusedError";
    this.reason = reason;
    this.trusted = trusted;
  }
}
