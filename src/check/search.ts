/**
 * The linearizability search over one partition: Wing & Gong's depth-first
 * search over linearization points with Lowe's improvements ("Testing for
 * linearizability", 2017: linearize only what is pending before the first
 * pending completion, and cache configurations), as in Porcupine, plus
 * pruning for operations of unknown outcome.
 *
 * The invocations and completions of the operations form a doubly linked
 * list in real-time order. Scanning it from the head, the search tries to
 * linearize each pending invocation it meets (the model must accept the
 * operation's output in the current state); a linearized operation is
 * unlinked (both of its entries) and the scan restarts at the head. Meeting
 * a completion means that operation had to be linearized by now: backtrack
 * to the last choice and try the next invocation after it. A configuration
 * (set of decided operations as a bitset, model state) seen before is never
 * explored twice: the cache is keyed by an incremental (Zobrist) hash of the
 * bitset mixed with the state's hash, and entries compare exactly.
 *
 * Read-only operations. An operation the model calls read-only (a read, a
 * failed CAS), met where it is legal and changes nothing, is linearized
 * there without trying the alternative of linearizing it later: any
 * successful completion that places it later still works with it moved here
 * (it changes no state there either, and nothing that must precede it is
 * pending, since the scan met its invocation before any pending
 * completion). This removes the 2^k blow-up of k concurrent reads.
 *
 * Optional operations (outcome unknown) may or may not happen: the search
 * succeeds once every required operation is linearized, so an `info`
 * operation (completion at +infinity) is linearized only where it helps; an
 * optional operation with a finite completion (minimization uses them) is
 * skipped when its completion is reached. Unchecked, every subset of them
 * would be tried in every order. So:
 *
 * - each scan tries required operations first, then optional ones;
 * - a configuration is dominated by an explored (failed) one with the same
 *   required operations and state and a subset of its optional ones:
 *   whatever completes from it completes from there, leaving the extra
 *   optional operations out; the last few such configurations per key are
 *   compared;
 * - after an optional operation o, an operation whose step gives the same
 *   state as it would without o is not tried: the configuration is
 *   dominated by its sibling without o, which the search tries anyway (a
 *   timed-out write overwritten before anything saw it is pointless);
 * - an optional operation that changes nothing is not tried;
 * - when a required operation is illegal, an optional one that would make
 *   it legal is tried first (the timed-out write whose value a read saw);
 * - interchangeable optional operations (no end, equal inputs: many
 *   timed-out acquires) are used in order of invocation only.
 *
 * Cost: sorting the 2n entries is O(n log n). Each configuration is
 * expanded once; an expansion scans the pending invocations before the
 * first pending completion (at most the number of operations concurrent
 * there, c, plus pending `info` ones), steps the model and hashes in O(1);
 * a new cache entry copies the bitset (n/32 words). In the worst case (the
 * problem is NP-complete) the configurations number O(n · 2^w · |states|),
 * w the number of concurrent state-changing operations; for histories of a
 * correct system with moderate concurrency per partition the search rarely
 * backtracks and takes about O(n · c) steps. Memory: one cache entry per
 * configuration.
 *
 * @module
 */

import {
  defaultEqual,
  defaultHash,
  hashNumber,
  hashString,
  type Model,
  UNKNOWN,
  type Unknown,
} from "./model.ts";

/** One operation of a search. */
export interface SearchOp<Input, Output> {
  /** The model input. */
  input: Input;
  /** The model output, or UNKNOWN. */
  output: Output | Unknown;
  /** Whether it must be linearized (an `ok` operation). */
  required: boolean;
  /** Invocation time. */
  start: number;
  /** Completion time (Infinity when unknown). */
  end: number;
  /** Tie-breaker of the invocation among equal times (lower first). */
  startTie: number;
  /** Tie-breaker of the completion among equal times (lower first). */
  endTie: number;
}

/** Limits of a search. */
export interface SearchLimits {
  /** The clock (milliseconds). */
  now: () => number;
  /** Give up ("unknown") after this clock reading. */
  deadline: number;
  /** Give up after this many steps (default unlimited). */
  maxSteps?: number;
  /** Read the clock every this many steps (a power of two; default 1024). */
  checkEvery?: number;
  /** Record the longest partial linearization (for explanations). */
  trackLongest?: boolean;
}

/** The longest partial linearization a failed search found. */
export interface Longest<State> {
  /** Indices of the operations linearized, in order. */
  order: number[];
  /** The model state after them. */
  state: State;
  /** The operation whose completion came before it could be linearized. */
  blocked: number;
}

