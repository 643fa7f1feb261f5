import assert from "node:assert/strict";
import { TestCluster } from "../support/cluster.ts";

Deno.test("in-process cluster: a write on a follower is readable on every node", async () => {
  const c = await TestCluster.start(3);
  try {
    const leader = await c.waitForLeader();
    const follower = Object.keys(c.http).find((id) => id !== leader)!;
    const put = await fetch(`${c.url(follower)}/v1/kv/app/mode`, {
      method: "PUT",
      body: JSON.stringify({ value: "on" }),
    });
    assert.equal(put.status, 200);
    const { revision } = await put.json();
    assert.ok(revision >= 1);
    for (const u of c.urls()) {
      const r = await fetch(`${u}/v1/kv/app/mode`);
      assert.equal(r.status, 200);
      assert.equal(r.headers.get("x-raft-revision") !== null, true);
      assert.equal((await r.json()).value, "on");
    }
  } finally {
    await c.close();
  }
});
