/**
 * Keys and transactions: `GET /v1/kv`, `GET|PUT|DELETE /v1/kv/{key}`,
 * `POST /v1/txn`. Writes go through Raft; reads are linearizable unless
 * `consistency=serializable`.
 *
 * @module
 */

import { Hono } from "hono";
import type { TxnOp } from "../../state/commands.ts";
import { ApiError } from "../errors.ts";
import type { AppOptions } from "../options.ts";
import {
  checked,
  consistencyOf,
  queryInt,
  readBody,
  requestIdOf,
} from "../request.ts";
import {
  type ApiTxnOp,
  keySchema,
  MAX_LIST_LIMIT,
  putBody,
  txnBody,
} from "../schemas.ts";

function toTxnOp(op: ApiTxnOp): TxnOp {
  if ("put" in op) return { type: "put", ...op.put };
  if ("delete" in op) return { type: "delete", ...op.delete };
  // A prefix get is a list: one page, like GET /v1/kv.
  return op.get.prefix
    ? { type: "get", ...op.get, limit: op.get.limit ?? MAX_LIST_LIMIT }
    : { type: "get", ...op.get };
}

/** The key and transaction routes, relative to `/v1`. */
export function kvRoutes(options: AppOptions): Hono {
  const svc = options.service;
  const app = new Hono();

  app.get("/kv", async (c) => {
    const prefix = c.req.query("prefix") ?? "";
    const limit = queryInt(c.req.query("limit"), "limit", MAX_LIST_LIMIT);
    const startAfter = c.req.query("startAfter");
    const r = await svc.range({
      prefix,
      // Absent or 0: one page of the most a list may return.
      limit: limit || MAX_LIST_LIMIT,
      startAfter,
    }, consistencyOf(c));
    return c.json({ kvs: r.kvs, more: r.more, revision: r.revision });
  });

  app.get("/kv/:key{.+}", async (c) => {
    const key = checked(keySchema, c.req.param("key"), "key");
    const kv = await svc.get(key, consistencyOf(c));
    if (!kv) throw new ApiError("not_found", `Key ${key} does not exist`);
    return c.json(kv);
  });

  app.put("/kv/:key{.+}", async (c) => {
    const b = await readBody(c, putBody);
    const key = checked(keySchema, c.req.param("key"), "key");
    return c.json(await svc.put({ key, ...b }, { requestId: requestIdOf(c) }));
  });

  app.delete("/kv/:key{.+}", async (c) => {
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

  app.post("/txn", async (c) => {
    const b = await readBody(c, txnBody);
    return c.json(
      await svc.txn({
        compare: b.compare,
        success: b.success.map(toTxnOp),
        failure: b.failure.map(toTxnOp),
        fence: b.fence,
      }, { requestId: requestIdOf(c) }),
    );
  });

  return app;
}
