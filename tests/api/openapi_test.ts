/**
 * The OpenAPI spec against the app: every route of the app (Hono's
 * `app.routes`) is in the spec and every operation of the spec is a route;
 * the document is well formed (references resolve, path parameters are
 * declared); answers are checked against it (the route tests do so for
 * every answer through `SingleNode.call`, and a wrong answer is caught);
 * `/openapi.json`, `/docs` and the console's assets are served, open
 * with auth on, under a strict Content-Security-Policy.
 */

import assert from "node:assert/strict";
import {
  openApiDocument,
  openApiPath,
  OPERATIONS,
  pathParams,
} from "../../src/api/openapi.ts";
import { CONSOLE_CSP } from "../../src/api/routes/ui.ts";
import {
  authNodeOptions,
  bearer,
  enableAuth,
  FakeClock,
} from "./auth_helpers.ts";
import { checkAnswer, checked, RouteMatcher } from "./openapi_check.ts";
import { withNode } from "./single_node.ts";

Deno.test("openapi: Hono paths become OpenAPI paths", () => {
  assert.equal(openApiPath("/v1/kv/:key{.+}"), "/v1/kv/{key}");
  assert.equal(openApiPath("/ui/:file{[\\w.-]+}"), "/ui/{file}");
  assert.equal(
    openApiPath("/v1/auth/users/:name/roles/:role"),
    "/v1/auth/users/{name}/roles/{role}",
  );
  assert.equal(openApiPath("/v1/x/:n{a{1,3}}/y"), "/v1/x/{n}/y");
  assert.equal(openApiPath("/healthz"), "/healthz");
});

Deno.test("openapi: every route of the app is in the spec, and only those", async () => {
  await withNode((n) => {
    const routes = n.app.routes.filter((r) => r.method !== "ALL").map((r) =>
      `${r.method} ${openApiPath(r.path)}`
    );
    const doc = openApiDocument();
    const spec: string[] = [];
    for (const [path, item] of Object.entries(doc.paths as object)) {
      for (const method of Object.keys(item)) {
        spec.push(`${method.toUpperCase()} ${path}`);
      }
    }
    assert.deepEqual(
      routes.filter((r) => !spec.includes(r)),
      [],
      "routes missing from the spec",
    );
    assert.deepEqual(
      spec.filter((s) => !routes.includes(s)),
      [],
      "operations of the spec that no route serves",
    );
    assert.equal(new Set(routes).size, routes.length, "a route twice");
    console.log(
      `spec: ${spec.length} operations; app: ${routes.length} routes`,
    );
    return Promise.resolve();
  });
});

Deno.test("openapi: the document is well formed", async () => {
  // Served as built: through JSON, as a client sees it.
  await withNode(async (n) => {
    const a = await n.call("GET", "/openapi.json");
    assert.equal(a.status, 200);
    const doc = a.json as Record<string, unknown>;
    assert.equal(doc.openapi, "3.1.0");
    const schemas = (doc.components as { schemas: Record<string, unknown> })
      .schemas;
    // Every reference names a component.
    const refs = JSON.stringify(doc).matchAll(/"\$ref":"([^"]+)"/g);
    for (const [, ref] of refs) {
      const m = ref.match(/^#\/components\/schemas\/(\w+)$/);
      assert.ok(m, `reference ${ref}`);
      assert.ok(m[1] in schemas, `reference ${ref} resolves`);
    }
    // Every path parameter is declared, once; ids are unique.
    const ids = new Set<string>();
    for (const [path, item] of Object.entries(doc.paths as object)) {
      for (const [method, op] of Object.entries(item as object)) {
        const params = (op.parameters as { name: string; in: string }[])
          .filter((p) => p.in === "path").map((p) => p.name);
        assert.deepEqual(params, pathParams(path), `${method} ${path}`);
        assert.ok(!ids.has(op.operationId), `${op.operationId} once`);
        ids.add(op.operationId);
        assert.ok(op.responses.default, `${method} ${path} has errors`);
      }
    }
  });
});

