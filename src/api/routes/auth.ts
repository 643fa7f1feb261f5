/**
 * Auth: tokens (`POST /v1/auth/token`), the switch (`GET /v1/auth/status`,
 * `POST /v1/auth/enable|disable`), key rotation
 * (`POST /v1/auth/rotate-key`), and users and roles
 * (`/v1/auth/users[/{name}[/roles[/{role}]]]`, `/v1/auth/roles[/{name}]`).
 *
 * Everything but the token and the status is root's once auth is on (and
 * anyone's before, which is how the first root user is made). Passwords
 * are hashed here, on the node that got the request, and only the hash is
 * proposed.
 *
 * @module
 */

import { Hono } from "hono";
import type { Context } from "hono";
import { Authenticator } from "../../auth/mod.ts";
import { guardOf, writeOptions } from "../auth.ts";
import { ApiError } from "../errors.ts";
import type { AppOptions } from "../options.ts";
import { checked, readBody } from "../request.ts";
import {
  authNameSchema,
  grantBody,
  roleBody,
  tokenBody,
  userBody,
} from "../schemas.ts";

/** The auth routes, relative to `/v1`. */
export function authRoutes(options: AppOptions): Hono {
  const svc = options.service;
  const authn = options.authenticator!;
  const app = new Hono();

  const nameParam = (c: Context, what: string) =>
    checked(authNameSchema, c.req.param(what), what);
  // Administration: root, checked at the read point (reads) or before
  // proposing and again at apply (writes).
  const root = (c: Context) => {
    const guard = guardOf(c);
    guard.root();
    return { authorize: () => guard.root() };
  };

  app.get("/auth/status", (c) => c.json({ enabled: authn.enabled }));

  app.post("/auth/token", async (c) => {
    const b = await readBody(c, tokenBody);
    // Read at a linearizable point, so a user just made on another node
    // can log in here.
    await svc.barrier();
    if (!authn.enabled) {
      throw new ApiError(
        "conflict",
        "Auth is off: requests need no token (turn it on with POST /v1/auth/enable)",
      );
    }
    return c.json(await authn.issue(b.user, b.password));
  });

  app.post("/auth/enable", async (c) => {
    guardOf(c).root();
    const opts = writeOptions(c);
    // Every node must verify the same tokens: the key is replicated. The
    // request's id goes with the switch only: with it, the key would be
    // remembered as that request's answer and the switch deduplicated.
    if (!svc.state.auth.current) {
      await svc.setSigningKey(Authenticator.newSigningKey(), {
        ...opts,
        requestId: undefined,
      });
    }
    const r = await svc.setAuthEnabled(true, opts);
    return c.json({ enabled: true, authRevision: r.authRevision });
  });

  app.post("/auth/disable", async (c) => {
    guardOf(c).root();
    const r = await svc.setAuthEnabled(false, writeOptions(c));
    return c.json({ enabled: false, authRevision: r.authRevision });
  });

  app.post("/auth/rotate-key", async (c) => {
    guardOf(c).root();
    const key = Authenticator.newSigningKey();
    const r = await svc.setSigningKey(key, writeOptions(c));
    return c.json({ kid: key.kid, authRevision: r.authRevision });
  });

  // ------------------------------------------------------------------ users

  app.get("/auth/users", async (c) => {
    return c.json({ users: await svc.users(root(c)) });
  });

  app.get("/auth/users/:name", async (c) => {
    const name = nameParam(c, "name");
    const u = await svc.user(name, root(c));
    if (!u) throw new ApiError("not_found", `User ${name} does not exist`);
    return c.json(u);
  });

  app.put("/auth/users/:name", async (c) => {
    const b = await readBody(c, userBody);
    const name = nameParam(c, "name");
    guardOf(c).root();
    if (b.password === undefined && !svc.state.auth.user(name)) {
      throw new ApiError(
        "bad_request",
        `User ${name} does not exist; give a password to create it`,
      );
    }
    // Only the hash is proposed: the password never enters the log.
    const hash = b.password === undefined
      ? undefined
      : await authn.hashPassword(b.password);
    const r = await svc.putUser(
      name,
      { hash, roles: b.roles },
      writeOptions(c),
    );
    const u = svc.state.auth.user(name);
    return c.json({
      name,
      roles: u?.roles ?? b.roles ?? [],
      authRevision: r.authRevision,
    });
  });

  app.delete("/auth/users/:name", async (c) => {
    const name = nameParam(c, "name");
    guardOf(c).root();
    const r = await svc.deleteUser(name, writeOptions(c));
    return c.json({ name, deleted: true, authRevision: r.authRevision });
  });

  app.post("/auth/users/:name/roles", async (c) => {
    const b = await readBody(c, grantBody);
    const name = nameParam(c, "name");
    guardOf(c).root();
    const r = await svc.userRole(name, b.role, true, writeOptions(c));
    return c.json({
      name,
      roles: svc.state.auth.user(name)?.roles ?? [],
      authRevision: r.authRevision,
    });
  });

  app.delete("/auth/users/:name/roles/:role", async (c) => {
    const name = nameParam(c, "name");
    const role = nameParam(c, "role");
    guardOf(c).root();
    const r = await svc.userRole(name, role, false, writeOptions(c));
    return c.json({
      name,
      roles: svc.state.auth.user(name)?.roles ?? [],
      authRevision: r.authRevision,
    });
  });

  // ------------------------------------------------------------------ roles

  app.get("/auth/roles", async (c) => {
    return c.json({ roles: await svc.roles(root(c)) });
  });

  app.get("/auth/roles/:name", async (c) => {
    const name = nameParam(c, "name");
    const r = await svc.role(name, root(c));
    if (!r) throw new ApiError("not_found", `Role ${name} does not exist`);
    return c.json(r);
  });

  app.put("/auth/roles/:name", async (c) => {
    const b = await readBody(c, roleBody);
    const name = nameParam(c, "name");
    guardOf(c).root();
    const r = await svc.putRole(name, b.permissions, writeOptions(c));
    return c.json({
      name,
      permissions: b.permissions,
      authRevision: r.authRevision,
    });
  });

  app.delete("/auth/roles/:name", async (c) => {
    const name = nameParam(c, "name");
    guardOf(c).root();
    const r = await svc.deleteRole(name, writeOptions(c));
    return c.json({ name, deleted: true, authRevision: r.authRevision });
  });

  return app;
}
