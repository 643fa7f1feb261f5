/**
 * User commands: `user add`, `get`, `list`, `delete`, `grant`, `revoke`
 * and `passwd`. New passwords come from `--new-password-file` or are
 * typed twice at the terminal; they never appear on the command line.
 *
 * @module
 */

import type { CommandGroup } from "./command.ts";
import { newPassword } from "./credentials.ts";
import { CliError, UsageError } from "./errors.ts";
import { print, printJson, table } from "./output.ts";

/** The user commands. */
export const userCommands: CommandGroup = {
  name: "user",
  commands: [
    {
      name: "user add",
      usage: "<name> [--new-password-file file] [--roles a,b]",
      summary: "create a user",
      details:
        "The password is read from --new-password-file (its first line), or typed\n" +
        "twice when stdin is a terminal. --roles gives it roles (root for root).\n" +
        "Fails if the user exists (change it with user passwd / grant / revoke).",
      options: {
        "new-password-file": { type: "string" },
        roles: { type: "string" },
      },
      args: [1, 1],
      async run({ client, json, args, flags }) {
        const name = args[0];
        const roles = parseRoles(flags.roles);
        if (await client.auth.user(name)) {
          throw new CliError(
            `user ${name} exists: change its password with \`raftctl user passwd ${name}\`, its roles with user grant / revoke`,
          );
        }
        const password = await newPassword(
          name,
          flags["new-password-file"] as string | undefined,
        );
        const r = await client.auth.putUser(name, { password, roles });
        if (json) return printJson(r);
        print(
          `user ${r.name} added${
            r.roles.length ? ` with roles ${r.roles.join(", ")}` : ""
          }`,
        );
      },
    },
    {
      name: "user get",
      usage: "<name>",
      summary: "a user's roles",
      args: [1, 1],
      async run({ client, json, args }) {
        const u = await client.auth.user(args[0]);
        if (!u) throw new CliError(`user ${args[0]} does not exist`);
        if (json) return printJson(u);
        print(table(["NAME", "ROLES"], [[u.name, u.roles.join(",") || "-"]]));
      },
    },
    {
      name: "user list",
      aliases: ["users"],
      usage: "",
      summary: "every user and its roles",
      args: [0, 0],
      async run({ client, json }) {
        const users = await client.auth.users();
        if (json) return printJson({ users });
        print(table(
          ["NAME", "ROLES"],
          users.map((u) => [u.name, u.roles.join(",") || "-"]),
        ));
      },
    },
    {
      name: "user delete",
      usage: "<name>",
      summary: "delete a user (its tokens stop working)",
      args: [1, 1],
      async run({ client, json, args }) {
        const r = await client.auth.deleteUser(args[0]);
        if (json) return printJson(r);
        print(`user ${r.name} deleted`);
      },
    },
    {
      name: "user grant",
      usage: "<name> <role>",
      summary: "give a user a role",
      args: [2, 2],
      async run({ client, json, args }) {
        const r = await client.auth.grantRole(args[0], args[1]);
        if (json) return printJson(r);
        print(`user ${r.name} has roles ${r.roles.join(", ") || "(none)"}`);
      },
    },
    {
      name: "user revoke",
      usage: "<name> <role>",
      summary: "take a role from a user",
      args: [2, 2],
      async run({ client, json, args }) {
        const r = await client.auth.revokeRole(args[0], args[1]);
        if (json) return printJson(r);
        print(`user ${r.name} has roles ${r.roles.join(", ") || "(none)"}`);
      },
    },
    {
      name: "user passwd",
      usage: "<name> [--new-password-file file]",
      summary: "change a user's password (its tokens stop working)",
      options: { "new-password-file": { type: "string" } },
      args: [1, 1],
      async run({ client, json, args, flags }) {
        const name = args[0];
        if (!await client.auth.user(name)) {
          throw new CliError(`user ${name} does not exist`);
        }
        const password = await newPassword(
          name,
          flags["new-password-file"] as string | undefined,
        );
        const r = await client.auth.putUser(name, { password });
        if (json) return printJson(r);
        print(`password of ${r.name} changed`);
      },
    },
  ],
};

function parseRoles(v: string | boolean | undefined): string[] | undefined {
  if (v === undefined) return undefined;
  const roles = String(v).split(",").map((r) => r.trim()).filter((r) =>
    r !== ""
  );
  for (const r of roles) {
    if (!/^[A-Za-z0-9_.@-]{1,64}$/.test(r)) {
      throw new UsageError(
        `--roles takes role names (letters, digits, '_', '.', '@', '-') separated by commas, not '${r}'`,
        "user add",
      );
    }
  }
  return roles;
}
