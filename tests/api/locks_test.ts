/**
 * Lock and lease semantics on a 3-node cluster: mutual exclusion among
 * contenders on every node, strictly increasing tokens, FIFO waiters,
 * expiry handing the lock on, fencing, and leases surviving failover.
 */

import assert from "node:assert/strict";
import { TestCluster } from "../support/cluster.ts";

async function post(
  url: string,
  body: unknown,
): Promise<{ status: number; json: Record<string, unknown> }> {
  const r = await fetch(url, { method: "POST", body: JSON.stringify(body) });
  return { status: r.status, json: await r.json() };
}

Deno.test("contenders on all nodes: never two holders, tokens strictly increase, fenced counter is exact", async () => {
  const c = await TestCluster.start(3);
  try {
    await c.waitForLeader();
    const urls = c.urls();
    const holders = new Set<number>();
    let maxConcurrent = 0;
    const tokens: number[] = [];
    const workers = 9;
    const rounds = 6;
    await Promise.all(Array.from({ length: workers }, async (_, w) => {
      const u = urls[w % urls.length];
      for (let i = 0; i < rounds; i++) {
        const a = await post(`${u}/v1/locks/counter/acquire`, {
          ttl: 30,
          wait: 20_000,
          owner: `w${w}`,
        });
        assert.equal(a.status, 200, JSON.stringify(a.json));
        const token = a.json.token as number;
        holders.add(w);
        maxConcurrent = Math.max(maxConcurrent, holders.size);
        tokens.push(token);
        // Fenced read-modify-write of a counter.
        const cur = await fetch(`${u}/v1/kv/counter`);
        const n = cur.status === 404 ? 0 : Number((await cur.json()).value);
        const put = await fetch(`${u}/v1/kv/counter`, {
          method: "PUT",
          body: JSON.stringify({
            value: String(n + 1),
            fence: { lock: "counter", token },
          }),
        });
        assert.equal(put.status, 200);
        await put.body?.cancel();
        holders.delete(w);
        const r = await post(`${u}/v1/locks/counter/release`, { token });
        assert.equal(r.status, 200);
      }
    }));
    assert.equal(maxConcurrent, 1, "two workers held the lock at once");
    // Tokens in grant order are strictly increasing; all distinct.
    assert.equal(new Set(tokens).size, tokens.length);
    for (let i = 1; i < tokens.length; i++) {
      assert.ok(
        tokens[i] > tokens[i - 1],
        `token ${tokens[i]} after ${tokens[i - 1]}`,
      );
    }
    const final = await (await fetch(`${urls[0]}/v1/kv/counter`)).json();
    assert.equal(Number(final.value), workers * rounds);
  } finally {
    await c.close();
  }
});

Deno.test("waiters are served first in, first out", async () => {
  const c = await TestCluster.start(3);
  try {
    await c.waitForLeader();
    const urls = c.urls();
    const first = await post(`${urls[0]}/v1/locks/q/acquire`, { ttl: 30 });
    const order: string[] = [];
    const waits: Promise<void>[] = [];
    for (let i = 0; i < 4; i++) {
      waits.push(
        post(`${urls[i % 3]}/v1/locks/q/acquire`, {
          ttl: 30,
          wait: 15_000,
          owner: `w${i}`,
        }).then(async (r) => {
          assert.equal(r.status, 200);
          order.push(r.json.owner as string);
          await post(`${urls[i % 3]}/v1/locks/q/release`, {
            token: r.json.token,
          });
        }),
      );
      // Let each waiter enqueue before the next one arrives.
      for (let t = 0; t < 100; t++) {
        const st = await (await fetch(`${urls[0]}/v1/locks/q`)).json();
        if (st.waiters === i + 1) break;
        await new Promise((r) => setTimeout(r, 10));
      }
    }
    await post(`${urls[0]}/v1/locks/q/release`, { token: first.json.token });
    await Promise.all(waits);
    assert.deepEqual(order, ["w0", "w1", "w2", "w3"]);
  } finally {
    await c.close();
  }
});

