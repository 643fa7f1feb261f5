/**
 * What the models of the coordination recipes share: holders of a named
 * record, each with a weight, that together must never exceed a limit
 * (one election leader of 1; a semaphore's permits; a read-write lock's
 * readers, weight 1, or one writer, weight the whole limit), with fencing
 * tokens that strictly increase. {@link grantModel} makes such a model from
 * a {@link GrantSpec} that maps a recipe's operations; `election.ts`,
 * `semaphore.ts` and `rwlock.ts` are the three specs.
 *
 * Leases. Grants carry leases that the service expires by its own clock,
 * so a holder may be gone at any instant without an event in the history
 * (as in the lock model, `lock.ts`). Which holders had expired when a new
 * grant was made is unknown, and a deterministic model cannot guess it. So
 * the model decides lazily: a grant counts only itself at its instant (the
 * others may have expired), and a holder is *confirmed* alive by an
 * operation that needs it alive (a successful fenced write, proclaim,
 * release, or a read that lists it). A lease never comes back, so a holder
 * confirmed at some instant was alive at every grant between its own grant
 * and that instant: its weight is added to each of those grants, and the
 * history is illegal if one of them then exceeds its limit. So the checker
 * guarantees, per record, when it answers `ok`:
 *
 * 1. Tokens of grants increase in real time (with `globalTokens`, across
 *    all records of the model), and no token is granted twice.
 * 2. Fencing never observes too many holders: at every grant, the holders
 *    that some later successful fenced operation (or read) shows alive
 *    then, with the new grant, fit within the limit — at most one leader,
 *    at most `limit` permits, readers or one writer. A token released, or
 *    missing from a read of the holders, never succeeds again.
 * 3. Every holder of a record has the limit that record was created with.
 *
 * With `leasesMayExpire: false` (leases kept alive throughout) a holder
 * holds until released: every grant counts every holder, and a read must
 * list exactly the holders.
 *
 * An `info` grant (its token unknown) is left out; an operation naming a
 * token that no successful grant of its record returned is left out too
 * when the record had such a lost grant (that grant may have made it), and
 * is illegal (a never-granted token held) otherwise. An `info` release
 * may or may not have happened; an `info` fenced operation or read is left
 * out. Not checked: FIFO order of waiters, lease timing (see `timing.ts`),
 * refusals (`fail` operations did not happen).
 *
 * @module
 */

import type { Operation } from "./history.ts";
import {
  hashString,
  type Model,
  type Partition,
  type PartitionEntry,
  type StepResult,
  UNKNOWN,
  type Unknown,
} from "./model.ts";

/** What an operation does to a record's holders. */
export type GrantCode =
  /** A grant: output is the token. */
  | 0
  /** A release of `token`. */
  | 1
  /** An operation that needs `token` to hold (a fenced write, a proclaim). */
  | 2
  /** A read of the holders: `seen` are the tokens holding. */
  | 3
  /** Token order across records: output is a granted token. */
  | 4;

const GRANT = 0;
const RELEASE = 1;
const CONFIRM = 2;
const OBSERVE = 3;
const ORDER = 4;

/** How a {@link GrantSpec} reads one operation of its recipe. */
export interface GrantOp {
  /** What the operation does. */
  code: 0 | 1 | 2 | 3;
  /** The token it names (release, confirm) or the grant's token (ok grant). */
  token?: number;
  /** A grant's weight (permits; 1 for a reader or a leader). */
  weight?: number;
  /** A grant's limit (the record's capacity). */
  limit?: number;
  /** A read's tokens seen holding. */
  seen?: readonly number[];
}

/** Maps a recipe's operations for {@link grantModel}. */
export interface GrantSpec {
  /** The model's name, e.g. `"election"`. */
  name: string;
  /** The operation field that names the record, e.g. `"election"`. */
  field: string;
  /** The plural for the token-order partition, e.g. `"elections"`. */
  plural: string;
  /**
   * The operation as the model reads it, or undefined when it belongs to
   * another model. Throws a `TypeError` for a malformed one.
   */
  read(o: Operation): GrantOp | undefined;
  /** A short description of an operation, e.g. `campaign(e) → 7`. */
  describe(o: Operation): string;
}

