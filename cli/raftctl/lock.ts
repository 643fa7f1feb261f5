/**
 * Lock commands: `lock acquire`, `release`, `status`, `ls`, and `run`,
 * which holds a lock while a command runs.
 *
 * @module
 */

import type { Lock, LockInfo } from "../../src/client/mod.ts";
import { type CommandGroup, optInt, positiveInt } from "./command.ts";
import { CliError, UsageError } from "./errors.ts";
import { print, printJson, table } from "./output.ts";

// How `lock status` and `lock ls` show a lock.
const LOCK_COLUMNS = ["NAME", "TOKEN", "LEASE", "OWNER", "WAITERS"];

function lockRow(l: LockInfo): (string | number)[] {
  return [
    l.name,
    l.holder?.token ?? "-",
    l.holder?.lease ?? "-",
    l.holder?.owner || "-",
    l.waiters,
  ];
}

/** The lock commands. */
export const lockCommands: CommandGroup = {
  name: "lock",
  commands: [
    {
      name: "lock acquire",
      usage: "<name> [--ttl s] [--wait ms] [--owner o] [--lease id]",
      summary: "acquire a lock; prints its fencing token and lease",
      details:
        "The lock is held by a lease of --ttl seconds (default 10) that this\ncommand does not keep alive: renew it with `raftctl lease keepalive <lease>\n--forever`, or use `raftctl lock run` to hold a lock while a command runs.\n--wait ms waits in the queue that long (default: fail at once if held).",
      options: {
        ttl: { type: "string" },
        wait: { type: "string" },
        owner: { type: "string" },
        lease: { type: "string" },
      },
      args: [1, 1],
      async run({ client, json, args, flags }) {
        const lease = optInt("lease", flags.lease, true);
        if (lease !== undefined && flags.ttl !== undefined) {
          throw new UsageError(
            "give --ttl or --lease, not both",
            "lock acquire",
          );
        }
        const g = await client.acquire(args[0], {
          ttl: optInt("ttl", flags.ttl, true) ?? 10,
          lease,
          wait: optInt("wait", flags.wait) ?? 0,
          owner: flags.owner as string | undefined,
        });
        if (json) return printJson(g);
        print(table(["NAME", "TOKEN", "LEASE", "OWNER"], [[
          g.name,
          g.token,
          g.lease,
          g.owner || "-",
        ]]));
        if (lease === undefined) {
          console.error(
            `note: lease ${g.lease} expires in ${
              optInt("ttl", flags.ttl, true) ?? 10
            } s unless kept alive (raftctl lease keepalive ${g.lease} --forever)`,
          );
        }
      },
    },
    {
      name: "lock release",
      usage: "<name> <token>",
      summary: "release a lock held with <token>",
      args: [2, 2],
      async run({ client, json, args }) {
        const r = await client.release(args[0], positiveInt("token", args[1]));
        if (json) return printJson(r);
        print(`released lock ${args[0]}`);
      },
    },
    {
      name: "lock status",
      usage: "<name>",
      summary: "a lock's holder and waiters",
      args: [1, 1],
      async run({ client, json, args }) {
        const l = await client.lockInfo(args[0]);
        if (json) return printJson(l);
        if (!l.holder) {
          print(
            `lock ${l.name} is free${
              l.waiters ? ` (${l.waiters} waiting, lock-delay pending)` : ""
            }`,
          );
          return;
        }
        print(table(LOCK_COLUMNS, [lockRow(l)]));
      },
    },
    {
      name: "lock ls",
      usage: "",
      summary: "list locks that are held or waited for",
      args: [0, 0],
      async run({ client, json }) {
        const ls = await client.locks();
        if (json) return printJson(ls);
        if (ls.length === 0) return print("no locks");
        print(table(LOCK_COLUMNS, ls.map(lockRow)));
      },
    },
    {
      name: "lock run",
      usage: "<name> [--ttl s] [--wait ms] [--owner o] -- <command...>",
      summary: "hold a lock while a command runs",
      details:
        "Acquires the lock (waiting up to --wait ms), keeps its lease alive, runs\nthe command with RAFTLOCK_LOCK_NAME, RAFTLOCK_LOCK_TOKEN and\nRAFTLOCK_LOCK_LEASE set, releases the lock when it exits, and exits with\nits exit code. If the lock is lost while the command runs, the command\ngets SIGTERM and raftctl exits 1. Pass RAFTLOCK_LOCK_TOKEN to whatever the\ncommand writes (fencing) so a stale holder cannot overwrite newer work.",
      options: {
        ttl: { type: "string" },
        wait: { type: "string" },
        owner: { type: "string" },
      },
      args: [1, Infinity],
      passThrough: true,
      async run({ client, args, flags, rest }) {
        const argv = rest.length > 0 ? rest : args.slice(1);
        if (argv.length === 0) {
          throw new UsageError(
            "give the command to run after --",
            "lock run",
          );
        }
        const name = args[0];
        const ttl = optInt("ttl", flags.ttl, true) ?? 10;
        let child: Deno.ChildProcess | undefined;
        let lostMessage: string | undefined;
        const lock: Lock = await client.lock(name, {
          ttl,
          wait: optInt("wait", flags.wait) ?? 0,
          owner: (flags.owner as string | undefined) ?? defaultOwner(),
          onLost: (e) => {
            lostMessage = e.message;
            try {
              child?.kill("SIGTERM");
            } catch {
              // Already gone.
            }
          },
        });
        const forward = (sig: Deno.Signal) => () => {
          try {
            child?.kill(sig);
          } catch {
            // Already gone.
          }
        };
        const handlers: [Deno.Signal, () => void][] =
          Deno.build.os === "windows"
            ? []
            : [["SIGINT", forward("SIGINT")], ["SIGTERM", forward("SIGTERM")]];
        let status: Deno.CommandStatus;
        try {
          try {
            child = new Deno.Command(argv[0], {
              args: argv.slice(1),
              env: {
                RAFTLOCK_LOCK_NAME: name,
                RAFTLOCK_LOCK_TOKEN: String(lock.token),
                RAFTLOCK_LOCK_LEASE: String(lock.lease),
              },
              stdin: "inherit",
              stdout: "inherit",
              stderr: "inherit",
            }).spawn();
          } catch (e) {
            throw new CliError(
              `cannot run ${argv[0]}: ${
                e instanceof Deno.errors.NotFound
                  ? "command not found"
                  : (e as Error).message
              }`,
              127,
            );
          }
          for (const [s, h] of handlers) Deno.addSignalListener(s, h);
          if (lock.lost) child.kill("SIGTERM");
          status = await child.status;
        } finally {
          for (const [s, h] of handlers) Deno.removeSignalListener(s, h);
          await lock.release().catch((e) => {
            console.error(
              `warning: could not release lock ${name}: ${
                (e as Error).message
              } (its lease expires in ${ttl} s)`,
            );
          });
        }
        if (lostMessage !== undefined || lock.lost) {
          throw new CliError(
            `${
              lostMessage ?? `lock ${name} was lost`
            }; the command was stopped with SIGTERM`,
          );
        }
        if (status.signal) {
          const n = ({
            SIGHUP: 1,
            SIGINT: 2,
            SIGQUIT: 3,
            SIGKILL: 9,
            SIGTERM: 15,
          } as Record<string, number>)[status.signal] ?? 0;
          return 128 + n;
        }
        return status.code;
      },
    },
  ],
};

function defaultOwner(): string {
  let host = "";
  try {
    host = Deno.hostname();
  } catch {
    // No permission to read the host name.
  }
  return `raftctl${host ? ` on ${host}` : ""} pid ${Deno.pid}`;
}
