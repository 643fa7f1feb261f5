/**
 * Role commands: `role add`, `get`, `list`, `delete`, `grant` (read
 * and/or write on a prefix) and `revoke`.
 *
 * @module
 */

import type { AuthPermission, Client } from "../../src/client/mod.ts";
import type { CommandGroup } from "./command.ts";
import { CliError, UsageError } from "./errors.ts";
import { print, printJson, table } from "./output.ts";

/** The role commands. */
export const roleCommands: CommandGroup = {
  name: "role",
  commands: [
    {
      name: "role add",
      usage: "<name>",
      summary: "create a role with no permissions",
      details: "Then give it permissions with role grant.",
      args: [1, 1],
      async run({ client, json, args }) {
        const name = args[0];
        if (await client.auth.role(name)) {
          throw new CliError(`role ${name} exists`);
        }
        const r = await client.auth.putRole(name, []);
        if (json) return printJson(r);
        print(`role ${r.name} added`);
      },
    },
    {
      name: "role get",
      usage: "<name>",
      summary: "a role's permissions",
      args: [1, 1],
      async run({ client, json, args }) {
        const r = await existing(client, args[0]);
        if (json) return printJson(r);
        print(`role ${r.name}`);
        if (r.permissions.length === 0) return print("(no permissions)");
        print(permissionTable(r.permissions));
      },
    },
    {
      name: "role list",
      aliases: ["roles"],
      usage: "",
      summary: "every role (root is built in and not listed)",
      args: [0, 0],
      async run({ client, json }) {
        const roles = await client.auth.roles();
        if (json) return printJson({ roles });
        print(table(
          ["NAME", "PERMISSIONS"],
          roles.map((r) => [
            r.name,
            r.permissions.map(describe).join(" ") || "-",
          ]),
        ));
      },
    },
    {
      name: "role delete",
      usage: "<name>",
      summary: "delete a role (every user loses it)",
      args: [1, 1],
      async run({ client, json, args }) {
        const r = await client.auth.deleteRole(args[0]);
        if (json) return printJson(r);
        print(`role ${r.name} deleted`);
      },
    },
    {
      name: "role grant",
      usage: "<name> --prefix <p> [--read] [--write]",
      summary: "allow a role to read and/or write names under a prefix",
      details:
        "Covers keys, locks, leases and elections whose names start with the prefix\n" +
        '("" for everything). Adds to what the role already allows on that prefix.',
      options: {
        prefix: { type: "string" },
        read: { type: "boolean" },
        write: { type: "boolean" },
      },
      args: [1, 1],
      async run({ client, json, args, flags }) {
        const prefix = prefixOf(flags, "role grant");
        const read = flags.read === true;
        const write = flags.write === true;
        if (!read && !write) {
          throw new UsageError("give --read, --write or both", "role grant");
        }
        const role = await existing(client, args[0]);
        const perms = role.permissions.map((p) => ({ ...p }));
        const same = perms.find((p) => p.prefix === prefix);
        if (same) {
          same.read ||= read;
          same.write ||= write;
        } else perms.push({ prefix, read, write });
        const r = await client.auth.putRole(role.name, perms);
        if (json) return printJson(r);
        print(`role ${r.name}: ${r.permissions.map(describe).join(" ")}`);
      },
    },
    {
      name: "role revoke",
      usage: "<name> --prefix <p> [--read] [--write]",
      summary:
        "take a prefix's permission (or only --read / --write) from a role",
      options: {
        prefix: { type: "string" },
        read: { type: "boolean" },
        write: { type: "boolean" },
      },
      args: [1, 1],
      async run({ client, json, args, flags }) {
        const prefix = prefixOf(flags, "role revoke");
        const role = await existing(client, args[0]);
        const same = role.permissions.find((p) => p.prefix === prefix);
        if (!same) {
          throw new CliError(
            `role ${role.name} has no permission on prefix ${
              JSON.stringify(prefix)
            }`,
          );
        }
        // Neither flag: the whole permission goes.
        const all = flags.read !== true && flags.write !== true;
        const perms = role.permissions
          .map((p) =>
            p.prefix !== prefix ? p : {
              prefix,
              read: all || flags.read === true ? false : p.read,
              write: all || flags.write === true ? false : p.write,
            }
          )
          .filter((p) => p.read || p.write);
        const r = await client.auth.putRole(role.name, perms);
        if (json) return printJson(r);
        print(
          `role ${r.name}: ${
            r.permissions.map(describe).join(" ") || "(no permissions)"
          }`,
        );
      },
    },
  ],
};

async function existing(client: Client, name: string) {
  const r = await client.auth.role(name);
  if (!r) {
    throw new CliError(
      name === "root"
        ? "root is built in: it allows everything and cannot be changed"
        : `role ${name} does not exist (make it with \`raftctl role add ${name}\`)`,
    );
  }
  return r;
}

function prefixOf(
  flags: Record<string, string | boolean | undefined>,
  command: string,
): string {
  const p = flags.prefix;
  if (typeof p !== "string") {
    throw new UsageError('--prefix is required ("" for every name)', command);
  }
  return p;
}

function describe(p: AuthPermission): string {
  const access = [p.read ? "read" : "", p.write ? "write" : ""].filter(Boolean)
    .join("+");
  return `${JSON.stringify(p.prefix)}:${access}`;
}

function permissionTable(perms: AuthPermission[]): string {
  return table(
    ["PREFIX", "READ", "WRITE"],
    perms.map((p) => [
      JSON.stringify(p.prefix),
      p.read ? "yes" : "no",
      p.write ? "yes" : "no",
    ]),
  );
}