/** Options of the recipe models. */
export interface GrantModelOptions {
  /**
   * Whether a holder may lose its grant at any instant (its lease
   * expired). Default true. Set false when leases cannot expire in the test.
   */
  leasesMayExpire?: boolean;
  /**
   * Also check that tokens increase in real time across all records of
   * the model (one extra partition of every successful grant). Default
   * true.
   */
  globalTokens?: boolean;
}

/** A holder as the model tracks it. */
export interface GrantHolder {
  /** Its token. */
  token: number;
  /** Its weight. */
  weight: number;
  /** The limit it was granted under. */
  limit: number;
  /** The token of the last grant at which it is known alive. */
  confirmed: number;
  /** Operations still to come that name it (it is dropped at 0). */
  left: number;
}

/** A grant whose holders may still be confirmed. */
export interface GrantPoint {
  /** The token granted. */
  token: number;
  /** The limit then. */
  limit: number;
  /** The weight known to hold then (the grant and confirmed holders). */
  sum: number;
}

/** The state of one record. */
export interface GrantState {
  /** The highest token granted so far (0 before any). */
  last: number;
  /** Holders that may still be alive, by token. */
  holders: readonly GrantHolder[];
  /** Grants some holder may still be confirmed at, by token. */
  points: readonly GrantPoint[];
}

/** An operation as a recipe model steps it. */
export interface GrantInput {
  /** What it does. */
  code: GrantCode;
  /** The token named (release, confirm). */
  token: number;
  /** A grant's weight. */
  weight: number;
  /** A grant's limit. */
  limit: number;
  /** For a grant: how many operations name its token. */
  mentions: number;
  /** For a read: the tokens seen holding. */
  seen: readonly number[];
}

/** A recipe model's output: a grant's token. */
export type GrantOutput = number | undefined;

/**
 * The functions of the recipe models (besides `fencedWrite`, which they
 * share with the lock and register models): other models skip them.
 * `recipeKeepalive` (a recipe holder renewing its lease) is recorded for
 * readers of the history; no model reads it.
 */
export const RECIPE_FUNCTIONS: ReadonlySet<string> = new Set([
  "recipeKeepalive",
  "campaign",
  "proclaim",
  "resign",
  "leader",
  "semAcquire",
  "semRelease",
  "rwAcquire",
  "rwRelease",
]);

/** The token in a grant's or read's result: a number or `{token}`. */
export function grantTokenOf(result: unknown): number | null | undefined {
  if (result === null || result === undefined) return null;
  if (typeof result === "number") return result;
  if (typeof result === "object") {
    const t = (result as { token?: unknown }).token;
    if (typeof t === "number") return t;
  }
  return undefined;
}

function stateKey(s: GrantState): string {
  let k = `${s.last}|`;
  for (const h of s.holders) {
    k += `${h.token},${h.weight},${h.limit},${h.confirmed},${h.left};`;
  }
  k += "|";
  for (const p of s.points) k += `${p.token},${p.limit},${p.sum};`;
  return k;
}

/**
 * Makes a recipe model from its spec: see the module documentation.
 *
 * @example
 * ```ts
 * import { check } from "./checker.ts";
 * import { grantModel } from "./grants.ts";
 *
 * // A "mutex" recipe: `take` grants (weight 1 of 1), `drop` releases.
 * const model = grantModel({
 *   name: "mutex",
 *   field: "mutex",
 *   plural: "mutexes",
 *   read: (o) =>
 *     o.op.f === "take"
 *       ? { code: 0, token: o.result as number, weight: 1, limit: 1 }
 *       : o.op.f === "drop"
 *       ? { code: 1, token: o.op.token }
 *       : undefined,
 *   describe: (o) => o.op.f,
 * });
 * const res = check([
 *   { type: "invoke", id: 0, client: "a", time: 0, op: { f: "take", mutex: "m" } },
 *   { type: "ok", id: 0, client: "a", time: 1, result: 3 },
 * ], model);
 * console.assert(res.result === "ok");
 * ```
 */
