/**
 * Reading a request: its JSON body through a zod schema, path parameters,
 * the `X-Request-Id` header and the `consistency` query parameter. Each
 * failure is a `bad_request` {@linkcode ApiError} naming the problem.
 *
 * @module
 */

import type { Context } from "hono";
import type { z } from "zod";
import type { RequestId } from "../state/commands.ts";
import type { Consistency } from "../service/service.ts";
import { ApiError } from "./errors.ts";

function firstIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  const field = issue?.path?.length ? issue.path.join(".") : "body";
  return `Invalid ${field}: ${issue?.message ?? "malformed"}`;
}

/**
 * Reads and validates a JSON body. Any content type is accepted (curl's
 * `-d` sends a form type); an empty body counts as `{}`.
 */
export async function readBody<T>(
  c: Context,
  schema: z.ZodType<T>,
): Promise<T> {
  let text: string;
  try {
    text = await c.req.text();
  } catch (e) {
    throw new ApiError(
      "bad_request",
      `Could not read the request body: ${(e as Error).message}`,
    );
  }
  let raw: unknown = {};
  if (text.trim() !== "") {
    try {
      raw = JSON.parse(text);
    } catch {
      throw new ApiError("bad_request", "Request body is not valid JSON");
    }
  }
  const r = schema.safeParse(raw);
  if (!r.success) throw new ApiError("bad_request", firstIssue(r.error));
  return r.data;
}

/** The `X-Request-Id` header (`<client-id>/<sequence number>`), if given. */
export function requestIdOf(c: Context): RequestId | undefined {
  const h = c.req.header("x-request-id");
  if (!h) return undefined;
  const m = h.match(/^([\w.:-]{1,128})\/(\d{1,15})$/);
  if (!m) {
    throw new ApiError(
      "bad_request",
      "X-Request-Id must look like <client-id>/<sequence number>",
    );
  }
  return { client: m[1], seq: Number(m[2]) };
}

/** The `consistency` query parameter (default linearizable). */
export function consistencyOf(c: Context): Consistency {
  const v = c.req.query("consistency");
  if (v === undefined || v === "linearizable") return "linearizable";
  if (v === "serializable") return "serializable";
  throw new ApiError(
    "bad_request",
    "consistency must be linearizable or serializable",
  );
}

/**
 * Parses a whole non-negative number from a query string; undefined when
 * absent, a `bad_request` {@linkcode ApiError} when malformed.
 */
export function queryInt(
  v: string | undefined,
  name: string,
  max = Number.MAX_SAFE_INTEGER,
): number | undefined {
  if (v === undefined || v === "") return undefined;
  if (!/^\d{1,16}$/.test(v) || Number(v) > max) {
    throw new ApiError(
      "bad_request",
      `${name} must be a whole number from 0 to ${max}`,
    );
  }
  return Number(v);
}

/** A path parameter that must be a positive whole number (a lease id). */
export function idParam(c: Context, name: string): number {
  const v = c.req.param(name);
  if (
    !v || !/^\d{1,16}$/.test(v) || Number(v) < 1 ||
    !Number.isSafeInteger(Number(v))
  ) {
    throw new ApiError(
      "bad_request",
      `${name} must be a positive whole number`,
    );
  }
  return Number(v);
}

/** `v` checked against `schema`; `what` names it in the error. */
export function checked<T>(schema: z.ZodType<T>, v: unknown, what: string): T {
  const r = schema.safeParse(v);
  if (!r.success) {
    throw new ApiError(
      "bad_request",
      `Invalid ${what}: ${r.error.issues[0]?.message ?? "malformed"}`,
    );
  }
  return r.data;
}
