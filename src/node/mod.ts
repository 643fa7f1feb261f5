/**
 * The node runtime: {@linkcode RaftNode} drives the pure Raft core with a
 * ticker, a transport, a durable store and a {@linkcode StateMachine}, and
 * gives callers promises for proposals, linearizable reads and membership
 * changes.
 *
 * Inside, `node.ts` holds the Ready loop and proposals (`pending.ts` the
 * promises of those waited on, and their timeouts); `read_path.ts`
 * linearizable reads and the leader lease; `membership.ts` configuration
 * changes, member addresses and their safety checks; `snapshots.ts` taking
 * and restoring snapshots; `force_new_cluster.ts` the disaster-recovery
 * rewrite of a survivor's log.
 *
 * @module
 */

export {
  type Applied,
  type NodeOptions,
  type NodeStatus,
  type NodeTestingKnobs,
  type PeerDirectory,
  RaftNode,
} from "./node.ts";
export type { MemberInfo } from "./envelope.ts";
export { type ForcedCluster, forceNewCluster } from "./force_new_cluster.ts";
export {
  type ClusterView,
  MAX_PROMOTE_LAG,
  unsafeChange,
} from "./membership.ts";
export { ProposalLostError, TimeoutError, UnavailableError } from "./errors.ts";
export {
  createLogger,
  jsonLineLogger,
  LEVELS,
  type LineLoggerOptions,
  type Logger,
  type LogLevel,
  nullLogger,
  prettyLogger,
} from "./logger.ts";
export {
  formatLogLine,
  type FormatOptions,
  LOG_FORMATS,
  type LogFormat,
  resolveLogFormat,
} from "./log_format.ts";
export type { ApplyContext, StateMachine } from "./state_machine.ts";
