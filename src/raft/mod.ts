/**
 * The Raft consensus core: a pure, deterministic state machine in the style
 * of etcd-io/raft, with no I/O and no clock. The host ticks it, steps
 * messages into it, and carries out each {@linkcode Ready} it hands out
 * (persist, send, apply) before calling {@linkcode Raft.advance}.
 *
 * @example
 * ```ts
 * import { MemoryStorage } from "../storage/mod.ts";
 * import { Raft } from "./mod.ts";
 *
 * const storage = new MemoryStorage({ conf: { voters: ["n1"], learners: [] } });
 * const raft = new Raft({ id: "n1", storage });
 * raft.campaign();
 * while (raft.hasReady()) {
 *   const rd = raft.ready();
 *   storage.save(rd); // persist first
 *   raft.advance();
 * }
 * ```
 *
 * @module
 */

export * from "./types.ts";
export {
  Raft,
  type RaftConfig,
  type RaftEvent,
  type RaftStatus,
  type TestingKnobs,
  TRANSFER_CONTEXT,
} from "./raft.ts";
export { ProposalDroppedError, RaftInvariantError } from "./errors.ts";
export {
  CompactedError,
  type InitialState,
  SnapshotTemporarilyUnavailableError,
  type Storage,
  UnavailableError,
} from "./storage.ts";
export { decodeConfChange, encodeConfChange } from "./confchange.ts";
export { mulberry32 } from "./rand.ts";
export type { ProgressState } from "./progress.ts";
