/**
 * Key and transaction routes in-process (`app.request`) on a single node:
 * success shapes, each error path with its status and body, and the
 * `X-Raft-*` headers on both.
 */

import assert from "node:assert/strict";
import { MemoryStorage } from "../../src/storage/memory.ts";
import type { PersistUpdate } from "../../src/storage/types.ts";
import {
  assertRaftHeaders,
  assertUnavailable,
  errCode,
  errMessage,
  SingleNode,
  withNode,
} from "./single_node.ts";

Deno.test("PUT and GET /v1/kv/{key}", async () => {
  await withNode(async (n) => {
    const missing = await n.call("GET", "/v1/kv/cfg/db/host");
    assert.equal(missing.status, 404);
    assert.deepEqual(missing.json, {
      error: { code: "not_found", message: "Key cfg/db/host does not exist" },
    });
    assertRaftHeaders(missing, 0);

    const p = await n.call("PUT", "/v1/kv/cfg/db/host", { value: "a" });
    assert.equal(p.status, 200);
    assert.deepEqual(p.json, { revision: 1 });
    assertRaftHeaders(p, 1);

    const want = {
      key: "cfg/db/host",
      value: "a",
      createRevision: 1,
      modRevision: 1,
      version: 1,
    };
    const g = await n.call("GET", "/v1/kv/cfg/db/host");
    assert.equal(g.status, 200);
    assert.deepEqual(g.json, want);
    assertRaftHeaders(g, 1);
    for (const consistency of ["serializable", "linearizable"]) {
      const r = await n.call(
        "GET",
        `/v1/kv/cfg/db/host?consistency=${consistency}`,
      );
      assert.deepEqual(r.json, want);
    }
    const weird = await n.call("GET", "/v1/kv/cfg/db/host?consistency=weird");
    assert.equal(weird.status, 400);
    assert.deepEqual(weird.json, {
      error: {
        code: "bad_request",
        message: "consistency must be linearizable or serializable",
      },
    });

    // A key may hold slashes and percent-escapes.
    assert.equal(
      (await n.call("PUT", "/v1/kv/a%2Fb%20c", { value: "v" })).status,
      200,
    );
    assert.equal(
      (await n.call("GET", "/v1/kv/a%2Fb%20c")).json.key,
      "a/b c",
    );
  });
});

Deno.test("PUT /v1/kv/{key}: conditions, leases, fences", async () => {
  await withNode(async (n) => {
    const rev1 = (await n.call("PUT", "/v1/kv/k", { value: "a" })).json
      .revision as number;

    // ifModRevision 0 = must not exist.
    const exists = await n.call("PUT", "/v1/kv/k", {
      value: "b",
      ifModRevision: 0,
    });
    assert.equal(exists.status, 409);
    assert.equal(errCode(exists), "conflict");
    assert.deepEqual(exists.json.current, {
      key: "k",
      value: "a",
      createRevision: rev1,
      modRevision: rev1,
      version: 1,
    });
    assertRaftHeaders(exists, rev1);
    const ok = await n.call("PUT", "/v1/kv/k", {
      value: "b",
      ifModRevision: rev1,
    });
    assert.equal(ok.status, 200);
    const version = await n.call("PUT", "/v1/kv/k", {
      value: "c",
      ifVersion: 1,
    });
    assert.equal(version.status, 409);
    assert.equal(errCode(version), "conflict");
    assert.equal((version.json.current as { version: number }).version, 2);
    const fresh = await n.call("PUT", "/v1/kv/new", {
      value: "x",
      ifModRevision: 0,
    });
    assert.equal(fresh.status, 200);

    const noLease = await n.call("PUT", "/v1/kv/x", {
      value: "v",
      lease: 999999,
    });
    assert.equal(noLease.status, 404);
    assert.equal(errCode(noLease), "not_found");

    const noLock = await n.call("PUT", "/v1/kv/x", {
      value: "v",
      fence: { lock: "nolock", token: 1 },
    });
    assert.equal(noLock.status, 409);
    assert.equal(errCode(noLock), "stale_token");
  });
});

