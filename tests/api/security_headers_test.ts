/**
 * The security headers of the API's answers: JSON answers carry the set the
 * OWASP REST Security Cheat Sheet asks of an API, HSTS only over HTTPS; the
 * console's pages carry the full set a page needs, under their own CSP.
 */

import assert from "node:assert/strict";
import { CONSOLE_CSP } from "../../src/api/routes/ui.ts";
import { withNode } from "./single_node.ts";

/** What every JSON answer carries. */
const API_HEADERS: Record<string, string> = {
  "content-security-policy": "frame-ancestors 'none'",
  "x-frame-options": "DENY",
  "x-content-type-options": "nosniff",
  "cross-origin-resource-policy": "same-origin",
  "cache-control": "no-store",
};

/** Headers for pages, not for JSON: absent from API answers. */
const PAGE_ONLY = [
  "referrer-policy",
  "x-dns-prefetch-control",
  "x-download-options",
  "x-permitted-cross-domain-policies",
  "x-xss-protection",
  "cross-origin-opener-policy",
  "origin-agent-cluster",
];

function assertApiHeaders(h: Headers, what: string): void {
  for (const [name, value] of Object.entries(API_HEADERS)) {
    assert.equal(h.get(name), value, `${what}: ${name}`);
  }
  for (const name of PAGE_ONLY) {
    assert.equal(h.get(name), null, `${what}: ${name} should be absent`);
  }
}

Deno.test("JSON answers carry the API's security headers, errors included", async () => {
  await withNode(async (n) => {
    const put = await n.call("PUT", "/v1/kv/a", { value: "1" });
    assert.equal(put.status, 200);
    assertApiHeaders(put.headers, "PUT /v1/kv/a");
    const missing = await n.call("GET", "/v1/kv/nope");
    assert.equal(missing.status, 404);
    assertApiHeaders(missing.headers, "GET /v1/kv/nope");
    const bad = await n.call("PUT", "/v1/kv/a", { value: 5 });
    assert.equal(bad.status, 400);
    assertApiHeaders(bad.headers, "PUT with a bad body");
    const noRoute = await n.call("GET", "/v2/nothing");
    assert.equal(noRoute.status, 404);
    assertApiHeaders(noRoute.headers, "no route");
    const health = await n.app.request("/healthz");
    assertApiHeaders(health.headers, "/healthz");
    await health.body?.cancel();
    // Over plain HTTP a browser ignores HSTS: it is not sent.
    assert.equal(put.headers.get("strict-transport-security"), null);
  });
});

Deno.test("over HTTPS, JSON answers also carry Strict-Transport-Security", async () => {
  await withNode(async (n) => {
    const r = await n.call("GET", "/v1/kv/nope");
    assert.equal(r.status, 404);
    assert.equal(
      r.headers.get("strict-transport-security"),
      "max-age=15552000; includeSubDomains",
    );
    assertApiHeaders(r.headers, "GET over HTTPS");
  }, { https: true });
});

Deno.test("the console's pages carry the full page set under their own CSP", async () => {
  await withNode(async (n) => {
    for (const path of ["/ui", "/ui/console.js", "/docs"]) {
      const r = await n.app.request(path);
      await r.body?.cancel();
      assert.equal(r.status, 200, path);
      const h = r.headers;
      assert.equal(h.get("content-security-policy"), CONSOLE_CSP, path);
      assert.equal(h.get("cache-control"), "no-cache", path);
      assert.equal(h.get("x-frame-options"), "SAMEORIGIN", path);
      assert.equal(h.get("referrer-policy"), "no-referrer", path);
      assert.equal(h.get("x-content-type-options"), "nosniff", path);
      assert.equal(h.get("cross-origin-opener-policy"), "same-origin", path);
      assert.equal(h.get("origin-agent-cluster"), "?1", path);
    }
  });
});
