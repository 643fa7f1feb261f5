/**
 * Health, readiness and metrics in-process on a single node, and what the
 * app does for every request: 404 and 405 as JSON (405 with `Allow` from
 * Hono's routes), the `X-Raft-*` headers, and latency labelled by the
 * matched route.
 */

import assert from "node:assert/strict";
import { assertRaftHeaders, errCode, withNode } from "./single_node.ts";

Deno.test("GET /healthz and GET /readyz on a leader", async () => {
  await withNode(async (n) => {
    const h = await n.call("GET", "/healthz");
    assert.equal(h.status, 200);
    assert.deepEqual(h.json, { ok: true, id: "n1" });
    assertRaftHeaders(h, 0);
    const r = await n.call("GET", "/readyz");
    assert.equal(r.status, 200);
    assert.equal(r.json.ready, true);
    assert.equal(r.json.leader, "n1");
    assert.equal(r.json.applied, r.json.commit);
  });
});

Deno.test("GET /readyz without a leader is 503; /healthz still 200", async () => {
  await withNode(async (n) => {
    const r = await n.call("GET", "/readyz");
    assert.equal(r.status, 503);
    assert.deepEqual(r.json, {
      ready: false,
      leader: null,
      commit: 0,
      applied: 0,
    });
    assert.equal((await n.call("GET", "/healthz")).status, 200);
  }, { voters: ["n1", "n2"] });
});

Deno.test("GET /metrics: Prometheus text, HTTP latency by Hono's route path", async () => {
  await withNode(async (n) => {
    await n.call("PUT", "/v1/kv/a/b", { value: "1" });
    await n.call("GET", "/v1/kv/a/b");
    await n.call("GET", "/v1/kv/missing");
    await n.call("GET", "/v1/leases/7");
    await n.call("GET", "/nope");
    const m = await n.app.request("/metrics");
    assert.equal(m.status, 200);
    assert.equal(m.headers.get("content-type"), "text/plain; version=0.0.4");
    assert.ok(m.headers.get("x-raft-revision"));
    const text = await m.text();
    for (
      const name of [
        "raftlock_raft_term",
        "raftlock_raft_is_leader",
        "raftlock_raft_commit_index",
        "raftlock_wal_persist_duration_seconds",
        "raftlock_http_request_duration_seconds_bucket",
        "raftlock_keys",
        "raftlock_leases",
        "raftlock_locks",
        "raftlock_watchers",
        "raftlock_leader_changes_total",
        "process_memory_rss_bytes",
      ]
    ) assert.ok(text.includes(name), `metrics lack ${name}`);
    const counts = text.split("\n").filter((l) =>
      l.startsWith("raftlock_http_request_duration_seconds_count")
    ).map((l) => l.replace(/^raftlock_http_request_duration_seconds_count/, ""))
      .sort();
    assert.deepEqual(counts, [
      '{method="GET",route="/v1/kv/:key{.+}",status="200"} 1',
      '{method="GET",route="/v1/kv/:key{.+}",status="404"} 1',
      '{method="GET",route="/v1/leases/:id",status="404"} 1',
      '{method="GET",route="unknown",status="404"} 1',
      '{method="PUT",route="/v1/kv/:key{.+}",status="200"} 1',
    ]);
    assert.match(text, /^raftlock_keys 1$/m);
  });
});

Deno.test("an unknown path is 404 JSON", async () => {
  await withNode(async (n) => {
    for (
      const path of ["/v2/nothing", "/", "/v1", "/v1/kv/", "/v1/leases/1/x"]
    ) {
      const r = await n.call("GET", path);
      assert.equal(r.status, 404, path);
      assert.deepEqual(r.json, {
        error: { code: "not_found", message: `No route for GET ${path}` },
      });
      assertRaftHeaders(r, 0);
    }
  });
});

Deno.test("a known path with the wrong method is 405 JSON with Allow", async () => {
  await withNode(async (n) => {
    const cases: [string, string, string][] = [
      ["POST", "/v1/status", "GET, HEAD"],
      ["DELETE", "/v1/kv", "GET, HEAD"],
      ["POST", "/v1/kv/a/b", "GET, HEAD, PUT, DELETE"],
      ["GET", "/v1/txn", "POST"],
      ["PUT", "/v1/leases", "POST, GET, HEAD"],
      ["PUT", "/v1/leases/1", "GET, HEAD, DELETE"],
      ["GET", "/v1/leases/1/keepalive", "POST"],
      ["GET", "/v1/locks/a/acquire", "POST"],
      ["POST", "/v1/locks/a", "GET, HEAD"],
      ["GET", "/v1/cluster/members", "POST"],
      ["GET", "/v1/cluster/members/n2", "DELETE"],
      ["GET", "/v1/cluster/leader", "POST"],
      ["POST", "/v1/watch", "GET, HEAD"],
      ["POST", "/metrics", "GET, HEAD"],
    ];
    for (const [method, path, allow] of cases) {
      const r = await n.call(method, path);
      assert.equal(r.status, 405, `${method} ${path}`);
      assert.equal(errCode(r), "method_not_allowed");
      assert.equal(r.headers.get("allow"), allow, `${method} ${path}`);
      assert.deepEqual(r.json, {
        error: {
          code: "method_not_allowed",
          message: `${method} is not allowed on ${path}; use ${
            allow.split(", ").join(" or ")
          }`,
        },
      });
      assertRaftHeaders(r, 0);
    }
  });
});

Deno.test("HEAD answers like GET without a body", async () => {
  await withNode(async (n) => {
    const r = await n.app.request("/healthz", { method: "HEAD" });
    assert.equal(r.status, 200);
    assert.equal(await r.text(), "");
    assert.ok(r.headers.get("x-raft-term"));
  });
});
