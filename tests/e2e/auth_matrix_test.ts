/**
 * E2E: the permission matrix against a real 3-node cluster over HTTP. The
 * table is the in-process test's (`tests/api/auth_matrix_cases.ts`): every
 * route × {no token, a forged token, no role, read-only on `app/`,
 * read-write on `app/`, root}, each answer's status checked. The calls go
 * to the leader and to the followers in turn (a follower forwards
 * membership changes, leadership transfers, lease details and snapshots to
 * the leader, which checks the token again). A wrong password gets no
 * token.
 */

import assert from "node:assert/strict";
import {
  CASES,
  expected,
  type MatrixAdmin,
  type MatrixRequest,
  SUBJECTS,
} from "../api/auth_matrix_cases.ts";
import {
  enableAuth,
  forge,
  login,
  ok,
  PASSWORD,
  waitAuth,
} from "./auth_support.ts";
import { E2E, type E2ECluster, withCluster } from "./harness.ts";

/** Root's calls, all to one node. */
class Admin implements MatrixAdmin {
  constructor(readonly url: string, readonly token: string) {}
  call(method: string, path: string, body?: unknown) {
    return ok(this.url, method, path, body, this.token);
  }
}

async function statusOf(
  url: string,
  r: MatrixRequest,
  token: string | undefined,
): Promise<number> {
  const res = await fetch(`${url}${r.path}`, {
    method: r.method,
    headers: {
      "content-type": "application/json",
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: r.body === undefined ? undefined : JSON.stringify(r.body),
    signal: AbortSignal.timeout(15_000),
    // The answer itself (a redirect is what the route says), as in-process.
    redirect: "manual",
  });
  // A watch stream is left at once; other bodies are read to the end.
  await res.body?.cancel();
  return res.status;
}

type Tokens = Record<"root" | "ro" | "rw" | "nobody" | "forged", string>;

/** Every subject's token, made on `id` (which then knows the current key). */
async function tokensOn(c: E2ECluster, id: string): Promise<Tokens> {
  const [root, ro, rw, nobody] = await Promise.all(
    ["root", "ro", "rw", "nobody"].map((u) => login(c, id, u)),
  );
  return { root, ro, rw, nobody, forged: await forge(root) };
}

Deno.test({
  name:
    "e2e auth matrix: every route × no token, forged, no role, read-only, read-write, root, on leader and followers",
  ...E2E,
  fn: () =>
    withCluster({ nodes: 3 }, async (c) => {
      const first = await c.waitForLeader();
      await enableAuth(c, first);
      const wrong: string[] = [];
      const counts = { leader: 0, follower: 0 };
      // Tokens per node, made again after a key rotation.
      const tokens = new Map<string, Tokens>();
      let checked = 0;
      for (const [i, kase] of CASES.entries()) {
        // A case may move leadership: look again each time.
        const leader = await c.waitForLeader();
        const followers = c.running().filter((id) => id !== leader).sort();
        const target = i % 2 === 0 ? leader : followers[(i >> 1) % 2];
        counts[target === leader ? "leader" : "follower"]++;
        const url = c.url(target);
        for (const s of SUBJECTS) {
          // A case may turn auth off: on again, on every node, first.
          const st = await ok(url, "GET", "/v1/auth/status");
          if (!st.enabled) {
            await ok(url, "POST", "/v1/auth/enable");
            await waitAuth(c, true);
          }
          if (!tokens.has(target)) {
            tokens.set(target, await tokensOn(c, target));
          }
          const t = tokens.get(target)!;
          const r = await kase.prepare(s, new Admin(url, t.root));
          const got = await statusOf(url, r, s === "none" ? undefined : t[s]);
          const want = expected(kase.need, s, kase.ok);
          checked++;
          if (got !== want) {
            wrong.push(
              `${r.method} ${r.path} on ${target} as ${s}: ${got}, expected ${want}`,
            );
          }
          if (r.path === "/v1/auth/rotate-key" && got === 200) tokens.clear();
        }
      }
      assert.deepEqual(wrong, []);
      assert.equal(checked, CASES.length * SUBJECTS.length);
      assert.ok(counts.leader > 10 && counts.follower > 10, `${counts}`);

      // A wrong password, an unknown user, an empty password: no token
      // (the last case turned auth off; every node must have applied that
      // before an unauthenticated enable is allowed).
      await waitAuth(c, false);
      await ok(c.url(first), "POST", "/v1/auth/enable");
      await waitAuth(c, true);
      for (
        const body of [
          { user: "ro", password: "wrong-password" },
          { user: "root", password: "" },
          { user: "nosuchuser", password: PASSWORD },
        ]
      ) {
        const r = await fetch(`${c.url(first)}/v1/auth/token`, {
          method: "POST",
          body: JSON.stringify(body),
        });
        const text = await r.text();
        assert.equal(r.status, 401, `${JSON.stringify(body)}: ${text}`);
        assert.doesNotMatch(text, /token"/);
      }
    }),
});
