/**
 * raftlock: a Deno-native distributed lock, lease and configuration service
 * built on Raft.
 *
 * This module is the library's public surface. Today it exports the pure
 * Raft core, in-memory storage and transport, and the deterministic
 * simulator:
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
  UnavailableError,
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
