/**
 * E2E: client auth with real processes.
 *
 * - Tokens: with `--token-ttl 2` one gets 401 once expired, on every
 *   node; the typed client
 *   (user and password) renews by itself and its watch resumes after the
 *   server ends it for an expired token, with no gap and no repeat.
 * - `raftd --join` with auth on: refused (and told why) without
 *   credentials, a voter with `--join-user root --join-password-file`.
 * - A token made on one node is accepted by every other. Auth survives a
 *   restart of every node and a snapshot restore into
 *   fresh data directories: users, roles and keys come back; a token from
 *   before is accepted iff it has not expired and its signing key came
 *   back.
 * - A watch never shows a key outside its token's prefix.
 */

import assert from "node:assert/strict";
import { Client, type WatchEvent } from "../../src/client/mod.ts";
import {
  collectWatch,
  ctlOk,
  decodeToken,
  enableAuth,
  login,
  ok,
  PASSWORD,
  raftctl,
} from "./auth_support.ts";
import { E2E, http, sleep, withCluster } from "./harness.ts";

Deno.test({
  name:
    "e2e auth: a token expires everywhere (--token-ttl 2); the client renews and its watch resumes; --join with root credentials",
  ...E2E,
  fn: () =>
    withCluster({ nodes: 3, extraArgs: ["--token-ttl", "2"] }, async (c) => {
      const leader = await c.waitForLeader();
      const [f1, f2] = c.running().filter((id) => id !== leader).sort();
      await enableAuth(c, f1);

      // (A token working on every node is shown in the next test, whose
      // tokens live long enough for any machine's speed.)
      const t = await login(c, f1, "rw");
      const issued = Date.now();
      assert.equal(
        Number(decodeToken(t).claims.exp) - Number(decodeToken(t).claims.iat),
        2,
      );
      // Expired: 401 on every node, saying so.
      await sleep(Math.max(0, issued + 2500 - Date.now()));
      for (const id of [leader, f1, f2]) {
        const r = await http(`${c.url(id)}/v1/kv/app/x`, { token: t });
        assert.equal(r.status, 401, `${id}: ${JSON.stringify(r.body)}`);
        assert.match(JSON.stringify(r.body), /expired/i);
      }

      // The typed client with a user and password: through several token
      // lifetimes its watch (on a follower) sees every write to app/ once,
      // in order, and nothing else. That follower issues tokens of 4 s (at
      // least 3 s: whole seconds), so a slow login on a busy machine still
      // leaves the client time to use its token.
      await c.node(f2).kill("SIGTERM");
      c.node(f2).config.extraArgs = ["--token-ttl", "4"];
      c.node(f2).start();
      await c.waitForLeader();
      let watches = 0;
      await using app = new Client({
        endpoints: [c.url(f2)],
        discover: false,
        user: "ro",
        password: PASSWORD,
        fetch: (input, init) => {
          if (String(input).includes("/v1/watch")) watches++;
          return fetch(input, init);
        },
      });
      await using root = new Client({
        endpoints: [c.url(leader)],
        user: "root",
        password: PASSWORD,
      });
      const start = (await root.put("app/start", "")).revision;
      const seen: WatchEvent[] = [];
      const stop = new AbortController();
      const watching = (async () => {
        const w = app.watch({ prefix: "app/" }, {
          fromRevision: start + 1,
          signal: stop.signal,
        });
        for await (const e of w) {
          seen.push(e);
          if (e.key === "app/end") stop.abort();
        }
      })();
      const wanted: number[] = [];
      const until = Date.now() + 8000;
      for (let i = 0; Date.now() < until; i++) {
        wanted.push((await root.put(`app/w${i % 5}`, String(i))).revision);
        await root.put(`secret/w${i % 5}`, String(i));
        assert.equal((await app.get(`app/w${i % 5}`))?.value, String(i));
        await sleep(50);
      }
      wanted.push((await root.put("app/end", "")).revision);
      await watching;
      assert.deepEqual(seen.map((e) => e.revision), wanted);
      assert.ok(seen.every((e) => e.key.startsWith("app/")));
      // The stream was ended for expiry, and resumed, more than once.
      assert.ok(watches >= 2, `watch connections: ${watches}`);

      // Joining with auth on: without credentials the add is refused, and
      // the log says what to give.
      const stranger = c.addNode("n4", { join: c.url(leader) });
      stranger.start();
      await stranger.waitForLog(
        (r) =>
          r.event === "server.join" && /join-user/.test(String(r.hint ?? "")),
        { timeoutMs: 30_000 },
      );
      await stranger.kill("SIGKILL");
      c.nodes.delete("n4");
      const pw = `${c.dir}/root.password`;
      await Deno.writeTextFile(pw, `${PASSWORD}\n`);
      const joiner = c.addNode("n5", {
        join: c.url(f1),
        extraArgs: [
          "--token-ttl",
          "2",
          "--join-user",
          "root",
          "--join-password-file",
          pw,
        ],
      });
      joiner.start();
      await joiner.waitForLog(
        (r) => r.event === "server.join" && r.step === "promoted to voter",
        { timeoutMs: 60_000 },
      );
      const cluster = await root.cluster();
      assert.deepEqual(
        cluster.members.map((m) => `${m.id}:${m.role}`).sort(),
        [`n1:voter`, `n2:voter`, `n3:voter`, `n5:voter`],
      );
    }),
});

