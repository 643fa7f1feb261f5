/**
 * A lock per name, with fencing tokens: the model of the lock service.
 *
 * Operations (`op.f`), each with `op.lock`:
 *
 * | f             | arguments | result (`ok`)                                  |
 * | ------------- | --------- | ---------------------------------------------- |
 * | `acquire`     | —         | the grant's token: a number or `{token}`       |
 * | `release`     | `token`   | ignored (a refused release is `fail`)          |
 * | `fencedWrite` | `token`   | ignored (a `stale_token` refusal is `fail`)    |
 * | `holder`      | —         | the holder's token (number or `{token}`), or `null` |
 * | `validate`    | `token`   | `true` when the token still holds the lock     |
 * | `keepalive`   | `token`   | ignored here (see `timing.ts`)                 |
 *
 * The sequential specification: a lock is free or held by one token; every
 * lock remembers the highest token it granted. `acquire` returning `t` needs
 * `t` above every earlier token of that lock (with `globalTokens`, of every
 * lock) and makes `t` the holder; `release(t)` and a successful
 * `fencedWrite(t)` need `t` to be the holder at their linearization point.
 *
 * Leases. Grants carry leases that the service expires by its own clock, so
 * a holder may lose the lock at any instant without any event in the
 * history. With `leasesMayExpire` (the default) the model lets a holder
 * expire at any instant: an `acquire` may then be granted while another
 * token holds (that holder expired first), and `holder → null` or
 * `validate(t) → false` may be observed while `t` held (it expired then,
 * and can never come back). Timings of leases are not checked.
 *
 * What the checker then guarantees, for each lock, when it answers `ok`:
 *
 * 1. Tokens of grants increase in real time: if `acquire → t1` completed
 *    before `acquire → t2` was invoked, then `t1 < t2` (and no token is
 *    granted twice). With `globalTokens` (default) this holds across all
 *    locks, as the design promises (the token is the global revision).
 * 2. A fenced write with token `t` succeeds only while `t` holds: it fails
 *    if a grant of a token above `t`, or a release of `t`, completed before
 *    it was invoked; and once the lock was seen free or `t` was seen invalid,
 *    `t` never succeeds again.
 * 3. Successful fenced writes never need two holders at once: if an ok
 *    fenced write of `t2` completed before an ok fenced write of `t1 < t2`
 *    was invoked, the history is illegal (t1 cannot hold again once t2 was
 *    granted); likewise for a release of `t1` after a fenced write of `t2`.
 *
 * With `leasesMayExpire: false` (use it when the test keeps leases alive,
 * e.g. a huge TTL) the checker also guarantees that holders never overlap:
 * an acquire cannot be granted until the previous holder released, and a
 * lock seen free is free.
 *
 * Not checked: whether a client's critical section outside fenced writes
 * overlapped another holder's (a paused client cannot know its lease
 * expired; that is what fencing is for), lock-delay, FIFO fairness of
 * waiters, or that refused acquires (`fail`, `lock_held`) were justified.
 * An `info` acquire may have granted a token the history never saw: the
 * lock is then held by an unknown token above every earlier one. The first
 * operation that names a plausible token as the holder's (`holder → t`,
 * `validate(t) → true`, a fenced write or release of `t`, with `t` above
 * every earlier token) pins it down. Later grants only need tokens above
 * the last known one (a slightly weaker check after a lost grant).
 *
 * @module
 */

import type { Operation } from "./history.ts";
import {
  type Model,
  type Partition,
  type PartitionEntry,
  show,
  type StepResult,
  UNKNOWN,
  type Unknown,
} from "./model.ts";

const NONE = -1;
const SOMEONE = -2;

const ACQUIRE = 0;
const RELEASE = 1;
const FENCED = 2;
const HOLDER = 3;
const VALIDATE = 4;
const GRANT = 5;

/** The functions of the lock model; a history may mix in others. */
export const LOCK_FUNCTIONS: ReadonlySet<string> = new Set([
  "acquire",
  "release",
  "holder",
  "validate",
  "keepalive",
]);

/** The state of one lock. */
export interface LockState {
  /** The holder's token; -1 when free, -2 when held by an unknown token. */
  holder: number;
  /** The highest token granted so far (0 before any). */
  last: number;
}

/** A lock operation as the model steps it. */
export interface LockInput {
  /** 0 acquire, 1 release, 2 fenced write, 3 holder, 4 validate, 5 grant order. */
  code: number;
  /** The token named by the operation (release, fencedWrite, validate). */
  token: number;
}

/** A lock output: a token, `null` (free) or a validity. */
export type LockOutput = number | null | boolean | undefined;

