/**
 * The client with auth on, against a real in-process node (HTTP on
 * loopback, the default PBKDF2 cost): logging in with a user and password,
 * the bearer header on every request and watch, renewal before expiry, one
 * new login and retry after a 401, a watch that outlives its token without
 * a gap or a repeat, and the administration methods.
 */

import assert from "node:assert/strict";
import {
  Client,
  isRaftlockError,
  type WatchEvent,
} from "../../src/client/mod.ts";
import { type Server, startServer } from "../../src/server/server.ts";

const ROOT_PASSWORD = "root-password-1";
const APP_PASSWORD = "app-password-1";

/** A fetch that records what the client sends. */
class Recorder {
  /** Every request: method, path and its Authorization header. */
  readonly sent: { method: string; path: string; auth: string | null }[] = [];
  /** The fetch to give the client. */
  readonly fetch: typeof fetch = (input, init) => {
    const url = new URL(String(input));
    this.sent.push({
      method: init?.method ?? "GET",
      path: url.pathname + url.search,
      auth: new Headers(init?.headers).get("authorization"),
    });
    return fetch(input, init);
  };

  /** How many logins were sent. */
  get logins(): number {
    return this.sent.filter((r) => r.path === "/v1/auth/token").length;
  }
}

async function withNode(
  fn: (url: string, server: Server) => Promise<void>,
  tokenTtlSeconds?: number,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "raftlock-client-auth-" });
  const server = await startServer({
    id: "n1",
    dataDir: dir,
    listen: "127.0.0.1:0",
    http: "127.0.0.1:0",
    tokenTtlSeconds,
  });
  try {
    await server.node.waitForLeader(5000);
    await fn(`http://${server.httpAddress}`, server);
  } finally {
    await server.stop();
    await Deno.remove(dir, { recursive: true });
  }
}

/** Makes root and `app` (read and write on `app/`) and turns auth on. */
async function setUp(url: string): Promise<void> {
  await using admin = new Client({
    endpoints: [url],
    user: "root",
    password: ROOT_PASSWORD,
  });
  await admin.auth.putRole("app", [{
    prefix: "app/",
    read: true,
    write: true,
  }]);
  await admin.auth.putUser("root", {
    password: ROOT_PASSWORD,
    roles: ["root"],
  });
  await admin.auth.putUser("app", { password: APP_PASSWORD, roles: ["app"] });
  await admin.auth.enable();
}

Deno.test("client auth: a user and password log in once, every request carries the token", async () => {
  await withNode(async (url) => {
    const rec = new Recorder();
    // Made while auth is off: it needs no token yet (the login says 409).
    await using root = new Client({
      endpoints: [url],
      user: "root",
      password: ROOT_PASSWORD,
      fetch: rec.fetch,
    });
    await root.put("x", "1");
    assert.equal(rec.logins, 1);
    await root.auth.putRole("app", [{
      prefix: "app/",
      read: true,
      write: true,
    }]);
    await root.auth.putUser("root", {
      password: ROOT_PASSWORD,
      roles: ["root"],
    });
    await root.auth.putUser("app", { password: APP_PASSWORD, roles: ["app"] });
    assert.deepEqual(await root.auth.status(), { enabled: false });
    assert.equal((await root.auth.enable()).enabled, true);
    // The first request after the switch gets 401, logs in, and is retried.
    assert.equal((await root.get("x"))?.value, "1");
    assert.equal(rec.logins, 2);
    const before = rec.sent.length;
    await root.put("y", "2");
    await root.list("");
    assert.equal(rec.logins, 2, "the token is reused");
    for (const r of rec.sent.slice(before)) {
      assert.match(r.auth ?? "", /^Bearer [\w-]+\.[\w-]+\.[\w-]+$/, r.path);
    }

    // A user sees only what its roles allow.
    await using app = new Client({
      endpoints: [url],
      user: "app",
      password: APP_PASSWORD,
    });
    await app.put("app/mode", "on");
    assert.equal((await app.get("app/mode"))?.value, "on");
    await assert.rejects(
      () => app.put("other", "1"),
      (e) => isRaftlockError(e, "permission_denied") && e.status === 403,
    );

    // No credentials: 401.
    await using anon = new Client({ endpoints: [url] });
    await assert.rejects(
      () => anon.get("app/mode"),
      (e) => isRaftlockError(e, "unauthenticated") && e.status === 401,
    );
    assert.deepEqual(await anon.auth.status(), { enabled: true });

    // A wrong password: no token, a clear error.
    await using wrong = new Client({
      endpoints: [url],
      user: "app",
      password: "not-the-password",
    });
    await assert.rejects(
      () => wrong.get("app/mode"),
      (e) =>
        isRaftlockError(e, "unauthenticated") &&
        /Cannot log in as app/.test(e.message),
    );
  });
});

