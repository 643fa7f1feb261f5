import assert from "node:assert/strict";
import { Counter, Histogram } from "../../src/api/metrics.ts";

Deno.test("metric labels are rendered sorted by name, one series per label set", () => {
  const c = new Counter("reqs_total", "Requests");
  c.inc({ status: "200", method: "GET" });
  c.inc({ method: "GET", status: "200" }, 2);
  c.inc({ method: "PUT", status: "200" });
  c.inc();
  assert.equal(c.get({ status: "200", method: "GET" }), 3);
  assert.deepEqual(c.render().split("\n").slice(2), [
    'reqs_total{method="GET",status="200"} 3',
    'reqs_total{method="PUT",status="200"} 1',
    "reqs_total 1",
  ]);
});

Deno.test("metric label values escape backslash, quote and newline as Prometheus requires", () => {
  const c = new Counter("odd_total", "Odd labels");
  c.inc({ route: 'a\\b"c\nd' });
  c.inc({ route: "plain" });
  assert.deepEqual(c.render().split("\n").slice(2), [
    'odd_total{route="a\\\\b\\"c\\nd"} 1',
    'odd_total{route="plain"} 1',
  ]);
});

Deno.test("a histogram counts observations into cumulative buckets per label set", () => {
  const h = new Histogram("lat_seconds", "Latency", [0.1, 1]);
  h.observe(0.05, { route: "/v1/kv" });
  h.observe(0.5, { route: "/v1/kv" });
  h.observe(2, { route: "/v1/kv" });
  assert.deepEqual(h.render().split("\n").slice(2), [
    'lat_seconds_bucket{route="/v1/kv",le="0.1"} 1',
    'lat_seconds_bucket{route="/v1/kv",le="1"} 2',
    'lat_seconds_bucket{route="/v1/kv",le="+Inf"} 3',
    'lat_seconds_sum{route="/v1/kv"} 2.55',
    'lat_seconds_count{route="/v1/kv"} 3',
  ]);
});
