/**
 * The auth routes and what auth changes, in-process on a single node:
 * turning auth on, tokens (wrong password, expiry on a moved clock,
 * password changes, key rotation), role changes taking effect at once,
 * answers that never show a hash, and the login limiter's 429. Watches
 * are in auth_watch_test.ts, every route × every kind of caller in
 * auth_matrix_test.ts.
 */

import assert from "node:assert/strict";
import { Jwt } from "hono/utils/jwt";
import {
  authNodeOptions,
  bearer,
  enableAuth,
  FakeClock,
  login,
  PASSWORD,
} from "./auth_helpers.ts";
import { errCode, errMessage, withNode } from "./single_node.ts";

Deno.test("auth off: everything is open; enable needs a root user", async () => {
  await withNode(async (n) => {
    assert.deepEqual((await n.call("GET", "/v1/auth/status")).json, {
      enabled: false,
    });
    assert.equal((await n.call("PUT", "/v1/kv/a", { value: "1" })).status, 200);
    const t = await n.call("POST", "/v1/auth/token", {
      user: "root",
      password: PASSWORD,
    });
    assert.equal(t.status, 409);
    assert.match(errMessage(t), /Auth is off/);
    const e = await n.call("POST", "/v1/auth/enable");
    assert.equal(e.status, 409);
    assert.match(errMessage(e), /root/);
    // A new user needs a password of at least 8 characters.
    const u = await n.call("PUT", "/v1/auth/users/root", { roles: ["root"] });
    assert.equal(u.status, 400);
    const short = await n.call("PUT", "/v1/auth/users/root", {
      password: "short",
    });
    assert.equal(errCode(short), "bad_request");
    const bad = await n.call("PUT", "/v1/auth/users/a%2Fb", {
      password: PASSWORD,
    });
    assert.equal(errCode(bad), "bad_request");
  }, authNodeOptions(new FakeClock()));
});

Deno.test("auth on: tokens, 401 with WWW-Authenticate, and the open routes", async () => {
  await withNode(async (n) => {
    const t = await enableAuth(n);
    assert.deepEqual((await n.call("GET", "/v1/auth/status")).json, {
      enabled: true,
    });
    // Wrong password and unknown user: the same answer.
    for (const [user, password] of [["ro", "nope-nope"], ["ghost", PASSWORD]]) {
      const a = await n.call("POST", "/v1/auth/token", { user, password });
      assert.equal(a.status, 401);
      assert.equal(errCode(a), "unauthenticated");
      assert.equal(errMessage(a), "Wrong user name or password");
    }
    const issued = await n.call("POST", "/v1/auth/token", {
      user: "rw",
      password: PASSWORD,
    });
    assert.equal(issued.json.ttl, 600);
    const { header, payload } = Jwt.decode(String(issued.json.token));
    assert.equal(header.alg, "HS256");
    assert.equal(typeof header.kid, "string");
    assert.equal(payload.sub, "rw");
    assert.equal((payload.exp as number) * 1000, issued.json.expiresAt);

    const none = await n.call("GET", "/v1/kv/app/a");
    assert.equal(none.status, 401);
    assert.equal(
      none.headers.get("www-authenticate"),
      'Bearer realm="raftlock"',
    );
    assert.match(errMessage(none), /Authorization: Bearer/);
    const basic = await n.call("GET", "/v1/kv/app/a", undefined, {
      authorization: "Basic cm9vdDpwdw==",
    });
    assert.equal(basic.status, 401);
    assert.equal(
      basic.headers.get("www-authenticate"),
      'Bearer realm="raftlock", error="invalid_request"',
    );
    const garbage = await n.call(
      "GET",
      "/v1/kv/app/a",
      undefined,
      bearer("x.y.z"),
    );
    assert.equal(garbage.status, 401);
    assert.equal(
      garbage.headers.get("www-authenticate"),
      'Bearer realm="raftlock", error="invalid_token"',
    );
    assert.equal(garbage.headers.get("content-type"), "application/json");
    // With a token: the permissions decide.
    const put = await n.call(
      "PUT",
      "/v1/kv/app/a",
      { value: "1" },
      bearer(t.rw),
    );
    assert.equal(put.status, 200);
    const denied = await n.call(
      "PUT",
      "/v1/kv/b",
      { value: "1" },
      bearer(t.rw),
    );
    assert.equal(denied.status, 403);
    assert.equal(errCode(denied), "permission_denied");
    assert.match(errMessage(denied), /User rw may not write 'b'/);
    // Open routes need no token.
    for (const path of ["/healthz", "/readyz", "/metrics", "/v1/auth/status"]) {
      assert.equal((await n.call("GET", path)).status, 200, path);
    }
    // Secure headers are on every answer; bodies stay JSON.
    assert.equal(put.headers.get("x-content-type-options"), "nosniff");
    assert.equal(put.headers.get("content-type"), "application/json");
    assert.ok(put.headers.get("x-raft-revision"));
  }, authNodeOptions(new FakeClock()));
});

