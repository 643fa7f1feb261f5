import assert from "node:assert/strict";
import {
  Client,
  isRaftlockError,
  RaftlockError,
} from "../../src/client/mod.ts";
import { TestCluster } from "../support/cluster.ts";
import { delay } from "./helpers.ts";

async function rejects(
  p: Promise<unknown>,
  code: string,
): Promise<RaftlockError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof RaftlockError, `expected a RaftlockError, got ${e}`);
    assert.equal(e.code, code, e.message);
    return e;
  }
  assert.fail(`expected a ${code} error`);
}

Deno.test("client: every route against a 3-node cluster", async (t) => {
  const c = await TestCluster.start(3);
  const client = new Client({ endpoints: c.urls() });
  try {
    await t.step("kv: put, get, conditional writes, list, delete", async () => {
      const p = await client.put("app/mode", "on");
      assert.ok(p.revision >= 1);
      const kv = await client.get("app/mode");
      assert.equal(kv?.value, "on");
      assert.equal(kv?.version, 1);
      assert.equal(kv?.modRevision, p.revision);
      assert.equal(client.revision >= p.revision, true);
      assert.equal(await client.get("app/missing"), null);
      const s = await client.get("app/mode", { serializable: true });
      assert.ok(s === null || s.value === "on");

      // Keys with characters that need escaping in a URL.
      await client.put("app/odd key?#%/x", "v");
      assert.equal((await client.get("app/odd key?#%/x"))?.value, "v");

      // Conditional writes.
      const p2 = await client.put("app/mode", "off", {
        ifModRevision: p.revision,
      });
      const err = await rejects(
        client.put("app/mode", "x", { ifModRevision: p.revision }),
        "conflict",
      );
      assert.equal(err.status, 409);
      assert.equal(err.current?.value, "off");
      assert.equal(err.current?.modRevision, p2.revision);
      await rejects(client.put("app/new", "x", { ifVersion: 3 }), "conflict");
      await client.put("app/new", "x", { ifVersion: 0 });

      // Listing, paged and whole.
      for (let i = 0; i < 7; i++) await client.put(`list/k${i}`, `v${i}`);
      const page = await client.list("list/", { limit: 3 });
      assert.deepEqual(page.kvs.map((k) => k.key), [
        "list/k0",
        "list/k1",
        "list/k2",
      ]);
      assert.equal(page.more, true);
      const next = await client.list("list/", {
        limit: 3,
        startAfter: "list/k2",
      });
      assert.equal(next.kvs[0].key, "list/k3");
      const all = await client.list("list/", { limit: 2, all: true });
      assert.equal(all.kvs.length, 7);
      assert.equal(all.more, false);
      assert.equal((await client.list("list/")).kvs.length, 7);

      // Deletes.
      const d = await client.delete("list/k0");
      assert.equal(d.deleted, 1);
      await rejects(
        client.delete("list/k1", { ifModRevision: 1 }),
        "conflict",
      );
      const dp = await client.delete("list/", { prefix: true });
      assert.equal(dp.deleted, 6);
      assert.equal((await client.list("list/")).kvs.length, 0);
    });

    await t.step("txn: compare, success and failure branches", async () => {
      await client.put("txn/a", "1");
      const ok = await client.txn({
        compare: [{ key: "txn/a", target: "value", op: "==", value: "1" }],
        success: [
          { put: { key: "txn/b", value: "2" } },
          { get: { key: "txn/", prefix: true } },
        ],
        failure: [{ put: { key: "txn/failed", value: "1" } }],
      });
      assert.equal(ok.succeeded, true);
      assert.equal(ok.results[0].type, "put");
      const got = ok.results[1];
      assert.ok(got.type === "get" && got.kvs.length === 2);
      const no = await client.txn({
        compare: [{ key: "txn/a", target: "version", op: ">", value: 5 }],
        success: [],
        failure: [{ delete: { key: "txn/", prefix: true } }],
      });
      assert.equal(no.succeeded, false);
      assert.equal((await client.list("txn/")).kvs.length, 0);
      await rejects(
        client.txn({
          compare: [{ key: "", target: "value", op: "==", value: "" }],
        }),
        "bad_request",
      );
    });

    await t.step("leases: grant, keepalive, info, list, revoke", async () => {
      const l = await client.grantLease(30);
      assert.equal(l.ttl, 30);
      await client.put("lease/k", "v", { lease: l.id });
      const k = await client.keepAlive(l.id);
      assert.equal(k.id, l.id);
      const info = await client.lease(l.id);
      assert.ok(info);
      assert.deepEqual(info.keys, ["lease/k"]);
      assert.ok(info.remaining === null || info.remaining <= 30);
      assert.ok((await client.leases()).some((x) => x.id === l.id));
      const r = await client.revokeLease(l.id);
      assert.equal(r.deleted, 1);
      assert.equal(await client.get("lease/k"), null);
      assert.equal(await client.lease(l.id), null);
      await rejects(client.keepAlive(l.id), "not_found");
    });

    await t.step(
      "locks: acquire, info, token check, fencing, release",
      async () => {
        const g = await client.acquire("jobs/a", { ttl: 30, owner: "me" });
        assert.equal(g.owner, "me");
        assert.ok(g.token > 0);
        const held = await rejects(
          client.acquire("jobs/a", { ttl: 5 }),
          "lock_held",
        );
        assert.equal(held.holder?.token, g.token);
        const info = await client.lockInfo("jobs/a");
        assert.equal(info.holder?.token, g.token);
        assert.equal(info.waiters, 0);
        assert.ok((await client.locks()).some((l) => l.name === "jobs/a"));
        assert.equal(await client.checkToken("jobs/a", g.token), true);
        assert.equal(await client.checkToken("jobs/a", g.token + 1000), false);
        await client.put("jobs/a/out", "1", {
          fence: { lock: "jobs/a", token: g.token },
        });
        await client.txn({
          success: [{ put: { key: "jobs/a/out", value: "2" } }],
          fence: { lock: "jobs/a", token: g.token },
        });
        const rel = await client.release("jobs/a", g.token);
        assert.equal(rel.released, true);
        await rejects(
          client.put("jobs/a/out", "3", {
            fence: { lock: "jobs/a", token: g.token },
          }),
          "stale_token",
        );
        await rejects(client.release("jobs/a", g.token), "stale_token");
        assert.equal((await client.lockInfo("jobs/a")).holder, null);

        // A waiter gets the lock when the holder releases it.
        const g2 = await client.acquire("jobs/b", { ttl: 30 });
        const waiting = client.acquire("jobs/b", { ttl: 30, wait: 5000 });
        await delay(200);
        await client.release("jobs/b", g2.token);
        const g3 = await waiting;
        assert.ok(g3.token > g2.token);
        await client.release("jobs/b", g3.token);
        // Waiting runs out.
        const g4 = await client.acquire("jobs/c", { ttl: 30 });
        await rejects(
          client.acquire("jobs/c", { ttl: 30, wait: 300 }),
          "lock_held",
        );
        await client.revokeLease(g4.lease);
        assert.equal((await client.lockInfo("jobs/c")).holder, null);
        // With an existing lease.
        const lease = await client.grantLease(30);
        const g5 = await client.acquire("jobs/d", { lease: lease.id });
        assert.equal(g5.lease, lease.id);
        await client.revokeLease(lease.id);
        assert.equal(await client.checkToken("jobs/d", g5.token), false);
      },
    );

    await t.step("cluster: status, members, transfer, snapshot", async () => {
      const st = await client.status();
      assert.ok(["leader", "follower"].includes(st.role));
      assert.ok(st.term >= 1);
      const one = await client.status({ endpoint: c.urls()[1] });
      assert.equal(one.id, "n2");
      const info = await client.cluster();
      assert.equal(info.members.length, 3);
      assert.equal(info.members.filter((m) => m.isLeader).length, 1);
      assert.ok(info.members.every((m) => m.httpAddress && m.peerAddress));
      assert.equal(
        client.leaderUrl,
        `http://${info.members.find((m) => m.isLeader)!.httpAddress}`,
      );

      const to = info.members.find((m) => !m.isLeader)!.id;
      assert.deepEqual(await client.transferLeader(to), { leader: to });
      assert.equal((await client.cluster()).leader, to);
      await c.waitForLeader();

      const added = await client.addMember("n9", "127.0.0.1:1", {
        httpAddress: "127.0.0.1:2",
      });
      assert.deepEqual(added, { id: "n9", role: "learner" });
      const m9 = (await client.cluster()).members.find((m) => m.id === "n9");
      assert.equal(m9?.role, "learner");
      await rejects(client.transferLeader("n9"), "bad_request");
      await rejects(client.removeMember("n42"), "not_found");
      await rejects(client.promote("n42"), "not_found");
      await rejects(client.promote("n1"), "conflict");
      // A learner that never answered has not caught up: not promoted.
      await rejects(client.promote("n9"), "conflict");
      assert.equal(
        (await client.cluster()).members.find((m) => m.id === "n9")?.role,
        "learner",
      );
      assert.deepEqual(await client.removeMember("n9"), {
        id: "n9",
        removed: true,
      });
      assert.equal(
        (await client.cluster()).members.some((m) => m.id === "n9"),
        false,
      );

      const snap = await client.snapshot();
      assert.ok(snap instanceof Uint8Array);
      assert.ok(snap.byteLength > 10);
    });

    await t.step("errors carry the API's code and status", async () => {
      const e = await rejects(client.grantLease(0), "bad_request");
      assert.equal(e.status, 400);
      assert.ok(isRaftlockError(e, "bad_request"));
      assert.ok(e.message.length > 0);
    });
  } finally {
    client.close();
    await c.close();
  }
});

Deno.test("client: an unreachable cluster gives code unreachable", async () => {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  const client = new Client({
    endpoints: [`127.0.0.1:${port}`],
    timeoutMs: 10_000,
    retries: 2,
  });
  const t0 = Date.now();
  const e = await rejects(client.get("k"), "unreachable");
  assert.equal(e.status, 0);
  assert.match(e.message, new RegExp(`127\\.0\\.0\\.1:${port}`));
  // Refused twice, it gives up (in a few ms, about 100 with the backoff)
  // rather than wait out its 10 s deadline: half of that holds on a loaded
  // machine and still tells the two apart.
  const ms = Date.now() - t0;
  assert.ok(ms < 5000, `gave up after ${ms} ms`);
  client.close();
});
