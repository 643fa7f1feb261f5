/**
 * `GET /v1/cluster/status`: every member's `GET /v1/status`, gathered by
 * the answering node, so the console (which may reach only the node that
 * served it: same origin, no CORS) sees the whole cluster in one request.
 * A member that does not answer within a short timeout is listed with
 * `status: null` and the reason; the request's `Authorization` goes along.
 *
 * Members come from this node's own configuration (every node has it from
 * the log); replication progress only when this node leads.
 *
 * @module
 */

import { Hono } from "hono";
import type { Context } from "hono";
import type {
  ClusterStatus,
  MemberStatus,
  NodeStatus,
} from "../../wire/types.ts";
import { guardOf } from "../auth.ts";
import { nodeStatusOf } from "./cluster.ts";
import type { InternalHttp } from "../forward.ts";
import type { AppOptions } from "../options.ts";

/** How long one member may take to answer, in ms. */
export const MEMBER_STATUS_TIMEOUT_MS = 800;

/** The cluster status route, relative to `/v1`. */
export function clusterStatusRoutes(options: AppOptions): Hono {
  const svc = options.service;
  const node = svc.node;
  const app = new Hono();

  app.get("/cluster/status", async (c) => {
    guardOf(c).user();
    const s = node.status();
    const members = await Promise.all(s.members.map(
      async (m): Promise<MemberStatus> => {
        const base = {
          ...m,
          isLeader: m.id === s.leader,
          progress: s.progress[m.id],
        };
        if (m.id === node.id) return { ...base, status: nodeStatusOf(svc) };
        if (!m.httpAddress) {
          return {
            ...base,
            status: null,
            error: "No HTTP address published",
          };
        }
        return { ...base, ...await memberStatus(c, m.httpAddress) };
      },
    ));
    const answer: ClusterStatus = {
      id: node.id,
      leader: s.leader,
      term: s.term,
      members,
    };
    return c.json(answer);
  });

  return app;
}

// One member's status over HTTP, or why there is none.
async function memberStatus(
  c: Context,
  address: string,
): Promise<{ status: NodeStatus | null; error?: string }> {
  const internal = (c.env as { internalHttp?: InternalHttp } | undefined)
    ?.internalHttp;
  const headers: Record<string, string> = {};
  const authorization = c.req.header("authorization");
  if (authorization) headers.authorization = authorization;
  const init: RequestInit & { client?: Deno.HttpClient } = {
    headers,
    client: internal?.client,
    signal: AbortSignal.timeout(MEMBER_STATUS_TIMEOUT_MS),
  };
  try {
    const r = await fetch(
      `${internal?.scheme ?? "http"}://${address}/v1/status`,
      init,
    );
    const body = await r.json().catch(() => undefined);
    if (r.status !== 200 || typeof body !== "object" || body === null) {
      return { status: null, error: `Answered ${r.status}` };
    }
    return { status: body as NodeStatus };
  } catch (e) {
    const name = (e as Error).name;
    return {
      status: null,
      error: name === "TimeoutError"
        ? `No answer within ${MEMBER_STATUS_TIMEOUT_MS} ms`
        : `Unreachable: ${(e as Error).message}`,
    };
  }
}
