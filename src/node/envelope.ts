/**
 * How a node wraps what it proposes, so that when an entry is applied the
 * node that proposed it can find the waiting caller.
 *
 * Layout: kind (1 byte), proposer nonce (8 bytes, random per process),
 * sequence number (8 bytes, float64), payload. The leader's no-op is an
 * empty entry and has no envelope.
 *
 * @module
 */

/** What an entry carries. */
export const EnvelopeKind = {
  /** A state machine command. */
  Command: 1,
  /** A node's published addresses (JSON {@linkcode MemberInfo}). */
  MemberInfo: 2,
} as const;

/** The numeric value of an {@linkcode EnvelopeKind}. */
export type EnvelopeKind = typeof EnvelopeKind[keyof typeof EnvelopeKind];

const HEADER = 17;

/** A decoded envelope. */
export interface Envelope {
  /** What the payload is. */
  kind: EnvelopeKind;
  /** The proposing process's nonce. */
  nonce: bigint;
  /** The proposal's sequence number within that process. */
  seq: number;
  /** The payload. */
  payload: Uint8Array;
}

/** Wraps `payload`. */
export function encodeEnvelope(
  kind: EnvelopeKind,
  nonce: bigint,
  seq: number,
  payload: Uint8Array,
): Uint8Array {
  const out = new Uint8Array(HEADER + payload.byteLength);
  const dv = new DataView(out.buffer);
  dv.setUint8(0, kind);
  dv.setBigUint64(1, nonce);
  dv.setFloat64(9, seq);
  out.set(payload, HEADER);
  return out;
}

/** Unwraps entry data; `undefined` for an empty (no-op) or foreign entry. */
export function decodeEnvelope(data: Uint8Array): Envelope | undefined {
  if (data.byteLength < HEADER) return undefined;
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const kind = dv.getUint8(0);
  if (kind !== EnvelopeKind.Command && kind !== EnvelopeKind.MemberInfo) {
    return undefined;
  }
  return {
    kind,
    nonce: dv.getBigUint64(1),
    seq: dv.getFloat64(9),
    payload: data.subarray(HEADER),
  };
}

/** A fresh random nonce for this process. */
export function newNonce(): bigint {
  const b = new BigUint64Array(1);
  crypto.getRandomValues(b);
  return b[0];
}

/** The addresses a member publishes. */
export interface MemberInfo {
  /** The member's id. */
  id: string;
  /** Where peers reach it (host:port). */
  peerAddress?: string;
  /** Where clients reach its HTTP API (host:port). */
  httpAddress?: string;
}
