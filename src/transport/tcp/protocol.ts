/**
 * The peer protocol spoken over each TCP (or TLS) connection: frame kinds,
 * the handshake and the snapshot-stream control frames.
 *
 * Every frame is a {@link ../../codec/frame.ts | length-prefixed frame}; all
 * bodies except snapshot chunks are msgpack maps with short keys.
 *
 * ```
 * dialer                                   listener
 *   Hello {v, c, f, t, k, n?}  ───────────▶  checks v, c, t (self), n present iff it has a secret
 *                          ◀───────────────  HelloOk {v, c, f, n?, p?}  |  Reject {r, d} + close
 *   checks f, p
 *   Auth {p?}              ───────────────▶  checks p, then f (a current peer)
 *                          ◀───────────────  AuthOk {}  |  Reject {r, d} + close
 * k = "msg":
 *   Message (msgpack)  × n ───────────────▶  decode, validate, deliver
 * k = "snap":
 *   SnapHead {n, m}        ───────────────▶  n = data size, m = the snap message without data
 *   SnapChunk (raw bytes)  ───────────────▶  (at most `window` bytes unacknowledged)
 *                          ◀───────────────  SnapAck {b}        bytes received so far
 *                          ◀───────────────  SnapAck {b, d: true} after delivery
 * ```
 *
 * With a cluster secret, `n` are 32-byte nonces and `p` 32-byte proofs (see
 * {@link ./auth.ts}); without one, both sides leave them out. A secret on
 * one side only fails the handshake (`auth_required`, `auth_not_configured`).
 * Nothing but the Auth frame is read before the dialer's proof is checked,
 * and a refusal that could reveal membership (`unknown_node`) is sent only
 * after it.
 *
 * @module
 */

import { decode, encode } from "../../codec/msgpack.ts";
import { MAX_NODE_ID_LENGTH } from "../../codec/message.ts";
import type { NodeId } from "../../raft/types.ts";

/** Bytes of a handshake nonce. */
export const NONCE_BYTES = 32;

/** Bytes of a proof (an HMAC-SHA-256). */
export const PROOF_BYTES = 32;

/**
 * The protocol version sent in the handshake; peers must match exactly.
 * Version 2 added peer authentication (the nonces, proofs and the Auth
 * round trip).
 */
export const PROTOCOL_VERSION = 2;

/** The largest handshake frame accepted (before the peer is known). */
export const MAX_HANDSHAKE_FRAME_BYTES = 4096;

/** Read buffer of a connection until its handshake is done (and of dialled connections, which only read control frames). */
export const HANDSHAKE_READ_BUFFER_BYTES = 512;

/** Read buffer of an accepted connection once the peer is known. */
export const STREAM_READ_BUFFER_BYTES = 64 * 1024;

/** The largest control frame (SnapAck, Reject) accepted. */
export const MAX_CONTROL_FRAME_BYTES = 4096;

/** Frame kinds of the peer protocol. */
export const FrameKind = {
  /** Dialer → listener: who I am, which cluster, which stream. */
  Hello: 1,
  /** Listener → dialer: handshake accepted. */
  HelloOk: 2,
  /** Listener → dialer: handshake refused, with a reason; then close. */
  Reject: 3,
  /** One encoded Raft message. */
  Message: 4,
  /** Start of a snapshot stream: total size and the message without data. */
  SnapHead: 5,
  /** A piece of snapshot data (raw bytes). */
  SnapChunk: 6,
  /** Listener → dialer: snapshot bytes received, or done. */
  SnapAck: 7,
  /** Dialer → listener: the dialer's proof (empty without a secret). */
  Auth: 8,
  /** Listener → dialer: the dialer is admitted; the stream may start. */
  AuthOk: 9,
} as const;

/** Which stream a connection carries. */
export type StreamKind = "msg" | "snap";

/** The dialer's handshake. */
export interface Hello {
  /** Protocol version. */
  v: number;
  /** Cluster id. */
  c: string;
  /** The dialer's node id. */
  f: NodeId;
  /** The node id the dialer expects to reach. */
  t: NodeId;
  /** The stream kind. */
  k: StreamKind;
  /** The dialer's nonce; present when it has a secret. */
  n?: Uint8Array;
}

/** The listener's acceptance. */
export interface HelloOk {
  /** Protocol version. */
  v: number;
  /** Cluster id. */
  c: string;
  /** The listener's node id. */
  f: NodeId;
  /** The listener's nonce; present when it has a secret. */
  n?: Uint8Array;
  /** The listener's proof; present when it has a secret. */
  p?: Uint8Array;
}

/** The dialer's proof. */
export interface Auth {
  /** The proof; present when it has a secret. */
  p?: Uint8Array;
}

