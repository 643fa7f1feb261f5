/**
 * The dialing side of a connection: connect (TCP or TLS), send Hello, wait
 * for HelloOk within the handshake timeout.
 *
 * @module
 */

import { encodeFrame, FrameReader } from "../../codec/frame.ts";
import type { NodeId } from "../../raft/types.ts";
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
    const hello = encodeControl({
      v: PROTOCOL_VERSION,
      c: o.clusterId,
      f: o.id,
      t: peer,
      k: kind,
    });
    await writeAll(conn, encodeFrame(FrameKind.Hello, hello), o.writeTimeoutMs);
    const frame = await reader.read(MAX_CONTROL_FRAME_BYTES);
    if (frame === null) {
      throw new Error("Peer closed the connection during the handshake");
    }
    if (frame.kind === FrameKind.Reject) {
      const { reason, detail } = parseReject(frame.body);
      throw new HandshakeRefusedError(reason, detail);
    }
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

/** The peer answered the handshake with a refusal (for example `unknown_node`). */
export class HandshakeRefusedError extends Error {
  /** The peer's reason code. */
  readonly reason: string;
  /** Creates the error. */
  constructor(reason: string, detail?: string) {
    super(
      `Peer refused the handshake: ${reason}${detail ? ` (${detail})` : ""}`,
    );
    this.name = "HandshakeRefusedError";
    this.reason = reason;
  }
}
