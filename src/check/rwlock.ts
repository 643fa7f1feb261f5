/**
 * Read-write locks: the checker's model of `/v1/rwlocks` (see `grants.ts`
 * for what a recipe model guarantees). Many readers or one writer: a
 * reader weighs 1 and a writer the whole capacity, so readers and a
 * writer, or two writers, never hold at one instant that fencing can
 * observe; tokens strictly increase.
 *
 * Operations (`op.f`), each with `op.rwlock`:
 *
 * | f             | arguments                   | result (`ok`)                                 |
 * | ------------- | --------------------------- | --------------------------------------------- |
 * | `rwAcquire`   | `mode`: `"read"`, `"write"` | the grant's token: a number or `{token}`      |
 * | `rwRelease`   | `token`                     | ignored (a refused release is `fail`)         |
 * | `fencedWrite` | `token`                     | ignored (a write fenced by `{rwlock, token}`) |
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

/** The capacity of a read-write lock: a writer's weight, more than any number of readers. */
const CAPACITY = 2 ** 30;

function readRwlockOp(o: Operation): GrantOp | undefined {
  switch (o.op.f) {
    case "rwAcquire": {
      const mode = o.op.mode;
      if (mode !== "read" && mode !== "write") {
        throw new TypeError(
          `Read-write lock operation ${o.id} (rwAcquire) needs mode read or write`,
        );
      }
      const token = o.status === "ok" ? grantTokenOf(o.result) : 0;
      return {
        code: 0,
        token: token ?? undefined,
        weight: mode === "write" ? CAPACITY : 1,
        limit: CAPACITY,
      };
    }
    case "rwRelease":
      return { code: 1, token: namedToken(o, "Read-write lock") };
    case "fencedWrite":
      return "rwlock" in o.op
        ? { code: 2, token: namedToken(o, "Read-write lock") }
        : undefined;
    default:
      return undefined;
  }
}

/** Describes a read-write lock operation, e.g. `rwAcquire(rw, write) → 9`. */
export function describeRwlockOp(o: Operation): string {
  const rw = show(o.op.rwlock);
  if (o.op.f === "rwAcquire") {
    const res = o.status === "ok" ? show(grantTokenOf(o.result)) : "?";
    return `rwAcquire(${rw}, ${show(o.op.mode)}) → ${res}`;
  }
  return `${o.op.f}(${rw}#${show(o.op.token)})`;
}

/**
 * Makes the read-write lock model: see the module documentation.
 *
 * @example
 * ```ts
 * import { check, rwlockModel } from "./mod.ts";
 *
 * // A reader's fenced write succeeds after a writer was granted.
 * const history = [
 *   { type: "invoke", id: 0, client: "r", time: 0, op: { f: "rwAcquire", rwlock: "x", mode: "read" } },
 *   { type: "ok", id: 0, client: "r", time: 1, result: { token: 3 } },
 *   { type: "invoke", id: 1, client: "w", time: 2, op: { f: "rwAcquire", rwlock: "x", mode: "write" } },
 *   { type: "ok", id: 1, client: "w", time: 3, result: { token: 4 } },
 *   { type: "invoke", id: 2, client: "r", time: 4, op: { f: "fencedWrite", rwlock: "x", token: 3 } },
 *   { type: "ok", id: 2, client: "r", time: 5 },
 * ] as const;
 * console.assert(check([...history], rwlockModel()).result === "illegal");
 * ```
 */
export function rwlockModel(
  options: GrantModelOptions = {},
): Model<GrantState, GrantInput, GrantOutput> {
  return grantModel({
    name: "rwlock",
    field: "rwlock",
    plural: "read-write locks",
    read: readRwlockOp,
    describe: describeRwlockOp,
  }, options);
}
