/**
 * E2E: raftctl turns auth on in a real 3-node cluster and works with it:
 * `role add`, `role grant`, `user add`, `auth enable`, then `kv put` and
 * `kv get` with `--user --password-file`, with `RAFTLOCK_TOKEN` (from
 * `auth token`) and with `RAFTLOCK_USER`/`RAFTLOCK_PASSWORD_FILE`; what a
 * user may not do is refused with a clear message; users and roles are
 * listed, changed and revoked; `members add/promote/remove --force`.
 */

import assert from "node:assert/strict";
import { ctlOk, raftctl } from "./auth_support.ts";
import { E2E, withCluster } from "./harness.ts";

Deno.test({
  name:
    "e2e raftctl auth: user add / role add / role grant / auth enable, then kv with --user, RAFTLOCK_TOKEN and RAFTLOCK_USER",
  ...E2E,
  fn: () =>
    withCluster({ nodes: 3 }, async (c) => {
      await c.waitForLeader();
      const ep = ["--endpoints", c.running().map((id) => c.url(id)).join(",")];
      const rootPw = `${c.dir}/root.password`;
      const appPw = `${c.dir}/app.password`;
      await Deno.writeTextFile(rootPw, "root-password-1\n");
      await Deno.writeTextFile(appPw, "app-password-1\n");
      const asRoot = [...ep, "--user", "root", "--password-file", rootPw];
      const asApp = [...ep, "--user", "app", "--password-file", appPw];

      // Set up while auth is off (no credentials needed yet).
      assert.match(ctlOk(await raftctl([...ep, "auth", "status"])), /off/);
      assert.match(
        ctlOk(await raftctl([...ep, "role", "add", "app-rw"])),
        /role app-rw added/,
      );
      ctlOk(
        await raftctl([
          ...ep,
          "role",
          "grant",
          "app-rw",
          "--prefix",
          "app/",
          "--read",
          "--write",
        ]),
      );
      ctlOk(
        await raftctl([
          ...ep,
          "user",
          "add",
          "root",
          "--new-password-file",
          rootPw,
          "--roles",
          "root",
        ]),
      );
      assert.match(
        ctlOk(
          await raftctl([
            ...ep,
            "user",
            "add",
            "app",
            "--new-password-file",
            appPw,
            "--roles",
            "app-rw",
          ]),
        ),
        /user app added with roles app-rw/,
      );
      // Root's credentials already: auth is off, so none are sent.
      assert.match(
        ctlOk(await raftctl([...asRoot, "auth", "enable"])),
        /auth is on/,
      );
      assert.match(ctlOk(await raftctl([...ep, "auth", "status"])), /on/);

      // No credentials: refused, and told what to give.
      const anon = await raftctl([...ep, "kv", "put", "app/mode", "on"]);
      assert.equal(anon.code, 1);
      assert.match(anon.stderr, /--user with --password-file/);

      // --user and --password-file.
      ctlOk(await raftctl([...asApp, "kv", "put", "app/mode", "on"]));
      assert.equal(
        ctlOk(await raftctl([...asApp, "kv", "get", "app/mode"])).trim(),
        "on",
      );
      // RAFTLOCK_TOKEN, from `auth token`.
      const token = ctlOk(await raftctl([...asApp, "auth", "token"])).trim();
      assert.match(token, /^[\w-]+\.[\w-]+\.[\w-]+$/);
      ctlOk(
        await raftctl([...ep, "kv", "put", "app/by-token", "1"], {
          RAFTLOCK_TOKEN: token,
        }),
      );
      assert.equal(
        ctlOk(
          await raftctl([...ep, "kv", "get", "app/by-token"], {
            RAFTLOCK_TOKEN: token,
          }),
        ).trim(),
        "1",
      );
      // RAFTLOCK_USER and RAFTLOCK_PASSWORD_FILE.
      ctlOk(
        await raftctl([...ep, "kv", "put", "app/by-env", "2"], {
          RAFTLOCK_USER: "app",
          RAFTLOCK_PASSWORD_FILE: appPw,
        }),
      );
      // Flags win over the environment.
      const wrongEnv = await raftctl([...asApp, "kv", "get", "app/by-env"], {
        RAFTLOCK_TOKEN: "not.a.token",
      });
      assert.equal(ctlOk(wrongEnv).trim(), "2");

      // Outside the role's prefix, and root's commands: permission denied.
      for (
        const args of [
          ["kv", "put", "other/x", "1"],
          ["user", "list"],
          ["members", "remove", "n3"],
        ]
      ) {
        const r = await raftctl([...asApp, ...args]);
        assert.equal(r.code, 1, args.join(" "));
        assert.match(r.stderr, /permission denied/, args.join(" "));
      }
      // A user with no password at hand and no terminal: a usage error.
      const noPw = await raftctl([...ep, "--user", "app", "kv", "get", "x"]);
      assert.equal(noPw.code, 2);
      assert.match(noPw.stderr, /--password-file/);
      // A wrong password.
      const badPw = `${c.dir}/bad.password`;
      await Deno.writeTextFile(badPw, "nope-nope-nope\n");
      const bad = await raftctl([
        ...ep,
        "--user",
        "app",
        "--password-file",
        badPw,
        "kv",
        "get",
        "app/mode",
      ]);
      assert.equal(bad.code, 1);
      assert.match(bad.stderr, /Cannot log in as app/);

      // Users and roles, as root.
      const users = JSON.parse(
        ctlOk(await raftctl([...asRoot, "user", "list", "--json"])),
      );
      assert.deepEqual(users.users, [
        { name: "app", roles: ["app-rw"] },
        { name: "root", roles: ["root"] },
      ]);
      assert.match(
        ctlOk(await raftctl([...asRoot, "role", "get", "app-rw"])),
        /"app\/"\s+yes\s+yes/,
      );
      ctlOk(await raftctl([...asRoot, "role", "add", "logs-ro"]));
      ctlOk(
        await raftctl([
          ...asRoot,
          "role",
          "grant",
          "logs-ro",
          "--prefix",
          "logs/",
          "--read",
        ]),
      );
      assert.match(
        ctlOk(await raftctl([...asRoot, "user", "grant", "app", "logs-ro"])),
        /app-rw, logs-ro/,
      );
      assert.match(
        ctlOk(await raftctl([...asRoot, "role", "list"])),
        /logs-ro\s+"logs\/":read/,
      );
      // Write taken from app-rw: the app may read app/ but not write it.
      ctlOk(
        await raftctl([
          ...asRoot,
          "role",
          "revoke",
          "app-rw",
          "--prefix",
          "app/",
          "--write",
        ]),
      );
      const ro = await raftctl([...asApp, "kv", "put", "app/mode", "off"]);
      assert.equal(ro.code, 1);
      assert.match(ro.stderr, /permission denied/);
      ctlOk(await raftctl([...asApp, "kv", "get", "app/mode"]));
      ctlOk(await raftctl([...asRoot, "user", "revoke", "app", "logs-ro"]));
      ctlOk(await raftctl([...asRoot, "role", "delete", "logs-ro"]));
      // A new password: the old one (and its tokens) stop working.
      const appPw2 = `${c.dir}/app2.password`;
      await Deno.writeTextFile(appPw2, "app-password-2\n");
      ctlOk(
        await raftctl([
          ...asRoot,
          "user",
          "passwd",
          "app",
          "--new-password-file",
          appPw2,
        ]),
      );
      assert.equal(
        (await raftctl([...asApp, "kv", "get", "app/mode"])).code,
        1,
      );
      assert.equal(
        (await raftctl([...ep, "kv", "get", "app/mode"], {
          RAFTLOCK_TOKEN: token,
        })).code,
        1,
      );
      ctlOk(
        await raftctl([
          ...ep,
          "--user",
          "app",
          "--password-file",
          appPw2,
          "kv",
          "get",
          "app/mode",
        ]),
      );
      assert.match(
        ctlOk(await raftctl([...asRoot, "auth", "rotate-key"])),
        /new signing key/,
      );

      // Membership with --force (root).
      const unsafe = await raftctl([
        ...asRoot,
        "members",
        "add",
        "n9",
        "127.0.0.1:7999",
        "--voter",
      ]);
      assert.equal(unsafe.code, 1, unsafe.stdout);
      ctlOk(
        await raftctl([
          ...asRoot,
          "members",
          "add",
          "n9",
          "127.0.0.1:7999",
          "--voter",
          "--force",
        ]),
      );
      ctlOk(await raftctl([...asRoot, "members", "remove", "n9", "--force"]));
      ctlOk(
        await raftctl([...asRoot, "members", "add", "n8", "127.0.0.1:7998"]),
      );
      assert.equal(
        (await raftctl([...asRoot, "members", "promote", "n8"])).code,
        1,
      );
      ctlOk(await raftctl([...asRoot, "members", "promote", "n8", "--force"]));
      ctlOk(await raftctl([...asRoot, "members", "remove", "n8", "--force"]));

      // Off again: anyone may write.
      ctlOk(await raftctl([...asRoot, "auth", "disable"]));
      ctlOk(await raftctl([...ep, "kv", "put", "other/x", "1"]));
    }),
});
