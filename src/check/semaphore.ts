/**
 * Counting semaphores: the checker's model of `/v1/semaphores` (see
 * `grants.ts` for what a recipe model guarantees). The permits of the
 * holders that fencing can observe never exceed the limit; a release
 * returns its permits; every holder has the limit the semaphore was
 * created with (fixed by its first acquirer); tokens strictly increase.
 *
 * Operations (`op.f`), each with `op.semaphore`:
 *
 * | f             | arguments           | result (`ok`)                                    |
 * | ------------- | ------------------- | ------------------------------------------------ |
 * | `semAcquire`  | `limit`, `permits?` | the grant's token: a number or `{token}`         |
 * | `semRelease`  | `token`             | ignored (a refused release is `fail`)            |
 * | `fencedWrite` | `token`             | ignored (a write fenced by `{semaphore, token}`) |
 *
 * `permits` defaults to 1.
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

function readSemaphoreOp(o: Operation): GrantOp | undefined {
  switch (o.op.f) {
    case "semAcquire": {
      const { limit, permits = 1 } = o.op;
      if (typeof limit !== "number" || typeof permits !== "number") {
        throw new TypeError(
          `Semaphore operation ${o.id} (semAcquire) needs a numeric limit and permits`,
        );
      }
      const token = o.status === "ok" ? grantTokenOf(o.result) : 0;
      return { code: 0, token: token ?? undefined, weight: permits, limit };
    }
    case "semRelease":
      return { code: 1, token: namedToken(o, "Semaphore") };
    case "fencedWrite":
      return "semaphore" in o.op
        ? { code: 2, token: namedToken(o, "Semaphore") }
        : undefined;
    default:
      return undefined;
  }
}

/** Describes a semaphore operation, e.g. `semAcquire(s, 2 of 4) → 9`. */
export function describeSemaphoreOp(o: Operation): string {
  const s = show(o.op.semaphore);
  if (o.op.f === "semAcquire") {
    const res = o.status === "ok" ? show(grantTokenOf(o.result)) : "?";
    return `semAcquire(${s}, ${show(o.op.permits ?? 1)} of ${
      show(o.op.limit)
    }) → ${res}`;
  }
  return `${o.op.f}(${s}#${show(o.op.token)})`;
}

/**
 * Makes the semaphore model: see the module documentation.
 *
 * @example
 * ```ts
 * import { check, semaphoreModel } from "./mod.ts";
 *
 * // Limit 2: three holders confirmed alive at the third grant.
 * const acquire = (id: number, token: number) => [
 *   { type: "invoke", id, client: `c${id}`, time: id * 2, op: { f: "semAcquire", semaphore: "s", limit: 2 } },
 *   { type: "ok", id, client: `c${id}`, time: id * 2 + 1, result: { token } },
 * ] as const;
 * const release = (id: number, token: number) => [
 *   { type: "invoke", id, client: "x", time: id * 2, op: { f: "semRelease", semaphore: "s", token } },
 *   { type: "ok", id, client: "x", time: id * 2 + 1 },
 * ] as const;
 * const history = [
 *   ...acquire(0, 1), ...acquire(1, 2), ...acquire(2, 3),
 *   ...release(3, 1), ...release(4, 2),
 * ];
 * console.assert(check(history, semaphoreModel()).result === "illegal");
 * ```
 */
export function semaphoreModel(
  options: GrantModelOptions = {},
): Model<GrantState, GrantInput, GrantOutput> {
  return grantModel({
    name: "semaphore",
    field: "semaphore",
    plural: "semaphores",
    read: readSemaphoreOp,
    describe: describeSemaphoreOp,
  }, options);
}
