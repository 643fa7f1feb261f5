/**
 * Checking a history for linearizability against a model.
 *
 * `fail` operations are dropped (they did not happen), the model splits the
 * rest into independent partitions (P-compositionality: a history is
 * linearizable iff each per-key part is), and each partition is searched
 * (see `search.ts`). The first illegal partition stops the check and is
 * shrunk to a small failing sub-history (see `minimize.ts`). A time budget
 * bounds the whole check: when it runs out the answer is `unknown`.
 *
 * Step budgets (`maxSteps`, `minimizeMaxSteps`) bound the same work by
 * counting search steps instead: with them and a clock that stands still
 * (`now: () => 0`, which turns the time budgets off), the result depends on
 * nothing but the history and the options, never on the machine's speed or
 * load (what tests want).
 *
 * @module
 */

import {
  type History,
  type HistoryEvent,
  isEventHistory,
  type Operation,
  toEvents,
  toOperations,
} from "./history.ts";
import { explain, minimize } from "./minimize.ts";
import { type Model, type Partition, show, UNKNOWN } from "./model.ts";
import { search, type SearchOp } from "./search.ts";

/** Options of {@link check}. */
export interface CheckOptions {
  /**
   * Budget for the search, in milliseconds (default 10 000). When it runs
   * out the result is `unknown` (unless a partition was already illegal).
   */
  timeoutMs?: number;
  /** Shrink an illegal partition to a small witness (default true). */
  minimize?: boolean;
  /**
   * Budget for shrinking, in milliseconds, after the search (default: the
   * smaller of 2 000 and `timeoutMs`).
   */
  minimizeTimeoutMs?: number;
  /**
   * Budget for the search, in search steps over all partitions (default
   * unlimited). Like the clock it is looked at every `checkEvery` steps, so
   * a partition may overrun it by less than that (and a small one is still
   * decided after it ran out). When it runs out the result is `unknown`
   * (unless a partition was already illegal).
   */
  maxSteps?: number;
  /**
   * Budget for shrinking, in search steps over all its checks (default
   * unlimited). When it runs out the witness is not `minimal`.
   */
  minimizeMaxSteps?: number;
  /**
   * The clock (default `performance.now()`). One that stands still
   * (`() => 0`) turns the time budgets off: the step budgets alone bound
   * the check, and the result no longer depends on the machine's speed.
   */
  now?: () => number;
  /** Read the clock every this many search steps (a power of two, default 1024). */
  checkEvery?: number;
}

/** An operation of a report, with its description. */
export interface DescribedOperation extends Operation {
  /** The model's description, e.g. `write(x, 5)`. */
  label: string;
}

/** Why a history is illegal. */
export interface Failure {
  /** The partition (key, lock) that is not linearizable. */
  key: string;
  /** The failing sub-history, as operations sorted by invocation. */
  operations: DescribedOperation[];
  /** The failing sub-history, as events. */
  history: HistoryEvent[];
  /** How many operations the partition had. */
  partitionSize: number;
  /**
   * Whether the sub-history is honest and 1-minimal: it cannot be
   * linearized whether or not each other operation of the partition took
   * effect (as recorded, within its time window), and dropping any one of
   * its operations (with the source of a value it alone observed) makes it
   * linearizable that way. False when the minimization budget ran out or
   * minimization was off: it is then illegal by itself, and may be larger
   * than needed or be explained by an operation left out. It may hold
   * operations of unknown outcome (`info`) that produced a value it
   * observes.
   */
  minimal: boolean;
  /**
   * The operations of the sub-history in the longest partial linearization
   * found (other operations of the partition may be interleaved).
   */
  linearized: DescribedOperation[];
  /** How many other operations of the partition that linearization uses. */
  othersLinearized: number;
  /** The model state after that linearization. */
  state: string;
  /** The operation that completed before it could be linearized. */
  blocked?: DescribedOperation;
}

/** The verdict of {@link check}. */
export interface CheckResult {
  /** `ok`: linearizable; `illegal`: not; `unknown`: the budget ran out. */
  result: "ok" | "illegal" | "unknown";
  /** The model's name. */
  model: string;
  /** How many partitions the history has. */
  partitions: number;
  /** How many were decided (linearizable, or the illegal one). */
  partitionsChecked: number;
  /** Partitions not decided within the budget. */
  unknownPartitions: string[];
  /** Operations checked (`fail` ones excluded). */
  operations: number;
  /** Search steps taken (minimization excluded). */
  steps: number;
  /** Search steps taken minimizing. */
  minimizeSteps: number;
  /** Time taken, in milliseconds (minimization included). */
  timeMs: number;
  /** Time spent minimizing, in milliseconds. */
  minimizeMs: number;
  /** For `illegal`: where and why. */
  failure?: Failure;
}

/**
 * Checks `history` (events, or paired operations) against `model`.
 *
 * ```ts
 * const result = check(recorder.events(), registerModel(), { timeoutMs: 5000 });
 * if (result.result !== "ok") console.log(formatReport(result));
 * ```
 */