Deno.test("client auth: a fixed token is sent as it is; a 401 with it is final", async () => {
  await withNode(async (url) => {
    await setUp(url);
    await using root = new Client({
      endpoints: [url],
      user: "root",
      password: ROOT_PASSWORD,
    });
    const issued = await root.auth.token("app", APP_PASSWORD);
    assert.ok(issued.expiresAt > Date.now());
    assert.equal(issued.ttl, 600);
    const rec = new Recorder();
    await using app = new Client({
      endpoints: [url],
      token: issued.token,
      fetch: rec.fetch,
    });
    await app.put("app/a", "1");
    assert.equal(rec.logins, 0);
    assert.equal(rec.sent.at(-1)!.auth, `Bearer ${issued.token}`);
    // Two rotations retire the key that signed it.
    await root.auth.rotateKey();
    await root.auth.rotateKey();
    await assert.rejects(
      () => app.get("app/a"),
      (e) => isRaftlockError(e, "unauthenticated"),
    );
    assert.equal(rec.logins, 0);
    assert.throws(
      () => new Client({ token: "t", user: "u", password: "p" }),
      TypeError,
    );
    assert.throws(() => new Client({ user: "u" }), TypeError);
  });
});

Deno.test("client auth: after a 401 the client logs in again and retries once", async () => {
  await withNode(async (url) => {
    await setUp(url);
    await using root = new Client({
      endpoints: [url],
      user: "root",
      password: ROOT_PASSWORD,
    });
    const rec = new Recorder();
    await using app = new Client({
      endpoints: [url],
      user: "app",
      password: APP_PASSWORD,
      fetch: rec.fetch,
    });
    await app.put("app/a", "1");
    assert.equal(rec.logins, 1);
    // Cut off every token: the app's next request is refused once.
    await root.auth.rotateKey();
    await root.auth.rotateKey();
    const from = rec.sent.length;
    assert.equal((await app.get("app/a"))?.value, "1");
    assert.deepEqual(
      rec.sent.slice(from).map((r) => `${r.method} ${r.path}`),
      [
        "GET /v1/kv/app%2Fa",
        "POST /v1/auth/token",
        "GET /v1/kv/app%2Fa",
      ],
    );
    // A write is retried with the same request id (it was not applied).
    await root.auth.rotateKey();
    await root.auth.rotateKey();
    await app.put("app/b", "2");
    assert.equal(rec.logins, 3);
    // A changed password: the new login fails, and says so.
    await root.auth.putUser("app", { password: "another-password" });
    await assert.rejects(
      () => app.get("app/a"),
      (e) =>
        isRaftlockError(e, "unauthenticated") &&
        /Cannot log in/.test(e.message),
    );
  });
});

