/**
 * Shrinking an illegal partition to a small failing sub-history.
 *
 * A sub-history S of the required (`ok`) operations is an honest witness
 * when it stays illegal even if every other operation of the partition is
 * allowed to have happened as recorded (within its time window) or not at
 * all. A read of value 1 is then never reported alone as "read a value
 * nobody wrote" while the write of 1 is merely hidden. Weakening operations
 * only adds linearizations, so an honest witness is illegal on its own and
 * proves the whole history illegal.
 *
 * Witnesses are also closed under the model's `observes`/`produces`: with
 * each operation that observes a value (a read of 1), an operation that
 * produces it (the write of 1 that began last before the read ended) is
 * kept, so a report shows where values came from. Such a source may be an
 * operation of unknown outcome (a timed-out write); it stays optional.
 *
 * Checking honesty is expensive (every other operation becomes optional,
 * which multiplies the states the search explores), so shrinking runs in
 * two phases, each check a linearizability search, all within the budget:
 *
 * 1. Candidates are the required operations invoked no later than the
 *    furthest entry the failed search looked at (it never looked further,
 *    so they alone are illegal). Delta debugging (ddmin, by complements,
 *    down to single operations, then dropping single operations of the
 *    closure while that shrinks it) shrinks them, a check being: is the
 *    closed set illegal with every other operation dropped, except the
 *    sources of its sources, which are optional? These checks are cheap.
 * 2. The result is checked for honesty, first cheaply by cutting the
 *    history at one of its invocations (see `provenAfterCut`), else by a
 *    full search. If honest, it is 1-minimal among closed witnesses too (a
 *    set that is linearizable with some operations optional is linearizable
 *    with all of them optional). If not (dropping an operation created the
 *    failure, e.g. a write that made a CAS fail), shrinking restarts from
 *    the candidates with honesty checks: first a binary search for the
 *    longest prefix (by completion) that can be weakened, then ddmin.
 *
 * When the budget (time, or search steps over all checks) runs out, the
 * smallest witness found so far is returned: illegal with the sources of
 * its sources optional, maybe not honest.
 *
 * @module
 */

import type { Model } from "./model.ts";
import {
  search,
  type SearchLimits,
  type SearchOp,
  type SearchResult,
} from "./search.ts";

/** What minimization produced. */
export interface Minimized {
  /** Indices (into the partition's operations) of the witness, ascending. */
  witness: number[];
  /**
   * Whether the witness is honest and 1-minimal. When false (the budget ran
   * out) the witness is still illegal with the sources of its sources
   * optional (see the module documentation).
   */
  minimal: boolean;
  /** Checks run. */
  tests: number;
  /** Search steps taken by all checks. */
  steps: number;
}

/** Limits of a minimization. */
export interface MinimizeLimits {
  /** The clock (milliseconds). */
  now: () => number;
  /** Stop at this clock reading. */
  deadline: number;
  /** Steps allowed per check. */
  maxStepsPerTest: number;
  /**
   * Steps allowed over all checks (default unlimited): a budget that, unlike
   * the deadline, does not depend on the machine's speed.
   */
  maxSteps?: number;
  /** Read the clock every this many search steps. */
  checkEvery?: number;
}

/**
 * Shrinks an illegal partition. `ops` are its search operations (as in the
 * failed search), `relevant` the indices that search reported.
 */