Deno.test({
  name:
    "e2e auth: a token made on one node works on every node; users, roles, keys and tokens survive a restart of every node and a snapshot restore",
  ...E2E,
  fn: () =>
    withCluster({ nodes: 3 }, async (c) => {
      const leader = await c.waitForLeader();
      await enableAuth(c, leader);
      // n3 issues tokens that live 3 s; the others 10 minutes.
      const n3 = c.node("n3");
      await n3.kill("SIGTERM");
      n3.config.extraArgs = ["--token-ttl", "3"];
      n3.start();
      await c.waitForLeader();

      // Keys: a token of the first key, then two rotations.
      const retired = await login(c, "n1", "ro");
      const rootToken = await login(c, "n1", "root");
      const url = c.url("n1");
      await ok(url, "POST", "/v1/auth/rotate-key", undefined, rootToken);
      const previous = await login(c, "n1", "ro");
      const rootToken2 = await login(c, "n1", "root");
      await ok(url, "POST", "/v1/auth/rotate-key", undefined, rootToken2);
      const current = await login(c, "n2", "ro");
      const rootToken3 = await login(c, "n2", "root");
      const kids = [retired, previous, current].map((t) =>
        decodeToken(t).header.kid
      );
      assert.equal(new Set(kids).size, 3);
      await ok(url, "PUT", "/v1/kv/app/a", { value: "1" }, rootToken3);
      await ok(
        url,
        "PUT",
        "/v1/auth/roles/audit",
        { permissions: [{ prefix: "logs/", read: true }] },
        rootToken3,
      );
      await ok(
        url,
        "POST",
        "/v1/auth/users/rw/roles",
        { role: "audit" },
        rootToken3,
      );

      // What each token may do, on every node (tokens made on n1 and n2),
      // checked again after each step.
      const check = async (when: string, short?: string) => {
        const read = (t: string, id: string) =>
          http(`${c.url(id)}/v1/kv/app/a`, { token: t, timeoutMs: 5000 });
        for (const id of c.running()) {
          assert.equal((await read(retired, id)).status, 401, `${when} ${id}`);
          assert.equal((await read(previous, id)).status, 200, `${when} ${id}`);
          assert.equal((await read(current, id)).status, 200, `${when} ${id}`);
          const w = await http(`${c.url(id)}/v1/kv/app/a`, {
            method: "PUT",
            body: { value: "2" },
            token: current,
          });
          assert.equal(w.status, 403, `${when} ${id}: ro writes`);
          if (short) {
            const r = await read(short, id);
            assert.equal(r.status, 401, `${when} ${id}`);
            assert.match(JSON.stringify(r.body), /expired/i);
          }
        }
        const users = await ok(url, "GET", "/v1/auth/users", undefined, root);
        assert.deepEqual(users.users, [
          { name: "nobody", roles: [] },
          { name: "ro", roles: ["ro"] },
          { name: "root", roles: ["root"] },
          { name: "rw", roles: ["audit", "rw"] },
        ]);
        const role = await ok(
          url,
          "GET",
          "/v1/auth/roles/audit",
          undefined,
          root,
        );
        assert.deepEqual(role.permissions, [
          { prefix: "logs/", read: true, write: false },
        ]);
        // Logging in still works (the password hashes came back).
        await login(c, "n2", "rw");
      };
      let root = rootToken3;
      await check("before");

      // 1. Every node restarted (SIGKILL: the log is replayed).
      const short = await login(c, "n3", "ro");
      const shortAt = Date.now();
      for (const id of ["n1", "n2", "n3"]) await c.node(id).kill("SIGKILL");
      for (const id of ["n1", "n2", "n3"]) c.node(id).start();
      await c.waitForLeader({ timeoutMs: 30_000 });
      await sleep(Math.max(0, shortAt + 3500 - Date.now()));
      await check("after a restart", short);

      // 2. A backup (raftctl, as root), every node wiped, restored, started.
      const pw = `${c.dir}/root.password`;
      await Deno.writeTextFile(pw, `${PASSWORD}\n`);
      const file = `${c.dir}/auth.snap`;
      ctlOk(
        await raftctl([
          "--endpoints",
          c.url("n2"),
          "--user",
          "root",
          "--password-file",
          pw,
          "snapshot",
          "save",
          file,
        ]),
      );
      // A user may not take one.
      const denied = await raftctl(
        ["--endpoints", c.url("n2"), "snapshot", "save", `${file}.ro`],
        { RAFTLOCK_TOKEN: current },
      );
      assert.equal(denied.code, 1);
      assert.match(denied.stderr, /permission denied/);
      const short2 = await login(c, "n3", "ro");
      const short2At = Date.now();
      const peers = Object.entries(c.peerAddresses())
        .map(([id, a]) => `${id}=${a}`).join(",");
      for (const id of ["n1", "n2", "n3"]) {
        await c.node(id).kill("SIGKILL");
        await Deno.remove(c.node(id).config.dataDir, { recursive: true });
        ctlOk(
          await raftctl([
            "snapshot",
            "restore",
            file,
            "--data-dir",
            c.node(id).config.dataDir,
            "--id",
            id,
            "--peers",
            peers,
          ]),
        );
      }
      for (const id of ["n1", "n2", "n3"]) c.node(id).start();
      await c.waitForLeader({ timeoutMs: 30_000 });
      await sleep(Math.max(0, short2At + 3500 - Date.now()));
      await check("after a restore", short2);
      // The keys came back as they were: one more rotation retires the
      // previous key (and keeps the current one).
      root = await login(c, "n1", "root");
      await ok(url, "POST", "/v1/auth/rotate-key", undefined, root);
      for (const id of c.running()) {
        // Each node refuses it once it has applied the rotation.
        const deadline = Date.now() + 15_000;
        let status = 0;
        while (Date.now() < deadline) {
          status = (await http(`${c.url(id)}/v1/kv/app/a`, { token: previous }))
            .status;
          if (status === 401) break;
          assert.equal(status, 200, id);
          await sleep(100);
        }
        assert.equal(status, 401, id);
        const cur = await http(`${c.url(id)}/v1/kv/app/a`, { token: current });
        assert.equal(cur.status, 200, id);
      }
    }),
});

