/**
 * Chaos runs against real `raftd` processes: a {@linkcode ChaosCluster}
 * behind fault proxies or in network namespaces ({@linkcode NetnsLab},
 * with network faults made in its switch by {@linkcode NetFaults}), the
 * faults a run injects ({@linkcode injectFault},
 * {@linkcode injectNetFault}), the client loops (in this process or in
 * client processes, {@linkcode ClientProcess}) whose histories are then
 * checked, the watch check ({@linkcode checkWatches}), and the whole run
 * ({@linkcode runChaos}). `cli/chaos.ts` drives it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkWatches } from "./mod.ts";
 *
 * const result = checkWatches([
 *   {
 *     name: "w1",
 *     fromRevision: 1,
 *     events: [{ revision: 2, key: "r/a", type: "put", value: "1" }],
 *     compacted: [],
 *   },
 * ], [{ revision: 2, key: "r/a", value: "1" }]);
 * assert.equal(result.ok, true);
 * ```
 *
 * @module
 */

export {
  ClientProcess,
  type ClientSink,
  type ClockOffset,
  type ReportedWatcher,
} from "./client_pool.ts";
export {
  type ClientProcConfig,
  type ClientSpec,
  sharedClock,
} from "./client_proc.ts";
export {
  ChaosCluster,
  type ChaosClusterOptions,
  type ChaosNode,
} from "./cluster.ts";
export {
  cutUnsyncedTail,
  type FaultNote,
  injectFault,
  NEMESES,
  type NemesisKind,
  NODE_NEMESES,
} from "./nemesis.ts";
export {
  cutsBetween,
  injectNetFault,
  NET_NEMESES,
  type NetEnv,
  type NetNemesisKind,
  nodeGroups,
} from "./net_nemesis.ts";
export {
  bandwidthCommand,
  type BaseDelay,
  CHAINS,
  chainSetup,
  type DelayerStats,
  delayRules,
  faultRules,
  type LinkFault,
  NetFaults,
} from "./netem.ts";
export { type DelayRule, holdFor } from "./netem_daemon.ts";
export {
  type LabMember,
  type LabMemberSpec,
  NetnsLab,
  type NetnsLabOptions,
  type NetnsSupport,
  netnsSupport,
  sh,
} from "./netns.ts";
export { NfQueue, type QueuedPacket } from "./nfqueue.ts";
export { clusterPorts, freeBase } from "./ports.ts";
export {
  ALL_NEMESES,
  ALL_WORKLOADS,
  type ChaosOptions,
  ChaosUnsupportedError,
  Cleanups,
  type ClientPlan,
  clientPlan,
  defaultNemeses,
  recipeClientName,
  runChaos,
} from "./run.ts";
export {
  CHAOS_RECIPES,
  CHAOS_SEMAPHORE_LIMIT,
  type ChaosRecipe,
  recipeClient,
} from "./recipe_workloads.ts";
export {
  type Failover,
  failovers,
  type FaultWindow,
  type LatencyStats,
  percentile,
  writeLatency,
} from "./stats.ts";
export {
  assignSites,
  SITE_DELAY_MS,
  SITES,
  WAN_LOCK_TTL,
  WAN_RAFT_FLAGS,
  WAN_TIMEOUT_MS,
  wanDelays,
} from "./wan.ts";
export {
  type AckedWrite,
  checkWatches,
  type SeenEvent,
  type WatchCheckResult,
  type WatcherLog,
  writeId,
} from "./watch_check.ts";
export {
  lockClient,
  registerClient,
  watcher,
  type WorkloadContext,
} from "./workloads.ts";
