/**
 * How Raft messages move between nodes: the {@linkcode Transport}
 * interface; {@linkcode TcpTransport} for real clusters (TCP or TLS, with
 * an authenticated handshake); {@linkcode MemoryHub} and
 * {@linkcode MemoryTransport} over a seeded, fault-injecting
 * {@linkcode FaultyNetwork} for tests and the simulator; and
 * {@linkcode FaultProxy}, a TCP proxy that partitions real processes.
 *
 * @example
 * ```ts
 * import { MemoryHub } from "./mod.ts";
 *
 * const hub = new MemoryHub({ seed: 7 });
 * const n1 = hub.connect("n1");
 * const n2 = hub.connect("n2");
 * const got = Promise.withResolvers<string>();
 * n2.onMessage((m) => got.resolve(m.from));
 * n1.send({ type: "heartbeat", from: "n1", to: "n2", term: 1 });
 * console.log(await got.promise); // "n1"
 * hub.close();
 * ```
 *
 * @module
 */

export type { MessageHandler, PeerAware, Transport } from "./types.ts";
export {
  FaultyNetwork,
  type FaultyNetworkOptions,
  MemoryHub,
  type MemoryHubOptions,
  MemoryTransport,
  type NetworkFaults,
  type NetworkStats,
} from "./memory.ts";
export {
  defaultLogger,
  type DropCounts,
  ensurePeerSecretFile,
  formatAddress,
  FrameKind,
  type HostPort,
  type LogLevel,
  parseAddress,
  parsePeerSecrets,
  type PeerSecrets,
  PROTOCOL_VERSION,
  readPeerSecretFile,
  type TcpTlsOptions,
  TcpTransport,
  type TcpTransportOptions,
  type TcpTransportStats,
  type TransportLogger,
  transportMetricsText,
} from "./tcp.ts";
export {
  type BlockMode,
  FaultProxy,
  type FaultProxyOptions,
  type FaultProxyStats,
} from "./fault_proxy.ts";
