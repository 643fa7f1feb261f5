/**
 * Lock routes in-process on a single node: acquire (try and wait), held,
 * queued waiters, token checks, fenced writes, release, and bad input.
 */

import assert from "node:assert/strict";
import {
  assertRaftHeaders,
  assertUnavailable,
  errCode,
  errMessage,
  withNode,
} from "./single_node.ts";

Deno.test("acquire, held, check token, fenced write, release, stale token", async () => {
  await withNode(async (n) => {
    const a = await n.call("POST", "/v1/locks/job/acquire", {
      ttl: 30,
      owner: "alice",
    });
    assert.equal(a.status, 200);
    assert.deepEqual(Object.keys(a.json).sort(), [
      "lease",
      "name",
      "owner",
      "token",
    ]);
    assert.equal(a.json.name, "job");
    assert.equal(a.json.owner, "alice");
    const token = a.json.token as number;
    const lease = a.json.lease as number;
    assertRaftHeaders(a);

    const held = await n.call("POST", "/v1/locks/job/acquire", { ttl: 30 });
    assert.equal(held.status, 409);
    assert.equal(errCode(held), "lock_held");
    assert.deepEqual(held.json.holder, { token, lease, owner: "alice" });

    const waited = await n.call("POST", "/v1/locks/job/acquire", {
      ttl: 30,
      wait: 50,
    });
    assert.equal(waited.status, 409);
    assert.equal(errCode(waited), "lock_held");
    assert.equal(
      errMessage(waited),
      "Lock job is held; it was not granted within 50 ms",
    );
    assert.deepEqual(waited.json.holder, { token, lease, owner: "alice" });

    const info = await n.call("GET", "/v1/locks/job");
    assert.equal(info.status, 200);
    assert.deepEqual(info.json, {
      name: "job",
      holder: { token, lease, owner: "alice" },
      waiters: 0,
    }, "a timed-out waiter leaves the queue");
    assert.deepEqual(
      (await n.call("GET", `/v1/locks/job?token=${token}`)).json,
      { valid: true },
    );
    assert.deepEqual((await n.call("GET", "/v1/locks")).json, {
      locks: [info.json],
    });

    const fenced = await n.call("PUT", "/v1/kv/guarded", {
      value: "1",
      fence: { lock: "job", token },
    });
    assert.equal(fenced.status, 200);

    const stale = await n.call("POST", "/v1/locks/job/release", {
      token: token + 1000,
    });
    assert.equal(stale.status, 409);
    assert.equal(errCode(stale), "stale_token");
    const rel = await n.call("POST", "/v1/locks/job/release", { token });
    assert.equal(rel.status, 200);
    assert.equal(rel.json.released, true);
    assert.equal(typeof rel.json.revision, "number");

    const late = await n.call("PUT", "/v1/kv/guarded", {
      value: "2",
      fence: { lock: "job", token },
    });
    assert.equal(late.status, 409);
    assert.equal(errCode(late), "stale_token");
    assert.deepEqual(
      (await n.call("GET", `/v1/locks/job?token=${token}`)).json,
      { valid: false },
    );
    assert.deepEqual((await n.call("GET", "/v1/locks/job")).json, {
      name: "job",
      holder: null,
      waiters: 0,
    });

    const again = await n.call("POST", "/v1/locks/job/acquire", { ttl: 30 });
    assert.ok((again.json.token as number) > token, "tokens strictly increase");
  });
});

Deno.test("a queued waiter gets the lock when the holder releases", async () => {
  await withNode(async (n) => {
    const h = await n.call("POST", "/v1/locks/fifo/acquire", { ttl: 30 });
    const waiting = n.call("POST", "/v1/locks/fifo/acquire", {
      ttl: 30,
      wait: 10_000,
      owner: "second",
    });
    // Release only once the waiter is in the queue.
    for (;;) {
      const info = await n.call("GET", "/v1/locks/fifo");
      if (info.json.waiters === 1) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    await n.call("POST", "/v1/locks/fifo/release", { token: h.json.token });
    const w = await waiting;
    assert.equal(w.status, 200);
    assert.equal(w.json.owner, "second");
    assert.ok((w.json.token as number) > (h.json.token as number));
    assert.match(
      n.metrics.lockGrants.render(),
      /^raftlock_lock_grants_total 2$/m,
    );
  });
});

Deno.test("acquire with an existing lease; an unknown lease is 404", async () => {
  await withNode(async (n) => {
    const lease = (await n.call("POST", "/v1/leases", { ttl: 30 })).json
      .id as number;
    const a = await n.call("POST", "/v1/locks/l/acquire", { lease });
    assert.equal(a.status, 200);
    assert.equal(a.json.lease, lease);
    assert.deepEqual(
      (await n.call("GET", `/v1/leases/${lease}`)).json.locks,
      ["l"],
    );
    const none = await n.call("POST", "/v1/locks/m/acquire", { lease: 999 });
    assert.equal(none.status, 404);
    assert.equal(errCode(none), "not_found");
  });
});

Deno.test("lock routes: bad input is a 400 naming the problem", async () => {
  await withNode(async (n) => {
    const cases: [string, string, unknown, string | RegExp][] = [
      [
        "POST",
        "/v1/locks/job/acquire",
        {},
        "Give ttl (seconds, a lease is made for the lock) or lease (an existing lease id)",
      ],
      [
        "POST",
        "/v1/locks/job/acquire",
        { ttl: 5, lease: 1 },
        "Invalid body: give either ttl or lease, not both",
      ],
      ["POST", "/v1/locks/job/acquire", { ttl: 5, wait: -1 }, /^Invalid wait/],
      [
        "POST",
        `/v1/locks/${"n".repeat(257)}/acquire`,
        { ttl: 5 },
        /^Invalid lock name: /,
      ],
      ["POST", "/v1/locks/job/release", {}, /^Invalid token: /],
      ["POST", "/v1/locks/job/release", "{", "Request body is not valid JSON"],
      ["GET", "/v1/locks/job?token=abc", undefined, /^token must be a whole/],
    ];
    for (const [method, path, body, message] of cases) {
      const r = await n.call(method, path, body);
      assert.equal(r.status, 400, `${method} ${path} ${JSON.stringify(body)}`);
      assert.equal(errCode(r), "bad_request");
      if (typeof message === "string") assert.equal(errMessage(r), message);
      else assert.match(errMessage(r), message);
      assertRaftHeaders(r, 0);
    }
  });
});

Deno.test("lock routes without a leader are 503 unavailable", async () => {
  await withNode(async (n) => {
    await assertUnavailable(n, [
      ["POST", "/v1/locks/a/acquire", { ttl: 10 }],
      ["POST", "/v1/locks/a/acquire", { ttl: 10, wait: 1000 }],
      ["POST", "/v1/locks/a/release", { token: 1 }],
      ["GET", "/v1/locks/a"],
      ["GET", "/v1/locks/a?token=1"],
      ["GET", "/v1/locks"],
    ]);
  }, { voters: ["n1", "n2"] });
});
