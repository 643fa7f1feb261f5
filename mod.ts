/**
 * raftlock: a Deno-native distributed lock, lease and configuration service
 * built on Raft.
 *
 * This module is the library's public surface: the typed `Client`, a
 * whole server (`startServer`), and the pieces underneath it — the pure
 * Raft core, storage (`DiskStorage`, `MemoryStorage`), transports, the node
 * runtime, the replicated state machine, the service on it and the
 * deterministic simulator — each exported through its folder's `mod.ts`,
 * with every type their signatures name. Where two layers use one name,
 * the plain name is the client's (the API's JSON shapes) or the node's,
 * and the other carries a prefix: `ApiNodeStatus`, `StatePutResult`,
 * `ServiceAcquireOptions`, `TransportLogLevel`, `LogUnavailableError`.
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

// The Raft core.
export * from "./src/raft/mod.ts";
// The node's error of that name is the one exported as `UnavailableError`.
export { UnavailableError as LogUnavailableError } from "./src/raft/mod.ts";

// Storage.
export {
  type DataDirIdentity,
  type DirEntryInfo,
  DiskStorage,
  type DiskStorageOptions,
  type DiskStorageStats,
  type FileHandle,
  type FileSystem,
  type LogStore,
  MemoryStorage,
  type MemoryStorageOptions,
  type PathInfo,
  type PersistUpdate,
  StorageFatalError,
  type StorageLogger,
  type WalStats,
} from "./src/storage/mod.ts";

// Transports.
export {
  type DropCounts,
  FaultyNetwork,
  type FaultyNetworkOptions,
  MemoryHub,
  type MemoryHubOptions,
  MemoryTransport,
  type MessageHandler,
  type NetworkFaults,
  type NetworkStats,
  type PeerAware,
  type TcpTlsOptions,
  TcpTransport,
  type TcpTransportOptions,
  type TcpTransportStats,
  type Transport,
  type TransportLogger,
} from "./src/transport/mod.ts";
export type { LogLevel as TransportLogLevel } from "./src/transport/mod.ts";

// The deterministic simulator.
export {
  NEMESIS_KINDS,
  type NemesisKind,
  runSimulation,
  type SimOptions,
  type SimResult,
  type SimStats,
  type Violation,
} from "./src/sim/mod.ts";

// The client.
export * from "./src/client/mod.ts";
// `NodeStatus` is the node's own (below); the API's answer is this one.
export type { NodeStatus as ApiNodeStatus } from "./src/client/mod.ts";

// A whole server.
export {
  type HttpErrorHandler,
  type HttpHandler,
  HttpListener,
  type HttpListenerOptions,
  type HttpListenerStats,
  type JoinAuth,
  type ServedConnection,
  type ServeOnConnection,
  type Server,
  type ServerOptions,
  startServer,
} from "./src/server/mod.ts";

// The node runtime.
export {
  type Applied,
  type ApplyContext,
  type Logger,
  type MemberInfo,
  type NodeOptions,
  type NodeStatus,
  type NodeTestingKnobs,
  type PeerDirectory,
  ProposalLostError,
  RaftNode,
  type StateMachine,
  TimeoutError,
  UnavailableError,
} from "./src/node/mod.ts";

// The replicated state machine. Its commands and results share names with
// the client's JSON shapes (exported above under the plain names), so the
// state machine's own versions take a `State` prefix here.
export {
  type AcquireResult,
  type AlarmCommand,
  type AlarmInfo,
  type AlarmKind,
  type AlarmResult,
  type CancelResult,
  type ClockLease,
  type Command,
  type CommandBase,
  type CommandResult,
  type CommandType,
  type CompactCommand,
  type CompactResult,
  type DeleteCommand,
  type DueExpiry,
  type DueLockDelay,
  type ErrorCode,
  type ErrorInfo,
  type EventsSince,
  type Failure,
  type LeaseChange,
  LeaseClock,
  type LeaseClockOptions,
  type LeaseDetail,
  type LeaseExpireCommand,
  type LeaseExpireResult,
  type LeaseGrantCommand,
  type LeaseKeepaliveCommand,
  type LeaseKeepaliveManyCommand,
  type LeaseKeepaliveManyResult,
  type LeaseResult,
  type LeaseRevokeCommand,
  type LeaseRevokeResult,
  type LockAcquireCommand,
  type LockCancelCommand,
  type LockDelay,
  type LockDelayEndCommand,
  type LockDelayEndResult,
  type LockReleaseCommand,
  type Ok,
  type PendingLockDelay,
  type PutCommand,
  type RangeQuery,
  type RangeResult,
  type RequestId,
  type ResultFor,
  type ResultMap,
  ServiceStateMachine,
  type ServiceStateMachineOptions,
  type StateCounts,
  type StateTestingKnobs,
  type TimeCommand,
  type TimeResult,
  type TxnCommand,
  type TxnDelete,
  type TxnGet,
  type TxnPut,
} from "./src/state/mod.ts";
export type {
  Access,
  AuthCommand,
  AuthResult,
  AuthRoleDeleteCommand,
  AuthRolePutCommand,
  AuthSigningKeyCommand,
  AuthTable,
  AuthToggleCommand,
  AuthUserDeleteCommand,
  AuthUserPutCommand,
  AuthUserRoleCommand,
  AuthView,
  CommandAuth,
  CommandNeeds,
  PasswordHash,
  Permission,
  RoleRecord,
  SigningKey,
  UserInfo,
  UserRecord,
} from "./src/state/mod.ts";
// Leader elections, semaphores and read-write locks in the state machine.
export type {
  CampaignResult,
  ElectionCampaignCommand,
  ElectionDetail,
  ElectionProclaimCommand,
  ElectionResignCommand,
  ProclaimResult,
  Queued,
  QueueingAcquire,
  RecipeCancelCommand,
  RecipeCommand,
  RecipeCounts,
  RecipeGrant,
  RecipeKind,
  RecipeReleaseCommand,
  RwlockAcquireCommand,
  RwlockAcquireResult,
  RwlockDetail,
  SemaphoreAcquireCommand,
  SemaphoreAcquireResult,
  SemaphoreDetail,
} from "./src/state/mod.ts";
export type {
  ApplyContext as StateApplyContext,
  DeleteResult as StateDeleteResult,
  LockGrant as StateLockGrant,
  LockInfo as StateLockInfo,
  PutResult as StatePutResult,
  ReleaseResult as StateReleaseResult,
  ResignResult as StateResignResult,
  SinceLimit,
  TxnOp as StateTxnOp,
  TxnResult as StateTxnResult,
  WatchFilter as StateWatchFilter,
} from "./src/state/mod.ts";
export { ByteWriter } from "./src/codec/mod.ts";

// The service on one node (what the HTTP API calls).
export {
  type Consistency,
  type FeedItem,
  type Granted,
  type LeaseView,
  LockService,
  type LockServiceOptions,
  type QueuedAcquire,
  type ReadOptions,
  ServiceError,
  type ServiceErrorCode,
  type ServiceErrorDetails,
  WatchFeed,
  type WatchFeedOptions,
  type WatchQueueLimits,
  type WriteOptions,
} from "./src/service/mod.ts";
export type {
  AcquireOptions as ServiceAcquireOptions,
  ServiceTestingKnobs,
} from "./src/service/mod.ts";

// Linearizability checking.
export * as check from "./src/check/mod.ts";