Deno.test("a holder's lease expiry hands the lock to the next waiter and stales its token", async () => {
  const c = await TestCluster.start(3);
  try {
    await c.waitForLeader();
    const [u1, u2] = c.urls();
    const held = await post(`${u1}/v1/locks/exp/acquire`, {
      ttl: 1,
      owner: "crashed",
    });
    const t0 = Date.now();
    const next = await post(`${u2}/v1/locks/exp/acquire`, {
      ttl: 30,
      wait: 10_000,
      owner: "next",
    });
    const waited = Date.now() - t0;
    assert.equal(next.status, 200);
    assert.equal(next.json.owner, "next");
    assert.ok(
      waited >= 700,
      `granted after ${waited} ms, before the 1 s TTL ran out`,
    );
    assert.ok(waited < 5000, `granted only after ${waited} ms`);
    const stale = await fetch(`${u2}/v1/kv/x`, {
      method: "PUT",
      body: JSON.stringify({
        value: "late",
        fence: { lock: "exp", token: held.json.token },
      }),
    });
    assert.equal(stale.status, 409);
    assert.equal((await stale.json()).error.code, "stale_token");
  } finally {
    await c.close();
  }
});

Deno.test("a lease with keys expires on its own; keepalive keeps it", async () => {
  const c = await TestCluster.start(3);
  try {
    await c.waitForLeader();
    const u = c.urls()[1];
    const a = (await post(`${u}/v1/leases`, { ttl: 1 })).json.id;
    const b = (await post(`${u}/v1/leases`, { ttl: 1 })).json.id;
    await fetch(`${u}/v1/kv/eph/a`, {
      method: "PUT",
      body: JSON.stringify({ value: "1", lease: a }),
    }).then((r) => r.body?.cancel());
    await fetch(`${u}/v1/kv/eph/b`, {
      method: "PUT",
      body: JSON.stringify({ value: "1", lease: b }),
    }).then((r) => r.body?.cancel());
    for (let i = 0; i < 8; i++) {
      await new Promise((r) => setTimeout(r, 250));
      await fetch(`${u}/v1/leases/${b}/keepalive`, { method: "POST" }).then((
        r,
      ) => r.body?.cancel());
    }
    assert.equal(
      await fetch(`${u}/v1/kv/eph/a`).then(async (
        r,
      ) => (await r.body?.cancel(), r.status)),
      404,
    );
    assert.equal(
      await fetch(`${u}/v1/kv/eph/b`).then(async (
        r,
      ) => (await r.body?.cancel(), r.status)),
      200,
    );
  } finally {
    await c.close();
  }
});

Deno.test("lease TTLs survive the leader's failure: a kept-alive lease is never expired by the new leader", async () => {
  const c = await TestCluster.start(3);
  try {
    const leader = await c.waitForLeader();
    const other = Object.keys(c.http).filter((id) => id !== leader);
    const u = c.url(other[0]);
    const id = (await post(`${u}/v1/leases`, { ttl: 2 })).json.id;
    await fetch(`${u}/v1/kv/alive`, {
      method: "PUT",
      body: JSON.stringify({ value: "1", lease: id }),
    }).then((r) => r.body?.cancel());
    await c.stopNode(leader);
    const next = await c.waitForLeader();
    assert.notEqual(next, leader);
    // Keep it alive through the new leader for longer than its TTL.
    for (let i = 0; i < 6; i++) {
      const k = await fetch(`${u}/v1/leases/${id}/keepalive`, {
        method: "POST",
      });
      assert.equal(k.status, 200);
      await k.body?.cancel();
      await new Promise((r) => setTimeout(r, 500));
    }
    const r = await fetch(`${u}/v1/kv/alive`);
    assert.equal(r.status, 200);
    await r.body?.cancel();
  } finally {
    await c.close();
  }
});
