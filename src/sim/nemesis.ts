/**
 * The nemesis: random faults injected into a simulated cluster — network
 * partitions, a lossy, duplicating, reordering, slow network, crashes and
 * restarts — and the disruptive operations a real cluster sees: snapshots,
 * membership changes and leadership transfers.
 *
 * @module
 */

import type { SimCluster, SimNode } from "./cluster.ts";

/** A network without faults: no loss or duplication, 1–5 ms delays. */
const CALM = {
  dropRate: 0,
  duplicateRate: 0,
  reorderRate: 0,
  minDelay: 1,
  maxDelay: 5,
} as const;

/** Every kind of fault the nemesis knows. */
export const NEMESIS_KINDS = [
  "partition",
  "isolateLeader",
  "oneWay",
  "lossy",
  "crash",
  "crashLeader",
  "snapshot",
  "membership",
  "transfer",
] as const;

/** One kind of fault. */
export type NemesisKind = typeof NEMESIS_KINDS[number];

/** Options for a {@linkcode Nemesis}. */
export interface NemesisOptions {
  /** Which faults to inject (default: all). */
  kinds?: readonly NemesisKind[];
  /** Chance per tick of a new action (default 0.03). */
  rate?: number;
  /** Target number of voters for membership changes. */
  voters: number;
}

/** Picks and performs random faults. */
export class Nemesis {
  readonly #kinds: readonly NemesisKind[];
  readonly #rate: number;
  readonly #voters: number;
  // Crashed nodes and the tick at which they come back.
  readonly #downUntil = new Map<SimNode, number>();
  /** Faults performed, by kind, for the run summary. */
  readonly counts: Record<string, number> = {};

  /** A nemesis over the given kinds. */
  constructor(options: NemesisOptions) {
    this.#kinds = options.kinds ?? NEMESIS_KINDS;
    this.#rate = options.rate ?? 0.03;
    this.#voters = options.voters;
  }

  #count(kind: string): void {
    this.counts[kind] = (this.counts[kind] ?? 0) + 1;
  }

  /** Maybe performs one action; also restarts nodes whose downtime is over. */
  act(c: SimCluster): void {
    for (const [node, until] of this.#downUntil) {
      if (c.stepCount >= until) {
        this.#downUntil.delete(node);
        c.restart(node);
      }
    }
    if (c.random() >= this.#rate) return;
    const kind = this.#kinds[Math.floor(c.random() * this.#kinds.length)];
    this.#count(kind);
    switch (kind) {
      case "partition": {
        if (c.random() < 0.35) {
          c.network.heal();
          c.trace("nemesis HEAL");
          return;
        }
        const ids = c.memberNodes().map((n) => n.id);
        const a: string[] = [];
        const b: string[] = [];
        for (const id of ids) (c.random() < 0.5 ? a : b).push(id);
        c.network.heal();
        c.network.partition([a, b]);
        c.trace(`nemesis PARTITION [${a}] | [${b}]`);
        return;
      }
      case "isolateLeader": {
        const l = c.leader();
        if (!l) return;
        c.network.heal();
        c.network.isolate(l.id);
        c.trace(`nemesis ISOLATE leader ${l.id}`);
        return;
      }
      case "oneWay": {
        const ids = c.memberNodes().map((n) => n.id);
        const from = pick(c, ids);
        const to = pick(c, ids.filter((i) => i !== from));
        if (!from || !to) return;
        c.network.cut(from, to);
        c.trace(`nemesis CUT ${from} -> ${to}`);
        return;
      }
      case "lossy": {
        if (c.random() < 0.3) {
          c.network.setFaults(CALM);
          c.trace("nemesis CALM network");
          return;
        }
        const maxDelay = 5 + Math.floor(c.random() * 60);
        const faults = {
          dropRate: c.random() * 0.3,
          duplicateRate: c.random() * 0.1,
          reorderRate: c.random() * 0.2,
          minDelay: Math.floor(c.random() * 5),
          maxDelay,
        };
        c.network.setFaults(faults);
        c.trace(`nemesis LOSSY ${JSON.stringify(faults)}`);
        return;
      }
      case "crash":
      case "crashLeader": {
        const target = kind === "crashLeader"
          ? c.leader()
          : pick(c, c.liveNodes());
        if (!target) return;
        // Keep a quorum's worth of the members up most of the time.
        const down = c.memberNodes().filter((n) => !n.up).length;
        if (
          down >= Math.floor(c.memberNodes().length / 2) && c.random() < 0.8
        ) return;
        c.crash(target);
        this.#downUntil.set(
          target,
          c.stepCount + 5 + Math.floor(c.random() * 200),
        );
        return;
      }
      case "snapshot": {
        const n = pick(c, c.liveNodes());
        if (n) c.snapshot(n);
        return;
      }
      case "membership": {
        this.#membership(c);
        return;
      }
      case "transfer": {
        const l = c.leader();
        if (!l) return;
        const voters = l.raft!.confState().voters.filter((v) => v !== l.id);
        const to = pick(c, voters);
        if (to) c.transfer(to);
        return;
      }
    }
  }

  #membership(c: SimCluster): void {
    const l = c.leader();
    if (!l) return;
    const conf = l.raft!.confState();
    if (conf.learners.length > 0) {
      c.changeMembership("promote", pick(c, conf.learners)!);
    } else if (conf.voters.length <= this.#voters && c.random() < 0.5) {
      c.addLearner();
    } else if (conf.voters.length > 2) {
      c.changeMembership("remove", pick(c, conf.voters)!);
    }
  }

  /** Ends all faults: heal, calm the network, restart every crashed member. */
  healAll(c: SimCluster): void {
    c.network.heal();
    c.network.setFaults(CALM);
    for (const node of this.#downUntil.keys()) c.restart(node);
    this.#downUntil.clear();
    for (const n of c.memberNodes()) if (!n.up) c.restart(n);
  }
}

function pick<T>(c: SimCluster, xs: readonly T[]): T | undefined {
  if (xs.length === 0) return undefined;
  return xs[Math.floor(c.random() * xs.length)];
}
