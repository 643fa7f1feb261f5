/**
 * HTTP handler overhead (`deno bench -A bench/http_bench.ts`): what the
 * Hono app costs per request, without the network and without Raft, on a
 * single-node server (fsync on, as in production).
 *
 * - `GET /healthz` through `app.fetch`: routing, the header/metrics
 *   middleware and a JSON body — the floor of every request.
 * - A serializable `GET /v1/kv/k` through `app.fetch`: the floor plus a
 *   state machine read.
 * - The same read through `fetch` over loopback: what the network stack
 *   and `Deno.serve` add.
 * - A `PUT /v1/kv/k` through `app.fetch`: body parsing and validation, a
 *   Raft proposal, the WAL write and `fdatasync`, the apply.
 *
 * @module
 */

import { createApp } from "../src/api/app.ts";
import { createMetrics } from "../src/api/api_metrics.ts";
import { startServer } from "../src/server/server.ts";

const dir = await Deno.makeTempDir({ prefix: "raftlock-http-bench-" });
const server = await startServer({
  id: "n1",
  dataDir: dir,
  listen: "127.0.0.1:0",
  http: "127.0.0.1:0",
});
for (let i = 0; !server.node.isLeader && i < 500; i++) {
  await new Promise((r) => setTimeout(r, 10));
}
const app = createApp({ service: server.service, metrics: createMetrics() });
const base = `http://${server.httpAddress}`;
const value = JSON.stringify({ value: "x".repeat(256) });
await app.fetch(new Request(`${base}/v1/kv/k`, { method: "PUT", body: value }));

Deno.bench("GET /healthz via app.fetch", {
  group: "read",
  baseline: true,
}, async () => {
  const r = await app.fetch(new Request(`${base}/healthz`));
  await r.arrayBuffer();
});
Deno.bench("GET /v1/kv/k?consistency=serializable via app.fetch", {
  group: "read",
}, async () => {
  const r = await app.fetch(
    new Request(`${base}/v1/kv/k?consistency=serializable`),
  );
  await r.arrayBuffer();
});
Deno.bench("GET /v1/kv/k?consistency=serializable via fetch (loopback)", {
  group: "read",
}, async () => {
  const r = await fetch(`${base}/v1/kv/k?consistency=serializable`);
  await r.arrayBuffer();
});
Deno.bench("PUT /v1/kv/k via app.fetch (Raft + fsync)", {
  group: "write",
}, async () => {
  const r = await app.fetch(
    new Request(`${base}/v1/kv/k`, { method: "PUT", body: value }),
  );
  await r.arrayBuffer();
});

// The process ends after the benches; its files go with the directory.
globalThis.addEventListener("unload", () => {
  Deno.removeSync(dir, { recursive: true });
});
