/**
 * The service's own error: a request the service refused (a failed
 * condition, a missing lease or key, a held lock, a stale token, a bad
 * request). It knows nothing of HTTP; `src/api` maps each code to a status.
 * Failures of the node underneath (no leader, a timeout, a lost proposal)
 * pass through as the node's own errors.
 *
 * @module
 */

import type { ErrorCode, ErrorInfo } from "../state/results.ts";

/**
 * Why the service refused a request: the state machine's failure codes,
 * which the service also uses for its own refusals (`lock_held` when a wait
 * ends without a grant).
 */
export type ServiceErrorCode = ErrorCode;

/** Fields a {@linkcode ServiceError} carries beside its code and message. */
export type ServiceErrorDetails = Omit<ErrorInfo, "code" | "message">;

/**
 * A request the service refused.
 *
 * @example
 * ```ts
 * import { ServiceError } from "./errors.ts";
 *
 * const e = new ServiceError("lock_held", "Lock job is held", {
 *   holder: null,
 * });
 * console.log(e.code, e.details.holder); // lock_held null
 * ```
 */
export class ServiceError extends Error {
  /** The error code. */
  readonly code: ServiceErrorCode;
  /** Extra fields: `current` for a conflict, `holder` for a held lock. */
  readonly details: ServiceErrorDetails;

  /** Creates a service error. */
  constructor(
    code: ServiceErrorCode,
    message: string,
    details: ServiceErrorDetails = {},
  ) {
    super(message);
    this.name = "ServiceError";
    this.code = code;
    this.details = details;
  }
}
