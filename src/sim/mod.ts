/**
 * The deterministic simulator: whole clusters of Raft cores on one virtual
 * clock, under a seeded nemesis (partitions, a lossy network, crashes,
 * snapshots, membership changes, transfers), with every safety invariant
 * checked after every tick. The same seed gives the same run.
 *
 * - {@linkcode runSimulation}: one seed, in memory (or on disk with
 *   {@linkcode runSimulationOnDisk}).
 * - {@linkcode runWorkload}: clients on the service state machine, whose
 *   histories are then checked for linearizability.
 * - {@linkcode measureFailover}: crash-to-new-leader times over many trials.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { runSimulation } from "./mod.ts";
 *
 * const result = runSimulation({ seed: 42, steps: 300 });
 * assert.equal(result.violation, undefined);
 * ```
 *
 * @module
 */

export {
  type DiskSimOptions,
  runSimulation,
  runSimulationOnDisk,
  type SimOptions,
  type SimResult,
} from "./run.ts";
export {
  SimCluster,
  type SimClusterOptions,
  SimNode,
  type SimStats,
  TICK_MS,
} from "./cluster.ts";
export { SafetyChecker, type Violation } from "./checker.ts";
export { NEMESIS_KINDS, type NemesisKind } from "./nemesis.ts";
export {
  type HistoryVerdict,
  type OpCounts,
  runWorkload,
  type WorkloadKind,
  type WorkloadOptions,
  type WorkloadResult,
} from "./workload.ts";
export {
  RECIPE_KINDS,
  RECIPE_NAMES,
  type RecipeHold,
  recipeHolderLease,
  type RecipeKind,
  type RecipeOpContext,
  SIM_SEMAPHORE_LIMIT,
  startRecipeOp,
} from "./recipe_ops.ts";
export {
  type FailoverOptions,
  type FailoverResult,
  measureFailover,
} from "./failover.ts";
