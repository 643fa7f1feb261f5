/**
 * The performance targets of issue 14, checked on the neutral (wrk) rows
 * of one run, from the medians of the rounds without a leader change:
 *
 * - puts at 64 connections ≥ 3× etcd;
 * - single-connection put p50 ≤ 0.5× etcd's;
 * - linearizable gets at 64 connections ≥ 5× etcd;
 * - lock cycles ≥ 3× etcd (raftlock: acquire + release; etcd: lease
 *   grant + lock + unlock + revoke), at every concurrency measured;
 * - no raftlock leader change in the whole run.
 *
 * @module
 */

import type { LeaderChange } from "./leader.ts";
import { cell, type Row, type Workload } from "./rows.ts";

/** One target and whether the run met it. */
export interface Goal {
  /** What is asked, e.g. `puts@64 ≥ 3× etcd`. */
  goal: string;
  /** The measured ratio (or count), when measured. */
  measured?: number;
  /** The measured value as shown, e.g. `2.10×` or `0 changes`. */
  shown: string;
  /** met, missed, or not measured. */
  status: "met" | "missed" | "not measured";
}

function ratioGoal(
  rows: readonly Row[],
  goal: string,
  workload: Workload,
  connections: number,
  want: number,
  by: "throughput" | "p50",
): Goal {
  const key = { client: "wrk" as const, workload, connections };
  const rl = cell(rows, key, "raftlock");
  const et = cell(rows, key, "etcd");
  const a = rl[by];
  const b = et[by];
  if (!a || !b) return { goal, shown: "–", status: "not measured" };
  const ratio = a / b;
  const met = by === "p50" ? ratio <= want : ratio >= want;
  return {
    goal,
    measured: ratio,
    shown: `${ratio.toFixed(2)}×`,
    status: met ? "met" : "missed",
  };
}

/**
 * Checks every target against `rows`; `connections` are the
 * concurrencies the run measured (lock cycles are checked at each);
 * `whole` is raftlock's leadership from the start of the run to its end
 * (which also sees changes between rows).
 *
 * @example
 * ```ts
 * import { checkGoals } from "./goals.ts";
 *
 * for (const g of checkGoals([], [1, 64])) console.log(g.goal, g.status);
 * ```
 */
export function checkGoals(
  rows: readonly Row[],
  connections: readonly number[],
  whole?: LeaderChange,
): Goal[] {
  const goals = [
    ratioGoal(rows, "puts@64 ≥ 3× etcd", "put", 64, 3, "throughput"),
    ratioGoal(rows, "put@1 p50 ≤ 0.5× etcd's", "put", 1, 0.5, "p50"),
    ratioGoal(rows, "lin gets@64 ≥ 5× etcd", "get-lin", 64, 5, "throughput"),
    ...connections.map((c) =>
      ratioGoal(
        rows,
        `lock cycles@${c} ≥ 3× etcd`,
        "lock",
        c,
        3,
        "throughput",
      )
    ),
  ];
  const mine = rows.filter((r) => r.system === "raftlock");
  const changed = mine.filter((r) => r.leader.changed).length;
  const goal = "no leader change in the whole run";
  if (mine.length === 0) {
    goals.push({ goal, shown: "–", status: "not measured" });
  } else {
    const between = whole?.changed && changed === 0;
    goals.push({
      goal,
      measured: changed,
      shown: between
        ? `between rows (${whole!.text})`
        : changed === 0
        ? `none (${whole?.text ?? "?"})`
        : `in ${changed} row${changed === 1 ? "" : "s"}${
          whole ? ` (${whole.text})` : ""
        }`,
      status: changed === 0 && !whole?.changed ? "met" : "missed",
    });
  }
  return goals;
}
