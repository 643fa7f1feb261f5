/**
 * The HTTP API (Hono): config keys, transactions, watches (SSE), leases,
 * locks, cluster membership, status, health and metrics. Every node serves
 * every route: writes and linearizable reads go through Raft (proposals are
 * forwarded to the leader, reads confirmed by ReadIndex); membership
 * changes are forwarded to the leader over HTTP.
 *
 * @module
 */

import { type Context, Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { streamSSE } from "hono/streaming";
import type { z } from "zod";
import { encode } from "../codec/msgpack.ts";
import type { LockService } from "../service/service.ts";
import type { RequestId, TxnOp } from "../state/commands.ts";
import { ApiError, toErrorResponse } from "./errors.ts";
import type { ApiMetrics } from "./api_metrics.ts";
import {
  acquireBody,
  type ApiTxnOp,
  keySchema,
  leaseBody,
  MAX_LIST_LIMIT,
  MAX_WAIT_MS,
  memberBody,
  nameSchema,
  putBody,
  QueryError,
  queryInt,
  releaseBody,
  transferBody,
  txnBody,
} from "./schemas.ts";

/** Options for {@linkcode createApp}. */
export interface AppOptions {
  /** The service on this node. */
  service: LockService;
  /** Metrics to record into and expose. */
  metrics: ApiMetrics;
  /** Largest request body in bytes (default 2 MiB). */
  maxBodyBytes?: number;
  /** Seconds between idle watch progress events (default 5). */
  watchProgressSeconds?: number;
  /** Aborted when the server stops: open watch streams end. */
  shutdown?: AbortSignal;
}

type Ctx = Context;

// Every route and the methods it answers, for 405 answers.
const ROUTES: [RegExp, string[]][] = [
  [/^\/v1\/kv\/.+$/, ["GET", "PUT", "DELETE"]],
  [/^\/v1\/kv$/, ["GET"]],
  [/^\/v1\/txn$/, ["POST"]],
  [/^\/v1\/watch$/, ["GET"]],
  [/^\/v1\/leases$/, ["GET", "POST"]],
  [/^\/v1\/leases\/[^/]+\/keepalive$/, ["POST"]],
  [/^\/v1\/leases\/[^/]+$/, ["GET", "DELETE"]],
  [/^\/v1\/locks$/, ["GET"]],
  [/^\/v1\/locks\/[^/]+\/(acquire|release)$/, ["POST"]],
  [/^\/v1\/locks\/[^/]+$/, ["GET"]],
  [/^\/v1\/status$/, ["GET"]],
  [/^\/v1\/cluster$/, ["GET"]],
  [/^\/v1\/cluster\/members$/, ["POST"]],
  [/^\/v1\/cluster\/members\/[^/]+$/, ["DELETE"]],
  [/^\/v1\/cluster\/members\/[^/]+\/promote$/, ["POST"]],
  [/^\/v1\/cluster\/leader$/, ["POST"]],
  [/^\/v1\/snapshot$/, ["GET"]],
  [/^\/(healthz|readyz|metrics)$/, ["GET"]],
];

function routeOf(path: string): string {
  for (const [re] of ROUTES) if (re.test(path)) return re.source;
  return "unknown";
}

function firstIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  const field = issue?.path?.length ? issue.path.join(".") : "body";
  return `Invalid ${field}: ${issue?.message ?? "malformed"}`;
}

/**
 * Reads and validates a JSON body. Any content type is accepted (curl's
 * `-d` sends a form type); an empty body counts as `{}`.
 */
