/**
 * Semaphore commands: `sem acquire`, `release`, `status`, `ls`, and `run`,
 * which holds permits while a command runs.
 *
 * @module
 */

import type { SemaphoreInfo } from "../../src/client/mod.ts";
import { type CommandGroup, optInt, positiveInt } from "./command.ts";
import { UsageError } from "./errors.ts";
import { defaultOwner, runHeld } from "./hold.ts";
import { print, printJson, table } from "./output.ts";

const ACQUIRE_FLAGS = {
  limit: { type: "string" },
  permits: { type: "string" },
  ttl: { type: "string" },
  wait: { type: "string" },
  owner: { type: "string" },
} as const;

function limitOf(
  flags: Record<string, string | boolean | undefined>,
  cmd: string,
) {
  const limit = optInt("limit", flags.limit, true);
  if (limit === undefined) {
    throw new UsageError("give the semaphore's --limit n", cmd);
  }
  return limit;
}

function semRow(s: SemaphoreInfo): (string | number)[] {
  return [s.name, s.limit, s.held, s.free, s.holders.length, s.waiters.length];
}

const SEM_COLUMNS = ["NAME", "LIMIT", "HELD", "FREE", "HOLDERS", "WAITERS"];

/** The semaphore commands. */
export const semCommands: CommandGroup = {
  name: "sem",
  commands: [
    {
      name: "sem acquire",
      usage: "<name> --limit n [--permits k] [--ttl s] [--wait ms] [--owner o]",
      summary:
        "take permits of a semaphore; prints the fencing token and lease",
      details:
        "The first acquirer of a semaphore sets its --limit; while anyone holds or\nwaits for it, another limit is refused. The permits (--permits, default 1)\nare held by a lease of --ttl seconds (default 10) that this command does\nnot keep alive (see `raftctl lease keepalive`, or use `raftctl sem run`).\n--wait ms waits in the FIFO queue that long (default: fail at once).",
      options: ACQUIRE_FLAGS,
      args: [1, 1],
      async run({ client, json, args, flags }) {
        const g = await client.acquireSemaphore(args[0], {
          limit: limitOf(flags, "sem acquire"),
          permits: optInt("permits", flags.permits, true),
          ttl: optInt("ttl", flags.ttl, true) ?? 10,
          wait: optInt("wait", flags.wait) ?? 0,
          owner: flags.owner as string | undefined,
        });
        if (json) return printJson(g);
        print(table(["NAME", "TOKEN", "LEASE", "PERMITS", "OWNER"], [[
          g.name,
          g.token,
          g.lease,
          g.permits,
          g.owner || "-",
        ]]));
      },
    },
    {
      name: "sem release",
      usage: "<name> <token>",
      summary: "give back the permits held with <token>",
      args: [2, 2],
      async run({ client, json, args }) {
        const r = await client.releaseSemaphore(
          args[0],
          positiveInt("token", args[1]),
        );
        if (json) return printJson(r);
        print(`released permits of semaphore ${args[0]}`);
      },
    },
    {
      name: "sem status",
      usage: "<name>",
      summary: "a semaphore's limit, holders and waiters",
      args: [1, 1],
      async run({ client, json, args }) {
        const s = await client.semaphoreInfo(args[0]);
        if (json) return printJson(s);
        if (s.limit === 0) {
          print(`semaphore ${s.name} is not held or waited for`);
          return;
        }
        print(
          `semaphore ${s.name}: ${s.held} of ${s.limit} permits held, ${s.free} free`,
        );
        if (s.holders.length > 0) {
          print(table(
            ["TOKEN", "LEASE", "PERMITS", "OWNER"],
            s.holders.map((h) => [h.token, h.lease, h.permits, h.owner || "-"]),
          ));
        }
        if (s.waiters.length > 0) {
          print(`waiting (first in line first):`);
          print(table(
            ["LEASE", "PERMITS", "OWNER"],
            s.waiters.map((w) => [w.lease, w.permits, w.owner || "-"]),
          ));
        }
      },
    },
    {
      name: "sem ls",
      usage: "",
      summary: "list semaphores that are held or waited for",
      args: [0, 0],
      async run({ client, json }) {
        const ls = await client.semaphores();
        if (json) return printJson(ls);
        if (ls.length === 0) return print("no semaphores");
        print(table(SEM_COLUMNS, ls.map(semRow)));
      },
    },
    {
      name: "sem run",
      usage:
        "<name> --limit n [--permits k] [--ttl s] [--wait ms] [--owner o] [--grace ms] -- <command...>",
      summary: "hold permits of a semaphore while a command runs",
      details:
        "Takes the permits (waiting up to --wait ms), keeps their lease alive, runs\nthe command with RAFTLOCK_SEMAPHORE_NAME, RAFTLOCK_SEMAPHORE_TOKEN and\nRAFTLOCK_SEMAPHORE_LEASE set, gives them back when it exits, and exits\nwith its exit code. If the permits are lost while the command runs, it\ngets SIGTERM, then SIGKILL after --grace ms (default 10000), and raftctl\nexits 1.",
      options: { ...ACQUIRE_FLAGS, grace: { type: "string" } },
      args: [1, Infinity],
      passThrough: true,
      async run({ client, args, flags, rest }) {
        const argv = rest.length > 0 ? rest : args.slice(1);
        if (argv.length === 0) {
          throw new UsageError("give the command to run after --", "sem run");
        }
        const name = args[0];
        const ttl = optInt("ttl", flags.ttl, true) ?? 10;
        const held = await client.semaphore(name, {
          limit: limitOf(flags, "sem run"),
          permits: optInt("permits", flags.permits, true),
          ttl,
          wait: optInt("wait", flags.wait) ?? 0,
          owner: (flags.owner as string | undefined) ?? defaultOwner(),
        });
        return await runHeld(held, {
          argv,
          env: {
            RAFTLOCK_SEMAPHORE_NAME: name,
            RAFTLOCK_SEMAPHORE_TOKEN: String(held.token),
            RAFTLOCK_SEMAPHORE_LEASE: String(held.lease),
          },
          what: `permits of semaphore ${name}`,
          graceMs: optInt("grace", flags.grace) ?? 10_000,
          ttl,
        });
      },
    },
  ],
};
