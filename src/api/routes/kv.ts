/**
 * Keys and transactions: `GET /v1/kv`, `GET|PUT|DELETE /v1/kv/{key}`,
 * `POST /v1/txn`. Writes go through Raft; reads are linearizable unless
 * `consistency=serializable`.
 *
 * @module
 */

import { Hono } from "hono";
import type { TxnOp } from "../../state/commands.ts";
import { guardOf, writeOptions } from "../auth.ts";
import { ApiError } from "../errors.ts";
import type { AppOptions } from "../options.ts";
import { checked, consistencyOf, queryInt, readBody } from "../request.ts";
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
    const guard = guardOf(c);
    const r = await svc.range({
      prefix,
      // Absent or 0: one page of the most a list may return.
      limit: limit || MAX_LIST_LIMIT,
      startAfter,
    }, { consistency: consistencyOf(c), authorize: () => guard.read(prefix) });
    return c.json({ kvs: r.kvs, more: r.more, revision: r.revision });
  });

  app.get("/kv/:key{.+}", async (c) => {
    const key = checked(keySchema, c.req.param("key"), "key");
    const guard = guardOf(c);
    const kv = await svc.get(key, {
      consistency: consistencyOf(c),
      authorize: () => guard.read(key),
    });
    if (!kv) throw new ApiError("not_found", `Key ${key} does not exist`);
    return c.json(kv);
  });

  app.put("/kv/:key{.+}", async (c) => {
    const b = await readBody(c, putBody);
    const key = checked(keySchema, c.req.param("key"), "key");
    guardOf(c).write(key);
    return c.json(await svc.put({ key, ...b }, writeOptions(c)));
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
    guardOf(c).write(key);
    return c.json(
      await svc.delete({
        key,
        prefix: prefix === "true" || undefined,
        ifModRevision,
      }, writeOptions(c)),
    );
  });

  app.post("/txn", async (c) => {
    const b = await readBody(c, txnBody);
    const txn = {
      compare: b.compare,
      success: b.success.map(toTxnOp),
      failure: b.failure.map(toTxnOp),
      fence: b.fence,
    };
    guardOf(c).command({ type: "txn", ...txn });
    return c.json(await svc.txn(txn, writeOptions(c)));
  });

  return app;
}
