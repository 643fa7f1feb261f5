/**
 * Figures of a chaos run from its history: write latency percentiles
 * (all acknowledged writes, and those made while no fault was active) and
 * failover times (from SIGKILL of the leader to the first write a client
 * saw acknowledged that it started after the kill).
 *
 * @module
 */

import type { Operation } from "../check/history.ts";

/** Latency percentiles, ms. */
export interface LatencyStats {
  /** How many operations. */
  n: number;
  /** Median. */
  p50: number | null;
  /** 99th percentile. */
  p99: number | null;
  /** Slowest. */
  max: number | null;
}

/** A span of the run in which a fault was active (shared clock, ms). */
export interface FaultWindow {
  /** The fault's kind. */
  kind: string;
  /** When it started. */
  start: number;
  /** When it was repaired. */
  end: number;
}

/** One failover measured. */
export interface Failover {
  /** The leader that was killed. */
  node: string;
  /** When (shared clock, ms). */
  at: number;
  /** Kill to first acknowledged write started after it, ms (null: none in 60 s). */
  ms: number | null;
}

/** The `p`-th percentile (0–100) of ascending `sorted`, nearest rank. */
export function percentile(
  sorted: readonly number[],
  p: number,
): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

function stats(durations: number[]): LatencyStats {
  durations.sort((a, b) => a - b);
  const r = (x: number | null) => x === null ? null : Math.round(x * 10) / 10;
  return {
    n: durations.length,
    p50: r(percentile(durations, 50)),
    p99: r(percentile(durations, 99)),
    max: r(durations.at(-1) ?? null),
  };
}

const WRITES = new Set(["write", "cas", "fencedWrite"]);

/**
 * Latency of acknowledged puts (`write` operations): all of them, and
 * those that started and ended outside every fault window widened by
 * `settleMs` on each side.
 */
export function writeLatency(
  ops: readonly Operation[],
  windows: readonly FaultWindow[],
  settleMs = 2000,
): { all: LatencyStats; quiet: LatencyStats } {
  const all: number[] = [];
  const quiet: number[] = [];
  const spans = [...windows].sort((a, b) => a.start - b.start);
  for (const o of ops) {
    if (o.op.f !== "write" || o.status !== "ok") continue;
    const d = o.end - o.start;
    all.push(d);
    const hit = spans.some((w) =>
      o.start < w.end + settleMs && o.end > w.start - settleMs
    );
    if (!hit) quiet.push(d);
  }
  return { all: stats(all), quiet: stats(quiet) };
}

/**
 * For each leader kill, the time to the first acknowledged write
 * (`write`, `cas`, fenced write) invoked at or after it.
 */
export function failovers(
  ops: readonly Operation[],
  kills: readonly { node: string; at: number }[],
): Failover[] {
  const acked = ops
    .filter((o) => WRITES.has(o.op.f) && o.status === "ok")
    .map((o) => ({ start: o.start, end: o.end }))
    .sort((a, b) => a.start - b.start);
  return kills.map((k) => {
    let best = Infinity;
    for (const w of acked) {
      if (w.start < k.at) continue;
      if (w.start > k.at + 60_000) break;
      best = Math.min(best, w.end);
    }
    return {
      node: k.node,
      at: Math.round(k.at),
      ms: Number.isFinite(best) ? Math.round(best - k.at) : null,
    };
  });
}
