/**
 * Client authentication for the HTTP API: one middleware that, while auth
 * is on, requires `Authorization: Bearer <token>` (Hono's `bearer-auth`
 * with our verifier) on every route but the open ones, and puts a
 * {@linkcode Guard} on the context; route handlers ask the guard
 * (`guardOf(c).write(key)`) and pass the verified user along with each
 * write ({@linkcode writeOptions}), so the state machine checks it again
 * when it applies.
 *
 * Open even with auth on: `/healthz`, `/readyz`, `/metrics`,
 * `POST /v1/auth/token`, `GET /v1/auth/status`.
 *
 * @module
 */

import type { Context, MiddlewareHandler } from "hono";
import { bearerAuth } from "hono/bearer-auth";
import { type Authenticator, Guard, type Principal } from "../auth/mod.ts";
import type { WriteOptions } from "../service/service.ts";
import { ApiError, errorResponse } from "./errors.ts";
import { requestIdOf } from "./request.ts";

declare module "hono" {
  interface ContextVariableMap {
    /** The request's permission checks (set by {@linkcode authenticate}). */
    guard: Guard;
    /** Why the bearer token was refused (between verifier and answer). */
    authRefusal: string;
  }
}

/** Routes that answer without a token, as `METHOD path`. */
const OPEN = new Set([
  "GET /healthz",
  "GET /readyz",
  "GET /metrics",
  "POST /v1/auth/token",
  "GET /v1/auth/status",
]);

function isOpen(c: Context): boolean {
  const method = c.req.method === "HEAD" ? "GET" : c.req.method;
  return OPEN.has(`${method} ${c.req.path}`);
}

function refusal(message: string, error?: string): Response {
  const r = errorResponse(new ApiError("unauthenticated", message));
  if (error) {
    r.headers.set(
      "WWW-Authenticate",
      `Bearer realm="raftlock", error="${error}"`,
    );
  }
  return r;
}

/**
 * The authentication middleware: with auth off (or on an open route) every
 * request gets a guard that allows everything; with auth on, a request
 * without a valid bearer token is answered 401 `unauthenticated` with
 * `WWW-Authenticate: Bearer`.
 */
export function authenticate(authn: Authenticator): MiddlewareHandler {
  const bearer = bearerAuth({
    realm: "raftlock",
    verifyToken: async (token, c) => {
      try {
        c.set("guard", new Guard(authn, await authn.verify(token)));
        return true;
      } catch (e) {
        c.set("authRefusal", (e as Error).message);
        return false;
      }
    },
    noAuthenticationHeader: {
      message: () =>
        refusal(
          "Auth is on: send Authorization: Bearer <token> (get one with POST /v1/auth/token)",
        ),
    },
    invalidAuthenticationHeader: {
      message: () =>
        refusal(
          "The Authorization header must be 'Bearer <token>'",
          "invalid_request",
        ),
    },
    invalidToken: {
      message: (c) =>
        refusal(c.get("authRefusal") ?? "Token is invalid", "invalid_token"),
    },
  });
  return async function authenticate(c, next) {
    if (isOpen(c)) {
      c.set("guard", new Guard(authn));
      await next();
      return;
    }
    if (!authn.enabled) {
      // Auth looks off here, but this node may not have applied its
      // turning on yet: a valid token still names the user, so the checks
      // after the read barrier and at apply see who it is.
      c.set("guard", new Guard(authn, await optionalPrincipal(authn, c)));
      await next();
      return;
    }
    await bearer(c, next);
  };
}

async function optionalPrincipal(
  authn: Authenticator,
  c: Context,
): Promise<Principal | undefined> {
  const m = c.req.header("authorization")?.match(/^Bearer\s+(\S+)$/i);
  if (!m) return undefined;
  try {
    return await authn.verify(m[1]);
  } catch {
    return undefined;
  }
}

/** The request's guard. */
export function guardOf(c: Context): Guard {
  const g = c.get("guard") as Guard | undefined;
  // Fail closed: a route reached without the middleware is a bug.
  if (!g) throw new Error("The request has no guard: authenticate did not run");
  return g;
}

/** The options of a write: its `X-Request-Id` and the verified user. */
export function writeOptions(c: Context): WriteOptions {
  return { requestId: requestIdOf(c), auth: guardOf(c).commandAuth() };
}