/** Options of {@link lockModel}. */
export interface LockModelOptions {
  /**
   * Whether a holder may lose the lock at any instant (its lease expired).
   * Default true. Set false when leases cannot expire in the test.
   */
  leasesMayExpire?: boolean;
  /**
   * Also check that tokens increase in real time across all locks (one
   * extra partition of every successful acquire). Default true.
   */
  globalTokens?: boolean;
}

/** The name of the partition that checks token order across locks. */
export const ALL_LOCKS = "<token order across all locks>";

/**
 * Whether the lock is held by the unknown token of a lost (`info`) grant
 * that may be `t`: it was granted after every known token.
 */
function unknownMayBe(s: LockState, t: number): boolean {
  return s.holder === SOMEONE && t > s.last;
}

/** Makes the lock model: see the module documentation. */
export function lockModel(
  options: LockModelOptions = {},
): Model<LockState, LockInput, LockOutput> {
  const mayExpire = options.leasesMayExpire ?? true;
  const globalTokens = options.globalTokens ?? true;
  const st = (holder: number, last: number): StepResult<LockState> => ({
    ok: true,
    state: { holder, last },
  });
  const bad = (s: LockState): StepResult<LockState> => ({
    ok: false,
    state: s,
  });
  return {
    name: mayExpire ? "lock" : "lock (leases never expire)",
    init: () => ({ holder: NONE, last: 0 }),
    step(s, input, output: LockOutput | Unknown): StepResult<LockState> {
      const t = input.token;
      switch (input.code) {
        case ACQUIRE:
          if (!mayExpire && s.holder !== NONE) return bad(s);
          if (output === UNKNOWN) return st(SOMEONE, s.last);
          return (output as number) > s.last
            ? st(output as number, output as number)
            : bad(s);
        case GRANT:
          return (output as number) > s.last
            ? st(NONE, output as number)
            : bad(s);
        case RELEASE:
          if (s.holder === t) return st(NONE, s.last);
          // The unknown token of a lost grant may have been t.
          if (unknownMayBe(s, t)) return st(NONE, t);
          return output === UNKNOWN ? { ok: true, state: s } : bad(s);
        case FENCED:
          if (s.holder === t || output === UNKNOWN) {
            return { ok: true, state: s };
          }
          return unknownMayBe(s, t) ? st(t, t) : bad(s);
        case HOLDER:
          if (output === UNKNOWN) return { ok: true, state: s };
          if (output === null) {
            if (s.holder === NONE) return { ok: true, state: s };
            return mayExpire ? st(NONE, s.last) : bad(s);
          }
          if (s.holder === output) return { ok: true, state: s };
          return unknownMayBe(s, output as number)
            ? st(output as number, output as number)
            : bad(s);
        case VALIDATE:
          if (output === UNKNOWN) return { ok: true, state: s };
          if (output === true) {
            if (s.holder === t) return { ok: true, state: s };
            return unknownMayBe(s, t) ? st(t, t) : bad(s);
          }
          if (s.holder !== t) return { ok: true, state: s };
          return mayExpire ? st(NONE, s.last) : bad(s);
        default:
          return bad(s);
      }
    },
    partition(operations: readonly Operation[]) {
      const parts = new Map<string, PartitionEntry<LockInput, LockOutput>[]>();
      const all: PartitionEntry<LockInput, LockOutput>[] = [];
      for (const o of operations) {
        const entry = toEntry(o);
        if (entry === undefined) continue;
        const name = o.op.lock as string;
        let list = parts.get(name);
        if (list === undefined) {
          list = [];
          parts.set(name, list);
        }
        list.push(entry);
        if (globalTokens && entry.input.code === ACQUIRE && o.status === "ok") {
          all.push({
            operation: o,
            input: { code: GRANT, token: 0 },
            output: entry.output,
          });
        }
      }
      const out: Partition<LockInput, LockOutput>[] = [];
      for (const name of [...parts.keys()].sort()) {
        out.push({ key: name, entries: parts.get(name)! });
      }
      if (globalTokens && parts.size > 1) {
        out.push({ key: ALL_LOCKS, entries: all });
      }
      return out;
    },
    readOnly(input, output) {
      switch (input.code) {
        case FENCED:
          return true;
        case HOLDER:
          return output !== null || !mayExpire;
        case VALIDATE:
          return output === true || !mayExpire;
        default:
          return false;
      }
    },
    observes(input, output) {
      switch (input.code) {
        case RELEASE:
        case FENCED:
          return [input.token];
        case VALIDATE:
          return output === true ? [input.token] : [];
        case HOLDER:
          return typeof output === "number" ? [output] : [];
        default:
          return [];
      }
    },
    produces(input, output) {
      return input.code === ACQUIRE && typeof output === "number"
        ? output
        : undefined;
    },
    equal: (a, b) => a.holder === b.holder && a.last === b.last,
    hash: (s) => Math.imul(s.holder, 0x9e3779b1) ^ s.last,
    describe: describeLockOp,
    describeState: (s) =>
      `holder ${
        s.holder === NONE ? "none" : s.holder === SOMEONE ? "unknown" : s.holder
      }, last token ${s.last}`,
  };
}

