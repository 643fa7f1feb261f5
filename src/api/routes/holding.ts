/**
 * What the acquire routes of locks' relatives (elections, semaphores,
 * read-write locks) share: the name in the path, how the grant is held (a
 * new lease of `ttl` seconds, or an existing `lease`) and how long the
 * request waits in the queue.
 *
 * @module
 */

import type { Context } from "hono";
import type { RecipeAcquireOptions } from "../../service/recipes.ts";
import { guardOf } from "../auth.ts";
import { ApiError } from "../errors.ts";
import { checked, queryInt } from "../request.ts";
import { MAX_WAIT_MS, nameSchema } from "../schemas.ts";

/** The `:name` path parameter, checked; `what` names it in errors. */
export function nameOf(c: Context, what: string): string {
  return checked(nameSchema, c.req.param("name"), `${what} name`);
}

/**
 * How an acquire holds and waits, from its body, with the request's end
 * as the signal and its user; `bad_request` unless `ttl` or `lease` is
 * given.
 */
export function holdingOf(
  c: Context,
  b: { ttl?: number; lease?: number; wait?: number },
  what: string,
): RecipeAcquireOptions {
  if (b.ttl === undefined && b.lease === undefined) {
    throw new ApiError(
      "bad_request",
      `Give ttl (seconds, a lease is made for the ${what}) or lease (an existing lease id)`,
    );
  }
  return {
    ttl: b.ttl,
    lease: b.lease,
    wait: Math.min(b.wait ?? 0, MAX_WAIT_MS),
    signal: c.req.raw.signal,
    auth: guardOf(c).commandAuth(),
  };
}

/** The `?token=` query parameter, if given. */
export function tokenQuery(c: Context): number | undefined {
  return queryInt(c.req.query("token"), "token");
}
