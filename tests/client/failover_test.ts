import assert from "node:assert/strict";
import { Client } from "../../src/client/mod.ts";
import { TestCluster } from "../support/cluster.ts";

Deno.test("client: fails over when the node it uses stops", async () => {
  const c = await TestCluster.start(3);
  const client = new Client({ endpoints: c.urls() });
  try {
    await client.put("f/a", "1");
    // The client prefers the leader.
    const used = client.leaderUrl;
    const leader = await c.waitForLeader();
    assert.equal(used, c.url(leader));
    await c.stopNode(leader);
    // Each call succeeding is the outcome asserted: the client fails over
    // within its own 10 s deadline (no wall-time bound of our own, which a
    // loaded machine could break).
    const p = await client.put("f/b", "2");
    assert.ok(p.revision >= 2);
    assert.equal((await client.get("f/a"))?.value, "1");
    assert.equal((await client.get("f/b"))?.value, "2");
    // It found the new leader.
    const now = await c.waitForLeader();
    await client.cluster();
    assert.equal(client.leaderUrl, c.url(now));
  } finally {
    client.close();
    await c.close();
  }
});

Deno.test("client: learns members from one endpoint and fails over to them", async () => {
  const c = await TestCluster.start(3);
  const first = c.url("n1");
  const client = new Client({ endpoints: [first] });
  try {
    await client.put("g/a", "1");
    await c.stopNode("n1");
    await client.put("g/b", "2");
    assert.equal((await client.get("g/b"))?.value, "2");
    assert.notEqual(client.leaderUrl, first);
  } finally {
    client.close();
    await c.close();
  }
});

Deno.test("client: a write retried with the same request id applies once", async (t) => {
  const c = await TestCluster.start(3);
  try {
    await t.step("raw: the same X-Request-Id twice", async () => {
      const send = async (url: string) => {
        const r = await fetch(`${url}/v1/kv/once/raw`, {
          method: "PUT",
          headers: { "x-request-id": "raw-test/1" },
          body: JSON.stringify({ value: "v" }),
        });
        assert.equal(r.status, 200);
        return (await r.json()) as { revision: number };
      };
      const a = await send(c.url("n1"));
      // The retry goes to another node, as a failover would.
      const b = await send(c.url("n2"));
      assert.equal(b.revision, a.revision);
      const r = await fetch(`${c.url("n3")}/v1/kv/once/raw`);
      const kv = await r.json();
      assert.equal(kv.version, 1);
      assert.equal(kv.modRevision, a.revision);
      assert.equal(Number(r.headers.get("x-raft-revision")), a.revision);
    });

    await t.step(
      "client: a lost answer is retried with the same id",
      async () => {
        const seen: string[] = [];
        let dropped = false;
        const lossy: typeof fetch = async (input, init) => {
          const res = await fetch(input, init);
          const id = new Headers(init?.headers).get("x-request-id");
          if (init?.method === "PUT") seen.push(id ?? "");
          if (init?.method === "PUT" && !dropped) {
            // The write was applied, but its answer is lost.
            dropped = true;
            await res.body?.cancel();
            throw new TypeError("connection reset by peer");
          }
          return res;
        };
        const client = new Client({
          endpoints: c.urls(),
          fetch: lossy,
          clientId: "lossy",
        });
        try {
          const before = (await client.status()).revision;
          const p = await client.put("once/client", "v");
          assert.equal(seen.length, 2);
          assert.equal(seen[0], seen[1]);
          assert.match(seen[0], /^lossy\/\d+$/);
          const kv = await client.get("once/client");
          assert.equal(kv?.version, 1);
          assert.equal(kv?.modRevision, p.revision);
          assert.equal(p.revision, before + 1);
          // The next write gets a new id.
          await client.put("once/client", "w");
          assert.notEqual(seen[2], seen[0]);
          assert.equal((await client.get("once/client"))?.version, 2);
        } finally {
          client.close();
        }
      },
    );
  } finally {
    await c.close();
  }
});
