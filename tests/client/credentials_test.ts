/**
 * The client's credentials on a fake clock: when a token is renewed, one
 * login shared by concurrent callers, auth being off (409), a 401 dropping
 * only the token that failed, and 429s retried.
 */

import assert from "node:assert/strict";
import { Credentials, type LoginFn } from "../../src/client/auth.ts";
import { RaftlockError } from "../../src/client/errors.ts";
import type { IssuedToken } from "../../src/client/types.ts";

const signal = new AbortController().signal;

class Clock {
  t = 1_000_000;
  now = () => this.t;
}

/** A login that answers the scripted results in order, and counts. */
function scripted(...answers: (IssuedToken | RaftlockError)[]) {
  const calls: string[] = [];
  const login: LoginFn = (user, password) => {
    calls.push(`${user}:${password}`);
    const a = answers.shift();
    if (!a) return Promise.reject(new Error("no more answers"));
    return a instanceof RaftlockError ? Promise.reject(a) : Promise.resolve(a);
  };
  return { login, calls };
}

const token = (t: string, ttl = 600): IssuedToken => ({
  token: t,
  ttl,
  expiresAt: 0,
});

Deno.test("credentials: a token is renewed with a quarter of its life left (at most a minute early)", async () => {
  const clock = new Clock();
  const c = new Credentials({ user: "u", password: "p" }, clock.now);
  const { login, calls } = scripted(token("a", 600), token("b", 8));
  assert.equal(await c.header(login, signal), "Bearer a");
  // Life 599 s (a second for the node's whole-second clock), renewed a
  // minute before its end.
  clock.t += 538_999;
  assert.equal(await c.header(login, signal), "Bearer a");
  clock.t += 1;
  assert.equal(await c.header(login, signal), "Bearer b");
  // 8 s: life 7 s, renewed with 1.75 s left.
  clock.t += 5_249;
  assert.equal(await c.header(login, signal), "Bearer b");
  assert.equal(calls.length, 2);
  assert.equal(c.logins, 2);
});

Deno.test("credentials: concurrent callers share one login", async () => {
  const c = new Credentials({ user: "u", password: "p" }, new Clock().now);
  let release!: () => void;
  const gate = new Promise<void>((r) => release = r);
  let n = 0;
  const login: LoginFn = async () => {
    n++;
    await gate;
    return token("t");
  };
  const all = Promise.all([1, 2, 3].map(() => c.header(login, signal)));
  release();
  assert.deepEqual(await all, ["Bearer t", "Bearer t", "Bearer t"]);
  assert.equal(n, 1);
});

Deno.test("credentials: auth off (409) sends no token until a 401", async () => {
  const c = new Credentials({ user: "u", password: "p" }, new Clock().now);
  const { login, calls } = scripted(
    new RaftlockError("conflict", "Auth is off", { status: 409 }),
    token("t"),
  );
  assert.equal(await c.header(login, signal), undefined);
  assert.equal(await c.header(login, signal), undefined);
  assert.equal(calls.length, 1);
  // A 401 for a request sent without a token: log in again.
  assert.equal(c.invalidate(undefined), true);
  assert.equal(await c.header(login, signal), "Bearer t");
});

Deno.test("credentials: a 401 drops only the token that failed", async () => {
  const c = new Credentials({ user: "u", password: "p" }, new Clock().now);
  const { login } = scripted(token("a"), token("b"), token("c"));
  const a = await c.header(login, signal);
  assert.equal(c.invalidate(a), true);
  const b = await c.header(login, signal);
  assert.equal(b, "Bearer b");
  // A second 401 for the old token (a request in flight) keeps the new one.
  c.invalidate(a);
  assert.equal(await c.header(login, signal), "Bearer b");
});

Deno.test("credentials: 429 is retried; a wrong password says who", async () => {
  const c = new Credentials({ user: "u", password: "p" }, new Clock().now);
  const busy = new RaftlockError("too_many_requests", "Busy", { status: 429 });
  const { login, calls } = scripted(busy, busy, token("t"));
  assert.equal(await c.header(login, signal), "Bearer t");
  assert.equal(calls.length, 3);
  const d = new Credentials({ user: "bob", password: "x" }, new Clock().now);
  const wrong = scripted(
    new RaftlockError("unauthenticated", "Wrong user or password", {
      status: 401,
    }),
  );
  await assert.rejects(
    () => d.header(wrong.login, signal),
    (e) =>
      e instanceof RaftlockError && e.code === "unauthenticated" &&
      /Cannot log in as bob: Wrong user or password/.test(e.message),
  );
});

Deno.test("credentials: a fixed token, and options that do not fit", async () => {
  const c = new Credentials({ token: "abc.def.ghi" });
  const never: LoginFn = () => Promise.reject(new Error("no login"));
  assert.equal(await c.header(never, signal), "Bearer abc.def.ghi");
  assert.equal(c.renewable, false);
  assert.equal(c.invalidate("Bearer abc.def.ghi"), false);
  assert.equal(new Credentials({}).configured, false);
  assert.equal(await new Credentials({}).header(never, signal), undefined);
  assert.throws(() => new Credentials({ token: "a b" }), TypeError);
  assert.throws(
    () => new Credentials({ token: "t", user: "u", password: "p" }),
    TypeError,
  );
  assert.throws(() => new Credentials({ password: "p" }), TypeError);
});
