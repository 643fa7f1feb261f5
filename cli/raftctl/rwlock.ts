/**
 * Read-write lock commands: `rwlock acquire`, `release`, `status`, `ls`,
 * and `run`, which holds a read or write lock while a command runs.
 *
 * @module
 */

import type { RwlockInfo, RwlockMode } from "../../src/client/mod.ts";
import { type CommandGroup, optInt, positiveInt } from "./command.ts";
import { UsageError } from "./errors.ts";
import { defaultOwner, runHeld } from "./hold.ts";
import { print, printJson, table } from "./output.ts";

const ACQUIRE_FLAGS = {
  ttl: { type: "string" },
  wait: { type: "string" },
  owner: { type: "string" },
} as const;

function modeOf(v: string | undefined, cmd: string): RwlockMode {
  if (v === "read" || v === "write") return v;
  throw new UsageError(`the mode must be read or write, not '${v}'`, cmd);
}

function rwRow(l: RwlockInfo): (string | number)[] {
  return [l.name, l.mode ?? "-", l.holders.length, l.waiters.length];
}

/** The read-write lock commands. */
export const rwlockCommands: CommandGroup = {
  name: "rwlock",
  commands: [
    {
      name: "rwlock acquire",
      usage: "<name> <read|write> [--ttl s] [--wait ms] [--owner o]",
      summary: "take a read-write lock; prints the fencing token and lease",
      details:
        "Many readers or one writer. Waiters are served first come, first served:\na waiting writer holds back the readers that come after it. The lock is\nheld by a lease of --ttl seconds (default 10) that this command does not\nkeep alive (see `raftctl lease keepalive`, or use `raftctl rwlock run`).\n--wait ms waits in the queue that long (default: fail at once).",
      options: ACQUIRE_FLAGS,
      args: [2, 2],
      async run({ client, json, args, flags }) {
        const g = await client.acquireRwlock(
          args[0],
          modeOf(args[1], "rwlock acquire"),
          {
            ttl: optInt("ttl", flags.ttl, true) ?? 10,
            wait: optInt("wait", flags.wait) ?? 0,
            owner: flags.owner as string | undefined,
          },
        );
        if (json) return printJson(g);
        print(table(["NAME", "MODE", "TOKEN", "LEASE", "OWNER"], [[
          g.name,
          g.mode,
          g.token,
          g.lease,
          g.owner || "-",
        ]]));
      },
    },
    {
      name: "rwlock release",
      usage: "<name> <token>",
      summary: "release the read-write lock held with <token>",
      args: [2, 2],
      async run({ client, json, args }) {
        const r = await client.releaseRwlock(
          args[0],
          positiveInt("token", args[1]),
        );
        if (json) return printJson(r);
        print(`released read-write lock ${args[0]}`);
      },
    },
    {
      name: "rwlock status",
      usage: "<name>",
      summary: "a read-write lock's holders and waiters",
      args: [1, 1],
      async run({ client, json, args }) {
        const l = await client.rwlockInfo(args[0]);
        if (json) return printJson(l);
        if (!l.mode && l.waiters.length === 0) {
          print(`read-write lock ${l.name} is free`);
          return;
        }
        print(
          `read-write lock ${l.name}: held for ${
            l.mode === "write" ? "writing" : "reading"
          }`,
        );
        print(table(
          ["MODE", "TOKEN", "LEASE", "OWNER"],
          l.holders.map((h) => [h.mode, h.token, h.lease, h.owner || "-"]),
        ));
        if (l.waiters.length > 0) {
          print(`waiting (first in line first):`);
          print(table(
            ["MODE", "LEASE", "OWNER"],
            l.waiters.map((w) => [w.mode, w.lease, w.owner || "-"]),
          ));
        }
      },
    },
    {
      name: "rwlock ls",
      usage: "",
      summary: "list read-write locks that are held or waited for",
      args: [0, 0],
      async run({ client, json }) {
        const ls = await client.rwlocks();
        if (json) return printJson(ls);
        if (ls.length === 0) return print("no read-write locks");
        print(table(["NAME", "MODE", "HOLDERS", "WAITERS"], ls.map(rwRow)));
      },
    },
    {
      name: "rwlock run",
      usage:
        "<name> <read|write> [--ttl s] [--wait ms] [--owner o] [--grace ms] -- <command...>",
      summary: "hold a read or write lock while a command runs",
      details:
        "Takes the lock (waiting up to --wait ms), keeps its lease alive, runs the\ncommand with RAFTLOCK_RWLOCK_NAME, RAFTLOCK_RWLOCK_MODE,\nRAFTLOCK_RWLOCK_TOKEN and RAFTLOCK_RWLOCK_LEASE set, releases it when\nthe command exits, and exits with its exit code. If the lock is lost\nwhile the command runs, it gets SIGTERM, then SIGKILL after --grace ms\n(default 10000), and raftctl exits 1.",
      options: { ...ACQUIRE_FLAGS, grace: { type: "string" } },
      args: [2, Infinity],
      passThrough: true,
      async run({ client, args, flags, rest }) {
        const argv = rest.length > 0 ? rest : args.slice(2);
        if (argv.length === 0) {
          throw new UsageError(
            "give the command to run after --",
            "rwlock run",
          );
        }
        const name = args[0];
        const mode = modeOf(args[1], "rwlock run");
        const ttl = optInt("ttl", flags.ttl, true) ?? 10;
        const held = await client.rwlock(name, mode, {
          ttl,
          wait: optInt("wait", flags.wait) ?? 0,
          owner: (flags.owner as string | undefined) ?? defaultOwner(),
        });
        return await runHeld(held, {
          argv,
          env: {
            RAFTLOCK_RWLOCK_NAME: name,
            RAFTLOCK_RWLOCK_MODE: mode,
            RAFTLOCK_RWLOCK_TOKEN: String(held.token),
            RAFTLOCK_RWLOCK_LEASE: String(held.lease),
          },
          what: `read-write lock ${name}`,
          graceMs: optInt("grace", flags.grace) ?? 10_000,
          ttl,
        });
      },
    },
  ],
};
