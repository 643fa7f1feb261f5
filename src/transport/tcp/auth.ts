/**
 * Peer authentication: both ends of every peer connection prove that they
 * know the cluster secret, without sending it, by HMAC-SHA-256 (WebCrypto)
 * over what the handshake claims and a fresh random nonce from each side.
 *
 * ```
 * dialer                                        listener
 *   Hello {…, n: Nd}        ──────────────────▶
 *                           ◀──────────────────  HelloOk {…, n: Nl, p: Pl}
 *   checks Pl
 *   Auth {p: Pd}            ──────────────────▶  checks Pd
 *                           ◀──────────────────  AuthOk   (or Reject + close)
 *
 * Pl = HMAC(secret, transcript("listener"))   Pd = HMAC(secret, transcript("dialer"))
 * transcript(role) = "raftlock-peer-v2|" role "|" then, each as a 2-byte
 *   big-endian length and UTF-8 bytes: protocol version, cluster id, dialer
 *   id, listener id, stream kind; then Nd and Nl (32 bytes each)
 * ```
 *
 * - Each side's proof covers the other side's fresh nonce, so a recorded
 *   handshake replayed later fails (the listener's nonce is new).
 * - The role is part of the transcript, so a proof cannot be reflected back
 *   to the side that made it.
 * - Proofs are compared in constant time.
 * - Up to two secrets may be configured: the first proves, any verifies.
 *   That lets an operator rotate the secret with rolling restarts.
 *
 * @module
 */

import type { NodeId } from "../../raft/types.ts";
import { NONCE_BYTES, type StreamKind } from "./protocol.ts";

/** The shortest secret accepted, in bytes. */
export const MIN_SECRET_BYTES = 16;

/** The most secrets accepted at once (the one in use, and one more during a rotation). */
export const MAX_SECRETS = 2;

/** Which side of the handshake a proof speaks for. */
export type ProofRole = "dialer" | "listener";

/** What both sides' proofs bind: the handshake's claims and both nonces. */
export interface HandshakeFacts {
  /** Protocol version. */
  version: number;
  /** Cluster id. */
  clusterId: string;
  /** The dialing node's id. */
  dialer: NodeId;
  /** The listening node's id. */
  listener: NodeId;
  /** The stream kind. */
  kind: StreamKind;
  /** The dialer's nonce. */
  dialerNonce: Uint8Array;
  /** The listener's nonce. */
  listenerNonce: Uint8Array;
}

const encoder = new TextEncoder();

/** The bytes a proof is computed over (see the module doc). */
export function transcript(role: ProofRole, f: HandshakeFacts): Uint8Array {
  const head = encoder.encode(`raftlock-peer-v2|${role}|`);
  const fields = [
    String(f.version),
    f.clusterId,
    f.dialer,
    f.listener,
    f.kind,
  ].map((s) => encoder.encode(s));
  let size = head.byteLength + f.dialerNonce.byteLength +
    f.listenerNonce.byteLength;
  for (const b of fields) size += 2 + b.byteLength;
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  out.set(head, 0);
  let off = head.byteLength;
  for (const b of fields) {
    if (b.byteLength > 0xffff) throw new RangeError("Handshake field too long");
    view.setUint16(off, b.byteLength);
    out.set(b, off + 2);
    off += 2 + b.byteLength;
  }
  out.set(f.dialerNonce, off);
  out.set(f.listenerNonce, off + f.dialerNonce.byteLength);
  return out;
}

/** A fresh random nonce. */
export function randomNonce(): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(NONCE_BYTES));
}

/**
 * Whether `a` and `b` hold the same bytes, in time that depends only on
 * their lengths.
 */
export function timingSafeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  let diff = 0;
  for (let i = 0; i < a.byteLength; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

/**
 * The cluster secrets as non-extractable HMAC keys: the first proves this
 * node, any of them verifies a peer.
 *
 * @example
 * ```ts
 * import { PeerKeys, randomNonce } from "./auth.ts";
 * const keys = await PeerKeys.from(["a secret of at least 16 bytes"]);
 * const facts = {
 *   version: 2, clusterId: "c", dialer: "n1", listener: "n2", kind: "msg" as const,
 *   dialerNonce: randomNonce(), listenerNonce: randomNonce(),
 * };
 * const proof = await keys.prove("dialer", facts);
 * console.log(await keys.verify("dialer", facts, proof)); // true
 * console.log(await keys.verify("listener", facts, proof)); // false
 * ```
 */
export class PeerKeys {
  readonly #keys: CryptoKey[];

  private constructor(keys: CryptoKey[]) {
    this.#keys = keys;
  }

  /**
   * Imports the secrets (strings are taken as UTF-8).
   *
   * @throws {RangeError} when there are none, more than
   * {@linkcode MAX_SECRETS}, or one is shorter than
   * {@linkcode MIN_SECRET_BYTES}.
   */
  static async from(
    secrets: readonly (string | Uint8Array)[],
  ): Promise<PeerKeys> {
    if (secrets.length === 0 || secrets.length > MAX_SECRETS) {
      throw new RangeError(
        `Give one or two peer secrets, got ${secrets.length}`,
      );
    }
    const keys: CryptoKey[] = [];
    for (const s of secrets) {
      const raw = typeof s === "string" ? encoder.encode(s) : s;
      if (raw.byteLength < MIN_SECRET_BYTES) {
        throw new RangeError(
          `A peer secret must be at least ${MIN_SECRET_BYTES} bytes, got ${raw.byteLength}`,
        );
      }
      keys.push(
        await crypto.subtle.importKey(
          "raw",
          new Uint8Array(raw),
          { name: "HMAC", hash: "SHA-256" },
          false,
          ["sign"],
        ),
      );
    }
    return new PeerKeys(keys);
  }

  /** How many secrets are accepted. */
  get size(): number {
    return this.#keys.length;
  }

  /** This side's proof, made with the first secret. */
  async prove(role: ProofRole, facts: HandshakeFacts): Promise<Uint8Array> {
    return await sign(this.#keys[0], transcript(role, facts));
  }

  /** Whether `proof` is `role`'s proof under any of the secrets. */
  async verify(
    role: ProofRole,
    facts: HandshakeFacts,
    proof: Uint8Array,
  ): Promise<boolean> {
    const data = transcript(role, facts);
    let ok = false;
    // Every key is tried, so the time does not tell which one matched.
    for (const key of this.#keys) {
      if (timingSafeEqual(await sign(key, data), proof)) ok = true;
    }
    return ok;
  }
}

async function sign(key: CryptoKey, data: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(
    await crypto.subtle.sign("HMAC", key, new Uint8Array(data)),
  );
}
