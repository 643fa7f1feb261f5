/**
 * Forwarding a request to the leader's HTTP API, for what only the leader
 * can answer (membership changes, the lease clock, the member list). The
 * request's `Authorization` header goes along.
 *
 * @module
 */

import type { Context } from "hono";
import type { LockService } from "../service/service.ts";
import { ApiError } from "./errors.ts";

/**
 * What the server passes as Hono's `env` (`app.fetch(request, env)`): how
 * this node reaches other members' HTTP APIs. Every member serves the same
 * scheme; `client` trusts the CA of their certificates.
 */
export interface InternalHttp {
  /** `https` when the members serve TLS (default `http`). */
  scheme?: "http" | "https";
  /** The fetch client for those calls (default: the global one). */
  client?: Deno.HttpClient;
}

/**
 * Forwards the request to the leader's HTTP API. Returns undefined when no
 * leader address is known (or this node leads), unless `required`: then it
 * throws `unavailable`.
 */
export async function forwardToLeader(
  c: Context,
  svc: LockService,
  required: boolean,
  body?: unknown,
): Promise<Response | undefined> {
  const leader = svc.node.leader;
  const addr = leader ? svc.node.member(leader)?.httpAddress : undefined;
  if (!addr || leader === svc.node.id) {
    if (!required) return undefined;
    throw new ApiError(
      "unavailable",
      leader
        ? `The leader ${leader} has not published its HTTP address yet; retry shortly`
        : "No leader is known; retry once one is elected",
    );
  }
  const url = new URL(c.req.url);
  const internal = (c.env as { internalHttp?: InternalHttp } | undefined)
    ?.internalHttp;
  const target = `${
    internal?.scheme ?? "http"
  }://${addr}${url.pathname}${url.search}`;
  const headers: Record<string, string> = {
    "content-type": "application/json",
  };
  // The leader checks the same token again (every node has the keys).
  const authorization = c.req.header("authorization");
  if (authorization) headers.authorization = authorization;
  const init: RequestInit & { client?: Deno.HttpClient } = {
    method: c.req.method,
    headers,
    client: internal?.client,
  };
  if (body !== undefined) init.body = JSON.stringify(body);
  try {
    const r = await fetch(target, {
      ...init,
      signal: AbortSignal.timeout(10_000),
    });
    return new Response(r.body, { status: r.status, headers: r.headers });
  } catch (e) {
    throw new ApiError(
      "unavailable",
      `Could not reach the leader ${leader} at ${addr}: ${
        (e as Error).message
      }`,
    );
  }
}

/** Like {@linkcode forwardToLeader} with `required`: always a response. */
export async function mustForward(
  c: Context,
  svc: LockService,
  body?: unknown,
): Promise<Response> {
  return (await forwardToLeader(c, svc, true, body))!;
}