async function body<T>(c: Ctx, schema: z.ZodType<T>): Promise<T> {
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

function requestIdOf(c: Ctx): RequestId | undefined {
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

function consistencyOf(c: Ctx): "linearizable" | "serializable" {
  const v = c.req.query("consistency");
  if (v === undefined || v === "linearizable") return "linearizable";
  if (v === "serializable") return "serializable";
  throw new ApiError(
    "bad_request",
    "consistency must be linearizable or serializable",
  );
}

function idParam(c: Ctx, name: string): number {
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

function checked<T>(schema: z.ZodType<T>, v: unknown, what: string): T {
  const r = schema.safeParse(v);
  if (!r.success) {
    throw new ApiError(
      "bad_request",
      `Invalid ${what}: ${r.error.issues[0]?.message ?? "malformed"}`,
    );
  }
  return r.data;
}

function toTxnOp(op: ApiTxnOp): TxnOp {
  if ("put" in op) return { type: "put", ...op.put };
  if ("delete" in op) return { type: "delete", ...op.delete };
  return { type: "get", ...op.get };
}

/** Builds the Hono app for one node. */
export function createApp(options: AppOptions): Hono {
  const svc = options.service;
  const node = svc.node;
  const metrics = options.metrics;
  const app = new Hono();

  // Headers, latency metrics and JSON errors for everything.
  app.use("*", async (c, next) => {
    const t0 = performance.now();
    try {
      await next();
    } finally {
      try {
        c.res.headers.set("X-Raft-Revision", String(svc.state.revision));
        c.res.headers.set("X-Raft-Term", String(node.term));
      } catch {
        // Streaming responses may have sent their headers already.
      }
      metrics.http.observe((performance.now() - t0) / 1000, {
        route: routeOf(c.req.path),
        method: c.req.method,
        status: String(c.res.status),
      });
    }
  });
  app.use(
    "*",
    bodyLimit({
      maxSize: options.maxBodyBytes ?? 2 * 1024 * 1024,
      onError: (c) =>
        c.json({
          error: {
            code: "too_large",
            message: `Request body is larger than ${
              options.maxBodyBytes ?? 2097152
            } bytes`,
          },
        }, 413),
    }),
  );
  app.onError((e, c) => {
    if (e instanceof QueryError) e = new ApiError("bad_request", e.message);
    const r = toErrorResponse(e);
    if (r.status === 500) console.error(e);
    if (r.retryAfter) c.header("Retry-After", String(r.retryAfter));
    c.header("X-Raft-Revision", String(svc.state.revision));
    c.header("X-Raft-Term", String(node.term));
    return c.json(r.body, r.status as 400);
  });
  app.notFound((c) => {
    const route = ROUTES.find(([re]) => re.test(c.req.path));
    if (route) {
      c.header("Allow", route[1].join(", "));
      return c.json({
        error: {
          code: "method_not_allowed",
          message: `${c.req.method} is not allowed on ${c.req.path}; use ${
            route[1].join(" or ")
          }`,
        },
      }, 405);
    }
    return c.json({
      error: {
        code: "not_found",
        message: `No route for ${c.req.method} ${c.req.path}`,
      },
    }, 404);
  });

  // ------------------------------------------------------------------ keys

  app.get("/v1/kv", async (c) => {
    const prefix = c.req.query("prefix") ?? "";
    const limit = queryInt(c.req.query("limit"), "limit", MAX_LIST_LIMIT);
    const startAfter = c.req.query("startAfter");
    const r = await svc.range({
      prefix,
      limit: limit === 0 ? undefined : limit,
      startAfter,
    }, consistencyOf(c));
    return c.json({ kvs: r.kvs, more: r.more, revision: r.revision });
  });

  app.get("/v1/kv/:key{.+}", async (c) => {
    const key = checked(keySchema, c.req.param("key"), "key");
    const kv = await svc.get(key, consistencyOf(c));
    if (!kv) throw new ApiError("not_found", `Key ${key} does not exist`);
    return c.json(kv);
  });

  app.put("/v1/kv/:key{.+}", async (c) => {
    const b = await body(c, putBody);
    const key = checked(keySchema, c.req.param("key"), "key");
    return c.json(await svc.put({ key, ...b }, { requestId: requestIdOf(c) }));
  });

  app.delete("/v1/kv/:key{.+}", async (c) => {
    const key = checked(keySchema, c.req.param("key"), "key");
    const prefix = c.req.query("prefix");
    if (prefix !== undefined && prefix !== "true" && prefix !== "false") {
      throw new ApiError("bad_request", "prefix must be true or false");
    }
    const ifModRevision = queryInt(
      c.req.query("ifModRevision"),
      "ifModRevision",
    );
    return c.json(
      await svc.delete({
        key,
        prefix: prefix === "true" || undefined,
        ifModRevision,
      }, { requestId: requestIdOf(c) }),
    );
  });

  app.post("/v1/txn", async (c) => {
    const b = await body(c, txnBody);
    return c.json(
      await svc.txn({
        compare: b.compare,
        success: b.success.map(toTxnOp),
        failure: b.failure.map(toTxnOp),
        fence: b.fence,
      }, { requestId: requestIdOf(c) }),
    );
  });

  // --------------------------------------------------------------- watches

  app.get("/v1/watch", (c) => {
    const key = c.req.query("key");
    const prefix = c.req.query("prefix");
    if (key !== undefined && prefix !== undefined) {
      throw new ApiError("bad_request", "Give key or prefix, not both");
    }
    if (key !== undefined) checked(keySchema, key, "key");
    const lastId = c.req.header("last-event-id");
    let after: number;
    if (lastId !== undefined && lastId !== "") {
      after = queryInt(lastId, "Last-Event-ID")!;
    } else {
      const from = queryInt(c.req.query("fromRevision"), "fromRevision");
      // fromRevision r: events at r and later. Default: from now on.
      after = from === undefined || from === 0 ? svc.state.revision : from - 1;
    }
    const progressMs = (options.watchProgressSeconds ?? 5) * 1000;
    return streamSSE(c, async (stream) => {
      metrics.watchers.inc();
      let closed = false;
      let queue: Promise<void> = Promise.resolve();
      const send = (m: { event: string; data: string; id?: string }) => {
        queue = queue.then(() => (closed ? undefined : stream.writeSSE(m)))
          .catch(() => {
            closed = true;
          });
      };
      let lastSent = Date.now();
      const handle = svc.watch(
        key !== undefined ? { key } : { prefix: prefix ?? "" },
        after,
        {
          onEvents(events) {
            lastSent = Date.now();
            for (const e of events) {
              send({
                id: String(e.revision),
                event: e.type,
                data: JSON.stringify(e),
              });
            }
          },
          onCompacted(compactRevision) {
            send({
              event: "compacted",
              data: JSON.stringify({ compactRevision }),
            });
            // Close only after the queued event is written.
            queue = queue.then(() => {
              closed = true;
              return stream.close();
            });
          },
        },
      );
      stream.onAbort(() => {
        closed = true;
        handle.close();
      });
      try {
        // Wake early when the server stops, so shutdown never waits on a watch.
        const stopping = options.shutdown;
        let wake = () => {};
        const stopped = new Promise<void>((r) => (wake = r));
        const onStop = () => {
          closed = true;
          wake();
        };
        stopping?.addEventListener("abort", onStop, { once: true });
        if (stopping?.aborted) onStop();
        while (!closed) {
          await Promise.race([
            stream.sleep(Math.min(1000, progressMs)),
            stopped,
          ]);
          if (!closed && Date.now() - lastSent >= progressMs) {
            lastSent = Date.now();
            send({
              event: "progress",
              data: JSON.stringify({ revision: svc.state.revision }),
            });
          }
        }
        await queue;
        stopping?.removeEventListener("abort", onStop);
      } finally {
        handle.close();
        metrics.watchers.dec();
      }
    });
  });

  // ---------------------------------------------------------------- leases

  app.post("/v1/leases", async (c) => {
    const b = await body(c, leaseBody);
    return c.json(
      await svc.grantLease(b.ttl, { requestId: requestIdOf(c) }),
      201,
    );
  });
  app.post("/v1/leases/:id/keepalive", async (c) => {
    return c.json(
      await svc.keepAlive(idParam(c, "id"), { requestId: requestIdOf(c) }),
    );
  });
  app.get("/v1/leases/:id", async (c) => {
    const id = idParam(c, "id");
    // Only the leader's clock knows the time left.
    if (!node.isLeader && c.req.query("local") === undefined) {
      const fwd = await forwardToLeader(c, svc).catch(() => undefined);
      if (fwd) return fwd;
    }
    const l = await svc.lease(id);
    if (!l) {
      throw new ApiError(
        "not_found",
        `Lease ${id} does not exist (it may have expired)`,
      );
    }
    return c.json({
      id: l.id,
      ttl: l.ttl,
      remaining: l.remaining,
      keys: l.keys,
      locks: l.locks,
    });
  });
  app.delete("/v1/leases/:id", async (c) => {
    return c.json(
      await svc.revoke(idParam(c, "id"), { requestId: requestIdOf(c) }),
    );
  });
  app.get("/v1/leases", async (c) => c.json({ leases: await svc.leases() }));

  // ----------------------------------------------------------------- locks

  app.post("/v1/locks/:name/acquire", async (c) => {
    const b = await body(c, acquireBody);
    const name = checked(nameSchema, c.req.param("name"), "lock name");
    if (b.ttl === undefined && b.lease === undefined) {
      throw new ApiError(
        "bad_request",
        "Give ttl (seconds, a lease is made for the lock) or lease (an existing lease id)",
      );
    }
    const g = await svc.acquire(name, {
      ttl: b.ttl,
      lease: b.lease,
      wait: Math.min(b.wait ?? 0, MAX_WAIT_MS),
      owner: b.owner,
      lockDelay: b.lockDelay,
      signal: c.req.raw.signal,
    });
    metrics.lockGrants.inc();
    return c.json(g);
  });
  app.post("/v1/locks/:name/release", async (c) => {
    const b = await body(c, releaseBody);
    const name = checked(nameSchema, c.req.param("name"), "lock name");
    return c.json(
      await svc.release(name, b.token, { requestId: requestIdOf(c) }),
    );
  });
  app.get("/v1/locks/:name", async (c) => {
    const name = checked(nameSchema, c.req.param("name"), "lock name");
    const token = queryInt(c.req.query("token"), "token");
    if (token !== undefined) {
      return c.json({ valid: await svc.checkToken(name, token) });
    }
    const l = await svc.lock(name);
    return c.json({
      name: l.name,
      holder: l.holder,
      waiters: l.waiters.length,
    });
  });
  app.get("/v1/locks", async (c) => {
    const ls = await svc.locks();
    return c.json({
      locks: ls.map((l) => ({
        name: l.name,
        holder: l.holder,
        waiters: l.waiters.length,
      })),
    });
  });

  // --------------------------------------------------------------- cluster

  app.get("/v1/status", (c) => {
    const s = node.status();
    return c.json({
      id: s.id,
      role: s.role,
      term: s.term,
      leader: s.leader,
      commit: s.commit,
      applied: s.applied,
      lastIndex: s.lastIndex,
      snapshotIndex: s.snapshotIndex,
      revision: svc.state.revision,
    });
  });

  app.get("/v1/cluster", async (c) => {
    if (!node.isLeader && c.req.query("local") === undefined) {
      const fwd = await forwardToLeader(c, svc);
      if (fwd) return fwd;
    }
    const s = node.status();
    return c.json({
      leader: s.leader,
      term: s.term,
      members: s.members.map((m) => ({
        ...m,
        isLeader: m.id === s.leader,
        progress: s.progress[m.id],
      })),
    });
  });

  app.post("/v1/cluster/members", async (c) => {
    const b = await body(c, memberBody);
    if (!node.isLeader) {
      return await forwardToLeader(c, svc, true, b) as Response;
    }
    const info = { peerAddress: b.peerAddress, httpAddress: b.httpAddress };
    if (b.learner === false) await node.addVoter(b.id, info);
    else await node.addLearner(b.id, info);
    return c.json(
      { id: b.id, role: b.learner === false ? "voter" : "learner" },
      201,
    );
  });
  app.delete("/v1/cluster/members/:id", async (c) => {
    if (!node.isLeader) return await forwardToLeader(c, svc, true) as Response;
    const id = c.req.param("id");
    if (!node.status().members.some((m) => m.id === id)) {
      throw new ApiError("not_found", `${id} is not a member`);
    }
    await node.removeMember(id);
    return c.json({ id, removed: true });
  });
  app.post("/v1/cluster/members/:id/promote", async (c) => {
    if (!node.isLeader) return await forwardToLeader(c, svc, true) as Response;
    const id = c.req.param("id");
    const m = node.status().members.find((x) => x.id === id);
    if (!m) throw new ApiError("not_found", `${id} is not a member`);
    if (m.role === "voter") {
      throw new ApiError("conflict", `${id} is already a voter`);
    }
    await node.promote(id);
    return c.json({ id, role: "voter" });
  });
  app.post("/v1/cluster/leader", async (c) => {
    const b = await body(c, transferBody);
    if (!node.isLeader) {
      return await forwardToLeader(c, svc, true, b) as Response;
    }
    const to = b.to;
    const m = node.status().members.find((x) => x.id === to);
    if (!m) throw new ApiError("not_found", `${to} is not a member`);
    if (m.role !== "voter") {
      throw new ApiError(
        "bad_request",
        `${to} is a learner; promote it before moving leadership to it`,
      );
    }
    if (to === node.id) return c.json({ leader: to });
    node.transferLeadership(to);
    const deadline = Date.now() + 3000;
    while (Date.now() < deadline && node.leader !== to) {
      await new Promise((r) => setTimeout(r, 20));
    }
    if (node.leader !== to) {
      throw new ApiError(
        "timeout",
        `Leadership did not move to ${to} within 3 s; it may be behind or unreachable`,
      );
    }
    return c.json({ leader: to });
  });

  app.get("/v1/snapshot", async (c) => {
    await svc.barrier();
    const s = node.status();
    const body = encode({
      v: 1,
      format: "raftlock-backup",
      index: s.applied,
      term: s.term,
      revision: svc.state.revision,
      state: svc.state.snapshot(),
    });
    c.header("Content-Type", "application/octet-stream");
    c.header(
      "Content-Disposition",
      `attachment; filename="raftlock-${s.applied}.snap"`,
    );
    return c.body(body as Uint8Array<ArrayBuffer>);
  });

  // ----------------------------------------------------------- operations

  app.get("/healthz", (c) => c.json({ ok: true, id: node.id }));
  app.get("/readyz", (c) => {
    const s = node.status();
    const ready = s.leader !== "" && s.applied >= s.commit;
    return c.json(
      { ready, leader: s.leader || null, commit: s.commit, applied: s.applied },
      ready ? 200 : 503,
    );
  });
  app.get("/metrics", (c) => {
    c.header("Content-Type", "text/plain; version=0.0.4");
    return c.body(metrics.registry.render());
  });

  return app;
}

/**
 * Forwards the request to the leader's HTTP API. Returns undefined when no
 * leader address is known, unless `required` (then answers 503).
 */
async function forwardToLeader(
  c: Ctx,
  svc: LockService,
  required = false,
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
  const target = `http://${addr}${url.pathname}${url.search}`;
  const init: RequestInit = {
    method: c.req.method,
    headers: { "content-type": "application/json" },
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