export function check<State, Input, Output>(
  history: History | readonly Operation[],
  model: Model<State, Input, Output>,
  options: CheckOptions = {},
): CheckResult {
  const now = options.now ?? (() => performance.now());
  const t0 = now();
  const timeoutMs = options.timeoutMs ?? 10_000;
  const deadline = t0 + timeoutMs;
  const maxSteps = options.maxSteps ?? Infinity;
  const all = isEventHistory(history)
    ? toOperations(history)
    : (history as readonly Operation[]).slice();
  const ops = all.filter((o) => o.status !== "fail");
  for (const o of ops) {
    if (o.status === "ok" && !(o.end >= o.start)) {
      throw new RangeError(
        `Operation ${o.id} completes (${o.end}) before it is invoked (${o.start})`,
      );
    }
  }
  const parts: Partition<Input, Output>[] = model.partition
    ? model.partition(ops)
    : [{
      key: "",
      entries: ops.map((o) => ({
        operation: o,
        input: o.op as Input,
        output: o.result as Output,
      })),
    }];
  const positions = ops.every((o) => o.startIndex !== undefined);
  const describe = (o: Operation): DescribedOperation => ({
    ...o,
    label: model.describe ? model.describe(o) : defaultDescribe(o),
  });

  const result: CheckResult = {
    result: "ok",
    model: model.name,
    partitions: parts.length,
    partitionsChecked: 0,
    unknownPartitions: [],
    operations: ops.length,
    steps: 0,
    minimizeSteps: 0,
    timeMs: 0,
    minimizeMs: 0,
  };
  for (let p = 0; p < parts.length; p++) {
    const part = parts[p];
    const sops: SearchOp<Input, Output>[] = part.entries.map((e) => {
      const o = e.operation;
      const known = o.status === "ok";
      return {
        input: e.input,
        output: known ? e.output : UNKNOWN,
        required: known,
        start: o.start,
        end: known ? o.end : Infinity,
        startTie: positions ? o.startIndex! : -1,
        endTie: positions && known ? o.endIndex ?? 1 : 1,
      };
    });
    const r = search(model, sops, {
      now,
      deadline,
      maxSteps: Math.max(0, maxSteps - result.steps),
      checkEvery: options.checkEvery,
    });
    result.steps += r.steps;
    if (r.result === "ok") {
      result.partitionsChecked++;
      continue;
    }
    if (r.result === "unknown") {
      result.unknownPartitions.push(part.key);
      continue;
    }
    // Illegal: shrink, explain, stop.
    result.partitionsChecked++;
    result.result = "illegal";
    const m0 = now();
    let witness = r.relevant !== undefined && r.relevant.length > 0
      ? r.relevant.filter((i) => sops[i].required)
      : sops.map((_, i) => i).filter((i) => sops[i].required);
    let minimal = false;
    if (options.minimize ?? true) {
      const budget = options.minimizeTimeoutMs ?? Math.min(2000, timeoutMs);
      const mz = minimize(model, sops, r.relevant, {
        now,
        deadline: m0 + budget,
        maxStepsPerTest: Infinity,
        maxSteps: options.minimizeMaxSteps,
        checkEvery: options.checkEvery,
      });
      witness = mz.witness;
      minimal = mz.minimal;
      result.minimizeSteps = mz.steps;
    }
    // A short explanation budget: it falls back to the witness alone.
    const why = explain(model, sops, witness, {
      now,
      deadline: now() + 200,
      maxSteps: 100_000,
      checkEvery: options.checkEvery,
    });
    const inWitness = new Set(witness);
    const described = witness.map((i) => describe(part.entries[i].operation));
    described.sort((a, b) =>
      a.start - b.start || (a.startIndex ?? 0) - (b.startIndex ?? 0)
    );
    const byIndex = (i: number) => describe(part.entries[i].operation);
    const order = why?.order ?? [];
    result.failure = {
      key: part.key,
      operations: described,
      history: toEvents(described.map(stripLabel)),
      partitionSize: part.entries.length,
      minimal,
      linearized: order.filter((i) => inWitness.has(i)).map(byIndex),
      othersLinearized: order.filter((i) => !inWitness.has(i)).length,
      state: (model.describeState ?? show)(why ? why.state : model.init()),
      blocked: why ? byIndex(why.blocked) : undefined,
    };
    result.minimizeMs = now() - m0;
    break;
  }
  if (result.result === "ok" && result.unknownPartitions.length > 0) {
    result.result = "unknown";
  }
  result.timeMs = now() - t0;
  return result;
}

function stripLabel(o: DescribedOperation): Operation {
  const { label: _label, ...rest } = o;
  return rest;
}

function defaultDescribe(o: Operation): string {
  const args: string[] = [];
  for (const [k, v] of Object.entries(o.op)) {
    if (k !== "f") args.push(show(v));
  }
  let s = `${o.op.f}(${args.join(", ")})`;
  if (o.status === "ok" && o.result !== undefined) s += ` → ${show(o.result)}`;
  if (o.status === "info") s += " → ?";
  return s;
}
