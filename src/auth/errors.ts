/**
 * The error every auth check throws: who you are is not proven
 * (`unauthenticated`), your roles do not allow it (`permission_denied`),
 * or too many password checks are running (`too_many_requests`). It knows
 * nothing of HTTP; `src/api` gives each code its status.
 *
 * @module
 */

/** Why an auth check refused a request. */
export type AuthErrorCode =
  | "unauthenticated"
  | "permission_denied"
  | "too_many_requests";

/**
 * An auth check refused a request.
 *
 * @example
 * ```ts
 * import { AuthError } from "./errors.ts";
 *
 * const e = new AuthError("permission_denied", "User alice may not write key a");
 * console.log(e.code); // permission_denied
 * ```
 */
export class AuthError extends Error {
  /** The error code. */
  readonly code: AuthErrorCode;

  /** Creates an auth error. */
  constructor(code: AuthErrorCode, message: string) {
    super(message);
    this.name = "AuthError";
    this.code = code;
  }
}
