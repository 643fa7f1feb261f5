/**
 * One simulation run from a seed: a cluster, a client workload, the
 * nemesis, and every safety check after every tick; then a calm period to
 * check that the cluster recovers (a leader commits again).
 *
 * @module
 */

import { mulberry32 } from "../raft/rand.ts";
import type { TestingKnobs } from "../raft/raft.ts";
import { SimCluster, type SimStats } from "./cluster.ts";
import { DiskStorage } from "../storage/disk_storage.ts";
import type { LogStore } from "../storage/types.ts";
import type { ConfState, NodeId } from "../raft/types.ts";
import type { Violation } from "./checker.ts";
import { Nemesis, NEMESIS_KINDS, type NemesisKind } from "./nemesis.ts";

/** What to simulate. */
export interface SimOptions {
  /** The seed every random choice derives from. */
  seed: number;
  /** Initial voters (default 3). */
  nodes?: number;
  /** Ticks of 10 ms under faults (default 3000). */
  steps?: number;
  /** Faults to inject (default: all). */
  nemesis?: readonly NemesisKind[];
  /** Chance per tick of a fault (default 0.03). */
  nemesisRate?: number;
  /** Chance per tick of a client proposal (default 0.5). */
  proposeRate?: number;
  /** Chance per tick of a linearizable read (default 0.2). */
  readRate?: number;
  /** Planted bugs, to show the checks catch them. */
  knobs?: TestingKnobs;
  /** Receives trace lines (replays). */
  trace?: (line: string) => void;
  /** Ticks of calm after the faults in which a leader must commit (default 600; 0 skips the check). */
  recoveryTicks?: number;
}

/** The outcome of a run. */
export interface SimResult {
  /** The seed. */
  seed: number;
  /** The first broken invariant, if any. */
  violation?: Violation;
  /** Counters. */
  stats: SimStats;
  /** Faults by kind. */
  faults: Record<string, number>;
}

/** Options for a file-backed run: each node persists to a `DiskStorage` under `dir`. */
export interface DiskSimOptions extends SimOptions {
  /** A directory for the nodes' data directories (created, left in place). */
  dir: string;
  /** Opens a node's store (defaults to `DiskStorage.open(dir/id)`); tests inject a file system here. */
  openStorage?: (id: NodeId, conf: ConfState | undefined) => Promise<LogStore>;
}

interface Run {
  cluster: SimCluster;
  nemesis: Nemesis;
  steps: number;
  recovery: number;
  proposeRate: number;
  readRate: number;
  result: () => SimResult;
}

function prepare(
  options: SimOptions,
  cluster: SimCluster,
): Run {
  const nemesis = new Nemesis({
    kinds: options.nemesis ?? NEMESIS_KINDS,
    rate: options.nemesisRate,
    voters: options.nodes ?? 3,
  });
  cluster.network.setFaults({ minDelay: 1, maxDelay: 5 });
  return {
    cluster,
    nemesis,
    steps: options.steps ?? 3000,
    recovery: options.recoveryTicks ?? 600,
    proposeRate: options.proposeRate ?? 0.5,
    readRate: options.readRate ?? 0.2,
    result: () => ({
      seed: options.seed,
      violation: cluster.checker.violation,
      stats: cluster.stats,
      faults: nemesis.counts,
    }),
  };
}

function clusterOptions(options: SimOptions, random: () => number) {
  return {
    nodes: options.nodes ?? 3,
    random,
    knobs: options.knobs,
    trace: options.trace,
    snapshotEvery: 32 + Math.floor(random() * 96),
  };
}

// The body of one faulty step, before the tick.
function faultStep(r: Run): void {
  r.nemesis.act(r.cluster);
  workload(r.cluster, r.proposeRate, r.readRate);
}

