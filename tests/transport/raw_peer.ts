/**
 * Test support: a raw peer connection that speaks the handshake by hand, so
 * tests can forge, omit or replay it, and send whatever messages they like.
 */

import { encodeFrame, type Frame, FrameReader } from "../../src/codec/frame.ts";
import { encodeMessage } from "../../src/codec/message.ts";
import { encode } from "../../src/codec/msgpack.ts";
import type { Message } from "../../src/raft/types.ts";
import {
  type HandshakeFacts,
  PeerKeys,
  randomNonce,
} from "../../src/transport/tcp/auth.ts";
import {
  FrameKind,
  parseHelloOk,
  parseReject,
  PROTOCOL_VERSION,
  type StreamKind,
} from "../../src/transport/tcp/protocol.ts";

/** What a forged dialer claims. */
export interface Claim {
  /** Cluster id (default "raftlock"). */
  cluster?: string;
  /** The id it claims. */
  from: string;
  /** The node it dials. */
  to: string;
  /** Stream kind (default "msg"). */
  kind?: StreamKind;
  /** Protocol version (default the current one). */
  v?: number;
}

/** How a forged handshake ended. */
export interface HandshakeOutcome {
  /** `admitted`, or the refusal reason, or `closed`. */
  result: string;
  /** The reply to Hello, if any. */
  reply: Frame | null;
}

function hostPort(addr: string): { hostname: string; port: number } {
  const i = addr.lastIndexOf(":");
  return { hostname: addr.slice(0, i), port: Number(addr.slice(i + 1)) };
}

/** A raw TCP connection to a node's peer port. */
export class RawPeer {
  /** The connection. */
  readonly conn: Deno.Conn;
  readonly #reader: FrameReader;

  private constructor(conn: Deno.Conn) {
    this.conn = conn;
    this.#reader = new FrameReader(conn);
  }

  /** Connects to `addr` (host:port). */
  static async connect(addr: string): Promise<RawPeer> {
    return new RawPeer(await Deno.connect(hostPort(addr)));
  }

  /** Writes all of `bytes` (numbers for hand-made garbage). */
  async write(bytes: Uint8Array | number[]): Promise<void> {
    const b = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
    let off = 0;
    while (off < b.byteLength) off += await this.conn.write(b.subarray(off));
  }

  /** Reads one frame; null when the peer closed. */
  async frame(): Promise<Frame | null> {
    try {
      return await this.#reader.read(64 * 1024);
    } catch {
      return null;
    }
  }

  /** Sends the dialer's Hello for `claim`, with `nonce` if it has a secret. */
  async hello(claim: Claim, nonce?: Uint8Array): Promise<void> {
    const hello: Record<string, unknown> = {
      v: claim.v ?? PROTOCOL_VERSION,
      c: claim.cluster ?? "raftlock",
      f: claim.from,
      t: claim.to,
      k: claim.kind ?? "msg",
    };
    if (nonce) hello.n = nonce;
    await this.write(encodeFrame(FrameKind.Hello, encode(hello)));
  }

  /** Sends the dialer's Auth frame: its proof, or nothing without a secret. */
  async auth(proof?: Uint8Array): Promise<void> {
    await this.write(
      encodeFrame(FrameKind.Auth, encode(proof ? { p: proof } : {})),
    );
  }

  /**
   * Runs the dialer's side of the handshake. With `secret`, it sends a
   * nonce and proves with that secret (it does not check the listener's
   * proof, as an attacker would not); without, it sends neither.
   */
  async handshake(claim: Claim, secret?: string): Promise<HandshakeOutcome> {
    const cluster = claim.cluster ?? "raftlock";
    const kind = claim.kind ?? "msg";
    const v = claim.v ?? PROTOCOL_VERSION;
    const nonce = secret === undefined ? undefined : randomNonce();
    await this.hello(claim, nonce);
    const reply = await this.frame();
    if (reply === null) return { result: "closed", reply };
    if (reply.kind === FrameKind.Reject) {
      return { result: parseReject(reply.body).reason, reply };
    }
    const ok = parseHelloOk(reply.body);
    let proof: Uint8Array | undefined;
    if (secret !== undefined && typeof ok !== "string" && ok.n) {
      const facts: HandshakeFacts = {
        version: v,
        clusterId: cluster,
        dialer: claim.from,
        listener: claim.to,
        kind,
        dialerNonce: nonce!,
        listenerNonce: ok.n,
      };
      proof = await (await PeerKeys.from([secret])).prove("dialer", facts);
    }
    await this.auth(proof);
    const last = await this.frame();
    if (last === null) return { result: "closed", reply };
    if (last.kind === FrameKind.AuthOk) return { result: "admitted", reply };
    if (last.kind === FrameKind.Reject) {
      return { result: parseReject(last.body).reason, reply };
    }
    return { result: `frame ${last.kind}`, reply };
  }