Deno.test("an expired token gets 401; a new one works", async () => {
  const clock = new FakeClock();
  await withNode(async (n) => {
    const t = await enableAuth(n);
    const get = (token: string) =>
      n.call("GET", "/v1/kv?prefix=app/", undefined, bearer(token));
    clock.advance(599_000);
    assert.equal((await get(t.ro)).status, 200);
    clock.advance(1_000);
    const expired = await get(t.ro);
    assert.equal(expired.status, 401);
    assert.match(errMessage(expired), /expired/);
    assert.equal((await get(await login(n, "ro"))).status, 200);
  }, authNodeOptions(clock));
});

Deno.test("a password change invalidates old tokens; a role change takes effect at once", async () => {
  await withNode(async (n) => {
    const t = await enableAuth(n);
    const root = bearer(t.root);
    const write = (token: string) =>
      n.call("PUT", "/v1/kv/app/a", { value: "x" }, bearer(token));
    assert.equal((await write(t.ro)).status, 403);
    // Grant: the same token may write now.
    const g = await n.call(
      "POST",
      "/v1/auth/users/ro/roles",
      { role: "rw" },
      root,
    );
    assert.deepEqual(g.json.roles, ["ro", "rw"]);
    assert.equal((await write(t.ro)).status, 200);
    // Revoke: refused again, at once.
    const r = await n.call(
      "DELETE",
      "/v1/auth/users/ro/roles/rw",
      undefined,
      root,
    );
    assert.deepEqual(r.json.roles, ["ro"]);
    assert.equal((await write(t.ro)).status, 403);
    // A role's permissions changed: at once too.
    await n.call("PUT", "/v1/auth/roles/ro", {
      permissions: [{ prefix: "app/", read: true, write: true }],
    }, root);
    assert.equal((await write(t.ro)).status, 200);
    // A new password: old tokens are refused, new ones work.
    const p = await n.call("PUT", "/v1/auth/users/ro", {
      password: "another-password",
    }, root);
    assert.deepEqual(p.json.roles, ["ro"]); // roles kept
    const old = await write(t.ro);
    assert.equal(old.status, 401);
    assert.match(errMessage(old), /password changed/);
    await assert.rejects(login(n, "ro"));
    assert.equal(
      (await write(await login(n, "ro", "another-password"))).status,
      200,
    );
    // A deleted user: refused; re-created: the old token still is.
    await n.call("DELETE", "/v1/auth/users/rw", undefined, root);
    assert.equal((await write(t.rw)).status, 401);
    await n.call("PUT", "/v1/auth/users/rw", {
      password: PASSWORD,
      roles: ["rw"],
    }, root);
    assert.equal((await write(t.rw)).status, 401);
    assert.equal((await write(await login(n, "rw"))).status, 200);
  }, authNodeOptions(new FakeClock()));
});

Deno.test("users and roles: listing never shows a hash; root is protected", async () => {
  await withNode(async (n) => {
    const t = await enableAuth(n);
    const root = bearer(t.root);
    const users = await n.call("GET", "/v1/auth/users", undefined, root);
    assert.deepEqual(users.json, {
      users: [
        { name: "nobody", roles: [] },
        { name: "ro", roles: ["ro"] },
        { name: "root", roles: ["root"] },
        { name: "rw", roles: ["rw"] },
      ],
    });
    assert.deepEqual(
      (await n.call("GET", "/v1/auth/users/ro", undefined, root)).json,
      { name: "ro", roles: ["ro"] },
    );
    assert.equal(
      (await n.call("GET", "/v1/auth/users/ghost", undefined, root)).status,
      404,
    );
    const roles = await n.call("GET", "/v1/auth/roles", undefined, root);
    assert.deepEqual(roles.json, {
      roles: [
        {
          name: "ro",
          permissions: [{ prefix: "app/", read: true, write: false }],
        },
        {
          name: "rw",
          permissions: [{ prefix: "app/", read: true, write: true }],
        },
      ],
    });
    assert.deepEqual(
      (await n.call("GET", "/v1/auth/roles/rw", undefined, root)).json,
      {
        name: "rw",
        permissions: [{ prefix: "app/", read: true, write: true }],
      },
    );
    for (
      const text of [JSON.stringify(users.json), JSON.stringify(roles.json)]
    ) {
      assert.ok(!/hash|salt|password/.test(text));
    }
    const del = await n.call("DELETE", "/v1/auth/users/root", undefined, root);
    assert.equal(del.status, 409);
    const revoke = await n.call(
      "DELETE",
      "/v1/auth/users/root/roles/root",
      undefined,
      root,
    );
    assert.equal(revoke.status, 409);
    const builtIn = await n.call("PUT", "/v1/auth/roles/root", {
      permissions: [],
    }, root);
    assert.equal(builtIn.status, 400);
    // Deleting a role takes it from its users.
    await n.call("DELETE", "/v1/auth/roles/ro", undefined, root);
    assert.deepEqual(
      (await n.call("GET", "/v1/auth/users/ro", undefined, root)).json.roles,
      [],
    );
    assert.equal(
      (await n.call("GET", "/v1/kv/app/a", undefined, bearer(t.ro))).status,
      403,
    );
  }, authNodeOptions(new FakeClock()));
});