export function minimize<State, Input, Output>(
  model: Model<State, Input, Output>,
  ops: readonly SearchOp<Input, Output>[],
  relevant: readonly number[] | undefined,
  limits: MinimizeLimits,
): Minimized {
  const candidates =
    (relevant !== undefined && relevant.length > 0
      ? relevant
      : ops.map((_, i) => i)).filter((i) => ops[i].required);
  let tests = 0;
  let steps = 0;
  const maxSteps = limits.maxSteps ?? Infinity;
  let outOfBudget = false;
  const budgetLeft = (): boolean => {
    if (
      !outOfBudget && (steps >= maxSteps || limits.now() > limits.deadline)
    ) {
      outOfBudget = true;
    }
    return !outOfBudget;
  };
  /** One search within what is left of both budgets. */
  const run: Run<State, Input, Output> = (from, sub) => {
    const r = search(from, sub, {
      now: limits.now,
      deadline: limits.deadline,
      maxSteps: Math.min(limits.maxStepsPerTest, Math.max(0, maxSteps - steps)),
      checkEvery: limits.checkEvery,
    });
    steps += r.steps;
    return r;
  };

  // Who observes and produces which values. Operations of unknown outcome
  // may be sources too (a read of a timed-out write's value).
  const producers = new Map<string | number, number[]>();
  const observed: (readonly (string | number)[])[] = ops.map(() => []);
  if (model.observes !== undefined && model.produces !== undefined) {
    for (let i = 0; i < ops.length; i++) {
      const o = ops[i];
      const out = o.output as Output;
      observed[i] = model.observes(o.input, out);
      const p = model.produces(o.input, out);
      if (p === undefined) continue;
      const list = producers.get(p);
      if (list === undefined) producers.set(p, [i]);
      else list.push(i);
    }
  }
  // For each observation, the producer that started last before the
  // observer completed (values are usually unique; for a value written
  // many times, such as "absent", the nearest write explains it best).
  const source = (i: number, v: string | number): number | undefined => {
    let best: number | undefined;
    for (const p of producers.get(v) ?? []) {
      if (p === i || ops[p].start > ops[i].end) continue;
      if (best === undefined || ops[p].start > ops[best].start) best = p;
    }
    return best;
  };
  const sources: (readonly number[])[] = observed.map((vs, i) => {
    const out: number[] = [];
    for (const v of vs) {
      const p = source(i, v);
      if (p !== undefined) out.push(p);
    }
    return out;
  });
  // One level only: a chain of CAS would otherwise drag in its history.
  const close = (set: readonly number[]): number[] => {
    const out = new Set(set);
    for (const i of set) for (const p of sources[i]) out.add(p);
    return [...out].sort((a, b) => a - b);
  };

  // `req` sets hold required operations and the sources closing them
  // (operations of unknown outcome among them stay optional).
  /**
   * Is `req` (closed) illegal with every other operation dropped, except
   * the sources of sources (transitively), which are optional? (Without
   * them a CAS kept as the source of a read would fail for want of the
   * value it expected, an artefact of dropping.)
   */
  const illegalAlone = (req: readonly number[]): boolean => {
    if (!budgetLeft()) return false;
    tests++;
    const inReq = new Set(req);
    const seen = new Set(req);
    const queue = req.slice();
    const sub = req.map((i) => ops[i]);
    while (queue.length > 0) {
      for (const p of sources[queue.pop()!]) {
        if (seen.has(p)) continue;
        seen.add(p);
        queue.push(p);
        if (!inReq.has(p)) sub.push({ ...ops[p], required: false });
      }
    }
    return run(model, sub).result === "illegal";
  };
  /** Is `req` (closed) illegal with every other operation optional? */
  const illegalHonest = (req: readonly number[]): boolean => {
    if (!budgetLeft()) return false;
    tests++;
    // Cheap proofs first: cut the history at an invocation of `req`.
    const starts = [
      ...new Set(req.filter((i) => ops[i].required).map((i) => ops[i].start)),
    ].sort((a, b) => b - a);
    for (const cut of starts.slice(0, -1)) {
      if (!budgetLeft()) return false;
      if (provenAfterCut(model, ops, req, cut, run, budgetLeft)) return true;
    }
    const { sub } = withOthersOptional(ops, req);
    return run(model, sub).result === "illegal";
  };

  // Phase 1: cheap checks. Whatever happens next, `quick` is illegal alone
  // (but for the sources of its sources).
  const quick = ddmin(candidates, close, illegalAlone, budgetLeft);
  if (!budgetLeft()) return { witness: quick, minimal: false, tests, steps };
  if (illegalHonest(quick)) {
    return { witness: quick, minimal: true, tests, steps };
  }
  if (!budgetLeft()) return { witness: quick, minimal: false, tests, steps };

  // Phase 2: honest checks. Weaken the longest prefix first.
  const req = candidates.slice().sort((a, b) =>
    ops[a].end - ops[b].end || ops[a].endTie - ops[b].endTie
  );
  let lo = 0;
  let hi = req.length - 1;
  while (lo < hi && budgetLeft()) {
    const mid = (lo + hi + 1) >> 1;
    if (illegalHonest(close(req.slice(mid)))) lo = mid;
    else hi = mid - 1;
  }
  const honest = ddmin(req.slice(lo), close, illegalHonest, budgetLeft);
  if (!budgetLeft() && honest.length > quick.length) {
    // Out of time: the smaller witness, illegal alone, reads better.
    return { witness: quick, minimal: false, tests, steps };
  }
  return { witness: honest, minimal: budgetLeft(), tests, steps };
}

