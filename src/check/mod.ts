/**
 * History recording and linearizability checking (pure TypeScript, no I/O).
 *
 * Record what clients did, then check it against a model:
 *
 * ```ts
 * import {
 *   check,
 *   formatReport,
 *   HistoryRecorder,
 *   registerModel,
 * } from "./mod.ts";
 *
 * const rec = new HistoryRecorder();
 * const w = rec.invoke("c1", { f: "write", key: "x", value: "1" });
 * rec.ok(w);
 * const r = rec.invoke("c2", { f: "read", key: "x" });
 * rec.ok(r, "1");
 * const result = check(rec.events(), registerModel(), { timeoutMs: 5000 });
 * console.log(formatReport(result));
 * ```
 *
 * The checker is a Wing–Gong / Lowe / Porcupine search (depth-first over
 * linearization points, with a cache of (linearized set, state)
 * configurations) applied per partition (per key, per lock); an illegal
 * partition is shrunk to a small failing sub-history by delta debugging.
 * Models: {@link registerModel} (read, write, CAS, delete per key),
 * {@link lockModel} (acquire, release, fenced writes, fencing tokens; its
 * module documentation says exactly what it guarantees), and the
 * coordination recipes on {@link grantModel}: {@link electionModel} (one
 * leader), {@link semaphoreModel} (permits within the limit) and
 * {@link rwlockModel} (readers or one writer); write your own
 * with the {@link Model} interface. Lease timing, which the lock model leaves
 * free, is checked apart by {@link checkLeaseTiming} against the clients'
 * clocks.
 *
 * Semantics: `fail` operations did not happen and are dropped; `info` ones
 * (and invocations never completed) may have happened at any instant after
 * their invocation, or never. An operation precedes another when it
 * completed before the other was invoked (events of equal time: by their
 * order in the history).
 *
 * Cost: O(n log n) to sort, then per partition a search whose steps are
 * about n · c for histories of a correct system (c: operations concurrent
 * on that key), exponential in c in the worst case (the problem is
 * NP-complete). Measured on generated register histories (30 clients over
 * 10 keys, 2% timed-out and 2% refused operations): 3 000–10 000
 * operations check in 10–120 ms (about 100 000–400 000 operations a
 * second). Contention on one key is what costs: 20 writers racing on a
 * single key with few reads can exhaust the budget. Always pass a
 * `timeoutMs`; the answer is then `unknown` rather than a hang. For an
 * answer that does not depend on the machine's speed (tests), bound the
 * search and the shrinking in steps instead (`maxSteps`,
 * `minimizeMaxSteps`) with a clock that stands still (`now: () => 0`).
 *
 * @module
 */

export {
  type ClientId,
  type CompletionEvent,
  type FailEvent,
  type History,
  type HistoryEvent,
  HistoryRecorder,
  type HistoryRecorderOptions,
  type InfoEvent,
  type InvokeEvent,
  isEventHistory,
  type OkEvent,
  type Op,
  type Operation,
  type Status,
  toEvents,
  toOperations,
} from "./history.ts";
export { parseEvent, parseHistory, stringifyHistory } from "./json.ts";
export {
  canonicalJson,
  type Model,
  type Partition,
  type PartitionEntry,
  type StepResult,
  UNKNOWN,
  type Unknown,
} from "./model.ts";
export {
  describeRegisterOp,
  type RegisterInput,
  type RegisterModel,
  registerModel,
  type RegisterModelOptions,
  type RegisterOutput,
} from "./register.ts";
export {
  ALL_LOCKS,
  describeLockOp,
  LOCK_FUNCTIONS,
  type LockInput,
  lockModel,
  type LockModelOptions,
  type LockOutput,
  type LockState,
  tokenOf,
} from "./lock.ts";
export {
  type GrantCode,
  type GrantHolder,
  type GrantInput,
  grantModel,
  type GrantModelOptions,
  type GrantOp,
  type GrantOutput,
  type GrantPoint,
  type GrantSpec,
  type GrantState,
  grantTokenOf,
  RECIPE_FUNCTIONS,
} from "./grants.ts";
export { describeElectionOp, electionModel } from "./election.ts";
export { describeSemaphoreOp, semaphoreModel } from "./semaphore.ts";
export { describeRwlockOp, rwlockModel } from "./rwlock.ts";
export {
  check,
  type CheckOptions,
  type CheckResult,
  type DescribedOperation,
  type Failure,
} from "./checker.ts";
export { formatReport, formatTable, formatTimeline } from "./report.ts";
export {
  checkLeaseTiming,
  formatTimingReport,
  type TimingAnomaly,
  type TimingAnomalyKind,
  type TimingOptions,
  type TimingResult,
} from "./timing.ts";
export {
  type Longest,
  search,
  type SearchLimits,
  type SearchOp,
  type SearchResult,
} from "./search.ts";
