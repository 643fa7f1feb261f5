/**
 * Leader elections: the checker's model of `/v1/elections` (see
 * `grants.ts` for what a recipe model guarantees). An election is a
 * record of limit 1 whose leader has weight 1: at most one leader at any
 * instant that fencing can observe, with strictly increasing tokens.
 *
 * Operations (`op.f`), each with `op.election`:
 *
 * | f             | arguments        | result (`ok`)                                   |
 * | ------------- | ---------------- | ----------------------------------------------- |
 * | `campaign`    | `value`          | the grant's token: a number or `{token}`        |
 * | `proclaim`    | `token`, `value` | ignored (a `stale_token` refusal is `fail`)     |
 * | `resign`      | `token`          | ignored (a refused resign is `fail`)            |
 * | `leader`      | —                | the leader's token (number or `{token}`), or `null` |
 * | `fencedWrite` | `token`          | ignored (a write fenced by `{election, token}`) |
 *
 * A successful proclaim or fenced write needs its token to lead at its
 * linearization point, and so does a resign; a leader whose lease expired
 * stops fencing and never leads again.
 *
 * @module
 */

import type { Operation } from "./history.ts";
import type { Model } from "./model.ts";
import { show } from "./model.ts";
import {
  type GrantInput,
  grantModel,
  type GrantModelOptions,
  type GrantOp,
  type GrantOutput,
  type GrantState,
  grantTokenOf,
  namedToken,
} from "./grants.ts";

const FUNCTIONS = new Set(["campaign", "proclaim", "resign", "leader"]);

function readElectionOp(o: Operation): GrantOp | undefined {
  const f = o.op.f;
  if (!FUNCTIONS.has(f) && !(f === "fencedWrite" && "election" in o.op)) {
    return undefined;
  }
  switch (f) {
    case "campaign": {
      const token = o.status === "ok" ? grantTokenOf(o.result) : 0;
      return { code: 0, token: token ?? undefined, weight: 1, limit: 1 };
    }
    case "resign":
      return { code: 1, token: namedToken(o, "Election") };
    case "proclaim":
    case "fencedWrite":
      return { code: 2, token: namedToken(o, "Election") };
    default: {
      // leader
      if (o.status !== "ok") return { code: 3, seen: [] };
      const t = grantTokenOf(o.result);
      if (t === undefined) {
        throw new TypeError(
          `Election operation ${o.id} (leader) needs a token or null result`,
        );
      }
      return { code: 3, seen: t === null ? [] : [t] };
    }
  }
}

/** Describes an election operation, e.g. `campaign(e) → 7`, `proclaim(e#7)`. */
export function describeElectionOp(o: Operation): string {
  const e = show(o.op.election);
  const res = o.status === "ok" ? show(grantTokenOf(o.result)) : "?";
  switch (o.op.f) {
    case "campaign":
    case "leader":
      return `${o.op.f}(${e}) → ${res}`;
    default:
      return `${o.op.f}(${e}#${show(o.op.token)})`;
  }
}

/**
 * Makes the election model: see the module documentation.
 *
 * @example
 * ```ts
 * import { check, electionModel } from "./mod.ts";
 *
 * // b's fenced write succeeds after a's campaign won a later token: two
 * // leaders at once, which fencing must never allow.
 * const history = [
 *   { type: "invoke", id: 0, client: "b", time: 0, op: { f: "campaign", election: "e" } },
 *   { type: "ok", id: 0, client: "b", time: 1, result: { token: 4 } },
 *   { type: "invoke", id: 1, client: "a", time: 2, op: { f: "campaign", election: "e" } },
 *   { type: "ok", id: 1, client: "a", time: 3, result: { token: 5 } },
 *   { type: "invoke", id: 2, client: "a", time: 4, op: { f: "proclaim", election: "e", token: 5 } },
 *   { type: "ok", id: 2, client: "a", time: 5 },
 *   { type: "invoke", id: 3, client: "b", time: 6, op: { f: "fencedWrite", election: "e", token: 4 } },
 *   { type: "ok", id: 3, client: "b", time: 7 },
 * ] as const;
 * console.assert(check([...history], electionModel()).result === "illegal");
 * ```
 */
export function electionModel(
  options: GrantModelOptions = {},
): Model<GrantState, GrantInput, GrantOutput> {
  return grantModel({
    name: "election",
    field: "election",
    plural: "elections",
    read: readElectionOp,
    describe: describeElectionOp,
  }, options);
}