Deno.test("client auth: the token is renewed before it expires", async () => {
  await withNode(async (url) => {
    await setUp(url);
    const rec = new Recorder();
    await using app = new Client({
      endpoints: [url],
      user: "app",
      password: APP_PASSWORD,
      fetch: rec.fetch,
    });
    // Two token lifetimes (4 s, of which 3 s are sure) of steady use: every request succeeds, with
    // new tokens on the way (when exactly is checked with a fake clock in
    // credentials_test.ts).
    const until = Date.now() + 8000;
    let n = 0;
    while (Date.now() < until) {
      await app.put(`app/k${n % 5}`, String(n));
      n++;
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(rec.logins >= 3, `logins ${rec.logins}`);
    assert.ok(
      rec.sent.every((r) => r.path === "/v1/auth/token" || r.auth !== null),
    );
    assert.ok(n > 0);
  }, 4);
});

Deno.test("client auth: a watch outlives its token: no gap, no repeat, nothing outside the prefix", async () => {
  await withNode(async (url) => {
    await setUp(url);
    await using root = new Client({
      endpoints: [url],
      user: "root",
      password: ROOT_PASSWORD,
    });
    const rec = new Recorder();
    await using app = new Client({
      endpoints: [url],
      user: "app",
      password: APP_PASSWORD,
      fetch: rec.fetch,
    });
    const start = (await root.put("app/start", "0")).revision;
    const stop = new AbortController();
    const seen: WatchEvent[] = [];
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
    // Writes inside and outside the prefix for two token lifetimes.
    const wanted: number[] = [];
    const until = Date.now() + 8000;
    for (let i = 0; Date.now() < until; i++) {
      wanted.push((await root.put(`app/k${i % 7}`, String(i))).revision);
      await root.put(`other/k${i % 7}`, String(i));
      await new Promise((r) => setTimeout(r, 40));
    }
    wanted.push((await root.put("app/end", "")).revision);
    await watching;
    assert.deepEqual(seen.map((e) => e.revision), wanted);
    assert.ok(seen.every((e) => e.key.startsWith("app/")));
    // The stream was cut by expiry and resumed with new logins.
    const watches = rec.sent.filter((r) => r.path.startsWith("/v1/watch"));
    assert.ok(watches.length >= 2, `watch connections ${watches.length}`);
    assert.ok(rec.logins >= 2, `logins ${rec.logins}`);
    assert.ok(watches.every((r) => r.auth?.startsWith("Bearer ")));
  }, 4);
});

Deno.test("client auth: users and roles administration", async () => {
  await withNode(async (url) => {
    await setUp(url);
    await using root = new Client({
      endpoints: [url],
      user: "root",
      password: ROOT_PASSWORD,
    });
    const a = root.auth;
    await a.putRole("ro", [{ prefix: "cfg/", read: true }]);
    assert.deepEqual(await a.role("ro"), {
      name: "ro",
      permissions: [{ prefix: "cfg/", read: true, write: false }],
    });
    assert.deepEqual((await a.roles()).map((r) => r.name), ["app", "ro"]);
    assert.equal(await a.role("nope"), null);
    await a.putUser("alice", { password: "alice-password", roles: ["ro"] });
    assert.deepEqual(await a.user("alice"), { name: "alice", roles: ["ro"] });
    assert.deepEqual((await a.grantRole("alice", "app")).roles, ["app", "ro"]);
    assert.deepEqual((await a.revokeRole("alice", "ro")).roles, ["app"]);
    assert.deepEqual(
      (await a.users()).map((u) => u.name),
      ["alice", "app", "root"],
    );
    assert.equal((await a.deleteUser("alice")).deleted, true);
    assert.equal(await a.user("alice"), null);
    assert.equal((await a.deleteRole("ro")).deleted, true);
    const k = await a.rotateKey();
    assert.equal(typeof k.kid, "string");
    assert.equal((await a.disable()).enabled, false);
    assert.deepEqual(await a.status(), { enabled: false });
    await assert.rejects(
      () => a.token("root", ROOT_PASSWORD),
      (e) => isRaftlockError(e, "conflict"),
    );
  });
});

Deno.test("client: members add/remove/promote pass force", async () => {
  const sent: { url: string; body: unknown }[] = [];
  const fake: typeof fetch = (input, init) => {
    sent.push({
      url: String(input),
      body: init?.body ? JSON.parse(String(init.body)) : undefined,
    });
    return Promise.resolve(
      new Response(JSON.stringify({ id: "n4", role: "voter", removed: true })),
    );
  };
  await using c = new Client({
    endpoints: ["http://127.0.0.1:1"],
    discover: false,
    fetch: fake,
  });
  await c.addMember("n4", "h:1", { voter: true, force: true });
  await c.removeMember("n4", { force: true });
  await c.promote("n4", { force: true });
  await c.removeMember("n5");
  assert.deepEqual(sent.map((s) => s.url.replace("http://127.0.0.1:1", "")), [
    "/v1/cluster/members",
    "/v1/cluster/members/n4?force=true",
    "/v1/cluster/members/n4/promote?force=true",
    "/v1/cluster/members/n5",
  ]);
  assert.deepEqual(sent[0].body, {
    id: "n4",
    peerAddress: "h:1",
    learner: false,
    force: true,
  });
});

Deno.test("client auth: an election observer outlives its token too", async () => {
  await withNode(async (url) => {
    await setUp(url);
    await using app = new Client({
      endpoints: [url],
      user: "app",
      password: APP_PASSWORD,
    });
    await using leader = await app.campaign("app/E", "v0", { ttl: 30 });
    const stop = new AbortController();
    const seen: string[] = [];
    const observing = (async () => {
      for await (const e of app.observe("app/E", { signal: stop.signal })) {
        seen.push(e.leader?.value ?? "(none)");
        if (e.leader?.value === "end") stop.abort();
      }
    })();
    // Proclaims across two token lifetimes; the observer sees the last.
    const until = Date.now() + 8000;
    for (let i = 1; Date.now() < until; i++) {
      await leader.proclaim(`v${i}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    await leader.proclaim("end");
    await observing;
    assert.equal(seen.at(-1), "end");
    // In order, each value once (a resume may skip none it had not seen).
    const nums = seen.filter((v) => /^v\d+$/.test(v)).map((v) =>
      Number(v.slice(1))
    );
    assert.deepEqual(nums, [...nums].sort((a, b) => a - b));
    assert.equal(new Set(nums).size, nums.length);
  }, 4);
});