export function grantModel(
  spec: GrantSpec,
  options: GrantModelOptions = {},
): Model<GrantState, GrantInput, GrantOutput> {
  const mayExpire = options.leasesMayExpire ?? true;
  const globalTokens = options.globalTokens ?? true;
  const allKey = `<token order across all ${spec.plural}>`;
  const bad = (s: GrantState): StepResult<GrantState> => ({
    ok: false,
    state: s,
  });
  const good = (s: GrantState): StepResult<GrantState> => ({
    ok: true,
    state: s,
  });
  // Drops grants no holder can be confirmed at any more.
  const pruned = (
    last: number,
    holders: GrantHolder[],
    points: readonly GrantPoint[],
  ): GrantState => {
    if (!mayExpire || holders.length === 0) {
      return { last, holders, points: [] };
    }
    let min = Infinity;
    for (const h of holders) min = Math.min(min, h.confirmed);
    return { last, holders, points: points.filter((p) => p.token > min) };
  };
  // Confirms holder `h` alive at the latest grant: its weight counts at
  // every grant since it was last confirmed. Undefined when that breaks a
  // limit.
  const confirm = (
    s: GrantState,
    h: GrantHolder,
    points: GrantPoint[],
  ): boolean => {
    for (let i = 0; i < points.length; i++) {
      const p = points[i];
      if (p.token <= h.confirmed) continue;
      if (p.limit !== h.limit || p.sum + h.weight > p.limit) return false;
      points[i] = { ...p, sum: p.sum + h.weight };
    }
    h.confirmed = s.last;
    return true;
  };
  const find = (s: GrantState, t: number) =>
    s.holders.findIndex((h) => h.token === t);

  return {
    name: mayExpire ? spec.name : `${spec.name} (leases never expire)`,
    init: () => ({ last: 0, holders: [], points: [] }),
    step(s, input, output: GrantOutput | Unknown): StepResult<GrantState> {
      switch (input.code) {
        case ORDER:
          return (output as number) > s.last
            ? good({ ...s, last: output as number })
            : bad(s);
        case GRANT: {
          const t = output as number;
          if (!(t > s.last) || input.weight > input.limit) return bad(s);
          if (!mayExpire) {
            let sum = input.weight;
            for (const h of s.holders) {
              if (h.limit !== input.limit) return bad(s);
              sum += h.weight;
            }
            if (sum > input.limit) return bad(s);
          }
          const holders = [...s.holders];
          if (input.mentions > 0 || !mayExpire) {
            holders.push({
              token: t,
              weight: input.weight,
              limit: input.limit,
              confirmed: t,
              left: input.mentions,
            });
          }
          return good(pruned(t, holders, [...s.points, {
            token: t,
            limit: input.limit,
            sum: input.weight,
          }]));
        }
        case CONFIRM:
        case RELEASE: {
          const i = find(s, input.token);
          if (i < 0) {
            return input.code === RELEASE && output === UNKNOWN
              ? good(s)
              : bad(s);
          }
          if (!mayExpire) {
            return input.code === CONFIRM
              ? good(s)
              : good({ ...s, holders: s.holders.filter((_, j) => j !== i) });
          }
          const h = { ...s.holders[i] };
          const points = [...s.points];
          const alive = confirm(s, h, points);
          if (!alive) {
            // A timed-out release that cannot have found its holder
            // alive here: the lease had expired, and it released nothing.
            if (output !== UNKNOWN) return bad(s);
            return good(pruned(
              s.last,
              s.holders.filter((_, j) => j !== i),
              s.points,
            ));
          }
          h.left--;
          const holders = [...s.holders];
          if (input.code === RELEASE || h.left <= 0) holders.splice(i, 1);
          else holders[i] = h;
          return good(pruned(s.last, holders, points));
        }
        case OBSERVE: {
          const seen = new Set(input.seen);
          let sum = 0;
          let limit = -1;
          const holders: GrantHolder[] = [];
          const points = [...s.points];
          for (const old of s.holders) {
            if (!seen.has(old.token)) {
              if (!mayExpire) return bad(s);
              continue; // expired (or released) by now
            }
            seen.delete(old.token);
            if (limit >= 0 && old.limit !== limit) return bad(s);
            limit = old.limit;
            sum += old.weight;
            const h = { ...old };
            if (mayExpire && !confirm(s, h, points)) return bad(s);
            h.left--;
            if (h.left > 0 || !mayExpire) holders.push(h);
          }
          if (seen.size > 0 || (limit >= 0 && sum > limit)) return bad(s);
          return good(pruned(s.last, holders, points));
        }
        default:
          return bad(s);
      }
    },
    partition(operations: readonly Operation[]) {
      // Pass 1: each operation read, by record; what was granted.
      const byName = new Map<string, { o: Operation; g: GrantOp }[]>();
      const granted = new Map<string, Set<number>>();
      const lostGrant = new Set<string>();
      for (const o of operations) {
        const g = spec.read(o);
        if (g === undefined) continue;
        const name = o.op[spec.field];
        if (typeof name !== "string") {
          throw new TypeError(
            `${spec.name} operation ${o.id} (${o.op.f}) has no string ${spec.field}`,
          );
        }
        const known = o.status === "ok";
        if (g.code === GRANT && !known) {
          lostGrant.add(name);
          continue;
        }
        // An info fenced operation or read changes and shows nothing.
        if ((g.code === CONFIRM || g.code === OBSERVE) && !known) continue;
        if (g.code === GRANT) {
          if (typeof g.token !== "number") {
            throw new TypeError(
              `${spec.name} operation ${o.id} (${o.op.f}) needs a numeric token result`,
            );
          }
          let set = granted.get(name);
          if (!set) granted.set(name, set = new Set());
          set.add(g.token);
        } else if (g.code !== OBSERVE && typeof g.token !== "number") {
          throw new TypeError(
            `${spec.name} operation ${o.id} (${o.op.f}) needs a token`,
          );
        }
        let list = byName.get(name);
        if (!list) byName.set(name, list = []);
        list.push({ o, g });
      }
      // Pass 2: leave out what names a token a lost grant may have made;
      // count the operations that name each token.
      const out: Partition<GrantInput, GrantOutput>[] = [];
      const all: PartitionEntry<GrantInput, GrantOutput>[] = [];
      for (const name of [...byName.keys()].sort()) {
        const ok = granted.get(name) ?? new Set<number>();
        const lost = lostGrant.has(name);
        const named = (g: GrantOp) =>
          g.code === OBSERVE ? g.seen ?? [] : g.code === GRANT ? [] : [
            g.token!,
          ];
        const kept = byName.get(name)!.filter(({ g }) =>
          !lost || named(g).every((t) => ok.has(t))
        );
        const mentions = new Map<number, number>();
        for (const { g } of kept) {
          for (const t of named(g)) {
            mentions.set(t, (mentions.get(t) ?? 0) + 1);
          }
        }
        const entries = kept.map(({ o, g }) => {
          const input: GrantInput = {
            code: g.code,
            token: g.code === GRANT ? 0 : g.token ?? 0,
            weight: g.weight ?? 1,
            limit: g.limit ?? 1,
            mentions: g.code === GRANT ? mentions.get(g.token!) ?? 0 : 0,
            seen: g.seen ?? [],
          };
          const output = g.code === GRANT ? g.token : undefined;
          if (g.code === GRANT && globalTokens) {
            all.push({
              operation: o,
              input: { ...input, code: ORDER },
              output,
            });
          }
          return { operation: o, input, output };
        });
        out.push({ key: name, entries });
      }
      if (globalTokens && out.length > 1) {
        out.push({ key: allKey, entries: all });
      }
      return out;
    },
    observes(input, _output) {
      if (input.code === RELEASE || input.code === CONFIRM) {
        return [input.token];
      }
      return input.code === OBSERVE ? input.seen : [];
    },
    produces(input, output) {
      return (input.code === GRANT || input.code === ORDER) &&
          typeof output === "number"
        ? output
        : undefined;
    },
    equal: (a, b) => a === b || stateKey(a) === stateKey(b),
    hash: (s) => hashString(stateKey(s)),
    describe: spec.describe,
    describeState: (s) =>
      `last token ${s.last}; holders ${
        s.holders.map((h) => `${h.token}(${h.weight})`).join(" ") || "none"
      }`,
  };
}

/** The token an operation names, or a `TypeError`. */
export function namedToken(o: Operation, what: string): number {
  if (typeof o.op.token !== "number") {
    throw new TypeError(`${what} operation ${o.id} (${o.op.f}) needs a token`);
  }
  return o.op.token;
}