  /** Sends a Raft message frame (best effort: the peer may have closed). */
  async send(m: Message): Promise<boolean> {
    try {
      await this.write(encodeFrame(FrameKind.Message, encodeMessage(m)));
      return true;
    } catch {
      return false;
    }
  }

  /** Resolves true once the other side closed the connection. */
  async closedByPeer(timeoutMs = 3000): Promise<boolean> {
    const timer = setTimeout(() => this.close(), timeoutMs);
    let closedByThem = false;
    try {
      const buf = new Uint8Array(4096);
      for (;;) {
        const n = await this.conn.read(buf);
        if (n === null) {
          closedByThem = true;
          break;
        }
      }
    } catch (e) {
      closedByThem = !(e instanceof Deno.errors.BadResource) &&
        !(e instanceof Deno.errors.Interrupted);
    } finally {
      clearTimeout(timer);
      this.close();
    }
    return closedByThem;
  }

  /** Closes the connection. */
  close(): void {
    try {
      this.conn.close();
    } catch {
      // Already closed.
    }
  }
}

/**
 * A relay in front of a node's peer port that records what each dialer
 * sends: put its address in another node's `--peers` to capture a genuine
 * handshake.
 */
export class RecordingRelay {
  /** The relay's address. */
  readonly addr: string;
  /** Where it forwards to (set before the first connection). */
  target = "";
  /** Per accepted connection, the first bytes the dialer sent (up to 64 KiB). */
  readonly recorded: Uint8Array[] = [];
  readonly #listener: Deno.Listener;
  readonly #conns = new Set<Deno.Conn>();
  readonly #loop: Promise<void>;

  constructor() {
    this.#listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    this.addr = `127.0.0.1:${(this.#listener.addr as Deno.NetAddr).port}`;
    this.#loop = this.#accept();
  }

  async #accept(): Promise<void> {
    for (;;) {
      let inbound: Deno.Conn;
      try {
        inbound = await this.#listener.accept();
      } catch {
        return;
      }
      this.#relay(inbound).catch(() => {});
    }
  }

  async #relay(inbound: Deno.Conn): Promise<void> {
    this.#conns.add(inbound);
    let outbound: Deno.Conn;
    try {
      outbound = await Deno.connect(hostPort(this.target));
    } catch {
      inbound.close();
      this.#conns.delete(inbound);
      return;
    }
    this.#conns.add(outbound);
    const slot = this.recorded.length;
    this.recorded.push(new Uint8Array(0));
    const pump = async (
      from: Deno.Conn,
      to: Deno.Conn,
      record: boolean,
    ) => {
      const buf = new Uint8Array(16 * 1024);
      try {
        for (;;) {
          const n = await from.read(buf);
          if (n === null) break;
          if (record && this.recorded[slot].byteLength < 64 * 1024) {
            const prev = this.recorded[slot];
            const next = new Uint8Array(prev.byteLength + n);
            next.set(prev);
            next.set(buf.subarray(0, n), prev.byteLength);
            this.recorded[slot] = next;
          }
          let off = 0;
          while (off < n) off += await to.write(buf.subarray(off, n));
        }
      } catch {
        // Either side went away.
      }
      for (const c of [from, to]) {
        try {
          c.close();
        } catch {
          // Closed already.
        }
        this.#conns.delete(c);
      }
    };
    await Promise.all([
      pump(inbound, outbound, true),
      pump(outbound, inbound, false),
    ]);
  }

  /** Stops relaying and closes every connection. */
  async close(): Promise<void> {
    try {
      this.#listener.close();
    } catch {
      // Closed already.
    }
    for (const c of this.#conns) {
      try {
        c.close();
      } catch {
        // Closed already.
      }
    }
    await this.#loop;
  }
}