Deno.test("PUT /v1/kv/{key}: bad input is a 400 naming the problem", async () => {
  await withNode(async (n) => {
    const cases: [unknown, RegExp][] = [
      ["{not json", /^Request body is not valid JSON$/],
      [{ value: 5 }, /^Invalid value: /],
      [{ value: "v", extra: true }, /^Invalid body: /],
      [{ value: "v", ifModRevision: -1 }, /^Invalid ifModRevision: /],
      [{}, /^Invalid value: /],
    ];
    for (const [body, message] of cases) {
      const r = await n.call("PUT", "/v1/kv/x", body);
      assert.equal(r.status, 400, JSON.stringify(r.json));
      assert.equal(errCode(r), "bad_request");
      assert.match(errMessage(r), message);
      assertRaftHeaders(r, 0);
    }
    const long = await n.call("PUT", "/v1/kv/" + "k".repeat(1025), {
      value: "v",
    });
    assert.equal(long.status, 400);
    assert.match(errMessage(long), /^Invalid key: key must be at most 1024/);
    const badId = await n.call("PUT", "/v1/kv/x", { value: "v" }, {
      "x-request-id": "no sequence",
    });
    assert.equal(badId.status, 400);
    assert.deepEqual(badId.json, {
      error: {
        code: "bad_request",
        message: "X-Request-Id must look like <client-id>/<sequence number>",
      },
    });
    // Nothing was written.
    assert.equal((await n.call("GET", "/v1/kv?prefix=")).json.revision, 0);
  });
});

Deno.test("PUT /v1/kv/{key}: a retried X-Request-Id is applied once", async () => {
  await withNode(async (n) => {
    const h = { "x-request-id": "client-a/7" };
    const a = await n.call("PUT", "/v1/kv/once", { value: "1" }, h);
    const b = await n.call("PUT", "/v1/kv/once", { value: "1" }, h);
    assert.equal(a.status, 200);
    assert.deepEqual(b.json, a.json);
    assert.equal((await n.call("GET", "/v1/kv/once")).json.version, 1);
  });
});

Deno.test("a body over the limit is 413 too_large", async () => {
  await withNode(async (n) => {
    const big = await n.call("PUT", "/v1/kv/big", { value: "x".repeat(200) });
    assert.equal(big.status, 413);
    assert.deepEqual(big.json, {
      error: {
        code: "too_large",
        message: "Request body is larger than 100 bytes",
      },
    });
    assertRaftHeaders(big, 0);
    assert.equal(
      (await n.call("PUT", "/v1/kv/small", { value: "x" })).status,
      200,
    );
  }, { maxBodyBytes: 100 });
});

Deno.test("GET /v1/kv: prefix, limit, startAfter, bad query", async () => {
  await withNode(async (n) => {
    for (let i = 0; i < 5; i++) {
      await n.call("PUT", `/v1/kv/list/k${i}`, { value: String(i) });
    }
    await n.call("PUT", "/v1/kv/other", { value: "o" });
    const page = await n.call("GET", "/v1/kv?prefix=list/&limit=3");
    assert.equal(page.status, 200);
    assert.deepEqual(
      (page.json.kvs as { key: string }[]).map((kv) => kv.key),
      ["list/k0", "list/k1", "list/k2"],
    );
    assert.equal(page.json.more, true);
    assert.equal(page.json.revision, 6);
    const rest = await n.call(
      "GET",
      "/v1/kv?prefix=list/&startAfter=list/k2&consistency=serializable",
    );
    assert.deepEqual(
      (rest.json.kvs as { key: string }[]).map((kv) => kv.key),
      ["list/k3", "list/k4"],
    );
    assert.equal(rest.json.more, false);
    const all = await n.call("GET", "/v1/kv");
    assert.equal((all.json.kvs as unknown[]).length, 6);
    for (const q of ["limit=abc", "limit=-1", "limit=10001"]) {
      const r = await n.call("GET", `/v1/kv?${q}`);
      assert.equal(r.status, 400, q);
      assert.equal(errCode(r), "bad_request");
      assert.match(errMessage(r), /^limit must be a whole number from 0/);
    }
  });
});

Deno.test("DELETE /v1/kv/{key}: one key, a prefix, conditions", async () => {
  await withNode(async (n) => {
    for (let i = 0; i < 5; i++) {
      await n.call("PUT", `/v1/kv/list/k${i}`, { value: String(i) });
    }
    const one = await n.call("DELETE", "/v1/kv/list/k0");
    assert.equal(one.status, 200);
    assert.deepEqual(one.json, { deleted: 1, revision: 6 });
    assertRaftHeaders(one, 6);
    const none = await n.call("DELETE", "/v1/kv/list/k0");
    assert.equal(none.status, 200);
    assert.equal(none.json.deleted, 0);
    const prefix = await n.call("DELETE", "/v1/kv/list/?prefix=true");
    assert.equal(prefix.json.deleted, 4);

    await n.call("PUT", "/v1/kv/c", { value: "1" });
    const cond = await n.call("DELETE", "/v1/kv/c?ifModRevision=1");
    assert.equal(cond.status, 409);
    assert.equal(errCode(cond), "conflict");
    const badPrefix = await n.call("DELETE", "/v1/kv/c?prefix=maybe");
    assert.equal(badPrefix.status, 400);
    assert.equal(errMessage(badPrefix), "prefix must be true or false");
    const badRev = await n.call("DELETE", "/v1/kv/c?ifModRevision=x");
    assert.equal(badRev.status, 400);
    assert.equal(errCode(badRev), "bad_request");
    assert.equal((await n.call("GET", "/v1/kv/c")).status, 200);
  });
});

