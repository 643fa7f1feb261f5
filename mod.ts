/**
 * raftlock: a Deno-native distributed lock, lease and configuration service
 * built on Raft.
 *
 * This module is the library's public surface: the typed `Client`, a
 * whole server (`startServer`), and the pieces underneath it — the pure
 * Raft core, storage (`DiskStorage`, `MemoryStorage`), transports, the node
 * runtime, the replicated state machine and the deterministic simulator.
 *
 * Driving the core by hand:
 *
 * ```ts
 * import { MemoryStorage, Raft } from "./mod.ts";
 *
 * const storage = new MemoryStorage({ conf: { voters: ["n1"], learners: [] } });
 * const raft = new Raft({ id: "n1", storage });
 * raft.campaign();
 * while (raft.hasReady()) {
 *   const rd = raft.ready();
 *   storage.save(rd); // persist first
 *   // send rd.messages, apply rd.committedEntries, serve rd.readStates
 *   raft.advance();
 * }
 * ```
 *
 * @module
 */

export * from "./src/raft/types.ts";
export {
  Raft,
  type RaftConfig,
  type RaftEvent,
  type RaftStatus,
  type TestingKnobs,
  TRANSFER_CONTEXT,
} from "./src/raft/raft.ts";
export { ProposalDroppedError, RaftInvariantError } from "./src/raft/errors.ts";
export {
  CompactedError,
  type InitialState,
  SnapshotTemporarilyUnavailableError,
  type Storage,
  UnavailableError as LogUnavailableError,
} from "./src/raft/storage.ts";
export { decodeConfChange, encodeConfChange } from "./src/raft/confchange.ts";
export { mulberry32 } from "./src/raft/rand.ts";
export {
  MemoryStorage,
  type MemoryStorageOptions,
} from "./src/storage/memory.ts";
export type { LogStore, PersistUpdate } from "./src/storage/types.ts";
export type { MessageHandler, Transport } from "./src/transport/types.ts";
export {
  FaultyNetwork,
  MemoryHub,
  MemoryTransport,
  type NetworkFaults,
} from "./src/transport/memory.ts";
export {
  runSimulation,
  type SimOptions,
  type SimResult,
} from "./src/sim/run.ts";
export * from "./src/client/mod.ts";
export {
  type Server,
  type ServerOptions,
  startServer,
} from "./src/server/server.ts";
export {
  type NodeOptions,
  type NodeStatus,
  RaftNode,
} from "./src/node/node.ts";
export type { ApplyContext, StateMachine } from "./src/node/state_machine.ts";
export {
  ProposalLostError,
  TimeoutError,
  UnavailableError,
} from "./src/node/errors.ts";
export { LeaseClock, ServiceStateMachine } from "./src/state/mod.ts";
export {
  DiskStorage,
  type DiskStorageOptions,
  StorageFatalError,
} from "./src/storage/mod.ts";
export { TcpTransport } from "./src/transport/tcp.ts";
export * as check from "./src/check/mod.ts";
