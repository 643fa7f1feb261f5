/**
 * Watches with auth on: a watch needs read access to its whole range, each
 * event is checked against the roles as they are when it is sent (so a
 * watch never delivers a key outside the token's permissions, even as they
 * change), and the stream ends with an `error` event once the token
 * expires or its user is gone.
 */

import assert from "node:assert/strict";
import {
  authNodeOptions,
  bearer,
  enableAuth,
  FakeClock,
  login,
  PASSWORD,
  SseReader,
} from "./auth_helpers.ts";
import { errCode, type SingleNode, withNode } from "./single_node.ts";

async function watch(
  n: SingleNode,
  query: string,
  token?: string,
): Promise<SseReader> {
  const r = await n.app.request(`/v1/watch${query}`, {
    headers: token ? bearer(token) : {},
  });
  assert.equal(r.status, 200);
  return new SseReader(r);
}

Deno.test("a watch needs read access to its whole range", async () => {
  await withNode(async (n) => {
    const t = await enableAuth(n);
    for (const q of ["?prefix=", "?prefix=ap", "?key=other", ""]) {
      const a = await n.call("GET", `/v1/watch${q}`, undefined, bearer(t.ro));
      assert.equal(a.status, 403, q);
      assert.equal(errCode(a), "permission_denied");
    }
    assert.equal((await n.call("GET", "/v1/watch?prefix=app/")).status, 401);
    const w = await watch(n, "?prefix=app/x", t.ro);
    await w.close();
  }, authNodeOptions(new FakeClock()));
});

Deno.test("a watch never delivers a key outside the token's permissions, as they change", async () => {
  await withNode(async (n) => {
    const t = await enableAuth(n);
    const root = bearer(t.root);
    const put = async (key: string) =>
      assert.equal(
        (await n.call("PUT", `/v1/kv/${key}`, { value: key }, root)).status,
        200,
      );
    const all = await watch(n, "?prefix=", t.root);
    const w = await watch(n, "?prefix=app/", t.ro);
    await put("app/a");
    assert.equal((await w.next())?.data.key, "app/a");
    // Narrow ro to app/pub/: app/secret is not delivered, app/pub/x is.
    await n.call("PUT", "/v1/auth/roles/ro", {
      permissions: [{ prefix: "app/pub/", read: true }],
    }, root);
    await put("other");
    await put("app/secret");
    await put("app/pub/x");
    assert.equal((await w.next())?.data.key, "app/pub/x");
    // Revoke the role: nothing more is delivered.
    await n.call("DELETE", "/v1/auth/users/ro/roles/ro", undefined, root);
    await put("app/pub/y");
    // Delete the user: the stream ends with an error, and nothing leaked.
    await n.call("DELETE", "/v1/auth/users/ro", undefined, root);
    await put("app/pub/z");
    const end = await w.next();
    assert.equal(end?.event, "error");
    assert.equal(
      (end?.data.error as { code: string }).code,
      "unauthenticated",
    );
    assert.equal(await w.next(), undefined);
    // Root saw everything, in order.
    const keys: unknown[] = [];
    for (let i = 0; i < 6; i++) keys.push((await all.next())?.data.key);
    assert.deepEqual(keys, [
      "app/a",
      "other",
      "app/secret",
      "app/pub/x",
      "app/pub/y",
      "app/pub/z",
    ]);
    await all.close();
  }, authNodeOptions(new FakeClock()));
});

Deno.test("a watch ends with an error event when its token expires", async () => {
  const clock = new FakeClock();
  await withNode(async (n) => {
    const t = await enableAuth(n);
    const w = await watch(n, "?prefix=app/", t.ro);
    const put = async (key: string, token: string) =>
      assert.equal(
        (await n.call("PUT", `/v1/kv/${key}`, { value: "v" }, bearer(token)))
          .status,
        200,
      );
    await put("app/a", t.root);
    const first = await w.next();
    assert.equal(first?.data.key, "app/a");
    clock.advance(600_000);
    // The next event finds the watch's token expired.
    await put("app/b", await login(n, "root"));
    const end = await w.next();
    assert.equal(end?.event, "error");
    assert.match(
      (end?.data.error as { message: string }).message,
      /expired/,
    );
    assert.equal(await w.next(), undefined);
  }, authNodeOptions(clock));
});

Deno.test("a watch opened while auth was off ends when auth is turned on", async () => {
  await withNode(async (n) => {
    const w = await watch(n, "?prefix=");
    await n.call("PUT", "/v1/kv/a", { value: "1" });
    assert.equal((await w.next())?.data.key, "a");
    await enableAuth(n); // its writes are auth commands, not key events
    const t = await n.call("POST", "/v1/auth/token", {
      user: "root",
      password: PASSWORD,
    });
    await n.call(
      "PUT",
      "/v1/kv/b",
      { value: "1" },
      bearer(String(t.json.token)),
    );
    const end = await w.next();
    assert.equal(end?.event, "error");
    assert.equal(await w.next(), undefined);
  }, authNodeOptions(new FakeClock()));
});