Deno.test("openapi: a wrong answer is caught", async () => {
  await withNode(async (n) => {
    const matcher = new RouteMatcher(n.app.routes);
    assert.equal(await matcher.match("GET", "/v1/kv/a/b"), "/v1/kv/{key}");
    assert.equal(await matcher.match("GET", "/v1/kv?prefix=a"), "/v1/kv");
    assert.equal(await matcher.match("GET", "/nope"), undefined);
    const json = "application/json";
    // A key without its revisions.
    await assert.rejects(
      checkAnswer(matcher, "GET", "/v1/kv/a", {
        status: 200,
        contentType: json,
        body: { key: "a", value: "v" },
      }),
      /does not fit the spec of GET \/v1\/kv\/\{key\}/,
    );
    // A field the spec does not name.
    await assert.rejects(
      checkAnswer(matcher, "PUT", "/v1/kv/a", {
        status: 200,
        contentType: json,
        body: { revision: 3, extra: true },
      }),
      /does not fit/,
    );
    // A status the route does not answer with.
    await assert.rejects(
      checkAnswer(matcher, "PUT", "/v1/kv/a", {
        status: 201,
        contentType: json,
        body: { revision: 3 },
      }),
      /has no answer 201/,
    );
    // An error that is not the API's error shape.
    await assert.rejects(
      checkAnswer(matcher, "GET", "/v1/kv/a", {
        status: 404,
        contentType: json,
        body: { message: "gone" },
      }),
      /does not fit/,
    );
    await checkAnswer(matcher, "GET", "/v1/kv/a", {
      status: 404,
      contentType: json,
      body: { error: { code: "not_found", message: "Key a does not exist" } },
    });
  });
});

Deno.test("openapi: answers of every kind fit the spec", async () => {
  // SingleNode.call checks each answer; this walks the routes once so the
  // check is seen to run (the route tests cover the rest).
  checked.clear();
  await withNode(async (n) => {
    const calls: [string, string, unknown?][] = [
      ["PUT", "/v1/kv/app/a", { value: "1" }],
      ["PUT", "/v1/kv/app/a", { value: "2", ifModRevision: 1 }],
      ["GET", "/v1/kv/app/a"],
      ["GET", "/v1/kv?prefix=app/"],
      ["POST", "/v1/txn", {
        compare: [{ key: "app/a", target: "version", op: ">", value: 0 }],
        success: [{ get: { key: "app/", prefix: true } }],
      }],
      ["POST", "/v1/leases", { ttl: 30 }],
      ["GET", "/v1/leases"],
      ["POST", "/v1/locks/job/acquire", { ttl: 30, owner: "me" }],
      ["GET", "/v1/locks/job"],
      ["GET", "/v1/locks/job?token=99"],
      ["GET", "/v1/locks"],
      ["POST", "/v1/elections/e/campaign", { ttl: 30, value: "a" }],
      ["GET", "/v1/elections/e"],
      ["GET", "/v1/elections"],
      ["POST", "/v1/semaphores/s/acquire", { ttl: 30, limit: 2 }],
      ["GET", "/v1/semaphores/s"],
      ["POST", "/v1/rwlocks/r/acquire", { ttl: 30, mode: "read" }],
      ["GET", "/v1/rwlocks"],
      ["GET", "/v1/status"],
      ["GET", "/v1/cluster"],
      ["GET", "/v1/cluster/status"],
      ["GET", "/v1/stats"],
      ["GET", "/v1/auth/status"],
      ["GET", "/healthz"],
      ["GET", "/readyz"],
      ["GET", "/metrics"],
      ["GET", "/ui"],
      ["GET", "/ui/console.js"],
      ["GET", "/nope"],
      ["POST", "/v1/status"],
    ];
    for (const [method, path, body] of calls) {
      const a = await n.call(method, path, body);
      assert.ok(a.status < 500, `${method} ${path}: ${a.status}`);
    }
    const lease = await n.call("POST", "/v1/leases", { ttl: 30 });
    await n.call("GET", `/v1/leases/${lease.json.id}`);
    await n.call("DELETE", `/v1/leases/${lease.json.id}`);
    // A conflict carries the key as it is.
    const conflict = await n.call("PUT", "/v1/kv/app/a", {
      value: "3",
      ifModRevision: 1,
    });
    assert.equal(conflict.status, 409);
    assert.equal((conflict.json.current as { value: string }).value, "2");
  });
  assert.ok(checked.size >= 30, `checked ${[...checked.keys()].join(", ")}`);
  assert.ok(checked.has("GET /v1/kv/{key} 200"));
  assert.ok(checked.has("PUT /v1/kv/{key} 409"));
  assert.ok(checked.has("GET (no route) 404"));
});