// Recovery phase bookkeeping: true once a leader committed an entry of its
// own term after every fault healed.
function recovered(r: Run, before: number): boolean {
  const leader = r.cluster.leader();
  if (!leader || r.cluster.checker.maxCommit() <= before) return false;
  const t = r.cluster.checker.committedTerm(r.cluster.checker.maxCommit());
  return t === leader.raft!.term;
}

function startRecovery(r: Run): number {
  r.nemesis.healAll(r.cluster);
  r.cluster.trace("nemesis HEAL ALL (recovery check)");
  return r.cluster.checker.maxCommit();
}

function recoveryStep(r: Run, i: number): void {
  const l = r.cluster.leader();
  if (l && i % 5 === 0) r.cluster.propose(l);
}

function notRecovered(r: Run): void {
  r.cluster.checker.violation = {
    invariant: "liveness after heal",
    detail:
      `No leader committed an entry within ${r.recovery} ticks of healing every fault`,
    step: r.cluster.stepCount,
  };
}

/**
 * Runs one seed and returns what happened: the first broken invariant, if
 * any, and counters. The same options give the same result.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { runSimulation } from "./run.ts";
 *
 * const result = runSimulation({ seed: 42, steps: 300 });
 * assert.equal(result.violation, undefined);
 * assert.deepEqual(runSimulation({ seed: 42, steps: 300 }), result);
 * ```
 */
export function runSimulation(options: SimOptions): SimResult {
  const random = mulberry32(options.seed);
  const r = prepare(options, new SimCluster(clusterOptions(options, random)));
  const c = r.cluster;
  for (let i = 0; i < r.steps; i++) {
    faultStep(r);
    c.tick();
    if (c.checker.violation) return r.result();
    if (i % 50 === 0) c.retireRemoved();
  }
  if (r.recovery > 0) {
    const before = startRecovery(r);
    let ok = false;
    for (let i = 0; i < r.recovery && !ok; i++) {
      recoveryStep(r, i);
      c.tick();
      if (c.checker.violation) return r.result();
      ok = recovered(r, before);
    }
    if (!ok) notRecovered(r);
  }
  return r.result();
}

/**
 * The file-backed "slow mode": the same run with every node persisting to
 * a real data directory; a crash closes the store and a restart recovers it
 * from disk.
 */
export async function runSimulationOnDisk(
  options: DiskSimOptions,
): Promise<SimResult> {
  const random = mulberry32(options.seed);
  const open = options.openStorage ??
    ((id: NodeId, conf: ConfState | undefined) =>
      DiskStorage.open(`${options.dir}/${id}`, {
        conf,
        log: () => {},
      }) as Promise<LogStore>);
  const cluster = await SimCluster.openOnDisk({
    ...clusterOptions(options, random),
    openStorage: open,
  });
  const r = prepare(options, cluster);
  try {
    for (let i = 0; i < r.steps; i++) {
      faultStep(r);
      await cluster.tickAsync();
      if (cluster.checker.violation) return r.result();
      if (i % 50 === 0) cluster.retireRemoved();
    }
    if (r.recovery > 0) {
      const before = startRecovery(r);
      let ok = false;
      for (let i = 0; i < r.recovery && !ok; i++) {
        recoveryStep(r, i);
        await cluster.tickAsync();
        if (cluster.checker.violation) return r.result();
        ok = recovered(r, before);
      }
      if (!ok) notRecovered(r);
    }
    return r.result();
  } finally {
    await cluster.close();
  }
}

function workload(c: SimCluster, proposeRate: number, readRate: number): void {
  const live = c.liveNodes();
  if (live.length === 0) return;
  if (c.random() < proposeRate) {
    // Mostly at the leader, sometimes at a follower (forwarding).
    const l = c.leader();
    const n = l && c.random() < 0.7
      ? l
      : live[Math.floor(c.random() * live.length)];
    const batch = 1 + Math.floor(c.random() * 3);
    for (let i = 0; i < batch; i++) c.propose(n);
  }
  if (c.random() < readRate) {
    c.read(live[Math.floor(c.random() * live.length)]);
  }
}
