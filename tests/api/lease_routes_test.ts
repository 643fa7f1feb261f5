/**
 * Lease routes in-process on a single node (the leader, so it knows the
 * time left on each lease): grant, keepalive, get, list, revoke, and the
 * error of each.
 */

import assert from "node:assert/strict";
import {
  assertRaftHeaders,
  assertUnavailable,
  errCode,
  errMessage,
  withNode,
} from "./single_node.ts";

Deno.test("POST /v1/leases grants; bad TTLs are 400", async () => {
  await withNode(async (n) => {
    const g = await n.call("POST", "/v1/leases", { ttl: 30 });
    assert.equal(g.status, 201);
    assert.equal(g.json.ttl, 30);
    assert.ok(Number.isSafeInteger(g.json.id) && (g.json.id as number) >= 1);
    assertRaftHeaders(g);
    for (const body of [{ ttl: 0 }, { ttl: 10 ** 9 }, { ttl: 1.5 }, {}]) {
      const r = await n.call("POST", "/v1/leases", body);
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.equal(errCode(r), "bad_request");
      assert.match(errMessage(r), /^Invalid ttl: /);
    }
  });
});

Deno.test("lease lifecycle: keepalive, get, list, revoke deletes its keys", async () => {
  await withNode(async (n) => {
    const id = (await n.call("POST", "/v1/leases", { ttl: 30 })).json
      .id as number;
    await n.call("PUT", "/v1/kv/leased", { value: "v", lease: id });

    const k = await n.call("POST", `/v1/leases/${id}/keepalive`);
    assert.equal(k.status, 200);
    assert.deepEqual(k.json, { id, ttl: 30 });

    const info = await n.call("GET", `/v1/leases/${id}`);
    assert.equal(info.status, 200);
    assert.deepEqual(Object.keys(info.json).sort(), [
      "id",
      "keys",
      "locks",
      "remaining",
      "ttl",
    ]);
    assert.equal(info.json.id, id);
    assert.equal(info.json.ttl, 30);
    assert.deepEqual(info.json.keys, ["leased"]);
    assert.deepEqual(info.json.locks, []);
    const remaining = info.json.remaining as number;
    assert.ok(remaining > 0 && remaining <= 30 + 1, String(remaining));

    const list = await n.call("GET", "/v1/leases");
    assert.equal(list.status, 200);
    assert.deepEqual(
      (list.json.leases as { id: number }[]).map((l) => l.id),
      [id],
    );

    const r = await n.call("DELETE", `/v1/leases/${id}`);
    assert.equal(r.status, 200);
    assert.equal(r.json.id, id);
    assert.equal(r.json.deleted, 1);
    assert.equal(typeof r.json.revision, "number");
    assertRaftHeaders(r, r.json.revision as number);
    assert.equal((await n.call("GET", "/v1/kv/leased")).status, 404);
    assert.deepEqual((await n.call("GET", "/v1/leases")).json, { leases: [] });
  });
});

Deno.test("an unknown lease is 404 on every lease route", async () => {
  await withNode(async (n) => {
    const get = await n.call("GET", "/v1/leases/42");
    assert.equal(get.status, 404);
    assert.deepEqual(get.json, {
      error: {
        code: "not_found",
        message: "Lease 42 does not exist (it may have expired)",
      },
    });
    for (
      const [method, path] of [
        ["POST", "/v1/leases/42/keepalive"],
        ["DELETE", "/v1/leases/42"],
      ]
    ) {
      const r = await n.call(method, path);
      assert.equal(r.status, 404, `${method} ${path}`);
      assert.equal(errCode(r), "not_found");
      assertRaftHeaders(r, 0);
    }
  });
});

Deno.test("a lease id that is not a positive whole number is 400", async () => {
  await withNode(async (n) => {
    for (const id of ["abc", "0", "-1", "1.5", "99999999999999999"]) {
      for (
        const [method, path] of [
          ["GET", `/v1/leases/${id}`],
          ["DELETE", `/v1/leases/${id}`],
          ["POST", `/v1/leases/${id}/keepalive`],
        ]
      ) {
        const r = await n.call(method, path);
        assert.equal(r.status, 400, `${method} ${path}`);
        assert.deepEqual(r.json, {
          error: {
            code: "bad_request",
            message: "id must be a positive whole number",
          },
        });
      }
    }
  });
});

Deno.test("lease routes without a leader are 503 unavailable", async () => {
  await withNode(async (n) => {
    await assertUnavailable(n, [
      ["POST", "/v1/leases", { ttl: 10 }],
      ["GET", "/v1/leases"],
      ["GET", "/v1/leases/1"],
      ["POST", "/v1/leases/1/keepalive"],
      ["DELETE", "/v1/leases/1"],
    ]);
  }, { voters: ["n1", "n2"] });
});
