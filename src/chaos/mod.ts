/**
 * Chaos runs against real `raftd` processes: a {@linkcode ChaosCluster}
 * behind fault proxies, the faults a run injects
 * ({@linkcode injectFault}), the client loops whose histories are then
 * checked for linearizability, and the watch check
 * ({@linkcode checkWatches}). `cli/chaos.ts` drives them.
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
  ChaosCluster,
  type ChaosClusterOptions,
  type ChaosNode,
} from "./cluster.ts";
export {
  cutUnsyncedTail,
  injectFault,
  NEMESES,
  type NemesisKind,
} from "./nemesis.ts";
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
