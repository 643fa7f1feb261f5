/**
 * The API's error shape, `{"error": {"code", "message"}}` plus extra
 * top-level fields, and the one place that turns any thrown value — an
 * {@linkcode ApiError}, a {@linkcode ServiceError}, the node's errors — into
 * that JSON answer with its HTTP status.
 *
 * @module
 */

import { HTTPException } from "hono/http-exception";
import {
  ProposalLostError,
  TimeoutError,
  UnavailableError,
} from "../node/errors.ts";
import { ServiceError, type ServiceErrorCode } from "../service/errors.ts";
import { AuthError } from "../auth/errors.ts";

/**
 * Error codes the API returns: the service's (which are the state
 * machine's), plus those only the node or the HTTP layer gives.
 */
export type ErrorCode =
  | ServiceErrorCode
  | "too_many_requests"
  | "method_not_allowed"
  | "compacted"
  | "too_large"
  | "unavailable"
  | "timeout"
  | "internal";

/** The HTTP status of each code. */
export const STATUS: Readonly<Record<ErrorCode, number>> = {
  bad_request: 400,
  unauthenticated: 401,
  permission_denied: 403,
  not_found: 404,
  method_not_allowed: 405,
  conflict: 409,
  lock_held: 409,
  stale_token: 409,
  compacted: 410,
  too_large: 413,
  too_many_requests: 429,
  too_many_waiters: 429,
  unavailable: 503,
  timeout: 504,
  internal: 500,
  quota_exceeded: 507,
};

/**
 * An error the HTTP layer raises itself (bad input, an unknown member, no
 * route), answered as JSON with the status of its code.
 *
 * @example
 * ```ts
 * import { ApiError, errorResponse } from "./errors.ts";
 *
 * const r = errorResponse(new ApiError("not_found", "Key a does not exist"));
 * console.log(r.status); // 404
 * ```
 */
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

/** What an error answers: status, JSON body, and `Retry-After` if any. */
export interface ErrorAnswer {
  /** The HTTP status. */
  status: number;
  /** `{"error": {code, message}, ...extra}`. */
  body: Record<string, unknown>;
  /** Seconds for `Retry-After`, for retriable answers. */
  retryAfter?: number;
  /** `WWW-Authenticate`, on `unauthenticated`. */
  wwwAuthenticate?: string;
}

/** The code, message and extra fields of any thrown value. */
function classify(
  e: unknown,
): { code: ErrorCode; message: string; extra?: Record<string, unknown> } {
  if (e instanceof ApiError) {
    return { code: e.code, message: e.message, extra: e.extra };
  }
  if (e instanceof ServiceError) {
    return { code: e.code, message: e.message, extra: e.details };
  }
  if (e instanceof AuthError) return { code: e.code, message: e.message };
  if (e instanceof UnavailableError || e instanceof ProposalLostError) {
    return { code: "unavailable", message: e.message };
  }
  if (e instanceof TimeoutError) return { code: "timeout", message: e.message };
  if (e instanceof HTTPException) {
    const code: ErrorCode = e.status === 413
      ? "too_large"
      : e.status === 404
      ? "not_found"
      : "bad_request";
    return { code, message: e.message || "Bad request" };
  }
  const message = e instanceof Error ? e.message : String(e);
  return { code: "internal", message: `Internal error: ${message}` };
}

/** The status, JSON body and `Retry-After` for any thrown value. */
export function toErrorAnswer(e: unknown): ErrorAnswer {
  const { code, message, extra } = classify(e);
  const a: ErrorAnswer = {
    status: STATUS[code],
    body: { error: { code, message }, ...extra },
    retryAfter: code === "unavailable" || code === "too_many_requests" ||
        code === "too_many_waiters"
      ? 1
      : undefined,
  };
  if (code === "unauthenticated") {
    a.wwwAuthenticate = 'Bearer realm="raftlock"';
  }
  return a;
}

/**
 * The JSON response for any thrown value. Every error the API sends is
 * built here.
 */
export function errorResponse(e: unknown): Response {
  const a = toErrorAnswer(e);
  const headers: Record<string, string> = {};
  if (a.retryAfter !== undefined) headers["Retry-After"] = String(a.retryAfter);
  if (a.wwwAuthenticate !== undefined) {
    headers["WWW-Authenticate"] = a.wwwAuthenticate;
  }
  return Response.json(a.body, { status: a.status, headers });
}