Deno.test("console and reference: served open with auth on, under the CSP", async () => {
  const clock = new FakeClock();
  await withNode(async (n) => {
    await enableAuth(n);
    for (const path of ["/ui", "/ui/console.js", "/ui/console.css", "/docs"]) {
      const r = await n.app.request(path);
      assert.equal(r.status, 200, path);
      assert.equal(r.headers.get("content-security-policy"), CONSOLE_CSP);
      assert.equal(r.headers.get("x-content-type-options"), "nosniff");
      const etag = r.headers.get("etag")!;
      await r.body?.cancel();
      const again = await n.app.request(path, {
        headers: { "if-none-match": etag },
      });
      assert.equal(again.status, 304, `${path} revalidated`);
    }
    const spec = await n.call("GET", "/openapi.json");
    assert.equal(spec.status, 200);
    const page = await (await n.app.request("/ui")).text();
    // No inline script: the CSP would refuse it.
    assert.doesNotMatch(page, /<script(?![^>]*\bsrc=)[^>]*>/);
    assert.match(page, /<script[^>]*src="\/ui\/console\.js"/);
    assert.equal((await n.app.request("/ui/nope.js")).status, 404);
    assert.equal((await n.app.request("/ui/")).status, 301);
    // The API itself still wants a token.
    assert.equal((await n.call("GET", "/v1/stats")).status, 401);
    assert.equal((await n.call("GET", "/v1/cluster/status")).status, 401);
    const t = await n.call("POST", "/v1/auth/token", {
      user: "root",
      password: "password-1",
    });
    const ok = await n.call(
      "GET",
      "/v1/stats",
      undefined,
      bearer(t.json.token as string),
    );
    assert.equal(ok.status, 200);
  }, authNodeOptions(clock));
});

Deno.test("stats: reads, writes and latency of the data routes", async () => {
  await withNode(async (n) => {
    const before = (await n.call("GET", "/v1/stats")).json;
    await n.call("PUT", "/v1/kv/a", { value: "1" });
    await n.call("PUT", "/v1/kv/b", { value: "1" });
    await n.call("GET", "/v1/kv/a");
    // Not counted: status, cluster, stats themselves.
    await n.call("GET", "/v1/status");
    await n.call("GET", "/v1/cluster/status");
    const after = (await n.call("GET", "/v1/stats")).json as {
      writes: number;
      reads: number;
      latency: { count: number; buckets: number[]; bounds: number[] };
    };
    assert.equal(after.writes - (before.writes as number), 2);
    assert.equal(after.reads - (before.reads as number), 1);
    assert.equal(after.latency.count, after.writes + after.reads);
    assert.equal(after.latency.buckets.length, after.latency.bounds.length);
    const cs = (await n.call("GET", "/v1/cluster/status")).json as {
      members: { id: string; status: { role: string } | null }[];
    };
    assert.deepEqual(cs.members.map((m) => [m.id, m.status?.role]), [
      ["n1", "leader"],
    ]);
  });
});

Deno.test("every operation names its access and tag", () => {
  for (const op of OPERATIONS) {
    assert.ok(op.summary.length > 0, `${op.method} ${op.path}`);
    assert.match(op.path, /^\//);
  }
});