/** Encodes a control body (a small msgpack map). */
export function encodeControl(value: Record<string, unknown>): Uint8Array {
  return encode(value);
}

function decodeMap(body: Uint8Array): Record<string, unknown> | undefined {
  try {
    const v = decode(body);
    if (typeof v !== "object" || v === null || Array.isArray(v)) {
      return undefined;
    }
    if (v instanceof Uint8Array) return undefined;
    return v as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

function isBytes(v: unknown, n: number): v is Uint8Array {
  return v instanceof Uint8Array && v.byteLength === n;
}

function isId(v: unknown): v is string {
  return typeof v === "string" && v.length > 0 &&
    v.length <= MAX_NODE_ID_LENGTH;
}

/** Parses a Hello body; returns it or an error text. */
export function parseHello(body: Uint8Array): Hello | string {
  const o = decodeMap(body);
  if (o === undefined) return "handshake is not a msgpack map";
  const { v, c, f, t, k, n } = o;
  if (typeof v !== "number" || !Number.isSafeInteger(v)) {
    return "handshake version is not an integer";
  }
  if (typeof c !== "string" || c.length > 255) {
    return "handshake cluster id is not a string";
  }
  if (!isId(f)) return "handshake sender id is not a valid node id";
  if (!isId(t)) return "handshake recipient id is not a valid node id";
  if (k !== "msg" && k !== "snap") return "handshake stream kind is unknown";
  if (n !== undefined && !isBytes(n, NONCE_BYTES)) {
    return `handshake nonce is not ${NONCE_BYTES} bytes`;
  }
  return n === undefined ? { v, c, f, t, k } : { v, c, f, t, k, n };
}

/** Parses a HelloOk body; returns it or an error text. */
export function parseHelloOk(body: Uint8Array): HelloOk | string {
  const o = decodeMap(body);
  if (o === undefined) return "handshake reply is not a msgpack map";
  const { v, c, f, n, p } = o;
  if (typeof v !== "number") return "handshake reply version is missing";
  if (typeof c !== "string") return "handshake reply cluster id is missing";
  if (!isId(f)) return "handshake reply node id is invalid";
  if (n !== undefined && !isBytes(n, NONCE_BYTES)) {
    return `handshake reply nonce is not ${NONCE_BYTES} bytes`;
  }
  if (p !== undefined && !isBytes(p, PROOF_BYTES)) {
    return `handshake reply proof is not ${PROOF_BYTES} bytes`;
  }
  const ok: HelloOk = { v, c, f };
  if (n !== undefined) ok.n = n;
  if (p !== undefined) ok.p = p;
  return ok;
}

/** Parses an Auth body; returns it or an error text. */
export function parseAuth(body: Uint8Array): Auth | string {
  const o = decodeMap(body);
  if (o === undefined) return "proof is not a msgpack map";
  const { p } = o;
  if (p !== undefined && !isBytes(p, PROOF_BYTES)) {
    return `proof is not ${PROOF_BYTES} bytes`;
  }
  return p === undefined ? {} : { p };
}

/** Parses a Reject body into `{ reason, detail }` (best effort). */
export function parseReject(
  body: Uint8Array,
): { reason: string; detail: string } {
  const o = decodeMap(body);
  const r = o?.r;
  const d = o?.d;
  return {
    reason: typeof r === "string" ? r.slice(0, 64) : "unknown",
    detail: typeof d === "string" ? d.slice(0, 512) : "",
  };
}

/** A snapshot acknowledgement. */
export interface SnapAck {
  /** Bytes of snapshot data received so far. */
  b: number;
  /** True once the snapshot was reassembled and delivered. */
  d: boolean;
}

/** Parses a SnapAck body; returns it or an error text. */
export function parseSnapAck(body: Uint8Array): SnapAck | string {
  const o = decodeMap(body);
  if (o === undefined) return "snapshot ack is not a msgpack map";
  const { b, d } = o;
  if (typeof b !== "number" || !Number.isSafeInteger(b) || b < 0) {
    return "snapshot ack byte count is invalid";
  }
  if (d !== undefined && typeof d !== "boolean") {
    return "snapshot ack done flag is invalid";
  }
  return { b, d: d === true };
}

/** The parsed head of a snapshot stream (the message is still in wire shape). */
export interface SnapHead {
  /** Total bytes of snapshot data that follow. */
  n: number;
  /** The snap message in wire shape, with empty snapshot data. */
  m: unknown;
}

/** Parses a SnapHead body; returns it or an error text. */
export function parseSnapHead(body: Uint8Array): SnapHead | string {
  const o = decodeMap(body);
  if (o === undefined) return "snapshot head is not a msgpack map";
  const { n, m } = o;
  if (typeof n !== "number" || !Number.isSafeInteger(n) || n < 0) {
    return "snapshot head size is invalid";
  }
  return { n, m };
}
