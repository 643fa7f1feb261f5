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

/** Runs one seed and returns what happened. */
export function runSimulation(options: SimOptions): SimResult {
  const random = mulberry32(options.seed);
  const nodes = options.nodes ?? 3;
  const steps = options.steps ?? 3000;
  const proposeRate = options.proposeRate ?? 0.5;
  const readRate = options.readRate ?? 0.2;
  const cluster = new SimCluster({
    nodes,
    random,
    knobs: options.knobs,
    trace: options.trace,
    snapshotEvery: 32 + Math.floor(random() * 96),
  });
  const nemesis = new Nemesis({
    kinds: options.nemesis ?? NEMESIS_KINDS,
    rate: options.nemesisRate,
    voters: nodes,
  });
  cluster.network.setFaults({ minDelay: 1, maxDelay: 5 });

  const result = (): SimResult => ({
    seed: options.seed,
    violation: cluster.checker.violation,
    stats: cluster.stats,
    faults: nemesis.counts,
  });

  for (let i = 0; i < steps; i++) {
    nemesis.act(cluster);
    workload(cluster, proposeRate, readRate);
    cluster.tick();
    if (cluster.checker.violation) return result();
    if (i % 50 === 0) cluster.retireRemoved();
  }

  const recovery = options.recoveryTicks ?? 600;
  if (recovery > 0) {
    nemesis.healAll(cluster);
    cluster.trace("nemesis HEAL ALL (recovery check)");
    const before = cluster.checker.maxCommit();
    let committedAfter = false;
    for (let i = 0; i < recovery && !committedAfter; i++) {
      const l = cluster.leader();
      if (l && i % 5 === 0) cluster.propose(l);
      cluster.tick();
      if (cluster.checker.violation) return result();
      const leader = cluster.leader();
      if (leader && cluster.checker.maxCommit() > before) {
        const t = cluster.checker.committedTerm(cluster.checker.maxCommit());
        committedAfter = t === leader.raft!.term;
      }
    }
    if (!committedAfter) {
      cluster.checker.violation = {
        invariant: "liveness after heal",
        detail:
          `No leader committed an entry within ${recovery} ticks of healing every fault`,
        step: cluster.stepCount,
      };
    }
  }
  return result();
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