/** Runs one search of a minimization, within its budgets. */
type Run<State, Input, Output> = (
  model: Model<State, Input, Output>,
  ops: SearchOp<Input, Output>[],
) => SearchResult<State>;

/**
 * The search operations of `req` (required) and of every other operation
 * (optional) that could matter: those invoked before the last completion
 * of `req`. `index` maps positions in `sub` back to `ops`.
 */
function withOthersOptional<Input, Output>(
  ops: readonly SearchOp<Input, Output>[],
  req: readonly number[],
): { sub: SearchOp<Input, Output>[]; index: number[] } {
  const set = new Set(req);
  let lastEnd = -Infinity;
  for (const i of set) if (ops[i].end > lastEnd) lastEnd = ops[i].end;
  const sub: SearchOp<Input, Output>[] = [];
  const index: number[] = [];
  for (let i = 0; i < ops.length; i++) {
    if (set.has(i)) sub.push(ops[i]);
    else if (ops[i].start <= lastEnd) sub.push({ ...ops[i], required: false });
    else continue;
    index.push(i);
  }
  return { sub, index };
}

/** The most states a cut may over-approximate the past with. */
const CUT_STATES = 2000;

/**
 * A cheap, sufficient test that `req` is illegal with every other operation
 * optional. Take the operations invoked before `cut`: in any linearization,
 * the ones placed before the first operation invoked at or after `cut` all
 * belong to them, and include every required operation of `req` that
 * completed before `cut`; so the state there is one reachable by applying
 * some of them, those included, in some order. Over-approximate that set
 * by applying them in every order (a closure that tracks which of those
 * required ones were applied, given up beyond {@link CUT_STATES}). Then the
 * rest of any linearization is a run, from one of those states, of the
 * operations completing at or after `cut`, with the ones of `req` invoked
 * at or after `cut` required and all others optional. If no such run
 * exists from any state, `req` is illegal. The searches cover only the
 * operations after `cut`, so they are small when `cut` is late.
 */
function provenAfterCut<State, Input, Output>(
  model: Model<State, Input, Output>,
  ops: readonly SearchOp<Input, Output>[],
  req: readonly number[],
  cut: number,
  run: Run<State, Input, Output>,
  more: () => boolean,
): boolean {
  const inReq = new Set(req);
  const before: number[] = [];
  for (let i = 0; i < ops.length; i++) if (ops[i].start < cut) before.push(i);
  // Required operations of `req` that completed before the cut happened
  // before it: only states reached through all of them count.
  const pre = new Map<number, number>();
  for (const i of req) {
    if (ops[i].required && ops[i].end < cut) pre.set(i, pre.size);
  }
  if (pre.size > 12) return false;
  const all = (1 << pre.size) - 1;
  // Reachable (state, which of `pre` happened) pairs, over-approximated.
  const equal = model.equal ?? ((a: State, b: State) => Object.is(a, b));
  const hash = model.hash ?? ((s: State) => JSON.stringify(s) ?? "");
  const seen = new Map<string, State[]>();
  const states: State[] = [];
  const masks: number[] = [];
  const add = (s: State, mask: number): boolean => {
    const h = `${hash(s)}/${mask}`;
    const list = seen.get(h);
    if (list !== undefined && list.some((t) => equal(t, s))) return true;
    if (list === undefined) seen.set(h, [s]);
    else list.push(s);
    states.push(s);
    masks.push(mask);
    return states.length <= CUT_STATES;
  };
  add(model.init(), 0);
  for (let k = 0; k < states.length; k++) {
    if (!more()) return false;
    for (const i of before) {
      const o = ops[i];
      const r = model.step(states[k], o.input, o.output);
      if (!r.ok) continue;
      const bit = pre.get(i);
      if (!add(r.state, bit === undefined ? masks[k] : masks[k] | 1 << bit)) {
        return false;
      }
    }
  }
  // Runs after the cut.
  let lastEnd = -Infinity;
  for (const i of req) if (ops[i].end > lastEnd) lastEnd = ops[i].end;
  const sub: SearchOp<Input, Output>[] = [];
  for (let i = 0; i < ops.length; i++) {
    const o = ops[i];
    if (o.end < cut || o.start > lastEnd) continue;
    const must = inReq.has(i) && o.required && o.start >= cut;
    sub.push(must === o.required ? o : { ...o, required: must });
  }
  for (let k = 0; k < states.length; k++) {
    if (masks[k] !== all) continue;
    const s0 = states[k];
    const from: Model<State, Input, Output> = Object.create(model, {
      init: { value: () => s0 },
    });
    if (run(from, sub).result !== "illegal") return false;
  }
  return true;
}

