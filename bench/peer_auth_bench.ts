/**
 * Peer authentication benchmarks (`deno bench -A bench/peer_auth_bench.ts`):
 * what proving the cluster secret adds to opening a peer connection.
 *
 * - The HMAC work of one handshake for each side (prove, and verify the
 *   other's proof), in-process.
 * - A whole handshake over loopback TCP (connect, Hello, HelloOk, Auth,
 *   AuthOk, close) against a listening transport, with and without a
 *   secret: the difference is the price of authentication per connection.
 *   Connections are long-lived (one per peer and direction, plus one per
 *   snapshot), so this is paid rarely.
 *
 * @module
 */

import {
  type HandshakeFacts,
  PeerKeys,
  randomNonce,
} from "../src/transport/tcp/auth.ts";
import { PROTOCOL_VERSION, TcpTransport } from "../src/transport/tcp.ts";
import { RawPeer } from "../tests/transport/raw_peer.ts";

const SECRET = "a benchmark secret of enough bytes";
const keys = await PeerKeys.from([SECRET]);
const facts = (): HandshakeFacts => ({
  version: PROTOCOL_VERSION,
  clusterId: "raftlock",
  dialer: "n1",
  listener: "n2",
  kind: "msg",
  dialerNonce: randomNonce(),
  listenerNonce: randomNonce(),
});

Deno.bench("auth: one side's HMAC work (prove + verify)", async () => {
  const f = facts();
  const mine = await keys.prove("dialer", f);
  const theirs = await keys.prove("listener", f);
  if (!await keys.verify("listener", f, theirs) || mine.byteLength !== 32) {
    throw new Error("Proof did not verify");
  }
});

/** Node n2 listening on a free port, with `secrets` if given. */
const listen = (secrets?: string[]) =>
  TcpTransport.listen({
    id: "n2",
    clusterId: "raftlock",
    listen: "127.0.0.1:0",
    peers: { n1: "127.0.0.1:1" },
    logger: () => {},
    secrets,
  });
const open = await listen();
const locked = await listen([SECRET]);

async function handshake(addr: string, secret?: string): Promise<void> {
  const raw = await RawPeer.connect(addr);
  try {
    const out = await raw.handshake({ from: "n1", to: "n2" }, secret);
    if (out.result !== "admitted") throw new Error(out.result);
  } finally {
    raw.close();
  }
}

Deno.bench("handshake over loopback, no secret", {
  group: "handshake",
  baseline: true,
}, async () => {
  await handshake(open.addr);
});

Deno.bench(
  "handshake over loopback, with the secret",
  { group: "handshake" },
  async () => {
    await handshake(locked.addr, SECRET);
  },
);

globalThis.addEventListener("unload", () => {
  open.close();
  locked.close();
});
