/**
 * Cluster commands: `status` (alias `state`), `leader`, `leader transfer`
 * and `members` with `add`, `remove` and `promote`.
 *
 * @module
 */

import {
  type Client,
  type ClusterInfo,
  RaftlockError,
} from "../../src/client/mod.ts";
import type { CommandGroup } from "./command.ts";
import { CliError } from "./errors.ts";
import { print, printJson, table } from "./output.ts";

/** The cluster commands. */
export const clusterCommands: CommandGroup = {
  name: "cluster",
  commands: [
    {
      name: "status",
      aliases: ["state"],
      usage: "",
      summary: "every member's role, term, leader, commit and applied index",
      details:
        "Asks /v1/cluster for the members, then each member's own /v1/status.\nAlias: state.",
      args: [0, 0],
      async run({ client, json, endpoints }) {
        const info = await membership(client, endpoints);
        const rows = await Promise.all(info.members.map(async (m) => {
          if (!m.httpAddress) {
            return { member: m, error: "no HTTP address published" };
          }
          try {
            const s = await client.status({
              endpoint: m.httpAddress,
              timeoutMs: 2000,
            });
            return { member: m, status: s };
          } catch (e) {
            return {
              member: m,
              error: e instanceof RaftlockError && e.code === "unreachable"
                ? (e.message.match(/\): (.*)$/)?.[1] ?? e.message)
                : (e as Error).message,
            };
          }
        }));
        if (json) {
          printJson({
            leader: info.leader,
            term: info.term,
            members: rows.map((r) => ({
              id: r.member.id,
              membership: r.member.role,
              httpAddress: r.member.httpAddress ?? null,
              peerAddress: r.member.peerAddress ?? null,
              ...(r.status ? { status: r.status } : { error: r.error }),
            })),
          });
          return;
        }
        print(table(
          [
            "ID",
            "ADDRESS",
            "ROLE",
            "TERM",
            "LEADER",
            "COMMIT",
            "APPLIED",
            "REVISION",
          ],
          rows.map((r) =>
            r.status
              ? [
                r.member.id,
                r.member.httpAddress ?? "-",
                r.status.role +
                (r.member.role === "learner" ? " (learner)" : ""),
                r.status.term,
                r.status.leader || "-",
                r.status.commit,
                r.status.applied,
                r.status.revision,
              ]
              : [
                r.member.id,
                r.member.httpAddress ?? "-",
                "unreachable",
                "-",
                "-",
                "-",
                "-",
                "-",
              ]
          ),
        ));
        const down = rows.filter((r) => !r.status);
        for (const r of down) {
          console.error(
            `warning: ${r.member.id} (${
              r.member.httpAddress ?? "no address"
            }) did not answer: ${r.error}`,
          );
        }
        if (!info.leader) {
          console.error(
            "warning: no leader is elected right now; writes will fail until one is",
          );
        }
      },
    },
    {
      name: "leader",
      usage: "",
      summary: "the leader's id and addresses",
      args: [0, 0],
      async run({ client, json }) {
        const info = await client.cluster();
        const m = info.members.find((x) => x.id === info.leader);
        if (!info.leader || !m) {
          throw new CliError(
            "no leader is elected right now: the cluster may be electing one or have lost its quorum; check `raftctl status`",
          );
        }
        if (json) {
          return printJson({
            id: m.id,
            term: info.term,
            peerAddress: m.peerAddress ?? null,
            httpAddress: m.httpAddress ?? null,
          });
        }
        print(table(["ID", "TERM", "HTTP", "PEER"], [[
          m.id,
          info.term,
          m.httpAddress ?? "-",
          m.peerAddress ?? "-",
        ]]));
      },
    },
    {
      name: "leader transfer",
      usage: "<id>",
      summary: "move leadership to voter <id>",
      args: [1, 1],
      async run({ client, json, args }) {
        const r = await client.transferLeader(args[0]);
        if (json) return printJson(r);
        print(`leadership moved to ${r.leader}`);
      },
    },
    {
      name: "members",
      usage: "",
      summary: "list the members",
      args: [0, 0],
      async run({ client, json }) {
        const info = await client.cluster();
        if (json) return printJson(info);
        print(table(
          ["ID", "ROLE", "LEADER", "HTTP", "PEER", "MATCH"],
          info.members.map((m) => [
            m.id,
            m.role,
            m.id === info.leader ? "*" : "",
            m.httpAddress ?? "-",
            m.peerAddress ?? "-",
            m.progress?.match ?? "-",
          ]),
        ));
      },
    },
    {
      name: "members add",
      usage: "<id> <peerAddress> [httpAddress] [--voter] [--force]",
      summary: "add a member (a learner unless --voter)",
      details:
        "Start the new node with --join (or add it here first), let it catch up,\nthen `raftctl members promote <id>`. A voter added at once is refused\nunless --force (it counts towards the quorum before it has the log).",
      options: { voter: { type: "boolean" }, force: { type: "boolean" } },
      args: [2, 3],
      async run({ client, json, args, flags }) {
        const r = await client.addMember(args[0], args[1], {
          httpAddress: args[2],
          voter: flags.voter === true,
          force: flags.force === true,
        });
        if (json) return printJson(r);
        print(`added ${r.id} as a ${r.role}`);
      },
    },
    {
      name: "members remove",
      usage: "<id> [--force]",
      summary: "remove a member",
      details:
        "Refused when the voters that stay and are active would be no quorum,\nunless --force.",
      options: { force: { type: "boolean" } },
      args: [1, 1],
      async run({ client, json, args, flags }) {
        const r = await client.removeMember(args[0], {
          force: flags.force === true,
        });
        if (json) return printJson(r);
        print(`removed ${r.id}`);
      },
    },
    {
      name: "members promote",
      usage: "<id> [--force]",
      summary: "promote a learner to voter",
      details:
        "Refused until the learner has caught up and been heard from, unless --force.",
      options: { force: { type: "boolean" } },
      args: [1, 1],
      async run({ client, json, args, flags }) {
        const r = await client.promote(args[0], {
          force: flags.force === true,
        });
        if (json) return printJson(r);
        print(`promoted ${r.id} to voter`);
      },
    },
  ],
};

/**
 * The membership as the leader sees it; without a leader, as the first
 * configured endpoint that answers sees it.
 */
async function membership(
  client: Client,
  endpoints: string[],
): Promise<ClusterInfo> {
  try {
    return await client.cluster({ timeoutMs: 3000 });
  } catch (e) {
    if (!(e instanceof RaftlockError) || e.code === "unreachable") throw e;
    for (const endpoint of endpoints) {
      try {
        const info = await client.cluster({
          local: true,
          endpoint,
          timeoutMs: 2000,
        });
        console.error(
          `warning: the leader did not answer (${e.message}); membership as ${endpoint} sees it`,
        );
        return info;
      } catch {
        // Try the next one.
      }
    }
    throw e;
  }
}
