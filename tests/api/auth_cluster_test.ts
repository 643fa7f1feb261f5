/**
 * Auth across a 3-node in-process cluster of real servers (TCP between
 * nodes, HTTP on loopback, the default 600 000 PBKDF2 iterations): a token
 * made on one node is accepted by every other, forwarded requests carry it
 * to the leader, which checks it again, and a restarted node still knows
 * the users, roles and keys (replayed from its log).
 */

import assert from "node:assert/strict";
import { TestCluster } from "../support/cluster.ts";

const PASSWORD = "password-1";

async function call(
  base: string,
  method: string,
  path: string,
  options: { body?: unknown; token?: string } = {},
): Promise<{ status: number; json: Record<string, unknown> }> {
  const r = await fetch(base + path, {
    method,
    headers: {
      "content-type": "application/json",
      ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
    },
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
  const text = await r.text();
  return { status: r.status, json: text ? JSON.parse(text) : {} };
}

Deno.test("a token made on one node is accepted by the others, forwarded requests included", async () => {
  const cluster = await TestCluster.start(3);
  try {
    const leader = await cluster.waitForLeader();
    const [f1, f2] = Object.keys(cluster.http).filter((id) => id !== leader);
    const url = (id: string) => cluster.url(id);
    const ok = async (
      id: string,
      method: string,
      path: string,
      body?: unknown,
      token?: string,
    ) => {
      const a = await call(url(id), method, path, { body, token });
      assert.ok(a.status < 300, `${method} ${path}: ${JSON.stringify(a.json)}`);
      return a.json;
    };
    // Set up on one follower, turn on on the other.
    await ok(f1, "PUT", "/v1/auth/roles/ro", {
      permissions: [{ prefix: "app/", read: true }],
    });
    await ok(f1, "PUT", "/v1/auth/users/root", {
      password: PASSWORD,
      roles: ["root"],
    });
    await ok(f1, "PUT", "/v1/auth/users/ro", {
      password: PASSWORD,
      roles: ["ro"],
    });
    await ok(f2, "POST", "/v1/auth/enable");

    // Tokens made on f2 (ro) and the leader (root).
    const ro = String(
      (await ok(f2, "POST", "/v1/auth/token", {
        user: "ro",
        password: PASSWORD,
      }))
        .token,
    );
    const root = String(
      (await ok(leader, "POST", "/v1/auth/token", {
        user: "root",
        password: PASSWORD,
      })).token,
    );
    // Used on the other nodes.
    await ok(f1, "PUT", "/v1/kv/app/a", { value: "1" }, root);
    for (const id of [leader, f1, f2]) {
      const r = await call(url(id), "GET", "/v1/kv/app/a", { token: ro });
      assert.equal(r.status, 200, id);
      assert.equal(r.json.value, "1");
      const w = await call(url(id), "PUT", "/v1/kv/app/a", {
        body: { value: "2" },
        token: ro,
      });
      assert.equal(w.status, 403, id);
      assert.equal((await call(url(id), "GET", "/v1/kv/app/a")).status, 401);
    }
    // Forwarded to the leader with the token, and checked there too.
    assert.equal(
      (await call(url(f1), "GET", "/v1/cluster", { token: ro })).status,
      200,
    );
    const l = await ok(f2, "POST", "/v1/leases", { ttl: 30 }, ro);
    assert.equal(
      (await call(url(f1), "GET", `/v1/leases/${l.id}`, { token: ro })).status,
      200,
    );
    assert.equal(
      (await call(url(f1), "POST", "/v1/cluster/leader", {
        body: { to: leader },
        token: ro,
      })).status,
      403,
    );
    assert.equal(
      (await call(url(f1), "POST", "/v1/cluster/leader", {
        body: { to: leader },
        token: root,
      })).status,
      200,
    );

    // A restarted node still knows users, roles and keys.
    await cluster.stopNode(f2);
    await cluster.startNode(f2);
    await cluster.waitForLeader();
    const after = await call(
      url(f2),
      "GET",
      "/v1/kv/app/a?consistency=serializable",
      {
        token: ro,
      },
    );
    assert.equal(after.status, 200);
    assert.equal(
      (await call(url(f2), "GET", "/v1/auth/status")).json.enabled,
      true,
    );
  } finally {
    await cluster.close();
  }
});