Deno.test("POST /v1/txn: compare, then success or failure", async () => {
  await withNode(async (n) => {
    await n.call("PUT", "/v1/kv/tx/a", { value: "1" });
    const yes = await n.call("POST", "/v1/txn", {
      compare: [{ key: "tx/a", target: "value", op: "==", value: "1" }],
      success: [
        { put: { key: "tx/b", value: "2" } },
        { get: { key: "tx/a" } },
      ],
      failure: [{ put: { key: "tx/c", value: "no" } }],
    });
    assert.equal(yes.status, 200);
    assert.equal(yes.json.succeeded, true);
    assert.equal(yes.json.revision, 2);
    const results = yes.json.results as Record<string, unknown>[];
    assert.deepEqual(results[0], { type: "put", revision: 2 });
    assert.equal(results[1].type, "get");
    assert.equal((results[1].kvs as { value: string }[])[0].value, "1");

    const no = await n.call("POST", "/v1/txn", {
      compare: [{ key: "tx/a", target: "version", op: ">", value: 5 }],
      failure: [{ delete: { key: "tx/b" } }],
    });
    assert.equal(no.status, 200);
    assert.equal(no.json.succeeded, false);
    assert.deepEqual(no.json.results, [{ type: "delete", deleted: 1 }]);
    assert.equal((await n.call("GET", "/v1/kv/tx/b")).status, 404);
    assert.equal((await n.call("GET", "/v1/kv/tx/c")).status, 404);

    const bad = await n.call("POST", "/v1/txn", {
      compare: [{ key: "a", target: "nope", op: "==", value: 1 }],
    });
    assert.equal(bad.status, 400);
    assert.equal(errCode(bad), "bad_request");
    const fenced = await n.call("POST", "/v1/txn", {
      success: [{ put: { key: "tx/f", value: "1" } }],
      fence: { lock: "nolock", token: 3 },
    });
    assert.equal(fenced.status, 409);
    assert.equal(errCode(fenced), "stale_token");
  });
});

Deno.test("a write that the node cannot make durable in time is 504 timeout", async () => {
  // A store whose writes wait for a gate: the proposal is never applied.
  let open = () => {};
  const gate = new Promise<void>((r) => (open = r));
  class GatedStorage extends MemoryStorage {
    held = false;
    override save(u: PersistUpdate): void | Promise<void> {
      if (!this.held) return super.save(u);
      return gate.then(() => super.save(u));
    }
  }
  const storage = new GatedStorage({
    conf: { voters: ["n1"], learners: [] },
  });
  const n = await SingleNode.start({ storage, requestTimeoutMs: 200 });
  try {
    storage.held = true;
    const r = await n.call("PUT", "/v1/kv/slow", { value: "1" });
    assert.equal(r.status, 504);
    assert.equal(errCode(r), "timeout");
    assert.match(errMessage(r), /^Proposal was not applied within 200 ms/);
    assert.equal(r.headers.get("retry-after"), null);
    assertRaftHeaders(r, 0);
  } finally {
    open();
    await n.close();
  }
});

Deno.test("without a leader, writes and reads are 503 unavailable with Retry-After", async () => {
  // n2 never starts, so n1 can never win an election.
  await withNode(async (n) => {
    await assertUnavailable(n, [
      ["PUT", "/v1/kv/a", { value: "1" }],
      ["GET", "/v1/kv/a"],
      ["GET", "/v1/kv"],
      ["POST", "/v1/txn", {}],
      ["DELETE", "/v1/kv/a"],
    ], (r) => assertRaftHeaders(r, 0));
    // A serializable read needs no leader.
    const local = await n.call("GET", "/v1/kv/a?consistency=serializable");
    assert.equal(local.status, 404);
  }, { voters: ["n1", "n2"] });
});
