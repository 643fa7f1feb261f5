/**
 * The permission matrix (the table is in `auth_matrix_cases.ts`, shared
 * with the real-process test in tests/e2e/): every route of the API,
 * called by each of
 *
 * - `none`: no token;
 * - `forged`: a token claiming root, signed with a key the cluster never made;
 * - `nobody`: a user with no role;
 * - `ro`: a user who may read `app/`;
 * - `rw`: a user who may read and write `app/`;
 * - `root`;
 *
 * with auth on, and each answer's status checked: 401 for `none` and
 * `forged` (except on the open routes), 403 where the roles do not allow
 * it, the route's own status where they do.
 */

import assert from "node:assert/strict";
import { signToken } from "../../src/auth/mod.ts";
import {
  authNodeOptions,
  bearer,
  enableAuth,
  FakeClock,
  PASSWORD,
  tokens,
} from "./auth_helpers.ts";
import {
  CASES,
  expected,
  type MatrixAdmin,
  type MatrixRequest,
  SUBJECTS,
} from "./auth_matrix_cases.ts";
import { type SingleNode, withNode } from "./single_node.ts";

/** Root's calls for preparing a case. */
class Admin implements MatrixAdmin {
  constructor(readonly n: SingleNode, readonly token: string) {}
  async call(method: string, path: string, body?: unknown) {
    const a = await this.n.call(method, path, body, bearer(this.token));
    assert.ok(a.status < 300, `${method} ${path}: ${JSON.stringify(a.json)}`);
    return a.json;
  }
}

/** A token claiming root, signed with a key the cluster does not have. */
async function forged(n: SingleNode): Promise<string> {
  const auth = n.service.state.auth;
  const now = Math.floor(Date.now() / 1000);
  return await signToken(
    { sub: "root", epoch: auth.user("root")!.epoch, iat: now, exp: now + 600 },
    {
      kid: auth.current!.kid,
      key: crypto.getRandomValues(new Uint8Array(32)),
    },
  );
}

async function status(n: SingleNode, r: MatrixRequest, token?: string) {
  const res = await n.app.request(r.path, {
    method: r.method,
    headers: {
      "content-type": "application/json",
      ...(token ? bearer(token) : {}),
    },
    body: r.body === undefined ? undefined : JSON.stringify(r.body),
  });
  // A watch stream is left at once; other bodies are read to the end.
  await res.body?.cancel();
  return res.status;
}

Deno.test("permission matrix: every route × no token, forged token, no role, read-only, read-write, root", async () => {
  await withNode(async (n) => {
    await enableAuth(n);
    const wrong: string[] = [];
    let checked = 0;
    for (const c of CASES) {
      for (const s of SUBJECTS) {
        // Each call gets auth on and fresh tokens (a case may rotate the
        // key or turn auth off).
        if (!n.service.state.auth.enabled) {
          assert.equal((await n.call("POST", "/v1/auth/enable")).status, 200);
        }
        const t = await tokens(n);
        const r = await c.prepare(s, new Admin(n, t.root));
        const token = s === "none"
          ? undefined
          : s === "forged"
          ? await forged(n)
          : t[s];
        const got = await status(n, r, token);
        const want = expected(c.need, s, c.ok);
        checked++;
        if (got !== want) {
          wrong.push(`${r.method} ${r.path} as ${s}: ${got}, expected ${want}`);
        }
      }
    }
    assert.deepEqual(wrong, []);
    assert.equal(checked, CASES.length * SUBJECTS.length);
  }, authNodeOptions(new FakeClock()));
});

Deno.test("permission matrix: a wrong password or an unknown user gets no token", async () => {
  await withNode(async (n) => {
    await enableAuth(n);
    for (
      const body of [
        { user: "ro", password: "wrong-password" },
        { user: "root", password: "" },
        { user: "nosuchuser", password: PASSWORD },
      ]
    ) {
      const a = await n.call("POST", "/v1/auth/token", body);
      assert.equal(a.status, 401, JSON.stringify(body));
    }
  }, authNodeOptions(new FakeClock()));
});
