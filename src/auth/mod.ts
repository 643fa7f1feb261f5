/**
 * Client authentication and authorization, without HTTP: password hashing
 * (PBKDF2-SHA-256, WebCrypto), bearer tokens (HS256 JWTs signed by Hono's
 * helpers with a replicated key), the bounded password-check limiter, and
 * the per-request permission checks over the replicated users and roles.
 *
 * @example
 * ```ts ignore
 * import { Authenticator, Guard } from "./mod.ts";
 *
 * const authn = new Authenticator(stateMachine);
 * const principal = await authn.verify(bearerToken);
 * new Guard(stateMachine, principal).write("app/mode");
 * ```
 *
 * @module
 */

export * from "./authenticator.ts";
export * from "./errors.ts";
export * from "./guard.ts";
export * from "./limiter.ts";
export * from "./password.ts";
export * from "./tokens.ts";
