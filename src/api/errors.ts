/**
 * The API's error shape, `{"error": {"code", "message"}}`, and the mapping
 * from the node's and the service's errors to HTTP statuses.
 *
 * @module
 */

import { HTTPException } from "hono/http-exception";
import {
  ProposalLostError,
  TimeoutError,
  UnavailableError,
} from "../node/errors.ts";

/** Error codes the API returns. */
export type ErrorCode =
  | "bad_request"
  | "not_found"
  | "method_not_allowed"
  | "conflict"
  | "lock_held"
  | "stale_token"
  | "compacted"
  | "too_large"
  | "unavailable"
  | "timeout"
  | "internal";

/** The HTTP status of each code. */
export const STATUS: Record<ErrorCode, number> = {
  bad_request: 400,
  not_found: 404,
  method_not_allowed: 405,
  conflict: 409,
  lock_held: 409,
  stale_token: 409,
  compacted: 410,
  too_large: 413,
  unavailable: 503,
  timeout: 504,
  internal: 500,
};

/** An error the API turns into a JSON response, with extra top-level fields. */
export class ApiError extends Error {
  /** The error code. */
  readonly code: ErrorCode;
  /** Extra fields beside `error` (for example `current` or `holder`). */
  readonly extra: Record<string, unknown>;

  /** Creates an API error. */
  constructor(
    code: ErrorCode,
    message: string,
    extra: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = "ApiError";
    this.code = code;
    this.extra = extra;
  }
}

/** The JSON body and status for any thrown value. */
export function toErrorResponse(
  e: unknown,
): { status: number; body: Record<string, unknown>; retryAfter?: number } {
  if (e instanceof ApiError) {
    return {
      status: STATUS[e.code],
      body: { error: { code: e.code, message: e.message }, ...e.extra },
      retryAfter: e.code === "unavailable" ? 1 : undefined,
    };
  }
  if (e instanceof UnavailableError || e instanceof ProposalLostError) {
    return {
      status: 503,
      body: { error: { code: "unavailable", message: e.message } },
      retryAfter: 1,
    };
  }
  if (e instanceof TimeoutError) {
    return {
      status: 504,
      body: { error: { code: "timeout", message: e.message } },
    };
  }
  if (e instanceof HTTPException) {
    const code: ErrorCode = e.status === 413
      ? "too_large"
      : e.status === 404
      ? "not_found"
      : "bad_request";
    return {
      status: e.status,
      body: { error: { code, message: e.message || "Bad request" } },
    };
  }
  const message = e instanceof Error ? e.message : String(e);
  return {
    status: 500,
    body: {
      error: { code: "internal", message: `Internal error: ${message}` },
    },
  };
}
