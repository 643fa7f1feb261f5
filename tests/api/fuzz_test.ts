/**
 * Property: nothing a client sends gets a 500 or hurts the node. Random
 * methods, paths, query strings and bodies (fast-check) against a running
 * cluster; afterwards every node is healthy and still commits writes.
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import { TestCluster } from "../support/cluster.ts";
import { assertProperty } from "../support/property.ts";

const word = fc.oneof(
  fc.string({ minLength: 1, maxLength: 12 }).map(encodeURIComponent),
  fc.constantFrom(
    "a",
    "job",
    "cfg/x",
    "%2F",
    "..",
    "0",
    "1",
    "-5",
    "99999999999999999999",
    "n1",
    "n9",
  ),
);

// Known routes with random parameters, and a few unknown paths.
const path = fc.oneof(
  word.map((k) => `/v1/kv/${k}`),
  fc.constant("/v1/kv"),
  fc.constant("/v1/txn"),
  fc.constant("/v1/watch"),
  fc.constant("/v1/leases"),
  word.map((k) => `/v1/leases/${k}`),
  word.map((k) => `/v1/leases/${k}/keepalive`),
  fc.constant("/v1/locks"),
  word.map((k) => `/v1/locks/${k}`),
  fc.tuple(word, fc.constantFrom("acquire", "release")).map(([k, a]) =>
    `/v1/locks/${k}/${a}`
  ),
  fc.constantFrom(
    "/v1/status",
    "/v1/cluster",
    "/v1/cluster/members",
    "/v1/cluster/leader",
    "/healthz",
    "/readyz",
  ),
  // Never real members here: removing one is a legitimate request that
  // would leave the cluster without a quorum for the final check.
  word.filter((k) => !/^n[1-3]$/.test(k)).map((k) =>
    `/v1/cluster/members/${k}`
  ),
  word.filter((k) => !/^n[1-3]$/.test(k)).map((k) =>
    `/v1/cluster/members/${k}/promote`
  ),
  word.map((k) => `/${k}`),
);

const query = fc.oneof(
  fc.constant(""),
  fc.dictionary(
    fc.constantFrom(
      "prefix",
      "limit",
      "key",
      "fromRevision",
      "consistency",
      "token",
      "ifModRevision",
      "startAfter",
    ),
    fc.oneof(fc.string({ maxLength: 8 }), fc.integer().map(String)),
  ).map((d) => "?" + new URLSearchParams(d).toString()),
);

const json = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
  fc.record({
    value: fc.oneof(fc.string(), fc.integer()),
    lease: fc.oneof(fc.integer(), fc.string(), fc.constant(null)),
    ttl: fc.oneof(fc.integer(), fc.double()),
    wait: fc.integer({ min: -10, max: 50 }),
    token: fc.oneof(fc.integer(), fc.string()),
    ifModRevision: fc.integer(),
    compare: fc.array(fc.jsonValue({ maxDepth: 2 }), { maxLength: 3 }),
    success: fc.array(fc.jsonValue({ maxDepth: 2 }), { maxLength: 3 }),
    id: fc.string({ maxLength: 10 }),
    to: fc.string({ maxLength: 5 }),
    peerAddress: fc.string({ maxLength: 10 }),
  }, { requiredKeys: [] }).map((v) => JSON.stringify(v)),
  fc.string({ maxLength: 50 }),
  fc.uint8Array({ maxLength: 64 }).map((b) => new TextDecoder().decode(b)),
);

Deno.test("random requests never get a 500 and never hurt a node", async (t) => {
  const c = await TestCluster.start(3);
  try {
    await c.waitForLeader();
    const urls = c.urls();
    const seen = new Map<number, number>();
    await assertProperty(
      t,
      fc.asyncProperty(
        fc.oneof(
          {
            arbitrary: fc.constantFrom("GET", "PUT", "POST", "DELETE"),
            weight: 8,
          },
          { arbitrary: fc.constantFrom("PATCH", "HEAD", "OPTIONS"), weight: 1 },
        ),
        path,
        query,
        json,
        fc.nat(2),
        async (method, p, q, body, node) => {
          const ac = new AbortController();
          const timer = setTimeout(() => ac.abort(), 3000);
          try {
            const r = await fetch(urls[node] + p + q, {
              method,
              body: method === "GET" || method === "HEAD" ? undefined : body,
              signal: ac.signal,
            });
            seen.set(r.status, (seen.get(r.status) ?? 0) + 1);
            if (r.headers.get("content-type")?.includes("event-stream")) {
              ac.abort();
              return;
            }
            const text = await r.text();
            // 503 (no leader for a moment, e.g. after a transfer) and 504 are
            // honest answers; a 500 never is.
            assert.ok(
              r.status < 500 || r.status === 503 || r.status === 504,
              `${method} ${p}${q} body ${body.slice(0, 80)} → ${r.status} ${
                text.slice(0, 200)
              }`,
            );
            if (r.status >= 400 && method !== "HEAD") {
              const j = JSON.parse(text);
              assert.equal(typeof j.error?.code, "string");
              assert.equal(typeof j.error?.message, "string");
            }
          } catch (e) {
            if (ac.signal.aborted) return; // a watch stream or a long wait
            throw e;
          } finally {
            clearTimeout(timer);
          }
        },
      ),
      { numRuns: 1000, seed: 20261126 },
    );
    assert.ok(
      (seen.get(400) ?? 0) > 100,
      `few 400s: ${JSON.stringify([...seen])}`,
    );
    for (const u of urls) {
      const h = await fetch(`${u}/healthz`);
      assert.equal(h.status, 200);
      await h.body?.cancel();
      const p = await fetch(`${u}/v1/kv/after-fuzz`, {
        method: "PUT",
        body: JSON.stringify({ value: "ok" }),
      });
      assert.equal(p.status, 200);
      await p.body?.cancel();
    }
  } finally {
    await c.close();
  }
});
