/**
 * Election commands: `elect <name> <value>` (campaign, then hold
 * leadership until Ctrl-C), `elect run` (run a command while leader, stop
 * it on loss), `elect observe` (print leader changes) and `elect leader`.
 *
 * @module
 */

import type { ElectionEvent, ElectionLeader } from "../../src/client/mod.ts";
import { type CommandGroup, interrupts, optInt } from "./command.ts";
import { CliError, UsageError } from "./errors.ts";
import { defaultOwner, runHeld } from "./hold.ts";
import { clip, print, printJson } from "./output.ts";

function leaderLine(l: ElectionLeader): string {
  return `leader of ${l.name}: ${
    clip(l.value, 200)
  } (token ${l.token}, lease ${l.lease}, revision ${l.revision})`;
}

function eventLine(e: ElectionEvent): string {
  return e.leader
    ? `LEADER  ${
      clip(e.leader.value, 200)
    }  (token ${e.leader.token}, revision ${e.revision})`
    : `NONE    nobody leads  (revision ${e.revision})`;
}

const CAMPAIGN_FLAGS = {
  ttl: { type: "string" },
  wait: { type: "string" },
} as const;

/** The election commands. */
export const electCommands: CommandGroup = {
  name: "elect",
  commands: [
    {
      name: "elect",
      usage: "<name> <value> [--ttl s] [--wait ms]",
      summary: "campaign in an election, then lead until Ctrl-C",
      details:
        "Waits in the line of candidates until elected (or --wait ms), prints the\nleadership's fencing token, keeps its lease (--ttl seconds, default 10)\nalive and resigns on Ctrl-C or SIGTERM. Exits 1 if leadership is lost.\nAn election named run, observe or leader goes after --:\n`raftctl elect -- run <value>`.",
      options: CAMPAIGN_FLAGS,
      args: [2, 2],
      async run({ client, json, args, flags }) {
        const [name, value] = args;
        const stop = interrupts();
        try {
          if (!json) console.error(`campaigning in election ${name}...`);
          const leader = await client.campaign(name, value, {
            ttl: optInt("ttl", flags.ttl, true) ?? 10,
            wait: optInt("wait", flags.wait),
            signal: stop.signal,
          }).catch((e) => {
            if (stop.signal.aborted) throw new CliError("interrupted", 130);
            throw e;
          });
          const info = {
            name,
            token: leader.token,
            lease: leader.lease,
            value: leader.value,
          };
          if (json) printJson(info);
          else {
            print(
              `elected: leader of ${name} (token ${leader.token}, lease ${leader.lease})`,
            );
          }
          // Hold until interrupted or lost.
          await new Promise<void>((resolve) => {
            const done = () => resolve();
            stop.signal.addEventListener("abort", done, { once: true });
            leader.signal.addEventListener("abort", done, { once: true });
            if (stop.signal.aborted || leader.signal.aborted) done();
          });
          if (leader.lost) {
            throw new CliError((leader.signal.reason as Error).message);
          }
          await leader.resign();
          if (!json) print(`resigned from ${name}`);
        } finally {
          stop.done();
        }
      },
    },
    {
      name: "elect run",
      usage:
        "<name> [--value v] [--ttl s] [--wait ms] [--grace ms] -- <command...>",
      summary: "run a command while leader; stop it if leadership is lost",
      details:
        "Campaigns (waiting until elected, or --wait ms), keeps the lease alive,\nruns the command with RAFTLOCK_ELECTION_NAME, RAFTLOCK_ELECTION_TOKEN,\nRAFTLOCK_ELECTION_LEASE and RAFTLOCK_ELECTION_VALUE set, resigns when it\nexits, and exits with its exit code. --value defaults to this host and\nprocess. If leadership is lost while the command runs, the command gets\nSIGTERM, then SIGKILL after --grace ms (default 10000), and raftctl exits\n1. Pass RAFTLOCK_ELECTION_TOKEN to whatever the command writes (fencing).",
      options: {
        ...CAMPAIGN_FLAGS,
        value: { type: "string" },
        grace: { type: "string" },
      },
      args: [1, Infinity],
      passThrough: true,
      async run({ client, args, flags, rest }) {
        const argv = rest.length > 0 ? rest : args.slice(1);
        if (argv.length === 0) {
          throw new UsageError("give the command to run after --", "elect run");
        }
        const name = args[0];
        const ttl = optInt("ttl", flags.ttl, true) ?? 10;
        const value = (flags.value as string | undefined) ?? defaultOwner();
        const stop = interrupts();
        let leader;
        try {
          leader = await client.campaign(name, value, {
            ttl,
            wait: optInt("wait", flags.wait),
            signal: stop.signal,
          });
        } catch (e) {
          if (stop.signal.aborted) throw new CliError("interrupted", 130);
          throw e;
        } finally {
          stop.done();
        }
        return await runHeld(leader, {
          argv,
          env: {
            RAFTLOCK_ELECTION_NAME: name,
            RAFTLOCK_ELECTION_TOKEN: String(leader.token),
            RAFTLOCK_ELECTION_LEASE: String(leader.lease),
            RAFTLOCK_ELECTION_VALUE: value,
          },
          what: `leadership of election ${name}`,
          graceMs: optInt("grace", flags.grace) ?? 10_000,
          ttl,
        });
      },
    },
    {
      name: "elect observe",
      usage: "<name>",
      summary: "print an election's leader, then each change, until Ctrl-C",
      details:
        "Resumes on another endpoint after a disconnect, never printing an older\nleader after a newer one. --json prints one event per line.",
      args: [1, 1],
      async run({ client, json, args }) {
        const stop = interrupts();
        try {
          for await (
            const e of client.observe(args[0], { signal: stop.signal })
          ) {
            print(json ? JSON.stringify(e) : eventLine(e));
          }
        } finally {
          stop.done();
        }
      },
    },
    {
      name: "elect leader",
      usage: "<name>",
      summary: "print an election's leader (exit 1 if nobody leads)",
      args: [1, 1],
      async run({ client, json, args }) {
        const l = await client.leader(args[0]);
        if (!l) {
          if (json) printJson(null);
          throw new CliError(`nobody leads election ${args[0]}`);
        }
        if (json) return printJson(l);
        print(leaderLine(l));
      },
    },
  ],
};