/** The longest partial linearization of a witness, in `ops` indices. */
export interface Explanation<State> {
  /** The operations linearized, in order (witness and others). */
  order: number[];
  /** The state after them. */
  state: State;
  /** The witness operation that completed before it could be linearized. */
  blocked: number;
}

/**
 * Explains why `witness` is illegal: the longest partial linearization the
 * search finds with every other operation optional (`honest`), or, if that
 * cannot finish within `limits`, with the witness alone.
 */
export function explain<State, Input, Output>(
  model: Model<State, Input, Output>,
  ops: readonly SearchOp<Input, Output>[],
  witness: readonly number[],
  limits: SearchLimits,
): Explanation<State> | undefined {
  const { sub, index } = withOthersOptional(ops, witness);
  const r = search(model, sub, { ...limits, trackLongest: true });
  if (r.result === "illegal" && r.longest !== undefined) {
    return {
      order: r.longest.order.map((i) => index[i]),
      state: r.longest.state,
      blocked: index[r.longest.blocked],
    };
  }
  const alone = search(model, witness.map((i) => ops[i]), {
    ...limits,
    deadline: Infinity,
    maxSteps: Infinity,
    trackLongest: true,
  });
  if (alone.longest === undefined) return undefined;
  return {
    order: alone.longest.order.map((i) => witness[i]),
    state: alone.longest.state,
    blocked: witness[alone.longest.blocked],
  };
}

/**
 * Delta debugging by complements: shrinks the generator set `set` while
 * `test(close(set))` holds, down to single elements unless `more()` says
 * time is up; then drops single elements of the closure itself while that
 * shrinks it (a producer kept only for an observer that is gone). Returns
 * the closed witness. `test(close(set))` is assumed true.
 */
function ddmin(
  set: readonly number[],
  close: (s: readonly number[]) => number[],
  test: (s: readonly number[]) => boolean,
  more: () => boolean,
): number[] {
  let current = set.slice();
  let n = 2;
  while (current.length >= 2 && more()) {
    const size = Math.ceil(current.length / n);
    let reduced = false;
    for (let start = 0; start < current.length && more(); start += size) {
      const complement = current.slice(0, start).concat(
        current.slice(start + size),
      );
      if (complement.length > 0 && test(close(complement))) {
        current = complement;
        n = Math.max(n - 1, 2);
        reduced = true;
        break;
      }
    }
    if (reduced) continue;
    if (n >= current.length) break;
    n = Math.min(n * 2, current.length);
  }
  let witness = close(current);
  let shrunk = true;
  while (shrunk && more()) {
    shrunk = false;
    for (const x of witness) {
      const smaller = close(witness.filter((y) => y !== x));
      if (smaller.length < witness.length && test(smaller)) {
        witness = smaller;
        shrunk = true;
        break;
      }
    }
  }
  return witness;
}