Deno.test("key rotation: tokens of the previous key work until the next rotation", async () => {
  await withNode(async (n) => {
    const t = await enableAuth(n);
    const root = bearer(t.root);
    const get = (token: string) =>
      n.call("GET", "/v1/status", undefined, bearer(token));
    const k1 = Jwt.decode(t.ro).header.kid;
    const r1 = await n.call("POST", "/v1/auth/rotate-key", undefined, root);
    assert.equal(r1.status, 200);
    assert.notEqual(r1.json.kid, k1);
    assert.equal((await get(t.ro)).status, 200);
    const t2 = await login(n, "ro");
    assert.equal(Jwt.decode(t2).header.kid, r1.json.kid);
    await n.call("POST", "/v1/auth/rotate-key", undefined, root);
    const old = await get(t.ro);
    assert.equal(old.status, 401);
    assert.match(errMessage(old), /no longer accepts/);
    assert.equal((await get(t2)).status, 200);
  }, authNodeOptions(new FakeClock()));
});

Deno.test("disable: requests need no token again; re-enable keeps users and key", async () => {
  await withNode(async (n) => {
    const t = await enableAuth(n);
    assert.equal((await n.call("POST", "/v1/auth/disable")).status, 401);
    assert.equal(
      (await n.call("POST", "/v1/auth/disable", undefined, bearer(t.rw)))
        .status,
      403,
    );
    const d = await n.call(
      "POST",
      "/v1/auth/disable",
      undefined,
      bearer(t.root),
    );
    assert.equal(d.json.enabled, false);
    assert.equal((await n.call("PUT", "/v1/kv/b", { value: "1" })).status, 200);
    assert.equal((await n.call("POST", "/v1/auth/enable")).status, 200);
    assert.equal((await n.call("PUT", "/v1/kv/b", { value: "1" })).status, 401);
    assert.equal(
      (await n.call("GET", "/v1/status", undefined, bearer(t.ro))).status,
      200,
    );
  }, authNodeOptions(new FakeClock()));
});

Deno.test("the login limiter answers 429 with Retry-After when flooded", async () => {
  await withNode(
    async (n) => {
      const t = await enableAuth(n);
      // Hold the one running check and the one queued check.
      let open = () => {};
      const held = new Promise<void>((r) => (open = r));
      const limiter = n.authenticator.limiter;
      const busy = [limiter.run(() => held), limiter.run(() => held)];
      const flood = await Promise.all(
        Array.from(
          { length: 20 },
          () =>
            n.call("POST", "/v1/auth/token", {
              user: "ro",
              password: PASSWORD,
            }),
        ),
      );
      for (const a of flood) {
        assert.equal(a.status, 429);
        assert.equal(errCode(a), "too_many_requests");
        assert.equal(a.headers.get("retry-after"), "1");
      }
      assert.equal(limiter.refused, 20);
      const metrics = (await n.call("GET", "/metrics")).json.raw as string;
      assert.match(
        metrics,
        /^raftlock_auth_password_checks_refused_total 20$/m,
      );
      assert.match(metrics, /^raftlock_auth_password_checks_active 1$/m);
      assert.match(metrics, /^raftlock_auth_enabled 1$/m);
      // New passwords go through the same bound.
      const put = await n.call(
        "PUT",
        "/v1/auth/users/x",
        { password: PASSWORD },
        bearer(t.root),
      );
      assert.equal(put.status, 429);
      open();
      await Promise.all(busy);
      assert.equal(
        (await n.call("POST", "/v1/auth/token", {
          user: "ro",
          password: PASSWORD,
        }))
          .status,
        200,
      );
    },
    authNodeOptions(new FakeClock(), {
      authOptions: { maxConcurrentChecks: 1, maxQueuedChecks: 1 },
    }),
  );
});