/** The token in an acquire's or holder's result: a number or `{token}`. */
export function tokenOf(result: unknown): number | null | undefined {
  if (result === null) return null;
  if (typeof result === "number") return result;
  if (typeof result === "object" && result !== null) {
    const t = (result as { token?: unknown }).token;
    if (typeof t === "number") return t;
    if ("holder" in result) {
      return tokenOf((result as { holder?: unknown }).holder ?? null);
    }
  }
  return undefined;
}

function toEntry(
  o: Operation,
): PartitionEntry<LockInput, LockOutput> | undefined {
  const op = o.op;
  const f = op.f;
  if (typeof op.lock !== "string") {
    // Operations of other models (reads, writes) may share the history.
    if (!LOCK_FUNCTIONS.has(f)) return undefined;
    throw new TypeError(`Lock operation ${o.id} (${f}) has no string lock`);
  }
  const known = o.status === "ok";
  const needToken = (): number => {
    if (typeof op.token !== "number") {
      throw new TypeError(`Lock operation ${o.id} (${f}) needs a token`);
    }
    return op.token;
  };
  switch (f) {
    case "acquire": {
      if (!known) {
        return { operation: o, input: { code: ACQUIRE, token: 0 }, output: 0 };
      }
      const t = tokenOf(o.result);
      if (typeof t !== "number") {
        throw new TypeError(
          `Lock operation ${o.id} (acquire) needs a numeric token result`,
        );
      }
      return { operation: o, input: { code: ACQUIRE, token: 0 }, output: t };
    }
    case "release":
      return {
        operation: o,
        input: { code: RELEASE, token: needToken() },
        output: undefined,
      };
    case "fencedWrite":
      // An info fenced write changes no lock state: leave it out.
      if (!known) return undefined;
      return {
        operation: o,
        input: { code: FENCED, token: needToken() },
        output: undefined,
      };
    case "keepalive":
      // Lease timing is the timing checker's (timing.ts).
      return undefined;
    case "holder": {
      if (!known) return undefined;
      const t = tokenOf(o.result ?? null);
      if (t === undefined) {
        throw new TypeError(
          `Lock operation ${o.id} (holder) needs a token or null result`,
        );
      }
      return { operation: o, input: { code: HOLDER, token: 0 }, output: t };
    }
    case "validate": {
      if (!known) return undefined;
      let valid = o.result;
      if (typeof valid === "object" && valid !== null) {
        valid = (valid as { valid?: unknown }).valid;
      }
      if (typeof valid !== "boolean") {
        throw new TypeError(
          `Lock operation ${o.id} (validate) needs a boolean result`,
        );
      }
      return {
        operation: o,
        input: { code: VALIDATE, token: needToken() },
        output: valid,
      };
    }
    default:
      throw new TypeError(
        `Lock model cannot check operation ${o.id}: unknown f ${
          JSON.stringify(f)
        }`,
      );
  }
}

/** Describes a lock operation, e.g. `acquire(L) → 7`, `fencedWrite(L#7)`. */
export function describeLockOp(o: Operation): string {
  const op = o.op;
  const lock = show(op.lock);
  const res = o.status === "ok" ? show(tokenOf(o.result ?? null)) : "?";
  switch (op.f) {
    case "acquire":
      return `acquire(${lock}) → ${res}`;
    case "release":
      return `release(${lock}#${show(op.token)})`;
    case "fencedWrite": {
      const kv = op.key === undefined
        ? ""
        : `, ${show(op.key)}=${show(op.value)}`;
      return `fencedWrite(${lock}#${show(op.token)}${kv})`;
    }
    case "holder":
      return `holder(${lock}) → ${res}`;
    case "validate": {
      const v = o.status === "ok"
        ? show(
          typeof o.result === "object" && o.result !== null
            ? (o.result as { valid?: unknown }).valid
            : o.result,
        )
        : "?";
      return `validate(${lock}#${show(op.token)}) → ${v}`;
    }
    default:
      return `${op.f}(${lock})`;
  }
}