Deno.test({
  name: "e2e auth: a watch never shows a key outside its token's prefix",
  ...E2E,
  fn: () =>
    withCluster({ nodes: 3 }, async (c) => {
      const leader = await c.waitForLeader();
      const follower = c.running().find((id) => id !== leader)!;
      await enableAuth(c, leader);
      const root = await login(c, leader, "root");
      const ro = await login(c, follower, "ro");
      // Ranges wider than the token's prefix are refused at once.
      for (const q of ["prefix=", "prefix=ap", "prefix=other/", "key=other"]) {
        const w = await collectWatch(`${c.url(follower)}/v1/watch?${q}`, ro);
        assert.equal(w.status, 403, q);
      }
      const start = await ok(
        c.url(leader),
        "GET",
        "/v1/status",
        undefined,
        root,
      );
      const from = Number(start.revision) + 1;
      const limited = await collectWatch(
        `${c.url(follower)}/v1/watch?prefix=app/&fromRevision=${from}`,
        ro,
      );
      const all = await collectWatch(
        `${c.url(leader)}/v1/watch?prefix=&fromRevision=${from}`,
        root,
      );
      assert.equal(limited.status, 200);
      assert.equal(all.status, 200);
      // Inside, outside, beside ("app" and "apps/" share the letters), by
      // transaction and by prefix delete, from root on every node.
      const inside: number[] = [];
      const ids = c.running();
      for (let i = 0; i < 30; i++) {
        const via = c.url(ids[i % 3]);
        const a = await ok(
          via,
          "PUT",
          `/v1/kv/app/k${i}`,
          { value: "v" },
          root,
        );
        inside.push(Number(a.revision));
        await ok(via, "PUT", `/v1/kv/apps/k${i}`, { value: "x" }, root);
        await ok(via, "PUT", `/v1/kv/app`, { value: "x" }, root);
        await ok(via, "PUT", `/v1/kv/secret/k${i}`, { value: "x" }, root);
      }
      const txn = await ok(c.url(leader), "POST", "/v1/txn", {
        success: [
          { put: { key: "app/t", value: "1" } },
          { put: { key: "secret/t", value: "1" } },
        ],
      }, root);
      const del = await ok(
        c.url(leader),
        "DELETE",
        "/v1/kv/secret/?prefix=true",
        undefined,
        root,
      );
      const last = await ok(
        c.url(leader),
        "PUT",
        "/v1/kv/app/end",
        { value: "" },
        root,
      );
      const deadline = Date.now() + 10_000;
      const done = (w: typeof all, rev: number) =>
        w.events.some((e) => Number(e.data.revision) === rev);
      while (
        (!done(limited, Number(last.revision)) ||
          !done(all, Number(last.revision))) && Date.now() < deadline
      ) await sleep(50);
      await limited.close();
      await all.close();
      const keys = limited.events.map((e) => String(e.data.key));
      assert.ok(keys.every((k) => k.startsWith("app/")), keys.join(" "));
      assert.deepEqual(
        limited.events.map((e) => Number(e.data.revision)),
        [...inside, Number(txn.revision), Number(last.revision)],
      );
      // Root saw the rest: the watch was fed, and filtered.
      assert.ok(
        all.events.some((e) => String(e.data.key).startsWith("secret/")),
      );
      assert.equal(
        all.events.filter((e) =>
          Number(e.data.revision) === Number(del.revision)
        ).length,
        31,
      );
    }),
});
