/**
 * E2E: a lease kept alive through a follower survives kill -9 of the
 * leader (the new leader gives every lease its TTL again), and a lease that
 * is not kept alive still expires after the failover.
 */

import assert from "node:assert/strict";
import { E2E, http, sleep, withCluster } from "./harness.ts";

Deno.test({
  name:
    "e2e: lease TTLs survive kill -9 of the leader; an abandoned lease still expires",
  ...E2E,
  fn: () =>
    withCluster({ nodes: 3 }, async (c) => {
      const leader = await c.waitForLeader();
      const follower = c.running().find((id) => id !== leader)!;
      const u = c.url(follower);
      const kept = await http<{ id: number }>(`${u}/v1/leases`, {
        method: "POST",
        body: { ttl: 2 },
      });
      const dropped = await http<{ id: number }>(`${u}/v1/leases`, {
        method: "POST",
        body: { ttl: 2 },
      });
      assert.equal(kept.status, 201);
      assert.equal(dropped.status, 201);
      await http(`${u}/v1/kv/kept`, {
        method: "PUT",
        body: { value: "1", lease: kept.body.id },
      });
      await http(`${u}/v1/kv/dropped`, {
        method: "PUT",
        body: { value: "1", lease: dropped.body.id },
      });
      await c.node(leader).kill("SIGKILL");
      // Keep one lease alive through the failover for at least three TTLs,
      // and until the abandoned one is gone (however long the failover
      // takes on a slow machine; the 60 s only turns a hang into an error).
      const t0 = Date.now();
      let expired = false;
      while (Date.now() - t0 < 6000 || !expired) {
        assert.ok(
          Date.now() - t0 < 60_000,
          "the abandoned lease never expired",
        );
        const k = await http(`${u}/v1/leases/${kept.body.id}/keepalive`, {
          method: "POST",
        });
        assert.ok(
          k.status === 200 || k.status === 503 || k.status === 504,
          `keepalive: ${k.status}`,
        );
        if (!expired) {
          expired = (await http(`${u}/v1/kv/dropped`)).status === 404;
        }
        await sleep(400);
      }
      const a = await http(`${u}/v1/kv/kept`);
      assert.equal(a.status, 200, "the kept-alive lease's key survived");
      const b = await http(`${u}/v1/kv/dropped`);
      assert.equal(
        b.status,
        404,
        "the abandoned lease expired after the failover",
      );
    }),
});