/** What a search found. */
export interface SearchResult<State> {
  /** The verdict. */
  result: "ok" | "illegal" | "unknown";
  /** Search steps taken. */
  steps: number;
  /** Configurations cached. */
  cached: number;
  /** For `ok`: the operations linearized, in order (optional ones included when used). */
  linearization?: number[];
  /**
   * For `illegal`: indices of the operations invoked no later than the
   * furthest entry (invocation or completion) the search looked at. They
   * alone are already illegal: the search never looked further, so it runs
   * the same on them alone.
   */
  relevant?: number[];
  /** For `illegal` with `trackLongest`: the longest partial linearization. */
  longest?: Longest<State>;
}

const LIN = 0;
const SKIP = 1;
const FORCED = 2;

/** A small seeded PRNG for the Zobrist keys (deterministic runs). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return (t ^ (t >>> 14)) | 0;
  };
}

/** Checks one partition; see the module documentation. */
export function search<State, Input, Output>(
  model: Model<State, Input, Output>,
  ops: readonly SearchOp<Input, Output>[],
  limits: SearchLimits,
): SearchResult<State> {
  const m = ops.length;
  const n = 2 * m;
  // Entries 1..n in real-time order; 0 is the head sentinel; -1 is null.
  const order: number[] = new Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  const timeOf = (e: number) => e < m ? ops[e].start : ops[e - m].end;
  const tieOf = (e: number) => e < m ? ops[e].startTie : ops[e - m].endTie;
  order.sort((a, b) => {
    const ta = timeOf(a);
    const tb = timeOf(b);
    if (ta !== tb) return ta < tb ? -1 : 1;
    const ka = tieOf(a);
    const kb = tieOf(b);
    if (ka !== kb) return ka - kb;
    return a - b;
  });
  const next = new Int32Array(n + 1);
  const prev = new Int32Array(n + 1);
  const entOp = new Int32Array(n + 1);
  const entCall = new Uint8Array(n + 1);
  const callPos = new Int32Array(m);
  const retPos = new Int32Array(m);
  for (let p = 1; p <= n; p++) {
    const e = order[p - 1];
    const isCall = e < m;
    const op = isCall ? e : e - m;
    entOp[p] = op;
    entCall[p] = isCall ? 1 : 0;
    if (isCall) callPos[op] = p;
    else retPos[op] = p;
    prev[p] = p - 1;
    next[p - 1] = p;
  }
  next[n] = -1;
  for (let i = 0; i < m; i++) {
    if (callPos[i] > retPos[i]) {
      throw new RangeError(`Operation ${i} completes before it is invoked`);
    }
  }

  const inputs = ops.map((o) => o.input);
  const outputs = ops.map((o) => o.output);
  const readOnly = new Uint8Array(m);
  if (model.readOnly !== undefined) {
    for (let i = 0; i < m; i++) {
      const out = outputs[i];
      if (out !== UNKNOWN && model.readOnly(inputs[i], out as Output)) {
        readOnly[i] = 1;
      }
    }
  }
  const endless = new Uint8Array(m);
  for (let i = 0; i < m; i++) if (ops[i].end === Infinity) endless[i] = 1;
  const required = new Uint8Array(m);
  let remaining = 0;
  for (let i = 0; i < m; i++) {
    if (ops[i].required) {
      required[i] = 1;
      remaining++;
    }
  }
  // Which operations may make an operation legal: those producing a value
  // it observes (when the model says).
  let enablers: number[][] | undefined;
  if (model.observes !== undefined && model.produces !== undefined) {
    const producers = new Map<string | number, number[]>();
    for (let i = 0; i < m; i++) {
      const v = model.produces(inputs[i], outputs[i]);
      if (v === undefined) continue;
      const list = producers.get(v);
      if (list === undefined) producers.set(v, [i]);
      else list.push(i);
    }
    enablers = [];
    for (let i = 0; i < m; i++) {
      const out: number[] = [];
      if (required[i] === 1) {
        for (const v of model.observes(inputs[i], outputs[i])) {
          for (const p of producers.get(v) ?? []) if (p !== i) out.push(p);
        }
      }
      enablers.push(out);
    }
  }
  // The scan pass an operation belongs to (see the main loop).
  const kind = new Uint8Array(m);
  for (let i = 0; i < m; i++) {
    kind[i] = required[i] === 0 ? 2 : readOnly[i] === 1 ? 0 : 1;
  }

  // Interchangeable operations: optional, without an end or a known
  // output, with equal inputs (say, many timed-out acquires). Only the earliest pending one
  // of a class is ever linearized: any completion using a later one works
  // with the earliest instead, so the others would only repeat the search.
  const klass = new Int32Array(m).fill(-1);
  const members: number[][] = [];
  {
    const ids = new Map<string, number>();
    const byStart = [...Array(m).keys()].sort((a, b) =>
      callPos[a] - callPos[b]
    );
    for (const i of byStart) {
      if (required[i] === 1 || endless[i] === 0 || outputs[i] !== UNKNOWN) {
        continue;
      }
      let key: string;
      try {
        key = JSON.stringify(inputs[i]) ?? "";
      } catch {
        continue;
      }
      let c = ids.get(key);
      if (c === undefined) {
        c = members.length;
        ids.set(key, c);
        members.push([]);
      }
      klass[i] = c;
      members[c].push(i);
    }
  }
  const used = new Int32Array(members.length);
  /** Whether `op` may be linearized now (it leads its class, if any). */
  const leads = (op: number): boolean => {
    const c = klass[op];
    return c < 0 || members[c][used[c]] === op;
  };

  const lift = (op: number) => {
    if (klass[op] >= 0) used[klass[op]]++;
    const c = callPos[op];
    next[prev[c]] = next[c];
    if (next[c] !== -1) prev[next[c]] = prev[c];
    const r = retPos[op];
    next[prev[r]] = next[r];
    if (next[r] !== -1) prev[next[r]] = prev[r];
  };
  const unlift = (op: number) => {
    if (klass[op] >= 0) used[klass[op]]--;
    const r = retPos[op];
    if (next[r] !== -1) prev[next[r]] = r;
    next[prev[r]] = r;
    const c = callPos[op];
    if (next[c] !== -1) prev[next[c]] = c;
    next[prev[c]] = c;
  };

  // Configuration cache. A configuration is (decided operations, state).
  // Exact lookups hash everything; dominance lookups (see `remember`) hash
  // the required operations and the state only.
  const words = Math.max(1, Math.ceil(m / 32));
  const bits = new Uint32Array(words);
  const reqMask = new Uint32Array(words);
  let optionalCount = 0;
  for (let i = 0; i < m; i++) {
    if (required[i] === 1) reqMask[i >>> 5] |= 1 << (i & 31);
    else optionalCount++;
  }
  const z1 = new Int32Array(m);
  const z2 = new Int32Array(m);
  const rand = rng(0x5eed ^ m);
  for (let i = 0; i < m; i++) {
    z1[i] = rand();
    z2[i] = rand();
  }
  // Hashes of the decided required (r) and optional (o) operations.
  let r1 = 0;
  let r2 = 0;
  let o1 = 0;
  let o2 = 0;
  const modelHash = model.hash;
  const stateHash = modelHash === undefined
    ? defaultHash as (s: State) => number
    : (s: State): number => {
      const h = modelHash(s);
      if (typeof h === "string") return hashString(h);
      return Number.isInteger(h) && h >= -0x80000000 && h <= 0x7fffffff
        ? h
        : hashNumber(h);
    };
  const equal = model.equal ?? defaultEqual;
  interface Cached {
    bits: Uint32Array;
    state: State;
    /** The dominance key (required operations and state). */
    key: number;
    more: Cached | undefined;
  }
  const mix = (a: number, b: number, sh: number): number =>
    ((a ^ Math.imul(sh, 0x85ebca6b)) >>> 0) * 0x200000 +
    ((b ^ Math.imul(sh, 0x27d4eb2f)) & 0x1fffff);
  const cache = new Map<number, Cached>();
  // Dominance key -> configurations explored completely (so failed).
  const failed = new Map<number, Cached[]>();
  /** How many failed configurations a dominance lookup compares. */
  const DOMINANCE_SCAN = 16;
  let cached = 0;
  const flip = (op: number) => {
    bits[op >>> 5] ^= 1 << (op & 31);
    if (required[op] === 1) {
      r1 ^= z1[op];
      r2 ^= z2[op];
    } else {
      o1 ^= z1[op];
      o2 ^= z2[op];
    }
  };
  /**
   * Adds the current configuration with `state`; undefined when it was
   * seen, or is dominated by a failed one: same required operations and
   * state, a subset of the optional ones. (Whatever completes from here
   * completes from there too, leaving the extra optional operations out.)
   */
  const remember = (state: State): Cached | undefined => {
    const sh = stateHash(state);
    const full = mix(r1 ^ o1, r2 ^ o2, sh);
    const head = cache.get(full);
    for (let c = head; c !== undefined; c = c.more) {
      let same = true;
      for (let w = 0; w < words; w++) {
        if (c.bits[w] !== bits[w]) {
          same = false;
          break;
        }
      }
      if (same && equal(c.state, state)) return undefined;
    }
    const key = optionalCount > 0 ? mix(r1, r2, sh) : 0;
    if (optionalCount > 0) {
      const list = failed.get(key);
      if (list !== undefined) {
        const stop = Math.max(0, list.length - DOMINANCE_SCAN);
        for (let k = list.length - 1; k >= stop; k--) {
          const c = list[k];
          let within = true;
          for (let w = 0; w < words; w++) {
            const e = c.bits[w];
            const x = bits[w];
            if (((e ^ x) & reqMask[w]) !== 0 || (e & ~x) !== 0) {
              within = false;
              break;
            }
          }
          if (within && equal(c.state, state)) return undefined;
        }
      }
    }
    const entry: Cached = { bits: bits.slice(), state, key, more: head };
    cache.set(full, entry);
    cached++;
    return entry;
  };
  /** Marks a configuration as explored completely. */
  const fail = (c: Cached) => {
    if (optionalCount === 0) return;
    const list = failed.get(c.key);
    if (list === undefined) failed.set(c.key, [c]);
    else list.push(c);
  };

  const stOp = new Int32Array(m);
  const stKind = new Uint8Array(m);
  const stState: State[] = new Array(m);
  const stEntry: (Cached | undefined)[] = new Array(m);
  // Where the scan resumes when a linearization is undone.
  const stResume = new Int32Array(m);
  const stPass = new Uint8Array(m);
  let depth = 0;
  const push = (
    op: number,
    how: number,
    before: State,
    e: Cached,
    resume: number,
    resumePass: number,
  ) => {
    stOp[depth] = op;
    stKind[depth] = how;
    stState[depth] = before;
    stEntry[depth] = e;
    stResume[depth] = resume;
    stPass[depth] = resumePass;
    depth++;
  };

  /**
   * Whether linearizing `op` here (giving `after`) is dominated by a
   * configuration the search explores anyway. Walk down the stack through
   * skipped operations and linearized optional ones: if `op` gives the same
   * state without such an optional operation o, this configuration is
   * dominated by the one that leaves o out (same required operations and
   * state, fewer optional ones), which the search reaches from the
   * configuration before o by the same skips — as long as leaving o out
   * does not change what the scan meets: o has no end, or is the last
   * choice and completes after this invocation.
   */
  const dominatedBySibling = (op: number, after: State): boolean => {
    const stop = Math.max(0, depth - 64);
    for (let d = depth - 1; d >= stop; d--) {
      const how = stKind[d];
      if (how === SKIP) continue;
      const o = stOp[d];
      if (how !== LIN || required[o] === 1) return false;
      if (
        endless[o] === 0 && !(d === depth - 1 && callPos[op] < retPos[o])
      ) {
        return false;
      }
      const r2 = model.step(stState[d], inputs[op], outputs[op]);
      if (r2.ok && (r2.state === after || equal(r2.state, after))) {
        return true;
      }
    }
    return false;
  };

  /**
   * A required operation `op` (at `entry`) is not legal here: linearize
   * first a pending operation that makes it legal (the write whose value a
   * read saw, maybe one that timed out), if there is one. This only tries
   * that alternative early; the scan resumes after `op` when it is undone,
   * and meets it again later in the cache.
   */
  const lookahead = (op: number): boolean => {
    if (enablers !== undefined) {
      for (const w of enablers[op]) {
        if (
          (bits[w >>> 5] & (1 << (w & 31))) !== 0 || kind[w] === 0 ||
          !leads(w) || !pendingInWindow(w) || !enable(w, op)
        ) continue;
        return true;
      }
      return false;
    }
    // Without the model's help: the optional operations in the window.
    for (let e2 = next[0]; e2 > 0 && entCall[e2] === 1; e2 = next[e2]) {
      const w = entOp[e2];
      if (required[w] === 1 || !leads(w)) continue;
      if (enable(w, op)) return true;
    }
    return false;
  };
  /** Whether `w`, undecided, is invoked before the first pending completion. */
  const pendingInWindow = (w: number): boolean => {
    const c = callPos[w];
    if (c < entry) return true; // The scan got to `entry` without one.
    for (let e2 = next[entry]; e2 > 0; e2 = next[e2]) {
      if (e2 === c) return true;
      if (entCall[e2] === 0) return false;
    }
    return false;
  };
  /** Linearizes `w` if that makes `op` legal; the scan resumes after `op`. */
  const enable = (w: number, op: number): boolean => {
    steps++;
    const a = model.step(state, inputs[w], outputs[w]);
    if (!a.ok) return false;
    const b = model.step(a.state, inputs[op], outputs[op]);
    if (!b.ok) return false;
    flip(w);
    const e = remember(a.state);
    if (e === undefined) {
      flip(w);
      return false;
    }
    if (callPos[w] > furthest) furthest = callPos[w];
    push(w, LIN, state, e, next[entry], pass);
    state = a.state;
    lift(w);
    if (required[w] === 1) remaining--;
    entry = next[0];
    pass = 0;
    return true;
  };

  const mask = (limits.checkEvery ?? 1024) - 1;
  const maxSteps = limits.maxSteps ?? Infinity;
  const track = limits.trackLongest ?? false;
  let longest: Longest<State> | undefined;
  let longestLen = -1;
  // The furthest entry the search ever looked at: nothing after it mattered.
  let furthest = 0;
  let steps = 0;
  let state = model.init();
  let entry = next[0];
  // Each scan of the pending invocations runs in three passes: read-only
  // required operations (they do not branch, and taking them before the
  // state changes keeps the values they saw), other required operations,
  // then optional ones, so configurations with few optional operations are
  // met first and dominate the others.
  let pass = 0;

  const linearized = (): number[] => {
    const out: number[] = [];
    for (let d = 0; d < depth; d++) if (stKind[d] !== SKIP) out.push(stOp[d]);
    return out;
  };

  while (true) {
    if (remaining === 0) {
      return { result: "ok", steps, cached, linearization: linearized() };
    }
    steps++;
    if ((steps & mask) === 0) {
      if (steps >= maxSteps || limits.now() > limits.deadline) {
        return { result: "unknown", steps, cached };
      }
    }
    let dead = false;
    if (entry > furthest) furthest = entry;
    if (entry > 0 && entCall[entry] === 1) {
      const op = entOp[entry];
      if (kind[op] !== pass || !leads(op)) {
        // Not this pass's kind of operation, or not its class's turn.
        entry = next[entry];
        continue;
      }
      const r = model.step(state, inputs[op], outputs[op]);
      if (
        r.ok && (
          // An optional operation that changes nothing: whatever completes
          // after it completes without it (it stays pending).
          (required[op] === 0 &&
            (r.state === state || equal(r.state, state))) ||
          (depth > 0 && dominatedBySibling(op, r.state))
        )
      ) {
        entry = next[entry];
        continue;
      }
      if (r.ok) {
        // A read-only operation that changes nothing here can be
        // linearized right here without loss of generality (see the module
        // documentation): no alternative to try, and if this fails, the
        // configuration before it fails too.
        const forced = readOnly[op] === 1 && required[op] === 1 &&
          (r.state === state || equal(r.state, state));
        flip(op);
        const e = remember(r.state);
        if (e !== undefined) {
          push(op, forced ? FORCED : LIN, state, e, next[entry], pass);
          state = r.state;
          lift(op);
          if (required[op] === 1) remaining--;
          entry = next[0];
          pass = 0;
          continue;
        }
        flip(op);
        if (forced) dead = true;
      } else if (pass < 2 && lookahead(op)) {
        continue;
      }
      if (!dead) {
        entry = next[entry];
        continue;
      }
    }
    if (!dead && (pass === 0 || (pass === 1 && optionalCount > 0))) {
      // This pass's operations tried; now the next kind.
      pass++;
      entry = next[0];
      continue;
    }
    // A completion (or the end of the list): that operation had to be
    // decided by now.
    if (!dead && entry > 0) {
      const op = entOp[entry];
      if (track) {
        let len = 0;
        for (let d = 0; d < depth; d++) if (stKind[d] !== SKIP) len++;
        if (len > longestLen) {
          longestLen = len;
          longest = { order: linearized(), state, blocked: op };
        }
      }
      if (required[op] === 0) {
        // An optional operation may simply not have happened.
        flip(op);
        const e = remember(state);
        if (e !== undefined) {
          push(op, SKIP, state, e, 0, 0);
          lift(op);
          entry = next[0];
          pass = 0;
          continue;
        }
        flip(op);
      }
    }
    // Backtrack to the last linearization and try the next invocation.
    while (true) {
      if (depth === 0) {
        const relevant: number[] = [];
        for (let i = 0; i < m; i++) {
          if (callPos[i] <= furthest) relevant.push(i);
        }
        return { result: "illegal", steps, cached, relevant, longest };
      }
      depth--;
      const op = stOp[depth];
      state = stState[depth];
      stState[depth] = undefined as State;
      fail(stEntry[depth]!);
      stEntry[depth] = undefined;
      flip(op);
      unlift(op);
      const how = stKind[depth];
      if (how !== SKIP && required[op] === 1) remaining++;
      if (how === LIN) {
        entry = stResume[depth];
        pass = stPass[depth];
        break;
      }
    }
  }
}
