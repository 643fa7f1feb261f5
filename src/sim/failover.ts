/**
 * Failover timing in the simulator: how long from a leader's crash until a
 * new leader is elected, over many trials at the default timeouts
 * (150–300 ms election timeout, 50 ms heartbeat, 10 ms ticks).
 *
 * @module
 */

import { mulberry32 } from "../raft/rand.ts";
import { SimCluster, TICK_MS } from "./cluster.ts";

/** The distribution of failover times over the trials. */
export interface FailoverResult {
  /** Trials run. */
  trials: number;
  /** Milliseconds from crash to new leader, sorted ascending. */
  times: number[];
  /** Trials that needed more than one election term (split votes or PreVote retries). */
  extraTerms: number;
  /** Median, 99th percentile and maximum, in ms. */
  p50: number;
  /** 99th percentile in ms. */
  p99: number;
  /** Maximum in ms. */
  max: number;
}

/** Options for {@linkcode measureFailover}. */
export interface FailoverOptions {
  /** Number of trials (default 1000). */
  trials?: number;
  /** Cluster size (default 3). */
  nodes?: number;
  /** First seed (default 1). */
  seed?: number;
  /** Called after each trial (progress). */
  onTrial?: (done: number, trials: number) => void;
}

/**
 * Runs trials: elect a leader, replicate for a while, crash the leader at a
 * random instant, and time the election of the next leader.
 */
export function measureFailover(options: FailoverOptions = {}): FailoverResult {
  const trials = options.trials ?? 1000;
  const times: number[] = [];
  let extraTerms = 0;
  for (let t = 0; t < trials; t++) {
    const random = mulberry32((options.seed ?? 1) + t);
    const c = new SimCluster({ nodes: options.nodes ?? 3, random });
    // Loopback-like latency: well under a tick.
    c.network.setFaults({ minDelay: 0.1, maxDelay: 1 });
    let leader = undefined;
    for (let i = 0; i < 1000 && !leader; i++) {
      c.tick();
      leader = c.leader();
    }
    if (!leader) throw new Error(`Trial ${t}: no first leader within 10 s`);
    // Run a steady state for a random while so the crash lands at a random
    // point of the heartbeat cycle.
    const steady = 50 + Math.floor(random() * 50);
    for (let i = 0; i < steady; i++) {
      if (i % 3 === 0) c.propose(leader);
      c.tick();
    }
    const oldTerm = leader.raft!.term;
    c.crash(leader);
    const crashedAt = c.now;
    let next = undefined;
    for (let i = 0; i < 2000 && !next; i++) {
      c.tick();
      const l = c.leader();
      if (l && l.raft!.term > oldTerm) next = l;
    }
    if (!next) throw new Error(`Trial ${t}: no new leader within 20 s`);
    // The crash happens between ticks; the new leader exists by the end of
    // the tick that elected it.
    times.push(c.now - crashedAt);
    if (next.raft!.term > oldTerm + 1) extraTerms++;
    options.onTrial?.(t + 1, trials);
  }
  times.sort((a, b) => a - b);
  const q = (p: number) =>
    times[Math.min(times.length - 1, Math.floor(p * times.length))];
  return {
    trials,
    times,
    extraTerms,
    p50: q(0.5),
    p99: q(0.99),
    max: times[times.length - 1],
  };
}

/** The tick length, re-exported for reports. */
export const FAILOVER_TICK_MS = TICK_MS;
