/**
 * The permission matrix's table, shared by the in-process test
 * (`auth_matrix_test.ts`, one node called through `app.request`) and the
 * real-process one (`tests/e2e/auth_matrix_test.ts`, a 3-node cluster
 * over HTTP): every route of the API, who may call it, the status it
 * answers when allowed, and what root does first to set the call up.
 *
 * The subjects:
 *
 * - `none`: no token;
 * - `forged`: a token claiming root, signed with a key the cluster never made;
 * - `nobody`: a user with no role;
 * - `ro`: a user who may read `app/`;
 * - `rw`: a user who may read and write `app/`;
 * - `root`.
 *
 * With auth on, `none` and `forged` get 401 (except on the open routes),
 * the others 403 where their roles do not allow the call.
 */

import { PASSWORD } from "./auth_helpers.ts";

/** Who calls, in the order each case is tried. */
export const SUBJECTS = [
  "none",
  "forged",
  "nobody",
  "ro",
  "rw",
  "root",
] as const;
/** One caller of the matrix. */
export type Subject = typeof SUBJECTS[number];

/**
 * Who may call a route: anyone (`open`), any user (`user`), readers of
 * `app/` (`read`), writers of `app/` (`write`), root alone (`root`).
 */
export type Need = "open" | "user" | "read" | "write" | "root";

/** Who may call a route of each need. */
export const ALLOWED: Record<Need, Subject[]> = {
  open: [...SUBJECTS],
  user: ["nobody", "ro", "rw", "root"],
  read: ["ro", "rw", "root"],
  write: ["rw", "root"],
  root: ["root"],
};

/** The status `subject` gets from a route of `need` that answers `ok`. */
export function expected(need: Need, subject: Subject, ok: number): number {
  if (ALLOWED[need].includes(subject)) return ok;
  return subject === "none" || subject === "forged" ? 401 : 403;
}

/** One call. */
export interface MatrixRequest {
  /** The method. */
  method: string;
  /** The path and query. */
  path: string;
  /** A JSON body. */
  body?: unknown;
}

/** Root's calls for setting a case up; each must succeed. */
export interface MatrixAdmin {
  /** Calls as root; answers the JSON body (asserting a 2xx). */
  call(
    method: string,
    path: string,
    body?: unknown,
  ): Promise<Record<string, unknown>>;
}

/** Does what a call needs first (as root) and returns the call. */
export type Prepare = (
  s: Subject,
  root: MatrixAdmin,
) => Promise<MatrixRequest> | MatrixRequest;

/** One route of the matrix. */
export interface MatrixCase {
  /** Who may call it. */
  need: Need;
  /** The status when allowed. */
  ok: number;
  /** Sets it up and names the call. */
  prepare: Prepare;
}

const req = (
  method: string,
  path: string,
  body?: unknown,
): MatrixRequest => ({
  method,
  path,
  body,
});
const same = (r: MatrixRequest): Prepare => () => r;

