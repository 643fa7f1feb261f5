/**
 * Every route of the HTTP API on a 3-node in-process cluster: success
 * shapes, each documented error, and the headers every response carries.
 */

import assert from "node:assert/strict";
import { TestCluster } from "../support/cluster.ts";
import { type Answer, callJson, errCode } from "./single_node.ts";

function call(
  base: string,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<Answer> {
  return callJson((init) => fetch(base + path, init), method, body, headers);
}

let cluster: TestCluster;
let leaderUrl: string;
let followerUrl: string;

async function withCluster(fn: () => Promise<void>): Promise<void> {
  cluster = await TestCluster.start(3);
  try {
    const leader = await cluster.waitForLeader();
    leaderUrl = cluster.url(leader);
    followerUrl = cluster.url(
      Object.keys(cluster.http).find((id) => id !== leader)!,
    );
    await fn();
  } finally {
    await cluster.close();
  }
}

Deno.test("HTTP API routes", async (t) => {
  await withCluster(async () => {
    await t.step(
      "keys: put, get, list, conditional writes, delete (on a follower)",
      async () => {
        const u = followerUrl;
        const p1 = await call(u, "PUT", "/v1/kv/cfg/db/host", { value: "a" });
        assert.equal(p1.status, 200);
        const rev1 = p1.json.revision as number;
        assert.ok(p1.headers.get("x-raft-revision"));
        assert.ok(p1.headers.get("x-raft-term"));

        const g = await call(u, "GET", "/v1/kv/cfg/db/host");
        assert.equal(g.status, 200);
        assert.deepEqual(g.json, {
          key: "cfg/db/host",
          value: "a",
          createRevision: rev1,
          modRevision: rev1,
          version: 1,
        });
        const gs = await call(
          u,
          "GET",
          "/v1/kv/cfg/db/host?consistency=serializable",
        );
        assert.equal(gs.status, 200);
        assert.equal(
          (await call(u, "GET", "/v1/kv/cfg/db/host?consistency=weird")).status,
          400,
        );
        assert.equal(
          errCode(await call(u, "GET", "/v1/kv/missing")),
          "not_found",
        );

        // ifModRevision 0 = must not exist.
        const c1 = await call(u, "PUT", "/v1/kv/cfg/db/host", {
          value: "b",
          ifModRevision: 0,
        });
        assert.equal(c1.status, 409);
        assert.equal(errCode(c1), "conflict");
        assert.equal((c1.json.current as { value: string }).value, "a");
        const c2 = await call(u, "PUT", "/v1/kv/cfg/db/host", {
          value: "b",
          ifModRevision: rev1,
        });
        assert.equal(c2.status, 200);
        const c3 = await call(u, "PUT", "/v1/kv/cfg/db/host", {
          value: "c",
          ifVersion: 1,
        });
        assert.equal(c3.status, 409);
        const c4 = await call(u, "PUT", "/v1/kv/cfg/new", {
          value: "x",
          ifModRevision: 0,
        });
        assert.equal(c4.status, 200);

        for (let i = 0; i < 5; i++) {
          await call(u, "PUT", `/v1/kv/list/k${i}`, { value: String(i) });
        }
        const l = await call(u, "GET", "/v1/kv?prefix=list/&limit=3");
        assert.equal(l.status, 200);
        assert.equal((l.json.kvs as unknown[]).length, 3);
        assert.equal(l.json.more, true);
        const l2 = await call(u, "GET", "/v1/kv?prefix=list/");
        assert.equal((l2.json.kvs as unknown[]).length, 5);
        assert.equal(l2.json.more, false);
        assert.equal(
          (await call(u, "GET", "/v1/kv?prefix=list/&limit=abc")).status,
          400,
        );

        const d1 = await call(u, "DELETE", "/v1/kv/list/k0");
        assert.equal(d1.json.deleted, 1);
        const d2 = await call(u, "DELETE", "/v1/kv/list/?prefix=true");
        assert.equal(d2.json.deleted, 4);
        const d3 = await call(u, "DELETE", `/v1/kv/cfg/new?ifModRevision=1`);
        assert.equal(d3.status, 409);
      },
    );

    await t.step("keys: bad input is a 400 naming the problem", async () => {
      const u = leaderUrl;
      const bad = [
        await call(u, "PUT", "/v1/kv/x", "{not json"),
        await call(u, "PUT", "/v1/kv/x", { value: 5 }),
        await call(u, "PUT", "/v1/kv/x", { value: "v", extra: true }),
        await call(u, "PUT", "/v1/kv/x", { value: "v", ifModRevision: -1 }),
        await call(u, "PUT", "/v1/kv/" + "k".repeat(1025), { value: "v" }),
      ];
      for (const r of bad) {
        assert.equal(r.status, 400, JSON.stringify(r.json));
        assert.equal(errCode(r), "bad_request");
        assert.ok(
          String((r.json.error as { message: string }).message).length > 5,
        );
      }
      const big = await call(u, "PUT", "/v1/kv/big", {
        value: "x".repeat(3 * 1024 * 1024),
      });
      assert.equal(big.status, 413);
      assert.equal(errCode(big), "too_large");
    });

    await t.step("transactions: compare then success or failure", async () => {
      const u = followerUrl;
      await call(u, "PUT", "/v1/kv/tx/a", { value: "1" });
      const ok = await call(u, "POST", "/v1/txn", {
        compare: [{ key: "tx/a", target: "value", op: "==", value: "1" }],
        success: [{ put: { key: "tx/b", value: "2" } }, {
          get: { key: "tx/a" },
        }],
        failure: [{ put: { key: "tx/c", value: "no" } }],
      });
      assert.equal(ok.status, 200);
      assert.equal(ok.json.succeeded, true);
      assert.equal((ok.json.results as unknown[]).length, 2);
      const no = await call(u, "POST", "/v1/txn", {
        compare: [{ key: "tx/a", target: "version", op: ">", value: 5 }],
        success: [],
        failure: [{ delete: { key: "tx/b" } }],
      });
      assert.equal(no.json.succeeded, false);
      assert.equal((await call(u, "GET", "/v1/kv/tx/b")).status, 404);
      assert.equal(
        (await call(u, "POST", "/v1/txn", {
          compare: [{ key: "a", target: "nope", op: "==", value: 1 }],
        })).status,
        400,
      );
    });

    await t.step(
      "leases: grant, keepalive, get, list, revoke deletes keys",
      async () => {
        const u = followerUrl;
        const g = await call(u, "POST", "/v1/leases", { ttl: 30 });
        assert.equal(g.status, 201);
        const id = g.json.id as number;
        assert.equal(g.json.ttl, 30);
        await call(u, "PUT", "/v1/kv/leased", { value: "v", lease: id });
        const k = await call(u, "POST", `/v1/leases/${id}/keepalive`);
        assert.deepEqual(k.json, { id, ttl: 30 });
        const info = await call(u, "GET", `/v1/leases/${id}`);
        assert.equal(info.status, 200);
        assert.deepEqual(info.json.keys, ["leased"]);
        assert.ok(
          typeof info.json.remaining === "number" &&
            (info.json.remaining as number) > 25,
        );
        const list = await call(u, "GET", "/v1/leases");
        assert.ok(
          (list.json.leases as { id: number }[]).some((l) => l.id === id),
        );
        const r = await call(u, "DELETE", `/v1/leases/${id}`);
        assert.equal(r.status, 200);
        assert.equal((await call(u, "GET", "/v1/kv/leased")).status, 404);
        assert.equal(
          errCode(await call(u, "GET", `/v1/leases/${id}`)),
          "not_found",
        );
        assert.equal(
          errCode(await call(u, "POST", `/v1/leases/${id}/keepalive`)),
          "not_found",
        );
        assert.equal(
          (await call(u, "POST", "/v1/leases", { ttl: 0 })).status,
          400,
        );
        assert.equal(
          (await call(u, "POST", "/v1/leases", { ttl: 10 ** 9 })).status,
          400,
        );
        assert.equal((await call(u, "GET", "/v1/leases/abc")).status, 400);
        assert.equal(
          errCode(
            await call(u, "PUT", "/v1/kv/x", { value: "v", lease: 999999 }),
          ),
          "not_found",
        );
      },
    );

    await t.step(
      "locks: acquire, held, check token, fenced write, release, stale token",
      async () => {
        const u = followerUrl;
        const a = await call(u, "POST", "/v1/locks/job/acquire", {
          ttl: 30,
          owner: "alice",
        });
        assert.equal(a.status, 200);
        const token = a.json.token as number;
        assert.equal(a.json.owner, "alice");
        assert.equal(a.json.name, "job");

        const held = await call(leaderUrl, "POST", "/v1/locks/job/acquire", {
          ttl: 30,
          wait: 0,
        });
        assert.equal(held.status, 409);
        assert.equal(errCode(held), "lock_held");
        assert.equal((held.json.holder as { token: number }).token, token);
        const waited = await call(leaderUrl, "POST", "/v1/locks/job/acquire", {
          ttl: 30,
          wait: 200,
        });
        assert.equal(errCode(waited), "lock_held");
        assert.equal(
          (await call(u, "GET", "/v1/locks/job")).json.waiters,
          0,
          "a timed-out waiter leaves the queue",
        );

        assert.deepEqual(
          (await call(u, "GET", `/v1/locks/job?token=${token}`)).json,
          { valid: true },
        );
        const st = await call(u, "GET", "/v1/locks/job");
        assert.equal((st.json.holder as { owner: string }).owner, "alice");
        assert.ok((await call(u, "GET", "/v1/locks")).json.locks);

        const f = await call(u, "PUT", "/v1/kv/guarded", {
          value: "1",
          fence: { lock: "job", token },
        });
        assert.equal(f.status, 200);
        assert.equal(
          errCode(
            await call(u, "POST", "/v1/locks/job/release", {
              token: token + 1000,
            }),
          ),
          "stale_token",
        );
        assert.equal(
          (await call(u, "POST", "/v1/locks/job/release", { token })).status,
          200,
        );
        const stale = await call(u, "PUT", "/v1/kv/guarded", {
          value: "2",
          fence: { lock: "job", token },
        });
        assert.equal(stale.status, 409);
        assert.equal(errCode(stale), "stale_token");
        assert.deepEqual(
          (await call(u, "GET", `/v1/locks/job?token=${token}`)).json,
          { valid: false },
        );

        const b = await call(u, "POST", "/v1/locks/job/acquire", { ttl: 30 });
        assert.ok((b.json.token as number) > token, "tokens strictly increase");
        assert.equal(
          (await call(u, "POST", "/v1/locks/job/acquire", {})).status,
          400,
        );
        assert.equal(
          (await call(u, "POST", "/v1/locks/job/acquire", { ttl: 5, lease: 1 }))
            .status,
          400,
        );
      },
    );

    await t.step(
      "a queued waiter gets the lock when the holder releases",
      async () => {
        const h = await call(leaderUrl, "POST", "/v1/locks/fifo/acquire", {
          ttl: 30,
        });
        const waiting = call(followerUrl, "POST", "/v1/locks/fifo/acquire", {
          ttl: 30,
          wait: 5000,
          owner: "second",
        });
        await new Promise((r) => setTimeout(r, 200));
        assert.equal(
          (await call(leaderUrl, "GET", "/v1/locks/fifo")).json.waiters,
          1,
        );
        await call(leaderUrl, "POST", "/v1/locks/fifo/release", {
          token: h.json.token,
        });
        const w = await waiting;
        assert.equal(w.status, 200);
        assert.equal(w.json.owner, "second");
        assert.ok((w.json.token as number) > (h.json.token as number));
      },
    );

    await t.step(
      "watch: SSE events from a revision, Last-Event-ID resume, compacted",
      async () => {
        const start =
          (await call(leaderUrl, "PUT", "/v1/kv/w/a", { value: "1" })).json
            .revision as number;
        await call(leaderUrl, "PUT", "/v1/kv/w/b", { value: "2" });
        await call(leaderUrl, "DELETE", "/v1/kv/w/a");
        const ac = new AbortController();
        const r = await fetch(
          `${followerUrl}/v1/watch?prefix=w/&fromRevision=${start}`,
          { signal: ac.signal },
        );
        assert.equal(
          r.headers.get("content-type")?.startsWith("text/event-stream"),
          true,
        );
        const reader = r.body!.pipeThrough(new TextDecoderStream()).getReader();
        let buf = "";
        const events: {
          id: string;
          event: string;
          data: Record<string, unknown>;
        }[] = [];
        while (events.length < 3) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += value;
          let i;
          while ((i = buf.indexOf("\n\n")) >= 0) {
            const block = buf.slice(0, i);
            buf = buf.slice(i + 2);
            const f: Record<string, string> = {};
            for (const line of block.split("\n")) {
              const m = line.match(/^(\w+): ?(.*)$/);
              if (m) f[m[1]] = m[2];
            }
            if (f.event === "put" || f.event === "delete") {
              events.push({
                id: f.id,
                event: f.event,
                data: JSON.parse(f.data),
              });
            }
          }
        }
        ac.abort();
        await reader.cancel().catch(() => {});
        assert.deepEqual(events.map((e) => e.event), ["put", "put", "delete"]);
        assert.deepEqual(events.map((e) => e.data.key), ["w/a", "w/b", "w/a"]);
        assert.equal(Number(events[0].id), start);

        // Resume after the first event with Last-Event-ID.
        const ac2 = new AbortController();
        const r2 = await fetch(`${followerUrl}/v1/watch?prefix=w/`, {
          headers: { "Last-Event-ID": String(start) },
          signal: ac2.signal,
        });
        const reader2 = r2.body!.pipeThrough(new TextDecoderStream())
          .getReader();
        let got = "";
        while (!got.includes("event: delete")) {
          const { value, done } = await reader2.read();
          if (done) break;
          got += value;
        }
        ac2.abort();
        await reader2.cancel().catch(() => {});
        assert.ok(
          !got.includes(`id: ${start}\n`),
          "the event named by Last-Event-ID is not repeated",
        );
        assert.ok(got.includes("w/b"));

        assert.equal(
          (await call(followerUrl, "GET", "/v1/watch?key=a&prefix=b")).status,
          400,
        );
      },
    );

    await t.step(
      "cluster: status, cluster, health, readiness, metrics, snapshot",
      async () => {
        const s = await call(followerUrl, "GET", "/v1/status");
        assert.equal(s.json.role, "follower");
        assert.ok((s.json.commit as number) > 0);
        const c = await call(followerUrl, "GET", "/v1/cluster");
        const members = c.json.members as {
          id: string;
          role: string;
          httpAddress: string;
          isLeader: boolean;
        }[];
        assert.equal(members.length, 3);
        assert.equal(members.filter((m) => m.isLeader).length, 1);
        assert.ok(members.every((m) => m.httpAddress));
        assert.equal((await call(followerUrl, "GET", "/healthz")).status, 200);
        assert.equal((await call(followerUrl, "GET", "/readyz")).status, 200);
        const m = await fetch(`${leaderUrl}/metrics`);
        const text = await m.text();
        for (
          const name of [
            "raftlock_raft_term",
            "raftlock_raft_commit_index",
            "raftlock_wal_persist_duration_seconds_bucket",
            "raftlock_http_request_duration_seconds_bucket",
            "raftlock_keys",
            "raftlock_leases",
            "raftlock_locks",
            "raftlock_watchers",
            "raftlock_leader_changes_total",
          ]
        ) assert.ok(text.includes(name), `metrics lack ${name}`);
        const snap = await fetch(`${followerUrl}/v1/snapshot`);
        assert.equal(snap.status, 200);
        assert.ok((await snap.arrayBuffer()).byteLength > 10);
      },
    );

    await t.step("cluster: errors for membership and transfer", async () => {
      assert.equal(
        errCode(await call(followerUrl, "DELETE", "/v1/cluster/members/nope")),
        "not_found",
      );
      assert.equal(
        errCode(
          await call(followerUrl, "POST", "/v1/cluster/members/n1/promote"),
        ),
        "conflict",
      );
      assert.equal(
        (await call(followerUrl, "POST", "/v1/cluster/members", {
          id: "bad id!",
          peerAddress: "x",
        })).status,
        400,
      );
      assert.equal(
        errCode(
          await call(followerUrl, "POST", "/v1/cluster/leader", { to: "n9" }),
        ),
        "not_found",
      );
    });

    await t.step(
      "unknown routes are 404 and wrong methods 405, both JSON",
      async () => {
        const nf = await call(leaderUrl, "GET", "/v2/nothing");
        assert.equal(nf.status, 404);
        assert.equal(errCode(nf), "not_found");
        const na = await call(leaderUrl, "POST", "/v1/status");
        assert.equal(na.status, 405);
        assert.equal(errCode(na), "method_not_allowed");
        assert.ok(na.headers.get("allow")?.includes("GET"));
      },
    );
  });
});

Deno.test("leadership transfer and membership through the API", async () => {
  await withCluster(async () => {
    const target = Object.keys(cluster.http).find((id) =>
      cluster.url(id) !== leaderUrl
    )!;
    const t = await call(followerUrl, "POST", "/v1/cluster/leader", {
      to: target,
    });
    assert.equal(t.status, 200, JSON.stringify(t.json));
    assert.equal(await cluster.waitForLeader(), target);
    // Remove a non-leader, then check the cluster still commits.
    const victim = Object.keys(cluster.http).find((id) => id !== target)!;
    const rm = await call(
      cluster.url(target),
      "DELETE",
      `/v1/cluster/members/${victim}`,
    );
    assert.equal(rm.status, 200, JSON.stringify(rm.json));
    await cluster.stopNode(victim);
    const c = await call(cluster.url(target), "GET", "/v1/cluster");
    assert.equal((c.json.members as unknown[]).length, 2);
    assert.equal(
      (await call(cluster.url(target), "PUT", "/v1/kv/after", { value: "1" }))
        .status,
      200,
    );
  });
});
