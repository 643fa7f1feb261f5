/**
 * Every command group raftctl knows, and what dispatch derives from them:
 * the flat command list, aliases, the words that name a group, and the
 * flags that take a value.
 *
 * A new group is a file exporting a {@linkcode CommandGroup}, added to
 * {@linkcode GROUPS}; help and dispatch pick it up from there.
 *
 * @module
 */

import type { ParseArgsOptionsConfig } from "node:util";
import { authCommands } from "./auth.ts";
import { clusterCommands } from "./cluster.ts";
import type { Command, CommandGroup } from "./command.ts";
import { electCommands } from "./elect.ts";
import { kvCommands } from "./kv.ts";
import { leaseCommands } from "./lease.ts";
import { lockCommands } from "./lock.ts";
import { roleCommands } from "./role.ts";
import { rwlockCommands } from "./rwlock.ts";
import { semCommands } from "./sem.ts";
import { snapshotCommands } from "./snapshot.ts";
import { userCommands } from "./user.ts";

/** Where raftctl connects without `--endpoints` or `$RAFTLOCK_ENDPOINTS`. */
export const DEFAULT_ENDPOINTS = "http://127.0.0.1:8001";

/** Flags every command takes. */
export const GLOBAL_OPTIONS: ParseArgsOptionsConfig = {
  endpoints: { type: "string" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
  timeout: { type: "string" },
  "ca-file": { type: "string" },
  user: { type: "string" },
  "password-file": { type: "string" },
  token: { type: "string" },
  "no-discover": { type: "boolean" },
};

/** The command groups, in the order general help lists them. */
export const GROUPS: readonly CommandGroup[] = [
  clusterCommands,
  kvCommands,
  leaseCommands,
  lockCommands,
  electCommands,
  semCommands,
  rwlockCommands,
  snapshotCommands,
  authCommands,
  userCommands,
  roleCommands,
];

/** Every command, in help order. */
export const COMMANDS: readonly Command[] = GROUPS.flatMap((g) => g.commands);

/** Other names of commands: alias to command name. */
export const ALIASES: Readonly<Record<string, string>> = Object.fromEntries(
  COMMANDS.flatMap((c) => (c.aliases ?? []).map((a) => [a, c.name])),
);

/**
 * First words that have subcommands ("kv", "members"): alone or with an
 * unknown second word they show the group's help.
 */
export const GROUP_WORDS: ReadonlySet<string> = new Set(
  COMMANDS.filter((c) => c.name.includes(" ")).map((c) => c.name.split(" ")[0]),
);

/**
 * Flags whose next token is their value, so that finding the command words
 * can skip it. A flag that is a switch in some command (`kv del --prefix`)
 * is left out: there the next token is a word.
 */
export const VALUE_FLAGS: ReadonlySet<string> = valueFlags([
  GLOBAL_OPTIONS,
  ...COMMANDS.map((c) => c.options ?? {}),
]);

/** The command named `name` (its words, not an alias), if any. */
export function findCommand(name: string | undefined): Command | undefined {
  return COMMANDS.find((c) => c.name === name);
}

function valueFlags(configs: ParseArgsOptionsConfig[]): Set<string> {
  const strings = new Set<string>();
  const switches = new Set<string>();
  for (const options of configs) {
    for (const [name, o] of Object.entries(options)) {
      const forms = [`--${name}`, ...(o.short ? [`-${o.short}`] : [])];
      for (const f of forms) (o.type === "string" ? strings : switches).add(f);
    }
  }
  return new Set([...strings].filter((f) => !switches.has(f)));
}