/** Every route, with what it needs. */
export const CASES: MatrixCase[] = [
  // Open.
  { need: "open", ok: 200, prepare: same(req("GET", "/healthz")) },
  { need: "open", ok: 200, prepare: same(req("GET", "/readyz")) },
  { need: "open", ok: 200, prepare: same(req("GET", "/metrics")) },
  { need: "open", ok: 200, prepare: same(req("GET", "/v1/auth/status")) },
  { need: "open", ok: 200, prepare: same(req("GET", "/openapi.json")) },
  { need: "open", ok: 200, prepare: same(req("GET", "/docs")) },
  { need: "open", ok: 200, prepare: same(req("GET", "/ui")) },
  { need: "open", ok: 301, prepare: same(req("GET", "/ui/")) },
  { need: "open", ok: 200, prepare: same(req("GET", "/ui/console.js")) },
  {
    need: "open",
    ok: 200,
    prepare: same(
      req("POST", "/v1/auth/token", { user: "ro", password: PASSWORD }),
    ),
  },
  // Any user.
  { need: "user", ok: 200, prepare: same(req("GET", "/v1/status")) },
  { need: "user", ok: 200, prepare: same(req("GET", "/v1/cluster")) },
  { need: "user", ok: 200, prepare: same(req("GET", "/v1/cluster/status")) },
  { need: "user", ok: 200, prepare: same(req("GET", "/v1/stats")) },
  {
    need: "user",
    ok: 201,
    prepare: same(req("POST", "/v1/leases", { ttl: 30 })),
  },
  {
    need: "user",
    ok: 200,
    prepare: async (_s, root) => {
      const l = await root.call("POST", "/v1/leases", { ttl: 30 });
      return req("POST", `/v1/leases/${l.id}/keepalive`);
    },
  },
  {
    need: "user",
    ok: 200,
    prepare: async (_s, root) => {
      const l = await root.call("POST", "/v1/leases", { ttl: 30 });
      return req("GET", `/v1/leases/${l.id}`);
    },
  },
  { need: "user", ok: 200, prepare: same(req("GET", "/v1/leases")) },
  { need: "user", ok: 200, prepare: same(req("GET", "/v1/locks")) },
  { need: "user", ok: 200, prepare: same(req("GET", "/v1/elections")) },
  { need: "user", ok: 200, prepare: same(req("GET", "/v1/semaphores")) },
  { need: "user", ok: 200, prepare: same(req("GET", "/v1/rwlocks")) },
  {
    // A lease that holds nothing: any user may revoke it.
    need: "user",
    ok: 200,
    prepare: async (_s, root) => {
      const l = await root.call("POST", "/v1/leases", { ttl: 30 });
      return req("DELETE", `/v1/leases/${l.id}`);
    },
  },
  // Read app/.
  ...[
    "/v1/kv/app/r",
    "/v1/kv/app/r?consistency=serializable",
    "/v1/kv?prefix=app/",
    "/v1/kv?prefix=app/r&limit=1",
    "/v1/locks/app%2FL",
    "/v1/locks/app%2FL?token=1",
    "/v1/watch?prefix=app/",
    "/v1/watch?key=app/r",
  ].map((path): MatrixCase => ({
    need: "read",
    ok: 200,
    prepare: async (_s, root) => {
      await root.call("PUT", "/v1/kv/app/r", { value: "1" });
      return req("GET", path);
    },
  })),
  ...[
    "/v1/elections/app%2FE",
    "/v1/elections/app%2FE?token=1",
    "/v1/elections/app%2FE/observe",
    "/v1/semaphores/app%2FS",
    "/v1/semaphores/app%2FS?token=1",
    "/v1/rwlocks/app%2FR",
    "/v1/rwlocks/app%2FR?token=1",
  ].map((path): MatrixCase => ({
    need: "read",
    ok: 200,
    prepare: async (_s, root) => {
      // Elections that have a leader (a leaderless one answers 404).
      const led = await root.call("GET", "/v1/elections");
      const names = (led.elections as { name: string }[]).map((e) => e.name);
      if (!names.includes("app/E")) {
        await root.call("POST", "/v1/elections/app%2FE/campaign", {
          value: "v",
          ttl: 60,
        });
      }
      return req("GET", path);
    },
  })),
  {
    need: "read",
    ok: 200,
    prepare: same(req("POST", "/v1/txn", {
      compare: [{ key: "app/r", target: "version", op: ">", value: 0 }],
      success: [{ get: { key: "app/", prefix: true } }],
    })),
  },
  // Write app/.
  {
    need: "write",
    ok: 200,
    prepare: (s) => req("PUT", `/v1/kv/app/w-${s}`, { value: "1" }),
  },
  {
    need: "write",
    ok: 200,
    prepare: async (s, root) => {
      await root.call("PUT", `/v1/kv/app/d-${s}`, { value: "1" });
      return req("DELETE", `/v1/kv/app/d-${s}`);
    },
  },
  {
    need: "write",
    ok: 200,
    prepare: (s) => req("DELETE", `/v1/kv/app/p-${s}/?prefix=true`),
  },
  {
    need: "write",
    ok: 200,
    prepare: (s) =>
      req("POST", "/v1/txn", {
        compare: [{ key: "app/r", target: "version", op: ">", value: 0 }],
        success: [{ put: { key: `app/t-${s}`, value: "1" } }],
        failure: [{ delete: { key: `app/t-${s}` } }],
      }),
  },
  {
    need: "write",
    ok: 200,
    prepare: (s) => req("POST", `/v1/locks/app%2FL-${s}/acquire`, { ttl: 10 }),
  },
  {
    need: "write",
    ok: 200,
    prepare: async (s, root) => {
      const g = await root.call("POST", `/v1/locks/app%2FR-${s}/acquire`, {
        ttl: 10,
      });
      return req("POST", `/v1/locks/app%2FR-${s}/release`, { token: g.token });
    },
  },
  // Elections, semaphores and read-write locks: as locks.
  {
    need: "write",
    ok: 200,
    prepare: (s) =>
      req("POST", `/v1/elections/app%2FE-${s}/campaign`, {
        value: "v",
        ttl: 10,
      }),
  },
  ...(["proclaim", "resign"] as const).map((op): MatrixCase => ({
    need: "write",
    ok: 200,
    prepare: async (s, root) => {
      const g = await root.call(
        "POST",
        `/v1/elections/app%2F${op}-${s}/campaign`,
        { value: "v", ttl: 10 },
      );
      return req(
        "POST",
        `/v1/elections/app%2F${op}-${s}/${op}`,
        op === "resign" ? { token: g.token } : { token: g.token, value: "w" },
      );
    },
  })),
  {
    need: "write",
    ok: 200,
    prepare: (s) =>
      req("POST", `/v1/semaphores/app%2FS-${s}/acquire`, {
        limit: 2,
        ttl: 10,
      }),
  },
  {
    need: "write",
    ok: 200,
    prepare: async (s, root) => {
      const g = await root.call(
        "POST",
        `/v1/semaphores/app%2FSR-${s}/acquire`,
        {
          limit: 2,
          ttl: 10,
        },
      );
      return req("POST", `/v1/semaphores/app%2FSR-${s}/release`, {
        token: g.token,
      });
    },
  },
  {
    need: "write",
    ok: 200,
    prepare: (s) =>
      req("POST", `/v1/rwlocks/app%2FW-${s}/acquire`, {
        mode: "write",
        ttl: 10,
      }),
  },
  {
    need: "write",
    ok: 200,
    prepare: async (s, root) => {
      const g = await root.call("POST", `/v1/rwlocks/app%2FWR-${s}/acquire`, {
        mode: "read",
        ttl: 10,
      });
      return req("POST", `/v1/rwlocks/app%2FWR-${s}/release`, {
        token: g.token,
      });
    },
  },
  {
    need: "write",
    ok: 200,
    prepare: (s) => req("PUT", `/v1/kv/app/ttl-${s}`, { value: "1", ttl: 10 }),
  },
  {
    // A lease that holds permits of app/S: revoking it writes app/.
    need: "write",
    ok: 200,
    prepare: async (s, root) => {
      const l = await root.call("POST", "/v1/leases", { ttl: 30 });
      await root.call("POST", `/v1/semaphores/app%2FSL-${s}/acquire`, {
        limit: 1,
        lease: l.id,
      });
      return req("DELETE", `/v1/leases/${l.id}`);
    },
  },
  {
    need: "root",
    ok: 200,
    prepare: (s) =>
      req("POST", `/v1/elections/other%2FE-${s}/campaign`, {
        value: "v",
        ttl: 10,
      }),
  },
  {
    need: "root",
    ok: 200,
    prepare: (s) =>
      req("POST", `/v1/semaphores/other%2FS-${s}/acquire`, {
        limit: 9,
        ttl: 10,
      }),
  },
  {
    // A lease with a key under app/: revoking it writes app/.
    need: "write",
    ok: 200,
    prepare: async (s, root) => {
      const l = await root.call("POST", "/v1/leases", { ttl: 30 });
      await root.call("PUT", `/v1/kv/app/l-${s}`, { value: "1", lease: l.id });
      return req("DELETE", `/v1/leases/${l.id}`);
    },
  },
  // Outside app/: root only.
  {
    need: "root",
    ok: 200,
    prepare: async (_s, root) => {
      await root.call("PUT", "/v1/kv/other/x", { value: "1" });
      return req("GET", "/v1/kv/other/x");
    },
  },
  { need: "root", ok: 200, prepare: same(req("GET", "/v1/kv")) },
  {
    need: "root",
    ok: 200,
    prepare: same(req("PUT", "/v1/kv/other/x", { value: "1" })),
  },
  {
    // Reads app/ (allowed to ro and rw) but writes outside it.
    need: "root",
    ok: 200,
    prepare: same(req("POST", "/v1/txn", {
      compare: [{ key: "app/r", target: "version", op: ">", value: 0 }],
      success: [{ put: { key: "other/t", value: "1" } }],
    })),
  },
  {
    need: "root",
    ok: 200,
    prepare: (s) =>
      req("POST", `/v1/locks/other%2FL-${s}/acquire`, { ttl: 10 }),
  },
  { need: "root", ok: 200, prepare: same(req("GET", "/v1/watch?prefix=")) },
  {
    need: "root",
    ok: 200,
    prepare: async (s, root) => {
      const l = await root.call("POST", "/v1/leases", { ttl: 30 });
      await root.call("PUT", `/v1/kv/other/l-${s}`, {
        value: "1",
        lease: l.id,
      });
      return req("DELETE", `/v1/leases/${l.id}`);
    },
  },
  // Cluster administration.
  {
    need: "root",
    ok: 201,
    prepare: async (_s, root) => {
      const c = await root.call("GET", "/v1/cluster");
      if ((c.members as { id: string }[]).some((m) => m.id === "n9")) {
        await root.call("DELETE", "/v1/cluster/members/n9");
      }
      return req("POST", "/v1/cluster/members", {
        id: "n9",
        peerAddress: "127.0.0.1:7999",
        learner: true,
      });
    },
  },
  {
    need: "root",
    ok: 200,
    prepare: async (_s, root) => {
      const c = await root.call("GET", "/v1/cluster");
      if (!(c.members as { id: string }[]).some((m) => m.id === "n9")) {
        await root.call("POST", "/v1/cluster/members", {
          id: "n9",
          peerAddress: "127.0.0.1:7999",
          learner: true,
        });
      }
      return req("DELETE", "/v1/cluster/members/n9");
    },
  },
  {
    // n1 is a voter already: root gets past auth to the conflict.
    need: "root",
    ok: 409,
    prepare: same(req("POST", "/v1/cluster/members/n1/promote")),
  },
  {
    need: "root",
    ok: 200,
    prepare: same(req("POST", "/v1/cluster/leader", { to: "n1" })),
  },
  { need: "root", ok: 200, prepare: same(req("GET", "/v1/snapshot")) },
  // Auth administration.
  { need: "root", ok: 200, prepare: same(req("GET", "/v1/auth/users")) },
  { need: "root", ok: 200, prepare: same(req("GET", "/v1/auth/users/ro")) },
  {
    need: "root",
    ok: 200,
    prepare: (s) =>
      req("PUT", `/v1/auth/users/new-${s}`, { password: PASSWORD, roles: [] }),
  },
  {
    need: "root",
    ok: 200,
    prepare: async (s, root) => {
      await root.call("PUT", `/v1/auth/users/del-${s}`, { password: PASSWORD });
      return req("DELETE", `/v1/auth/users/del-${s}`);
    },
  },
  {
    need: "root",
    ok: 200,
    prepare: async (s, root) => {
      await root.call("PUT", `/v1/auth/users/g-${s}`, { password: PASSWORD });
      return req("POST", `/v1/auth/users/g-${s}/roles`, { role: "ro" });
    },
  },
  {
    need: "root",
    ok: 200,
    prepare: async (s, root) => {
      await root.call("PUT", `/v1/auth/users/v-${s}`, {
        password: PASSWORD,
        roles: ["ro"],
      });
      return req("DELETE", `/v1/auth/users/v-${s}/roles/ro`);
    },
  },
  { need: "root", ok: 200, prepare: same(req("GET", "/v1/auth/roles")) },
  { need: "root", ok: 200, prepare: same(req("GET", "/v1/auth/roles/ro")) },
  {
    need: "root",
    ok: 200,
    prepare: (s) =>
      req("PUT", `/v1/auth/roles/new-${s}`, {
        permissions: [{ prefix: "x/", read: true }],
      }),
  },
  {
    need: "root",
    ok: 200,
    prepare: async (s, root) => {
      await root.call("PUT", `/v1/auth/roles/del-${s}`, { permissions: [] });
      return req("DELETE", `/v1/auth/roles/del-${s}`);
    },
  },
  { need: "root", ok: 200, prepare: same(req("POST", "/v1/auth/enable")) },
  { need: "root", ok: 200, prepare: same(req("POST", "/v1/auth/rotate-key")) },
  { need: "root", ok: 200, prepare: same(req("POST", "/v1/auth/disable")) },
];
